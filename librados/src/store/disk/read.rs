//! Assembling object data from an onode and its chunks, checking every checksum on the way.
//! Shared by reads and by transactions that need current contents (partial chunk writes,
//! truncates, clone ranges).

use super::alloc::BlockFile;
use super::format::{Chunk, Onode, CHUNK_SIZE, CSUM_BLOCK};
use crate::store::error::{StoreError, StoreResult};
use crate::store::types::ObjectId;

fn corrupt(oid: &ObjectId, detail: String) -> StoreError {
    StoreError::Corrupt {
        object: oid.clone().into(),
        detail,
    }
}

/// Bytes `[from, to)` of a chunk, clamped to the chunk's length, checksums verified.
pub fn chunk_bytes(
    block: &BlockFile,
    oid: &ObjectId,
    index: u32,
    chunk: &Chunk,
    from: u64,
    to: u64,
) -> StoreResult<Vec<u8>> {
    let to = to.min(chunk.len());
    if from >= to {
        return Ok(Vec::new());
    }
    match chunk {
        Chunk::Inline(d) => {
            let bytes = d
                .verified()
                .map_err(|e| corrupt(oid, format!("chunk {index}: {e}")))?;
            Ok(bytes[from as usize..to as usize].to_vec())
        }
        Chunk::Slot { slot, len, crcs } => {
            let first = from / CSUM_BLOCK;
            let last = (to - 1) / CSUM_BLOCK;
            let start = first * CSUM_BLOCK;
            let end = ((last + 1) * CSUM_BLOCK).min(u64::from(*len));
            let mut buf = vec![0u8; (end - start) as usize];
            block
                .read_at(*slot, start, &mut buf)
                .map_err(|e| corrupt(oid, format!("chunk {index}: slot {slot} unreadable: {e}")))?;
            for (i, piece) in buf.chunks(CSUM_BLOCK as usize).enumerate() {
                let b = first as usize + i;
                let want = crcs.get(b).copied();
                let got = crc32c::crc32c(piece);
                if want != Some(got) {
                    return Err(corrupt(
                        oid,
                        format!(
                            "chunk {index} block {b} (slot {slot}) checksum mismatch: \
                             stored {want:x?}, computed {got:#010x}"
                        ),
                    ));
                }
            }
            buf.drain(..(from - start) as usize);
            buf.truncate((to - from) as usize);
            Ok(buf)
        }
    }
}

/// Bytes `[offset, offset+len)` of an object (clamped to its size; holes are zeros).
pub fn object_bytes(
    block: &BlockFile,
    oid: &ObjectId,
    onode: &Onode,
    offset: u64,
    len: u64,
    mut chunk: impl FnMut(u32) -> StoreResult<Option<Chunk>>,
) -> StoreResult<Vec<u8>> {
    let end = offset.saturating_add(len).min(onode.size);
    if offset >= end {
        return Ok(Vec::new());
    }
    let mut out = vec![0u8; (end - offset) as usize];
    if let Some(inline) = &onode.inline {
        let bytes = inline.verified().map_err(|e| corrupt(oid, e))?;
        let have = (bytes.len() as u64).min(end);
        if offset < have {
            out[..(have - offset) as usize].copy_from_slice(&bytes[offset as usize..have as usize]);
        }
        return Ok(out);
    }
    for index in (offset / CHUNK_SIZE)..=((end - 1) / CHUNK_SIZE) {
        let Some(c) = chunk(index as u32)? else {
            continue;
        };
        let cstart = index * CHUNK_SIZE;
        let from = offset.max(cstart) - cstart;
        let to = end.min(cstart + CHUNK_SIZE) - cstart;
        let bytes = chunk_bytes(block, oid, index as u32, &c, from, to)?;
        let at = (cstart + from - offset) as usize;
        out[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    Ok(out)
}

//! Assembling object data from an onode and its chunks, checking every checksum on the way.
//! Shared by reads and by transactions that need current contents (partial chunk writes,
//! truncates, clone ranges).

use super::alloc::BlockFile;
use super::format::{Chunk, Onode, CHUNK_SIZE, CSUM_BLOCK};
use crate::error::{StoreError, StoreResult};
use crate::types::ObjectId;

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
            check_blocks(oid, (index, *slot), &buf, crcs, first as usize)?;
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
    let (first, last) = (offset / CHUNK_SIZE, (end - 1) / CHUNK_SIZE);
    let mut next = first;
    let mut peeked: Option<(u64, Option<Chunk>)> = None;
    while next <= last {
        let index = next;
        let c = match peeked.take() {
            Some((i, c)) if i == index => c,
            _ => chunk(index as u32)?,
        };
        next += 1;
        let Some(c) = c else { continue };
        let cstart = index * CHUNK_SIZE;
        let from = offset.max(cstart) - cstart;
        let to = end.min(cstart + CHUNK_SIZE) - cstart;
        let at = (cstart + from - offset) as usize;
        let Some((slot, crcs)) = whole_slot(&c, from, to) else {
            let bytes = chunk_bytes(block, oid, index as u32, &c, from, to)?;
            out[at..at + bytes.len()].copy_from_slice(&bytes);
            continue;
        };
        // A run of whole chunks in consecutive slots (as a large write leaves them) is read
        // with one call, straight into place.
        let mut run = vec![crcs];
        while next <= last {
            let c = chunk(next as u32)?;
            let to = end.min((next + 1) * CHUNK_SIZE) - next * CHUNK_SIZE;
            match c.as_ref().and_then(|c| whole_slot(c, 0, to)) {
                Some((s, crcs)) if s == slot + run.len() as u64 => {
                    run.push(crcs);
                    next += 1;
                }
                _ => {
                    peeked = Some((next, c));
                    break;
                }
            }
        }
        let bytes = run.len() * CHUNK_SIZE as usize;
        read_verified(
            block,
            oid,
            (index as u32, slot),
            &run,
            &mut out[at..at + bytes],
        )?;
    }
    Ok(out)
}

/// The slot and checksums of a chunk stored whole in a slot, when `[from, to)` is all of it.
fn whole_slot(c: &Chunk, from: u64, to: u64) -> Option<(u64, Vec<u32>)> {
    match c {
        Chunk::Slot { slot, len, crcs }
            if from == 0 && to == CHUNK_SIZE && u64::from(*len) == CHUNK_SIZE =>
        {
            Some((*slot, crcs.clone()))
        }
        _ => None,
    }
}

/// Reads whole chunks — chunk `index` from `slot` on, one per entry of `crcs`, in
/// consecutive slots — into `buf` and checks every block against its checksum.
fn read_verified(
    block: &BlockFile,
    oid: &ObjectId,
    (index, slot): (u32, u64),
    crcs: &[impl AsRef<[u32]>],
    buf: &mut [u8],
) -> StoreResult<()> {
    block.read_slots(slot, buf).map_err(|e| {
        corrupt(
            oid,
            format!("chunks {index}..: slots from {slot} unreadable: {e}"),
        )
    })?;
    let chunks = buf.chunks(CHUNK_SIZE as usize).zip(crcs).enumerate();
    for (k, (data, crcs)) in chunks {
        let at = (index + k as u32, slot + k as u64);
        check_blocks(oid, at, data, crcs.as_ref(), 0)?;
    }
    Ok(())
}

/// Checks `data`, blocks `first..` of chunk `index` (in `slot`), against their checksums.
fn check_blocks(
    oid: &ObjectId,
    (index, slot): (u32, u64),
    data: &[u8],
    crcs: &[u32],
    first: usize,
) -> StoreResult<()> {
    for (i, piece) in data.chunks(CSUM_BLOCK as usize).enumerate() {
        let b = first + i;
        let want = crcs.get(b).copied();
        let got = crc32c::crc32c(piece);
        if want != Some(got) {
            return Err(corrupt(
                oid,
                format!(
                    "chunk {index} block {b} (slot {slot}) checksum mismatch: stored \
                     {want:x?}, computed {got:#010x}"
                ),
            ));
        }
    }
    Ok(())
}

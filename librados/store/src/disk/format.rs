//! The disk store's persistent formats: the superblock file and the records kept in the
//! key-value engine. Every record starts with a one-byte record version.
//!
//! Superblock (`<dir>/superblock`, 64 bytes, little-endian, written once at creation):
//! ```text
//!  0  8  magic "RADOSOS\0"
//!  8  4  format version (1)
//! 12  4  data chunk size in bytes (65536)
//! 16  4  checksum block size in bytes (4096)
//! 20  4  reserved (0)
//! 24  8  compat features   (unknown bits are ignored)
//! 32  8  incompat features (unknown bits refuse the open)
//! 40 16  store id (random at creation)
//! 56  4  reserved (0)
//! 60  4  crc32c of bytes 0..60
//! ```

use crate::error::{StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"RADOSOS\0";
pub const FORMAT_VERSION: u32 = 1;
/// Object data is cut into chunks of this size; a chunk is one engine record or one slot.
pub const CHUNK_SIZE: u64 = 64 * 1024;
/// Every checksum covers this many bytes (the last block of a chunk may be shorter).
pub const CSUM_BLOCK: u64 = 4096;
/// Objects up to this size keep their data inside the onode record.
pub const INLINE_MAX: u64 = 8 * 1024;
/// Feature bits this build understands.
pub const COMPAT_KNOWN: u64 = 0;
pub const INCOMPAT_KNOWN: u64 = 0;

const RECORD_VERSION: u8 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    pub version: u32,
    pub chunk_size: u32,
    pub csum_block: u32,
    pub compat: u64,
    pub incompat: u64,
    pub store_id: [u8; 16],
}

impl Superblock {
    pub fn new(store_id: [u8; 16]) -> Self {
        Superblock {
            version: FORMAT_VERSION,
            chunk_size: CHUNK_SIZE as u32,
            csum_block: CSUM_BLOCK as u32,
            compat: COMPAT_KNOWN,
            incompat: INCOMPAT_KNOWN,
            store_id,
        }
    }

    pub fn encode(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.chunk_size.to_le_bytes());
        b[16..20].copy_from_slice(&self.csum_block.to_le_bytes());
        b[24..32].copy_from_slice(&self.compat.to_le_bytes());
        b[32..40].copy_from_slice(&self.incompat.to_le_bytes());
        b[40..56].copy_from_slice(&self.store_id);
        let crc = crc32c::crc32c(&b[..60]);
        b[60..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a superblock: magic, checksum, version, geometry and feature bits.
    pub fn decode(path: &Path, b: &[u8]) -> StoreResult<Self> {
        let bad = |reason: String| StoreError::Format {
            path: path.to_path_buf(),
            reason,
        };
        if b.len() != 64 || &b[..8] != MAGIC {
            return Err(bad("not an object store superblock".into()));
        }
        let le32 = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        if crc32c::crc32c(&b[..60]) != le32(60) {
            return Err(bad("superblock checksum mismatch".into()));
        }
        let sb = Superblock {
            version: le32(8),
            chunk_size: le32(12),
            csum_block: le32(16),
            compat: le64(24),
            incompat: le64(32),
            store_id: b[40..56].try_into().unwrap_or([0; 16]),
        };
        if sb.version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {} is not supported by this build (it reads version {FORMAT_VERSION})",
                sb.version
            )));
        }
        if u64::from(sb.chunk_size) != CHUNK_SIZE || u64::from(sb.csum_block) != CSUM_BLOCK {
            return Err(bad(format!(
                "chunk size {} / checksum block {} differ from this build's {CHUNK_SIZE} / {CSUM_BLOCK}",
                sb.chunk_size, sb.csum_block
            )));
        }
        let unknown = sb.incompat & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(bad(format!(
                "store uses incompatible features {unknown:#x} that this build does not know"
            )));
        }
        Ok(sb)
    }
}

/// Data kept inside an onode: the bytes and their crc32c.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineData {
    pub bytes: ByteBuf,
    pub crc: u32,
}

impl InlineData {
    pub fn new(bytes: Vec<u8>) -> Self {
        let crc = crc32c::crc32c(&bytes);
        InlineData {
            bytes: ByteBuf::from(bytes),
            crc,
        }
    }

    pub fn verified(&self) -> Result<&[u8], String> {
        let got = crc32c::crc32c(&self.bytes);
        if got == self.crc {
            Ok(&self.bytes)
        } else {
            Err(format!(
                "inline data checksum mismatch (stored {:#010x}, computed {got:#010x})",
                self.crc
            ))
        }
    }
}

/// An object's metadata record: size, times, xattrs, and its data when small.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onode {
    /// The object's node id: the prefix of its data and omap records. Never reused.
    pub nid: u64,
    pub size: u64,
    pub mtime_ns: u64,
    pub version: u64,
    pub attrs: BTreeMap<String, ByteBuf>,
    /// `Some` while the object's data lives in the onode (no chunk records exist then).
    pub inline: Option<InlineData>,
}

impl Onode {
    pub fn new(nid: u64) -> Self {
        Onode {
            nid,
            size: 0,
            mtime_ns: 0,
            version: 0,
            attrs: BTreeMap::new(),
            inline: Some(InlineData::new(Vec::new())),
        }
    }
}

/// One chunk of object data: in the engine, or in a slot of the block file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Chunk {
    Inline(InlineData),
    /// `len` bytes at slot `slot` of the block file; `crcs[i]` covers block `i` of the chunk.
    Slot {
        slot: u64,
        len: u32,
        crcs: Vec<u32>,
    },
}

impl Chunk {
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Inline(d) => d.bytes.len() as u64,
            Chunk::Slot { len, .. } => u64::from(*len),
        }
    }
}

/// The crc32c of each [`CSUM_BLOCK`] of `data`.
pub fn block_crcs(data: &[u8]) -> Vec<u32> {
    data.chunks(CSUM_BLOCK as usize)
        .map(crc32c::crc32c)
        .collect()
}

pub fn encode_record<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_VERSION];
    // Encoding plain owned structs into a Vec cannot fail.
    let _ = rmp_serde::encode::write(&mut out, value);
    out
}

pub fn decode_record<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, body)) => {
            rmp_serde::from_slice(body).map_err(|e| format!("undecodable record: {e}"))
        }
        Some((v, _)) => Err(format!("record version {v} is not supported")),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_round_trips_and_refuses_damage() {
        let sb = Superblock::new([7; 16]);
        let b = sb.encode();
        let p = Path::new("x");
        assert_eq!(Superblock::decode(p, &b).unwrap(), sb);
        let mut bad = b;
        bad[20] ^= 1;
        assert!(Superblock::decode(p, &bad).is_err());
        let mut future = Superblock::new([7; 16]);
        future.incompat = 1 << 5;
        let err = Superblock::decode(p, &future.encode()).unwrap_err();
        assert!(err.to_string().contains("incompatible features"), "{err}");
        future.incompat = 0;
        future.version = 2;
        assert!(Superblock::decode(p, &future.encode()).is_err());
    }

    #[test]
    fn records_round_trip() {
        let mut o = Onode::new(9);
        o.attrs.insert("_".into(), ByteBuf::from(vec![1, 2]));
        let enc = encode_record(&o);
        assert_eq!(decode_record::<Onode>(&enc).unwrap(), o);
        assert!(decode_record::<Onode>(&enc[..enc.len() - 1]).is_err());
        assert!(decode_record::<Onode>(&[]).is_err());
        let c = Chunk::Slot {
            slot: 3,
            len: 5000,
            crcs: block_crcs(&[0u8; 5000]),
        };
        assert_eq!(decode_record::<Chunk>(&encode_record(&c)).unwrap(), c);
    }
}

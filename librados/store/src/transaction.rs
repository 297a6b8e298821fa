//! Transactions: an ordered list of operations applied all or nothing.
//!
//! Semantics shared by every backend:
//! - `touch`, `write`, `zero`, `truncate`, `setattrs`, `omap_setkeys`, `omap_setheader` and the
//!   destination of `clone_range` create the object when it is missing;
//! - every other object operation needs the object to exist (`ObjectNotFound` otherwise);
//! - `clone` replaces its destination; `move_rename` refuses an existing destination;
//! - every object must belong to the collection it is addressed through (pool and hash bits),
//!   and the collection must exist;
//! - a failing operation aborts the whole transaction: nothing of it is applied.

use super::types::{CollectionId, ObjectId};
use bytes::Bytes;

/// Largest single write, zero, truncate or clone range the store accepts (Ceph's default
/// `osd_max_object_size` is 128 MiB; the store itself allows objects far larger).
pub const MAX_OBJECT_SIZE: u64 = 1 << 40;

/// Most bytes one read (or one clone range) may move; larger ones are refused so that a read
/// of a huge sparse object cannot exhaust memory. Read in pieces instead.
pub const MAX_READ_BYTES: u64 = 1 << 30;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    Touch {
        cid: CollectionId,
        oid: ObjectId,
    },
    Write {
        cid: CollectionId,
        oid: ObjectId,
        offset: u64,
        #[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]
        data: Bytes,
    },
    Zero {
        cid: CollectionId,
        oid: ObjectId,
        offset: u64,
        len: u64,
    },
    Truncate {
        cid: CollectionId,
        oid: ObjectId,
        size: u64,
    },
    Remove {
        cid: CollectionId,
        oid: ObjectId,
    },
    SetAttrs {
        cid: CollectionId,
        oid: ObjectId,
        attrs: Vec<(String, Bytes)>,
    },
    RmAttr {
        cid: CollectionId,
        oid: ObjectId,
        name: String,
    },
    RmAttrs {
        cid: CollectionId,
        oid: ObjectId,
    },
    OmapSetKeys {
        cid: CollectionId,
        oid: ObjectId,
        entries: Vec<(Bytes, Bytes)>,
    },
    OmapRmKeys {
        cid: CollectionId,
        oid: ObjectId,
        keys: Vec<Bytes>,
    },
    /// Removes keys in `[first, last)`.
    OmapRmKeyRange {
        cid: CollectionId,
        oid: ObjectId,
        first: Bytes,
        last: Bytes,
    },
    OmapClear {
        cid: CollectionId,
        oid: ObjectId,
    },
    OmapSetHeader {
        cid: CollectionId,
        oid: ObjectId,
        header: Bytes,
    },
    /// Copies data, xattrs and omap of `src` to `dst` (replacing `dst`). Large data is shared,
    /// not copied.
    Clone {
        cid: CollectionId,
        src: ObjectId,
        dst: ObjectId,
    },
    CloneRange {
        cid: CollectionId,
        src: ObjectId,
        dst: ObjectId,
        src_offset: u64,
        len: u64,
        dst_offset: u64,
    },
    CreateCollection {
        cid: CollectionId,
        bits: u32,
    },
    /// Removes an empty collection.
    RemoveCollection {
        cid: CollectionId,
    },
    /// PG split: `cid` and the existing collection `dest` both become `bits` wide; objects
    /// follow their hash, so nothing moves on disk.
    SplitCollection {
        cid: CollectionId,
        bits: u32,
        dest: CollectionId,
    },
    /// Moves an object to another collection and/or identity, keeping its contents.
    MoveRename {
        src_cid: CollectionId,
        src: ObjectId,
        dst_cid: CollectionId,
        dst: ObjectId,
    },
    /// Records `mtime_ns` as the object's modification time instead of the transaction's.
    SetMtime {
        cid: CollectionId,
        oid: ObjectId,
        mtime_ns: u64,
    },
}

impl Op {
    /// Payload bytes this operation adds to the store, for space accounting.
    pub fn added_bytes(&self) -> u64 {
        let pairs = |v: &[(Bytes, Bytes)]| v.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
        match self {
            Op::Write { data, .. } => data.len() as u64,
            Op::SetAttrs { attrs, .. } => {
                attrs.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
            }
            Op::OmapSetKeys { entries, .. } => pairs(entries),
            Op::OmapSetHeader { header, .. } => header.len() as u64,
            Op::CloneRange { len, .. } => *len,
            // A clone shares large data; its metadata and small data are copied.
            Op::Clone { .. } | Op::Touch { .. } | Op::CreateCollection { .. } => 4096,
            Op::Zero { .. }
            | Op::Truncate { .. }
            | Op::Remove { .. }
            | Op::RmAttr { .. }
            | Op::RmAttrs { .. }
            | Op::OmapRmKeys { .. }
            | Op::OmapRmKeyRange { .. }
            | Op::OmapClear { .. }
            | Op::RemoveCollection { .. }
            | Op::SplitCollection { .. }
            | Op::MoveRename { .. }
            | Op::SetMtime { .. } => 0,
        }
    }
}

/// An ordered list of operations, built with the methods below and applied all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    pub ops: Vec<Op>,
    /// The modification time recorded on changed objects; the store's clock when unset. Set it
    /// from the primary so that replicas record the same time.
    pub mtime_ns: Option<u64>,
}

impl Transaction {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn set_mtime_ns(&mut self, mtime_ns: u64) -> &mut Self {
        self.mtime_ns = Some(mtime_ns);
        self
    }

    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Payload bytes the transaction adds (an estimate used for the no-space check).
    pub fn added_bytes(&self) -> u64 {
        self.ops.iter().map(Op::added_bytes).sum()
    }

    pub fn touch(&mut self, cid: CollectionId, oid: &ObjectId) -> &mut Self {
        self.push(Op::Touch {
            cid,
            oid: oid.clone(),
        })
    }

    pub fn write(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        offset: u64,
        data: impl Into<Bytes>,
    ) -> &mut Self {
        self.push(Op::Write {
            cid,
            oid: oid.clone(),
            offset,
            data: data.into(),
        })
    }

    pub fn zero(&mut self, cid: CollectionId, oid: &ObjectId, offset: u64, len: u64) -> &mut Self {
        self.push(Op::Zero {
            cid,
            oid: oid.clone(),
            offset,
            len,
        })
    }

    pub fn truncate(&mut self, cid: CollectionId, oid: &ObjectId, size: u64) -> &mut Self {
        self.push(Op::Truncate {
            cid,
            oid: oid.clone(),
            size,
        })
    }

    pub fn remove(&mut self, cid: CollectionId, oid: &ObjectId) -> &mut Self {
        self.push(Op::Remove {
            cid,
            oid: oid.clone(),
        })
    }

    pub fn setattr(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        name: impl Into<String>,
        value: impl Into<Bytes>,
    ) -> &mut Self {
        self.push(Op::SetAttrs {
            cid,
            oid: oid.clone(),
            attrs: vec![(name.into(), value.into())],
        })
    }

    pub fn setattrs(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        attrs: Vec<(String, Bytes)>,
    ) -> &mut Self {
        self.push(Op::SetAttrs {
            cid,
            oid: oid.clone(),
            attrs,
        })
    }

    pub fn rmattr(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        name: impl Into<String>,
    ) -> &mut Self {
        self.push(Op::RmAttr {
            cid,
            oid: oid.clone(),
            name: name.into(),
        })
    }

    pub fn rmattrs(&mut self, cid: CollectionId, oid: &ObjectId) -> &mut Self {
        self.push(Op::RmAttrs {
            cid,
            oid: oid.clone(),
        })
    }

    pub fn omap_setkeys(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        entries: Vec<(Bytes, Bytes)>,
    ) -> &mut Self {
        self.push(Op::OmapSetKeys {
            cid,
            oid: oid.clone(),
            entries,
        })
    }

    pub fn omap_rmkeys(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        keys: Vec<Bytes>,
    ) -> &mut Self {
        self.push(Op::OmapRmKeys {
            cid,
            oid: oid.clone(),
            keys,
        })
    }

    pub fn omap_rmkeyrange(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        first: impl Into<Bytes>,
        last: impl Into<Bytes>,
    ) -> &mut Self {
        self.push(Op::OmapRmKeyRange {
            cid,
            oid: oid.clone(),
            first: first.into(),
            last: last.into(),
        })
    }

    pub fn omap_clear(&mut self, cid: CollectionId, oid: &ObjectId) -> &mut Self {
        self.push(Op::OmapClear {
            cid,
            oid: oid.clone(),
        })
    }

    pub fn omap_setheader(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        header: impl Into<Bytes>,
    ) -> &mut Self {
        self.push(Op::OmapSetHeader {
            cid,
            oid: oid.clone(),
            header: header.into(),
        })
    }

    /// Gives `oid` its own modification time (it must exist by then in the transaction).
    pub fn set_object_mtime(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        mtime_ns: u64,
    ) -> &mut Self {
        self.push(Op::SetMtime {
            cid,
            oid: oid.clone(),
            mtime_ns,
        })
    }

    pub fn clone_object(&mut self, cid: CollectionId, src: &ObjectId, dst: &ObjectId) -> &mut Self {
        self.push(Op::Clone {
            cid,
            src: src.clone(),
            dst: dst.clone(),
        })
    }

    pub fn clone_range(
        &mut self,
        cid: CollectionId,
        src: &ObjectId,
        dst: &ObjectId,
        src_offset: u64,
        len: u64,
        dst_offset: u64,
    ) -> &mut Self {
        self.push(Op::CloneRange {
            cid,
            src: src.clone(),
            dst: dst.clone(),
            src_offset,
            len,
            dst_offset,
        })
    }

    pub fn create_collection(&mut self, cid: CollectionId, bits: u32) -> &mut Self {
        self.push(Op::CreateCollection { cid, bits })
    }

    pub fn remove_collection(&mut self, cid: CollectionId) -> &mut Self {
        self.push(Op::RemoveCollection { cid })
    }

    pub fn split_collection(
        &mut self,
        cid: CollectionId,
        bits: u32,
        dest: CollectionId,
    ) -> &mut Self {
        self.push(Op::SplitCollection { cid, bits, dest })
    }

    pub fn move_rename(
        &mut self,
        src_cid: CollectionId,
        src: &ObjectId,
        dst_cid: CollectionId,
        dst: &ObjectId,
    ) -> &mut Self {
        self.push(Op::MoveRename {
            src_cid,
            src: src.clone(),
            dst_cid,
            dst: dst.clone(),
        })
    }
}

use super::error::{StoreError, StoreResult};
use super::types::in_collection;

/// Refuses an object addressed through a collection it does not belong to.
pub(crate) fn check_member(cid: CollectionId, bits: u32, oid: &ObjectId) -> StoreResult<()> {
    if in_collection(cid, bits, oid.pool, oid.hash) {
        Ok(())
    } else {
        Err(StoreError::invalid(format!(
            "object {oid} does not belong to collection {cid} ({bits} bits)"
        )))
    }
}

/// Refuses an extent that ends past [`MAX_OBJECT_SIZE`]; returns its end.
pub(crate) fn check_extent(oid: &ObjectId, offset: u64, len: u64) -> StoreResult<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_OBJECT_SIZE => Ok(end),
        _ => Err(StoreError::invalid(format!(
            "extent {offset}~{len} of {oid} ends past the largest object size ({MAX_OBJECT_SIZE})"
        ))),
    }
}

/// Refuses a clone range whose extents end past [`MAX_OBJECT_SIZE`] or that is longer than a
/// read may be: invalid whatever the store holds. Returns the destination extent's end.
pub(crate) fn check_clone_range(
    src: &ObjectId,
    dst: &ObjectId,
    src_offset: u64,
    len: u64,
    dst_offset: u64,
) -> StoreResult<u64> {
    check_extent(src, src_offset, len)?;
    check_read_len(src, len)?;
    check_extent(dst, dst_offset, len)
}

/// Refuses a read or clone range longer than [`MAX_READ_BYTES`].
pub(crate) fn check_read_len(oid: &ObjectId, len: u64) -> StoreResult<()> {
    if len > MAX_READ_BYTES {
        return Err(StoreError::invalid(format!(
            "reading {len} bytes of {oid} at once exceeds the {MAX_READ_BYTES}-byte limit; read in pieces"
        )));
    }
    Ok(())
}

/// Refuses a split that does not grow `cid` or whose destination is not one of its children.
pub(crate) fn check_split(
    cid: CollectionId,
    old_bits: u32,
    bits: u32,
    dest: CollectionId,
) -> StoreResult<()> {
    use super::types::hash_mask;
    if bits <= old_bits || bits > 32 {
        return Err(StoreError::invalid(format!(
            "split of {cid} from {old_bits} to {bits} bits does not grow it"
        )));
    }
    let m = hash_mask(old_bits);
    if dest.pool != cid.pool || dest.seed & m != cid.seed & m || dest == cid {
        return Err(StoreError::invalid(format!(
            "{dest} is not a child of {cid} at {old_bits} bits"
        )));
    }
    Ok(())
}

/// The wall clock in nanoseconds since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

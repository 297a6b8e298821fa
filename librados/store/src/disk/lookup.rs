//! Reads through the pending overlay: every lookup and range scan of the disk store sees the
//! engine's contents with the staged, not yet applied writes laid over them.

use super::format::{decode_record, Chunk, Onode};
use super::keys::{data_key, onode_key};
use super::pending::{merge_scan, Ks, Pending};
use super::Shared;
use crate::error::{StoreError, StoreResult};
use crate::types::ObjectId;
use bytes::Bytes;
use fjall::Keyspace;
use std::ops::Bound;
use std::sync::RwLockReadGuard;

/// A value from the overlay or from the engine.
pub(super) enum Val {
    Pending(Bytes),
    Engine(fjall::Slice),
}

impl std::ops::Deref for Val {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Val::Pending(b) => b,
            Val::Engine(s) => s,
        }
    }
}

impl Val {
    pub(super) fn into_bytes(self) -> Bytes {
        match self {
            Val::Pending(b) => b,
            Val::Engine(s) => Bytes::copy_from_slice(&s),
        }
    }
}

impl Shared {
    pub(super) fn keyspace(&self, ks: Ks) -> &Keyspace {
        match ks {
            Ks::Onode => &self.onodes,
            Ks::Data => &self.data,
            Ks::Omap => &self.omap,
            Ks::Alloc => &self.alloc_ks,
            Ks::Meta => &self.meta,
        }
    }

    /// Holds the overlay still: while held, the engine changes only under keys the overlay
    /// shadows, so a series of lookups sees one state.
    pub(super) fn pending_read(&self) -> RwLockReadGuard<'_, Pending> {
        self.pending.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key`: the pending one if staged, else the engine's (not copied).
    pub(super) fn get_in(
        &self,
        p: &Pending,
        ks: Ks,
        key: &[u8],
    ) -> Result<Option<Val>, fjall::Error> {
        match p.get(ks, key) {
            Some(v) => Ok(v.map(Val::Pending)),
            None => Ok(self.keyspace(ks).get(key)?.map(Val::Engine)),
        }
    }

    fn engine_range(&self, ks: Ks, lower: &[u8], upper: Option<&[u8]>) -> fjall::Iter {
        let hi = upper.map_or(Bound::Unbounded, |u| Bound::Excluded(u.to_vec()));
        self.keyspace(ks)
            .range::<Vec<u8>, _>((Bound::Included(lower.to_vec()), hi))
    }

    /// Entries of `ks` in `[lower, upper)` in key order, until `f` returns false.
    pub(super) fn scan_in(
        &self,
        p: &Pending,
        ks: Ks,
        lower: &[u8],
        upper: Option<&[u8]>,
        f: impl FnMut(&[u8], &Bytes) -> bool,
    ) -> Result<(), fjall::Error> {
        let engine = self.engine_range(ks, lower, upper).map(|g| {
            g.into_inner()
                .map(|(k, v)| (k.to_vec(), Bytes::copy_from_slice(&v)))
        });
        merge_scan(engine, p.range(ks, lower, upper), f)
    }

    /// Keys of `ks` in `[lower, upper)` in key order (values are not read), until `f` returns
    /// false.
    pub(super) fn scan_keys_in(
        &self,
        p: &Pending,
        ks: Ks,
        lower: &[u8],
        upper: Option<&[u8]>,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), fjall::Error> {
        let engine = self
            .engine_range(ks, lower, upper)
            .map(|g| g.key().map(|k| (k.to_vec(), ())));
        let pending = p
            .range(ks, lower, upper)
            .into_iter()
            .map(|(k, v)| (k, v.map(|_| ())))
            .collect();
        merge_scan(engine, pending, |k, _| f(k))
    }

    pub(super) fn engine_err(oid: &ObjectId, e: fjall::Error) -> StoreError {
        StoreError::Corrupt {
            object: oid.clone().into(),
            detail: format!("engine: {e}"),
        }
    }

    pub(super) fn decode_onode(oid: &ObjectId, bytes: &[u8]) -> StoreResult<Onode> {
        decode_record(bytes).map_err(|detail| StoreError::Corrupt {
            object: oid.clone().into(),
            detail: format!("onode: {detail}"),
        })
    }

    pub(super) fn onode_in(&self, p: &Pending, oid: &ObjectId) -> StoreResult<Option<Onode>> {
        match self.get_in(p, Ks::Onode, &onode_key(oid)) {
            Ok(Some(v)) => Self::decode_onode(oid, &v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(Self::engine_err(oid, e)),
        }
    }

    pub(super) fn chunk_in(
        &self,
        p: &Pending,
        oid: &ObjectId,
        nid: u64,
        idx: u32,
    ) -> StoreResult<Option<Chunk>> {
        let got = self
            .get_in(p, Ks::Data, &data_key(nid, idx))
            .map_err(|e| Self::engine_err(oid, e))?;
        match got {
            None => Ok(None),
            Some(v) => decode_record(&v)
                .map(Some)
                .map_err(|detail| StoreError::Corrupt {
                    object: oid.clone().into(),
                    detail: format!("chunk {idx}: {detail}"),
                }),
        }
    }

    /// The onode of an object that must exist.
    pub(super) fn existing_onode_in(&self, p: &Pending, oid: &ObjectId) -> StoreResult<Onode> {
        self.onode_in(p, oid)?
            .ok_or_else(|| StoreError::ObjectNotFound {
                object: oid.clone().into(),
            })
    }

    pub(super) fn get_onode(&self, oid: &ObjectId) -> StoreResult<Option<Onode>> {
        self.onode_in(&self.pending_read(), oid)
    }

    pub(super) fn get_chunk(
        &self,
        oid: &ObjectId,
        nid: u64,
        idx: u32,
    ) -> StoreResult<Option<Chunk>> {
        self.chunk_in(&self.pending_read(), oid, nid, idx)
    }
}

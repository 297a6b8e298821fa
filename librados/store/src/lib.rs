//! The per-OSD object store: collections (one per PG) of objects with byte data, xattrs and an
//! omap, changed only by all-or-nothing [`Transaction`]s.
//!
//! Two promises hold for every backend, and everything above (replication, snapshots, recovery,
//! scrub) relies on them: a transaction whose [`Commit`] resolved is durable and whole, and a
//! read never returns bytes that were not written (a checksum mismatch is
//! [`StoreError::Corrupt`], errno `EIO`).
//!
//! Reads see every transaction that was queued before them, durable or not; replication acks
//! only after `Commit` resolves on every replica, so nothing unacknowledged is ever promised.
//!
//! Backends: [`DiskStore`] (the default everywhere: a key-value engine for metadata and omap,
//! a block file for large data) and [`MemStore`] (in memory, for tests of the layers above).

use rados_common::{errno, lockfile};

pub mod commit;
pub mod disk;
pub mod error;
pub mod mem;
pub mod transaction;
pub mod types;

pub use commit::Commit;
pub use disk::{DiskStore, StoreConfig};
pub use error::{StoreError, StoreResult};
pub use mem::MemStore;
pub use transaction::{Op, Transaction, MAX_OBJECT_SIZE, MAX_READ_BYTES};
pub use types::{
    CollectionId, ListCursor, ListPage, ObjectId, ObjectStat, OmapPage, StoreStats, VerifyProblem,
    VerifyReport, NO_GEN, SNAP_HEAD,
};

use bytes::Bytes;
use std::collections::BTreeMap;

/// The object store interface every backend implements.
pub trait ObjectStore: Send + Sync {
    /// Validates and applies `txn`; the returned [`Commit`] resolves when it is durable.
    /// Transactions are applied in the order this is called; an error means nothing of `txn`
    /// was applied.
    fn queue_transaction(&self, txn: Transaction) -> StoreResult<Commit>;

    /// Whether [`ObjectStore::queue_transaction`] would now wait for the store to catch up
    /// (its queue of transactions not yet durable is over its limit). Async callers check it
    /// to do that wait off their async workers.
    fn backlogged(&self) -> bool {
        false
    }

    /// Applies `txn` and waits until it is durable.
    fn apply_transaction(&self, txn: Transaction) -> StoreResult<()> {
        self.queue_transaction(txn)?.wait()
    }

    /// Every collection, in order.
    fn list_collections(&self) -> StoreResult<Vec<CollectionId>>;

    /// The hash bits of a collection.
    fn collection_bits(&self, cid: CollectionId) -> StoreResult<u32>;

    fn exists(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<bool>;

    fn stat(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<ObjectStat>;

    /// Up to `len` bytes from `offset`; short at the end of the object, empty past it. Holes
    /// read as zeros. `len = u64::MAX` reads to the end. More than [`MAX_READ_BYTES`] at once
    /// is refused (`InvalidArgument`).
    fn read(&self, cid: CollectionId, oid: &ObjectId, offset: u64, len: u64) -> StoreResult<Bytes>;

    fn getattr(&self, cid: CollectionId, oid: &ObjectId, name: &str) -> StoreResult<Bytes>;

    fn getattrs(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<BTreeMap<String, Bytes>>;

    /// The omap header (empty when never set).
    fn omap_get_header(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<Bytes>;

    /// The values of those `keys` that exist.
    fn omap_get_values(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        keys: &[Bytes],
    ) -> StoreResult<BTreeMap<Bytes, Bytes>>;

    /// Omap entries in key order, strictly after `start_after`, limited to keys beginning with
    /// `prefix`, at most `max` of them.
    fn omap_list(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        start_after: Option<&[u8]>,
        prefix: Option<&[u8]>,
        max: usize,
    ) -> StoreResult<OmapPage>;

    /// A collection's objects in listing order (see [`ObjectId`]'s `Ord`), from `cursor`.
    fn list_objects(
        &self,
        cid: CollectionId,
        cursor: &ListCursor,
        max: usize,
    ) -> StoreResult<ListPage>;

    fn statfs(&self) -> StoreResult<StoreStats>;

    /// Reads and checks every object, xattr, omap entry and data block.
    fn verify(&self) -> StoreResult<VerifyReport>;
}

/// Every omap entry of an object.
pub fn omap_get_all(
    store: &dyn ObjectStore,
    cid: CollectionId,
    oid: &ObjectId,
) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
    Ok(store.omap_list(cid, oid, None, None, usize::MAX)?.entries)
}

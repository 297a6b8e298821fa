//! The store's nouns: collections (one per PG), object identities in Ceph's listing order, and
//! the results of reads, listings, statfs and verify.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// The snap id of a head object (Ceph's `CEPH_NOSNAP`).
pub const SNAP_HEAD: u64 = u64::MAX - 1;
/// The generation of an object that is not a rollback/EC generation (Ceph's `NO_GEN`).
pub const NO_GEN: u64 = u64::MAX;

/// A collection: the objects of one placement group. Membership is by hash: an object belongs
/// to `(pool, seed)` when `hash & mask(bits) == seed & mask(bits)`, where `bits` is kept with
/// the collection and grows when the PG splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CollectionId {
    pub pool: i64,
    pub seed: u32,
}

impl CollectionId {
    pub fn new(pool: i64, seed: u32) -> Self {
        CollectionId { pool, seed }
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:x}", self.pool, self.seed)
    }
}

/// The mask of the low `bits` bits of a hash.
pub fn hash_mask(bits: u32) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    }
}

/// Whether an object with `pool` and `hash` belongs to collection `cid` split to `bits`.
pub fn in_collection(cid: CollectionId, bits: u32, pool: i64, hash: u32) -> bool {
    pool == cid.pool && hash & hash_mask(bits) == cid.seed & hash_mask(bits)
}

/// One object as the store knows it: Ceph's `ghobject_t` without the shard.
///
/// `hash` is the placement hash the layer above computed (from the locator key when there is
/// one, else from the name). `key` is the locator; a locator equal to the name is the same as
/// none, so [`ObjectId::new`] and friends normalise it away.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectId {
    pub pool: i64,
    pub namespace: String,
    pub key: String,
    pub name: String,
    pub hash: u32,
    pub snap: u64,
    pub generation: u64,
}

impl ObjectId {
    /// A head object with no namespace and no locator.
    pub fn new(pool: i64, name: impl Into<String>, hash: u32) -> Self {
        ObjectId {
            pool,
            namespace: String::new(),
            key: String::new(),
            name: name.into(),
            hash,
            snap: SNAP_HEAD,
            generation: NO_GEN,
        }
    }

    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self.normalize();
        self
    }

    pub fn with_snap(mut self, snap: u64) -> Self {
        self.snap = snap;
        self
    }

    pub fn with_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    /// Drop a locator that equals the name (it places and sorts exactly like no locator).
    pub fn normalize(&mut self) {
        if self.key == self.name {
            self.key.clear();
        }
    }

    /// The string that orders objects of one hash: the locator if set, else the name.
    pub fn effective_key(&self) -> &str {
        if self.key.is_empty() {
            &self.name
        } else {
            &self.key
        }
    }

    fn sort_tuple(&self) -> (i64, u32, &str, &str, &str, u64, u64) {
        (
            self.pool,
            self.hash.reverse_bits(),
            &self.namespace,
            self.effective_key(),
            &self.name,
            self.snap,
            self.generation,
        )
    }
}

/// Equal exactly when they sort equal: a locator equal to the name is the same object as no
/// locator, however the fields were filled in.
impl PartialEq for ObjectId {
    fn eq(&self, other: &Self) -> bool {
        self.sort_tuple() == other.sort_tuple()
    }
}

impl Eq for ObjectId {}

impl std::hash::Hash for ObjectId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.sort_tuple().hash(state);
    }
}

/// Ceph's bitwise order: pool, bit-reversed hash, namespace, locator-or-name, name, snap,
/// generation. Every replica lists in this order, and the on-disk keys sort the same way.
impl Ord for ObjectId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_tuple().cmp(&other.sort_tuple())
    }
}

impl PartialOrd for ObjectId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:08x}:", self.pool, self.hash)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        if !self.key.is_empty() {
            write!(f, "{}@", self.key)?;
        }
        write!(f, "{}", self.name)?;
        match self.snap {
            SNAP_HEAD => write!(f, ":head")?,
            u64::MAX => write!(f, ":snapdir")?,
            s => write!(f, ":{s:x}")?,
        }
        if self.generation != NO_GEN {
            write!(f, ":g{}", self.generation)?;
        }
        Ok(())
    }
}

/// What `stat` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStat {
    pub size: u64,
    /// Nanoseconds since the Unix epoch of the last transaction that changed the object.
    pub mtime_ns: u64,
    /// Counts the transactions that changed the object (1 after creation).
    pub version: u64,
}

/// Where a collection listing starts: before everything, or after a given object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ListCursor {
    #[default]
    Start,
    After(ObjectId),
}

/// One page of a collection listing; `next` is `None` once the collection is exhausted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectId>,
    pub next: Option<ListCursor>,
}

impl ListPage {
    /// A page of `objects` listed from `cursor`; `more` says whether the listing stopped at
    /// `max` with objects left.
    pub fn new(objects: Vec<ObjectId>, more: bool, cursor: &ListCursor) -> Self {
        let next = match (more, objects.last()) {
            (true, Some(last)) => Some(ListCursor::After(last.clone())),
            (true, None) => Some(cursor.clone()),
            (false, _) => None,
        };
        ListPage { objects, next }
    }
}

/// One page of omap entries, in key order; `more` says whether entries remain past the page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OmapPage {
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    pub more: bool,
}

/// Space as the store sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Size of the filesystem the store lives on.
    pub total_bytes: u64,
    /// Bytes the store itself holds (data blocks and the key-value engine's files).
    pub used_bytes: u64,
    /// Bytes new writes may still use: free space on the filesystem less the reserve.
    pub available_bytes: u64,
    /// Room kept back so that deletes, recovery and the engine's own upkeep can always run.
    pub reserved_bytes: u64,
    /// Logical bytes of object data stored.
    pub data_bytes: u64,
    /// Number of objects.
    pub objects: u64,
}

/// One problem found by [`crate::ObjectStore::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyProblem {
    /// An object whose data, metadata or omap fails its checksum or cannot be decoded.
    Object {
        collection: Option<CollectionId>,
        object: ObjectId,
        detail: String,
    },
    /// A record or file of the engine that could not be read at all.
    Engine { detail: String },
}

/// The result of a whole-store verify walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub objects_checked: u64,
    pub bytes_checked: u64,
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The objects named in problems, for tests and reports.
    pub fn damaged_objects(&self) -> Vec<&ObjectId> {
        self.problems
            .iter()
            .filter_map(|p| match p {
                VerifyProblem::Object { object, .. } => Some(object),
                VerifyProblem::Engine { .. } => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_by_reversed_hash_first() {
        let a = ObjectId::new(1, "zzz", 0x0000_0001); // reversed: 0x8000_0000
        let b = ObjectId::new(1, "aaa", 0x0000_0002); // reversed: 0x4000_0000
        assert!(b < a);
        let c = ObjectId::new(0, "zzz", 0x0000_0001);
        assert!(c < b, "pool sorts before hash");
    }

    #[test]
    fn locator_equal_to_name_is_no_locator() {
        let a = ObjectId::new(1, "obj", 7).with_key("obj");
        assert_eq!(a, ObjectId::new(1, "obj", 7));
        // Even when the field is filled in directly.
        let mut b = ObjectId::new(1, "obj", 7);
        b.key = "obj".into();
        assert_eq!(b, ObjectId::new(1, "obj", 7));
        let rs = std::hash::RandomState::new();
        assert_eq!(
            std::hash::BuildHasher::hash_one(&rs, &b),
            std::hash::BuildHasher::hash_one(&rs, ObjectId::new(1, "obj", 7))
        );
    }

    #[test]
    fn membership_follows_low_bits() {
        let cid = CollectionId::new(3, 0b101);
        assert!(in_collection(cid, 3, 3, 0xffff_fffd));
        assert!(!in_collection(cid, 3, 3, 0xffff_fffe));
        assert!(!in_collection(cid, 3, 4, 0xffff_fffd));
        assert!(in_collection(cid, 0, 3, 0x1234_5678));
    }
}

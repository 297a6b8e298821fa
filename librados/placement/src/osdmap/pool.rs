//! Pools: how objects of a pool are hashed into PGs and how PGs are fed to CRUSH.

use super::pg::{mask_for, stable_mod, PgId};
use super::time::UTime;
use crate::hash::{crush_hash32_2, str_hash_linux, str_hash_rjenkins};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Separates namespace and key in the hashed name (`nspace \x1f key`), as Ceph does.
const NAMESPACE_SEPARATOR: u8 = 0x1f;

/// Replicated or erasure-coded (codes as in Ceph: 1 and 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoolType {
    Replicated,
    Erasure,
}

impl PoolType {
    /// The rule type a pool of this type needs (Ceph's pool type codes are the rule types).
    pub fn rule_type(self) -> u8 {
        match self {
            PoolType::Replicated => crate::crush::RULE_TYPE_REPLICATED,
            PoolType::Erasure => crate::crush::RULE_TYPE_ERASURE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PoolType::Replicated => "replicated",
            PoolType::Erasure => "erasure",
        }
    }
}

/// The string hash that turns object names into placement seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ObjectHash {
    Rjenkins,
    Linux,
}

impl ObjectHash {
    pub fn name(self) -> &'static str {
        match self {
            ObjectHash::Rjenkins => "rjenkins",
            ObjectHash::Linux => "linux",
        }
    }

    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            ObjectHash::Rjenkins => str_hash_rjenkins(key),
            ObjectHash::Linux => str_hash_linux(key),
        }
    }
}

/// Pool flags (the subset with a meaning here; bit values as in Ceph).
pub mod flags {
    /// Hash the pool id into the placement seed so pools do not overlap.
    pub const HASHPSPOOL: u64 = 1 << 0;
    /// Pool is full: writes are refused.
    pub const FULL: u64 = 1 << 1;
    /// Pool uses self-managed snapshots (exclusive with pool snapshots).
    pub const SELFMANAGED_SNAPS: u64 = 1 << 5;
    /// Pool uses pool snapshots.
    pub const POOL_SNAPS: u64 = 1 << 14;

    pub const NAMES: [(u64, &str); 4] = [
        (HASHPSPOOL, "hashpspool"),
        (FULL, "full"),
        (SELFMANAGED_SNAPS, "selfmanaged_snaps"),
        (POOL_SNAPS, "pool_snaps"),
    ];
}

/// A pool snapshot's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSnap {
    pub id: u64,
    pub name: String,
    pub created: UTime,
}

/// A pool, as the OSD map records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub id: i64,
    pub name: String,
    pub pool_type: PoolType,
    /// Replicas (or k+m shards).
    pub size: u8,
    /// Fewest replicas that may acknowledge a write.
    pub min_size: u8,
    pub crush_rule: i32,
    pub object_hash: ObjectHash,
    pub pg_num: u32,
    pub pgp_num: u32,
    pub flags: u64,
    /// Epoch of the last change to this pool.
    pub last_change: u32,
    /// Applications enabled on the pool (`rbd`, `rgw`, `cephfs`, ...).
    #[serde(default)]
    pub applications: BTreeMap<String, BTreeMap<String, String>>,
    /// Last snapshot id allocated in this pool.
    #[serde(default)]
    pub snap_seq: u64,
    /// Epoch of the last snapshot change.
    #[serde(default)]
    pub snap_epoch: u32,
    /// Pool snapshots by id.
    #[serde(default)]
    pub snaps: BTreeMap<u64, PoolSnap>,
    /// Snapshot ids removed (and to be trimmed).
    #[serde(default)]
    pub removed_snaps: Vec<u64>,
}

impl Pool {
    /// A replicated pool with Ceph's defaults (hashpspool, rjenkins, min_size = size - size/2).
    pub fn replicated(id: i64, name: &str, size: u8, pg_num: u32, crush_rule: i32) -> Pool {
        Pool {
            id,
            name: name.to_string(),
            pool_type: PoolType::Replicated,
            size,
            min_size: size - size / 2,
            crush_rule,
            object_hash: ObjectHash::Rjenkins,
            pg_num,
            pgp_num: pg_num,
            flags: flags::HASHPSPOOL,
            last_change: 0,
            applications: BTreeMap::new(),
            snap_seq: 0,
            snap_epoch: 0,
            snaps: BTreeMap::new(),
            removed_snaps: Vec::new(),
        }
    }

    /// Whether failed positions shift up (replicated) rather than stay as holes (erasure).
    pub fn can_shift_osds(&self) -> bool {
        self.pool_type == PoolType::Replicated
    }

    pub fn pg_num_mask(&self) -> u32 {
        mask_for(self.pg_num)
    }

    pub fn pgp_num_mask(&self) -> u32 {
        mask_for(self.pgp_num)
    }

    /// The raw placement seed of an object: the hash of `key` (the locator, or else the name),
    /// prefixed by the namespace when there is one.
    pub fn hash_key(&self, key: &[u8], namespace: &[u8]) -> u32 {
        if namespace.is_empty() {
            return self.object_hash.hash(key);
        }
        let mut buf = Vec::with_capacity(namespace.len() + 1 + key.len());
        buf.extend_from_slice(namespace);
        buf.push(NAMESPACE_SEPARATOR);
        buf.extend_from_slice(key);
        self.object_hash.hash(&buf)
    }

    /// The PG a raw seed falls in.
    pub fn raw_pg_to_pg(&self, raw: PgId) -> PgId {
        PgId {
            pool: raw.pool,
            seed: stable_mod(raw.seed, self.pg_num, self.pg_num_mask()),
        }
    }

    /// The input CRUSH maps for a PG ("placement ps"): PGs beyond pgp_num share placements, and
    /// with hashpspool the pool id is hashed in so pools do not overlap.
    pub fn raw_pg_to_pps(&self, pg: PgId) -> u32 {
        let ps = stable_mod(pg.seed, self.pgp_num, self.pgp_num_mask());
        if self.flags & flags::HASHPSPOOL != 0 {
            crush_hash32_2(ps, pg.pool as u32)
        } else {
            ps.wrapping_add(pg.pool as u32)
        }
    }

    /// Flag names, as Ceph lists them (`hashpspool,full`).
    pub fn flag_names(&self) -> String {
        flags::NAMES
            .iter()
            .filter(|(bit, _)| self.flags & bit != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }
}

//! The inputs and outputs of the object classes that clients call with their own types
//! (the classes themselves run in the OSD): the `version` counter and advisory locks.

use serde::{Deserialize, Serialize};

/// The `version` class's value: a counter and a tag naming who set it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjVersion {
    pub ver: u64,
    pub tag: String,
}

pub mod lock {
    //! Advisory locks, as Ceph's `lock` class keeps them: per lock name, a type, a tag, and
    //! the lockers (entity + cookie) with their expiry.

    use serde::{Deserialize, Serialize};

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub enum LockType {
        Exclusive,
        Shared,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LockRequest {
        pub name: String,
        pub lock_type: LockType,
        pub cookie: String,
        pub tag: String,
        pub description: String,
        /// 0 = never expires.
        pub duration_ms: u64,
        /// Renew a lock the caller already holds instead of failing with EEXIST.
        pub may_renew: bool,
        /// Renew only: ENOENT unless the caller already holds the lock.
        #[serde(default)]
        pub must_renew: bool,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct UnlockRequest {
        pub name: String,
        pub cookie: String,
        /// For `break_lock`: the locker to evict (`client.N`).
        #[serde(default)]
        pub locker: String,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Locker {
        pub entity: String,
        pub cookie: String,
        pub description: String,
        /// Nanoseconds since the epoch; 0 = never.
        pub expires_ns: u64,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LockInfo {
        pub name: String,
        pub lock_type: LockType,
        pub tag: String,
        pub lockers: Vec<Locker>,
    }
}

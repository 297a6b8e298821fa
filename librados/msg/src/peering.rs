//! What OSDs tell each other about a PG: its log, its summary (info), and whole-object state
//! for recovery.

use super::ops::{Eversion, ObjectName, ReqId};
use crate::osdmap::PgId;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a log entry did to its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogOp {
    Modify,
    Delete,
}

/// One PG log entry: a write, named by its position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub version: Eversion,
    pub reqid: ReqId,
    pub object: ObjectName,
    pub hash: u32,
    pub op: LogOp,
    /// The object's user version after the write.
    pub user_version: u64,
    /// The steps' results, so that a resend of the request (after a lost reply or a new
    /// primary) is answered as the first attempt was. Empty when every step returned nothing
    /// (the common case), or when they returned more than [`MAX_LOGGED_RESULTS_BYTES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<crate::ops::StepResult>,
}

/// Most bytes of step results a log entry keeps (encoded): a write's results are error
/// codes and small class-method outputs; larger ones are not kept, and a resend of such a
/// request reports its steps' results as empty.
pub const MAX_LOGGED_RESULTS_BYTES: usize = 4096;

/// A PG replica's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgInfo {
    pub pgid: PgId,
    /// The newest entry in the log (0'0 when nothing was ever written).
    pub last_update: Eversion,
    /// Entries at or before this are no longer in the log.
    pub log_tail: Eversion,
    /// Epoch the current interval began (as this replica last activated).
    pub same_interval_since: u32,
    /// Epoch this replica last activated in.
    pub last_epoch_started: u32,
    /// Objects in the PG (head objects, as clients see them).
    #[serde(default)]
    pub objects: u64,
    /// Logical bytes of those objects, plus what their clones do not share with them.
    #[serde(default)]
    pub bytes: u64,
    /// Snapshot clones in the PG.
    #[serde(default)]
    pub clones: u64,
    /// Removed snaps whose clones this PG has trimmed.
    #[serde(default)]
    pub purged_snaps: Vec<u64>,
}

/// An object's whole state, as recovery copies it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectState {
    pub object: ObjectName,
    pub hash: u32,
    /// `false`: the object must not exist on the target.
    pub exists: bool,
    #[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]
    pub data: Bytes,
    pub xattrs: BTreeMap<String, Bytes>,
    pub omap: Vec<(Bytes, Bytes)>,
    pub omap_header: Bytes,
    pub mtime_ns: u64,
    /// The object's snapshot clones, by clone id, oldest first (the head's SnapSet lists them).
    #[serde(default)]
    pub clones: Vec<(u64, ObjectState)>,
    /// For a clone: its size.
    #[serde(default)]
    pub size: u64,
    /// For a clone, when set: `data` holds only these `(offset, len)` extents, back to back;
    /// the rest is shared with the next newer version (the next clone, or the head), which
    /// the target builds first and clones from.
    #[serde(default)]
    pub delta: Option<Vec<(u64, u64)>>,
}

/// One piece of a recovery push (see the OSD's `pg/push.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushPart {
    /// An object (with its clones) small enough to travel whole; applied at once.
    Whole(ObjectState),
    /// Starts building version `snap` of a large object in a temporary object: with `base`,
    /// cloned from the version built before (this one's next newer), else empty.
    Begin {
        object: ObjectName,
        hash: u32,
        snap: u64,
        size: u64,
        mtime_ns: u64,
        xattrs: BTreeMap<String, Bytes>,
        omap_header: Bytes,
        base: Option<u64>,
    },
    Data {
        object: ObjectName,
        hash: u32,
        snap: u64,
        offset: u64,
        #[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]
        data: Bytes,
    },
    Omap {
        object: ObjectName,
        hash: u32,
        snap: u64,
        entries: Vec<(Bytes, Bytes)>,
    },
    /// The versions built (`(snap, mtime_ns)`) replace the object's stored versions.
    Commit {
        object: ObjectName,
        hash: u32,
        versions: Vec<(u64, u64)>,
    },
    /// Backfill: of the target's objects after `after` up to `upto` (inclusive; `None`: the
    /// start, the end), only `names` stay.
    Range {
        after: Option<(u32, ObjectName)>,
        upto: Option<(u32, ObjectName)>,
        names: Vec<(u32, ObjectName)>,
    },
}

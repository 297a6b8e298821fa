//! The object operations a client sends to a PG's primary, and what each returns.
//!
//! One [`OsdOpRequest`] carries a compound operation: its steps run in order against one object,
//! and if any step fails the whole request has no effect (writes are applied atomically, as one
//! store transaction, only when every step succeeded).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::osdmap::PgId;

/// A PG log position: the map epoch the write was made in and the PG's write counter.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Eversion {
    pub epoch: u32,
    pub version: u64,
}

impl std::fmt::Display for Eversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}'{}", self.epoch, self.version)
    }
}

/// Identifies a client request across resends, so a write resent after a map change is
/// recognised and not applied twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReqId {
    pub client: u64,
    pub tid: u64,
}

/// An object's full name within a pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectName {
    pub namespace: String,
    /// Locator key: when non-empty, placement hashes it instead of `name`.
    pub key: String,
    pub name: String,
}

/// A writer's snapshot context: the newest snap id it knows of (`seq`) and the snaps that
/// exist, newest first. The first write to an object after a snap newer than the object's
/// last one preserves the object's old state in a clone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SnapContext {
    pub seq: u64,
    pub snaps: Vec<u64>,
}

impl SnapContext {
    /// Whether the context is well formed, as Ceph checks it: `snaps` strictly descending,
    /// none above `seq`, and no snap id 0 or at/above the head's id.
    pub fn is_valid(&self) -> bool {
        if self.seq >= crate::store::SNAP_HEAD {
            return false;
        }
        let mut prev = self.seq.saturating_add(1);
        for &s in &self.snaps {
            if s == 0 || s >= prev {
                return false;
            }
            prev = s;
        }
        true
    }
}

fn snap_head() -> u64 {
    crate::store::SNAP_HEAD
}

/// How `CmpXattr` and `OmapCmp` compare the stored value with the given one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// Whether `CmpXattr` compares bytes or decimal numbers (Ceph's `CEPH_OSD_CMPXATTR_MODE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpMode {
    String,
    U64,
}

/// One step of a compound operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpStep {
    // --- writes
    Create {
        exclusive: bool,
    },
    Write {
        offset: u64,
        #[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]
        data: Bytes,
    },
    WriteFull {
        #[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]
        data: Bytes,
    },
    Append {
        #[serde(deserialize_with = "rados_common::frame_bytes::deserialize")]
        data: Bytes,
    },
    Truncate {
        size: u64,
    },
    Zero {
        offset: u64,
        len: u64,
    },
    Remove,
    SetXattr {
        name: String,
        value: Bytes,
    },
    RmXattr {
        name: String,
    },
    OmapSetVals {
        entries: Vec<(Bytes, Bytes)>,
    },
    OmapRmKeys {
        keys: Vec<Bytes>,
    },
    /// Removes keys in `[first, last)`.
    OmapRmRange {
        first: Bytes,
        last: Bytes,
    },
    OmapClear,
    OmapSetHeader {
        header: Bytes,
    },
    // --- reads
    Read {
        offset: u64,
        len: u64,
    },
    Stat,
    GetXattr {
        name: String,
    },
    GetXattrs,
    OmapGetVals {
        start_after: Bytes,
        prefix: Bytes,
        max: u64,
    },
    OmapGetKeys {
        start_after: Bytes,
        max: u64,
    },
    OmapGetValsByKeys {
        keys: Vec<Bytes>,
    },
    OmapGetHeader,
    // --- guards
    AssertExists,
    /// Fails with ERANGE/EOVERFLOW unless the object's user version equals `version`.
    AssertVersion {
        version: u64,
    },
    CmpXattr {
        name: String,
        op: CmpOp,
        mode: CmpMode,
        value: Bytes,
    },
    // --- snapshots
    /// Makes the object what it was at `snap` (removes it if it did not exist then). Must be
    /// the only step of its request.
    Rollback {
        snap: u64,
    },
    /// The object's clones and the snaps each covers ([`StepOutput::Snaps`]).
    ListSnaps,
    // --- watch/notify (must be the only step of a request)
    /// Registers this client's watch `cookie` on the object (ENOENT if it does not exist).
    /// The watch lapses unless the client pings it (or registers it again) within
    /// `timeout_secs` (0: the OSD's default, [`DEFAULT_WATCH_TIMEOUT`]).
    Watch {
        cookie: u64,
        #[serde(default)]
        timeout_secs: u32,
    },
    Unwatch {
        cookie: u64,
    },
    /// Sends `payload` to every watcher and waits up to `timeout_ms` for their acknowledgements.
    Notify {
        payload: Bytes,
        timeout_ms: u64,
    },
    // --- object classes
    Exec {
        class: String,
        method: String,
        input: Bytes,
    },
    // --- added later; new variants go last so older encodings keep their meaning
    /// Guard: the object's bytes at `offset` must equal `data`, bytes past its end comparing
    /// as zeros (a missing object is all zeros inside a write request, ENOENT in a read).
    /// A mismatch fails the request with errno [`crate::errno::MAX_ERRNO`] + the index in
    /// `data` of the first differing byte, as Ceph reports it.
    CmpExt {
        offset: u64,
        data: Bytes,
    },
    /// Guard: ECANCELED unless, for every `(key, op, value)`, the stored omap value (empty
    /// when the key is missing) satisfies `stored <op> value`, compared byte-wise. As in
    /// Ceph 16, only `Eq`, `Gt` and `Lt` are understood (EINVAL otherwise); ENOENT without
    /// the object.
    OmapCmp {
        assertions: Vec<(Bytes, CmpOp, Bytes)>,
    },
    /// Writes `data` repeated to fill `len` bytes at `offset`: EINVAL when `data` is empty
    /// or `len` is not a multiple of its length; `len` 0 writes (and creates) nothing.
    WriteSame {
        offset: u64,
        len: u64,
        data: Bytes,
    },
    /// Keeps watch `cookie` alive: ENOTCONN when the primary no longer has it (it lapsed, or
    /// the object was removed). Must be the only step of its request.
    WatchPing {
        cookie: u64,
    },
}

/// How long a watch lives without a ping when the client names no timeout (Ceph's
/// `osd_client_watch_timeout`).
pub const DEFAULT_WATCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest watch timeout a client may ask for.
pub const MAX_WATCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl OpStep {
    /// Whether the step may change the object (a request with any such step is a write).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            OpStep::Create { .. }
                | OpStep::Write { .. }
                | OpStep::WriteFull { .. }
                | OpStep::Append { .. }
                | OpStep::Truncate { .. }
                | OpStep::Zero { .. }
                | OpStep::Remove
                | OpStep::SetXattr { .. }
                | OpStep::RmXattr { .. }
                | OpStep::OmapSetVals { .. }
                | OpStep::OmapRmKeys { .. }
                | OpStep::OmapRmRange { .. }
                | OpStep::OmapClear
                | OpStep::OmapSetHeader { .. }
                | OpStep::Rollback { .. }
                | OpStep::WriteSame { .. }
        ) || matches!(self, OpStep::Exec { .. })
    }

    /// Whether the step is a watch/notify step, which the PG serves alone (one step per
    /// request), outside the object's compound execution.
    pub fn is_watch(&self) -> bool {
        matches!(
            self,
            OpStep::Watch { .. }
                | OpStep::Unwatch { .. }
                | OpStep::Notify { .. }
                | OpStep::WatchPing { .. }
        )
    }

    /// Whether the step changes the object whenever it succeeds: every write step but a
    /// class call, which may only read (a read at a snapshot may run those; the OSD refuses
    /// one that turns out to change the object).
    pub fn always_writes(&self) -> bool {
        self.is_write() && !matches!(self, OpStep::Exec { .. })
    }

    /// Bytes of object data the step writes (a write-same's whole extent, not its pattern).
    pub fn written_bytes(&self) -> u64 {
        match self {
            OpStep::Write { data, .. } | OpStep::WriteFull { data } | OpStep::Append { data } => {
                data.len() as u64
            }
            OpStep::WriteSame { len, .. } => *len,
            _ => 0,
        }
    }

    /// Payload bytes the step carries (for client throttling).
    pub fn payload_bytes(&self) -> u64 {
        match self {
            OpStep::Write { data, .. }
            | OpStep::WriteFull { data }
            | OpStep::Append { data }
            | OpStep::WriteSame { data, .. }
            | OpStep::CmpExt { data, .. } => data.len() as u64,
            OpStep::OmapCmp { assertions } => assertions
                .iter()
                .map(|(k, _, v)| (k.len() + v.len()) as u64)
                .sum(),
            OpStep::SetXattr { value, .. } => value.len() as u64,
            OpStep::OmapSetVals { entries } => entries
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum(),
            OpStep::Exec { input, .. } => input.len() as u64,
            OpStep::Notify { payload, .. } => payload.len() as u64,
            _ => 0,
        }
    }
}

/// What one step returned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepOutput {
    #[default]
    None,
    Data(#[serde(deserialize_with = "rados_common::frame_bytes::deserialize")] Bytes),
    Stat {
        size: u64,
        mtime_ns: u64,
    },
    Xattrs(BTreeMap<String, Bytes>),
    OmapVals {
        entries: Vec<(Bytes, Bytes)>,
        more: bool,
    },
    OmapKeys {
        keys: Vec<Bytes>,
        more: bool,
    },
    Snaps(SnapListing),
    /// A notify's outcome: replies of the watchers that acknowledged (client id, cookie,
    /// reply), and the watchers that did not in time.
    NotifyReplies {
        acks: Vec<(u64, u64, Bytes)>,
        timeouts: Vec<(u64, u64)>,
    },
    /// A step allowed to fail (see [`OsdOpRequest::failok`]) failed with `errno` (positive);
    /// the client reports its result so.
    Failed {
        errno: i32,
    },
}

/// An object's snapshot state, as `list_snaps` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapListing {
    /// The newest snap context seq the object was written under.
    pub seq: u64,
    /// The clones, oldest first, then the head (id [`crate::store::SNAP_HEAD`]) if it exists.
    pub clones: Vec<CloneListing>,
}

/// One version of an object in a [`SnapListing`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneListing {
    /// The clone's id, or [`crate::store::SNAP_HEAD`] for the head.
    pub id: u64,
    /// The snaps this clone serves, newest first (empty for the head).
    pub snaps: Vec<u64>,
    pub size: u64,
    /// `(offset, length)` extents identical to the next newer version (empty for the head).
    pub overlap: Vec<(u64, u64)>,
}

/// A step's result: `rval` is 0 or a negative errno, as Ceph reports per-op return values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    pub rval: i32,
    pub out: StepOutput,
}

/// A client's request to a PG primary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsdOpRequest {
    pub reqid: ReqId,
    pub pgid: PgId,
    pub object: ObjectName,
    /// The placement hash of the object (from the locator key when set).
    pub hash: u32,
    pub steps: Vec<OpStep>,
    /// Modification time the client stamps on a write (nanoseconds since the epoch).
    pub mtime_ns: u64,
    /// Set by a client retrying after a map change: the OSD checks its log for the request.
    pub resend: bool,
    /// The snap to read at ([`crate::store::SNAP_HEAD`]: the current object). Writes need
    /// the head.
    #[serde(default = "snap_head")]
    pub snap: u64,
    /// The writer's snap context (used in self-managed snapshot mode; pool-snapshot pools
    /// use the pool's).
    #[serde(default)]
    pub snapc: SnapContext,
    /// Indices of steps that may fail without failing the request (Ceph's `FAILOK` op flag):
    /// such a step's result carries its errno and the request goes on.
    #[serde(default)]
    pub failok: Vec<u32>,
}

/// How a request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpOutcome {
    /// Every step ran; `results` has one entry per step.
    Done {
        results: Vec<StepResult>,
        /// The object's user version after the request (or as read).
        user_version: u64,
    },
    /// Step `index` failed with `errno` (positive); nothing was changed.
    Failed {
        index: u32,
        errno: i32,
        results: Vec<StepResult>,
    },
    /// The OSD is not this PG's primary at `epoch` or the client's map predates the PG's
    /// interval: fetch at least `epoch` and resend.
    Retry { epoch: u32 },
}

/// The reply to an [`OsdOpRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsdOpReply {
    pub reqid: ReqId,
    pub outcome: OpOutcome,
}

/// A page of an object listing in one PG.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgListRequest {
    pub pgid: PgId,
    /// List only this namespace; `None` lists every namespace.
    pub namespace: Option<String>,
    /// Continue after this object (as returned in the previous page).
    pub after: Option<(u32, ObjectName)>,
    pub max: u32,
    /// List the objects as they were at this snap ([`crate::store::SNAP_HEAD`]: as they are).
    #[serde(default = "snap_head")]
    pub snap: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgListReply {
    pub objects: Vec<(u32, ObjectName)>,
    /// More objects remain in this PG after the last one.
    pub more: bool,
}

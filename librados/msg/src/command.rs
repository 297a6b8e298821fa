//! Monitor commands: one typed vocabulary shared by the client API, the `rados` command and the
//! bindings. Each command's reply is typed too; the command-line tools render it as text or JSON.

use crate::clog::{ClusterLogEntry, LogLevel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request to the monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MonCommand {
    /// An OSD announces it is running (marks it up; a new OSD is also added to CRUSH under
    /// `host` and marked in), with where it listens (`IP:PORT/NONCE`; none in the embedded
    /// deployment).
    OsdBoot {
        osd: i32,
        host: String,
        addr: Option<String>,
        #[serde(default)]
        cluster_addr: Option<String>,
    },
    PoolCreate {
        name: String,
        pg_num: Option<u32>,
        size: Option<u8>,
    },
    PoolDelete {
        name: String,
    },
    PoolSet {
        name: String,
        var: String,
        value: String,
    },
    PoolGet {
        name: String,
        var: String,
    },
    OsdIn {
        ids: Vec<i32>,
    },
    OsdOut {
        ids: Vec<i32>,
    },
    OsdDown {
        ids: Vec<i32>,
    },
    /// Sets OSDs' reweight (0.0 = out .. 1.0 = fully in).
    OsdReweight {
        id: i32,
        weight: f64,
    },
    /// Sets a CRUSH item's weight (an OSD's, typically its capacity in TiB).
    OsdCrushReweight {
        name: String,
        weight: f64,
    },
    /// The CRUSH map in Ceph's binary encoding.
    GetCrushMap,
    /// Replaces the CRUSH map (Ceph binary or crushtool text).
    SetCrushMap {
        map: Vec<u8>,
    },
    /// Takes a pool snapshot named `snap` (the pool then uses pool snapshots).
    PoolSnapCreate {
        pool: String,
        snap: String,
    },
    PoolSnapRemove {
        pool: String,
        snap: String,
    },
    /// Enables application `app` on a pool (`osd pool application enable`). A pool that
    /// already has another application needs `force` (EPERM otherwise).
    PoolApplicationEnable {
        pool: String,
        app: String,
        force: bool,
    },
    /// Disables an application and drops its metadata; refused (EPERM) without `force`.
    PoolApplicationDisable {
        pool: String,
        app: String,
        force: bool,
    },
    /// Sets one metadata key of an application enabled on the pool (ENOENT if it is not).
    PoolApplicationSet {
        pool: String,
        app: String,
        key: String,
        value: String,
    },
    /// Removes one metadata key of an application enabled on the pool (ENOENT if it is not;
    /// a missing key is no error).
    PoolApplicationRemove {
        pool: String,
        app: String,
        key: String,
    },
    /// Allocates a self-managed snap id (the pool then uses self-managed snapshots).
    SelfManagedSnapCreate {
        pool: String,
    },
    /// Marks a self-managed snap removed, so OSDs trim its clones.
    SelfManagedSnapRemove {
        pool: String,
        snap: u64,
    },
    /// A new, never reused client id.
    AllocClientId,
    /// Fences a client address (`osd blocklist add`): OSDs refuse its requests from the
    /// resulting epoch on. It lasts `expire_secs` seconds (an hour when `None`); adding an
    /// address again sets its new expiry.
    BlocklistAdd {
        addr: String,
        expire_secs: Option<f64>,
    },
    /// Lifts a fence (`osd blocklist rm`); an address not fenced is no error.
    BlocklistRemove {
        addr: String,
    },
    /// Lifts every fence (`osd blocklist clear`).
    BlocklistClear,
    /// Every fenced address and when it is lifted (`osd blocklist ls`).
    BlocklistList,
    /// Lifts the fences whose time has passed (the monitor's own timer proposes this).
    BlocklistExpire,
    /// Adds a line to the cluster log (`log TEXT`), logged as the sender.
    Log {
        level: LogLevel,
        /// `cluster` when `None`.
        channel: Option<String>,
        message: String,
    },
    /// The newest `num` cluster log entries at `level` or above, in `channel` when given,
    /// oldest first (`log last`).
    LogLast {
        num: u32,
        level: LogLevel,
        channel: Option<String>,
    },
    /// Sends the sender every cluster log entry at `level` or above from now on (as
    /// [`crate::Message::ClusterLog`]), replacing its earlier subscription; `None` ends it.
    LogSubscribe {
        level: Option<LogLevel>,
    },
    /// Cluster health, OSD and PG summary, usage.
    Status,
    /// Per-pool usage.
    Df,
    /// OSDs in the CRUSH hierarchy.
    OsdTree,
    /// Every PG's state, as its primary last reported it, and its mapping.
    PgDump,
    /// An OSD's report that `target` has not answered its heartbeats for `failed_for_ms`;
    /// with `alive`, that it answers again (the report is withdrawn).
    OsdFailure {
        target: i32,
        failed_for_ms: u64,
        alive: bool,
    },
    /// An OSD stopping cleanly asks to be marked down at once (no wait for reports).
    OsdMarkMeDown {
        osd: i32,
    },
    /// The monitor's own: marks an OSD that stayed down out, so that it is marked in again
    /// when it boots (refused from anyone else).
    OsdAutoOut {
        osd: i32,
    },
    /// A PG's primary, about to activate it in `interval` with `acting`: record that in the
    /// map first (answered once the map has it; refused if the map has moved on).
    PgActivating {
        pgid: crate::osdmap::PgId,
        interval: u32,
        acting: Vec<i32>,
    },
    /// A primary's report of its PGs' states and usage (also the OSD's beacon: it is sent at
    /// least every `osd_beacon_report_interval`).
    PgStats {
        osd: i32,
        stats: Vec<PgStat>,
        /// The OSD's store: (total, used, available) bytes.
        #[serde(default)]
        usage: Option<(u64, u64, u64)>,
    },
}

/// One PG's state and usage as its primary reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgStat {
    pub pgid: crate::osdmap::PgId,
    /// The epoch the report describes.
    pub epoch: u32,
    /// Ceph-style state string (`active+clean`, `peering`, `active+recovering`, ...).
    pub state: String,
    pub objects: u64,
    pub bytes: u64,
    /// Snapshot clones (their bytes are in `bytes`).
    #[serde(default)]
    pub clones: u64,
    pub omap_keys: u64,
    /// Objects still to be recovered or backfilled onto some member (recovery progress).
    #[serde(default)]
    pub to_recover: u64,
}

/// One pool option's value, as `pool get` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolOption {
    pub pool: String,
    pub var: String,
    pub value: String,
}

/// A pool's usage, as `rados df` prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUsage {
    pub name: String,
    pub id: i64,
    /// Logical bytes stored (one copy).
    pub bytes: u64,
    pub objects: u64,
    /// Object copies (objects times replicas).
    pub copies: u64,
    pub size: u8,
    /// Snapshot clones.
    #[serde(default)]
    pub clones: u64,
}

/// One line of `osd tree`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeNode {
    pub id: i32,
    pub class: String,
    pub weight: f64,
    pub type_name: String,
    pub name: String,
    pub depth: u32,
    /// For OSDs: `up`/`down`, and reweight (1.0 = in).
    pub status: Option<String>,
    pub reweight: Option<f64>,
}

/// `status`: what `ceph -s` summarises.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub fsid: String,
    pub health: String,
    pub health_details: Vec<String>,
    pub epoch: u32,
    pub num_osds: u32,
    pub num_up_osds: u32,
    pub num_in_osds: u32,
    pub num_pools: u32,
    pub num_pgs: u32,
    /// PG count by state string.
    pub pgs_by_state: BTreeMap<String, u32>,
    pub objects: u64,
    pub data_bytes: u64,
    pub used_bytes: u64,
    pub avail_bytes: u64,
    pub total_bytes: u64,
}

/// What a command returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MonReply {
    /// The command changed (or confirmed) the map; `epoch` is the resulting map epoch, which
    /// the caller may wait for.
    Done {
        epoch: u32,
        message: String,
    },
    ClientId(u64),
    /// A snap id allocated (or removed) in map `epoch`.
    Snap {
        id: u64,
        epoch: u32,
    },
    PoolOption(PoolOption),
    Status(ClusterStatus),
    Df(Vec<PoolUsage>),
    OsdTree(Vec<TreeNode>),
    CrushMap(Vec<u8>),
    /// Fenced addresses and when each is lifted.
    Blocklist(Vec<(crate::osdmap::EntityAddr, crate::osdmap::UTime)>),
    /// Cluster log entries, oldest first.
    ClusterLog(Vec<ClusterLogEntry>),
    PgDump(Vec<PgSummary>),
}

/// One PG in `pg ls` / `pg dump`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgSummary {
    pub stat: PgStat,
    pub up: Vec<i32>,
    pub acting: Vec<i32>,
    pub primary: i32,
}

/// A command's failure as it crosses the wire: an errno and Ceph-style message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub errno: i32,
    pub message: String,
}

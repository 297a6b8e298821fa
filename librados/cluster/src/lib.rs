//! The embedded deployment: a monitor and N OSDs running in this process over one data
//! directory, talking through the in-process network (the same messages, PG logic and store as
//! the daemons).
//!
//! ```text
//! DIR/cluster.conf   [global] fsid, osd_count, pool defaults (written on first use)
//! DIR/lock           held (flock) by the process running the cluster; names its pid
//! DIR/mon/log        the monitor's log
//! DIR/osd.N/         each OSD's object store
//! ```
//!
//! One process runs the cluster; every client handle of that process on the same directory
//! shares it (each is its own client). The cluster stops when the last handle goes.

use rados_common::{errno, lockfile};
use rados_mon as mon;
use rados_msg as msg;
use rados_osd as osd;
use rados_placement::osdmap;
use rados_store as store;

pub mod daemon;

use crate::mon::{MonConfig, MonError, Monitor};
use crate::msg::command::WireError;
use crate::msg::command::{MonCommand, MonReply};
use crate::msg::{EntityName, LocalNetwork, Message, Messenger, Network};
use crate::osd::Osd;
use crate::osdmap::Fsid;
use crate::store::{DiskStore, ObjectStore, StoreError};
use rados_common::{Config, ConfigError};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// Why a deployment could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("the data directory {path} is in use by {holder}")]
    Locked { path: String, holder: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("monitor: {0}")]
    Mon(#[from] MonError),
    #[error("{what}: {source}")]
    Store {
        what: String,
        #[source]
        source: StoreError,
    },
    #[error("timed out {what}")]
    TimedOut { what: String },
    /// The monitor refused a command the deployment made.
    #[error("{}", .0.message)]
    Command(WireError),
    #[error("{0}")]
    Invalid(String),
}

impl ClusterError {
    pub fn errno(&self) -> i32 {
        match self {
            ClusterError::Locked { .. } => crate::errno::EBUSY,
            ClusterError::Config(e) => e.errno(),
            ClusterError::Io { source, .. } => source.raw_os_error().unwrap_or(crate::errno::EIO),
            ClusterError::Mon(e) => e.errno(),
            ClusterError::Store { source, .. } => source.errno(),
            ClusterError::TimedOut { .. } => crate::errno::ETIMEDOUT,
            ClusterError::Command(w) => w.errno,
            ClusterError::Invalid(_) => crate::errno::EINVAL,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClusterError>;

/// How long a command the deployment sends to the monitor may take.
pub const MON_TIMEOUT: Duration = Duration::from_secs(30);

/// The cluster's configuration file in a data directory.
pub const CLUSTER_CONF: &str = "cluster.conf";

/// A data directory's `cluster.conf`, as one entity (`client`, `mon.0`, `osd.3`) reads it.
pub struct ClusterConf {
    pub path: PathBuf,
    pub conf: Config,
    pub fsid: Fsid,
    pub osds: u32,
    /// Monitors: one per `mon_host` address (rank N listens on the Nth), one without it.
    pub mons: u32,
    pub mon: MonConfig,
}

impl ClusterConf {
    /// Writes a new `DIR/cluster.conf`: a new fsid, and the OSD count and pool defaults of
    /// `from`; with `mon_host`, the address the monitor daemon listens on.
    pub fn create(dir: &Path, from: &Config, mon_host: Option<&str>) -> Result<Fsid> {
        let path = dir.join(CLUSTER_CONF);
        let fsid = Fsid::generate().map_err(io_error("generating the fsid".into()))?;
        let mut c = Config::parse("", None)?;
        c.set("fsid", &fsid.to_string());
        c.set("osd_count", &from.osd_count()?.to_string());
        if let Some(s) = from.default_pool_size()? {
            c.set("osd_pool_default_size", &s.to_string());
        }
        if let Some(n) = from.default_pg_num()? {
            c.set("osd_pool_default_pg_num", &n.to_string());
        }
        if let Some(m) = mon_host {
            c.set("mon_host", m);
        }
        write_atomically(&path, &c.to_ini())?;
        Ok(fsid)
    }

    /// Reads `DIR/cluster.conf` as `who`.
    pub fn load(dir: &Path, who: &str) -> Result<ClusterConf> {
        let path = dir.join(CLUSTER_CONF);
        let conf = Config::from_file_for(&path, who)?;
        let fsid: Fsid = conf
            .get("fsid")
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| {
                ClusterError::Invalid(format!("{} has no valid fsid", path.display()))
            })?;
        let osds = conf.osd_count()?;
        let mut mon = MonConfig::default();
        mon.default_pool_size = match conf.default_pool_size()? {
            Some(s) => s,
            // Unset, pools get at most one replica per OSD, so a one- or two-OSD cluster works
            // as it is. A size set explicitly is kept: the monitor refuses pools that could
            // never become active with it.
            None => default_pool_size_for(osds, mon.default_pool_size),
        };
        if let Some(n) = conf.default_pg_num()? {
            mon.default_pg_num = n;
        }
        let mons = match conf.mon_host() {
            Some(h) => daemon::parse_mon_host(h)?.len() as u32,
            None => 1,
        };
        if mons > MAX_MONS {
            return Err(ClusterError::Invalid(format!(
                "{} lists {mons} monitors in mon_host: at most {MAX_MONS}",
                path.display()
            )));
        }
        Ok(ClusterConf {
            path,
            conf,
            fsid,
            osds,
            mons,
            mon,
        })
    }
}

/// The most monitors a cluster may have.
pub const MAX_MONS: u32 = 7;

/// Where monitor `rank` of the cluster in `dir` keeps its state (`DIR/mon` for mon.0, as
/// the embedded cluster has it; `DIR/mon.N` for the others).
pub fn mon_dir(dir: &Path, rank: u32) -> PathBuf {
    match rank {
        0 => dir.join("mon"),
        r => dir.join(format!("mon.{r}")),
    }
}

/// Gives every monitor of a new cluster of daemons the same creation record, so they start
/// their quorum from one state.
pub fn seed_monitors(dir: &Path) -> Result<()> {
    let conf = ClusterConf::load(dir, "client")?;
    let dirs: Vec<PathBuf> = (0..conf.mons).map(|r| mon_dir(dir, r)).collect();
    let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    Monitor::seed(&refs, conf.fsid)?;
    Ok(())
}

/// An OSD's settings from its view of the configuration.
pub fn osd_config(conf: &Config) -> Result<crate::osd::OsdConfig> {
    Ok(crate::osd::OsdConfig::from_config(conf)?)
}

/// Default of `osd_memory_target`.
pub const OSD_MEMORY_TARGET: u64 = 128 << 20;

/// What a daemon OSD's memory is sized from: `osd_memory_target` (bytes, default
/// [`OSD_MEMORY_TARGET`]; at least 64 MiB). Ceph's OSD tunes its caches toward the target at
/// run time; here it is divided once, at start, among the bounded consumers, each held to its
/// share by its own limit:
/// - an eighth for the store engine's block cache, three sixteenths for its memtables (a
///   sixteenth for object data, a thirty-second for each of the four other keyspaces);
/// - a quarter for the client messages it holds at once (`osd_client_message_size_cap`,
///   unless that is set itself): beyond it, client connections are not read, so clients wait
///   (back-pressure, `msg::tcp`);
/// - an eighth for idle frame buffers kept for reuse (`msg::buf`);
///
/// which leaves five sixteenths for what grows with the cluster's shape rather than its load
/// (PG state and logs, maps, sessions) and the code itself. Recovery keeps its own bound on
/// what is in flight per OSD.
#[derive(Clone, Debug)]
pub struct OsdMemory {
    pub target: u64,
    pub store: crate::store::StoreConfig,
    pub client_message_bytes: u64,
    pub idle_frame_bytes: u64,
}

pub fn osd_memory(conf: &Config) -> Result<OsdMemory> {
    let target = conf.bytes("osd_memory_target", OSD_MEMORY_TARGET)?;
    if target < 64 << 20 {
        return Err(ClusterError::Invalid(format!(
            "osd_memory_target = {target} bytes: an OSD needs at least 64 MiB"
        )));
    }
    let store = crate::store::StoreConfig {
        cache_bytes: target / 8,
        memtable_bytes: target / 16,
        ..Default::default()
    };
    Ok(OsdMemory {
        target,
        store,
        client_message_bytes: conf.bytes("osd_client_message_size_cap", target / 4)?,
        idle_frame_bytes: target / 8,
    })
}

/// When the monitor declares OSDs down and out: `mon_osd_min_down_reporters`,
/// `mon_osd_down_out_interval` and `mon_osd_report_timeout` (seconds), Ceph's defaults
/// where unset.
pub fn failure_config(conf: &Config) -> Result<crate::mon::failure::FailureConfig> {
    let d = crate::mon::failure::FailureConfig::default();
    Ok(crate::mon::failure::FailureConfig {
        min_down_reporters: conf.count("mon_osd_min_down_reporters", d.min_down_reporters)?,
        down_out_interval: conf.seconds("mon_osd_down_out_interval", d.down_out_interval)?,
        report_timeout: conf.seconds("mon_osd_report_timeout", d.report_timeout)?,
    })
}

/// The monitors' election and commit timing: `mon_election_timeout` (seconds a follower
/// waits to hear from a leader before standing, at random up to twice that; 0.5 by default,
/// heartbeats at a fifth of it) and `mon_commit_timeout` (seconds before an uncommitted
/// change is answered with a timeout; 10 by default).
pub fn consensus_config(conf: &Config) -> Result<crate::mon::consensus::ConsensusConfig> {
    let d = crate::mon::consensus::ConsensusConfig::default();
    let election = conf.seconds("mon_election_timeout", d.election_min)?;
    if election < Duration::from_millis(50) {
        return Err(ClusterError::Invalid(format!(
            "mon_election_timeout = {} s: give at least 0.05",
            election.as_secs_f64()
        )));
    }
    Ok(crate::mon::consensus::ConsensusConfig {
        heartbeat: election / 5,
        election_min: election,
        election_max: election * 2,
        commit_timeout: conf.seconds("mon_commit_timeout", d.commit_timeout)?,
        ..d
    })
}

/// Writes `text` to `path` through a temporary file and a rename.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io_error(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_error(format!("cannot write {}", path.display())))
}

/// The pool a new embedded cluster starts with.
pub const DEFAULT_POOL: &str = "data";
/// How long opening waits for every PG to become active.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Embedded>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Weak<Embedded>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// A running embedded cluster.
pub struct Embedded {
    dir: PathBuf,
    fsid: Fsid,
    runtime: Option<Runtime>,
    net: Arc<dyn Network>,
    local_ids: AtomicU64,
    _lock: File,
}

pub(crate) fn io_error(what: String) -> impl FnOnce(std::io::Error) -> ClusterError {
    move |source| ClusterError::Io { what, source }
}

impl Embedded {
    /// The running cluster for `dir`, started (and created on first use) if needed.
    pub fn open(dir: &Path, config: &Config) -> Result<Arc<Embedded>> {
        std::fs::create_dir_all(dir)
            .map_err(io_error(format!("cannot create {}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(io_error(format!("cannot open {}", dir.display())))?;
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = reg.get(&dir).and_then(Weak::upgrade) {
            return Ok(c);
        }
        let c = Arc::new(Embedded::start(&dir, config)?);
        reg.insert(dir, Arc::downgrade(&c));
        Ok(c)
    }

    fn start(dir: &Path, config: &Config) -> Result<Embedded> {
        let lock = take_lock(dir)?;
        let first_use = !dir.join(CLUSTER_CONF).exists();
        if first_use {
            ClusterConf::create(dir, config, None)?;
        }
        let ClusterConf {
            fsid,
            osds,
            mon: mon_config,
            conf,
            ..
        } = ClusterConf::load(dir, "client")?;
        let failures = failure_config(&conf)?;
        let osd_cfg = osd_config(&conf)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rados-embedded")
            .enable_time()
            .build()
            .map_err(io_error("starting the runtime".into()))?;
        let net: Arc<dyn Network> = Arc::new(LocalNetwork::new());
        let mon_name = EntityName::mon(0);
        let monitor = runtime
            .block_on(Monitor::open(
                &dir.join("mon"),
                fsid,
                mon_config,
                Messenger::new(mon_name, net.clone()),
            ))?
            .with_failure_config(failures);
        let mon_inbox = net.register(mon_name);
        runtime.spawn(monitor.run(mon_inbox));
        for id in 0..osds as i32 {
            let path = dir.join(format!("osd.{id}"));
            let store = DiskStore::open(&path).map_err(|source| ClusterError::Store {
                what: format!("osd.{id} store"),
                source,
            })?;
            let store: Arc<dyn ObjectStore> = Arc::new(store);
            let name = EntityName::osd(id);
            let osd = Osd::new(
                id,
                format!("host{id}"),
                store,
                Messenger::new(name, net.clone()),
            )
            .with_config(osd_cfg.clone());
            let inbox = net.register(name);
            runtime.spawn(osd.run(inbox));
        }
        let cluster = Embedded {
            dir: dir.to_path_buf(),
            fsid,
            runtime: Some(runtime),
            net,
            local_ids: AtomicU64::new(1),
            _lock: lock,
        };
        cluster.handle().block_on(cluster.settle(first_use, osds))?;
        tracing::info!(target: "cluster", "embedded cluster {} ready in {} ({osds} OSDs)", fsid, dir.display());
        Ok(cluster)
    }

    /// Creates the default pool on first use; waits until every OSD is up and PGs are active.
    async fn settle(&self, first_use: bool, osds: u32) -> Result<()> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        if first_use {
            // Once the OSDs have booted, so the pool's PGs map to all of them.
            self.wait_until(deadline, |s| s.num_up_osds == osds).await?;
            match self
                .mon_call(MonCommand::PoolCreate {
                    name: DEFAULT_POOL.into(),
                    pg_num: None,
                    size: None,
                })
                .await
            {
                Ok(_) => {}
                Err(ClusterError::Command(w)) if w.errno == crate::errno::EEXIST => {}
                Err(e) => return Err(e),
            }
        }
        self.wait_until(deadline, |s| {
            s.num_up_osds == osds
                && s.epoch > 0
                && s.pgs_by_state.keys().all(|k| k.starts_with("active"))
        })
        .await
    }

    async fn wait_until(
        &self,
        deadline: tokio::time::Instant,
        ok: impl Fn(&crate::msg::command::ClusterStatus) -> bool,
    ) -> Result<()> {
        loop {
            if let MonReply::Status(s) = self.mon_call(MonCommand::Status).await? {
                if ok(&s) {
                    return Ok(());
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(ClusterError::TimedOut {
                        what: format!(
                            "starting the cluster ({} of {} OSDs up, PGs {:?})",
                            s.num_up_osds, s.num_osds, s.pgs_by_state
                        ),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// One monitor command from the cluster itself.
    async fn mon_call(&self, cmd: MonCommand) -> Result<MonReply> {
        let me = EntityName::client(u64::MAX - self.next_local_id());
        let mut inbox = self.net.register(me);
        let msgr = Messenger::new(me, self.net.clone());
        let sent = msgr
            .send(EntityName::mon(0), 1, 0, &Message::MonCommand(cmd))
            .await;
        let reply = async {
            sent.map_err(|e| {
                ClusterError::Command(WireError {
                    errno: e.errno(),
                    message: format!("monitor: {e}"),
                })
            })?;
            while let Some(env) = inbox.recv().await {
                if let Message::MonCommandReply(r) = env.msg {
                    return r.map_err(ClusterError::Command);
                }
            }
            Err(ClusterError::TimedOut {
                what: "waiting for the monitor".into(),
            })
        };
        let r = tokio::time::timeout(MON_TIMEOUT, reply)
            .await
            .unwrap_or_else(|_| {
                Err(ClusterError::TimedOut {
                    what: "waiting for a monitor command".into(),
                })
            });
        self.net.unregister(me);
        r
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn fsid(&self) -> Fsid {
        self.fsid
    }
    pub fn handle(&self) -> Handle {
        self.runtime.as_ref().expect("running").handle().clone()
    }
    pub fn network(&self) -> Arc<dyn Network> {
        self.net.clone()
    }
    pub fn next_local_id(&self) -> u64 {
        self.local_ids.fetch_add(1, Ordering::Relaxed)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Ends every task; each OSD's store flushes as it is dropped. A runtime cannot be
            // shut down from async code (a handle dropped inside the caller's own runtime), so
            // that case hands the shutdown to a plain thread and waits for it.
            let shutdown = move || rt.shutdown_timeout(Duration::from_secs(10));
            if Handle::try_current().is_ok() {
                let _ = std::thread::spawn(shutdown).join();
            } else {
                shutdown();
            }
        }
        // `open` holds the registry while starting a cluster (and drops it here if starting
        // fails): never wait for the registry in that case; a dead entry is replaced on the
        // next open anyway.
        if let Ok(mut reg) = registry().try_lock() {
            if reg.get(&self.dir).is_some_and(|w| w.strong_count() == 0) {
                reg.remove(&self.dir);
            }
        }
    }
}

/// The pool size of a cluster of `osds` OSDs when the configuration sets none: `default`
/// (Ceph's 3), but never more than there are OSDs.
fn default_pool_size_for(osds: u32, default: u8) -> u8 {
    u8::try_from(osds).map_or(default, |n| default.min(n.max(1)))
}

/// Locks the directory for this process, or names the process holding it.
pub(crate) fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let note = format!(
        "process {} ({})",
        std::process::id(),
        std::env::args().next().unwrap_or_default()
    );
    match crate::lockfile::try_lock(&path, &note) {
        Ok(crate::lockfile::Lock::Held(f)) => Ok(f),
        Ok(crate::lockfile::Lock::Busy { holder }) => Err(ClusterError::Locked {
            path: dir.display().to_string(),
            holder: if holder.is_empty() {
                "another process".into()
            } else {
                holder
            },
        }),
        Err(e) => Err(io_error(format!("cannot lock {}", path.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::default_pool_size_for;

    #[test]
    fn the_default_pool_size_never_exceeds_the_osds() {
        assert_eq!(default_pool_size_for(1, 3), 1);
        assert_eq!(default_pool_size_for(2, 3), 2);
        assert_eq!(default_pool_size_for(3, 3), 3);
        assert_eq!(default_pool_size_for(64, 3), 3);
        assert_eq!(default_pool_size_for(0, 3), 1);
        assert_eq!(default_pool_size_for(1000, 3), 3);
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    fn conf(text: &str) -> Config {
        Config::parse_for(text, None, "osd.0").unwrap()
    }

    #[test]
    fn the_memory_target_is_divided_among_bounded_consumers() {
        let m = osd_memory(&conf("")).unwrap();
        assert_eq!(m.target, OSD_MEMORY_TARGET);
        let m = osd_memory(&conf("[osd]\nosd_memory_target = 1G\n")).unwrap();
        assert_eq!(m.target, 1 << 30);
        assert_eq!(m.store.cache_bytes, 128 << 20);
        assert_eq!(m.store.memtable_bytes, 64 << 20);
        assert_eq!(m.client_message_bytes, 256 << 20);
        assert_eq!(m.idle_frame_bytes, 128 << 20);
        let shares = m.store.cache_bytes
            + m.store.memtable_bytes * 3
            + m.client_message_bytes
            + m.idle_frame_bytes;
        assert!(shares <= m.target * 11 / 16, "room is left for the rest");
        // A cap set on its own wins over the share.
        let m = osd_memory(&conf(
            "[osd]\nosd_memory_target = 1G\nosd_client_message_size_cap = 10M\n",
        ))
        .unwrap();
        assert_eq!(m.client_message_bytes, 10 << 20);
    }

    #[test]
    fn unusable_memory_targets_are_refused() {
        let e = osd_memory(&conf("[osd]\nosd_memory_target = 16M\n")).unwrap_err();
        assert!(e.to_string().contains("at least 64 MiB"), "{e}");
        let e = osd_memory(&conf("[osd]\nosd_memory_target = lots\n")).unwrap_err();
        assert!(e.to_string().contains("lots is not a size"), "{e}");
    }
}

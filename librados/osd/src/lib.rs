//! The OSD: boots against the monitor, follows the map, and runs one task per PG.
//!
//! - `Osd::run`: the dispatcher. Map updates go to every PG (creating the PGs this OSD now
//!   serves); client and peer messages go to their PG's queue, so ops on one PG run in order
//!   and PGs run in parallel. Client ops for an epoch the OSD has not seen wait for the map.
//! - [`pg`]: the PG task: peering, primary-copy replication, recovery.
//! - [`exec`]: turning a client's compound operation into reads and one store transaction.
//! - [`class`]: object classes (`hello`, `lock`, `version`).

use rados_common::{encoding, errno};
use rados_msg as msg;
use rados_placement::osdmap;
use rados_store as store;

pub mod class;
pub mod exec;
pub mod heartbeat;
pub mod pg;
pub mod snap;

use crate::msg::clog::LogLevel;
use crate::msg::command::{MonCommand, PgStat};
use crate::msg::{EntityKind, EntityName, Envelope, Event, Inbox, Message, Messenger};
use crate::osdmap::{OsdMap, PgId};
use crate::store::ObjectStore;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What every PG task of one OSD shares.
pub struct OsdShared {
    pub id: i32,
    pub store: Arc<dyn ObjectStore>,
    pub msgr: Messenger,
    /// Latest statistics of the PGs this OSD is primary for, and whether they changed since
    /// the last report.
    pub stats: Mutex<(BTreeMap<PgId, PgStat>, bool)>,
    /// Push bytes this OSD's streams have sent and not seen acknowledged (bounded by
    /// `pg::push::OSD_PUSH_BYTES`).
    pub push_bytes: std::sync::atomic::AtomicU64,
    /// `OsdConfig::recovery_sleep`, in nanoseconds.
    pub recovery_sleep_ns: std::sync::atomic::AtomicU64,
}

impl OsdShared {
    /// Queues `txn` in the store. When the store is applying back-pressure (the wait is a
    /// blocking one), the wait happens with this async worker handed over to the runtime's
    /// other tasks, so they keep running meanwhile.
    pub fn queue(
        &self,
        txn: crate::store::Transaction,
    ) -> crate::store::StoreResult<crate::store::Commit> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread && self.store.backlogged() {
            tokio::task::block_in_place(|| self.store.queue_transaction(txn))
        } else {
            self.store.queue_transaction(txn)
        }
    }

    pub fn report_stat(&self, stat: PgStat) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if s.0.get(&stat.pgid) != Some(&stat) {
            s.0.insert(stat.pgid, stat);
            s.1 = true;
        }
    }

    pub fn forget_stat(&self, pgid: PgId) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if s.0.remove(&pgid).is_some() {
            s.1 = true;
        }
    }

    /// Reports a failure that puts data at risk (a replica that cannot commit, an object
    /// recovery cannot read or apply) to this process's log and to the cluster log at ERR, as
    /// this OSD, so whoever follows the cluster log sees it (outside the runtime, only the
    /// former).
    pub fn clog_error(&self, message: String) {
        tracing::error!(target: "osd", "osd.{}: {message}", self.id);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let msgr = self.msgr.clone();
        let msg = Message::MonCommand(MonCommand::Log {
            level: LogLevel::Error,
            channel: None,
            message,
        });
        rt.spawn(async move {
            if let Err(e) = msgr.send(EntityName::mon(0), 0, 0, &msg).await {
                tracing::debug!(target: "osd", "{}: cluster log entry lost: {e}", msgr.me);
            }
        });
    }
}

/// Client requests that may wait for a newer map at once.
pub const MAX_WAITING_FOR_MAP: usize = 4096;
/// How long a client request may wait for a newer map before it is told to retry.
pub const WAITING_FOR_MAP_MAX_AGE: Duration = Duration::from_secs(10);

/// How often primaries' PG statistics go to the monitor (when they changed).
pub const STATS_INTERVAL: Duration = Duration::from_millis(500);

/// An OSD's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OsdConfig {
    pub heartbeat: heartbeat::HeartbeatConfig,
    /// Statistics go to the monitor at least this often, as a sign of life
    /// (`osd_beacon_report_interval`).
    pub beacon_interval: Duration,
    /// A pause between two push messages of one recovery stream, to leave the disks and
    /// network to clients (`osd_recovery_sleep`; none by default).
    pub recovery_sleep: Duration,
}

impl Default for OsdConfig {
    fn default() -> Self {
        OsdConfig {
            heartbeat: heartbeat::HeartbeatConfig::default(),
            beacon_interval: Duration::from_secs(300),
            recovery_sleep: Duration::ZERO,
        }
    }
}

impl OsdConfig {
    /// `osd_heartbeat_interval`, `osd_heartbeat_grace`, `osd_beacon_report_interval`,
    /// `osd_recovery_sleep` (seconds), Ceph's defaults where unset.
    pub fn from_config(c: &rados_common::Config) -> Result<OsdConfig, rados_common::ConfigError> {
        let d = OsdConfig::default();
        Ok(OsdConfig {
            heartbeat: heartbeat::HeartbeatConfig {
                interval: c.seconds("osd_heartbeat_interval", d.heartbeat.interval)?,
                grace: c.seconds("osd_heartbeat_grace", d.heartbeat.grace)?,
            },
            beacon_interval: c.seconds("osd_beacon_report_interval", d.beacon_interval)?,
            recovery_sleep: c.seconds_or_zero("osd_recovery_sleep", d.recovery_sleep)?,
        })
    }
}

/// One OSD daemon.
pub struct Osd {
    sh: Arc<OsdShared>,
    host: String,
    /// Where this OSD listens (`IP:PORT/NONCE`), public and cluster; none when embedded.
    addrs: (Option<String>, Option<String>),
    map: Option<Arc<OsdMap>>,
    pgs: HashMap<PgId, mpsc::UnboundedSender<pg::PgEvent>>,
    /// Client ops from a newer epoch than ours, replayed when the map catches up (bounded:
    /// see [`MAX_WAITING_FOR_MAP`] and [`WAITING_FOR_MAP_MAX_AGE`]), with when each came.
    waiting_for_map: Vec<(Envelope, std::time::Instant)>,
    /// The newest epoch a client claimed, which we asked the monitor for.
    asked_epoch: u32,
    tid: u64,
    /// A map has shown this OSD up since it booted.
    seen_up: bool,
    /// The store usage last reported.
    last_usage: Option<(u64, u64, u64)>,
    cfg: OsdConfig,
    heartbeats: heartbeat::Heartbeats,
    last_beacon: Option<std::time::Instant>,
    /// Stopping: being marked down is what we asked for, not a reason to boot again.
    stopping: bool,
}

impl Osd {
    pub fn new(id: i32, host: String, store: Arc<dyn ObjectStore>, msgr: Messenger) -> Osd {
        Osd {
            sh: Arc::new(OsdShared {
                id,
                store,
                msgr,
                stats: Mutex::new((BTreeMap::new(), false)),
                push_bytes: std::sync::atomic::AtomicU64::new(0),
                recovery_sleep_ns: std::sync::atomic::AtomicU64::new(0),
            }),
            host,
            addrs: (None, None),
            map: None,
            pgs: HashMap::new(),
            waiting_for_map: Vec::new(),
            asked_epoch: 0,
            tid: 0,
            seen_up: false,
            last_usage: None,
            heartbeats: heartbeat::Heartbeats::new(OsdConfig::default().heartbeat),
            cfg: OsdConfig::default(),
            last_beacon: None,
            stopping: false,
        }
    }

    /// Runs with these settings.
    pub fn with_config(mut self, cfg: OsdConfig) -> Osd {
        self.heartbeats = heartbeat::Heartbeats::new(cfg.heartbeat.clone());
        let sleep = u64::try_from(cfg.recovery_sleep.as_nanos()).unwrap_or(u64::MAX);
        self.sh
            .recovery_sleep_ns
            .store(sleep, std::sync::atomic::Ordering::Relaxed);
        self.cfg = cfg;
        self
    }

    /// Announces these addresses (`IP:PORT/NONCE`) at boot: where clients and monitors
    /// reach this OSD, and where other OSDs do when that differs.
    pub fn with_addrs(mut self, public: String, cluster: Option<String>) -> Osd {
        self.addrs = (Some(public), cluster);
        self
    }

    fn next_tid(&mut self) -> u64 {
        self.tid += 1;
        self.tid
    }

    fn boot_message(&self) -> Message {
        Message::MonCommand(MonCommand::OsdBoot {
            osd: self.sh.id,
            host: self.host.clone(),
            addr: self.addrs.0.clone(),
            cluster_addr: self.addrs.1.clone(),
        })
    }

    fn epoch(&self) -> u32 {
        self.map.as_ref().map_or(0, |m| m.epoch())
    }

    async fn send_mon(&mut self, msg: Message) {
        let tid = self.next_tid();
        let epoch = self.epoch();
        if let Err(e) = self
            .sh
            .msgr
            .send(EntityName::mon(0), tid, epoch, &msg)
            .await
        {
            tracing::warn!(target: "osd", "osd.{}: monitor unreachable: {e}", self.sh.id);
        }
    }

    /// Boots, then serves until the inbox closes.
    pub async fn run(self, inbox: Inbox) {
        self.run_until(inbox, std::future::pending()).await
    }

    /// Boots, then serves until the inbox closes or `stop` resolves; then it asks the
    /// monitor to mark it down and waits (a few seconds at most) for a map that does, so
    /// clients and peers move on at once instead of waiting for heartbeats to miss.
    pub async fn run_until(
        mut self,
        mut inbox: Inbox,
        stop: impl std::future::Future<Output = ()>,
    ) {
        self.start_existing_pgs();
        self.send_mon(Message::MonGetMap {
            have: 0,
            subscribe: true,
        })
        .await;
        self.send_mon(self.boot_message()).await;
        let mut tick = tokio::time::interval(STATS_INTERVAL);
        let mut hb = tokio::time::interval(self.cfg.heartbeat.interval);
        hb.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                ev = inbox.next() => match ev {
                    Some(Event::Msg(env)) => self.dispatch(env).await,
                    Some(Event::Reset(peer)) => self.on_reset(peer).await,
                    None => break,
                },
                _ = tick.tick() => {
                    self.send_stats().await;
                    self.expire_waiting_for_map();
                    if stopping.is_some_and(|t| tokio::time::Instant::now() > t)
                        || (stopping.is_some() && !self.map.as_ref().is_some_and(|m| m.is_up(self.sh.id)))
                    {
                        break;
                    }
                }
                _ = hb.tick(), if stopping.is_none() => self.heartbeat_tick().await,
                _ = &mut stop, if stopping.is_none() => {
                    tracing::info!(target: "osd", "osd.{}: stopping; asking to be marked down", self.sh.id);
                    self.stopping = true;
                    self.send_mon(Message::MonCommand(MonCommand::OsdMarkMeDown { osd: self.sh.id })).await;
                    stopping = Some(tokio::time::Instant::now() + Duration::from_secs(3));
                }
            }
        }
        for (_, tx) in self.pgs.drain() {
            let _ = tx.send(pg::PgEvent::Shutdown);
        }
    }

    /// A peer's session was reset. The monitor's: it may have restarted and forgotten our
    /// subscription, so subscribe and announce ourselves again (the same incarnation changes
    /// nothing in the map), and report statistics anew.
    async fn on_reset(&mut self, peer: EntityName) {
        if peer.kind == EntityKind::Mon && !self.stopping {
            tracing::info!(target: "osd", "osd.{}: session with {peer} reset; subscribing again", self.sh.id);
            let have = self.epoch();
            self.send_mon(Message::MonGetMap {
                have,
                subscribe: true,
            })
            .await;
            self.send_mon(self.boot_message()).await;
            self.last_usage = None;
            self.sh.stats.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        }
    }

    /// PGs whose collections exist already (so strays can answer queries).
    fn start_existing_pgs(&mut self) {
        match self.sh.store.list_collections() {
            Ok(cids) => {
                for cid in cids {
                    let pgid = PgId::new(cid.pool, cid.seed);
                    self.spawn_pg(pgid);
                }
            }
            Err(e) => {
                tracing::error!(target: "osd", "osd.{}: cannot list collections: {e}", self.sh.id)
            }
        }
    }

    fn spawn_pg(&mut self, pgid: PgId) -> mpsc::UnboundedSender<pg::PgEvent> {
        if let Some(tx) = self.pgs.get(&pgid) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = pg::Pg::new(pgid, self.sh.clone(), tx.clone());
        tokio::spawn(task.run(rx));
        if let Some(map) = &self.map {
            let _ = tx.send(pg::PgEvent::Map(map.clone()));
        }
        self.pgs.insert(pgid, tx.clone());
        tx
    }

    /// Pings the peers and reports those silent past the grace.
    async fn heartbeat_tick(&mut self) {
        let now = std::time::Instant::now();
        let t = self.heartbeats.tick(now);
        let stamp_ns = crate::store::transaction::now_ns();
        for osd in t.ping {
            let ping = Message::OsdPing {
                stamp_ns,
                reply: false,
            };
            let tid = self.next_tid();
            let epoch = self.epoch();
            if let Err(e) = self
                .sh
                .msgr
                .send(EntityName::osd(osd), tid, epoch, &ping)
                .await
            {
                tracing::debug!(target: "osd", "osd.{}: cannot ping osd.{osd}: {e}", self.sh.id);
            }
        }
        for (osd, silent) in t.failed {
            tracing::warn!(target: "osd", "osd.{}: no heartbeat from osd.{osd} for {:.1} s; reporting it", self.sh.id, silent.as_secs_f64());
            self.send_mon(Message::MonCommand(MonCommand::OsdFailure {
                target: osd,
                failed_for_ms: silent.as_millis() as u64,
                alive: false,
            }))
            .await;
        }
    }

    async fn on_ping(&mut self, env: Envelope) {
        let Message::OsdPing { stamp_ns, reply } = env.msg else {
            return;
        };
        let Some(from) = env.src.osd_id() else { return };
        if reply {
            if self.heartbeats.on_reply(from, std::time::Instant::now()) {
                tracing::info!(target: "osd", "osd.{}: osd.{from} answers again", self.sh.id);
                self.withdraw_report(from).await;
            }
            return;
        }
        let answer = Message::OsdPing {
            stamp_ns,
            reply: true,
        };
        let epoch = self.epoch();
        let _ = self.sh.msgr.send(env.src, env.tid, epoch, &answer).await;
    }

    async fn withdraw_report(&mut self, osd: i32) {
        self.send_mon(Message::MonCommand(MonCommand::OsdFailure {
            target: osd,
            failed_for_ms: 0,
            alive: true,
        }))
        .await;
    }

    /// The peers to heartbeat, from the map.
    async fn update_heartbeat_peers(&mut self, sharing: std::collections::BTreeSet<i32>) {
        let Some(map) = &self.map else { return };
        let up: Vec<i32> = (0..map.max_osd()).filter(|&o| map.is_up(o)).collect();
        let sharing = sharing.into_iter().filter(|&o| map.is_up(o)).collect();
        let peers = heartbeat::choose_peers(self.sh.id, sharing, &up);
        let gone = self.heartbeats.set_peers(&peers, std::time::Instant::now());
        for osd in gone {
            self.withdraw_report(osd).await;
        }
    }

    async fn send_stats(&mut self) {
        let usage = self
            .sh
            .store
            .statfs()
            .ok()
            .map(|s| (s.total_bytes, s.used_bytes, s.available_bytes));
        let now = std::time::Instant::now();
        let beacon_due = self
            .last_beacon
            .is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.beacon_interval);
        let stats = {
            let mut s = self.sh.stats.lock().unwrap_or_else(|e| e.into_inner());
            if !s.1 && usage == self.last_usage && !beacon_due {
                return;
            }
            s.1 = false;
            s.0.values().cloned().collect::<Vec<_>>()
        };
        self.last_usage = usage;
        self.last_beacon = Some(now);
        let msg = Message::MonCommand(MonCommand::PgStats {
            osd: self.sh.id,
            stats,
            usage,
        });
        self.send_mon(msg).await;
    }

    async fn dispatch(&mut self, env: Envelope) {
        if env.msg.is_osd_only() && env.src.osd_id().is_none() {
            tracing::warn!(target: "osd", "osd.{}: refusing message type {} from {}: only OSDs send it", self.sh.id, env.msg.msg_type(), env.src);
            return;
        }
        match &env.msg {
            Message::OsdPing { .. } => self.on_ping(env).await,
            Message::MonMap { .. } => self.handle_map(env).await,
            Message::MonCommandReply(r) => {
                if let Err(e) = r {
                    tracing::warn!(target: "osd", "osd.{}: monitor refused: {}", self.sh.id, e.message);
                }
            }
            Message::OsdOp(op) => {
                let pgid = op.pgid;
                if env.epoch > self.epoch() {
                    self.wait_for_map(env).await;
                    return;
                }
                self.route_pg(pgid, env, false);
            }
            Message::PgList(req) => {
                let pgid = req.pgid;
                if env.epoch > self.epoch() {
                    self.wait_for_map(env).await;
                    return;
                }
                self.route_pg(pgid, env, false);
            }
            Message::RepOp { pgid, .. }
            | Message::RepOpReply { pgid, .. }
            | Message::PgNotify { pgid, .. }
            | Message::PgPushRequest { pgid, .. }
            | Message::PgPushPartAck { pgid, .. }
            | Message::PgPushAck { pgid, .. }
            | Message::PgPushFirst { pgid, .. }
            | Message::PgActivated { pgid, .. }
            | Message::PgRecovered { pgid, .. }
            | Message::NotifyAck { pgid, .. } => {
                let pgid = *pgid;
                self.route_pg(pgid, env, false);
            }
            Message::PgQuery { pgid, .. }
            | Message::PgPush { pgid, .. }
            | Message::PgActivate { pgid, .. } => {
                // These may create the PG here (a new replica, or a peer asking what we have).
                let pgid = *pgid;
                self.route_pg(pgid, env, true);
            }
            other => {
                tracing::warn!(target: "osd", "osd.{}: unexpected message type {} from {}", self.sh.id, other.msg_type(), env.src)
            }
        }
    }

    /// Parks a client request from a newer epoch than ours until the map catches up, and
    /// asks the monitor for that map. A full queue, or a request parked too long (a client
    /// may claim any epoch), is answered "retry at our epoch".
    async fn wait_for_map(&mut self, env: Envelope) {
        if env.epoch > self.asked_epoch {
            self.asked_epoch = env.epoch;
            let have = self.epoch();
            self.send_mon(Message::MonGetMap {
                have,
                subscribe: true,
            })
            .await;
        }
        if self.waiting_for_map.len() >= MAX_WAITING_FOR_MAP {
            tracing::warn!(target: "osd", "osd.{}: {} requests wait for newer maps; refusing one from {}", self.sh.id, self.waiting_for_map.len(), env.src);
            pg::reply_without_pg(&self.sh, self.epoch(), env);
            return;
        }
        self.waiting_for_map.push((env, std::time::Instant::now()));
    }

    /// Answers "retry" to requests that waited for a map longer than they may.
    fn expire_waiting_for_map(&mut self) {
        let now = std::time::Instant::now();
        let epoch = self.epoch();
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_for_map)
            .into_iter()
            .partition(|(_, t)| now.saturating_duration_since(*t) > WAITING_FOR_MAP_MAX_AGE);
        self.waiting_for_map = keep;
        for (env, _) in old {
            tracing::debug!(target: "osd", "osd.{}: {} claimed epoch {} (we have {epoch}); retry", self.sh.id, env.src, env.epoch);
            pg::reply_without_pg(&self.sh, epoch, env);
        }
    }

    fn route_pg(&mut self, pgid: PgId, env: Envelope, create: bool) {
        let known_pool = self
            .map
            .as_ref()
            .and_then(|m| m.pool(pgid.pool))
            .is_some_and(|p| pgid.seed < p.pg_num);
        let tx = match self.pgs.get(&pgid) {
            Some(tx) => tx.clone(),
            None if known_pool && (create || self.is_member(pgid)) => self.spawn_pg(pgid),
            None => {
                pg::reply_without_pg(&self.sh, self.epoch(), env);
                return;
            }
        };
        if let Err(mpsc::error::SendError(pg::PgEvent::Msg(env))) = tx.send(pg::PgEvent::Msg(env)) {
            self.pgs.remove(&pgid);
            pg::reply_without_pg(&self.sh, self.epoch(), env);
        }
    }

    fn is_member(&self, pgid: PgId) -> bool {
        self.map.as_ref().is_some_and(|m| {
            let mapping = m.pg_mapping(pgid);
            mapping.acting.contains(&self.sh.id) || mapping.up.contains(&self.sh.id)
        })
    }

    async fn handle_map(&mut self, env: Envelope) {
        let Message::MonMap { full, incrementals } = env.msg else {
            return;
        };
        let full = match full.map(|f| f.into_checked()).transpose() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(target: "osd", "osd.{}: refusing a map: {e}", self.sh.id);
                return;
            }
        };
        let mut map = match (full, self.map.as_ref()) {
            (Some(full), Some(cur)) if full.epoch() <= cur.epoch() => (**cur).clone(),
            (Some(full), _) => full,
            (None, Some(cur)) => (**cur).clone(),
            (None, None) => return,
        };
        for inc in incrementals {
            if inc.epoch <= map.epoch() {
                continue;
            }
            if let Err(e) = map.apply_incremental(&inc) {
                tracing::warn!(target: "osd", "osd.{}: cannot apply epoch {}: {e}; refetching", self.sh.id, inc.epoch);
                let have = map.epoch();
                self.send_mon(Message::MonGetMap {
                    have,
                    subscribe: true,
                })
                .await;
                break;
            }
        }
        if self.map.as_ref().is_some_and(|m| m.epoch() >= map.epoch()) {
            return;
        }
        let map = Arc::new(map);
        tracing::debug!(target: "osd", "osd.{} at epoch {}", self.sh.id, map.epoch());
        crate::msg::peers::follow_map(self.sh.msgr.network().as_ref(), self.map.as_deref(), &map);
        self.map = Some(map.clone());
        if map.is_up(self.sh.id) {
            self.seen_up = true;
        } else if self.seen_up && !self.stopping {
            // Marked down while running: announce ourselves again (a new interval for our PGs).
            self.seen_up = false;
            self.send_mon(self.boot_message()).await;
        }
        // PGs this OSD now serves, and the OSDs it shares them with.
        let mut sharing = std::collections::BTreeSet::new();
        for pool in map.pools().values() {
            for seed in 0..pool.pg_num {
                let pgid = PgId::new(pool.id, seed);
                let m = map.pg_mapping(pgid);
                if !(m.acting.contains(&self.sh.id) || m.up.contains(&self.sh.id)) {
                    continue;
                }
                sharing.extend(
                    m.acting
                        .iter()
                        .chain(m.up.iter())
                        .copied()
                        .filter(|&o| o >= 0),
                );
                if !self.pgs.contains_key(&pgid) {
                    self.spawn_pg(pgid);
                }
            }
        }
        self.update_heartbeat_peers(sharing).await;
        self.pgs
            .retain(|_, tx| tx.send(pg::PgEvent::Map(map.clone())).is_ok());
        let ready: Vec<(Envelope, std::time::Instant)> = {
            let epoch = map.epoch();
            let (ready, later) = std::mem::take(&mut self.waiting_for_map)
                .into_iter()
                .partition(|(e, _)| e.epoch <= epoch);
            self.waiting_for_map = later;
            ready
        };
        for (env, _) in ready {
            Box::pin(self.dispatch(env)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::LocalNetwork;
    use crate::store::mem::MemStore;

    #[tokio::test]
    async fn errors_reach_the_cluster_log_as_the_osd() {
        let net: Arc<dyn crate::msg::Network> = Arc::new(LocalNetwork::new());
        let mut mon = net.register(EntityName::mon(0));
        let me = EntityName::osd(3);
        let osd = Osd::new(
            3,
            "host3".into(),
            Arc::new(MemStore::new()),
            Messenger::new(me, net.clone()),
        );
        osd.sh
            .clog_error("pg 1.0: cannot read x for recovery: EIO".into());
        let env = tokio::time::timeout(Duration::from_secs(10), mon.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(env.src, me);
        assert_eq!(
            env.msg,
            Message::MonCommand(MonCommand::Log {
                level: LogLevel::Error,
                channel: None,
                message: "pg 1.0: cannot read x for recovery: EIO".into(),
            })
        );
    }
}

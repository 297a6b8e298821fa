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
pub mod pg;
pub mod snap;

use crate::msg::clog::LogLevel;
use crate::msg::command::{MonCommand, PgStat};
use crate::msg::{EntityName, Envelope, Inbox, Message, Messenger};
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
}

impl OsdShared {
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

/// How often primaries' PG statistics go to the monitor (when they changed).
pub const STATS_INTERVAL: Duration = Duration::from_millis(500);

/// One OSD daemon.
pub struct Osd {
    sh: Arc<OsdShared>,
    host: String,
    map: Option<Arc<OsdMap>>,
    pgs: HashMap<PgId, mpsc::UnboundedSender<pg::PgEvent>>,
    /// Client ops from a newer epoch than ours, replayed when the map catches up.
    waiting_for_map: Vec<Envelope>,
    tid: u64,
    /// A map has shown this OSD up since it booted.
    seen_up: bool,
    /// The store usage last reported.
    last_usage: Option<(u64, u64, u64)>,
}

impl Osd {
    pub fn new(id: i32, host: String, store: Arc<dyn ObjectStore>, msgr: Messenger) -> Osd {
        Osd {
            sh: Arc::new(OsdShared {
                id,
                store,
                msgr,
                stats: Mutex::new((BTreeMap::new(), false)),
            }),
            host,
            map: None,
            pgs: HashMap::new(),
            waiting_for_map: Vec::new(),
            tid: 0,
            seen_up: false,
            last_usage: None,
        }
    }

    fn next_tid(&mut self) -> u64 {
        self.tid += 1;
        self.tid
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
    pub async fn run(mut self, mut inbox: Inbox) {
        self.start_existing_pgs();
        self.send_mon(Message::MonGetMap {
            have: 0,
            subscribe: true,
        })
        .await;
        let boot = Message::MonCommand(MonCommand::OsdBoot {
            osd: self.sh.id,
            host: self.host.clone(),
            addr: None,
        });
        self.send_mon(boot).await;
        let mut tick = tokio::time::interval(STATS_INTERVAL);
        loop {
            tokio::select! {
                env = inbox.recv() => {
                    let Some(env) = env else { break };
                    self.dispatch(env).await;
                }
                _ = tick.tick() => self.send_stats().await,
            }
        }
        for (_, tx) in self.pgs.drain() {
            let _ = tx.send(pg::PgEvent::Shutdown);
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

    async fn send_stats(&mut self) {
        let usage = self
            .sh
            .store
            .statfs()
            .ok()
            .map(|s| (s.total_bytes, s.used_bytes, s.available_bytes));
        let stats = {
            let mut s = self.sh.stats.lock().unwrap_or_else(|e| e.into_inner());
            if !s.1 && usage == self.last_usage {
                return;
            }
            s.1 = false;
            s.0.values().cloned().collect::<Vec<_>>()
        };
        self.last_usage = usage;
        let msg = Message::MonCommand(MonCommand::PgStats {
            osd: self.sh.id,
            stats,
            usage,
        });
        self.send_mon(msg).await;
    }

    async fn dispatch(&mut self, env: Envelope) {
        match &env.msg {
            Message::MonMap { .. } => self.handle_map(env).await,
            Message::MonCommandReply(r) => {
                if let Err(e) = r {
                    tracing::warn!(target: "osd", "osd.{}: monitor refused: {}", self.sh.id, e.message);
                }
            }
            Message::OsdOp(op) => {
                let pgid = op.pgid;
                if env.epoch > self.epoch() {
                    self.waiting_for_map.push(env);
                    return;
                }
                self.route_pg(pgid, env, false);
            }
            Message::PgList(req) => {
                let pgid = req.pgid;
                if env.epoch > self.epoch() {
                    self.waiting_for_map.push(env);
                    return;
                }
                self.route_pg(pgid, env, false);
            }
            Message::RepOp { pgid, .. }
            | Message::RepOpReply { pgid, .. }
            | Message::PgNotify { pgid, .. }
            | Message::PgPushRequest { pgid, .. }
            | Message::PgPushAck { pgid, .. }
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
        self.map = Some(map.clone());
        if map.is_up(self.sh.id) {
            self.seen_up = true;
        } else if self.seen_up {
            // Marked down while running: announce ourselves again (a new interval for our PGs).
            self.seen_up = false;
            let boot = Message::MonCommand(MonCommand::OsdBoot {
                osd: self.sh.id,
                host: self.host.clone(),
                addr: None,
            });
            self.send_mon(boot).await;
        }
        // PGs this OSD now serves.
        for pool in map.pools().values() {
            for seed in 0..pool.pg_num {
                let pgid = PgId::new(pool.id, seed);
                if !self.pgs.contains_key(&pgid) && self.is_member(pgid) {
                    self.spawn_pg(pgid);
                }
            }
        }
        self.pgs
            .retain(|_, tx| tx.send(pg::PgEvent::Map(map.clone())).is_ok());
        let ready: Vec<Envelope> = {
            let epoch = map.epoch();
            let (ready, later) = std::mem::take(&mut self.waiting_for_map)
                .into_iter()
                .partition(|e| e.epoch <= epoch);
            self.waiting_for_map = later;
            ready
        };
        for env in ready {
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

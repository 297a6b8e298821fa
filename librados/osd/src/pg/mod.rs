//! One PG on one OSD: an async task that owns the PG's log and state and handles, in order,
//! map changes, client ops (as primary), replicated writes (as replica), and peering.
//!
//! - `primary.rs`: client ops, the write path (log entry + transaction, replicated to the
//!   acting set, acknowledged once every member committed), listing.
//! - `recovery.rs`: peering (query, choose the authoritative log, recover or backfill each
//!   member), activation, and pushes of whole objects.
//! - `replica.rs`: applying the primary's writes and activations.
//! - `peering.rs`: the pure decisions; `log.rs`: the PG log.
//!
//! An *interval* is a run of map epochs in which the PG's acting set, up set, primary and pool
//! size stay the same (and no member restarted); it is named by the epoch it began. Every
//! message between OSDs about a PG carries the sender's interval; anything from another
//! interval is refused, so a write is acknowledged only by members of one interval.

pub mod log;
pub mod peering;
mod primary;
mod push;
mod recovery;
mod replica;
mod trim;
mod watch;

use super::OsdShared;
use crate::msg::command::PgStat;
use crate::msg::ops::{ObjectName, OpOutcome, OsdOpReply};
use crate::msg::peering::{LogEntry, PgInfo};
use crate::msg::{command::WireError, EntityName, Envelope, Message};
pub use crate::osdmap::interval_changed;
use crate::osdmap::{cbits, interval_key, IntervalKey, OsdMap, PgId};
use crate::store::{CollectionId, ListCursor, Transaction};
use log::PgLog;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a PG task receives (messages moved in whole: boxing them would cost an allocation
/// per message for no gain).
#[allow(clippy::large_enum_variant)]
pub enum PgEvent {
    Map(Arc<OsdMap>),
    Msg(Envelope),
    /// The local store committed the write at `version` (made in `interval`).
    LocalCommitted {
        interval: u32,
        version: crate::msg::ops::Eversion,
        result: Result<(), crate::msg::command::WireError>,
    },
    /// A notify's time is up: answer with whatever acknowledgements arrived.
    NotifyTimeout {
        notify_id: u64,
    },
    /// Ask the monitor again to record the activation of `interval` (no map has it yet).
    RetryActivation {
        interval: u32,
    },
    /// The OSD's push budget may have room again for the stream to `target`.
    PumpPush {
        target: i32,
    },
    Shutdown,
}

/// The hash bits of PG `seed`'s collection when the pool has `pg_num` PGs: PGs that a later
/// split would divide use one more bit than those that already absorb the folded seeds.
pub fn split_bits(seed: u32, pg_num: u32) -> u32 {
    if pg_num <= 1 {
        return 0;
    }
    let p = cbits(pg_num - 1);
    let half = 1u32 << (p - 1);
    if seed % half < pg_num % half || pg_num == 1 << p {
        p
    } else {
        p - 1
    }
}

/// The primary's progress through an interval.
enum Phase {
    /// Waiting for the PG's info and log from these OSDs.
    Peering {
        waiting: BTreeSet<i32>,
        peers: Vec<peering::PeerState>,
    },
    /// Members are receiving objects from the authority.
    Recovering {
        pending: BTreeSet<i32>,
        auth_info: PgInfo,
        auth_log: Vec<LogEntry>,
        /// Objects each pending member still waits for.
        to_recover: BTreeMap<i32, u64>,
    },
    /// Recovered, the authoritative log adopted; waiting for the replicas to adopt it durably
    /// (`unacked`), then for the map to record this interval as the PG's newest active one
    /// before serving (see `OsdMap::pg_active`).
    Activating { unacked: BTreeSet<i32> },
    /// No OSD that answered holds every acknowledged write: some member of the newest
    /// interval that went active must come back first (the log names them). Peers again on
    /// every map.
    Down,
    /// Serving ops.
    Active,
    /// Peered, but fewer members than `min_size`: ops wait.
    Peered,
}

/// A write waiting for the acting set's commits.
struct InFlight {
    waiting: BTreeSet<i32>,
    /// The client to answer (none for the OSD's own writes, such as snap trimming).
    reply_to: Option<ReplyTo>,
    /// Resends of the same request that came while it was in flight (client, tid).
    also_reply: Vec<(EntityName, u64)>,
    reqid: crate::msg::ops::ReqId,
    user_version: u64,
    key: ObjKey,
    /// The write removes the object: its watches end once it is committed.
    removes: bool,
}

/// Who asked for a write, and what to answer once it is committed.
pub(crate) struct ReplyTo {
    client: EntityName,
    tid: u64,
    results: Vec<crate::msg::ops::StepResult>,
}

/// How a write changes the PG's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatDelta {
    pub objects: i64,
    pub bytes: i64,
    pub clones: i64,
}

type ObjKey = (u32, ObjectName);

/// Per-object ordering: writes in flight, and requests queued behind them.
#[derive(Default)]
struct ObjQueue {
    in_flight: usize,
    waiting: VecDeque<Envelope>,
}

struct PrimaryState {
    phase: Phase,
    in_flight: BTreeMap<crate::msg::ops::Eversion, InFlight>,
    objects: HashMap<ObjKey, ObjQueue>,
    /// Watches per object. Kept in memory by the primary; clients register again when the
    /// PG's interval changes.
    watchers: watch::Watchers,
    notifies: HashMap<u64, watch::Notify>,
    next_notify: u64,
    /// Snap trimming in progress, and the map epoch at which nothing was left to trim.
    trim: Option<trim::Trimmer>,
    trim_checked_epoch: u32,
    /// Recovery while active: objects some replicas do not hold yet, and which. Ops on them
    /// wait (and move them to the front of the pushes) until every replica took them.
    recovering: BTreeMap<ObjKey, BTreeSet<i32>>,
    /// Pushes to start once the replicas adopted the activation (which names what they miss).
    deferred_pushes: Vec<(i32, Vec<ObjKey>)>,
    /// The OSD those pushes come from: this one, or the authority when only this one lacks
    /// objects.
    recovery_source: i32,
}

pub struct Pg {
    pgid: PgId,
    cid: CollectionId,
    sh: Arc<OsdShared>,
    tx: mpsc::UnboundedSender<PgEvent>,
    map: Option<Arc<OsdMap>>,
    info: PgInfo,
    log: PgLog,
    key: Option<IntervalKey>,
    /// The epoch the current interval (by our map) began.
    interval: u32,
    acting: Vec<i32>,
    /// Set while this OSD is the acting primary.
    primary: Option<PrimaryState>,
    /// The interval whose primary activated us as a replica, and that primary (the only
    /// OSD whose replicated writes we take).
    replica_interval: Option<u32>,
    replica_primary: Option<i32>,
    /// Client requests waiting for the PG to become active.
    waiting: VecDeque<Envelope>,
    tid: u64,
    /// Push streams this OSD is sending, by target.
    pushes: HashMap<i32, push::PushStream>,
    /// Temporary objects pushes to this OSD are building.
    temps: BTreeSet<crate::store::ObjectId>,
    /// A reminder to retry the activation is on its way.
    activation_retry: bool,
    /// Objects the log names that this OSD does not hold yet (kept durably beside the log;
    /// see `log.rs`): it was activated while recovery of them was still to come.
    missing: BTreeSet<ObjKey>,
}

impl Pg {
    pub fn new(pgid: PgId, sh: Arc<OsdShared>, tx: mpsc::UnboundedSender<PgEvent>) -> Pg {
        let (info, log) = match log::load(sh.store.as_ref(), pgid) {
            Ok(Some(loaded)) => loaded,
            Ok(None) => (
                PgInfo {
                    pgid,
                    ..PgInfo::default()
                },
                PgLog::default(),
            ),
            Err(e) => {
                sh.clog_error(format!("pg {pgid}: cannot load its log: {e}"));
                (
                    PgInfo {
                        pgid,
                        ..PgInfo::default()
                    },
                    PgLog::default(),
                )
            }
        };
        let missing = log::load_missing(sh.store.as_ref(), pgid).unwrap_or_else(|e| {
            sh.clog_error(format!("pg {pgid}: cannot load its missing set: {e}"));
            BTreeSet::new()
        });
        Pg {
            pgid,
            cid: log::collection(pgid),
            sh,
            tx,
            map: None,
            info,
            log,
            key: None,
            interval: 0,
            acting: Vec::new(),
            primary: None,
            replica_interval: None,
            replica_primary: None,
            waiting: VecDeque::new(),
            tid: 0,
            pushes: HashMap::new(),
            temps: BTreeSet::new(),
            activation_retry: false,
            missing,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<PgEvent>) {
        // Pushes a crash cut short leave temporary objects.
        if self.sh.store.collection_bits(self.cid).is_ok() {
            self.remove_temps();
        }
        while let Some(ev) = rx.recv().await {
            let go_on = match ev {
                PgEvent::Map(map) => self.on_map(map).await,
                PgEvent::Msg(env) => {
                    self.on_message(env).await;
                    true
                }
                PgEvent::LocalCommitted {
                    interval,
                    version,
                    result,
                } => {
                    self.on_commit(self.sh.id, interval, version, result).await;
                    true
                }
                PgEvent::NotifyTimeout { notify_id } => {
                    self.finish_notify(notify_id).await;
                    true
                }
                PgEvent::RetryActivation { interval } => {
                    if interval == self.interval {
                        self.retry_activation().await;
                    }
                    true
                }
                PgEvent::PumpPush { target } => {
                    self.pump_push(target).await;
                    true
                }
                PgEvent::Shutdown => false,
            };
            if !go_on {
                break;
            }
        }
    }

    fn epoch(&self) -> u32 {
        self.map.as_ref().map_or(0, |m| m.epoch())
    }

    /// Whether `src` is a client the newest map fences.
    fn is_blocklisted(&self, src: EntityName) -> bool {
        src.kind == crate::msg::EntityKind::Client
            && self
                .map
                .as_ref()
                .is_some_and(|m| m.is_blocklisted(&self.sh.msgr.addr_of(src)))
    }

    /// The acting set without this OSD.
    fn replicas(&self) -> Vec<i32> {
        self.acting
            .iter()
            .copied()
            .filter(|&o| o != self.sh.id)
            .collect()
    }

    fn next_tid(&mut self) -> u64 {
        self.tid += 1;
        self.tid
    }

    /// Sends; false when the destination could not be reached.
    async fn send(&mut self, to: EntityName, tid: u64, msg: &Message) -> bool {
        let epoch = self.epoch();
        match self.sh.msgr.send(to, tid, epoch, msg).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(target: "osd", "osd.{} pg {}: send to {to} failed: {e}", self.sh.id, self.pgid);
                false
            }
        }
    }

    async fn send_osd(&mut self, osd: i32, msg: &Message) -> bool {
        let tid = self.next_tid();
        self.send(EntityName::osd(osd), tid, msg).await
    }

    /// Returns false when the PG is gone (its pool was deleted) and the task should end.
    async fn on_map(&mut self, map: Arc<OsdMap>) -> bool {
        if self.map.as_ref().is_some_and(|m| m.epoch() >= map.epoch()) {
            return true;
        }
        self.map = Some(map.clone());
        let Some(key) = interval_key(&map, self.pgid).filter(|k| self.pgid.seed < k.pg_num) else {
            self.remove_pg();
            return false;
        };
        if self.key.as_ref() != Some(&key) {
            self.new_interval(key, map.epoch()).await;
        } else if let Some(p) = &mut self.primary {
            if let Phase::Peering { waiting, .. } = &mut p.phase {
                waiting.retain(|&o| map.is_up(o));
                // Ask again: an OSD that was not running when first asked may be now.
                let again: Vec<i32> = waiting.iter().copied().collect();
                self.query(again).await;
                self.maybe_finish_peering().await;
            } else if matches!(p.phase, Phase::Down) {
                // An OSD may have come back with what we wait for.
                self.start_peering().await;
            } else if matches!(p.phase, Phase::Activating { .. }) {
                self.maybe_activate_recorded().await;
            }
            // Snaps may have been removed.
            self.trim_step().await;
            self.drop_blocklisted_watchers().await;
        }
        self.report_stat();
        true
    }

    async fn new_interval(&mut self, key: IntervalKey, epoch: u32) {
        tracing::debug!(target: "osd", "osd.{} pg {}: interval {epoch}, acting {:?}", self.sh.id, self.pgid, key.acting);
        self.interval = epoch;
        self.acting = key.acting.clone();
        let am_primary = key.primary == self.sh.id;
        self.key = Some(key);
        if self.replica_interval.is_some_and(|i| i < epoch) {
            self.replica_interval = None;
        }
        // Ops of the old interval are not answered; clients resend on the new map.
        self.primary = None;
        // Pushes of the old interval end, and what they were building goes.
        self.drop_pushes();
        if !self.temps.is_empty() {
            self.remove_temps();
        }
        for env in std::mem::take(&mut self.waiting) {
            self.retry(env).await;
        }
        if am_primary {
            self.ensure_collection();
            self.primary = Some(PrimaryState {
                phase: Phase::Peering {
                    waiting: BTreeSet::new(),
                    peers: Vec::new(),
                },
                in_flight: BTreeMap::new(),
                objects: HashMap::new(),
                watchers: watch::Watchers::default(),
                notifies: HashMap::new(),
                next_notify: 1,
                trim: None,
                trim_checked_epoch: 0,
                recovering: BTreeMap::new(),
                deferred_pushes: Vec::new(),
                recovery_source: self.sh.id,
            });
            self.start_peering().await;
        } else {
            self.sh.forget_stat(self.pgid);
        }
    }

    /// Starts peering again within the same interval: every request waiting or in flight is
    /// told to retry (a write that was applied is recognised when it comes back).
    pub(super) async fn repeer(&mut self) {
        let Some(key) = self.key.clone() else { return };
        if let Some(p) = self.primary.take() {
            for (_, w) in p.in_flight {
                let epoch = self.epoch();
                let reply = Message::OsdOpReply(Box::new(OsdOpReply {
                    reqid: w.reqid,
                    outcome: OpOutcome::Retry { epoch },
                }));
                let waiting = w.reply_to.map(|to| (to.client, to.tid));
                for (client, tid) in waiting.into_iter().chain(w.also_reply) {
                    self.send(client, tid, &reply).await;
                }
            }
            for (_, q) in p.objects {
                for env in q.waiting {
                    self.retry(env).await;
                }
            }
        }
        self.key = None;
        let interval = self.interval;
        self.new_interval(key, interval).await;
    }

    /// Tells a client to fetch a newer map and resend.
    async fn retry(&mut self, env: Envelope) {
        let epoch = self.interval.max(self.epoch());
        match env.msg {
            Message::OsdOp(req) => {
                let reply = Message::OsdOpReply(Box::new(OsdOpReply {
                    reqid: req.reqid,
                    outcome: OpOutcome::Retry { epoch },
                }));
                self.send(env.src, env.tid, &reply).await;
            }
            Message::PgList(_) => {
                let reply = Message::PgListReply(Err(WireError {
                    errno: crate::errno::EAGAIN,
                    message: format!("retry at epoch {epoch}"),
                }));
                self.send(env.src, env.tid, &reply).await;
            }
            _ => {}
        }
    }

    fn ensure_collection(&mut self) {
        let store = self.sh.store.as_ref();
        if store.collection_bits(self.cid).is_ok() {
            return;
        }
        let Some(pool) = self.map.as_ref().and_then(|m| m.pool(self.pgid.pool)) else {
            return;
        };
        let mut t = Transaction::new();
        t.create_collection(self.cid, split_bits(self.pgid.seed, pool.pg_num));
        t.touch(self.cid, &log::pgmeta(self.pgid));
        if log::write_info(&self.info, &mut t).is_ok() {
            if let Err(e) = self.sh.queue(t) {
                self.sh.clog_error(format!(
                    "pg {}: cannot create its collection: {e}",
                    self.pgid
                ));
            }
        }
    }

    /// The pool is gone: delete the PG's objects and collection.
    fn remove_pg(&mut self) {
        self.sh.forget_stat(self.pgid);
        let store = self.sh.store.clone();
        let cid = self.cid;
        if store.collection_bits(cid).is_err() {
            return;
        }
        loop {
            let page = match store.list_objects(cid, &ListCursor::Start, 1024) {
                Ok(p) => p,
                Err(e) => {
                    self.sh
                        .clog_error(format!("pg {}: cannot list for removal: {e}", self.pgid));
                    return;
                }
            };
            if page.objects.is_empty() {
                break;
            }
            let mut t = Transaction::new();
            for oid in &page.objects {
                t.remove(cid, oid);
            }
            if let Err(e) = self.sh.queue(t) {
                self.sh
                    .clog_error(format!("pg {}: removal failed: {e}", self.pgid));
                return;
            }
        }
        let mut t = Transaction::new();
        t.remove_collection(cid);
        if let Err(e) = self.sh.queue(t) {
            self.sh
                .clog_error(format!("pg {}: removal failed: {e}", self.pgid));
        }
    }

    fn state_name(&self) -> &'static str {
        let Some(p) = &self.primary else {
            return "stray";
        };
        let size = self
            .map
            .as_ref()
            .and_then(|m| m.pool(self.pgid.pool))
            .map_or(0, |p| p.size as usize);
        match p.phase {
            Phase::Peering { .. } => "peering",
            Phase::Recovering { .. } => "recovering",
            Phase::Activating { .. } => "activating",
            Phase::Down => "down",
            Phase::Peered => "undersized+peered",
            Phase::Active if self.acting.len() < size => "active+undersized+degraded",
            Phase::Active if !p.recovering.is_empty() => "active+recovering+degraded",
            Phase::Active if p.trim.is_some() => "active+clean+snaptrim",
            Phase::Active => "active+clean",
        }
    }

    fn report_stat(&self) {
        if self.primary.is_none() {
            return;
        }
        self.sh.report_stat(PgStat {
            pgid: self.pgid,
            epoch: self.epoch(),
            state: self.state_name().to_string(),
            objects: self.info.objects,
            bytes: self.info.bytes,
            clones: self.info.clones,
            omap_keys: 0,
            to_recover: match self.primary.as_ref() {
                Some(PrimaryState {
                    phase: Phase::Recovering { to_recover, .. },
                    ..
                }) => to_recover.values().sum(),
                Some(p) => p.recovering.values().map(|m| m.len() as u64).sum(),
                None => 0,
            },
        });
    }

    async fn on_message(&mut self, env: Envelope) {
        let from = env.src.osd_id();
        match env.msg {
            Message::OsdOp(_) | Message::PgList(_) => self.on_client(env).await,
            Message::RepOp {
                interval,
                entry,
                txn,
                ..
            } => {
                if let Some(from) = from {
                    self.on_rep_op(from, env.tid, interval, entry, txn).await;
                }
            }
            Message::RepOpReply {
                interval,
                version,
                result,
                ..
            } => {
                match (from, result) {
                    // The replica has moved to a newer interval: this write will not complete
                    // here; the client resends once the map reaches us.
                    (_, Err(e)) if e.errno == crate::errno::EAGAIN => {}
                    // The replica missed a write of this interval: peer again.
                    (Some(from), Err(e))
                        if e.errno == crate::errno::ENOMSG && interval == self.interval =>
                    {
                        tracing::warn!(target: "osd", "osd.{} pg {}: {}; peering again", self.sh.id, self.pgid, e.message);
                        let _ = from;
                        self.repeer().await;
                    }
                    (Some(from), result) => self.on_commit(from, interval, version, result).await,
                    (None, _) => {}
                }
            }
            Message::PgQuery { interval, .. } => {
                if let Some(from) = from {
                    self.on_query(from, interval).await;
                }
            }
            Message::PgNotify {
                interval,
                info,
                log,
                missing,
                ..
            } => {
                if let Some(from) = from {
                    let state = peering::PeerState {
                        osd: from,
                        info,
                        log,
                        missing: missing.into_iter().collect(),
                    };
                    self.on_notify(interval, state).await;
                }
            }
            Message::PgPushRequest {
                interval,
                target,
                objects,
                backfill,
                ..
            } => {
                if let Some(from) = from {
                    let objects = (!backfill).then_some(objects);
                    self.push_to(target, interval, objects, from).await;
                }
            }
            Message::PgPush {
                interval,
                stream,
                seq,
                parts,
                last,
                primary,
                ..
            } => {
                if let Some(from) = from {
                    self.on_push(from, interval, stream, seq, parts, last, primary)
                        .await
                }
            }
            Message::PgPushPartAck {
                stream,
                seq,
                result,
                ..
            } => {
                if let Some(from) = from {
                    self.on_push_part_ack(from, stream, seq, result).await
                }
            }
            Message::PgPushAck { interval, .. } => {
                if let Some(from) = from {
                    self.on_push_ack(from, interval).await;
                }
            }
            Message::PgRecovered {
                interval,
                target,
                objects,
                ..
            } => {
                if let Some(from) = from {
                    self.on_recovered(from, interval, target, objects).await;
                }
            }
            Message::PgActivated { interval, .. } => {
                if let Some(from) = from {
                    self.on_activated(from, interval).await;
                }
            }
            Message::PgPushFirst {
                interval,
                target,
                object,
                ..
            } => {
                if let Some(from) = from {
                    self.on_push_first(from, interval, target, object);
                }
            }
            Message::PgActivate {
                interval,
                info,
                log,
                missing,
                ..
            } => {
                if let Some(from) = from {
                    let missing = missing.into_iter().collect();
                    self.on_activate(from, interval, info, log, missing).await
                }
            }
            Message::NotifyAck {
                cookie,
                notify_id,
                reply,
                ..
            } => {
                self.on_notify_ack(env.src.id, cookie, notify_id, reply)
                    .await
            }
            _ => {}
        }
    }
}

/// Answers a message for a PG this OSD does not have.
pub fn reply_without_pg(sh: &Arc<OsdShared>, epoch: u32, env: Envelope) {
    let sh = sh.clone();
    let reply = match env.msg {
        Message::OsdOp(req) => Message::OsdOpReply(Box::new(OsdOpReply {
            reqid: req.reqid,
            outcome: OpOutcome::Retry { epoch },
        })),
        Message::PgList(_) => Message::PgListReply(Err(WireError {
            errno: crate::errno::EAGAIN,
            message: format!("retry at epoch {epoch}"),
        })),
        Message::PgQuery { pgid, interval } => Message::PgNotify {
            pgid,
            interval,
            info: None,
            log: Vec::new(),
            missing: Vec::new(),
        },
        _ => return,
    };
    tokio::spawn(async move {
        let _ = sh.msgr.send(env.src, env.tid, epoch, &reply).await;
    });
}

#[cfg(test)]
mod tests {
    use super::split_bits;

    #[test]
    fn split_bits_cover_every_hash_once() {
        for pg_num in 1..=70u32 {
            for hash in 0..512u32 {
                let mask = crate::osdmap::mask_for(pg_num);
                let seed = crate::osdmap::stable_mod(hash, pg_num, mask);
                let bits = split_bits(seed, pg_num);
                let m = if bits >= 32 {
                    u32::MAX
                } else {
                    (1 << bits) - 1
                };
                assert_eq!(
                    hash & m,
                    seed & m,
                    "pg_num {pg_num} hash {hash} seed {seed}"
                );
                assert!(seed <= m, "seed {seed} beyond its bits {bits}");
            }
        }
    }
}

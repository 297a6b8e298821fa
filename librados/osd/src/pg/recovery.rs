//! Peering, recovery and activation, driven by the primary; pushes of whole objects between
//! OSDs.
//!
//! 1. The primary asks every up OSD for its info and log (`PgQuery` → `PgNotify`).
//! 2. It picks the authority (newest log, [`peering::choose_authority`]) and works out what
//!    each acting member needs ([`peering::need`]): some objects, or everything (backfill).
//! 3. The authority streams those objects (`push.rs`), each member acknowledges the last push
//!    to the primary.
//! 4. The primary adopts the authoritative log and recounts its objects; it sends
//!    `PgActivate` to the members, who adopt the same log durably and answer `PgActivated`;
//!    it has the map record the activation, and starts serving. Ops wait until then.
//!
//! When every member can recover from the log, step 3 comes after step 4 instead: the PG
//! serves at once, each member records (with the log it adopts) the objects it does not
//! hold yet, and they are pushed while it serves. An op on such an object waits and moves it
//! to the front of the pushes; a member still missing objects is neither an authority nor
//! proof of the newest writes at the next peering ([`peering::choose_authority`],
//! [`peering::missing_active_member`]).

use super::peering::{self, Need, PeerState};
use super::primary::store_oid;
use super::{log, Pg, Phase, PrimaryState};
use crate::exec;
use crate::msg::ops::{Eversion, ObjectName};
use crate::msg::peering::{ObjectState, PgInfo};
use crate::msg::Message;
use crate::store::{ListCursor, ObjectId, ObjectStore, StoreResult, Transaction, SNAP_HEAD};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// How long a primary waits for the map to record its activation before asking again.
const ACTIVATION_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

impl Pg {
    fn own_peer_state(&self) -> PeerState {
        let has = self.sh.store.collection_bits(self.cid).is_ok()
            && (self.info.last_update != Eversion::default()
                || !self.log.is_empty()
                || self.info.last_epoch_started > 0);
        PeerState {
            osd: self.sh.id,
            info: has.then(|| self.info.clone()),
            log: self.log.to_vec(),
            missing: self.missing.clone(),
        }
    }

    pub(super) async fn start_peering(&mut self) {
        let Some(map) = self.map.clone() else { return };
        let me = self.sh.id;
        let others: BTreeSet<i32> = (0..map.max_osd())
            .filter(|&o| o != me && map.is_up(o))
            .collect();
        let own = self.own_peer_state();
        if let Some(p) = &mut self.primary {
            p.phase = Phase::Peering {
                waiting: others.clone(),
                peers: vec![own],
            };
        }
        self.query(others.into_iter().collect()).await;
        self.report_stat();
        self.maybe_finish_peering().await;
    }

    /// Queries these OSDs; those that cannot be reached are not waited for.
    pub(super) async fn query(&mut self, osds: Vec<i32>) {
        let query = Message::PgQuery {
            pgid: self.pgid,
            interval: self.interval,
        };
        for o in osds {
            if !self.send_osd(o, &query).await {
                if let Some(PrimaryState {
                    phase: Phase::Peering { waiting, .. },
                    ..
                }) = &mut self.primary
                {
                    waiting.remove(&o);
                }
            }
        }
    }

    pub(super) async fn on_notify(&mut self, interval: u32, state: PeerState) {
        if interval != self.interval {
            return;
        }
        let Some(p) = &mut self.primary else { return };
        let Phase::Peering { waiting, peers } = &mut p.phase else {
            return;
        };
        if waiting.remove(&state.osd) {
            peers.push(state);
        }
        self.maybe_finish_peering().await;
    }

    pub(super) async fn maybe_finish_peering(&mut self) {
        let Some(p) = &mut self.primary else { return };
        let Phase::Peering { waiting, peers } = &mut p.phase else {
            return;
        };
        if !waiting.is_empty() {
            return;
        }
        let mut peers = std::mem::take(peers);
        // The primary first, then the acting set in order, then the rest: ties go to them.
        let rank =
            |o: i32, acting: &[i32]| acting.iter().position(|&a| a == o).unwrap_or(usize::MAX);
        let acting = self.acting.clone();
        peers.sort_by_key(|p| (p.osd != self.sh.id, rank(p.osd, &acting), p.osd));
        let record = self
            .map
            .as_ref()
            .and_then(|m| m.pg_active(self.pgid))
            .cloned();
        if let Some(missing) = peering::missing_active_member(record.as_ref(), &peers) {
            tracing::info!(target: "osd", "osd.{} pg {}: down: no OSD that answered activated in interval {}; waiting for one of {:?}",
                self.sh.id, self.pgid, record.as_ref().map_or(0, |r| r.epoch), missing);
            if let Some(p) = &mut self.primary {
                p.phase = Phase::Down;
            }
            self.report_stat();
            return;
        }
        let auth = peering::choose_authority(&peers)
            .map(|i| peers[i].clone())
            .unwrap_or_else(|| self.own_peer_state());
        let mut pending = BTreeSet::new();
        let mut plans = Vec::new();
        for &member in &acting {
            let state = peers
                .iter()
                .find(|p| p.osd == member)
                .cloned()
                .unwrap_or(PeerState {
                    osd: member,
                    info: None,
                    log: Vec::new(),
                    missing: BTreeSet::new(),
                });
            match peering::need(&auth, &state) {
                Need::Nothing => {}
                need => {
                    pending.insert(member);
                    plans.push((member, need));
                }
            }
        }
        tracing::debug!(target: "osd", "osd.{} pg {}: authority osd.{} at {}, recovering {:?}", self.sh.id, self.pgid, auth.osd,
            auth.info.as_ref().map(|i| i.last_update).unwrap_or_default(), pending);
        let auth_info = auth.info.clone().unwrap_or_else(|| PgInfo {
            pgid: self.pgid,
            ..PgInfo::default()
        });
        // Objects each member waits for (a backfill: every object the authority has).
        let to_recover = plans
            .iter()
            .map(|(m, need)| {
                let n = match need {
                    Need::Objects(set) => set.len() as u64,
                    _ => auth_info.objects,
                };
                (*m, n)
            })
            .collect();
        // Recovery while active: the log says what each member lacks; the authority pushes
        // it once every member adopted the activation that names it.
        let while_active = auth.is_complete()
            && acting.len() >= self.min_size()
            && plans.iter().all(|(_, n)| matches!(n, Need::Objects(_)));
        if while_active && !plans.is_empty() {
            let Some(p) = &mut self.primary else { return };
            p.recovery_source = auth.osd;
            for (member, need) in plans {
                let Need::Objects(set) = need else { continue };
                for key in &set {
                    p.recovering.entry(key.clone()).or_default().insert(member);
                }
                p.deferred_pushes.push((member, set.into_iter().collect()));
            }
            p.phase = Phase::Recovering {
                pending: BTreeSet::new(),
                auth_info,
                auth_log: auth.log.clone(),
                to_recover: BTreeMap::new(),
            };
            self.activate().await;
            return;
        }
        if let Some(p) = &mut self.primary {
            p.phase = Phase::Recovering {
                pending: pending.clone(),
                auth_info,
                auth_log: auth.log.clone(),
                to_recover,
            };
        }
        self.report_stat();
        for (member, need) in plans {
            let objects = match need {
                Need::Objects(set) => Some(set.into_iter().collect::<Vec<_>>()),
                _ => None,
            };
            if auth.osd == self.sh.id {
                let interval = self.interval;
                let me = self.sh.id;
                self.push_to(member, interval, objects, me).await;
            } else {
                let msg = Message::PgPushRequest {
                    pgid: self.pgid,
                    interval: self.interval,
                    target: member,
                    backfill: objects.is_none(),
                    objects: objects.unwrap_or_default(),
                };
                self.send_osd(auth.osd, &msg).await;
            }
        }
        if pending.is_empty() {
            self.activate().await;
        }
    }

    pub(super) async fn on_push_ack(&mut self, from: i32, interval: u32) {
        if interval != self.interval {
            return;
        }
        let Some(p) = &mut self.primary else { return };
        let Phase::Recovering {
            pending,
            to_recover,
            ..
        } = &mut p.phase
        else {
            return;
        };
        pending.remove(&from);
        to_recover.remove(&from);
        if pending.is_empty() {
            self.activate().await;
        } else {
            self.report_stat();
        }
    }

    /// Recovery is done: the primary adopts the authoritative log, with this interval as
    /// its `last_epoch_started`, durably, then every replica does (`PgActivate`, answered
    /// `PgActivated`). An interval that can take writes is then recorded in the map (so a
    /// later peering knows it went active, and that its members — whose adoption is durable
    /// by then — hold everything, those still missing objects excepted); one below
    /// `min_size` activates at once, only to wait as peered.
    async fn activate(&mut self) {
        let replicas: BTreeSet<i32> = self.replicas().into_iter().collect();
        let Some(p) = &mut self.primary else { return };
        let Phase::Recovering {
            auth_info,
            auth_log,
            ..
        } = std::mem::replace(
            &mut p.phase,
            Phase::Activating {
                unacked: replicas.clone(),
            },
        )
        else {
            return;
        };
        // What the primary still lacks (recovery while active), or nothing: it was the
        // authority, or received all it lacked.
        let own: BTreeSet<_> = p
            .deferred_pushes
            .iter()
            .filter(|(m, _)| *m == self.sh.id)
            .flat_map(|(_, objects)| objects.iter().cloned())
            .collect();
        let mut info = auth_info;
        info.pgid = self.pgid;
        info.same_interval_since = self.interval;
        info.last_epoch_started = self.interval;
        self.count_into(&mut info);
        let log = log::PgLog::from_entries(auth_log);
        let mut t = Transaction::new();
        let staged = log
            .rewrite(&info, &mut t)
            .and_then(|()| log::stage_missing_replace(self.pgid, &own, &mut t));
        let durable = match staged.and_then(|()| self.sh.queue(t)) {
            Ok(commit) => commit.await,
            Err(e) => Err(e),
        };
        if let Err(e) = durable {
            self.sh
                .clog_error(format!("pg {}: cannot record activation: {e}", self.pgid));
            return;
        }
        self.info = info;
        self.log = log;
        self.missing = own;
        self.send_activation(replicas).await;
        self.replicas_adopted().await;
    }

    /// Sends these replicas the log to adopt, each with what it lacks.
    async fn send_activation(&mut self, replicas: BTreeSet<i32>) {
        let Some(p) = &self.primary else { return };
        let missing_of = |r: i32| {
            p.deferred_pushes
                .iter()
                .find(|(m, _)| *m == r)
                .map(|(_, objects)| objects.clone())
                .unwrap_or_default()
        };
        let msgs: Vec<(i32, Message)> = replicas
            .into_iter()
            .map(|r| {
                let msg = Message::PgActivate {
                    pgid: self.pgid,
                    interval: self.interval,
                    info: self.info.clone(),
                    log: self.log.to_vec(),
                    missing: missing_of(r),
                };
                (r, msg)
            })
            .collect();
        for (r, msg) in msgs {
            self.send_osd(r, &msg).await;
        }
    }

    /// A replica adopted the activation of `interval` durably.
    pub(super) async fn on_activated(&mut self, from: i32, interval: u32) {
        if interval != self.interval {
            return;
        }
        if let Some(PrimaryState {
            phase: Phase::Activating { unacked },
            ..
        }) = &mut self.primary
        {
            if unacked.remove(&from) {
                self.replicas_adopted().await;
            }
        }
    }

    /// Once every replica adopted the log: the map records the activation, or (already
    /// recorded, or below `min_size`) the PG goes on at once.
    async fn replicas_adopted(&mut self) {
        if !self.activating_adopted() {
            self.report_stat();
            self.schedule_activation_retry();
            return;
        }
        if self.acting.len() >= self.min_size() && !self.activation_recorded() {
            self.ask_to_record_activation().await;
            self.report_stat();
            return;
        }
        self.finish_activation().await;
    }

    /// Still activating after a while: send the activation again to replicas that did not
    /// answer, or ask the monitor again.
    pub(super) async fn retry_activation(&mut self) {
        self.activation_retry = false;
        let unacked = match self.primary.as_ref().map(|p| &p.phase) {
            Some(Phase::Activating { unacked }) => unacked.clone(),
            _ => return,
        };
        if unacked.is_empty() {
            self.ask_to_record_activation().await;
        } else {
            self.send_activation(unacked).await;
            self.schedule_activation_retry();
        }
    }

    /// One reminder at a time.
    fn schedule_activation_retry(&mut self) {
        if std::mem::replace(&mut self.activation_retry, true) {
            return;
        }
        let tx = self.tx.clone();
        let interval = self.interval;
        tokio::spawn(async move {
            tokio::time::sleep(ACTIVATION_RETRY).await;
            let _ = tx.send(super::PgEvent::RetryActivation { interval });
        });
    }

    fn activating_adopted(&self) -> bool {
        matches!(
            self.primary.as_ref().map(|p| &p.phase),
            Some(Phase::Activating { unacked }) if unacked.is_empty()
        )
    }

    /// Counts the PG's objects as the store holds them (queued writes included) into `info`.
    fn count_into(&self, info: &mut PgInfo) {
        match count_objects(self.sh.store.as_ref(), self.cid) {
            Ok((objects, bytes, clones)) => {
                info.objects = objects;
                info.bytes = bytes;
                info.clones = clones;
            }
            Err(e) => self
                .sh
                .clog_error(format!("pg {}: cannot count objects: {e}", self.pgid)),
        }
    }

    /// Counts again once the primary holds every object (it activated lacking some).
    pub(super) fn recount_objects(&mut self) {
        let mut info = self.info.clone();
        self.count_into(&mut info);
        self.info = info;
    }

    fn min_size(&self) -> usize {
        self.map
            .as_ref()
            .and_then(|m| m.pool(self.pgid.pool))
            .map_or(1, |p| p.min_size as usize)
    }

    /// Whether the map records this interval (or a later one) as the PG's newest active.
    fn activation_recorded(&self) -> bool {
        self.map
            .as_ref()
            .and_then(|m| m.pg_active(self.pgid))
            .is_some_and(|a| a.epoch >= self.interval)
    }

    /// A map came while activating: activate once it records this interval.
    pub(super) async fn maybe_activate_recorded(&mut self) {
        if self.activating_adopted() && self.activation_recorded() {
            self.finish_activation().await;
        }
    }

    /// Asks the monitor to record this interval as the PG's newest active one, and to be
    /// reminded to ask again if no map records it soon.
    pub(super) async fn ask_to_record_activation(&mut self) {
        if !self.activating_adopted() || self.activation_recorded() {
            return;
        }
        let msg = Message::MonCommand(crate::msg::command::MonCommand::PgActivating {
            pgid: self.pgid,
            interval: self.interval,
            acting: self.acting.clone(),
        });
        let tid = self.next_tid();
        if !self.send(crate::msg::EntityName::mon(0), tid, &msg).await {
            tracing::debug!(target: "osd", "osd.{} pg {}: cannot ask the monitor to record the activation", self.sh.id, self.pgid);
        }
        self.schedule_activation_retry();
    }

    /// The members adopted the primary's log: the PG serves (or, below `min_size`, waits
    /// as peered), and pushes what members lack while it does.
    async fn finish_activation(&mut self) {
        if !self.activating_adopted() {
            return;
        }
        let Some(p) = &mut self.primary else { return };
        let deferred = std::mem::take(&mut p.deferred_pushes);
        // Each member adopted its activation (naming what it lacks) before any push; another
        // authority tells the primary what each member took (`PgRecovered`).
        let (interval, me) = (self.interval, self.sh.id);
        let source = self.primary.as_ref().map_or(me, |p| p.recovery_source);
        for (member, objects) in deferred {
            if source == me {
                self.push_to(member, interval, Some(objects), me).await;
            } else {
                let msg = Message::PgPushRequest {
                    pgid: self.pgid,
                    interval,
                    target: member,
                    backfill: false,
                    objects,
                };
                self.send_osd(source, &msg).await;
            }
        }
        let active = self.acting.len() >= self.min_size();
        if let Some(p) = &mut self.primary {
            p.phase = if active { Phase::Active } else { Phase::Peered };
        }
        tracing::debug!(target: "osd", "osd.{} pg {}: {} at {}", self.sh.id, self.pgid, self.state_name(), self.info.last_update);
        self.report_stat();
        if active {
            self.run_waiting().await;
            self.trim_step().await;
        }
    }
}

/// Replaces an object's stored versions (head and clones) by `state` (nothing, when it does
/// not exist), in `t`.
pub(super) fn replace_family(
    store: &dyn ObjectStore,
    cid: crate::store::CollectionId,
    oid: &ObjectId,
    state: &ObjectState,
    t: &mut Transaction,
) -> Result<(), String> {
    remove_family(store, cid, oid, t);
    if state.exists {
        apply_state(t, cid, oid, state);
        apply_clones(t, cid, oid, &state.clones)
            .map_err(|e| format!("bad push of {}: {e}", state.object.name))?;
    }
    Ok(())
}

/// The client head objects after `after` up to `upto` (inclusive; `None`: from the start,
/// to the end), in listing order.
pub(super) fn list_range(
    store: &dyn ObjectStore,
    pool: i64,
    cid: crate::store::CollectionId,
    after: Option<&(u32, ObjectName)>,
    upto: Option<&(u32, ObjectName)>,
) -> StoreResult<Vec<(u32, ObjectName)>> {
    let mut out = Vec::new();
    let mut cursor = match after {
        Some((h, o)) => ListCursor::After(store_oid(pool, *h, o)),
        None => ListCursor::Start,
    };
    let end = upto.map(|(h, o)| store_oid(pool, *h, o));
    loop {
        let page = store.list_objects(cid, &cursor, 1024)?;
        for oid in page.objects {
            if end.as_ref().is_some_and(|e| oid.cmp(e).is_gt()) {
                return Ok(out);
            }
            if super::push::is_client_version(&oid) && oid.snap == SNAP_HEAD {
                out.push((
                    oid.hash,
                    ObjectName {
                        namespace: oid.namespace,
                        key: oid.key,
                        name: oid.name,
                    },
                ));
            }
        }
        match page.next {
            Some(c) => cursor = c,
            None => return Ok(out),
        }
    }
}

/// Removes every stored version of an object: its head and any clone of it (found by
/// listing, so even a clone its SnapSet no longer names goes); not the temporary objects of
/// a push in progress.
pub(super) fn remove_family(
    store: &dyn ObjectStore,
    cid: crate::store::CollectionId,
    head: &ObjectId,
    t: &mut Transaction,
) {
    // Versions of one object sort together, clones (ascending snap) before the head.
    let first = head.clone().with_snap(0).with_generation(0);
    let mut cursor = ListCursor::After(first);
    loop {
        let Ok(page) = store.list_objects(cid, &cursor, 64) else {
            return;
        };
        for oid in &page.objects {
            let same = oid.hash == head.hash
                && oid.namespace == head.namespace
                && oid.key == head.key
                && oid.name == head.name;
            if !same {
                return;
            }
            if oid.generation == crate::store::NO_GEN {
                t.remove(cid, oid);
            }
        }
        match page.next {
            Some(c) => cursor = c,
            None => return,
        }
    }
}

fn apply_state(
    t: &mut Transaction,
    cid: crate::store::CollectionId,
    oid: &ObjectId,
    s: &ObjectState,
) {
    t.touch(cid, oid);
    if !s.data.is_empty() {
        t.write(cid, oid, 0, s.data.clone());
    }
    if !s.xattrs.is_empty() {
        t.setattrs(
            cid,
            oid,
            s.xattrs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
    }
    if !s.omap.is_empty() {
        t.omap_setkeys(cid, oid, s.omap.clone());
    }
    if !s.omap_header.is_empty() {
        t.omap_setheader(cid, oid, s.omap_header.clone());
    }
    t.set_object_mtime(cid, oid, s.mtime_ns);
}

/// Objects (whiteouts excluded), bytes (clones' unshared bytes included) and clones.
fn count_objects(
    store: &dyn ObjectStore,
    cid: crate::store::CollectionId,
) -> StoreResult<(u64, u64, u64)> {
    let (mut objects, mut bytes, mut clones) = (0, 0, 0);
    let mut cursor = ListCursor::Start;
    loop {
        let page = store.list_objects(cid, &cursor, 1024)?;
        for oid in page
            .objects
            .iter()
            .filter(|o| super::push::is_client_version(o) && o.snap == SNAP_HEAD)
        {
            let Ok(l) = exec::load(store, cid, oid) else {
                continue;
            };
            if l.exists() {
                objects += 1;
                bytes += l.size;
            }
            bytes += l.ss.clone_bytes();
            clones += l.ss.clones.len() as u64;
        }
        match page.next {
            Some(c) => cursor = c,
            None => return Ok((objects, bytes, clones)),
        }
    }
}

pub(super) fn read_state(
    store: &dyn ObjectStore,
    pool: i64,
    cid: crate::store::CollectionId,
    hash: u32,
    name: &ObjectName,
) -> StoreResult<ObjectState> {
    let oid = store_oid(pool, hash, name);
    let mut s = read_one(store, cid, &oid, name, hash, None)?;
    if s.exists {
        if let Ok(l) = exec::load(store, cid, &oid) {
            for c in &l.ss.clones {
                // Only what the clone does not share with the next newer version travels.
                let delta = crate::snap::unshared_extents(c);
                let coid = oid.clone().with_snap(c.id);
                let clone = read_one(store, cid, &coid, name, hash, Some(delta))?;
                if clone.exists {
                    s.clones.push((c.id, clone));
                }
            }
        }
    }
    Ok(s)
}

/// Builds clones newest first, each from the next newer version plus its own extents (see
/// [`ObjectState::delta`]); the head must already be in `t`.
fn apply_clones(
    t: &mut Transaction,
    cid: crate::store::CollectionId,
    head: &ObjectId,
    clones: &[(u64, ObjectState)],
) -> Result<(), String> {
    let mut next = head.clone();
    for (id, c) in clones.iter().rev() {
        let coid = head.clone().with_snap(*id);
        match &c.delta {
            None => apply_state(t, cid, &coid, c),
            Some(extents) => {
                let total: u64 = extents.iter().map(|e| e.1).sum();
                if total != c.data.len() as u64 {
                    return Err(format!(
                        "clone {coid}: {} bytes pushed for {total} bytes of extents",
                        c.data.len()
                    ));
                }
                t.clone_object(cid, &next, &coid);
                t.truncate(cid, &coid, c.size);
                let mut at = 0usize;
                for &(o, len) in extents {
                    let end = at + len as usize;
                    t.write(cid, &coid, o, c.data.slice(at..end));
                    at = end;
                }
                t.rmattrs(cid, &coid);
                if !c.xattrs.is_empty() {
                    t.setattrs(
                        cid,
                        &coid,
                        c.xattrs
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    );
                }
                t.omap_clear(cid, &coid);
                if !c.omap.is_empty() {
                    t.omap_setkeys(cid, &coid, c.omap.clone());
                }
                if !c.omap_header.is_empty() {
                    t.omap_setheader(cid, &coid, c.omap_header.clone());
                }
                t.set_object_mtime(cid, &coid, c.mtime_ns);
            }
        }
        next = coid;
    }
    Ok(())
}

/// One stored version's state; with `delta`, only those extents of its data.
fn read_one(
    store: &dyn ObjectStore,
    cid: crate::store::CollectionId,
    oid: &ObjectId,
    name: &ObjectName,
    hash: u32,
    delta: Option<Vec<(u64, u64)>>,
) -> StoreResult<ObjectState> {
    let oid = oid.clone();
    let mut s = ObjectState {
        object: name.clone(),
        hash,
        ..ObjectState::default()
    };
    let stat = match store.stat(cid, &oid) {
        Ok(st) => st,
        Err(crate::store::StoreError::ObjectNotFound { .. }) => return Ok(s),
        Err(e) => return Err(e),
    };
    s.exists = true;
    s.mtime_ns = stat.mtime_ns;
    s.size = stat.size;
    s.data = match &delta {
        _ if stat.size == 0 => Bytes::new(),
        None => store.read(cid, &oid, 0, stat.size)?,
        Some(extents) => {
            let mut buf = Vec::with_capacity(extents.iter().map(|e| e.1 as usize).sum());
            for &(o, len) in extents {
                let part = store.read(cid, &oid, o, len)?;
                if part.len() as u64 != len {
                    return Err(crate::store::StoreError::invalid(format!(
                        "clone {oid} is shorter than its snapset says"
                    )));
                }
                buf.extend_from_slice(&part);
            }
            Bytes::from(buf)
        }
    };
    s.delta = delta;
    s.xattrs = store.getattrs(cid, &oid)?;
    s.omap = store
        .omap_list(cid, &oid, None, None, usize::MAX)?
        .entries
        .into_iter()
        .map(|(k, v)| (Bytes::from(k), Bytes::from(v)))
        .collect();
    s.omap_header = store.omap_get_header(cid, &oid)?;
    Ok(s)
}

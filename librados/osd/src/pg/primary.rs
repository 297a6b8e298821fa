//! The primary's side of client requests: checks, per-object ordering, execution, and the
//! replicated write path.

use super::{InFlight, ObjKey, Pg, PgEvent, Phase, ReplyTo, StatDelta};
use crate::errno;
use crate::exec::{self, ExecEnv, MAX_NAME_LEN, MAX_OBJECT_SIZE};
use crate::msg::ops::{
    Eversion, ObjectName, OpOutcome, OpStep, OsdOpReply, OsdOpRequest, PgListReply, PgListRequest,
    StepResult,
};
use crate::msg::peering::{LogEntry, LogOp, MAX_LOGGED_RESULTS_BYTES};
use crate::msg::{command::WireError, EntityName, Envelope, Message};
use crate::snap;
use crate::store::{ListCursor, ObjectId, Transaction, SNAP_HEAD};

/// Most objects one listing request returns.
pub const MAX_LIST: u32 = 4096;

pub(super) fn store_oid(pool: i64, hash: u32, o: &ObjectName) -> ObjectId {
    ObjectId::new(pool, o.name.clone(), hash)
        .with_namespace(o.namespace.clone())
        .with_key(o.key.clone())
}

/// The results a write's log entry keeps (see [`LogEntry::results`]).
fn results_to_log(results: &[StepResult]) -> Vec<StepResult> {
    if results.iter().all(|r| *r == StepResult::default()) {
        return Vec::new();
    }
    match rmp_serde::to_vec(results) {
        Ok(b) if b.len() <= MAX_LOGGED_RESULTS_BYTES => results.to_vec(),
        _ => Vec::new(),
    }
}

impl Pg {
    /// A client request (op or listing) arriving at this PG.
    pub(super) async fn on_client(&mut self, env: Envelope) {
        let Some(p) = &mut self.primary else {
            self.retry(env).await;
            return;
        };
        if env.epoch < self.interval {
            self.retry(env).await;
            return;
        }
        if !matches!(p.phase, Phase::Active) {
            self.waiting.push_back(env);
            return;
        }
        self.admit(env).await;
    }

    /// Runs queued client requests once the PG is active.
    pub(super) async fn run_waiting(&mut self) {
        for env in std::mem::take(&mut self.waiting) {
            self.admit(env).await;
        }
    }

    /// Orders a request behind earlier ones on the same object, or runs it.
    async fn admit(&mut self, env: Envelope) {
        let req = match &env.msg {
            Message::OsdOp(req) => req,
            Message::PgList(_) if !self.missing.is_empty() => {
                // The primary lists its own objects: not before it holds them all.
                self.waiting.push_back(env);
                return;
            }
            Message::PgList(_) => {
                self.list(env).await;
                return;
            }
            _ => return,
        };
        let key: ObjKey = (req.hash, req.object.clone());
        let is_write = req.steps.iter().any(|s| s.is_write());
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        if let Some(members) = p.recovering.get(&key) {
            // Some member does not hold it yet: it goes next, and the op waits for it.
            let members: Vec<i32> = members.iter().copied().collect();
            let source = p.recovery_source;
            let first = p.objects.get(&key).is_none_or(|q| q.waiting.is_empty());
            p.objects
                .entry(key.clone())
                .or_default()
                .waiting
                .push_back(env);
            if !first {
                return;
            }
            tracing::debug!(target: "osd", "osd.{} pg {}: recovering {} first for a client", self.sh.id, self.pgid, key.1.name);
            for m in members {
                if source == self.sh.id {
                    if let Some(s) = self.pushes.get_mut(&m) {
                        s.prioritise(&key);
                    }
                } else {
                    let msg = Message::PgPushFirst {
                        pgid: self.pgid,
                        interval: self.interval,
                        target: m,
                        object: key.clone(),
                    };
                    self.send_osd(source, &msg).await;
                }
            }
            return;
        }
        if let Some(q) = p.objects.get_mut(&key) {
            if !q.waiting.is_empty() || (!is_write && q.in_flight > 0) {
                q.waiting.push_back(env);
                return;
            }
        }
        self.run_op(env).await;
    }

    /// The authority says `target` took these objects.
    pub(super) async fn on_recovered(
        &mut self,
        from: i32,
        interval: u32,
        target: i32,
        objects: Vec<ObjKey>,
    ) {
        let source = self.primary.as_ref().map(|p| p.recovery_source);
        if interval != self.interval || source != Some(from) || from == self.sh.id {
            tracing::debug!(target: "osd", "osd.{} pg {}: ignoring word of recovered objects from osd.{from} for interval {interval}", self.sh.id, self.pgid);
            return;
        }
        self.recovered(target, objects).await;
    }

    /// `target` holds these objects now: the ops waiting for one run once no member lacks it.
    pub(super) async fn recovered(&mut self, target: i32, objects: Vec<ObjKey>) {
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        if p.recovering.is_empty() {
            return;
        }
        let mut ready = Vec::new();
        for key in objects {
            if let Some(members) = p.recovering.get_mut(&key) {
                members.remove(&target);
                if members.is_empty() {
                    p.recovering.remove(&key);
                    ready.push(key);
                }
            }
        }
        let done = p.recovering.is_empty();
        for key in &ready {
            self.drain(key).await;
        }
        if done {
            tracing::debug!(target: "osd", "osd.{} pg {}: recovered", self.sh.id, self.pgid);
            // Objects snap trimming passed over may be trimmed now.
            self.trim_step().await;
        }
        self.report_stat();
    }

    /// Runs queued requests of an object whose writes have all completed.
    async fn drain(&mut self, key: &ObjKey) {
        loop {
            let Some(p) = self.primary.as_mut() else {
                return;
            };
            if p.recovering.contains_key(key) {
                return;
            }
            let Some(q) = p.objects.get_mut(key) else {
                return;
            };
            let Some(front) = q.waiting.front() else {
                if q.in_flight == 0 {
                    p.objects.remove(key);
                }
                return;
            };
            let is_write = match &front.msg {
                Message::OsdOp(r) => r.steps.iter().any(|s| s.is_write()),
                _ => false,
            };
            if !is_write && q.in_flight > 0 {
                return;
            }
            let env = q.waiting.pop_front().expect("front");
            self.run_op(env).await;
        }
    }

    pub(super) async fn reply(
        &mut self,
        env_src: crate::msg::EntityName,
        tid: u64,
        reqid: crate::msg::ops::ReqId,
        outcome: OpOutcome,
    ) {
        let msg = Message::OsdOpReply(Box::new(OsdOpReply { reqid, outcome }));
        self.send(env_src, tid, &msg).await;
    }

    /// Answers a request that failed at step `index` with `errno`, nothing changed.
    async fn fail(
        &mut self,
        src: crate::msg::EntityName,
        tid: u64,
        reqid: crate::msg::ops::ReqId,
        index: usize,
        errno: i32,
    ) {
        let outcome = OpOutcome::Failed {
            index: index as u32,
            errno,
            results: Vec::new(),
        };
        self.reply(src, tid, reqid, outcome).await;
    }

    fn check_request(&self, req: &OsdOpRequest) -> Result<(), i32> {
        let name = &req.object.name;
        if name.is_empty() {
            return Err(errno::EINVAL);
        }
        // Bounded before anything is expanded (a write-same of a few bytes may ask for a
        // large extent): a request writes at most what one object may hold. Ceph refuses
        // writes over its osd_max_write_size the same way.
        let written = req
            .steps
            .iter()
            .fold(0u64, |n, s| n.saturating_add(s.written_bytes()));
        if written > MAX_OBJECT_SIZE {
            return Err(errno::EMSGSIZE);
        }
        // Steps allowed to fail must be steps of the request, named in ascending order.
        let ascending = req.failok.windows(2).all(|p| p[0] < p[1]);
        let in_range = req
            .failok
            .last()
            .is_none_or(|&i| (i as usize) < req.steps.len());
        if !ascending || !in_range {
            return Err(errno::EINVAL);
        }
        if name.len() > MAX_NAME_LEN || req.object.key.len() > MAX_NAME_LEN {
            return Err(errno::ENAMETOOLONG);
        }
        let map = self.map.as_ref().ok_or(errno::EAGAIN)?;
        let pool = map.pool(self.pgid.pool).ok_or(errno::ENOENT)?;
        let key = if req.object.key.is_empty() {
            name
        } else {
            &req.object.key
        };
        let hash = pool.hash_key(key.as_bytes(), req.object.namespace.as_bytes());
        let pg = pool.raw_pg_to_pg(crate::osdmap::PgId::new(pool.id, hash));
        if hash != req.hash || pg != self.pgid {
            return Err(errno::EINVAL);
        }
        Ok(())
    }

    async fn run_op(&mut self, env: Envelope) {
        let Message::OsdOp(req) = env.msg else { return };
        let (src, tid, reqid) = (env.src, env.tid, req.reqid);
        // Checked when the request runs, not when it arrived: a request queued behind others
        // when its client was fenced is refused too. A ping learns that its watch is gone
        // (the fence dropped it), as Ceph answers it.
        if self.is_blocklisted(src) {
            let ping = matches!(req.steps.as_slice(), [OpStep::WatchPing { .. }]);
            let e = if ping {
                errno::ENOTCONN
            } else {
                errno::EBLOCKLISTED
            };
            self.fail(src, tid, reqid, 0, e).await;
            return;
        }
        if let Err(e) = self.check_request(&req) {
            self.fail(src, tid, reqid, 0, e).await;
            return;
        }
        if let [step] = req.steps.as_slice() {
            if step.is_watch() {
                self.watch_op(src, tid, &req, step.clone()).await;
                return;
            }
        }
        let is_write = req.steps.iter().any(|s| s.is_write());
        if is_write {
            if let Some(entry) = self.log.find_request(&reqid) {
                // A resend of a write already applied. Still in flight: it is answered when
                // every member has committed it, not before. Else: answer it as the first
                // attempt was.
                let version = entry.version;
                if let Some(w) = self
                    .primary
                    .as_mut()
                    .and_then(|p| p.in_flight.get_mut(&version))
                {
                    w.also_reply.push((src, tid));
                    return;
                }
                let results = if entry.results.len() == req.steps.len() {
                    entry.results.clone()
                } else {
                    vec![StepResult::default(); req.steps.len()]
                };
                let outcome = OpOutcome::Done {
                    results,
                    user_version: entry.user_version,
                };
                self.reply(src, tid, reqid, outcome).await;
                return;
            }
        }
        // Snapshots are read-only: at a snap only reads run, and class methods that only
        // read. A write is EROFS (the client refuses those first); a class method that writes
        // is EINVAL, as Ceph's OSD answers it (and one that changed the object anyway is
        // refused the same way below).
        if req.snap != SNAP_HEAD {
            let refused = req.steps.iter().find_map(|s| match s {
                OpStep::Exec { class, method, .. } => (crate::class::method_writes(class, method)
                    == Some(true))
                .then_some(errno::EINVAL),
                other => other.always_writes().then_some(errno::EROFS),
            });
            if let Some(errno) = refused {
                self.fail(src, tid, reqid, 0, errno).await;
                return;
            }
        }
        let head = store_oid(self.pgid.pool, req.hash, &req.object);
        let lists_snaps = req.steps.iter().all(|s| matches!(s, OpStep::ListSnaps));
        let oid = if lists_snaps {
            Ok(head)
        } else {
            exec::resolve_snap(self.sh.store.as_ref(), self.cid, &head, req.snap)
        };
        let oid = match oid {
            Ok(oid) => oid,
            Err(errno) => {
                self.fail(src, tid, reqid, 0, errno).await;
                return;
            }
        };
        let snapc = self
            .map
            .as_ref()
            .and_then(|m| m.pool(self.pgid.pool))
            .map(|p| snap::effective_snapc(p, &req.snapc))
            .unwrap_or_default();
        let version = self.next_version();
        let xenv = ExecEnv {
            caller: src.to_string(),
            now_ns: crate::store::transaction::now_ns(),
            failok: req.failok.clone(),
        };
        let ex = exec::execute(
            self.sh.store.as_ref(),
            self.cid,
            &oid,
            &req.steps,
            version.version,
            &xenv,
            &snapc,
        );
        if let Some((index, errno)) = ex.failed {
            let outcome = OpOutcome::Failed {
                index: index as u32,
                errno,
                results: ex.results,
            };
            self.reply(src, tid, reqid, outcome).await;
            return;
        }
        if ex.modified && req.snap != SNAP_HEAD {
            // A class method that wrote, called at a snap: nothing is applied.
            let index = req.steps.iter().position(OpStep::is_write).unwrap_or(0);
            self.fail(src, tid, reqid, index, errno::EINVAL).await;
            return;
        }
        if !ex.modified {
            let outcome = OpOutcome::Done {
                results: ex.results,
                user_version: ex.user_version,
            };
            self.reply(src, tid, reqid, outcome).await;
            return;
        }
        let entry = LogEntry {
            version,
            reqid,
            object: req.object.clone(),
            hash: req.hash,
            op: if ex.exists {
                LogOp::Modify
            } else {
                LogOp::Delete
            },
            user_version: version.version,
            results: results_to_log(&ex.results),
        };
        let delta = StatDelta {
            objects: i64::from(ex.exists) - i64::from(ex.existed),
            bytes: (ex.size_after + ex.clone_bytes_after) as i64
                - (ex.size_before + ex.clone_bytes_before) as i64,
            clones: ex.clones_after as i64 - ex.clones_before as i64,
        };
        let mut txn = ex.txn;
        txn.set_mtime_ns(req.mtime_ns);
        let reply_to = Some(ReplyTo {
            client: src,
            tid,
            results: ex.results,
        });
        if let Err(errno) = self.submit_write(entry, txn, delta, reply_to).await {
            let outcome = OpOutcome::Failed {
                index: 0,
                errno,
                results: Vec::new(),
            };
            self.reply(src, tid, reqid, outcome).await;
        }
    }

    /// The position the next write gets.
    pub(super) fn next_version(&self) -> Eversion {
        Eversion {
            epoch: self.epoch(),
            version: self.info.last_update.version + 1,
        }
    }

    /// Logs and applies a write locally and sends it to the replicas; it completes (and
    /// `reply_to`, if any, is answered) once every acting member committed it. Fails, with
    /// nothing changed, when the local store refuses it or it is too large to replicate
    /// (E2BIG: it would not fit a message).
    pub(super) async fn submit_write(
        &mut self,
        entry: LogEntry,
        mut txn: Transaction,
        delta: StatDelta,
        reply_to: Option<ReplyTo>,
    ) -> Result<(), i32> {
        let version = entry.version;
        let mut info = self.info.clone();
        info.last_update = version;
        info.objects = info.objects.saturating_add_signed(delta.objects);
        info.bytes = info.bytes.saturating_add_signed(delta.bytes);
        info.clones = info.clones.saturating_add_signed(delta.clones);
        self.log
            .stage_append(&entry, &mut info, &mut txn)
            .map_err(|e| e.errno())?;
        let interval = self.interval;
        let replicas = self.replicas();
        // Encoded once for every replica, and before anything is applied, so that a write
        // that cannot be replicated is refused rather than left waiting for replicas.
        let frame = if replicas.is_empty() {
            None
        } else {
            let rep = Message::RepOp {
                pgid: self.pgid,
                interval,
                entry: entry.clone(),
                txn: txn.clone(),
            };
            let tid = self.next_tid();
            let frame = self.sh.msgr.encode(tid, self.epoch(), &rep);
            Some(frame.map_err(|e| e.errno())?)
        };
        let commit = self.sh.queue(txn).map_err(|e| e.errno())?;
        self.info = info;
        self.log.apply_append(entry.clone());
        let key: ObjKey = (entry.hash, entry.object.clone());
        {
            let p = self.primary.as_mut().expect("primary");
            p.objects.entry(key.clone()).or_default().in_flight += 1;
            p.in_flight.insert(
                version,
                InFlight {
                    waiting: self.acting.iter().copied().collect(),
                    reply_to,
                    also_reply: Vec::new(),
                    reqid: entry.reqid,
                    user_version: entry.user_version,
                    key,
                    removes: entry.op == LogOp::Delete,
                },
            );
        }
        for r in replicas {
            let Some(frame) = frame.clone() else { break };
            if let Err(e) = self.sh.msgr.deliver(EntityName::osd(r), frame).await {
                // Unreachable: it is down, and the next map starts a new interval.
                tracing::debug!(target: "osd", "osd.{} pg {}: RepOp to osd.{r}: {e}", self.sh.id, self.pgid);
            }
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = commit.await.map_err(|e| WireError {
                errno: e.errno(),
                message: e.to_string(),
            });
            let _ = tx.send(PgEvent::LocalCommitted {
                interval,
                version,
                result,
            });
        });
        self.report_stat();
        Ok(())
    }

    /// A member (or the local store) committed the write at `version`.
    pub(super) async fn on_commit(
        &mut self,
        from: i32,
        interval: u32,
        version: Eversion,
        result: Result<(), WireError>,
    ) {
        if interval != self.interval {
            return;
        }
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        let Some(w) = p.in_flight.get_mut(&version) else {
            return;
        };
        if let Err(e) = &result {
            self.sh.clog_error(format!(
                "pg {}: osd.{from} failed to commit {version}: {}",
                self.pgid, e.message
            ));
            let w = p.in_flight.remove(&version).expect("present");
            let key = w.key.clone();
            if let Some(q) = p.objects.get_mut(&key) {
                q.in_flight = q.in_flight.saturating_sub(1);
            }
            // The store's reason, as its errno (ENOSPC for a full store, EIO otherwise).
            let outcome = OpOutcome::Failed {
                index: 0,
                errno: if e.errno == 0 { errno::EIO } else { e.errno },
                results: Vec::new(),
            };
            if let Some(to) = w.reply_to {
                self.reply(to.client, to.tid, w.reqid, outcome.clone())
                    .await;
            }
            for (client, tid) in w.also_reply {
                self.reply(client, tid, w.reqid, outcome.clone()).await;
            }
            self.write_done(&key).await;
            return;
        }
        w.waiting.remove(&from);
        if !w.waiting.is_empty() {
            return;
        }
        let w = p.in_flight.remove(&version).expect("present");
        if let Some(q) = p.objects.get_mut(&w.key) {
            q.in_flight = q.in_flight.saturating_sub(1);
        }
        let key = w.key.clone();
        if w.removes {
            // Watchers learn of the removal before its writer does.
            self.disconnect_watchers(&key).await;
        }
        let results = w.reply_to.as_ref().map(|t| t.results.clone());
        if let Some(to) = w.reply_to {
            let outcome = OpOutcome::Done {
                results: to.results,
                user_version: w.user_version,
            };
            self.reply(to.client, to.tid, w.reqid, outcome).await;
        }
        for (client, tid) in w.also_reply {
            let outcome = OpOutcome::Done {
                results: results.clone().unwrap_or_default(),
                user_version: w.user_version,
            };
            self.reply(client, tid, w.reqid, outcome).await;
        }
        self.write_done(&key).await;
    }

    /// A write on `key` finished: run what waited for it, and go on trimming.
    async fn write_done(&mut self, key: &ObjKey) {
        self.drain(key).await;
        self.trim_step().await;
    }

    /// One page of the PG's objects, in listing order, after the request's cursor.
    async fn list(&mut self, env: Envelope) {
        let Message::PgList(req) = &env.msg else {
            return;
        };
        let result = if self.is_blocklisted(env.src) {
            Err(WireError {
                errno: errno::EBLOCKLISTED,
                message: format!("{} is blocklisted", self.sh.msgr.addr_of(env.src)),
            })
        } else {
            self.list_page(req).map_err(|e| WireError {
                errno: e.errno(),
                message: e.to_string(),
            })
        };
        self.send(env.src, env.tid, &Message::PgListReply(result))
            .await;
    }

    /// Whether the object with head `oid` exists at `snap` (whiteouts never do).
    fn listed_at(&self, oid: &ObjectId, snap: u64) -> bool {
        exec::resolve_snap(self.sh.store.as_ref(), self.cid, oid, snap)
            .is_ok_and(|target| target.snap != SNAP_HEAD || self.is_live(&target))
    }

    fn is_live(&self, head: &ObjectId) -> bool {
        exec::load(self.sh.store.as_ref(), self.cid, head).is_ok_and(|l| l.exists())
    }

    fn list_page(&self, req: &PgListRequest) -> crate::store::StoreResult<PgListReply> {
        let max = req.max.clamp(1, MAX_LIST) as usize;
        let mut cursor = match &req.after {
            Some((hash, o)) => ListCursor::After(store_oid(self.pgid.pool, *hash, o)),
            None => ListCursor::Start,
        };
        let mut objects = Vec::new();
        loop {
            let page = self.sh.store.list_objects(self.cid, &cursor, max)?;
            for oid in page.objects {
                if !super::push::is_client_version(&oid)
                    || oid.snap != SNAP_HEAD
                    || req
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| *ns != oid.namespace)
                    || !self.listed_at(&oid, req.snap)
                {
                    continue;
                }
                objects.push((
                    oid.hash,
                    ObjectName {
                        namespace: oid.namespace,
                        key: oid.key,
                        name: oid.name,
                    },
                ));
                if objects.len() == max {
                    return Ok(PgListReply {
                        objects,
                        more: true,
                    });
                }
            }
            match page.next {
                Some(next) => cursor = next,
                None => {
                    return Ok(PgListReply {
                        objects,
                        more: false,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ops::StepOutput;

    #[test]
    fn a_log_entry_keeps_only_small_meaningful_results() {
        let none = vec![StepResult::default(); 3];
        assert!(results_to_log(&none).is_empty());
        let failed = vec![
            StepResult {
                rval: -errno::EEXIST,
                out: StepOutput::Failed {
                    errno: errno::EEXIST,
                },
            },
            StepResult::default(),
        ];
        assert_eq!(results_to_log(&failed), failed);
        let big = vec![StepResult {
            rval: 0,
            out: StepOutput::Data(bytes::Bytes::from(vec![7u8; MAX_LOGGED_RESULTS_BYTES])),
        }];
        assert!(results_to_log(&big).is_empty());
    }
}

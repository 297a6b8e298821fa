//! The primary's side of client requests: checks, per-object ordering, execution, and the
//! replicated write path.

use super::{InFlight, ObjKey, Pg, PgEvent, Phase};
use crate::errno;
use crate::msg::ops::{
    Eversion, ObjectName, OpOutcome, OpStep, OsdOpReply, OsdOpRequest, PgListReply, PgListRequest,
    StepResult,
};
use crate::msg::peering::{LogEntry, LogOp};
use crate::msg::{command::WireError, Envelope, Message};
use crate::osd::exec::{self, ExecEnv, MAX_NAME_LEN};
use crate::store::{ListCursor, ObjectId};

/// Most objects one listing request returns.
pub const MAX_LIST: u32 = 4096;

pub(super) fn store_oid(pool: i64, hash: u32, o: &ObjectName) -> ObjectId {
    ObjectId::new(pool, o.name.clone(), hash)
        .with_namespace(o.namespace.clone())
        .with_key(o.key.clone())
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
        let q = p.objects.entry(key).or_default();
        if !q.waiting.is_empty() || (!is_write && q.in_flight > 0) {
            q.waiting.push_back(env);
            return;
        }
        self.run_op(env).await;
    }

    /// Runs queued requests of an object whose writes have all completed.
    async fn drain(&mut self, key: &ObjKey) {
        loop {
            let Some(p) = self.primary.as_mut() else {
                return;
            };
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

    fn check_request(&self, req: &OsdOpRequest) -> Result<(), i32> {
        let name = &req.object.name;
        if name.is_empty() {
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
        if let Err(e) = self.check_request(&req) {
            let outcome = OpOutcome::Failed {
                index: 0,
                errno: e,
                results: Vec::new(),
            };
            self.reply(src, tid, reqid, outcome).await;
            return;
        }
        if let [step @ (OpStep::Watch { .. } | OpStep::Unwatch { .. } | OpStep::Notify { .. })] =
            req.steps.as_slice()
        {
            self.watch_op(src, tid, &req, step.clone()).await;
            return;
        }
        let is_write = req.steps.iter().any(|s| s.is_write());
        if is_write {
            if let Some((_, user_version)) = self.log.find_request(&reqid) {
                // A resend of a write already applied: acknowledge it again.
                let results = vec![StepResult::default(); req.steps.len()];
                let outcome = OpOutcome::Done {
                    results,
                    user_version,
                };
                self.reply(src, tid, reqid, outcome).await;
                return;
            }
        }
        let oid = store_oid(self.pgid.pool, req.hash, &req.object);
        let version = Eversion {
            epoch: self.epoch(),
            version: self.info.last_update.version + 1,
        };
        let xenv = ExecEnv {
            caller: src.to_string(),
            now_ns: crate::store::transaction::now_ns(),
        };
        let ex = exec::execute(
            self.sh.store.as_ref(),
            self.cid,
            &oid,
            &req.steps,
            version.version,
            &xenv,
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
        };
        let mut info = self.info.clone();
        info.last_update = version;
        info.objects = (info.objects + u64::from(ex.exists)).saturating_sub(u64::from(ex.existed));
        info.bytes = (info.bytes + ex.size_after).saturating_sub(ex.size_before);
        let mut txn = ex.txn;
        txn.set_mtime_ns(req.mtime_ns);
        let queued = self
            .log
            .stage_append(&entry, &mut info, &mut txn)
            .and_then(|()| self.sh.store.queue_transaction(txn.clone()));
        let commit = match queued {
            Ok(c) => c,
            Err(e) => {
                let outcome = OpOutcome::Failed {
                    index: 0,
                    errno: e.errno(),
                    results: Vec::new(),
                };
                self.reply(src, tid, reqid, outcome).await;
                return;
            }
        };
        self.info = info;
        self.log.apply_append(entry.clone());
        let key: ObjKey = (req.hash, req.object.clone());
        let interval = self.interval;
        let replicas = self.replicas();
        {
            let p = self.primary.as_mut().expect("primary");
            p.objects.entry(key.clone()).or_default().in_flight += 1;
            p.in_flight.insert(
                version,
                InFlight {
                    waiting: self.acting.iter().copied().collect(),
                    client: src,
                    tid,
                    reqid,
                    results: ex.results,
                    user_version: version.version,
                    key,
                },
            );
        }
        let rep = Message::RepOp {
            pgid: self.pgid,
            interval,
            entry,
            txn,
        };
        for r in replicas {
            self.send_osd(r, &rep).await;
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = commit.await.map_err(|e| e.to_string());
            let _ = tx.send(PgEvent::LocalCommitted {
                interval,
                version,
                result,
            });
        });
        self.report_stat();
    }

    /// A member (or the local store) committed the write at `version`.
    pub(super) async fn on_commit(
        &mut self,
        from: i32,
        interval: u32,
        version: Eversion,
        result: Result<(), String>,
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
            tracing::error!(target: "osd", "osd.{} pg {}: osd.{from} failed to commit {version}: {e}", self.sh.id, self.pgid);
            let w = p.in_flight.remove(&version).expect("present");
            let key = w.key.clone();
            if let Some(q) = p.objects.get_mut(&key) {
                q.in_flight = q.in_flight.saturating_sub(1);
            }
            let outcome = OpOutcome::Failed {
                index: 0,
                errno: errno::EIO,
                results: Vec::new(),
            };
            self.reply(w.client, w.tid, w.reqid, outcome).await;
            self.drain(&key).await;
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
        let outcome = OpOutcome::Done {
            results: w.results,
            user_version: w.user_version,
        };
        self.reply(w.client, w.tid, w.reqid, outcome).await;
        self.drain(&key).await;
    }

    /// One page of the PG's objects, in listing order, after the request's cursor.
    async fn list(&mut self, env: Envelope) {
        let Message::PgList(req) = &env.msg else {
            return;
        };
        let result = self.list_page(req).map_err(|e| WireError {
            errno: e.errno(),
            message: e.to_string(),
        });
        self.send(env.src, env.tid, &Message::PgListReply(result))
            .await;
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
                if oid.name.is_empty()
                    || req
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| *ns != oid.namespace)
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

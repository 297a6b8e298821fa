//! Watch/notify on the primary: watchers per object (in memory; clients register again after
//! an interval change), notifies sent to every watcher and answered once all acknowledged or
//! the notify's timeout passed (then ETIMEDOUT, as Ceph reports it).

use super::{ObjKey, Pg, PgEvent};
use crate::errno;
use crate::msg::ops::{OpOutcome, OpStep, OsdOpRequest, ReqId, StepOutput, StepResult};
use crate::msg::{EntityName, Message};
use bytes::Bytes;
use std::collections::BTreeSet;
use std::time::Duration;

/// Longest a notify may wait for its watchers.
pub const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(300);

/// A notify waiting for acknowledgements.
pub(super) struct Notify {
    waiting: BTreeSet<(u64, u64)>,
    acks: Vec<(u64, u64, Bytes)>,
    client: EntityName,
    tid: u64,
    reqid: ReqId,
}

impl Pg {
    pub(super) async fn watch_op(
        &mut self,
        src: EntityName,
        tid: u64,
        req: &OsdOpRequest,
        step: OpStep,
    ) {
        let key: ObjKey = (req.hash, req.object.clone());
        let reqid = req.reqid;
        let done = |out| OpOutcome::Done {
            results: vec![StepResult { rval: 0, out }],
            user_version: 0,
        };
        let failed = |errno| OpOutcome::Failed {
            index: 0,
            errno,
            results: Vec::new(),
        };
        let oid = super::primary::store_oid(self.pgid.pool, req.hash, &req.object);
        // A whiteout (a deleted head kept for its clones) is no object to clients.
        let exists = crate::osd::exec::load(self.sh.store.as_ref(), self.cid, &oid)
            .is_ok_and(|l| l.exists());
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        let outcome = match step {
            OpStep::Watch { cookie } if exists => {
                p.watchers.entry(key).or_default().insert((src.id, cookie));
                done(StepOutput::None)
            }
            OpStep::Watch { .. } => failed(errno::ENOENT),
            OpStep::Unwatch { cookie } => {
                let removed = p
                    .watchers
                    .get_mut(&key)
                    .is_some_and(|w| w.remove(&(src.id, cookie)));
                if p.watchers.get(&key).is_some_and(|w| w.is_empty()) {
                    p.watchers.remove(&key);
                }
                if removed {
                    done(StepOutput::None)
                } else {
                    failed(errno::ENOENT)
                }
            }
            // As in Ceph, a notify needs the object.
            OpStep::Notify { .. } if !exists => failed(errno::ENOENT),
            OpStep::Notify {
                payload,
                timeout_ms,
            } => {
                let watchers: Vec<(u64, u64)> = p
                    .watchers
                    .get(&key)
                    .map(|w| w.iter().copied().collect())
                    .unwrap_or_default();
                if watchers.is_empty() {
                    done(StepOutput::NotifyReplies {
                        acks: Vec::new(),
                        timeouts: Vec::new(),
                    })
                } else {
                    let notify_id = p.next_notify;
                    p.next_notify += 1;
                    p.notifies.insert(
                        notify_id,
                        Notify {
                            waiting: watchers.iter().copied().collect(),
                            acks: Vec::new(),
                            client: src,
                            tid,
                            reqid,
                        },
                    );
                    self.send_notifies(key, notify_id, src.id, payload, watchers)
                        .await;
                    let timeout = Duration::from_millis(timeout_ms.max(1)).min(MAX_NOTIFY_TIMEOUT);
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(timeout).await;
                        let _ = tx.send(PgEvent::NotifyTimeout { notify_id });
                    });
                    self.maybe_finish_notify(notify_id).await;
                    return;
                }
            }
            _ => failed(errno::EINVAL),
        };
        self.reply(src, tid, reqid, outcome).await;
    }

    async fn send_notifies(
        &mut self,
        key: ObjKey,
        notify_id: u64,
        notifier: u64,
        payload: Bytes,
        watchers: Vec<(u64, u64)>,
    ) {
        for (client, cookie) in watchers {
            let msg = Message::WatchNotify {
                pgid: self.pgid,
                cookie,
                notify_id,
                notifier,
                payload: payload.clone(),
            };
            let epoch = self.epoch();
            if self
                .sh
                .msgr
                .send(EntityName::client(client), notify_id, epoch, &msg)
                .await
                .is_err()
            {
                // The watcher's client is gone: so is its watch.
                if let Some(p) = self.primary.as_mut() {
                    if let Some(w) = p.watchers.get_mut(&key) {
                        w.remove(&(client, cookie));
                    }
                    if let Some(n) = p.notifies.get_mut(&notify_id) {
                        n.waiting.remove(&(client, cookie));
                    }
                }
            }
        }
    }

    pub(super) async fn on_notify_ack(
        &mut self,
        client: u64,
        cookie: u64,
        notify_id: u64,
        reply: Bytes,
    ) {
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        let Some(n) = p.notifies.get_mut(&notify_id) else {
            return;
        };
        if n.waiting.remove(&(client, cookie)) {
            n.acks.push((client, cookie, reply));
        }
        self.maybe_finish_notify(notify_id).await;
    }

    async fn maybe_finish_notify(&mut self, notify_id: u64) {
        let pending = self
            .primary
            .as_ref()
            .and_then(|p| p.notifies.get(&notify_id))
            .map(|n| n.waiting.len());
        if pending == Some(0) {
            self.finish_notify(notify_id).await;
        }
    }

    /// Answers the notifier: every acknowledgement, and ETIMEDOUT if some watchers did not.
    pub(super) async fn finish_notify(&mut self, notify_id: u64) {
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        let Some(n) = p.notifies.remove(&notify_id) else {
            return;
        };
        let timeouts: Vec<(u64, u64)> = n.waiting.iter().copied().collect();
        let out = StepOutput::NotifyReplies {
            acks: n.acks,
            timeouts: timeouts.clone(),
        };
        let outcome = if timeouts.is_empty() {
            OpOutcome::Done {
                results: vec![StepResult { rval: 0, out }],
                user_version: 0,
            }
        } else {
            OpOutcome::Failed {
                index: 0,
                errno: errno::ETIMEDOUT,
                results: vec![StepResult {
                    rval: -errno::ETIMEDOUT,
                    out,
                }],
            }
        };
        self.reply(n.client, n.tid, n.reqid, outcome).await;
    }
}

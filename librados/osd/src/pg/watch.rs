//! Watch/notify on the primary: watchers per object (in memory; clients register again after
//! an interval change), notifies sent to every watcher and answered once all acknowledged or
//! the notify's timeout passed (then ETIMEDOUT, as Ceph reports it).
//!
//! A watch lives while its client pings it: one not pinged (or registered again) within its
//! timeout has lapsed; lapsed watches are dropped whenever the object's watchers are looked
//! at, so no notify waits for them and a late ping learns ENOTCONN. Removing an object drops
//! its watches and tells each watcher (`WatchDisconnect`), once the removal is committed.
//! A map that blocklists a client drops its watches.

use super::{ObjKey, Pg, PgEvent};
use crate::errno;
use crate::msg::ops::{
    OpOutcome, OpStep, OsdOpRequest, ReqId, StepOutput, StepResult, DEFAULT_WATCH_TIMEOUT,
    MAX_WATCH_TIMEOUT,
};
use crate::msg::{EntityName, Message};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Longest a notify may wait for its watchers.
pub const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(300);

/// A watch: (client id, cookie).
pub(super) type WatchId = (u64, u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Liveness {
    timeout: Duration,
    last_seen: Instant,
}

impl Liveness {
    fn lapsed(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) > self.timeout
    }
}

/// The watches on a PG's objects and when each was last confirmed. Pure: callers pass the
/// time.
#[derive(Debug, Default)]
pub(super) struct Watchers {
    by_object: HashMap<ObjKey, BTreeMap<WatchId, Liveness>>,
}

impl Watchers {
    /// Registers (or renews) a watch; `timeout_secs` 0 means the default.
    pub(super) fn register(&mut self, key: ObjKey, id: WatchId, timeout_secs: u32, now: Instant) {
        let timeout = if timeout_secs == 0 {
            DEFAULT_WATCH_TIMEOUT
        } else {
            Duration::from_secs(u64::from(timeout_secs)).min(MAX_WATCH_TIMEOUT)
        };
        let live = Liveness {
            timeout,
            last_seen: now,
        };
        self.by_object.entry(key).or_default().insert(id, live);
    }

    /// Confirms a watch; false (and the watch is dropped) when it is not registered or has
    /// lapsed.
    pub(super) fn ping(&mut self, key: &ObjKey, id: WatchId, now: Instant) -> bool {
        self.expire(key, now);
        match self.by_object.get_mut(key).and_then(|w| w.get_mut(&id)) {
            Some(live) => {
                live.last_seen = now;
                true
            }
            None => false,
        }
    }

    /// Removes a watch; false when it was not registered.
    pub(super) fn remove(&mut self, key: &ObjKey, id: WatchId) -> bool {
        let Some(w) = self.by_object.get_mut(key) else {
            return false;
        };
        let removed = w.remove(&id).is_some();
        if w.is_empty() {
            self.by_object.remove(key);
        }
        removed
    }

    /// The object's live watches, after dropping the lapsed ones.
    pub(super) fn live(&mut self, key: &ObjKey, now: Instant) -> Vec<WatchId> {
        self.expire(key, now);
        self.by_object
            .get(key)
            .map(|w| w.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Keeps only the watches whose client passes `keep`, and returns the others.
    pub(super) fn retain_clients(&mut self, mut keep: impl FnMut(u64) -> bool) -> Vec<WatchId> {
        let mut dropped = Vec::new();
        self.by_object.retain(|_, w| {
            w.retain(|id, _| {
                let kept = keep(id.0);
                if !kept {
                    dropped.push(*id);
                }
                kept
            });
            !w.is_empty()
        });
        dropped
    }

    /// Removes every watch on the object (it is gone) and returns them.
    pub(super) fn take(&mut self, key: &ObjKey) -> Vec<WatchId> {
        self.by_object
            .remove(key)
            .map(|w| w.into_keys().collect())
            .unwrap_or_default()
    }

    fn expire(&mut self, key: &ObjKey, now: Instant) {
        if let Some(w) = self.by_object.get_mut(key) {
            w.retain(|_, live| !live.lapsed(now));
            if w.is_empty() {
                self.by_object.remove(key);
            }
        }
    }
}

/// A notify waiting for acknowledgements.
pub(super) struct Notify {
    waiting: BTreeSet<WatchId>,
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
        let exists =
            crate::exec::load(self.sh.store.as_ref(), self.cid, &oid).is_ok_and(|l| l.exists());
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        let now = Instant::now();
        let id = (src.id, cookie_of(&step));
        let outcome = match step {
            OpStep::Watch { timeout_secs, .. } if exists => {
                p.watchers.register(key, id, timeout_secs, now);
                done(StepOutput::None)
            }
            OpStep::Watch { .. } => failed(errno::ENOENT),
            // As in Ceph: ENOENT without the object, else success whether or not the watch
            // was still there (it may have lapsed).
            OpStep::Unwatch { .. } => {
                p.watchers.remove(&key, id);
                if exists {
                    done(StepOutput::None)
                } else {
                    failed(errno::ENOENT)
                }
            }
            OpStep::WatchPing { .. } if p.watchers.ping(&key, id, now) => done(StepOutput::None),
            OpStep::WatchPing { .. } => failed(errno::ENOTCONN),
            // As in Ceph, a notify needs the object.
            OpStep::Notify { .. } if !exists => failed(errno::ENOENT),
            OpStep::Notify {
                payload,
                timeout_ms,
            } => {
                let watchers = p.watchers.live(&key, now);
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

    /// The object `key` was removed (the removal is committed): its watches end, and each
    /// watcher is told so.
    pub(super) async fn disconnect_watchers(&mut self, key: &ObjKey) {
        let Some(p) = self.primary.as_mut() else {
            return;
        };
        for (client, cookie) in p.watchers.take(key) {
            let msg = Message::WatchDisconnect {
                pgid: self.pgid,
                cookie,
            };
            let tid = self.next_tid();
            self.send(EntityName::client(client), tid, &msg).await;
        }
    }

    /// Drops the watches of clients the map now fences, as Ceph does: notifies stop waiting
    /// for them, and their pings are refused (the client's watch then fails).
    pub(super) async fn drop_blocklisted_watchers(&mut self) {
        let (Some(map), Some(p)) = (self.map.as_ref(), self.primary.as_mut()) else {
            return;
        };
        if map.blocklist().is_empty() {
            return;
        }
        let msgr = &self.sh.msgr;
        let dropped = p
            .watchers
            .retain_clients(|c| !map.is_blocklisted(&msgr.addr_of(EntityName::client(c))));
        let mut touched = Vec::new();
        for (&notify_id, n) in p.notifies.iter_mut() {
            let before = n.waiting.len();
            for w in &dropped {
                n.waiting.remove(w);
            }
            if n.waiting.len() != before {
                touched.push(notify_id);
            }
        }
        for w in &dropped {
            tracing::info!(target: "osd", "osd.{} pg {}: dropped watch {} of blocklisted client.{}", self.sh.id, self.pgid, w.1, w.0);
        }
        for notify_id in touched {
            self.maybe_finish_notify(notify_id).await;
        }
    }

    async fn send_notifies(
        &mut self,
        key: ObjKey,
        notify_id: u64,
        notifier: u64,
        payload: Bytes,
        watchers: Vec<WatchId>,
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
                    p.watchers.remove(&key, (client, cookie));
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
        let timeouts: Vec<WatchId> = n.waiting.iter().copied().collect();
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

/// The cookie a watch step names (0 for a notify, which names none).
fn cookie_of(step: &OpStep) -> u64 {
    match step {
        OpStep::Watch { cookie, .. }
        | OpStep::Unwatch { cookie }
        | OpStep::WatchPing { cookie } => *cookie,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ops::ObjectName;

    fn key(name: &str) -> ObjKey {
        let name = ObjectName {
            name: name.into(),
            ..ObjectName::default()
        };
        (7, name)
    }

    #[test]
    fn a_watch_lives_while_pinged_and_lapses_after_its_timeout() {
        let t0 = Instant::now();
        let mut w = Watchers::default();
        w.register(key("a"), (1, 10), 2, t0);
        w.register(key("a"), (2, 20), 0, t0);
        assert!(w.ping(&key("a"), (1, 10), t0 + Duration::from_millis(1500)));
        // 1.5 s after the ping: still inside the 2 s timeout.
        assert_eq!(
            w.live(&key("a"), t0 + Duration::from_secs(3)),
            vec![(1, 10), (2, 20)]
        );
        // 2.5 s after the ping: lapsed; the default (30 s) one lives on.
        assert_eq!(
            w.live(&key("a"), t0 + Duration::from_secs(4)),
            vec![(2, 20)]
        );
        assert!(!w.ping(&key("a"), (1, 10), t0 + Duration::from_secs(4)));
        assert!(!w.ping(&key("a"), (2, 20), t0 + Duration::from_secs(31)));
        assert!(w.live(&key("a"), t0 + Duration::from_secs(31)).is_empty());
        assert!(w.by_object.is_empty(), "no empty entries are kept");
    }

    #[test]
    fn registering_again_renews_and_removal_is_per_watch() {
        let t0 = Instant::now();
        let mut w = Watchers::default();
        w.register(key("a"), (1, 10), 1, t0);
        w.register(key("a"), (1, 10), 1, t0 + Duration::from_secs(5));
        assert!(w.ping(&key("a"), (1, 10), t0 + Duration::from_secs(6)));
        assert!(
            !w.ping(&key("b"), (1, 10), t0),
            "another object has no such watch"
        );
        w.register(key("a"), (1, 11), 0, t0);
        assert!(w.remove(&key("a"), (1, 10)));
        assert!(!w.remove(&key("a"), (1, 10)));
        assert_eq!(w.take(&key("a")), vec![(1, 11)]);
        assert!(w.take(&key("a")).is_empty());
    }

    #[test]
    fn timeouts_are_bounded() {
        let t0 = Instant::now();
        let mut w = Watchers::default();
        w.register(key("a"), (1, 10), u32::MAX, t0);
        let past_max = t0 + MAX_WATCH_TIMEOUT + Duration::from_secs(1);
        assert!(w.live(&key("a"), past_max).is_empty());
    }
}

//! The replica's side: answering queries, adopting the primary's activation, and applying
//! its writes in order.

use super::{log, ObjKey, Pg};
use crate::msg::command::WireError;
use crate::msg::peering::{LogEntry, PgInfo};
use crate::msg::{EntityName, Message};
use crate::store::Transaction;
use std::collections::BTreeSet;

impl Pg {
    pub(super) async fn on_query(&mut self, from: i32, interval: u32) {
        if self.replica_interval.is_some_and(|i| i < interval) {
            // A new interval has begun: writes of the old one are refused from now on.
            self.replica_interval = None;
        }
        let has = self.sh.store.collection_bits(self.cid).is_ok();
        let msg = Message::PgNotify {
            pgid: self.pgid,
            interval,
            info: has.then(|| self.info.clone()),
            log: self.log.to_vec(),
            missing: self.missing.iter().cloned().collect(),
        };
        self.send_osd(from, &msg).await;
    }

    pub(super) async fn on_activate(
        &mut self,
        from: i32,
        interval: u32,
        info: PgInfo,
        entries: Vec<LogEntry>,
        missing: BTreeSet<ObjKey>,
    ) {
        if self.replica_interval.is_some_and(|i| i > interval) || self.interval > interval {
            return;
        }
        let primary = self.key.as_ref().map(|k| k.primary);
        if self.interval == interval && primary != Some(from) {
            tracing::warn!(target: "osd", "osd.{} pg {}: refusing an activation from osd.{from}, not the primary of interval {interval}", self.sh.id, self.pgid);
            return;
        }
        self.ensure_collection();
        let log = log::PgLog::from_entries(entries);
        let mut t = Transaction::new();
        let queued = log
            .rewrite(&info, &mut t)
            .and_then(|()| log::stage_missing_replace(self.pgid, &missing, &mut t))
            .and_then(|()| self.sh.queue(t));
        let commit = match queued {
            Ok(c) => c,
            Err(e) => {
                self.sh.clog_error(format!(
                    "pg {}: cannot adopt the primary's log: {e}",
                    self.pgid
                ));
                return;
            }
        };
        // The primary has the map record the activation only once its members' adoption
        // is durable.
        let (sh, pgid, epoch) = (self.sh.clone(), self.pgid, self.epoch());
        tokio::spawn(async move {
            match commit.await {
                Ok(()) => {
                    let msg = Message::PgActivated { pgid, interval };
                    let _ = sh.msgr.send(EntityName::osd(from), 0, epoch, &msg).await;
                }
                Err(e) => sh.clog_error(format!("pg {pgid}: cannot adopt the primary's log: {e}")),
            }
        });
        if !missing.is_empty() {
            tracing::debug!(target: "osd", "osd.{} pg {}: active, {} objects to recover", self.sh.id, self.pgid, missing.len());
        }
        self.info = info;
        self.log = log;
        self.missing = missing;
        self.replica_interval = Some(interval);
        self.replica_primary = Some(from);
    }

    pub(super) async fn on_rep_op(
        &mut self,
        from: i32,
        tid: u64,
        interval: u32,
        entry: LogEntry,
        txn: Transaction,
    ) {
        let version = entry.version;
        let reply = |result: Result<(), WireError>| Message::RepOpReply {
            pgid: self.pgid,
            interval,
            version,
            result,
        };
        if self.replica_interval != Some(interval) || self.replica_primary != Some(from) {
            let msg = reply(Err(WireError {
                errno: crate::errno::EAGAIN,
                message: format!("not active in interval {interval}"),
            }));
            self.send(crate::msg::EntityName::osd(from), tid, &msg)
                .await;
            return;
        }
        if version <= self.info.last_update {
            tracing::warn!(target: "osd", "osd.{} pg {}: write {version} is not after {}", self.sh.id, self.pgid, self.info.last_update);
            let msg = reply(Ok(()));
            self.send(crate::msg::EntityName::osd(from), tid, &msg)
                .await;
            return;
        }
        if self.missing.contains(&(entry.hash, entry.object.clone())) {
            // The primary recovers an object before it writes it; a write to one we do not
            // hold would land on a stale copy. Peering again sorts it out.
            tracing::warn!(target: "osd", "osd.{} pg {}: write {version} to {} which is still to recover here; refusing it", self.sh.id, self.pgid, entry.object.name);
            let msg = reply(Err(WireError {
                errno: crate::errno::ENOMSG,
                message: format!("osd.{} does not hold {} yet", self.sh.id, entry.object.name),
            }));
            self.send(crate::msg::EntityName::osd(from), tid, &msg)
                .await;
            return;
        }
        if version.version != self.info.last_update.version + 1 {
            // An earlier write of this interval never reached us: applying this one would
            // leave a hole no log entry accounts for. The primary peers again.
            tracing::warn!(target: "osd", "osd.{} pg {}: write {version} does not follow {}; refusing it", self.sh.id, self.pgid, self.info.last_update);
            let msg = reply(Err(WireError {
                errno: crate::errno::ENOMSG,
                message: format!(
                    "osd.{} missed the writes between {} and {version}",
                    self.sh.id, self.info.last_update
                ),
            }));
            self.send(crate::msg::EntityName::osd(from), tid, &msg)
                .await;
            return;
        }
        let commit = match self.sh.queue(txn) {
            Ok(c) => c,
            Err(e) => {
                let msg = reply(Err(WireError {
                    errno: e.errno(),
                    message: e.to_string(),
                }));
                self.send(crate::msg::EntityName::osd(from), tid, &msg)
                    .await;
                return;
            }
        };
        self.info.last_update = version;
        if let Some(tail) = self.log.apply_append(entry) {
            self.info.log_tail = tail;
        }
        let sh = self.sh.clone();
        let epoch = self.epoch();
        let pgid = self.pgid;
        tokio::spawn(async move {
            let result = commit.await.map_err(|e| WireError {
                errno: e.errno(),
                message: e.to_string(),
            });
            let msg = Message::RepOpReply {
                pgid,
                interval,
                version,
                result,
            };
            let _ = sh
                .msgr
                .send(crate::msg::EntityName::osd(from), tid, epoch, &msg)
                .await;
        });
    }
}

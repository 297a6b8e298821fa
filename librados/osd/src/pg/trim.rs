//! Snap trimming: once the pool's removed snaps include some this PG has not purged, the
//! primary scans its objects for clones serving them and rewrites each such object's SnapSet,
//! deleting the clones that serve no snap any more (and a whiteout head left with none).
//!
//! Each object is trimmed by an ordinary replicated write (a log entry and one transaction),
//! so replicas trim identically and recovery carries the result. One trim write is in flight
//! per PG at a time, and an object with client ops in flight or queued is passed over until
//! they finish, so trimming never holds up clients for long. When a pass has seen every object
//! the snaps are recorded as purged in the PG's info; a restart or a new interval simply
//! scans again.

use super::primary::store_oid;
use super::{log, ObjKey, Pg, Phase, StatDelta};
use crate::exec;
use crate::msg::ops::{ObjectName, ReqId};
use crate::msg::peering::{LogEntry, LogOp};
use crate::snap::SS_ATTR;
use crate::store::{CollectionId, ListCursor, ObjectId, ObjectStore, Transaction, SNAP_HEAD};
use std::collections::{BTreeSet, VecDeque};

/// Objects listed per scan step.
const SCAN_PAGE: usize = 256;

/// A trimming pass in progress.
pub(super) struct Trimmer {
    snaps: BTreeSet<u64>,
    /// Where the scan goes on; `None` once every object was seen.
    cursor: Option<ListCursor>,
    /// Objects with clones, still to look at.
    queue: VecDeque<ObjKey>,
    /// Objects passed over while busy with client ops.
    deferred: Vec<ObjKey>,
    /// The trim write in flight, if any.
    in_flight: Option<crate::msg::ops::Eversion>,
}

/// What trimming one object does.
pub(crate) struct Trimmed {
    pub txn: Transaction,
    pub delta: StatDelta,
    /// The head is gone (it was a whiteout whose last clone went).
    pub head_removed: bool,
    pub user_version: u64,
}

/// Trims `removed` from the object with head `head`: `None` when none of its clones serves
/// any of them.
pub(crate) fn trim_object(
    store: &dyn ObjectStore,
    cid: CollectionId,
    head: &ObjectId,
    removed: &BTreeSet<u64>,
) -> Result<Option<Trimmed>, i32> {
    let l = exec::load(store, cid, head)?;
    if !l.in_store || !l.ss.serves_any(removed) {
        return Ok(None);
    }
    let mut ss = l.ss.clone();
    let gone = ss.trim(removed);
    let mut txn = Transaction::new();
    for id in gone {
        txn.remove(cid, &head.clone().with_snap(id));
    }
    let head_removed = ss.clones.is_empty() && !l.exists();
    if head_removed {
        txn.remove(cid, head);
    } else {
        txn.setattr(cid, head, SS_ATTR, ss.encode());
    }
    Ok(Some(Trimmed {
        txn,
        delta: StatDelta {
            objects: 0,
            bytes: ss.clone_bytes() as i64 - l.ss.clone_bytes() as i64,
            clones: ss.clones.len() as i64 - l.ss.clones.len() as i64,
        },
        head_removed,
        user_version: l.info.user_version,
    }))
}

impl Pg {
    /// Snaps removed from the pool that this PG has not purged yet.
    fn snaps_to_trim(&self) -> BTreeSet<u64> {
        let Some(pool) = self.map.as_ref().and_then(|m| m.pool(self.pgid.pool)) else {
            return BTreeSet::new();
        };
        let purged: BTreeSet<u64> = self.info.purged_snaps.iter().copied().collect();
        pool.removed_snaps
            .iter()
            .copied()
            .filter(|s| !purged.contains(s))
            .collect()
    }

    /// Advances snap trimming by at most one write (see the module documentation).
    pub(super) async fn trim_step(&mut self) {
        loop {
            let epoch = self.epoch();
            let Some(p) = self.primary.as_ref() else {
                return;
            };
            // A scan of the primary's objects must see them all.
            if !matches!(p.phase, Phase::Active) || !self.missing.is_empty() {
                return;
            }
            if p.trim.is_none() {
                if p.trim_checked_epoch == epoch {
                    return;
                }
                let snaps = self.snaps_to_trim();
                let p = self.primary.as_mut().expect("primary");
                p.trim_checked_epoch = epoch;
                if snaps.is_empty() {
                    return;
                }
                tracing::debug!(target: "osd", "osd.{} pg {}: trimming snaps {:?}", self.sh.id, self.pgid, snaps);
                p.trim = Some(Trimmer {
                    snaps,
                    cursor: Some(ListCursor::Start),
                    queue: VecDeque::new(),
                    deferred: Vec::new(),
                    in_flight: None,
                });
                self.report_stat();
            }
            let p = self.primary.as_mut().expect("primary");
            let t = p.trim.as_mut().expect("trimmer");
            if let Some(v) = t.in_flight {
                if p.in_flight.contains_key(&v) {
                    return;
                }
                t.in_flight = None;
            }
            // Objects passed over get another chance once they are idle.
            let busy = |k: &ObjKey| {
                p.recovering.contains_key(k)
                    || p.objects
                        .get(k)
                        .is_some_and(|q| q.in_flight > 0 || !q.waiting.is_empty())
            };
            let deferred = std::mem::take(&mut t.deferred);
            for key in deferred {
                if busy(&key) {
                    t.deferred.push(key);
                } else {
                    t.queue.push_back(key);
                }
            }
            if let Some(key) = t.queue.pop_front() {
                if busy(&key) {
                    t.deferred.push(key);
                    continue;
                }
                let snaps = t.snaps.clone();
                self.trim_one(key, &snaps).await;
                let waiting = self
                    .primary
                    .as_ref()
                    .and_then(|p| p.trim.as_ref())
                    .is_some_and(|t| t.in_flight.is_some());
                if waiting {
                    return;
                }
                continue;
            }
            if let Some(cursor) = t.cursor.take() {
                match self.scan_clones(&cursor) {
                    Ok((found, next)) => {
                        let t = self
                            .primary
                            .as_mut()
                            .and_then(|p| p.trim.as_mut())
                            .expect("trimmer");
                        t.queue.extend(found);
                        t.cursor = next;
                    }
                    Err(e) => {
                        self.sh
                            .clog_error(format!("pg {}: snap trim scan failed: {e}", self.pgid));
                        return;
                    }
                }
                continue;
            }
            if !t.deferred.is_empty() {
                return;
            }
            // The pass is complete.
            let snaps = std::mem::take(&mut t.snaps);
            p.trim = None;
            p.trim_checked_epoch = 0;
            let mut purged: BTreeSet<u64> = self.info.purged_snaps.iter().copied().collect();
            purged.extend(snaps);
            self.info.purged_snaps = purged.into_iter().collect();
            let mut txn = Transaction::new();
            if let Err(e) =
                log::write_info(&self.info, &mut txn).and_then(|()| self.sh.queue(txn).map(|_| ()))
            {
                self.sh
                    .clog_error(format!("pg {}: cannot record purged snaps: {e}", self.pgid));
            }
            tracing::debug!(target: "osd", "osd.{} pg {}: snap trim done", self.sh.id, self.pgid);
            self.report_stat();
        }
    }

    /// Trims one object by a replicated write; records it as the trimmer's write in flight.
    async fn trim_one(&mut self, key: ObjKey, snaps: &BTreeSet<u64>) {
        let head = store_oid(self.pgid.pool, key.0, &key.1);
        let trimmed = match trim_object(self.sh.store.as_ref(), self.cid, &head, snaps) {
            Ok(Some(t)) => t,
            Ok(None) => return,
            Err(e) => {
                self.sh.clog_error(format!(
                    "pg {}: cannot trim {}: errno {e}",
                    self.pgid, key.1.name
                ));
                return;
            }
        };
        let version = self.next_version();
        let entry = LogEntry {
            version,
            // Client ids start at 1: id 0 marks the OSD's own writes.
            reqid: ReqId {
                client: 0,
                tid: version.version,
            },
            object: key.1,
            hash: key.0,
            op: if trimmed.head_removed {
                LogOp::Delete
            } else {
                LogOp::Modify
            },
            user_version: trimmed.user_version,
            results: Vec::new(),
        };
        let mut txn = trimmed.txn;
        txn.set_mtime_ns(crate::store::transaction::now_ns());
        match self.submit_write(entry, txn, trimmed.delta, None).await {
            Ok(()) => {
                if let Some(t) = self.primary.as_mut().and_then(|p| p.trim.as_mut()) {
                    t.in_flight = Some(version);
                }
            }
            Err(e) => {
                self.sh
                    .clog_error(format!("pg {}: trim write refused: errno {e}", self.pgid));
            }
        }
    }

    /// One page of the scan: the heads of clones found, and where to go on.
    fn scan_clones(
        &self,
        cursor: &ListCursor,
    ) -> crate::store::StoreResult<(Vec<ObjKey>, Option<ListCursor>)> {
        let page = self.sh.store.list_objects(self.cid, cursor, SCAN_PAGE)?;
        let mut found: Vec<ObjKey> = Vec::new();
        for oid in page.objects {
            if oid.snap == SNAP_HEAD || !super::push::is_client_version(&oid) {
                continue;
            }
            let key = (
                oid.hash,
                ObjectName {
                    namespace: oid.namespace,
                    key: oid.key,
                    name: oid.name,
                },
            );
            if found.last() != Some(&key) {
                found.push(key);
            }
        }
        Ok((found, page.next))
    }
}

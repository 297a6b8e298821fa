//! The disk store's write path: space reservation, large data written ahead into slots,
//! staging under the writer lock, and the commit thread that applies queued transactions to the
//! engine as one batch with one journal sync (group commit).

use super::alloc::Run;
use super::format;
use super::pending::{Ks, Write1};
use super::txn::{Ctx, Prewritten};
use super::wal::{self, Wal};
use super::{fs_space, lock, Shared, CHUNK_SIZE, META_SEQ, META_STATS};
use crate::error::{StoreError, StoreResult};
use crate::transaction::{now_ns, Op, Transaction};
use bytes::Bytes;
use fjall::PersistMode;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Free space is read from the filesystem again after this many bytes of requests (and always
/// once it is within twice the reserve).
pub(super) const SPACE_REFRESH: u64 = 16 << 20;
/// Writers wait while more than this many bytes of transactions wait for the commit thread.
const QUEUE_BYTES_MAX: u64 = 64 << 20;

/// One staged transaction: its sequence number and engine writes.
pub(super) type Queued = (u64, Vec<Write1>);

/// Transactions staged (visible) but not yet in the engine, for the commit thread.
#[derive(Default)]
pub(super) struct CommitQueue {
    pub items: Vec<Queued>,
    /// Whether a queued transaction wrote slots that the block file must sync first.
    pub block_dirty: bool,
    pub bytes: u64,
    /// Slots whose last reference went away, with the transaction that dropped it.
    pub frees: Vec<(u64, Vec<u64>)>,
    pub shutdown: bool,
}

/// Durable groups waiting for the apply thread.
#[derive(Default)]
pub(super) struct ApplyState {
    pub groups: std::collections::VecDeque<(u64, Vec<Write1>)>,
    /// The last sequence number the engine holds.
    pub applied: u64,
    /// The last sequence number handed to the apply thread (or applied directly).
    pub handed: u64,
    /// The engine is durable up to here (everything applied before its last sync).
    pub synced: u64,
    /// The log wants the engine durable up to here before it reuses its next segment.
    pub want_synced: u64,
    pub shutdown: bool,
    pub stopped: bool,
}

impl Shared {
    /// Bytes the transaction may add on disk: large write data once (slots), everything else
    /// three times (journal, tables, compaction headroom), plus per-operation overhead.
    /// What makes a transaction invalid whatever the store holds (extents past the object
    /// size limit, a clone range longer than a read may be): refused as such (EINVAL) before
    /// its space is counted, so that a bad request is never reported as ENOSPC.
    fn check_shape(txn: &Transaction) -> StoreResult<()> {
        txn.ops.iter().try_for_each(|op| match op {
            Op::CloneRange {
                src,
                dst,
                src_offset,
                len,
                dst_offset,
                ..
            } => crate::transaction::check_clone_range(src, dst, *src_offset, *len, *dst_offset)
                .map(|_| ()),
            _ => Ok(()),
        })
    }

    pub(super) fn space_needed(txn: &Transaction) -> u64 {
        txn.ops
            .iter()
            .map(|op| match op {
                Op::Write { data, .. } if data.len() as u64 >= CHUNK_SIZE => {
                    data.len() as u64 + 4096
                }
                op if op.added_bytes() > 0 => {
                    op.added_bytes().saturating_mul(3).saturating_add(512)
                }
                _ => 0,
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Free bytes on the filesystem, asking it at most every [`SPACE_REFRESH`] of writes.
    fn fs_available(&self, need: u64) -> StoreResult<u64> {
        let mut c = lock(&self.space_cache);
        if c.1 >= SPACE_REFRESH || c.0 < self.reserve_bytes.saturating_mul(2) {
            let (_, avail) = fs_space(&self.dir)?;
            *c = (avail, 0);
        }
        c.1 = c.1.saturating_add(need);
        Ok(c.0.saturating_sub(c.1))
    }

    fn reserve_space(&self, need: u64) -> StoreResult<()> {
        if need == 0 {
            return Ok(());
        }
        let avail = self.fs_available(need)?;
        if need > avail {
            return Err(StoreError::NoSpace {
                needed_bytes: need,
                available_bytes: avail.saturating_sub(self.reserve_bytes),
            });
        }
        let inflight = self.inflight_bytes.fetch_add(need, Ordering::SeqCst);
        let usable = avail.saturating_sub(self.reserve_bytes.saturating_add(inflight));
        if need > usable {
            self.inflight_bytes.fetch_sub(need, Ordering::SeqCst);
            return Err(StoreError::NoSpace {
                needed_bytes: need,
                available_bytes: usable,
            });
        }
        Ok(())
    }

    /// Writes the full chunks of every large write into fresh slots (synced later, see
    /// `commit_loop`).
    fn prewrite(&self, txn: &Transaction) -> StoreResult<Prewritten> {
        let mut pre = Prewritten::default();
        for (i, op) in txn.ops.iter().enumerate() {
            let Op::Write { offset, data, .. } = op else {
                continue;
            };
            let Some(end) = offset.checked_add(data.len() as u64) else {
                continue;
            };
            let first = offset.div_ceil(CHUNK_SIZE);
            let last = end / CHUNK_SIZE;
            if first >= last || end > crate::MAX_OBJECT_SIZE {
                continue;
            }
            let runs = self.lock_alloc().allocate(last - first);
            pre.slots
                .extend(runs.iter().flat_map(|r| r.start..r.start + r.len));
            let mut chunk = first;
            let mut placed = Vec::new();
            for r in &runs {
                let from = (chunk * CHUNK_SIZE - offset) as usize;
                let bytes = &data[from..from + (r.len * CHUNK_SIZE) as usize];
                if let Err(e) = self.block.write_slots(r.start, bytes) {
                    self.release_unreferenced(&pre.slots);
                    return Err(e);
                }
                for (k, c) in bytes.chunks(CHUNK_SIZE as usize).enumerate() {
                    placed.push((
                        chunk as u32 + k as u32,
                        r.start + k as u64,
                        format::block_crcs(c),
                    ));
                }
                chunk += r.len;
            }
            pre.per_op.insert(i, placed);
        }
        // The block file is synced by the commit thread, once per group, before the log record
        // that makes these slots referenced becomes durable.
        Ok(pre)
    }

    /// Frees slots that no committed record ever referenced.
    fn release_unreferenced(&self, slots: &[u64]) {
        if slots.is_empty() {
            return;
        }
        let runs = self.lock_alloc().release(slots);
        self.block.punch(&runs);
    }

    /// Frees slots whose last reference was dropped by a durable batch, once no reader can
    /// still be using the old reference.
    fn release_dropped(&self, slots: &[u64]) {
        if slots.is_empty() {
            return;
        }
        let _exclusive = self.gate.write().unwrap_or_else(|e| e.into_inner());
        let runs = runs_of(slots);
        self.block.punch(&runs);
        self.lock_alloc().release(slots);
    }

    /// Validates, stages and queues one transaction; returns its sequence number.
    pub(super) fn submit(&self, txn: &Transaction) -> StoreResult<u64> {
        self.check_writable()?;
        Self::check_shape(txn)?;
        let need = Self::space_needed(txn);
        self.reserve_space(need)?;
        let result = self.prewrite(txn).and_then(|pre| {
            let r = self.stage(txn, &pre);
            if r.is_err() {
                self.release_unreferenced(&pre.slots);
            }
            r
        });
        self.inflight_bytes.fetch_sub(need, Ordering::SeqCst);
        result
    }

    /// Under the writer lock: turns the transaction into engine writes, makes them visible,
    /// updates the in-memory state and queues them for the commit thread.
    fn stage(&self, txn: &Transaction, pre: &Prewritten) -> StoreResult<u64> {
        let mut w = lock(&self.writer);
        let mut ctx = Ctx::new(self, w.nid_next, w.nid_max, pre);
        let applied = txn
            .ops
            .iter()
            .enumerate()
            .try_for_each(|(i, op)| ctx.apply(i, op, pre));
        let late = ctx.late_slots().to_vec();
        let staged = applied.and_then(|()| ctx.finish(txn.mtime_ns.unwrap_or_else(now_ns)));
        let mut st = match staged {
            Ok(st) => st,
            Err(e) => {
                self.release_unreferenced(&late);
                return Err(e);
            }
        };
        let wrote_slots = !pre.slots.is_empty() || !late.is_empty();
        let seq = w.seq + 1;
        let objects = (self.objects.load(Ordering::SeqCst) as i64 + st.objects_delta).max(0) as u64;
        let data_bytes =
            (self.data_bytes.load(Ordering::SeqCst) as i64 + st.data_bytes_delta).max(0) as u64;
        let mut stats = objects.to_le_bytes().to_vec();
        stats.extend_from_slice(&data_bytes.to_le_bytes());
        st.writes
            .push((Ks::Meta, META_STATS.to_vec(), Some(Bytes::from(stats))));
        self.pending
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(seq, &st.writes);
        {
            let mut a = self.lock_alloc();
            for (slot, count) in &st.refcounts {
                a.set_refcount(*slot, *count);
            }
        }
        {
            let mut colls = self.colls.write().unwrap_or_else(|e| e.into_inner());
            for (cid, bits) in &st.colls {
                match bits {
                    Some(b) => colls.insert(*cid, *b),
                    None => colls.remove(cid),
                };
            }
        }
        self.objects.store(objects, Ordering::SeqCst);
        self.data_bytes.store(data_bytes, Ordering::SeqCst);
        w.nid_next = st.nid_next;
        w.nid_max = st.nid_max;
        w.seq = seq;
        let bytes: u64 = st
            .writes
            .iter()
            .map(|(_, k, v)| (k.len() + v.as_ref().map_or(0, Bytes::len)) as u64)
            .sum();
        let mut q = lock(&self.queue);
        q.items.push((seq, st.writes));
        q.block_dirty |= wrote_slots;
        q.bytes += bytes;
        if !st.freed.is_empty() {
            q.frees.push((seq, st.freed));
        }
        self.queue_cond.notify_all();
        // Back-pressure: the writer lock is held, so every writer waits for the engine here.
        while q.bytes > QUEUE_BYTES_MAX && !q.shutdown && self.check_writable().is_ok() {
            q = self.queue_cond.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        Ok(seq)
    }

    /// Whether a transaction submitted now would wait for the commit thread (back-pressure).
    pub(super) fn backlogged(&self) -> bool {
        lock(&self.queue).bytes > QUEUE_BYTES_MAX
    }

    /// The commit thread: writes every queued transaction to the log as one record with one
    /// sync (group commit), resolves their commits, and hands the group to the apply thread
    /// (a group too large for the log is applied and synced here instead).
    pub(super) fn commit_loop(&self, mut wal: Wal) {
        loop {
            let Some((items, block_dirty)) = self.next_group() else {
                lock(&self.apply).shutdown = true;
                self.apply_cond.notify_all();
                return;
            };
            let first = items.first().map_or(0, |(s, _)| *s);
            let last = items.last().map_or(0, |(s, _)| *s);
            let writes = dedupe(items);
            let mut record = Vec::new();
            wal::encode(first, last, &writes, &mut record);
            let direct = record.len() as u64 > wal.max_record();
            // Slot data first: the record below makes it referenced.
            let data_synced = if block_dirty {
                self.block.sync()
            } else {
                Ok(())
            };
            let logged = data_synced.and_then(|()| {
                if direct {
                    self.commit_direct(last, &writes)
                } else {
                    self.log(&mut wal, &record, last)
                }
            });
            if let Err(e) = logged {
                self.fail(format!("commit failed: {e}"));
                lock(&self.apply).shutdown = true;
                self.apply_cond.notify_all();
                return;
            }
            self.tracker.mark_durable(last);
            if !direct {
                let mut a = lock(&self.apply);
                a.handed = last;
                a.groups.push_back((last, writes));
                self.apply_cond.notify_all();
            }
        }
    }

    /// Everything queued (and whether it wrote slots), or `None` once shut down and drained.
    fn next_group(&self) -> Option<(Vec<Queued>, bool)> {
        let mut q = lock(&self.queue);
        while q.items.is_empty() {
            if q.shutdown {
                return None;
            }
            q = self.queue_cond.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.bytes = 0;
        let items = std::mem::take(&mut q.items);
        let block_dirty = std::mem::take(&mut q.block_dirty);
        self.queue_cond.notify_all();
        Some((items, block_dirty))
    }

    /// Appends a record to the ring, first checkpointing the segment it is about to reuse.
    fn log(&self, wal: &mut Wal, record: &[u8], last: u64) -> StoreResult<()> {
        if let Some(next) = wal.needs_switch(record.len() as u64) {
            let needed = wal.last_in(next);
            // Normally the apply thread checkpointed this segment while the previous one
            // filled up; if not, do it here.
            if needed > lock(&self.apply).synced {
                let applied = self.wait_applied(needed);
                if applied < needed {
                    // The apply thread stopped: that segment holds the only durable copy.
                    return Err(StoreError::Engine {
                        detail: format!(
                            "cannot reuse a log segment: the engine holds groups up to {applied}, \
                             the segment up to {needed}"
                        ),
                    });
                }
                self.db.persist(PersistMode::SyncAll)?;
                let mut a = lock(&self.apply);
                a.synced = a.synced.max(applied);
            }
            wal.switch();
            // Ask for the checkpoint the next switch will need, ahead of time.
            let upcoming = wal.last_in(wal.next_segment());
            let mut a = lock(&self.apply);
            a.want_synced = a.want_synced.max(upcoming);
            self.apply_cond.notify_all();
        }
        wal.append(record, last)
    }

    /// A group too large for the log goes to the engine, synced, once the apply thread has
    /// applied every group handed to it (so the engine sees groups strictly in order).
    fn commit_direct(&self, last: u64, writes: &[Write1]) -> StoreResult<()> {
        let handed = lock(&self.apply).handed;
        let applied = self.wait_applied(handed);
        if applied < handed {
            return Err(StoreError::Engine {
                detail: "the apply thread stopped before earlier groups reached the engine".into(),
            });
        }
        self.apply_to_engine(last, writes)?;
        self.db.persist(PersistMode::SyncData)?;
        // Only now is the group durable: before this, a crash would bring back the references
        // it dropped, so its slots must not have been reused.
        self.release_frees(last);
        Ok(())
    }

    /// Applies a durable group to the engine (no sync) and retires it from the overlay.
    fn apply_to_engine(&self, last: u64, writes: &[Write1]) -> StoreResult<()> {
        let mut batch = self.db.batch();
        for (ks, k, v) in writes {
            match v {
                Some(v) => batch.insert(self.keyspace(*ks), k.as_slice(), v.as_ref()),
                None => batch.remove(self.keyspace(*ks), k.as_slice()),
            }
        }
        batch.insert(&self.meta, META_SEQ, last.to_le_bytes());
        batch.commit()?;
        self.pending
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retire(last, writes);
        {
            let mut a = lock(&self.apply);
            a.applied = a.applied.max(last);
            a.handed = a.handed.max(last);
            self.apply_cond.notify_all();
        }
        Ok(())
    }

    /// Frees the slots dropped by groups up to `last`, which must be durable and applied: the
    /// engine no longer references them, a crash cannot bring the references back, and no
    /// reader still holds an old reference once the gate is taken.
    fn release_frees(&self, last: u64) {
        let frees: Vec<u64> = {
            let mut q = lock(&self.queue);
            let (done, rest): (Vec<_>, Vec<_>) = q.frees.drain(..).partition(|(s, _)| *s <= last);
            q.frees = rest;
            done.into_iter().flat_map(|(_, s)| s).collect()
        };
        self.release_dropped(&frees);
    }

    pub(super) fn applied(&self) -> u64 {
        lock(&self.apply).applied
    }

    /// Blocks until the engine holds every group up to `seq` (or the apply thread stopped);
    /// returns the applied sequence number.
    pub(super) fn wait_applied(&self, seq: u64) -> u64 {
        let mut a = lock(&self.apply);
        while a.applied < seq && !a.stopped {
            a = self.apply_cond.wait(a).unwrap_or_else(|e| e.into_inner());
        }
        a.applied
    }

    /// The apply thread: puts durable groups into the engine, in order.
    pub(super) fn apply_loop(&self) {
        loop {
            let job = {
                let mut a = lock(&self.apply);
                loop {
                    if let Some(g) = a.groups.pop_front() {
                        break Some(g);
                    }
                    if a.want_synced > a.synced && a.applied >= a.want_synced {
                        break None; // a checkpoint, between groups
                    }
                    if a.shutdown {
                        a.stopped = true;
                        self.apply_cond.notify_all();
                        return;
                    }
                    a = self.apply_cond.wait(a).unwrap_or_else(|e| e.into_inner());
                }
            };
            let result = match job {
                Some((last, writes)) => self.apply_to_engine(last, &writes).map(|()| {
                    self.release_frees(last);
                }),
                None => self.checkpoint(),
            };
            if let Err(e) = result {
                self.fail(format!("applying to the engine failed: {e}"));
                let mut a = lock(&self.apply);
                a.stopped = true;
                self.apply_cond.notify_all();
                return;
            }
        }
    }

    /// Syncs the engine, so that log segments holding only groups it has applied may be reused.
    fn checkpoint(&self) -> StoreResult<()> {
        let applied = self.applied();
        self.db.persist(PersistMode::SyncAll)?;
        let mut a = lock(&self.apply);
        a.synced = a.synced.max(applied);
        Ok(())
    }
}

/// The writes of a group, each key once with its last value.
fn dedupe(items: Vec<Queued>) -> Vec<Write1> {
    let mut latest: BTreeMap<(Ks, Vec<u8>), Option<Bytes>> = BTreeMap::new();
    for (_, writes) in items {
        for (ks, k, v) in writes {
            latest.insert((ks, k), v);
        }
    }
    latest.into_iter().map(|((ks, k), v)| (ks, k, v)).collect()
}

fn runs_of(slots: &[u64]) -> Vec<Run> {
    let mut sorted = slots.to_vec();
    sorted.sort_unstable();
    let mut runs: Vec<Run> = Vec::new();
    for s in sorted {
        match runs.last_mut() {
            Some(r) if r.start + r.len == s => r.len += 1,
            _ => runs.push(Run { start: s, len: 1 }),
        }
    }
    runs
}

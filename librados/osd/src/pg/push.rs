//! Recovery and backfill pushes, streamed and bounded.
//!
//! The authority sends a target what it lacks as a stream of `PgPush` messages, each at most
//! [`PART_BYTES`] of object state (plus one omap page), and sends the next only once the
//! target acknowledged the last (`PgPushPartAck`); every OSD also caps the push bytes it has
//! in flight over all its streams ([`OSD_PUSH_BYTES`]). An object small enough travels whole
//! (`PushPart::Whole`, applied in one transaction); a larger one is built version by version
//! (head, then clones newest first, each cloned from the next newer) in temporary store
//! objects (`generation` [`TEMP_GEN`]: never listed, never read by clients) from `Begin`,
//! `Data` and `Omap` parts, and a `Commit` part replaces the object's stored versions with
//! them in one transaction — a crash mid-stream leaves the old copy whole, and the
//! temporary objects are removed when the PG starts. Backfill pages through the authority's
//! objects (`Range` parts: the target drops what it holds in that range that the authority
//! does not), never holding the whole list. The last message of a stream is acknowledged to
//! the primary once everything in it is durable.

use super::primary::store_oid;
use super::{log, ObjKey, Pg, PgEvent};
use crate::msg::command::WireError;
use crate::msg::ops::ObjectName;
use crate::msg::peering::{ObjectState, PushPart};
use crate::msg::Message;
use crate::store::{
    CollectionId, ListCursor, ObjectId, ObjectStore, StoreResult, Transaction, NO_GEN, SNAP_HEAD,
};
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;

/// Bytes of object data (and omap) per push message.
pub const PART_BYTES: u64 = 4 << 20;
/// Omap entries per part.
const OMAP_PAGE: usize = 1024;
/// Objects whose data and omap fit this travel whole.
const WHOLE_BYTES: u64 = 1 << 20;
/// Objects listed per backfill page.
const BACKFILL_PAGE: usize = 256;
/// Push bytes one OSD may have unacknowledged over all its streams.
pub const OSD_PUSH_BYTES: u64 = 64 << 20;
/// The generation of the temporary objects a large push builds.
pub const TEMP_GEN: u64 = NO_GEN - 1;

/// Whether a stored object is a client object's version (not the PG's metadata, not a
/// temporary object of a push).
pub fn is_client_version(oid: &ObjectId) -> bool {
    !oid.name.is_empty() && oid.generation == NO_GEN
}

/// One version of a large object being pushed.
#[derive(Debug)]
struct Version {
    snap: u64,
    size: u64,
    mtime_ns: u64,
    /// For a clone: the extents it does not share with `base` (the rest is cloned from it).
    delta: Option<Vec<(u64, u64)>>,
    base: Option<u64>,
}

#[derive(Debug)]
enum Stage {
    Begin,
    /// Sending extent `extent` of the version's data, from `at` bytes into it.
    Data {
        extent: usize,
        at: u64,
    },
    Omap {
        after: Option<Vec<u8>>,
    },
}

/// A large object on its way.
#[derive(Debug)]
struct Large {
    object: ObjectName,
    hash: u32,
    versions: Vec<Version>,
    index: usize,
    stage: Stage,
}

/// What one stream still has to send.
pub(super) struct PushStream {
    pub id: u64,
    pub interval: u32,
    pub primary: i32,
    seq: u32,
    objects: VecDeque<(u32, ObjectName)>,
    /// Backfill: where the next page of the authority's objects starts (`None`: done).
    backfill: Option<ListCursor>,
    backfill_after: Option<(u32, ObjectName)>,
    large: Option<Large>,
    /// The message in flight: its sequence number and the push bytes it reserved.
    in_flight: Option<(u32, u64)>,
    /// Objects whose last part is in the message being built or in flight.
    completing: Vec<(u32, ObjectName)>,
    last_sent: bool,
}

impl PushStream {
    pub fn new(
        id: u64,
        interval: u32,
        primary: i32,
        objects: Option<Vec<(u32, ObjectName)>>,
    ) -> PushStream {
        let backfill = objects.is_none().then_some(ListCursor::Start);
        PushStream {
            id,
            interval,
            primary,
            seq: 0,
            objects: objects.unwrap_or_default().into(),
            backfill,
            backfill_after: None,
            large: None,
            in_flight: None,
            completing: Vec::new(),
            last_sent: false,
        }
    }

    /// Sends `key` next if it is still queued (a client waits for it).
    pub fn prioritise(&mut self, key: &(u32, ObjectName)) {
        if let Some(k) = self
            .objects
            .iter()
            .position(|o| o == key)
            .and_then(|i| self.objects.remove(i))
        {
            self.objects.push_front(k);
        }
    }

    /// The next message's parts (at most about [`PART_BYTES`]), and whether it is the last.
    fn next_parts(
        &mut self,
        store: &dyn ObjectStore,
        pool: i64,
        cid: CollectionId,
    ) -> StoreResult<(Vec<PushPart>, bool)> {
        let mut parts = Vec::new();
        let mut bytes = 0u64;
        while bytes < PART_BYTES {
            if let Some(large) = &mut self.large {
                let done = large.step(store, pool, cid, &mut parts, &mut bytes)?;
                if done {
                    self.completing.push((large.hash, large.object.clone()));
                    self.large = None;
                }
                continue;
            }
            if let Some((hash, name)) = self.objects.pop_front() {
                self.start_object(store, pool, cid, hash, name, &mut parts, &mut bytes)?;
                continue;
            }
            if let Some(cursor) = self.backfill.take() {
                self.next_backfill_page(store, cid, cursor, &mut parts)?;
                continue;
            }
            return Ok((parts, true));
        }
        Ok((parts, false))
    }

    #[allow(clippy::too_many_arguments)]
    fn start_object(
        &mut self,
        store: &dyn ObjectStore,
        pool: i64,
        cid: CollectionId,
        hash: u32,
        name: ObjectName,
        parts: &mut Vec<PushPart>,
        bytes: &mut u64,
    ) -> StoreResult<()> {
        let head = store_oid(pool, hash, &name);
        let versions = plan_versions(store, cid, &head)?;
        if versions.is_empty() {
            // Gone here: the target removes it too.
            let state = super::recovery::read_state(store, pool, cid, hash, &name)?;
            parts.push(PushPart::Whole(state));
            self.completing.push((hash, name));
            *bytes += 256;
            return Ok(());
        }
        let data: u64 = versions
            .iter()
            .map(|v| {
                v.delta
                    .as_ref()
                    .map_or(v.size, |d| d.iter().map(|e| e.1).sum())
            })
            .sum();
        let small_omap = versions.iter().all(|v| {
            let oid = head.clone().with_snap(v.snap);
            store
                .omap_list(cid, &oid, None, None, OMAP_PAGE + 1)
                .map_or(true, |p| p.entries.len() <= OMAP_PAGE)
        });
        if data <= WHOLE_BYTES && small_omap {
            let state = super::recovery::read_state(store, pool, cid, hash, &name)?;
            *bytes += state_bytes(&state);
            parts.push(PushPart::Whole(state));
            self.completing.push((hash, name));
            return Ok(());
        }
        self.large = Some(Large {
            object: name,
            hash,
            versions,
            index: 0,
            stage: Stage::Begin,
        });
        Ok(())
    }

    fn next_backfill_page(
        &mut self,
        store: &dyn ObjectStore,
        cid: CollectionId,
        cursor: ListCursor,
        parts: &mut Vec<PushPart>,
    ) -> StoreResult<()> {
        let page = store.list_objects(cid, &cursor, BACKFILL_PAGE)?;
        let names: Vec<(u32, ObjectName)> = page
            .objects
            .iter()
            .filter(|o| is_client_version(o) && o.snap == SNAP_HEAD)
            .map(|o| (o.hash, object_name(o)))
            .collect();
        // The range ends at this page's last head (a page may end among an object's clones,
        // whose head comes in the next page); the last page's range runs to the end.
        let upto = match &page.next {
            Some(_) => names
                .last()
                .cloned()
                .or_else(|| self.backfill_after.clone()),
            None => None,
        };
        parts.push(PushPart::Range {
            after: self.backfill_after.clone(),
            upto: upto.clone(),
            names: names.clone(),
        });
        self.objects.extend(names);
        self.backfill_after = upto;
        self.backfill = page.next;
        Ok(())
    }
}

impl Large {
    /// Adds the next parts of this object; true once its `Commit` is added.
    fn step(
        &mut self,
        store: &dyn ObjectStore,
        pool: i64,
        cid: CollectionId,
        parts: &mut Vec<PushPart>,
        bytes: &mut u64,
    ) -> StoreResult<bool> {
        let head = store_oid(pool, self.hash, &self.object);
        let Some(v) = self.versions.get(self.index) else {
            parts.push(PushPart::Commit {
                object: self.object.clone(),
                hash: self.hash,
                versions: self.versions.iter().map(|v| (v.snap, v.mtime_ns)).collect(),
            });
            return Ok(true);
        };
        let oid = head.clone().with_snap(v.snap);
        match &mut self.stage {
            Stage::Begin => {
                parts.push(PushPart::Begin {
                    object: self.object.clone(),
                    hash: self.hash,
                    snap: v.snap,
                    size: v.size,
                    mtime_ns: v.mtime_ns,
                    xattrs: store.getattrs(cid, &oid)?,
                    omap_header: store.omap_get_header(cid, &oid)?,
                    base: v.base,
                });
                *bytes += 4096;
                self.stage = Stage::Data { extent: 0, at: 0 };
            }
            Stage::Data { extent, at } => {
                let whole = [(0, v.size)];
                let extents: &[(u64, u64)] = v.delta.as_deref().unwrap_or(&whole);
                let Some(&(off, len)) = extents.get(*extent) else {
                    self.stage = Stage::Omap { after: None };
                    return Ok(false);
                };
                // The loop that calls this stops at PART_BYTES, so there is room.
                let n = (len - *at).min(PART_BYTES.saturating_sub(*bytes));
                if n > 0 {
                    let data = store.read(cid, &oid, off + *at, n)?;
                    if data.len() as u64 != n {
                        return Err(crate::store::StoreError::invalid(format!(
                            "{oid} is shorter than its snapset says"
                        )));
                    }
                    *bytes += n;
                    parts.push(PushPart::Data {
                        object: self.object.clone(),
                        hash: self.hash,
                        snap: v.snap,
                        offset: off + *at,
                        data,
                    });
                }
                *at += n;
                if *at >= len {
                    *extent += 1;
                    *at = 0;
                }
            }
            Stage::Omap { after } => {
                let page = store.omap_list(cid, &oid, after.as_deref(), None, OMAP_PAGE)?;
                let more = page.more;
                let entries: Vec<(Bytes, Bytes)> = page
                    .entries
                    .into_iter()
                    .map(|(k, v)| (Bytes::from(k), Bytes::from(v)))
                    .collect();
                *after = entries.last().map(|(k, _)| k.to_vec());
                *bytes += entries
                    .iter()
                    .map(|(k, v)| (k.len() + v.len()) as u64)
                    .sum::<u64>();
                if !entries.is_empty() {
                    parts.push(PushPart::Omap {
                        object: self.object.clone(),
                        hash: self.hash,
                        snap: v.snap,
                        entries,
                    });
                }
                if !more {
                    self.index += 1;
                    self.stage = Stage::Begin;
                }
            }
        }
        Ok(false)
    }
}

fn object_name(o: &ObjectId) -> ObjectName {
    ObjectName {
        namespace: o.namespace.clone(),
        key: o.key.clone(),
        name: o.name.clone(),
    }
}

fn state_bytes(s: &ObjectState) -> u64 {
    let own = s.data.len() + s.omap.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    own as u64 + s.clones.iter().map(|(_, c)| state_bytes(c)).sum::<u64>()
}

/// The versions of an object to push: the head, then its clones newest first, each with
/// the extents it does not share with the next newer one (none: the object is not here).
fn plan_versions(
    store: &dyn ObjectStore,
    cid: CollectionId,
    head: &ObjectId,
) -> StoreResult<Vec<Version>> {
    let stat = match store.stat(cid, head) {
        Ok(s) => s,
        Err(crate::store::StoreError::ObjectNotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut versions = vec![Version {
        snap: SNAP_HEAD,
        size: stat.size,
        mtime_ns: stat.mtime_ns,
        delta: None,
        base: None,
    }];
    if let Ok(l) = crate::exec::load(store, cid, head) {
        let mut base = SNAP_HEAD;
        for c in l.ss.clones.iter().rev() {
            let Ok(cstat) = store.stat(cid, &head.clone().with_snap(c.id)) else {
                continue;
            };
            let delta = crate::snap::unshared_extents(c);
            versions.push(Version {
                snap: c.id,
                size: c.size,
                mtime_ns: cstat.mtime_ns,
                delta: Some(delta),
                base: Some(base),
            });
            base = c.id;
        }
    }
    Ok(versions)
}

impl Pg {
    /// Starts streaming to `target` these objects (or, with `None`, a backfill of every
    /// object), for the push to be acknowledged to `primary`.
    pub(super) async fn push_to(
        &mut self,
        target: i32,
        interval: u32,
        objects: Option<Vec<(u32, ObjectName)>>,
        primary: i32,
    ) {
        let id = self.next_tid();
        if let Some(old) = self.pushes.remove(&target) {
            self.release_push(&old);
        }
        self.pushes
            .insert(target, PushStream::new(id, interval, primary, objects));
        self.pump_push(target).await;
    }

    fn release_push(&self, s: &PushStream) {
        if let Some((_, reserved)) = s.in_flight {
            self.sh.push_bytes.fetch_sub(reserved, Ordering::Relaxed);
        }
    }

    /// Ends every stream (a new interval: their targets refuse them now).
    pub(super) fn drop_pushes(&mut self) {
        for (_, s) in std::mem::take(&mut self.pushes) {
            self.release_push(&s);
        }
    }

    /// Sends the stream's next message, unless one is in flight or the OSD's push budget is
    /// spent (then it tries again shortly).
    pub(super) async fn pump_push(&mut self, target: i32) {
        let Some(s) = self.pushes.get_mut(&target) else {
            return;
        };
        if s.in_flight.is_some() || s.last_sent {
            return;
        }
        let reserve = PART_BYTES + 64 * 1024;
        let used = self.sh.push_bytes.fetch_add(reserve, Ordering::Relaxed);
        if used > 0 && used + reserve > OSD_PUSH_BYTES {
            self.sh.push_bytes.fetch_sub(reserve, Ordering::Relaxed);
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let _ = tx.send(PgEvent::PumpPush { target });
            });
            return;
        }
        let store = self.sh.store.clone();
        let built = s.next_parts(store.as_ref(), self.pgid.pool, self.cid);
        let (parts, last) = match built {
            Ok(p) => p,
            Err(e) => {
                self.sh.push_bytes.fetch_sub(reserve, Ordering::Relaxed);
                self.sh.clog_error(format!(
                    "pg {}: cannot read objects to push to osd.{target}: {e}",
                    self.pgid
                ));
                self.pushes.remove(&target);
                return;
            }
        };
        s.seq += 1;
        s.in_flight = Some((s.seq, reserve));
        s.last_sent = last;
        let msg = Message::PgPush {
            pgid: self.pgid,
            interval: s.interval,
            stream: s.id,
            seq: s.seq,
            parts,
            last,
            primary: s.primary,
        };
        if !self.send_osd(target, &msg).await {
            tracing::warn!(target: "osd", "osd.{} pg {}: cannot push to osd.{target}; waiting for the map to change", self.sh.id, self.pgid);
        }
    }

    /// The target took (or refused) message `seq` of stream `stream`.
    pub(super) async fn on_push_part_ack(
        &mut self,
        from: i32,
        stream: u64,
        seq: u32,
        result: Result<(), WireError>,
    ) {
        let Some(s) = self.pushes.get_mut(&from) else {
            return;
        };
        if s.id != stream || s.in_flight.map(|f| f.0) != Some(seq) {
            return;
        }
        let reserved = s.in_flight.take().map_or(0, |f| f.1);
        self.sh.push_bytes.fetch_sub(reserved, Ordering::Relaxed);
        let completed = std::mem::take(&mut s.completing);
        let (primary, interval) = (s.primary, s.interval);
        if result.is_ok() && !completed.is_empty() {
            // Queued on the target before anything sent after this ack: a write to these
            // objects now commits there only after them.
            if primary == self.sh.id {
                self.recovered(from, completed).await;
            } else {
                let msg = Message::PgRecovered {
                    pgid: self.pgid,
                    interval,
                    target: from,
                    objects: completed,
                };
                self.send_osd(primary, &msg).await;
            }
        }
        let Some(s) = self.pushes.get_mut(&from) else {
            return;
        };
        if let Err(e) = result {
            if e.errno != crate::errno::EAGAIN {
                self.sh.clog_error(format!(
                    "pg {}: osd.{from} could not apply a push: {}",
                    self.pgid, e.message
                ));
            }
            self.pushes.remove(&from);
            return;
        }
        if s.last_sent {
            self.pushes.remove(&from);
            return;
        }
        let sleep = self.sh.recovery_sleep_ns.load(Ordering::Relaxed);
        if sleep > 0 {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_nanos(sleep)).await;
                let _ = tx.send(PgEvent::PumpPush { target: from });
            });
            return;
        }
        self.pump_push(from).await;
    }

    /// Applies one push message, acknowledges it to the pusher (and, the last, to the
    /// primary once durable).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn on_push(
        &mut self,
        from: i32,
        interval: u32,
        stream: u64,
        seq: u32,
        parts: Vec<PushPart>,
        last: bool,
        primary: i32,
    ) {
        let pgid = self.pgid;
        let ack = move |result| Message::PgPushPartAck {
            pgid,
            interval,
            stream,
            seq,
            result,
        };
        // A push of an older interval than the one we serve in (by our map, or by the
        // activation a newer primary sent us) must not land: a newer interval's writes may
        // already be applied, and an older copy would silently replace them.
        let stale = interval < self.interval || self.replica_interval.is_some_and(|i| interval < i);
        if stale {
            let msg = ack(Err(WireError {
                errno: crate::errno::EAGAIN,
                message: format!("interval {interval} is over"),
            }));
            self.send_osd(from, &msg).await;
            return;
        }
        self.ensure_collection();
        let applied = self.apply_push_parts(parts);
        let commit = match applied {
            Ok((c, found)) => {
                if !found.is_empty() && self.primary.is_some() {
                    // The primary itself was missing them: queued here, they are there for
                    // the ops that follow.
                    self.recovered_here(found).await;
                }
                c
            }
            Err(e) => {
                self.sh
                    .clog_error(format!("pg {}: bad push from osd.{from}: {e}", self.pgid));
                let msg = ack(Err(WireError {
                    errno: crate::errno::EIO,
                    message: e,
                }));
                self.send_osd(from, &msg).await;
                return;
            }
        };
        let msg = ack(Ok(()));
        if !last {
            self.send_osd(from, &msg).await;
            return;
        }
        let sh = self.sh.clone();
        let epoch = self.epoch();
        tokio::spawn(async move {
            if let Some(c) = commit {
                if let Err(e) = c.await {
                    sh.clog_error(format!("pg {pgid}: pushed objects not durable: {e}"));
                    return;
                }
            }
            let to = |o| crate::msg::EntityName::osd(o);
            let _ = sh.msgr.send(to(from), 0, epoch, &msg).await;
            let done = Message::PgPushAck { pgid, interval };
            let _ = sh.msgr.send(to(primary), 0, epoch, &done).await;
        });
    }

    /// Stages one message's parts in one transaction; with the objects of this OSD's missing
    /// set it completes.
    fn apply_push_parts(
        &mut self,
        parts: Vec<PushPart>,
    ) -> Result<(Option<crate::store::Commit>, Vec<ObjKey>), String> {
        let store = self.sh.store.clone();
        let (pool, cid) = (self.pgid.pool, self.cid);
        let mut t = Transaction::new();
        // Objects of the missing set this message completes.
        let mut found = Vec::new();
        let mut complete = |key: (u32, ObjectName)| {
            if self.missing.contains(&key) {
                found.push(key);
            }
        };
        for part in parts {
            match part {
                PushPart::Whole(state) => {
                    let oid = store_oid(pool, state.hash, &state.object);
                    super::recovery::replace_family(store.as_ref(), cid, &oid, &state, &mut t)?;
                    complete((state.hash, state.object));
                }
                PushPart::Begin {
                    object,
                    hash,
                    snap,
                    size,
                    mtime_ns,
                    xattrs,
                    omap_header,
                    base,
                } => {
                    let head = store_oid(pool, hash, &object);
                    let tmp = head.clone().with_snap(snap).with_generation(TEMP_GEN);
                    if self.temps.contains(&tmp) || store.stat(cid, &tmp).is_ok() {
                        t.remove(cid, &tmp);
                    }
                    match base {
                        Some(b) => {
                            let from = head.clone().with_snap(b).with_generation(TEMP_GEN);
                            t.clone_object(cid, &from, &tmp);
                            t.truncate(cid, &tmp, size);
                            t.rmattrs(cid, &tmp);
                            t.omap_clear(cid, &tmp);
                        }
                        None => {
                            t.touch(cid, &tmp);
                            t.truncate(cid, &tmp, size);
                        }
                    }
                    if !xattrs.is_empty() {
                        t.setattrs(cid, &tmp, xattrs.into_iter().collect());
                    }
                    if !omap_header.is_empty() {
                        t.omap_setheader(cid, &tmp, omap_header);
                    }
                    t.set_object_mtime(cid, &tmp, mtime_ns);
                    self.temps.insert(tmp);
                }
                PushPart::Data {
                    object,
                    hash,
                    snap,
                    offset,
                    data,
                } => {
                    let tmp = store_oid(pool, hash, &object)
                        .with_snap(snap)
                        .with_generation(TEMP_GEN);
                    t.write(cid, &tmp, offset, data);
                }
                PushPart::Omap {
                    object,
                    hash,
                    snap,
                    entries,
                } => {
                    let tmp = store_oid(pool, hash, &object)
                        .with_snap(snap)
                        .with_generation(TEMP_GEN);
                    t.omap_setkeys(cid, &tmp, entries);
                }
                PushPart::Commit {
                    object,
                    hash,
                    versions,
                } => {
                    let head = store_oid(pool, hash, &object);
                    super::recovery::remove_family(store.as_ref(), cid, &head, &mut t);
                    for (snap, mtime_ns) in versions {
                        let tmp = head.clone().with_snap(snap).with_generation(TEMP_GEN);
                        let dst = head.clone().with_snap(snap);
                        t.move_rename(cid, &tmp, cid, &dst);
                        t.set_object_mtime(cid, &dst, mtime_ns);
                        self.temps.remove(&tmp);
                    }
                    complete((hash, object));
                }
                PushPart::Range { after, upto, names } => {
                    let keep: BTreeSet<(u32, ObjectName)> = names.into_iter().collect();
                    let local = super::recovery::list_range(
                        store.as_ref(),
                        pool,
                        cid,
                        after.as_ref(),
                        upto.as_ref(),
                    )
                    .map_err(|e| format!("cannot list for backfill: {e}"))?;
                    for (h, name) in local.into_iter().filter(|o| !keep.contains(o)) {
                        let oid = store_oid(pool, h, &name);
                        super::recovery::remove_family(store.as_ref(), cid, &oid, &mut t);
                    }
                }
            }
        }
        log::stage_missing_remove(self.pgid, &found, &mut t).map_err(|e| e.to_string())?;
        if t.is_empty() {
            return Ok((None, found));
        }
        let commit = self.sh.queue(t).map_err(|e| e.to_string())?;
        for key in &found {
            self.missing.remove(key);
        }
        Ok((Some(commit), found))
    }

    /// The primary received objects it lacked itself.
    async fn recovered_here(&mut self, found: Vec<ObjKey>) {
        let me = self.sh.id;
        self.recovered(me, found).await;
        if !self.missing.is_empty() {
            return;
        }
        // It holds every object now: count them, and list for those who waited.
        self.recount_objects();
        self.report_stat();
        let active = matches!(
            self.primary.as_ref().map(|p| &p.phase),
            Some(super::Phase::Active)
        );
        if active {
            self.run_waiting().await;
        }
        self.trim_step().await;
    }

    /// The primary asks for `object` to be pushed to `target` next (a client waits for it).
    pub(super) fn on_push_first(
        &mut self,
        from: i32,
        interval: u32,
        target: i32,
        object: (u32, ObjectName),
    ) {
        match self.pushes.get_mut(&target) {
            Some(s) if s.primary == from && s.interval == interval => {
                s.prioritise(&object);
            }
            _ => {
                tracing::debug!(target: "osd", "osd.{} pg {}: no push of interval {interval} to osd.{target} for osd.{from}", self.sh.id, self.pgid);
            }
        }
    }

    /// Removes temporary push objects a crash or an abandoned stream left behind.
    pub(super) fn remove_temps(&mut self) {
        let store = self.sh.store.clone();
        let mut t = Transaction::new();
        let mut cursor = ListCursor::Start;
        loop {
            let Ok(page) = store.list_objects(self.cid, &cursor, 1024) else {
                return;
            };
            for o in page.objects.iter().filter(|o| o.generation == TEMP_GEN) {
                t.remove(self.cid, o);
            }
            match page.next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        self.temps.clear();
        if !t.is_empty() {
            if let Err(e) = self.sh.queue(t) {
                self.sh.clog_error(format!(
                    "pg {}: cannot remove leftover push objects: {e}",
                    self.pgid
                ));
            }
        }
    }
}

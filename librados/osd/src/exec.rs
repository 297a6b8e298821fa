//! Executing a client's compound operation against one object: reads answer from the store,
//! writes become one store transaction that is applied only if every step succeeded.
//!
//! Reads inside a write request see the object as it was before the request (as in Ceph),
//! except for existence, size and xattrs, which track the request's own earlier steps.

mod extent;
#[cfg(test)]
mod tests;

use super::class;
use super::snap::{Resolved, SnapSet, SS_ATTR};
use crate::errno;
use crate::msg::ops::{CmpMode, CmpOp, OpStep, SnapContext, StepOutput, StepResult};
use crate::store::{
    CollectionId, ObjectId, ObjectStore, StoreError, Transaction, MAX_READ_BYTES, SNAP_HEAD,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest object a client may create (Ceph's `osd_max_object_size`).
pub const MAX_OBJECT_SIZE: u64 = 128 << 20;
/// Longest object name (Ceph's `osd_max_object_name_len`).
pub const MAX_NAME_LEN: usize = 2048;
/// Most omap entries one read returns (Ceph's `osd_max_omap_entries_per_request`).
pub const MAX_OMAP_ENTRIES: u64 = 131_072;
/// The xattr holding [`ObjectInfo`]; user xattrs are stored as `_` + name, so never collide.
pub const OI_ATTR: &str = "oi";

/// What the OSD records about each object beside its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// The version clients see (`assert_version`, returned with every reply).
    pub user_version: u64,
    /// A deleted head kept only to carry the SnapSet of its clones: clients see no object.
    #[serde(default)]
    pub whiteout: bool,
}

impl ObjectInfo {
    pub fn encode(&self) -> Bytes {
        Bytes::from(rmp_serde::to_vec_named(self).unwrap_or_default())
    }
    pub fn decode(b: &[u8]) -> ObjectInfo {
        rmp_serde::from_slice(b).unwrap_or_default()
    }
}

fn user_attr(name: &str) -> String {
    format!("_{name}")
}

/// Who runs the request, and when (object classes use both); which of its steps may fail.
#[derive(Clone, Debug, Default)]
pub struct ExecEnv {
    pub caller: String,
    pub now_ns: u64,
    /// Indices of the steps that may fail without failing the request (Ceph's `FAILOK`),
    /// strictly ascending (the primary refuses requests where they are not).
    pub failok: Vec<u32>,
}

impl ExecEnv {
    fn may_fail(&self, index: usize) -> bool {
        u32::try_from(index).is_ok_and(|i| self.failok.binary_search(&i).is_ok())
    }
}

/// The state of the object as the request's steps see it.
struct Working {
    existed: bool,
    exists: bool,
    size_before: u64,
    size: u64,
    info: ObjectInfo,
    /// Changes this request made to user xattrs (None = removed).
    attrs: BTreeMap<String, Option<Bytes>>,
    /// Every user xattr was removed (the object was deleted in this request).
    attrs_cleared: bool,
    modified: bool,
    /// The store holds the object (possibly as a whiteout).
    in_store: bool,
    /// The head's SnapSet as stored (default when the object has none).
    ss: SnapSet,
    ss_stored: bool,
    /// The stored object's modification time (a clone keeps it).
    mtime_ns: u64,
    /// Extents of the head this request changed (`u64::MAX` length: to the end).
    dirty: Vec<(u64, u64)>,
    /// The head was rolled back to this clone.
    rolled_back: Option<u64>,
}

/// The result of executing a request.
pub struct Executed {
    pub results: Vec<StepResult>,
    /// `Some((index, errno))` if step `index` failed; nothing is to be applied then.
    pub failed: Option<(usize, i32)>,
    pub txn: Transaction,
    /// Whether the request changed the object (a log entry and replication are due).
    pub modified: bool,
    pub existed: bool,
    pub exists: bool,
    pub size_before: u64,
    pub size_after: u64,
    pub user_version: u64,
    /// Clone count and clone bytes (see [`SnapSet::clone_bytes`]) before and after.
    pub clones_before: u64,
    pub clones_after: u64,
    pub clone_bytes_before: u64,
    pub clone_bytes_after: u64,
}

impl Executed {
    fn failed(errno: i32) -> Executed {
        Executed {
            results: vec![StepResult {
                rval: -errno,
                out: StepOutput::None,
            }],
            failed: Some((0, errno)),
            txn: Transaction::new(),
            modified: false,
            existed: false,
            exists: false,
            size_before: 0,
            size_after: 0,
            user_version: 0,
            clones_before: 0,
            clones_after: 0,
            clone_bytes_before: 0,
            clone_bytes_after: 0,
        }
    }
}

/// What the store holds for an object: whether it is there at all (whiteouts included), its
/// size, info, and (for a head) SnapSet and whether one is stored.
pub struct Loaded {
    pub in_store: bool,
    pub size: u64,
    pub mtime_ns: u64,
    pub info: ObjectInfo,
    pub ss: SnapSet,
    pub ss_stored: bool,
}

impl Loaded {
    /// The object exists as clients see it (stored and not a whiteout).
    pub fn exists(&self) -> bool {
        self.in_store && !self.info.whiteout
    }
}

/// Loads an object's size, info and SnapSet; EIO when stored metadata is damaged.
pub fn load(store: &dyn ObjectStore, cid: CollectionId, oid: &ObjectId) -> Result<Loaded, i32> {
    let st = match store.stat(cid, oid) {
        Ok(st) => st,
        Err(StoreError::ObjectNotFound { .. }) => {
            return Ok(Loaded {
                in_store: false,
                size: 0,
                mtime_ns: 0,
                info: ObjectInfo::default(),
                ss: SnapSet::default(),
                ss_stored: false,
            })
        }
        Err(e) => return Err(e.errno()),
    };
    let info = store
        .getattr(cid, oid, OI_ATTR)
        .map(|b| ObjectInfo::decode(&b))
        .unwrap_or_default();
    let (ss, ss_stored) = if oid.snap == SNAP_HEAD {
        match store.getattr(cid, oid, SS_ATTR) {
            Ok(b) => (SnapSet::decode(&b).ok_or(errno::EIO)?, true),
            Err(StoreError::AttrNotFound { .. }) => (SnapSet::default(), false),
            Err(e) => return Err(e.errno()),
        }
    } else {
        (SnapSet::default(), false)
    };
    Ok(Loaded {
        in_store: true,
        size: st.size,
        mtime_ns: st.mtime_ns,
        info,
        ss,
        ss_stored,
    })
}

/// The stored object a read at `snap` sees: the head, one of its clones, or ENOENT when the
/// object did not exist then.
pub fn resolve_snap(
    store: &dyn ObjectStore,
    cid: CollectionId,
    head: &ObjectId,
    snap: u64,
) -> Result<ObjectId, i32> {
    if snap == SNAP_HEAD {
        return Ok(head.clone());
    }
    let l = load(store, cid, head)?;
    if !l.in_store {
        return Err(errno::ENOENT);
    }
    match l.ss.resolve(snap, l.exists()) {
        Resolved::Head => Ok(head.clone()),
        Resolved::Clone(id) => Ok(head.clone().with_snap(id)),
        Resolved::Missing => Err(errno::ENOENT),
    }
}

/// Runs `steps` against `oid` in `cid` (a head, or for reads at a snap, a clone). A write
/// runs under `snapc` (already the effective one, see [`super::snap::effective_snapc`]):
/// when it is the first write since a newer snap, the head is cloned first. `new_version` is
/// the user version a write will get.
pub fn execute(
    store: &dyn ObjectStore,
    cid: CollectionId,
    oid: &ObjectId,
    steps: &[OpStep],
    new_version: u64,
    env: &ExecEnv,
    snapc: &SnapContext,
) -> Executed {
    let l = match load(store, cid, oid) {
        Ok(l) => l,
        Err(e) => return Executed::failed(e),
    };
    let existed = l.exists();
    let size = if existed { l.size } else { 0 };
    let mut w = Working {
        existed,
        exists: existed,
        size_before: size,
        size,
        info: l.info,
        attrs: BTreeMap::new(),
        attrs_cleared: false,
        modified: false,
        in_store: l.in_store,
        ss: l.ss,
        ss_stored: l.ss_stored,
        mtime_ns: l.mtime_ns,
        dirty: Vec::new(),
        rolled_back: None,
    };
    let single = steps.len() == 1;
    let write_request = steps.iter().any(OpStep::is_write);
    // Ceph looks the object up before any step of a read: a missing one fails the request,
    // whichever steps were allowed to fail.
    let lists_snaps = steps.iter().all(|s| matches!(s, OpStep::ListSnaps));
    if !write_request && !existed && !env.failok.is_empty() && !lists_snaps {
        return Executed::failed(errno::ENOENT);
    }
    let mut txn = Transaction::new();
    let mut results = Vec::with_capacity(steps.len());
    let mut failed = None;
    for (i, step) in steps.iter().enumerate() {
        let staged = txn.len();
        let mut ctx = StepCtx {
            env,
            store,
            cid,
            oid,
            w: &mut w,
            txn: &mut txn,
            single,
            write_request,
        };
        let result = ctx.step(step);
        // Every step checks before it stages anything, so a failed one changed nothing (a
        // class method's changes are staged only once it succeeded): a step allowed to fail
        // needs no undoing.
        debug_assert!(
            result.is_ok() || txn.len() == staged,
            "{step:?} failed half-done"
        );
        match result {
            Ok(out) => results.push(StepResult { rval: 0, out }),
            Err(e) if env.may_fail(i) => results.push(StepResult {
                rval: -e,
                out: StepOutput::Failed { errno: e },
            }),
            Err(e) => {
                results.push(StepResult {
                    rval: -e,
                    out: StepOutput::None,
                });
                failed = Some((i, e));
                break;
            }
        }
    }
    let clones_before = w.ss.clones.len() as u64;
    let clone_bytes_before = w.ss.clone_bytes();
    let mut ss_after = w.ss.clone();
    if w.modified && failed.is_none() {
        finish_write(
            cid,
            oid,
            &mut w,
            &mut txn,
            &mut ss_after,
            snapc,
            new_version,
        );
    }
    Executed {
        results,
        failed,
        txn,
        modified: w.modified,
        existed: w.existed,
        exists: w.exists,
        size_before: w.size_before,
        size_after: if w.exists { w.size } else { 0 },
        user_version: if w.modified {
            new_version
        } else {
            w.info.user_version
        },
        clones_before,
        clones_after: ss_after.clones.len() as u64,
        clone_bytes_before,
        clone_bytes_after: ss_after.clone_bytes(),
    }
}

/// Completes a write's transaction: preserves the head as a clone first when a newer snap
/// asks for it, updates the SnapSet and object info, and keeps a deleted head that still has
/// clones as a whiteout.
fn finish_write(
    cid: CollectionId,
    oid: &ObjectId,
    w: &mut Working,
    txn: &mut Transaction,
    ss: &mut SnapSet,
    snapc: &SnapContext,
    new_version: u64,
) {
    let mut prelude = Transaction::new();
    if let Some(clone) = ss.make_writeable(snapc, w.existed, w.size_before) {
        let coid = oid.clone().with_snap(clone.id);
        prelude.clone_object(cid, oid, &coid);
        prelude.set_object_mtime(cid, &coid, w.mtime_ns);
        if w.ss_stored {
            prelude.rmattr(cid, &coid, SS_ATTR);
        }
    }
    match w.rolled_back {
        Some(id) => ss.head_rolled_back_to(id),
        None => {
            for &(o, l) in &w.dirty {
                ss.head_modified(o, l);
            }
        }
    }
    w.info.user_version = new_version;
    if w.exists {
        w.info.whiteout = false;
    } else if !ss.clones.is_empty() {
        // Deleted, but the clones still need the SnapSet: keep the head as a whiteout.
        txn.touch(cid, oid);
        w.info.whiteout = true;
    } else {
        if !prelude.is_empty() {
            prelude.ops.append(&mut txn.ops);
            *txn = prelude;
        }
        return;
    }
    txn.setattr(cid, oid, OI_ATTR, w.info.encode());
    let removed_head = !w.exists || w.attrs_cleared;
    if *ss != w.ss || w.rolled_back.is_some() || (removed_head && !ss.is_empty()) {
        txn.setattr(cid, oid, SS_ATTR, ss.encode());
    }
    if !prelude.is_empty() {
        prelude.ops.append(&mut txn.ops);
        *txn = prelude;
    }
}

struct StepCtx<'a> {
    env: &'a ExecEnv,
    store: &'a dyn ObjectStore,
    cid: CollectionId,
    oid: &'a ObjectId,
    w: &'a mut Working,
    txn: &'a mut Transaction,
    /// The request has only this step.
    single: bool,
    /// The request has a step that may change the object (a missing object then reads as
    /// nothing rather than failing, for the guards that allow it).
    write_request: bool,
}

type StepOut = Result<StepOutput, i32>;

fn store_errno(e: StoreError) -> i32 {
    e.errno()
}

impl StepCtx<'_> {
    fn need_exists(&self) -> Result<(), i32> {
        if self.w.exists {
            Ok(())
        } else {
            Err(errno::ENOENT)
        }
    }

    fn check_size(&self, end: Option<u64>) -> Result<u64, i32> {
        end.filter(|e| *e <= MAX_OBJECT_SIZE).ok_or(errno::EFBIG)
    }

    /// Writes `data` at `offset`, creating the object; `offset + len` is within bounds.
    fn write_at(&mut self, offset: u64, data: &Bytes) -> StepOut {
        let end = self.check_size(offset.checked_add(data.len() as u64))?;
        self.create();
        if !data.is_empty() {
            self.txn.write(self.cid, self.oid, offset, data.clone());
            self.w.size = self.w.size.max(end);
            self.w.dirty.push((offset, data.len() as u64));
        }
        Ok(StepOutput::None)
    }

    /// Marks the object as created/changed by this request.
    fn create(&mut self) {
        if !self.w.exists {
            self.txn.touch(self.cid, self.oid);
            self.w.exists = true;
            self.w.size = 0;
        }
        self.w.modified = true;
    }

    fn step(&mut self, step: &OpStep) -> StepOut {
        match step {
            OpStep::Create { exclusive } => {
                if self.w.exists && *exclusive {
                    return Err(errno::EEXIST);
                }
                self.create();
            }
            OpStep::Write { offset, data } => return self.write_at(*offset, data),
            OpStep::WriteSame { offset, len, data } => return self.write_same(*offset, *len, data),
            OpStep::WriteFull { data } => {
                self.check_size(Some(data.len() as u64))?;
                self.create();
                self.txn.truncate(self.cid, self.oid, 0);
                if !data.is_empty() {
                    self.txn.write(self.cid, self.oid, 0, data.clone());
                }
                self.w.size = data.len() as u64;
                self.w.dirty.push((0, u64::MAX));
            }
            OpStep::Append { data } => {
                let offset = self.w.size;
                let end = self.check_size(offset.checked_add(data.len() as u64))?;
                self.create();
                if !data.is_empty() {
                    self.txn.write(self.cid, self.oid, offset, data.clone());
                    self.w.dirty.push((offset, data.len() as u64));
                }
                self.w.size = end;
            }
            OpStep::Truncate { size } => {
                self.check_size(Some(*size))?;
                if !self.w.exists {
                    // As in Ceph: truncating a missing object succeeds and creates nothing.
                    return Ok(StepOutput::None);
                }
                self.w.modified = true;
                self.txn.truncate(self.cid, self.oid, *size);
                self.w.size = *size;
                self.w.dirty.push((*size, u64::MAX));
            }
            OpStep::Zero { offset, len } => {
                self.check_size(offset.checked_add(*len))?;
                if !self.w.exists {
                    return Ok(StepOutput::None);
                }
                // Zeroing never extends an object.
                let end = offset.saturating_add(*len).min(self.w.size);
                if *offset < end {
                    self.txn.zero(self.cid, self.oid, *offset, end - offset);
                    self.w.dirty.push((*offset, end - offset));
                }
                self.w.modified = true;
            }
            OpStep::Remove => {
                self.need_exists()?;
                self.remove_head();
            }
            OpStep::Rollback { snap } => {
                if !self.single {
                    return Err(errno::EINVAL);
                }
                self.rollback(*snap)?;
            }
            OpStep::ListSnaps => return self.list_snaps(),
            OpStep::SetXattr { name, value } => {
                self.create();
                self.txn
                    .setattr(self.cid, self.oid, user_attr(name), value.clone());
                self.w.attrs.insert(name.clone(), Some(value.clone()));
            }
            OpStep::RmXattr { name } => {
                // Ceph: ENOENT without the object, success without the attribute.
                self.need_exists()?;
                self.txn.rmattr(self.cid, self.oid, user_attr(name));
                self.w.attrs.insert(name.clone(), None);
                self.w.modified = true;
            }
            OpStep::OmapSetVals { entries } => {
                self.create();
                self.txn.omap_setkeys(self.cid, self.oid, entries.clone());
            }
            OpStep::OmapRmKeys { keys } => {
                self.need_exists()?;
                self.txn.omap_rmkeys(self.cid, self.oid, keys.clone());
                self.w.modified = true;
            }
            OpStep::OmapRmRange { first, last } => {
                self.need_exists()?;
                self.txn
                    .omap_rmkeyrange(self.cid, self.oid, first.clone(), last.clone());
                self.w.modified = true;
            }
            OpStep::OmapClear => {
                self.need_exists()?;
                self.txn.omap_clear(self.cid, self.oid);
                self.w.modified = true;
            }
            OpStep::OmapSetHeader { header } => {
                self.create();
                self.txn.omap_setheader(self.cid, self.oid, header.clone());
            }
            OpStep::Read { offset, len } => return self.read(*offset, *len),
            OpStep::Stat => {
                self.need_exists()?;
                let mtime_ns = self
                    .store
                    .stat(self.cid, self.oid)
                    .map(|s| s.mtime_ns)
                    .unwrap_or(0);
                return Ok(StepOutput::Stat {
                    size: self.w.size,
                    mtime_ns,
                });
            }
            OpStep::GetXattr { name } => {
                self.need_exists()?;
                return self
                    .xattr(name)?
                    .map(StepOutput::Data)
                    .ok_or(errno::ENODATA);
            }
            OpStep::GetXattrs => {
                self.need_exists()?;
                return Ok(StepOutput::Xattrs(self.xattrs()?));
            }
            OpStep::OmapGetVals {
                start_after,
                prefix,
                max,
            } => return self.omap_vals(start_after, prefix, *max),
            OpStep::OmapGetKeys { start_after, max } => {
                return match self.omap_vals(start_after, &Bytes::new(), *max)? {
                    StepOutput::OmapVals { entries, more } => Ok(StepOutput::OmapKeys {
                        keys: entries.into_iter().map(|(k, _)| k).collect(),
                        more,
                    }),
                    other => Ok(other),
                };
            }
            OpStep::OmapGetValsByKeys { keys } => {
                self.need_exists()?;
                let found = self
                    .store
                    .omap_get_values(self.cid, self.oid, keys)
                    .map_err(store_errno)?;
                return Ok(StepOutput::OmapVals {
                    entries: found.into_iter().collect(),
                    more: false,
                });
            }
            OpStep::OmapGetHeader => {
                self.need_exists()?;
                let h = self
                    .store
                    .omap_get_header(self.cid, self.oid)
                    .map_err(store_errno)?;
                return Ok(StepOutput::Data(h));
            }
            OpStep::AssertExists => self.need_exists()?,
            OpStep::AssertVersion { version } => {
                self.need_exists()?;
                let current = self.w.info.user_version;
                if *version < current {
                    return Err(errno::ERANGE);
                }
                if *version > current {
                    return Err(errno::EOVERFLOW);
                }
            }
            OpStep::CmpXattr {
                name,
                op,
                mode,
                value,
            } => {
                self.need_exists()?;
                let stored = self.xattr(name)?.unwrap_or_default();
                if !compare(&stored, *op, *mode, value)? {
                    return Err(errno::ECANCELED);
                }
            }
            OpStep::CmpExt { offset, data } => return self.cmp_ext(*offset, data),
            OpStep::OmapCmp { assertions } => return self.omap_cmp(assertions),
            OpStep::Watch { .. }
            | OpStep::Unwatch { .. }
            | OpStep::Notify { .. }
            | OpStep::WatchPing { .. } => {
                // Watch/notify requests are handled by the PG, alone; never in a compound op.
                return Err(errno::EINVAL);
            }
            OpStep::Exec {
                class,
                method,
                input,
            } => {
                let mut hctx = class::MethodCtx::new(
                    self.store,
                    self.cid,
                    self.oid,
                    self.w.exists,
                    self.w.size,
                    self.w.info.user_version,
                );
                hctx.caller = self.env.caller.clone();
                hctx.now_ns = self.env.now_ns;
                let out = class::call(&mut hctx, class, method, input)?;
                if hctx.modified() {
                    for op in hctx.take_ops() {
                        self.txn.push(op);
                    }
                    self.w.exists = hctx.exists();
                    self.w.size = hctx.size();
                    self.w.modified = true;
                    self.w.dirty.push((0, u64::MAX));
                }
                return Ok(StepOutput::Data(out));
            }
        }
        Ok(StepOutput::None)
    }

    fn remove_head(&mut self) {
        self.txn.remove(self.cid, self.oid);
        self.w.exists = false;
        self.w.in_store = false;
        self.w.size = 0;
        self.w.attrs.clear();
        self.w.attrs_cleared = true;
        self.w.modified = true;
        self.w.dirty.push((0, u64::MAX));
    }

    /// Makes the head what it was at `snap`, as Ceph does: nothing to do when no write since
    /// preserved an older version; removed when it did not exist then.
    fn rollback(&mut self, snap: u64) -> Result<(), i32> {
        if snap == SNAP_HEAD {
            return Err(errno::EINVAL);
        }
        match self.w.ss.resolve(snap, self.w.existed) {
            Resolved::Head => {}
            Resolved::Missing => {
                if self.w.exists {
                    self.remove_head();
                }
            }
            Resolved::Clone(id) => {
                let coid = self.oid.clone().with_snap(id);
                let size = self.store.stat(self.cid, &coid).map_err(store_errno)?.size;
                if self.w.in_store {
                    self.txn.remove(self.cid, self.oid);
                }
                self.txn.clone_object(self.cid, &coid, self.oid);
                self.w.exists = true;
                self.w.in_store = true;
                self.w.size = size;
                self.w.attrs.clear();
                self.w.attrs_cleared = true;
                self.w.modified = true;
                self.w.rolled_back = Some(id);
            }
        }
        Ok(())
    }

    fn list_snaps(&self) -> StepOut {
        let head = self.oid.clone().with_snap(SNAP_HEAD);
        let l = load(self.store, self.cid, &head)?;
        if !l.in_store {
            return Err(errno::ENOENT);
        }
        let head_size = l.exists().then_some(l.size);
        Ok(StepOutput::Snaps(l.ss.listing(head_size)))
    }

    fn read(&self, offset: u64, len: u64) -> StepOut {
        self.need_exists()?;
        // Length 0 reads to the end, as in Ceph.
        let len = if len == 0 { u64::MAX } else { len };
        let avail = self.w.size.saturating_sub(offset);
        let len = len.min(avail);
        if len > MAX_READ_BYTES {
            return Err(errno::EINVAL);
        }
        if len == 0 {
            return Ok(StepOutput::Data(Bytes::new()));
        }
        self.store
            .read(self.cid, self.oid, offset, len)
            .map(StepOutput::Data)
            .map_err(store_errno)
    }

    fn xattr(&self, name: &str) -> Result<Option<Bytes>, i32> {
        if let Some(v) = self.w.attrs.get(name) {
            return Ok(v.clone());
        }
        if self.w.attrs_cleared || !self.w.existed {
            return Ok(None);
        }
        match self.store.getattr(self.cid, self.oid, &user_attr(name)) {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::AttrNotFound { .. }) => Ok(None),
            Err(e) => Err(store_errno(e)),
        }
    }

    fn xattrs(&self) -> Result<BTreeMap<String, Bytes>, i32> {
        let mut out = BTreeMap::new();
        if self.w.existed && !self.w.attrs_cleared {
            for (k, v) in self
                .store
                .getattrs(self.cid, self.oid)
                .map_err(store_errno)?
            {
                if let Some(name) = k.strip_prefix('_') {
                    out.insert(name.to_string(), v);
                }
            }
        }
        for (k, v) in &self.w.attrs {
            match v {
                Some(v) => out.insert(k.clone(), v.clone()),
                None => out.remove(k),
            };
        }
        Ok(out)
    }

    fn omap_vals(&self, start_after: &Bytes, prefix: &Bytes, max: u64) -> StepOut {
        self.need_exists()?;
        let max = max.min(MAX_OMAP_ENTRIES) as usize;
        let page = self
            .store
            .omap_list(
                self.cid,
                self.oid,
                (!start_after.is_empty()).then_some(start_after.as_ref()),
                (!prefix.is_empty()).then_some(prefix.as_ref()),
                max,
            )
            .map_err(store_errno)?;
        Ok(StepOutput::OmapVals {
            entries: page
                .entries
                .into_iter()
                .map(|(k, v)| (Bytes::from(k), Bytes::from(v)))
                .collect(),
            more: page.more,
        })
    }
}

/// `CmpXattr` (and `OmapCmp`): compares the stored value (left) with the given one (right).
fn compare(stored: &[u8], op: CmpOp, mode: CmpMode, value: &[u8]) -> Result<bool, i32> {
    let ord = match mode {
        CmpMode::String => stored.cmp(value),
        CmpMode::U64 => {
            let parse = |b: &[u8]| -> Result<u64, i32> {
                if b.is_empty() {
                    return Ok(0);
                }
                std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.trim_end_matches('\0').parse().ok())
                    .ok_or(errno::EINVAL)
            };
            parse(stored)?.cmp(&parse(value)?)
        }
    };
    use std::cmp::Ordering::*;
    Ok(match op {
        CmpOp::Eq => ord == Equal,
        CmpOp::Ne => ord != Equal,
        CmpOp::Gt => ord == Greater,
        CmpOp::Gte => ord != Less,
        CmpOp::Lt => ord == Less,
        CmpOp::Lte => ord != Greater,
    })
}

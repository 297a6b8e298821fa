//! Executing a client's compound operation against one object: reads answer from the store,
//! writes become one store transaction that is applied only if every step succeeded.
//!
//! Reads inside a write request see the object as it was before the request (as in Ceph),
//! except for existence, size and xattrs, which track the request's own earlier steps.

use super::class;
use crate::errno;
use crate::msg::ops::{CmpMode, CmpOp, OpStep, StepOutput, StepResult};
use crate::store::{CollectionId, ObjectId, ObjectStore, StoreError, Transaction, MAX_READ_BYTES};
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

/// Who runs the request, and when (object classes use both).
#[derive(Clone, Debug, Default)]
pub struct ExecEnv {
    pub caller: String,
    pub now_ns: u64,
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
}

/// Runs `steps` against `oid` in `cid`. `new_version` is the user version a write will get.
pub fn execute(
    store: &dyn ObjectStore,
    cid: CollectionId,
    oid: &ObjectId,
    steps: &[OpStep],
    new_version: u64,
    env: &ExecEnv,
) -> Executed {
    let (existed, size, info) = match store.stat(cid, oid) {
        Ok(st) => {
            let info = store
                .getattr(cid, oid, OI_ATTR)
                .map(|b| ObjectInfo::decode(&b))
                .unwrap_or_default();
            (true, st.size, info)
        }
        Err(_) => (false, 0, ObjectInfo::default()),
    };
    let mut w = Working {
        existed,
        exists: existed,
        size_before: size,
        size,
        info,
        attrs: BTreeMap::new(),
        attrs_cleared: false,
        modified: false,
    };
    let mut txn = Transaction::new();
    let mut results = Vec::with_capacity(steps.len());
    let mut failed = None;
    for (i, step) in steps.iter().enumerate() {
        let mut ctx = StepCtx {
            env,
            store,
            cid,
            oid,
            w: &mut w,
            txn: &mut txn,
        };
        match ctx.step(step) {
            Ok(out) => results.push(StepResult { rval: 0, out }),
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
    if w.modified && w.exists && failed.is_none() {
        w.info.user_version = new_version;
        txn.setattr(cid, oid, OI_ATTR, w.info.encode());
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
    }
}

struct StepCtx<'a> {
    env: &'a ExecEnv,
    store: &'a dyn ObjectStore,
    cid: CollectionId,
    oid: &'a ObjectId,
    w: &'a mut Working,
    txn: &'a mut Transaction,
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
            OpStep::Write { offset, data } => {
                let end = self.check_size(offset.checked_add(data.len() as u64))?;
                self.create();
                if !data.is_empty() {
                    self.txn.write(self.cid, self.oid, *offset, data.clone());
                    self.w.size = self.w.size.max(end);
                }
            }
            OpStep::WriteFull { data } => {
                self.check_size(Some(data.len() as u64))?;
                self.create();
                self.txn.truncate(self.cid, self.oid, 0);
                if !data.is_empty() {
                    self.txn.write(self.cid, self.oid, 0, data.clone());
                }
                self.w.size = data.len() as u64;
            }
            OpStep::Append { data } => {
                let offset = self.w.size;
                let end = self.check_size(offset.checked_add(data.len() as u64))?;
                self.create();
                if !data.is_empty() {
                    self.txn.write(self.cid, self.oid, offset, data.clone());
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
                }
                self.w.modified = true;
            }
            OpStep::Remove => {
                self.need_exists()?;
                self.txn.remove(self.cid, self.oid);
                self.w.exists = false;
                self.w.size = 0;
                self.w.attrs.clear();
                self.w.attrs_cleared = true;
                self.w.modified = true;
            }
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
            OpStep::Watch { .. } | OpStep::Unwatch { .. } | OpStep::Notify { .. } => {
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
                }
                return Ok(StepOutput::Data(out));
            }
        }
        Ok(StepOutput::None)
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

/// `CmpXattr`: compares the stored value (left) with the given one (right).
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

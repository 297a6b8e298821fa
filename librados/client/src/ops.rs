//! Compound operations: a [`WriteOp`] applies all its steps atomically or none; a [`ReadOp`]
//! returns one [`StepOutput`] per step. A step marked with `fail_ok` may fail without failing
//! its operation.

use crate::msg::ops::{CmpMode, CmpOp, OpStep};
use bytes::Bytes;

pub use crate::msg::class::lock::{LockType, Locker};

/// Steps changing one object, applied all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOp {
    pub(crate) steps: Vec<OpStep>,
    /// Indices of the steps allowed to fail, ascending.
    pub(crate) failok: Vec<u32>,
    /// The modification time to stamp (nanoseconds since the epoch); None: now.
    pub(crate) mtime_ns: Option<u64>,
}

/// Steps reading one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOp {
    pub(crate) steps: Vec<OpStep>,
    pub(crate) failok: Vec<u32>,
}

/// Ceph's per-step op flags (`LIBRADOS_OP_FLAG_*`, same values), set on a step with
/// `set_op_flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OpFlags(pub u32);

impl OpFlags {
    /// On a create step: fail with EEXIST if the object exists.
    pub const EXCL: OpFlags = OpFlags(0x1);
    /// The step may fail without failing its operation: the other steps still run (and a
    /// write still applies them), and that step, which then changes nothing, reports
    /// [`crate::StepOutput::Failed`] with its errno. A read of a missing object
    /// still fails with ENOENT, as in Ceph, which checks the object before any step.
    pub const FAILOK: OpFlags = OpFlags(0x2);
    /// Access-pattern hints (`FADVISE_*`): accepted, and steer nothing here (the store
    /// keeps no page cache of its own for them to tune).
    pub const FADVISE_RANDOM: OpFlags = OpFlags(0x4);
    pub const FADVISE_SEQUENTIAL: OpFlags = OpFlags(0x8);
    pub const FADVISE_WILLNEED: OpFlags = OpFlags(0x10);
    pub const FADVISE_DONTNEED: OpFlags = OpFlags(0x20);
    pub const FADVISE_NOCACHE: OpFlags = OpFlags(0x40);

    pub fn contains(self, other: OpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for OpFlags {
    type Output = OpFlags;
    fn bitor(self, rhs: OpFlags) -> OpFlags {
        OpFlags(self.0 | rhs.0)
    }
}

fn b(v: impl Into<Bytes>) -> Bytes {
    v.into()
}

/// Guards and class calls, shared by both kinds of operation.
macro_rules! common_steps {
    ($t:ty) => {
        impl $t {
            pub fn new() -> Self {
                Self::default()
            }
            pub fn is_empty(&self) -> bool {
                self.steps.is_empty()
            }
            /// Sets Ceph's op flags of the step added last, replacing what it had, as
            /// Ceph does (so a create's exclusivity follows `EXCL`); nothing before any
            /// step was added. See [`OpFlags`].
            pub fn set_op_flags(&mut self, flags: OpFlags) -> &mut Self {
                let Some(index) = self.steps.len().checked_sub(1) else {
                    return self;
                };
                if let Some(OpStep::Create { exclusive }) = self.steps.last_mut() {
                    *exclusive = flags.contains(OpFlags::EXCL);
                }
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let marked = self.failok.last() == Some(&index);
                match (flags.contains(OpFlags::FAILOK), marked) {
                    (true, false) => self.failok.push(index),
                    (false, true) => {
                        self.failok.pop();
                    }
                    _ => {}
                }
                self
            }
            /// Fails with ENOENT unless the object exists.
            pub fn assert_exists(&mut self) -> &mut Self {
                self.steps.push(OpStep::AssertExists);
                self
            }
            /// Fails with ERANGE (object newer) or EOVERFLOW (object older) unless the
            /// object's version is `version`.
            pub fn assert_version(&mut self, version: u64) -> &mut Self {
                self.steps.push(OpStep::AssertVersion { version });
                self
            }
            /// Fails with ECANCELED unless `xattr <op> value` holds.
            pub fn cmp_xattr(
                &mut self,
                name: &str,
                op: CmpOp,
                value: impl Into<Bytes>,
            ) -> &mut Self {
                self.steps.push(OpStep::CmpXattr {
                    name: name.into(),
                    op,
                    mode: CmpMode::String,
                    value: b(value),
                });
                self
            }
            /// Like `cmp_xattr`, comparing decimal numbers.
            pub fn cmp_xattr_u64(&mut self, name: &str, op: CmpOp, value: u64) -> &mut Self {
                self.steps.push(OpStep::CmpXattr {
                    name: name.into(),
                    op,
                    mode: CmpMode::U64,
                    value: b(value.to_string()),
                });
                self
            }
            /// Fails unless the object's bytes at `offset` equal `data` (bytes past its end
            /// compare as zeros) with [`crate::Error::CmpExtMismatch`], whose offset is the
            /// index in `data` of the first differing byte. In a read, a missing object is
            /// ENOENT; in a write, it compares as zeros.
            pub fn cmp_ext(&mut self, offset: u64, data: impl Into<Bytes>) -> &mut Self {
                self.steps.push(OpStep::CmpExt {
                    offset,
                    data: b(data),
                });
                self
            }
            /// Fails with ECANCELED unless omap `key`'s value (empty when the key is missing)
            /// satisfies `value_stored <op> value`, compared byte-wise. Only `Eq`, `Gt` and
            /// `Lt` are understood (EINVAL for the others, as in Ceph); ENOENT without the
            /// object. Each call adds one step.
            pub fn omap_cmp(
                &mut self,
                key: impl Into<Bytes>,
                op: CmpOp,
                value: impl Into<Bytes>,
            ) -> &mut Self {
                self.steps.push(OpStep::OmapCmp {
                    assertions: vec![(b(key), op, b(value))],
                });
                self
            }
            /// Calls an object class method.
            pub fn exec(
                &mut self,
                class: &str,
                method: &str,
                input: impl Into<Bytes>,
            ) -> &mut Self {
                self.steps.push(OpStep::Exec {
                    class: class.into(),
                    method: method.into(),
                    input: b(input),
                });
                self
            }
        }
    };
}

common_steps!(WriteOp);
common_steps!(ReadOp);

impl WriteOp {
    /// Stamps the object with `mtime` instead of the time the write is sent (a time before
    /// the epoch counts as the epoch).
    pub fn set_mtime(&mut self, mtime: std::time::SystemTime) -> &mut Self {
        let ns = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.mtime_ns = Some(ns);
        self
    }
    /// Creates the object; with `exclusive`, fails with EEXIST if it exists.
    pub fn create(&mut self, exclusive: bool) -> &mut Self {
        self.steps.push(OpStep::Create { exclusive });
        self
    }
    pub fn write(&mut self, offset: u64, data: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::Write {
            offset,
            data: b(data),
        });
        self
    }
    /// Writes `data` repeated to fill `len` bytes at `offset`; the request fails with EINVAL
    /// when `data` is empty or `len` is not a multiple of its length.
    pub fn write_same(&mut self, offset: u64, len: u64, data: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::WriteSame {
            offset,
            len,
            data: b(data),
        });
        self
    }
    pub fn write_full(&mut self, data: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::WriteFull { data: b(data) });
        self
    }
    pub fn append(&mut self, data: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::Append { data: b(data) });
        self
    }
    pub fn truncate(&mut self, size: u64) -> &mut Self {
        self.steps.push(OpStep::Truncate { size });
        self
    }
    pub fn zero(&mut self, offset: u64, len: u64) -> &mut Self {
        self.steps.push(OpStep::Zero { offset, len });
        self
    }
    pub fn remove(&mut self) -> &mut Self {
        self.steps.push(OpStep::Remove);
        self
    }
    pub fn set_xattr(&mut self, name: &str, value: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::SetXattr {
            name: name.into(),
            value: b(value),
        });
        self
    }
    pub fn rm_xattr(&mut self, name: &str) -> &mut Self {
        self.steps.push(OpStep::RmXattr { name: name.into() });
        self
    }
    pub fn omap_set<K: Into<Bytes>, V: Into<Bytes>>(
        &mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        let entries = entries
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.steps.push(OpStep::OmapSetVals { entries });
        self
    }
    pub fn omap_rm_keys<K: Into<Bytes>>(&mut self, keys: impl IntoIterator<Item = K>) -> &mut Self {
        let keys = keys.into_iter().map(Into::into).collect();
        self.steps.push(OpStep::OmapRmKeys { keys });
        self
    }
    /// Removes keys in `[first, last)`.
    pub fn omap_rm_range(&mut self, first: impl Into<Bytes>, last: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::OmapRmRange {
            first: b(first),
            last: b(last),
        });
        self
    }
    pub fn omap_clear(&mut self) -> &mut Self {
        self.steps.push(OpStep::OmapClear);
        self
    }
    pub fn omap_set_header(&mut self, header: impl Into<Bytes>) -> &mut Self {
        self.steps.push(OpStep::OmapSetHeader { header: b(header) });
        self
    }
}

impl ReadOp {
    /// Reads `len` bytes at `offset` (`len` 0: to the end).
    pub fn read(&mut self, offset: u64, len: u64) -> &mut Self {
        self.steps.push(OpStep::Read { offset, len });
        self
    }
    pub fn stat(&mut self) -> &mut Self {
        self.steps.push(OpStep::Stat);
        self
    }
    pub fn get_xattr(&mut self, name: &str) -> &mut Self {
        self.steps.push(OpStep::GetXattr { name: name.into() });
        self
    }
    pub fn get_xattrs(&mut self) -> &mut Self {
        self.steps.push(OpStep::GetXattrs);
        self
    }
    /// Up to `max` entries after `start_after` (empty: from the first) whose keys begin with
    /// `prefix` (empty: any).
    pub fn omap_get_vals(
        &mut self,
        start_after: impl Into<Bytes>,
        prefix: impl Into<Bytes>,
        max: u64,
    ) -> &mut Self {
        self.steps.push(OpStep::OmapGetVals {
            start_after: b(start_after),
            prefix: b(prefix),
            max,
        });
        self
    }
    pub fn omap_get_keys(&mut self, start_after: impl Into<Bytes>, max: u64) -> &mut Self {
        self.steps.push(OpStep::OmapGetKeys {
            start_after: b(start_after),
            max,
        });
        self
    }
    pub fn omap_get_vals_by_keys<K: Into<Bytes>>(
        &mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> &mut Self {
        let keys = keys.into_iter().map(Into::into).collect();
        self.steps.push(OpStep::OmapGetValsByKeys { keys });
        self
    }
    pub fn omap_get_header(&mut self) -> &mut Self {
        self.steps.push(OpStep::OmapGetHeader);
        self
    }
}

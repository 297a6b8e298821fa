//! Object classes: methods that run on the OSD inside a client's request, with Ceph's class
//! and method names.
//!
//! - `hello` (Ceph's demonstration class): `say_hello`, `record_hello`, `replay`,
//!   `turn_it_to_11`.
//! - `lock`: advisory locks (`lock`, `unlock`, `break_lock`, `get_info`, `list_locks`,
//!   `assert_locked`), exclusive or shared, with cookie, tag, description and duration.
//! - `version`: an object version counter (`set`, `inc`, `read`).
//!
//! Inputs and outputs of `lock` and `version` are this project's MessagePack structs
//! ([`LockRequest`], [`LockInfo`], ...), not Ceph's binary encoding; clients reach them through
//! the typed API.

use crate::errno;
use crate::store::{CollectionId, ObjectId, ObjectStore, Op, StoreError};
use bytes::Bytes;
use std::collections::BTreeMap;

/// What a method sees and may change: the object, through an overlay of its own changes.
pub struct MethodCtx<'a> {
    store: &'a dyn ObjectStore,
    cid: CollectionId,
    oid: &'a ObjectId,
    exists: bool,
    size: u64,
    user_version: u64,
    /// The calling client (`client.N`) and the OSD's clock.
    pub caller: String,
    pub now_ns: u64,
    attrs: BTreeMap<String, Option<Bytes>>,
    data: Option<Bytes>,
    ops: Vec<Op>,
    modified: bool,
}

impl<'a> MethodCtx<'a> {
    pub fn new(
        store: &'a dyn ObjectStore,
        cid: CollectionId,
        oid: &'a ObjectId,
        exists: bool,
        size: u64,
        user_version: u64,
    ) -> Self {
        MethodCtx {
            store,
            cid,
            oid,
            exists,
            size,
            user_version,
            caller: String::new(),
            now_ns: 0,
            attrs: BTreeMap::new(),
            data: None,
            ops: Vec::new(),
            modified: false,
        }
    }

    pub fn modified(&self) -> bool {
        self.modified
    }
    pub fn exists(&self) -> bool {
        self.exists
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn user_version(&self) -> u64 {
        self.user_version
    }
    pub fn take_ops(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.ops)
    }

    fn create(&mut self) {
        if !self.exists {
            self.ops.push(Op::Touch {
                cid: self.cid,
                oid: self.oid.clone(),
            });
            self.exists = true;
            self.size = 0;
        }
        self.modified = true;
    }

    pub fn read_all(&self) -> Result<Bytes, i32> {
        if !self.exists {
            return Err(errno::ENOENT);
        }
        if let Some(d) = &self.data {
            return Ok(d.clone());
        }
        if self.size == 0 {
            return Ok(Bytes::new());
        }
        self.store
            .read(self.cid, self.oid, 0, self.size)
            .map_err(|e| e.errno())
    }

    pub fn write_full(&mut self, data: Bytes) {
        self.create();
        self.ops.push(Op::Truncate {
            cid: self.cid,
            oid: self.oid.clone(),
            size: 0,
        });
        if !data.is_empty() {
            self.ops.push(Op::Write {
                cid: self.cid,
                oid: self.oid.clone(),
                offset: 0,
                data: data.clone(),
            });
        }
        self.size = data.len() as u64;
        self.data = Some(data);
    }

    /// An internal xattr (not visible as a user xattr).
    pub fn getattr(&self, name: &str) -> Result<Option<Bytes>, i32> {
        if let Some(v) = self.attrs.get(name) {
            return Ok(v.clone());
        }
        if !self.exists {
            return Ok(None);
        }
        match self.store.getattr(self.cid, self.oid, name) {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::AttrNotFound { .. } | StoreError::ObjectNotFound { .. }) => Ok(None),
            Err(e) => Err(e.errno()),
        }
    }

    pub fn setattr(&mut self, name: &str, value: Bytes) {
        self.create();
        self.ops.push(Op::SetAttrs {
            cid: self.cid,
            oid: self.oid.clone(),
            attrs: vec![(name.to_string(), value.clone())],
        });
        self.attrs.insert(name.to_string(), Some(value));
    }

    pub fn rmattr(&mut self, name: &str) {
        if self.exists {
            self.ops.push(Op::RmAttr {
                cid: self.cid,
                oid: self.oid.clone(),
                name: name.to_string(),
            });
            self.modified = true;
        }
        self.attrs.insert(name.to_string(), None);
    }

    /// Names of internal xattrs starting with `prefix`.
    pub fn attr_names(&self, prefix: &str) -> Result<Vec<String>, i32> {
        let mut names: BTreeMap<String, bool> = BTreeMap::new();
        if self.exists {
            match self.store.getattrs(self.cid, self.oid) {
                Ok(all) => {
                    for k in all.into_keys().filter(|k| k.starts_with(prefix)) {
                        names.insert(k, true);
                    }
                }
                Err(StoreError::ObjectNotFound { .. }) => {}
                Err(e) => return Err(e.errno()),
            }
        }
        for (k, v) in &self.attrs {
            if k.starts_with(prefix) {
                names.insert(k.clone(), v.is_some());
            }
        }
        Ok(names
            .into_iter()
            .filter(|(_, live)| *live)
            .map(|(k, _)| k)
            .collect())
    }
}

/// Whether `class.method` may change the object (Ceph's `CLS_METHOD_WR`), or None for a
/// method that does not exist. A read at a snapshot may call only methods that do not.
pub fn method_writes(class: &str, method: &str) -> Option<bool> {
    let writes = match (class, method) {
        ("hello", "say_hello" | "replay") => false,
        ("hello", "record_hello" | "turn_it_to_11") => true,
        ("lock", "get_info" | "list_locks" | "assert_locked") => false,
        ("lock", "lock" | "unlock" | "break_lock") => true,
        ("version", "read") => false,
        ("version", "set" | "inc") => true,
        _ => return None,
    };
    Some(writes)
}

/// Calls `class.method` with `input`; returns the method's output or a positive errno.
pub fn call(
    ctx: &mut MethodCtx<'_>,
    class: &str,
    method: &str,
    input: &[u8],
) -> Result<Bytes, i32> {
    match class {
        "hello" => hello(ctx, method, input),
        "lock" => lock::call(ctx, method, input),
        "version" => version(ctx, method, input),
        _ => Err(errno::EOPNOTSUPP),
    }
}

fn hello(ctx: &mut MethodCtx<'_>, method: &str, input: &[u8]) -> Result<Bytes, i32> {
    let greet = |input: &[u8]| {
        let mut out = b"Hello, ".to_vec();
        out.extend_from_slice(if input.is_empty() { b"world" } else { input });
        out.push(b'!');
        Bytes::from(out)
    };
    match method {
        "say_hello" => {
            if input.len() > 100 {
                return Err(errno::EINVAL);
            }
            Ok(greet(input))
        }
        "record_hello" => {
            if input.len() > 100 {
                return Err(errno::EINVAL);
            }
            if ctx.exists() {
                return Err(errno::EEXIST);
            }
            ctx.write_full(greet(input));
            Ok(Bytes::new())
        }
        "replay" => ctx.read_all(),
        "turn_it_to_11" => {
            let data = ctx.read_all()?;
            ctx.write_full(Bytes::from(data.to_ascii_uppercase()));
            Ok(Bytes::new())
        }
        _ => Err(errno::EOPNOTSUPP),
    }
}

const VERSION_ATTR: &str = "ceph.objclass.version";

pub use crate::msg::class::ObjVersion;

fn version(ctx: &mut MethodCtx<'_>, method: &str, input: &[u8]) -> Result<Bytes, i32> {
    let current = match ctx.getattr(VERSION_ATTR)? {
        Some(b) => rmp_serde::from_slice::<ObjVersion>(&b).map_err(|_| errno::EIO)?,
        None => ObjVersion::default(),
    };
    let store = |ctx: &mut MethodCtx<'_>, v: &ObjVersion| {
        ctx.setattr(
            VERSION_ATTR,
            Bytes::from(rmp_serde::to_vec_named(v).unwrap_or_default()),
        );
    };
    match method {
        "set" => {
            let v: ObjVersion = rmp_serde::from_slice(input).map_err(|_| errno::EINVAL)?;
            store(ctx, &v);
            Ok(Bytes::new())
        }
        "inc" => {
            let next = ObjVersion {
                ver: current.ver + 1,
                tag: if current.tag.is_empty() {
                    ctx.caller.clone()
                } else {
                    current.tag.clone()
                },
            };
            store(ctx, &next);
            Ok(Bytes::new())
        }
        "read" => Ok(Bytes::from(
            rmp_serde::to_vec_named(&current).unwrap_or_default(),
        )),
        _ => Err(errno::EOPNOTSUPP),
    }
}

pub mod lock {
    //! Advisory locks, as Ceph's `lock` class keeps them: per lock name, a type, a tag, and
    //! the lockers (entity + cookie) with their expiry.

    use super::MethodCtx;
    use crate::errno;
    use bytes::Bytes;
    use serde::Deserialize;

    const PREFIX: &str = "lock.";

    pub use crate::msg::class::lock::{LockInfo, LockRequest, LockType, Locker, UnlockRequest};

    fn load(ctx: &MethodCtx<'_>, name: &str) -> Result<Option<LockInfo>, i32> {
        let Some(raw) = ctx.getattr(&format!("{PREFIX}{name}"))? else {
            return Ok(None);
        };
        let mut info: LockInfo = rmp_serde::from_slice(&raw).map_err(|_| errno::EIO)?;
        let now = ctx.now_ns;
        info.lockers
            .retain(|l| l.expires_ns == 0 || l.expires_ns > now);
        Ok(if info.lockers.is_empty() {
            None
        } else {
            Some(info)
        })
    }

    fn save(ctx: &mut MethodCtx<'_>, info: &LockInfo) {
        let key = format!("{PREFIX}{}", info.name);
        if info.lockers.is_empty() {
            ctx.rmattr(&key);
        } else {
            ctx.setattr(
                &key,
                Bytes::from(rmp_serde::to_vec_named(info).unwrap_or_default()),
            );
        }
    }

    fn decode<T: for<'de> Deserialize<'de>>(input: &[u8]) -> Result<T, i32> {
        rmp_serde::from_slice(input).map_err(|_| errno::EINVAL)
    }

    pub fn call(ctx: &mut MethodCtx<'_>, method: &str, input: &[u8]) -> Result<Bytes, i32> {
        match method {
            "lock" => lock(ctx, decode(input)?),
            "unlock" => {
                let r: UnlockRequest = decode(input)?;
                let caller = ctx.caller.clone();
                remove(ctx, &r.name, &caller, &r.cookie)
            }
            "break_lock" => {
                let r: UnlockRequest = decode(input)?;
                remove(ctx, &r.name, &r.locker, &r.cookie)
            }
            "get_info" => {
                let r: UnlockRequest = decode(input)?;
                let info = load(ctx, &r.name)?.ok_or(errno::ENOENT)?;
                Ok(Bytes::from(
                    rmp_serde::to_vec_named(&info).unwrap_or_default(),
                ))
            }
            "list_locks" => {
                let names: Vec<String> = ctx
                    .attr_names(PREFIX)?
                    .into_iter()
                    .map(|n| n[PREFIX.len()..].to_string())
                    .collect();
                let mut live = Vec::new();
                for n in names {
                    if load(ctx, &n)?.is_some() {
                        live.push(n);
                    }
                }
                Ok(Bytes::from(
                    rmp_serde::to_vec_named(&live).unwrap_or_default(),
                ))
            }
            "assert_locked" => {
                let r: LockRequest = decode(input)?;
                let info = load(ctx, &r.name)?.ok_or(errno::EBUSY)?;
                let held = info.lock_type == r.lock_type
                    && info.tag == r.tag
                    && info
                        .lockers
                        .iter()
                        .any(|l| l.cookie == r.cookie && l.entity == ctx.caller);
                if held {
                    Ok(Bytes::new())
                } else {
                    Err(errno::EBUSY)
                }
            }
            _ => Err(errno::EOPNOTSUPP),
        }
    }

    fn lock(ctx: &mut MethodCtx<'_>, r: LockRequest) -> Result<Bytes, i32> {
        if r.name.is_empty() {
            return Err(errno::EINVAL);
        }
        let expires_ns = if r.duration_ms == 0 {
            0
        } else {
            ctx.now_ns
                .saturating_add(r.duration_ms.saturating_mul(1_000_000))
        };
        let me = Locker {
            entity: ctx.caller.clone(),
            cookie: r.cookie.clone(),
            description: r.description.clone(),
            expires_ns,
        };
        let mut info = match load(ctx, &r.name)? {
            None => LockInfo {
                name: r.name.clone(),
                lock_type: r.lock_type,
                tag: r.tag.clone(),
                lockers: Vec::new(),
            },
            Some(info) => info,
        };
        if let Some(pos) = info
            .lockers
            .iter()
            .position(|l| l.entity == me.entity && l.cookie == me.cookie)
        {
            if !r.may_renew && !r.must_renew {
                return Err(errno::EEXIST);
            }
            info.lockers[pos] = me;
        } else if r.must_renew {
            return Err(errno::ENOENT);
        } else if !info.lockers.is_empty() {
            if info.lock_type == LockType::Exclusive || r.lock_type == LockType::Exclusive {
                return Err(errno::EBUSY);
            }
            if info.tag != r.tag {
                return Err(errno::EBUSY);
            }
            info.lockers.push(me);
        } else {
            info.lock_type = r.lock_type;
            info.tag = r.tag.clone();
            info.lockers.push(me);
        }
        save(ctx, &info);
        Ok(Bytes::new())
    }

    fn remove(
        ctx: &mut MethodCtx<'_>,
        name: &str,
        entity: &str,
        cookie: &str,
    ) -> Result<Bytes, i32> {
        let mut info = load(ctx, name)?.ok_or(errno::ENOENT)?;
        let before = info.lockers.len();
        info.lockers
            .retain(|l| !(l.entity == entity && l.cookie == cookie));
        if info.lockers.len() == before {
            return Err(errno::ENOENT);
        }
        save(ctx, &info);
        Ok(Bytes::new())
    }
}

#[cfg(test)]
mod method_tests {
    use super::method_writes;

    #[test]
    fn every_method_says_whether_it_writes() {
        let reads = [
            ("hello", "say_hello"),
            ("hello", "replay"),
            ("lock", "get_info"),
            ("lock", "list_locks"),
            ("lock", "assert_locked"),
            ("version", "read"),
        ];
        let writes = [
            ("hello", "record_hello"),
            ("hello", "turn_it_to_11"),
            ("lock", "lock"),
            ("lock", "unlock"),
            ("lock", "break_lock"),
            ("version", "set"),
            ("version", "inc"),
        ];
        for (c, m) in reads {
            assert_eq!(method_writes(c, m), Some(false), "{c}.{m}");
        }
        for (c, m) in writes {
            assert_eq!(method_writes(c, m), Some(true), "{c}.{m}");
        }
        assert_eq!(method_writes("hello", "nosuch"), None);
        assert_eq!(method_writes("nosuch", "read"), None);
    }
}

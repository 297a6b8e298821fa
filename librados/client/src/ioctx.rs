//! [`IoCtx`]: operations on the objects of one pool (within a namespace, optionally under a
//! locator key). Every operation exists async on [`AioCtx`] (`io.aio()`) and blocking here.

use super::ops::{LockType, ReadOp, WriteOp};
use super::{Error, Rados, Result};
use crate::msg::class::lock::{LockInfo, LockRequest, UnlockRequest};
use crate::msg::ops::{ObjectName, OpStep, PgListRequest, SnapContext, StepOutput};
use crate::osdmap::PgId;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An object's size and modification time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectStat {
    pub size: u64,
    pub mtime: SystemTime,
}

/// What a notify gathered: each acknowledging watcher's (client id, cookie, reply).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyReplies {
    pub acks: Vec<(u64, u64, Bytes)>,
}

/// What `lock_*_with` does when this client already holds the lock under the same cookie
/// (Ceph's `LOCK_FLAG_MAY_RENEW` and `LOCK_FLAG_MUST_RENEW`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockRenew {
    /// Fail with EEXIST.
    #[default]
    Never,
    /// Renew it: the new duration and description replace the old ones.
    May,
    /// Renew it, and fail with ENOENT unless this client holds it.
    Must,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListEntry {
    pub namespace: String,
    pub locator: String,
    pub name: String,
}

/// A pool, namespace and locator key to address objects through.
#[derive(Clone)]
pub struct IoCtx {
    rados: Rados,
    pool: i64,
    pool_name: String,
    namespace: String,
    locator: String,
    last_version: Arc<AtomicU64>,
    /// Reads see the pool as of this snap ([`crate::store::SNAP_HEAD`]: as it is now).
    pub(super) read_snap: u64,
    /// The write snap context set for self-managed snapshots.
    pub(super) write_snapc: SnapContext,
}

/// The async form of every [`IoCtx`] operation.
///
/// Operations on one object from one [`crate::Rados`] handle are applied in the order they
/// were submitted, where an operation is submitted when its future is first polled: futures
/// polled in sequence (`futures::join!`, or one `await` after another) keep their order, and
/// an operation on an object starts once the one submitted before it has finished. Different
/// objects proceed concurrently. A notify is ordered after what came before it, but what
/// comes after it does not wait for its watchers.
#[derive(Clone)]
pub struct AioCtx {
    io: IoCtx,
}

impl IoCtx {
    pub(crate) fn new(rados: Rados, pool: i64, pool_name: String) -> IoCtx {
        IoCtx {
            rados,
            pool,
            pool_name,
            namespace: String::new(),
            locator: String::new(),
            last_version: Arc::new(AtomicU64::new(0)),
            read_snap: crate::store::SNAP_HEAD,
            write_snapc: SnapContext::default(),
        }
    }

    /// The cluster handle this context belongs to.
    pub fn rados(&self) -> &Rados {
        &self.rados
    }
    pub fn pool_id(&self) -> i64 {
        self.pool
    }
    pub fn pool_name(&self) -> &str {
        &self.pool_name
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    /// Objects named from now on live in `ns` ("" is the default namespace).
    pub fn set_namespace(&mut self, ns: &str) {
        self.namespace = ns.to_string();
    }
    /// Objects named from now on are placed by `key` instead of their names ("" to stop).
    pub fn set_locator_key(&mut self, key: &str) {
        self.locator = key.to_string();
    }
    /// The locator key set by [`IoCtx::set_locator_key`] ("" for none).
    pub fn locator_key(&self) -> &str {
        &self.locator
    }
    /// The version of the object last read or written through this context.
    pub fn last_version(&self) -> u64 {
        self.last_version.load(Ordering::Relaxed)
    }

    /// The async form of this context's operations.
    pub fn aio(&self) -> AioCtx {
        AioCtx { io: self.clone() }
    }

    pub(super) fn block<T: Send + 'static, F>(&self, f: impl FnOnce(AioCtx) -> F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let fut = f(self.aio());
        self.rados.block_on(fut)
    }

    pub fn operate(&self, name: &str, op: &WriteOp) -> Result<u64> {
        let (n, op) = (name.to_string(), op.clone());
        self.block(|a| async move { a.operate(&n, &op).await })
    }
    pub fn operate_read(&self, name: &str, op: &ReadOp) -> Result<Vec<StepOutput>> {
        let (n, op) = (name.to_string(), op.clone());
        self.block(|a| async move { a.operate_read(&n, &op).await })
    }
    pub fn write(&self, name: &str, data: impl Into<Bytes>, offset: u64) -> Result<()> {
        let (n, d) = (name.to_string(), data.into());
        self.block(|a| async move { a.write(&n, d, offset).await })
    }
    pub fn write_full(&self, name: &str, data: impl Into<Bytes>) -> Result<()> {
        let (n, d) = (name.to_string(), data.into());
        self.block(|a| async move { a.write_full(&n, d).await })
    }
    pub fn append(&self, name: &str, data: impl Into<Bytes>) -> Result<()> {
        let (n, d) = (name.to_string(), data.into());
        self.block(|a| async move { a.append(&n, d).await })
    }
    pub fn truncate(&self, name: &str, size: u64) -> Result<()> {
        let n = name.to_string();
        self.block(|a| async move { a.truncate(&n, size).await })
    }
    pub fn zero(&self, name: &str, offset: u64, len: u64) -> Result<()> {
        let n = name.to_string();
        self.block(|a| async move { a.zero(&n, offset, len).await })
    }
    pub fn create(&self, name: &str, exclusive: bool) -> Result<()> {
        let n = name.to_string();
        self.block(|a| async move { a.create(&n, exclusive).await })
    }
    pub fn remove(&self, name: &str) -> Result<()> {
        let n = name.to_string();
        self.block(|a| async move { a.remove(&n).await })
    }
    /// Up to `len` bytes at `offset` (`len` 0: to the end).
    pub fn read(&self, name: &str, len: u64, offset: u64) -> Result<Bytes> {
        let n = name.to_string();
        self.block(|a| async move { a.read(&n, len, offset).await })
    }
    /// The whole object.
    pub fn read_full(&self, name: &str) -> Result<Bytes> {
        self.read(name, 0, 0)
    }
    pub fn stat(&self, name: &str) -> Result<ObjectStat> {
        let n = name.to_string();
        self.block(|a| async move { a.stat(&n).await })
    }
    pub fn get_xattr(&self, name: &str, attr: &str) -> Result<Bytes> {
        let (n, k) = (name.to_string(), attr.to_string());
        self.block(|a| async move { a.get_xattr(&n, &k).await })
    }
    pub fn get_xattrs(&self, name: &str) -> Result<BTreeMap<String, Bytes>> {
        let n = name.to_string();
        self.block(|a| async move { a.get_xattrs(&n).await })
    }
    pub fn set_xattr(&self, name: &str, attr: &str, value: impl Into<Bytes>) -> Result<()> {
        let (n, k, v) = (name.to_string(), attr.to_string(), value.into());
        self.block(|a| async move { a.set_xattr(&n, &k, v).await })
    }
    pub fn rm_xattr(&self, name: &str, attr: &str) -> Result<()> {
        let (n, k) = (name.to_string(), attr.to_string());
        self.block(|a| async move { a.rm_xattr(&n, &k).await })
    }
    pub fn omap_set<K: Into<Bytes>, V: Into<Bytes>>(
        &self,
        name: &str,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        let mut op = WriteOp::new();
        op.omap_set(entries);
        self.operate(name, &op).map(|_| ())
    }
    /// Up to `max` omap entries after `start_after` with keys beginning with `prefix`; the
    /// flag says whether more remain.
    pub fn omap_get_vals(
        &self,
        name: &str,
        start_after: &[u8],
        prefix: &[u8],
        max: u64,
    ) -> Result<(Vec<(Bytes, Bytes)>, bool)> {
        let (n, s, p) = (
            name.to_string(),
            Bytes::copy_from_slice(start_after),
            Bytes::copy_from_slice(prefix),
        );
        self.block(|a| async move { a.omap_get_vals(&n, s, p, max).await })
    }
    pub fn omap_get_keys(
        &self,
        name: &str,
        start_after: &[u8],
        max: u64,
    ) -> Result<(Vec<Bytes>, bool)> {
        let (n, s) = (name.to_string(), Bytes::copy_from_slice(start_after));
        self.block(|a| async move { a.omap_get_keys(&n, s, max).await })
    }
    pub fn omap_get_vals_by_keys<K: Into<Bytes>>(
        &self,
        name: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        let n = name.to_string();
        let keys: Vec<Bytes> = keys.into_iter().map(Into::into).collect();
        self.block(|a| async move { a.omap_get_vals_by_keys(&n, keys).await })
    }
    pub fn omap_get_header(&self, name: &str) -> Result<Bytes> {
        let n = name.to_string();
        self.block(|a| async move { a.omap_get_header(&n).await })
    }
    pub fn omap_set_header(&self, name: &str, header: impl Into<Bytes>) -> Result<()> {
        let mut op = WriteOp::new();
        op.omap_set_header(header);
        self.operate(name, &op).map(|_| ())
    }
    pub fn omap_rm_keys<K: Into<Bytes>>(
        &self,
        name: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<()> {
        let mut op = WriteOp::new();
        op.omap_rm_keys(keys);
        self.operate(name, &op).map(|_| ())
    }
    pub fn omap_rm_range(&self, name: &str, first: &[u8], last: &[u8]) -> Result<()> {
        let mut op = WriteOp::new();
        op.omap_rm_range(Bytes::copy_from_slice(first), Bytes::copy_from_slice(last));
        self.operate(name, &op).map(|_| ())
    }
    pub fn omap_clear(&self, name: &str) -> Result<()> {
        let mut op = WriteOp::new();
        op.omap_clear();
        self.operate(name, &op).map(|_| ())
    }
    /// Calls `class.method` on the object; a method that changes it is applied atomically.
    pub fn exec(
        &self,
        name: &str,
        class: &str,
        method: &str,
        input: impl Into<Bytes>,
    ) -> Result<Bytes> {
        let (n, c, m, i) = (
            name.to_string(),
            class.to_string(),
            method.to_string(),
            input.into(),
        );
        self.block(|a| async move { a.exec(&n, &c, &m, i).await })
    }
    /// Takes an exclusive advisory lock (EBUSY if another holder has it; EEXIST if this
    /// client already holds it with `cookie`). `duration` None never expires.
    pub fn lock_exclusive(
        &self,
        name: &str,
        lock: &str,
        cookie: &str,
        description: &str,
        duration: Option<Duration>,
    ) -> Result<()> {
        self.lock_exclusive_with(name, lock, cookie, description, duration, LockRenew::Never)
    }
    /// [`Self::lock_exclusive`], saying what to do when this client already holds the lock
    /// with `cookie`.
    pub fn lock_exclusive_with(
        &self,
        name: &str,
        lock: &str,
        cookie: &str,
        description: &str,
        duration: Option<Duration>,
        renew: LockRenew,
    ) -> Result<()> {
        let kind = (LockType::Exclusive, "");
        self.lock(name, lock, kind, cookie, description, duration, renew)
    }
    /// Takes a shared advisory lock; holders must agree on `tag`.
    pub fn lock_shared(
        &self,
        name: &str,
        lock: &str,
        cookie: &str,
        tag: &str,
        description: &str,
        duration: Option<Duration>,
    ) -> Result<()> {
        self.lock_shared_with(
            name,
            lock,
            cookie,
            tag,
            description,
            duration,
            LockRenew::Never,
        )
    }
    /// [`Self::lock_shared`], saying what to do when this client already holds the lock with
    /// `cookie`.
    #[allow(clippy::too_many_arguments)]
    pub fn lock_shared_with(
        &self,
        name: &str,
        lock: &str,
        cookie: &str,
        tag: &str,
        description: &str,
        duration: Option<Duration>,
        renew: LockRenew,
    ) -> Result<()> {
        let kind = (LockType::Shared, tag);
        self.lock(name, lock, kind, cookie, description, duration, renew)
    }
    #[allow(clippy::too_many_arguments)]
    fn lock(
        &self,
        name: &str,
        lock: &str,
        (lock_type, tag): (LockType, &str),
        cookie: &str,
        description: &str,
        duration: Option<Duration>,
        renew: LockRenew,
    ) -> Result<()> {
        let req = LockRequest {
            name: lock.into(),
            lock_type,
            cookie: cookie.into(),
            tag: tag.into(),
            description: description.into(),
            duration_ms: duration.map_or(0, |d| d.as_millis().max(1) as u64),
            may_renew: renew == LockRenew::May,
            must_renew: renew == LockRenew::Must,
        };
        self.exec(name, "lock", "lock", encode(&req)?).map(|_| ())
    }
    pub fn unlock(&self, name: &str, lock: &str, cookie: &str) -> Result<()> {
        let req = UnlockRequest {
            name: lock.into(),
            cookie: cookie.into(),
            locker: String::new(),
        };
        self.exec(name, "lock", "unlock", encode(&req)?).map(|_| ())
    }
    /// Evicts `locker` (`client.N`) holding `lock` with `cookie`.
    pub fn break_lock(&self, name: &str, lock: &str, locker: &str, cookie: &str) -> Result<()> {
        let req = UnlockRequest {
            name: lock.into(),
            cookie: cookie.into(),
            locker: locker.into(),
        };
        self.exec(name, "lock", "break_lock", encode(&req)?)
            .map(|_| ())
    }
    /// A lock's type, tag and holders (ENOENT when nobody holds it).
    pub fn lock_info(&self, name: &str, lock: &str) -> Result<LockInfo> {
        let req = UnlockRequest {
            name: lock.into(),
            cookie: String::new(),
            locker: String::new(),
        };
        let out = self.exec(name, "lock", "get_info", encode(&req)?)?;
        rmp_serde::from_slice(&out)
            .map_err(|e| Error::InvalidArgument(format!("bad lock info: {e}")))
    }
    /// Names of the locks held on an object.
    pub fn list_locks(&self, name: &str) -> Result<Vec<String>> {
        let out = self.exec(name, "lock", "list_locks", Bytes::new())?;
        rmp_serde::from_slice(&out)
            .map_err(|e| Error::InvalidArgument(format!("bad lock list: {e}")))
    }

    /// Watches the object: `callback` runs for every notify and its result is the reply.
    /// Returns the watch's cookie. The watch is kept with the default options (see
    /// [`IoCtx::watch_with`]).
    pub fn watch(
        &self,
        name: &str,
        callback: impl Fn(&super::NotifyEvent) -> Vec<u8> + Send + Sync + 'static,
    ) -> Result<u64> {
        self.watch_with(name, super::WatchOptions::default(), callback)
    }
    /// Watches the object with a timeout and an error callback: the client pings the watch
    /// well within the timeout, and the watch fails (reported by [`IoCtx::watch_check`] and
    /// to `options.on_error`) if its object is removed or its primary loses it.
    pub fn watch_with(
        &self,
        name: &str,
        options: super::WatchOptions,
        callback: impl Fn(&super::NotifyEvent) -> Vec<u8> + Send + Sync + 'static,
    ) -> Result<u64> {
        let n = name.to_string();
        let cb: super::WatchCallback = Arc::new(callback);
        self.block(|a| async move { a.watch_with(&n, options, cb).await })
    }
    pub fn unwatch(&self, cookie: u64) -> Result<()> {
        self.block(|a| async move { a.unwatch(cookie).await })
    }
    /// How long ago the watch's primary last confirmed it; the error that ended it if it
    /// failed ([`Error::NotConnected`] once its object was removed); NotFound if this client
    /// has no such watch.
    pub fn watch_check(&self, cookie: u64) -> Result<Duration> {
        self.rados.check_watch(cookie)
    }
    /// Notifies every watcher and waits up to `timeout` for their replies; ETIMEDOUT when some
    /// did not answer in time.
    pub fn notify(
        &self,
        name: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<NotifyReplies> {
        let (n, p) = (name.to_string(), payload.into());
        self.block(|a| async move { a.notify(&n, p, timeout).await })
    }

    /// Every object of the pool in this context's namespace, PG by PG.
    pub fn list_objects(&self) -> ObjectIter {
        ObjectIter::new(self.clone(), Some(self.namespace.clone()))
    }
    /// Every object of the pool in every namespace.
    pub fn list_objects_all_namespaces(&self) -> ObjectIter {
        ObjectIter::new(self.clone(), None)
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Bytes> {
    rmp_serde::to_vec_named(v)
        .map(Bytes::from)
        .map_err(|e| Error::InvalidArgument(e.to_string()))
}

fn one(mut outs: Vec<StepOutput>) -> StepOutput {
    outs.pop().unwrap_or_default()
}

impl AioCtx {
    fn object(&self, name: &str) -> ObjectName {
        ObjectName {
            namespace: self.io.namespace.clone(),
            key: self.io.locator.clone(),
            name: name.to_string(),
        }
    }

    pub(super) async fn run(&self, name: &str, steps: Vec<OpStep>) -> Result<Vec<StepOutput>> {
        self.run_with(name, steps, Vec::new(), None).await
    }

    /// [`Self::run`], letting the `failok` steps fail and stamping writes with `mtime_ns`
    /// (None: now).
    async fn run_with(
        &self,
        name: &str,
        steps: Vec<OpStep>,
        failok: Vec<u32>,
        mtime_ns: Option<u64>,
    ) -> Result<Vec<StepOutput>> {
        if steps.is_empty() {
            return Err(Error::InvalidArgument(
                "an operation needs at least one step".into(),
            ));
        }
        if self.io.read_snap != crate::store::SNAP_HEAD && steps.iter().any(OpStep::always_writes) {
            return Err(Error::ReadOnly {
                what: format!("{name} (reading at snap {})", self.io.read_snap),
            });
        }
        let (results, version) = self
            .io
            .rados
            .submit(
                self.io.pool,
                self.object(name),
                (steps, failok),
                self.io.read_snap,
                self.io.write_snapc.clone(),
                mtime_ns,
            )
            .await?;
        self.io.last_version.store(version, Ordering::Relaxed);
        Ok(results.into_iter().map(|r| r.out).collect())
    }

    /// Applies `op` atomically; returns the object's new version.
    pub async fn operate(&self, name: &str, op: &WriteOp) -> Result<u64> {
        self.run_with(name, op.steps.clone(), op.failok.clone(), op.mtime_ns)
            .await?;
        Ok(self.io.last_version())
    }
    pub async fn operate_read(&self, name: &str, op: &ReadOp) -> Result<Vec<StepOutput>> {
        self.run_with(name, op.steps.clone(), op.failok.clone(), None)
            .await
    }
    pub async fn write(&self, name: &str, data: Bytes, offset: u64) -> Result<()> {
        self.run(name, vec![OpStep::Write { offset, data }])
            .await
            .map(|_| ())
    }
    pub async fn write_full(&self, name: &str, data: Bytes) -> Result<()> {
        self.run(name, vec![OpStep::WriteFull { data }])
            .await
            .map(|_| ())
    }
    pub async fn append(&self, name: &str, data: Bytes) -> Result<()> {
        self.run(name, vec![OpStep::Append { data }])
            .await
            .map(|_| ())
    }
    pub async fn truncate(&self, name: &str, size: u64) -> Result<()> {
        self.run(name, vec![OpStep::Truncate { size }])
            .await
            .map(|_| ())
    }
    pub async fn zero(&self, name: &str, offset: u64, len: u64) -> Result<()> {
        self.run(name, vec![OpStep::Zero { offset, len }])
            .await
            .map(|_| ())
    }
    pub async fn create(&self, name: &str, exclusive: bool) -> Result<()> {
        self.run(name, vec![OpStep::Create { exclusive }])
            .await
            .map(|_| ())
    }
    pub async fn remove(&self, name: &str) -> Result<()> {
        self.run(name, vec![OpStep::Remove]).await.map(|_| ())
    }
    pub async fn read(&self, name: &str, len: u64, offset: u64) -> Result<Bytes> {
        match one(self.run(name, vec![OpStep::Read { offset, len }]).await?) {
            StepOutput::Data(d) => Ok(d),
            _ => Ok(Bytes::new()),
        }
    }
    pub async fn stat(&self, name: &str) -> Result<ObjectStat> {
        match one(self.run(name, vec![OpStep::Stat]).await?) {
            StepOutput::Stat { size, mtime_ns } => Ok(ObjectStat {
                size,
                mtime: SystemTime::UNIX_EPOCH + Duration::from_nanos(mtime_ns),
            }),
            _ => Err(Error::InvalidArgument("unexpected stat reply".into())),
        }
    }
    pub async fn get_xattr(&self, name: &str, attr: &str) -> Result<Bytes> {
        match one(self
            .run(name, vec![OpStep::GetXattr { name: attr.into() }])
            .await?)
        {
            StepOutput::Data(d) => Ok(d),
            _ => Ok(Bytes::new()),
        }
    }
    pub async fn get_xattrs(&self, name: &str) -> Result<BTreeMap<String, Bytes>> {
        match one(self.run(name, vec![OpStep::GetXattrs]).await?) {
            StepOutput::Xattrs(x) => Ok(x),
            _ => Ok(BTreeMap::new()),
        }
    }
    pub async fn set_xattr(&self, name: &str, attr: &str, value: Bytes) -> Result<()> {
        self.run(
            name,
            vec![OpStep::SetXattr {
                name: attr.into(),
                value,
            }],
        )
        .await
        .map(|_| ())
    }
    pub async fn rm_xattr(&self, name: &str, attr: &str) -> Result<()> {
        self.run(name, vec![OpStep::RmXattr { name: attr.into() }])
            .await
            .map(|_| ())
    }
    pub async fn omap_get_vals(
        &self,
        name: &str,
        start_after: Bytes,
        prefix: Bytes,
        max: u64,
    ) -> Result<(Vec<(Bytes, Bytes)>, bool)> {
        match one(self
            .run(
                name,
                vec![OpStep::OmapGetVals {
                    start_after,
                    prefix,
                    max,
                }],
            )
            .await?)
        {
            StepOutput::OmapVals { entries, more } => Ok((entries, more)),
            _ => Ok((Vec::new(), false)),
        }
    }
    pub async fn omap_get_keys(
        &self,
        name: &str,
        start_after: Bytes,
        max: u64,
    ) -> Result<(Vec<Bytes>, bool)> {
        match one(self
            .run(name, vec![OpStep::OmapGetKeys { start_after, max }])
            .await?)
        {
            StepOutput::OmapKeys { keys, more } => Ok((keys, more)),
            _ => Ok((Vec::new(), false)),
        }
    }
    pub async fn omap_get_vals_by_keys(
        &self,
        name: &str,
        keys: Vec<Bytes>,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        match one(self
            .run(name, vec![OpStep::OmapGetValsByKeys { keys }])
            .await?)
        {
            StepOutput::OmapVals { entries, .. } => Ok(entries),
            _ => Ok(Vec::new()),
        }
    }
    pub async fn omap_get_header(&self, name: &str) -> Result<Bytes> {
        match one(self.run(name, vec![OpStep::OmapGetHeader]).await?) {
            StepOutput::Data(d) => Ok(d),
            _ => Ok(Bytes::new()),
        }
    }
    pub async fn exec(&self, name: &str, class: &str, method: &str, input: Bytes) -> Result<Bytes> {
        let step = OpStep::Exec {
            class: class.into(),
            method: method.into(),
            input,
        };
        match one(self.run(name, vec![step]).await?) {
            StepOutput::Data(d) => Ok(d),
            _ => Ok(Bytes::new()),
        }
    }

    pub async fn watch(&self, name: &str, callback: super::WatchCallback) -> Result<u64> {
        self.watch_with(name, super::WatchOptions::default(), callback)
            .await
    }
    pub async fn watch_with(
        &self,
        name: &str,
        options: super::WatchOptions,
        callback: super::WatchCallback,
    ) -> Result<u64> {
        self.io
            .rados
            .watch_object(self.io.pool, self.object(name), callback, options)
            .await
    }
    pub async fn unwatch(&self, cookie: u64) -> Result<()> {
        self.io.rados.unwatch_cookie(cookie).await
    }
    /// See [`IoCtx::watch_check`].
    pub fn watch_check(&self, cookie: u64) -> Result<Duration> {
        self.io.rados.check_watch(cookie)
    }
    pub async fn notify(
        &self,
        name: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<NotifyReplies> {
        let timeout_ms = timeout.as_millis().max(1) as u64;
        match one(self
            .run(
                name,
                vec![OpStep::Notify {
                    payload,
                    timeout_ms,
                }],
            )
            .await?)
        {
            StepOutput::NotifyReplies { acks, .. } => Ok(NotifyReplies { acks }),
            _ => Ok(NotifyReplies::default()),
        }
    }

    /// One page of PG `seed`'s objects after `after`.
    pub async fn list_page(
        &self,
        seed: u32,
        namespace: Option<String>,
        after: Option<(u32, ObjectName)>,
        max: u32,
    ) -> Result<(Vec<(u32, ObjectName)>, bool)> {
        let req = PgListRequest {
            pgid: PgId::new(self.io.pool, seed),
            namespace,
            after,
            max,
            snap: self.io.read_snap,
        };
        let page = self.io.rados.list_pg(req).await?;
        Ok((page.objects, page.more))
    }
}

/// Iterates over a pool's objects, PG after PG, a page at a time.
pub struct ObjectIter {
    io: IoCtx,
    namespace: Option<String>,
    seed: u32,
    after: Option<(u32, ObjectName)>,
    page: std::vec::IntoIter<(u32, ObjectName)>,
    more_in_pg: bool,
    done: bool,
}

impl ObjectIter {
    fn new(io: IoCtx, namespace: Option<String>) -> Self {
        ObjectIter {
            io,
            namespace,
            seed: 0,
            after: None,
            page: Vec::new().into_iter(),
            more_in_pg: true,
            done: false,
        }
    }
}

impl Iterator for ObjectIter {
    type Item = Result<ListEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((hash, o)) = self.page.next() {
                self.after = Some((hash, o.clone()));
                return Some(Ok(ListEntry {
                    namespace: o.namespace,
                    locator: o.key,
                    name: o.name,
                }));
            }
            if self.done {
                return None;
            }
            let pg_num = match self.io.rados.osdmap().pool(self.io.pool) {
                Some(p) => p.pg_num,
                None => {
                    self.done = true;
                    return Some(Err(Error::PoolNotFound {
                        name: self.io.pool_name.clone(),
                    }));
                }
            };
            if !self.more_in_pg {
                self.seed += 1;
                self.after = None;
                self.more_in_pg = true;
            }
            if self.seed >= pg_num {
                self.done = true;
                return None;
            }
            let (a, seed, ns, after) = (
                self.io.aio(),
                self.seed,
                self.namespace.clone(),
                self.after.clone(),
            );
            match self
                .io
                .rados
                .block_on(async move { a.list_page(seed, ns, after, 1024).await })
            {
                Ok((objects, more)) => {
                    self.more_in_pg = more;
                    self.page = objects.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

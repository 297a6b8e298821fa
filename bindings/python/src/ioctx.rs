//! `rados.Ioctx`: python-rados' I/O context on one pool — object data, xattrs, listing,
//! namespaces and locator keys, class calls, locks, watch/notify. Each blocking call releases
//! the GIL while librados works.
//!
//! The methods here are thin: argument shapes and return values as python-rados has them;
//! the work is in `librados::IoCtx`. Ioctx methods of other families live with their nouns:
//! compound operations and omap in [`crate::ops`], snapshots in [`crate::snaps`], `aio_*` in
//! [`crate::aio`]; listing and Object in [`crate::objects`], watch/notify in [`crate::watch`].

use crate::aio::InFlight;
use crate::cluster::Rados;
use crate::errors::{self, Context};
use crate::objects::{ObjectIterator, XattrIterator};
use crate::watch::Watch;
use bytes::Bytes;
use librados::IoCtx;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// python-rados' LIBRADOS_ALL_NSPACES: set as the namespace, listings cover every namespace.
pub const ALL_NSPACES: &str = "\x01";

/// The librados context behind an Ioctx (and its locator key, which librados does not report);
/// emptied by close() and by Rados.shutdown().
pub struct Slot {
    held: RwLock<Option<(Arc<IoCtx>, String)>>,
}

impl Slot {
    pub fn new(io: IoCtx, locator: String) -> Slot {
        Slot {
            held: RwLock::new(Some((Arc::new(io), locator))),
        }
    }
    fn held(&self) -> Option<(Arc<IoCtx>, String)> {
        self.held.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// The context alone: every call takes it, so without cloning the locator.
    fn get(&self) -> Option<Arc<IoCtx>> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.as_ref().map(|(io, _)| io.clone())
    }
    /// Empties the slot; returns what it held (to be dropped without the GIL).
    pub fn close(&self) -> Option<Arc<IoCtx>> {
        self.held
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|(io, _)| io)
    }
    /// Replaces the context by a changed copy (contexts already handed out keep theirs).
    fn update(
        &self,
        f: impl FnOnce(&mut IoCtx, &mut String) -> librados::Result<()>,
    ) -> librados::Result<()> {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        if let Some((io, locator)) = held.as_mut() {
            let mut changed = IoCtx::clone(io);
            let mut new_locator = locator.clone();
            f(&mut changed, &mut new_locator)?;
            *io = Arc::new(changed);
            *locator = new_locator;
        }
        Ok(())
    }
}

/// `lock_*`'s flags: `LIBRADOS_LOCK_FLAG_MAY_RENEW` (1) renews a lock this client holds,
/// `LIBRADOS_LOCK_FLAG_MUST_RENEW` (2) renews only; both at once is EINVAL, other bits are
/// ignored (as Ceph does).
fn lock_renew(py: Python<'_>, flags: u8) -> PyResult<librados::client::LockRenew> {
    use librados::client::LockRenew;
    match flags & 3 {
        0 => Ok(LockRenew::Never),
        1 => Ok(LockRenew::May),
        2 => Ok(LockRenew::Must),
        _ => Err(librados::Error::InvalidArgument(
            "lock flags: MAY_RENEW and MUST_RENEW exclude each other".into(),
        ))
        .ctx(py, || "Ioctx.lock".into()),
    }
}

/// Bytes sharing the Python object's buffer (no copy for `bytes`; a `bytearray` is copied).
pub fn shared_bytes(b: PyBackedBytes) -> Bytes {
    Bytes::from_owner(b)
}

/// python-rados' return value for a compare-extent: 0 on a match, `-(MAX_ERRNO + offset)`
/// on a mismatch; any other failure stays an error.
pub fn cmpext_value(r: librados::Result<()>) -> librados::Result<i64> {
    match r {
        Ok(()) => Ok(0),
        Err(e @ librados::Error::CmpExtMismatch { .. }) => Ok(-i64::from(e.errno())),
        Err(e) => Err(e),
    }
}

/// An I/O context on one pool: ``rados.open_ioctx("pool")``.
#[pyclass(module = "rados", frozen)]
pub struct Ioctx {
    rados: Py<Rados>,
    slot: Arc<Slot>,
    in_flight: Arc<InFlight>,
    pool_name: String,
    pool_id: i64,
}

impl Ioctx {
    pub fn new(rados: Py<Rados>, slot: Arc<Slot>) -> Ioctx {
        let io = slot.get().expect("a new slot is open");
        Ioctx {
            rados,
            pool_name: io.pool_name().to_string(),
            pool_id: io.pool_id(),
            slot,
            in_flight: Arc::default(),
        }
    }

    pub fn in_flight(&self) -> Arc<InFlight> {
        self.in_flight.clone()
    }

    pub fn pool(&self) -> &str {
        &self.pool_name
    }

    /// The librados context, or IoctxStateError once closed.
    pub fn io(&self, py: Python<'_>) -> PyResult<Arc<IoCtx>> {
        self.slot
            .get()
            .ok_or_else(|| errors::state_error(py, "IoctxStateError", "The pool is closed"))
    }

    /// Runs `f` on the context with the GIL released; a failure names `what`.
    pub fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&IoCtx) -> librados::Result<T> + Send,
        what: impl FnOnce() -> String,
    ) -> PyResult<T> {
        let io = self.io(py)?;
        py.detach(|| crate::bench::timed(|| f(&io))).ctx(py, what)
    }

    /// `read`'s data: up to `length` bytes at `offset`; for 0, nothing (librados would read
    /// to the end; python-rados asks for nothing), after checking that the object exists.
    fn read_bytes(
        &self,
        py: Python<'_>,
        op: &str,
        key: &str,
        length: u64,
        offset: u64,
    ) -> PyResult<Bytes> {
        let what = || self.failed(op, "read", key);
        if length == 0 {
            self.run(py, |io| io.stat(key), what)?;
            return Ok(Bytes::new());
        }
        self.run(py, |io| io.read(key, length, offset), what)
    }

    /// "Ioctx.op(pool): failed to verb key", python-rados' wording for most failures.
    pub fn failed(&self, op: &str, verb: &str, key: &str) -> String {
        format!("Ioctx.{op}({}): failed to {verb} {key}", self.pool_name)
    }

    pub fn update(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut IoCtx, &mut String) -> librados::Result<()>,
    ) -> PyResult<()> {
        self.io(py)?;
        self.slot
            .update(f)
            .ctx(py, || format!("Ioctx({})", self.pool_name))
    }

    /// The context and its locator key.
    pub fn held(&self, py: Python<'_>) -> PyResult<(Arc<IoCtx>, String)> {
        self.io(py)?;
        self.slot
            .held()
            .ok_or_else(|| errors::state_error(py, "IoctxStateError", "The pool is closed"))
    }
}

impl Drop for Ioctx {
    fn drop(&mut self) {
        if Arc::strong_count(&self.slot) == 1 {
            crate::runtime::drop_detached(self.slot.close());
        }
    }
}

#[pymethods]
impl Ioctx {
    /// The pool's name.
    #[getter]
    fn name(&self) -> &str {
        &self.pool_name
    }

    /// "open", or "closed" after close() (or the Rados handle's shutdown()).
    #[getter]
    fn state(&self) -> &'static str {
        if self.slot.get().is_some() {
            "open"
        } else {
            "closed"
        }
    }

    /// Raises IoctxStateError unless open.
    fn require_ioctx_open(&self, py: Python<'_>) -> PyResult<()> {
        self.io(py).map(|_| ())
    }

    /// Closes the context; operations on it raise IoctxStateError afterwards.
    fn close(&self, py: Python<'_>) {
        let io = self.slot.close();
        py.detach(move || drop(io));
    }

    fn __enter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// A new, independent context on the same pool, namespace, locator and snaps.
    fn dup(&self, py: Python<'_>) -> PyResult<Ioctx> {
        let (io, locator) = self.held(py)?;
        let slot = Arc::new(Slot::new(IoCtx::clone(&io), locator));
        self.rados.get().track(&slot);
        Ok(Ioctx::new(self.rados.clone_ref(py), slot))
    }

    fn get_pool_id(&self) -> i64 {
        self.pool_id
    }

    fn get_pool_name(&self) -> &str {
        &self.pool_name
    }

    /// Objects named from now on are in namespace ``nspace`` (None or "": the default;
    /// ``rados.LIBRADOS_ALL_NSPACES``: list_objects covers every namespace).
    #[pyo3(signature = (nspace))]
    fn set_namespace(&self, py: Python<'_>, nspace: Option<String>) -> PyResult<()> {
        let ns = nspace.unwrap_or_default();
        self.update(py, |io, _| {
            io.set_namespace(&ns);
            Ok(())
        })
    }

    fn get_namespace(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.io(py)?.namespace().to_string())
    }

    #[getter]
    fn nspace(&self, py: Python<'_>) -> PyResult<String> {
        self.get_namespace(py)
    }

    /// Objects named from now on are placed by ``loc_key`` instead of their names (None or
    /// "": by their names).
    #[pyo3(signature = (loc_key))]
    fn set_locator_key(&self, py: Python<'_>, loc_key: Option<String>) -> PyResult<()> {
        let key = loc_key.unwrap_or_default();
        self.update(py, |io, locator| {
            io.set_locator_key(&key);
            *locator = key.clone();
            Ok(())
        })
    }

    fn get_locator_key(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.held(py)?.1)
    }

    #[getter(locator_key)]
    fn locator_key_attr(&self, py: Python<'_>) -> PyResult<String> {
        self.get_locator_key(py)
    }

    /// The version of the object last read or written through this context.
    fn get_last_version(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.io(py)?.last_version())
    }

    /// Pool usage: num_bytes, num_kb, num_objects, num_object_clones, num_object_copies (the
    /// others python-rados lists are 0 here).
    fn get_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let pool = self.pool_name.clone();
        let df = self.run(py, |io| io.rados().df(), || "Ioctx.get_stats".into())?;
        let u = df.into_iter().find(|u| u.name == pool).unwrap_or_default();
        let d = PyDict::new(py);
        d.set_item("num_bytes", u.bytes)?;
        d.set_item("num_kb", u.bytes / 1024)?;
        d.set_item("num_objects", u.objects)?;
        d.set_item("num_object_clones", u.clones)?;
        d.set_item("num_object_copies", u.copies)?;
        for k in [
            "num_objects_missing_on_primary",
            "num_objects_unfound",
            "num_objects_degraded",
            "num_rd",
            "num_rd_kb",
            "num_wr",
            "num_wr_kb",
        ] {
            d.set_item(k, 0)?;
        }
        Ok(d)
    }

    /// No alignment is required by any pool: None.
    fn alignment(&self) -> Option<u64> {
        None
    }

    // ---- object data

    /// Writes ``data`` at ``offset``; returns 0.
    #[pyo3(signature = (key, data, offset=0))]
    fn write(
        &self,
        py: Python<'_>,
        key: String,
        data: PyBackedBytes,
        offset: u64,
    ) -> PyResult<i32> {
        let d = shared_bytes(data);
        self.run(
            py,
            |io| io.write(&key, d, offset),
            || self.failed("write", "write", &key),
        )?;
        Ok(0)
    }

    /// Replaces the object's data with ``data`` atomically; returns 0.
    fn write_full(&self, py: Python<'_>, key: String, data: PyBackedBytes) -> PyResult<i32> {
        let d = shared_bytes(data);
        self.run(
            py,
            |io| io.write_full(&key, d),
            || self.failed("write_full", "write", &key),
        )?;
        Ok(0)
    }

    /// Writes ``data`` repeated to fill ``write_len`` bytes at ``offset`` (InvalidArgumentError
    /// unless ``write_len`` is a multiple of its length).
    #[pyo3(signature = (key, data, write_len, offset=0))]
    fn writesame(
        &self,
        py: Python<'_>,
        key: String,
        data: PyBackedBytes,
        write_len: u64,
        offset: u64,
    ) -> PyResult<()> {
        let d = shared_bytes(data);
        self.run(
            py,
            |io| io.write_same(&key, d, write_len, offset),
            || self.failed("writesame", "write", &key),
        )
    }

    /// Compares the object's bytes at ``offset`` with ``cmp_buf`` (bytes past its end compare
    /// as zeros): 0 when equal, ``-(4095 + i)`` when byte ``i`` of ``cmp_buf`` is the first to
    /// differ. Other failures raise (ObjectNotFound for a missing object).
    #[pyo3(signature = (key, cmp_buf, offset=0))]
    fn cmpext(
        &self,
        py: Python<'_>,
        key: String,
        cmp_buf: PyBackedBytes,
        offset: u64,
    ) -> PyResult<i64> {
        let d = shared_bytes(cmp_buf);
        self.run(
            py,
            |io| cmpext_value(io.cmp_ext(&key, offset, d)),
            || self.failed("cmpext", "compare", &key),
        )
    }

    /// Appends ``data``; returns 0.
    fn append(&self, py: Python<'_>, key: String, data: PyBackedBytes) -> PyResult<i32> {
        let d = shared_bytes(data);
        self.run(
            py,
            |io| io.append(&key, d),
            || self.failed("append", "append", &key),
        )?;
        Ok(0)
    }

    /// Up to ``length`` bytes at ``offset`` (fewer at the end of the object).
    #[pyo3(signature = (key, length=8192, offset=0))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        key: String,
        length: u64,
        offset: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let d = self.read_bytes(py, "read", &key, length, offset)?;
        Ok(PyBytes::new(py, &d))
    }

    /// Like ``read``, without copying: a read-only ``memoryview`` over the bytes librados
    /// received (beyond python-rados). For large objects; ``bytes(view)`` makes a copy.
    #[pyo3(signature = (key, length=8192, offset=0))]
    fn read_buffer<'py>(
        &self,
        py: Python<'py>,
        key: String,
        length: u64,
        offset: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = self.read_bytes(py, "read_buffer", &key, length, offset)?;
        crate::buffer::memoryview(py, d)
    }

    /// ``(size, mtime)``, mtime a ``time.struct_time`` in local time.
    fn stat<'py>(&self, py: Python<'py>, key: String) -> PyResult<(u64, Bound<'py, PyAny>)> {
        let s = self.run(py, |io| io.stat(&key), || format!("Failed to stat '{key}'"))?;
        Ok((s.size, crate::time::struct_time(py, s.mtime)?))
    }

    /// Resizes the object; returns 0.
    fn trunc(&self, py: Python<'_>, key: String, size: u64) -> PyResult<i32> {
        self.run(
            py,
            |io| io.truncate(&key, size),
            || self.failed("trunc", "truncate", &key),
        )?;
        Ok(0)
    }

    /// Deletes the object (snapshots keep their copies); returns True.
    fn remove_object(&self, py: Python<'_>, key: String) -> PyResult<bool> {
        self.run(
            py,
            |io| io.remove(&key),
            || format!("Failed to remove '{key}'"),
        )?;
        Ok(true)
    }

    // ---- xattrs

    fn get_xattr<'py>(
        &self,
        py: Python<'py>,
        key: String,
        xattr_name: String,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let v = self.run(
            py,
            |io| io.get_xattr(&key, &xattr_name),
            || format!("Failed to get xattr '{xattr_name}'"),
        )?;
        Ok(PyBytes::new(py, &v))
    }

    /// An iterator of ``(name, value)`` over the object's xattrs.
    fn get_xattrs(&self, py: Python<'_>, oid: String) -> PyResult<XattrIterator> {
        let all = self.run(
            py,
            |io| io.get_xattrs(&oid),
            || format!("Failed to get xattrs of '{oid}'"),
        )?;
        Ok(XattrIterator::new(oid, all))
    }

    /// Sets an xattr; returns True.
    fn set_xattr(
        &self,
        py: Python<'_>,
        key: String,
        xattr_name: String,
        xattr_value: PyBackedBytes,
    ) -> PyResult<bool> {
        let v = shared_bytes(xattr_value);
        self.run(
            py,
            |io| io.set_xattr(&key, &xattr_name, v),
            || format!("Failed to set xattr '{xattr_name}' on '{key}'"),
        )?;
        Ok(true)
    }

    /// Removes an xattr; returns True.
    fn rm_xattr(&self, py: Python<'_>, key: String, xattr_name: String) -> PyResult<bool> {
        self.run(
            py,
            |io| io.rm_xattr(&key, &xattr_name),
            || format!("Failed to delete xattr '{xattr_name}' from '{key}'"),
        )?;
        Ok(true)
    }

    // ---- listing

    /// An iterator of ``rados.Object`` over the objects of the context's namespace (every
    /// namespace when it is ``LIBRADOS_ALL_NSPACES``), PG by PG.
    fn list_objects(slf: &Bound<'_, Self>) -> PyResult<ObjectIterator> {
        let io = slf.get().io(slf.py())?;
        Ok(ObjectIterator::new(slf.clone().unbind(), &io))
    }

    // ---- class calls, locks, watch/notify

    /// Calls object class method ``cls.method`` with ``data``: ``(ret, output)``, ret the
    /// output's length. Raises OSError (ERANGE) when the output exceeds ``length``.
    #[pyo3(signature = (key, cls, method, data, length=8192))]
    fn execute<'py>(
        &self,
        py: Python<'py>,
        key: String,
        cls: String,
        method: String,
        data: PyBackedBytes,
        length: usize,
    ) -> PyResult<(i64, Bound<'py, PyBytes>)> {
        let d = shared_bytes(data);
        let what = || {
            format!(
                "Ioctx.exec({}): failed to exec {cls}:{method} on {key}",
                self.pool_name
            )
        };
        let out = self.run(py, |io| io.exec(&key, &cls, &method, d), what)?;
        if out.len() > length {
            return Err(errors::errno_error(py, 34, &what(), false));
        }
        Ok((out.len() as i64, PyBytes::new(py, &out)))
    }

    /// Takes an exclusive advisory lock (ObjectBusy if held by another, ObjectExists if
    /// already held with this cookie); ``duration`` in seconds, None for ever.
    #[pyo3(signature = (key, name, cookie, desc="".to_string(), duration=None, flags=0))]
    #[allow(clippy::too_many_arguments)]
    fn lock_exclusive(
        &self,
        py: Python<'_>,
        key: String,
        name: String,
        cookie: String,
        desc: String,
        duration: Option<f64>,
        flags: u8,
    ) -> PyResult<()> {
        let renew = lock_renew(py, flags)?;
        let d = duration.map(Duration::from_secs_f64);
        self.run(
            py,
            |io| io.lock_exclusive_with(&key, &name, &cookie, &desc, d, renew),
            || self.failed("rados_lock_exclusive", &format!("set lock {name} on"), &key),
        )
    }

    /// Takes a shared advisory lock; holders must agree on ``tag``.
    #[pyo3(signature = (key, name, cookie, tag, desc="".to_string(), duration=None, flags=0))]
    #[allow(clippy::too_many_arguments)]
    fn lock_shared(
        &self,
        py: Python<'_>,
        key: String,
        name: String,
        cookie: String,
        tag: String,
        desc: String,
        duration: Option<f64>,
        flags: u8,
    ) -> PyResult<()> {
        let renew = lock_renew(py, flags)?;
        let d = duration.map(Duration::from_secs_f64);
        self.run(
            py,
            |io| io.lock_shared_with(&key, &name, &cookie, &tag, &desc, d, renew),
            || self.failed("rados_lock_shared", &format!("set lock {name} on"), &key),
        )
    }

    /// Releases a lock held with ``cookie`` (ObjectNotFound when not held).
    fn unlock(&self, py: Python<'_>, key: String, name: String, cookie: String) -> PyResult<()> {
        self.run(
            py,
            |io| io.unlock(&key, &name, &cookie),
            || self.failed("rados_unlock", &format!("unlock {name} on"), &key),
        )
    }

    /// Watches ``obj``: ``callback(notify_id, notifier_id, watch_id, data)`` runs for every
    /// notify (bytes it returns are the reply); ``error_callback(watch_id, -errno)`` runs once
    /// if the watch fails (its object removed: ENOTCONN); ``timeout`` (seconds, default 30)
    /// is how long the OSD keeps the watch without hearing from this client. Returns a
    /// rados.Watch (close() to stop).
    #[pyo3(signature = (obj, callback, error_callback=None, timeout=None))]
    fn watch(
        slf: &Bound<'_, Self>,
        obj: String,
        callback: Py<PyAny>,
        error_callback: Option<Py<PyAny>>,
        timeout: Option<u64>,
    ) -> PyResult<Watch> {
        Watch::start(slf, obj, callback, error_callback, timeout)
    }

    /// Notifies every watcher of ``obj`` with ``msg`` and waits up to ``timeout_ms`` for their
    /// replies; returns True (TimedOut when some did not answer).
    #[pyo3(signature = (obj, msg=None, timeout_ms=5000))]
    fn notify(
        &self,
        py: Python<'_>,
        obj: String,
        msg: Option<&Bound<'_, PyAny>>,
        timeout_ms: u64,
    ) -> PyResult<bool> {
        let payload = crate::watch::payload(msg)?;
        let t = Duration::from_millis(timeout_ms);
        self.run(
            py,
            |io| io.notify(&obj, payload, t),
            || format!("Failed to notify '{obj}'"),
        )?;
        Ok(true)
    }

    fn __repr__(&self) -> String {
        format!(
            "<rados.Ioctx pool={} state={}>",
            self.pool_name,
            self.state()
        )
    }
}

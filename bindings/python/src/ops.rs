//! Compound operations as python-rados builds them: a `WriteOp` (or the context manager
//! `WriteOpCtx`) collects steps applied all or nothing by `Ioctx.operate_write_op`; a `ReadOp`
//! (`ReadOpCtx`) collects reads whose results arrive in `OmapIterator`s once
//! `Ioctx.operate_read_op` ran it.

use crate::aio::{self, done, Completion, Kind, Payload};
use crate::errors;
use crate::ioctx::{shared_bytes, Ioctx};
use bytes::Bytes;
use librados::client::{CmpOp, OpFlags, StepOutput};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyTuple};
use std::collections::VecDeque;
use std::sync::Mutex;

/// python-rados' ``LIBRADOS_CMPXATTR_OP_*`` number as a comparison.
fn cmp_op(py: Python<'_>, n: i64) -> PyResult<CmpOp> {
    Ok(match n {
        1 => CmpOp::Eq,
        2 => CmpOp::Ne,
        3 => CmpOp::Gt,
        4 => CmpOp::Gte,
        5 => CmpOp::Lt,
        6 => CmpOp::Lte,
        _ => {
            return Err(errors::errno_error(
                py,
                22,
                &format!("comparison operator {n} is not one of LIBRADOS_CMPXATTR_OP_*"),
                false,
            ))
        }
    })
}

/// python-rados' ``LIBRADOS_OP_FLAG_*`` bits as op flags.
fn op_flags(py: Python<'_>, flags: i64) -> PyResult<OpFlags> {
    u32::try_from(flags)
        .map(OpFlags)
        .map_err(|_| errors::errno_error(py, 22, &format!("op flags {flags} out of range"), false))
}

fn no_step(py: Python<'_>) -> PyErr {
    errors::errno_error(
        py,
        22,
        "set_flags: the flags apply to the step added last, and there is none",
        false,
    )
}

/// Steps changing one object, applied atomically by Ioctx.operate_write_op.
#[pyclass(module = "rados", subclass, frozen)]
#[derive(Default)]
pub struct WriteOp {
    op: Mutex<librados::WriteOp>,
}

impl WriteOp {
    fn with(&self, f: impl FnOnce(&mut librados::WriteOp)) {
        f(&mut self.op.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The steps so far, to run.
    pub fn snapshot(&self) -> librados::WriteOp {
        self.op.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_omap(
        &self,
        py: Python<'_>,
        keys: Vec<String>,
        values: Vec<PyBackedBytes>,
    ) -> PyResult<()> {
        if keys.len() != values.len() {
            return Err(errors::state_error(
                py,
                "Error",
                "Rados(): keys and values must have the same number of items",
            ));
        }
        let entries: Vec<(Bytes, Bytes)> = keys
            .into_iter()
            .map(Bytes::from)
            .zip(values.into_iter().map(shared_bytes))
            .collect();
        self.with(|op| {
            op.omap_set(entries);
        });
        Ok(())
    }

    pub fn remove_omap_keys(&self, keys: Vec<String>) {
        self.with(|op| {
            op.omap_rm_keys(keys.into_iter().map(Bytes::from));
        })
    }

    pub fn clear_omap(&self) {
        self.with(|op| {
            op.omap_clear();
        })
    }

    pub fn remove_omap_range(&self, first: String, last: String) {
        self.with(|op| {
            op.omap_rm_range(Bytes::from(first), Bytes::from(last));
        })
    }
}

#[pymethods]
impl WriteOp {
    #[new]
    fn py_new() -> Self {
        WriteOp::default()
    }

    /// Kept for python-rados compatibility: the op is ready when constructed.
    fn create(&self) {}

    /// Kept for python-rados compatibility: nothing to free.
    fn release(&self) {}

    /// Creates the object; with ``LIBRADOS_CREATE_EXCLUSIVE`` fails (ObjectExists) if it
    /// exists.
    #[pyo3(name = "new", signature = (exclusive=None))]
    fn create_object(&self, exclusive: Option<i64>) {
        let exclusive = exclusive.unwrap_or(0) != 0;
        self.with(|op| {
            op.create(exclusive);
        })
    }

    /// Removes the object.
    fn remove(&self) {
        self.with(|op| {
            op.remove();
        })
    }

    /// Sets ``LIBRADOS_OP_FLAG_*`` on the step added last: ``_EXCL`` makes a create
    /// exclusive, ``_FAILOK`` lets the step fail without failing the op (the rest still
    /// applies); the ``_FADVISE_*`` hints are accepted. InvalidArgumentError before any step
    /// (python-rados aborts the process there).
    #[pyo3(signature = (flags=0))]
    fn set_flags(&self, py: Python<'_>, flags: i64) -> PyResult<()> {
        let flags = op_flags(py, flags)?;
        let mut op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        if op.is_empty() {
            return Err(no_step(py));
        }
        op.set_op_flags(flags);
        Ok(())
    }

    fn set_xattr(&self, xattr_name: String, xattr_value: PyBackedBytes) {
        let v = shared_bytes(xattr_value);
        self.with(|op| {
            op.set_xattr(&xattr_name, v);
        })
    }

    fn rm_xattr(&self, xattr_name: String) {
        self.with(|op| {
            op.rm_xattr(&xattr_name);
        })
    }

    fn append(&self, to_write: PyBackedBytes) {
        let d = shared_bytes(to_write);
        self.with(|op| {
            op.append(d);
        })
    }

    /// Replaces the object's data.
    fn write_full(&self, to_write: PyBackedBytes) {
        let d = shared_bytes(to_write);
        self.with(|op| {
            op.write_full(d);
        })
    }

    #[pyo3(signature = (to_write, offset=0))]
    fn write(&self, to_write: PyBackedBytes, offset: u64) {
        let d = shared_bytes(to_write);
        self.with(|op| {
            op.write(offset, d);
        })
    }

    /// Writes ``to_write`` repeated to fill ``write_len`` bytes at ``offset``; the op fails
    /// with InvalidArgumentError unless ``write_len`` is a multiple of its length.
    #[pyo3(signature = (to_write, write_len, offset=0))]
    fn writesame(&self, to_write: PyBackedBytes, write_len: u64, offset: u64) {
        let d = shared_bytes(to_write);
        self.with(|op| {
            op.write_same(offset, write_len, d);
        })
    }

    /// Fails the whole op (ERANGE: object newer, EOVERFLOW: older) unless the object's
    /// version is ``version``.
    fn assert_version(&self, version: u64) {
        self.with(|op| {
            op.assert_version(version);
        })
    }

    /// Zeroes ``length`` bytes at ``offset``.
    fn zero(&self, offset: u64, length: u64) {
        self.with(|op| {
            op.zero(offset, length);
        })
    }

    /// Truncates the object to ``offset`` bytes.
    fn truncate(&self, offset: u64) {
        self.with(|op| {
            op.truncate(offset);
        })
    }

    /// Calls object class method ``cls.method`` as part of the op.
    fn execute(&self, cls: String, method: String, data: PyBackedBytes) {
        let d = shared_bytes(data);
        self.with(|op| {
            op.exec(&cls, &method, d);
        })
    }

    /// Guard: the op fails with ExtendMismatch (``offset``: the first differing byte of
    /// ``cmp_buf``) unless the object's bytes at ``offset`` equal ``cmp_buf``; bytes past the
    /// object's end, or of a missing object, compare as zeros.
    #[pyo3(signature = (cmp_buf, offset=0))]
    fn cmpext(&self, cmp_buf: PyBackedBytes, offset: u64) {
        let d = shared_bytes(cmp_buf);
        self.with(|op| {
            op.cmp_ext(offset, d);
        })
    }

    /// Guard: the op fails with OperationCanceled (ECANCELED) unless omap ``key``'s value
    /// (empty when missing) compares to ``val`` as ``cmp_op`` says: LIBRADOS_CMPXATTR_OP_EQ
    /// (1), _GT (3) or _LT (5); the others fail the op with InvalidArgumentError, as in Ceph.
    #[pyo3(signature = (key, val, cmp_op=1))]
    fn omap_cmp(&self, py: Python<'_>, key: String, val: String, cmp_op: i64) -> PyResult<()> {
        let op_kind = self::cmp_op(py, cmp_op)?;
        self.with(|op| {
            op.omap_cmp(key, op_kind, val);
        });
        Ok(())
    }
}

/// WriteOp as a context manager: ``with rados.WriteOpCtx() as op: ...``.
#[pyclass(module = "rados", extends = WriteOp, frozen)]
pub struct WriteOpCtx;

#[pymethods]
impl WriteOpCtx {
    #[new]
    fn py_new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(WriteOp::default()).add_subclass(WriteOpCtx)
    }

    fn __enter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> bool {
        false
    }
}

#[derive(Default)]
struct ReadState {
    op: librados::ReadOp,
    steps: usize,
    /// Which step fills which iterator.
    results: Vec<(usize, Py<OmapIterator>)>,
}

/// Reads of one object run together by Ioctx.operate_read_op.
#[pyclass(module = "rados", subclass, frozen)]
#[derive(Default)]
pub struct ReadOp {
    state: Mutex<ReadState>,
}

impl ReadOp {
    fn add(
        &self,
        py: Python<'_>,
        step: impl FnOnce(&mut librados::ReadOp),
    ) -> PyResult<Py<OmapIterator>> {
        let it = Py::new(py, OmapIterator::default())?;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        step(&mut s.op);
        let index = s.steps;
        s.steps += 1;
        s.results.push((index, it.clone_ref(py)));
        Ok(it)
    }

    pub fn get_omap_vals(
        &self,
        py: Python<'_>,
        start_after: String,
        prefix: String,
        max: u64,
    ) -> PyResult<Py<OmapIterator>> {
        self.add(py, |op| {
            op.omap_get_vals(start_after, prefix, max);
        })
    }

    pub fn get_omap_keys(
        &self,
        py: Python<'_>,
        start_after: String,
        max: u64,
    ) -> PyResult<Py<OmapIterator>> {
        self.add(py, |op| {
            op.omap_get_keys(start_after, max);
        })
    }

    pub fn get_omap_vals_by_keys(
        &self,
        py: Python<'_>,
        keys: Vec<String>,
    ) -> PyResult<Py<OmapIterator>> {
        self.add(py, |op| {
            op.omap_get_vals_by_keys(keys.into_iter().map(Bytes::from));
        })
    }

    /// The steps so far, to run.
    pub fn snapshot(&self) -> librados::ReadOp {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .op
            .clone()
    }

    /// Hands each step's output to the iterator it returned (no GIL needed).
    pub fn deliver(&self, outs: Vec<StepOutput>) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (index, it) in &s.results {
            let items: VecDeque<(Bytes, Option<Bytes>)> = match outs.get(*index) {
                Some(StepOutput::OmapVals { entries, .. }) => entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect(),
                Some(StepOutput::OmapKeys { keys, .. }) => {
                    keys.iter().map(|k| (k.clone(), None)).collect()
                }
                _ => VecDeque::new(),
            };
            *it.get().items.lock().unwrap_or_else(|e| e.into_inner()) = items;
        }
    }
}

#[pymethods]
impl ReadOp {
    #[new]
    fn py_new() -> Self {
        ReadOp::default()
    }

    /// Kept for python-rados compatibility.
    fn create(&self) {}

    /// Kept for python-rados compatibility.
    fn release(&self) {}

    /// Sets ``LIBRADOS_OP_FLAG_*`` on the step added last: ``_FAILOK`` lets the step fail
    /// without failing the op (its iterator stays empty; a missing object still fails the
    /// op); the ``_FADVISE_*`` hints are accepted. InvalidArgumentError before any step
    /// (python-rados aborts the process there).
    #[pyo3(signature = (flags=0))]
    fn set_flags(&self, py: Python<'_>, flags: i64) -> PyResult<()> {
        let flags = op_flags(py, flags)?;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.op.is_empty() {
            return Err(no_step(py));
        }
        s.op.set_op_flags(flags);
        Ok(())
    }

    /// Guard: the op fails with ExtendMismatch (``offset``: the first differing byte of
    /// ``cmp_buf``) unless the object's bytes at ``offset`` equal ``cmp_buf``; bytes past the
    /// object's end compare as zeros, a missing object is ObjectNotFound.
    #[pyo3(signature = (cmp_buf, offset=0))]
    fn cmpext(&self, cmp_buf: PyBackedBytes, offset: u64) {
        let d = shared_bytes(cmp_buf);
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.op.cmp_ext(offset, d);
        s.steps += 1;
    }
}

/// ReadOp as a context manager: ``with rados.ReadOpCtx() as op: ...``.
#[pyclass(module = "rados", extends = ReadOp, frozen)]
pub struct ReadOpCtx;

#[pymethods]
impl ReadOpCtx {
    #[new]
    fn py_new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(ReadOp::default()).add_subclass(ReadOpCtx)
    }

    fn __enter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> bool {
        false
    }
}

/// Iterator of ``(key, value)`` (value None for get_omap_keys) over an omap read's result;
/// empty until the ReadOp has run.
#[pyclass(module = "rados", frozen)]
#[derive(Default)]
pub struct OmapIterator {
    items: Mutex<VecDeque<(Bytes, Option<Bytes>)>>,
}

#[pymethods]
impl OmapIterator {
    fn __iter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    /// The next ``(key, value)``: keys decoded as UTF-8, values bytes.
    fn __next__<'py>(&self, py: Python<'py>) -> Option<(String, Option<Bound<'py, PyBytes>>)> {
        let (k, v) = self
            .items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()?;
        let key = String::from_utf8_lossy(&k).into_owned();
        Some((key, v.map(|v| PyBytes::new(py, &v))))
    }
}

/// The Ioctx calls that build and run compound operations (python-rados has them on Ioctx).
#[pymethods]
impl Ioctx {
    /// A new WriteOp (python-rados' create_write_op; release_write_op is a no-op).
    fn create_write_op(&self) -> WriteOp {
        WriteOp::default()
    }

    fn release_write_op(&self, write_op: &Bound<'_, PyAny>) {
        let _ = write_op;
    }

    /// A new ReadOp (release_read_op is a no-op).
    fn create_read_op(&self) -> ReadOp {
        ReadOp::default()
    }

    fn release_read_op(&self, read_op: &Bound<'_, PyAny>) {
        let _ = read_op;
    }

    /// Adds omap entries ``keys[i] -> values[i]`` to ``write_op``.
    fn set_omap(
        &self,
        write_op: &Bound<'_, WriteOp>,
        keys: Vec<String>,
        values: Vec<PyBackedBytes>,
    ) -> PyResult<()> {
        write_op.get().set_omap(write_op.py(), keys, values)
    }

    /// Adds the removal of omap ``keys`` to ``write_op``.
    fn remove_omap_keys(&self, write_op: &Bound<'_, WriteOp>, keys: Vec<String>) {
        write_op.get().remove_omap_keys(keys)
    }

    /// Adds the removal of every omap entry to ``write_op``.
    fn clear_omap(&self, write_op: &Bound<'_, WriteOp>) {
        write_op.get().clear_omap()
    }

    /// Adds the removal of omap keys in ``[key_begin, key_end)`` to ``write_op``.
    fn remove_omap_range2(
        &self,
        write_op: &Bound<'_, WriteOp>,
        key_begin: String,
        key_end: String,
    ) {
        write_op.get().remove_omap_range(key_begin, key_end)
    }

    /// Adds an omap read to ``read_op``: ``(iterator, 0)``, the iterator yielding
    /// ``(key, value)`` once the op is run by operate_read_op.
    fn get_omap_vals(
        &self,
        py: Python<'_>,
        read_op: &Bound<'_, ReadOp>,
        start_after: String,
        filter_prefix: String,
        max_return: u64,
    ) -> PyResult<(Py<OmapIterator>, i32)> {
        Ok((
            read_op
                .get()
                .get_omap_vals(py, start_after, filter_prefix, max_return)?,
            0,
        ))
    }

    /// Adds an omap key listing to ``read_op``: ``(iterator of (key, None), 0)``.
    fn get_omap_keys(
        &self,
        py: Python<'_>,
        read_op: &Bound<'_, ReadOp>,
        start_after: String,
        max_return: u64,
    ) -> PyResult<(Py<OmapIterator>, i32)> {
        Ok((read_op.get().get_omap_keys(py, start_after, max_return)?, 0))
    }

    /// Adds a read of the omap ``keys`` to ``read_op``: ``(iterator, 0)``; missing keys are
    /// left out.
    fn get_omap_vals_by_keys(
        &self,
        py: Python<'_>,
        read_op: &Bound<'_, ReadOp>,
        keys: Vec<String>,
    ) -> PyResult<(Py<OmapIterator>, i32)> {
        Ok((read_op.get().get_omap_vals_by_keys(py, keys)?, 0))
    }

    /// Applies ``write_op`` to ``oid`` atomically. ``mtime`` and ``flags`` are accepted and
    /// ignored (the OSD stamps the time).
    #[pyo3(signature = (write_op, oid, mtime=0, flags=0))]
    fn operate_write_op(
        &self,
        py: Python<'_>,
        write_op: &Bound<'_, WriteOp>,
        oid: String,
        mtime: i64,
        flags: i64,
    ) -> PyResult<()> {
        let _ = flags;
        let op = stamped(write_op.get().snapshot(), mtime);
        self.run(
            py,
            |io| io.operate(&oid, &op).map(|_| ()),
            || format!("Failed to operate write op for oid {oid}"),
        )
    }

    /// Runs ``read_op`` on ``oid``, filling the iterators its omap reads returned.
    #[pyo3(signature = (read_op, oid, flag=0))]
    fn operate_read_op(
        &self,
        py: Python<'_>,
        read_op: &Bound<'_, ReadOp>,
        oid: String,
        flag: i64,
    ) -> PyResult<()> {
        let _ = flag;
        let op = read_op.get().snapshot();
        let outs = self.run(
            py,
            |io| io.operate_read(&oid, &op),
            || format!("Failed to operate read op for oid {oid}"),
        )?;
        read_op.get().deliver(outs);
        Ok(())
    }

    /// operate_write_op, asynchronously: returns a Completion.
    #[pyo3(signature = (write_op, oid, oncomplete=None, onsafe=None, mtime=0, flags=0))]
    #[allow(clippy::too_many_arguments)]
    fn operate_aio_write_op(
        slf: &Bound<'_, Self>,
        write_op: &Bound<'_, WriteOp>,
        oid: String,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
        mtime: i64,
        flags: i64,
    ) -> PyResult<Py<Completion>> {
        let _ = flags;
        let op = stamped(write_op.get().snapshot(), mtime);
        let aio = slf.get().io(slf.py())?.aio();
        aio::start(slf.py(), slf, Kind::Plain, oncomplete, onsafe, async move {
            let r = aio.operate(&oid, &op).await.map(|_| ());
            done(r, || {
                format!("Failed to operate aio write op for oid {oid}")
            })
        })
    }

    /// operate_read_op, asynchronously: the iterators fill when it completes.
    #[pyo3(signature = (read_op, oid, oncomplete=None, onsafe=None, flag=0))]
    fn operate_aio_read_op(
        slf: &Bound<'_, Self>,
        read_op: &Bound<'_, ReadOp>,
        oid: String,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
        flag: i64,
    ) -> PyResult<Py<Completion>> {
        let _ = flag;
        let op = read_op.get().snapshot();
        let target = read_op.clone().unbind();
        let aio = slf.get().io(slf.py())?.aio();
        aio::start(slf.py(), slf, Kind::Plain, oncomplete, onsafe, async move {
            match aio.operate_read(&oid, &op).await {
                Ok(outs) => {
                    target.get().deliver(outs);
                    (0, Ok(Payload::None))
                }
                Err(e) => done(Err(e), || {
                    format!("Failed to operate aio read op for oid {oid}")
                }),
            }
        })
    }
}

/// `op` stamped with `mtime` (seconds since the epoch; 0 or less: the time of the write).
fn stamped(mut op: librados::WriteOp, mtime: i64) -> librados::WriteOp {
    if let Ok(secs @ 1..) = u64::try_from(mtime) {
        op.set_mtime(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    }
    op
}

//! `Completion`: the handle of one asynchronous operation, as python-rados has it
//! (`wait_for_complete`, `is_complete`, `get_return_value`, `oncomplete`/`onsafe` callbacks),
//! and, beyond python-rados, awaitable: `data = await ioctx.aio_read("obj", 4096, 0)`.
//!
//! The operation runs on the aio runtime ([`crate::runtime`]); when it ends, its outcome is
//! stored here, waiters wake, and — if anybody asked for Python to be told — the callback
//! thread runs the callbacks and resolves awaiting asyncio futures.

use crate::errors;
use crate::ioctx::{shared_bytes, Ioctx};
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

/// What an operation returns, by kind (it decides the callbacks' arguments).
pub enum Payload {
    None,
    /// aio_read and aio_execute: the bytes returned.
    Data(Bytes),
    Stat {
        size: u64,
        mtime: SystemTime,
    },
    /// aio_notify: the watchers' replies (notifier id, cookie, data).
    Notify(Vec<(u64, u64, Bytes)>),
}

/// How an operation ended: `Ok` or the error with the context python-rados would name.
pub type Outcome = Result<Payload, (librados::Error, String)>;

/// Which arguments the callbacks take after the completion.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `cb(completion)`
    Plain,
    /// `cb(completion, data_or_None)` (aio_read, aio_execute)
    Data,
    /// `cb(completion, size_or_None, mtime_or_None)` (aio_stat)
    Stat,
    /// `cb(completion, return_value, acks_or_None, timeouts_or_None)` (aio_notify)
    Notify,
}

#[derive(Default)]
struct State {
    done: bool,
    callbacks_done: bool,
    return_value: i64,
    outcome: Option<Outcome>,
    /// asyncio (loop, future) pairs awaiting this completion.
    awaiters: Vec<(Py<PyAny>, Py<PyAny>)>,
}

/// Counts an Ioctx's operations in flight, for `aio_flush`.
#[derive(Default)]
pub struct InFlight {
    count: Mutex<u64>,
    idle: Condvar,
}

impl InFlight {
    fn enter(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }
    fn leave(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            self.idle.notify_all();
        }
    }
    /// Blocks until no operation is in flight.
    pub fn wait_idle(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.idle.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    kind: Kind,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn wait(&self, until: impl Fn(&State) -> bool) {
        let mut s = self.lock();
        while !until(&s) {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Completion object of an asynchronous operation.
///
/// Await it in a coroutine to get the operation's result (bytes for aio_read and
/// aio_execute, ``(size, mtime)`` for aio_stat, the return value otherwise) or its exception.
#[pyclass(module = "rados", frozen)]
pub struct Completion {
    shared: Arc<Shared>,
    #[pyo3(get)]
    ioctx: Py<Ioctx>,
    #[pyo3(get)]
    oncomplete: Option<Py<PyAny>>,
    #[pyo3(get)]
    onsafe: Option<Py<PyAny>>,
}

/// Starts `op` on the aio runtime and returns its Completion. `op` resolves to the return
/// value and payload, or the error and the context to report it with.
pub fn start<F>(
    py: Python<'_>,
    ioctx: &Bound<'_, Ioctx>,
    kind: Kind,
    oncomplete: Option<Py<PyAny>>,
    onsafe: Option<Py<PyAny>>,
    op: F,
) -> PyResult<Py<Completion>>
where
    F: Future<Output = (i64, Outcome)> + Send + 'static,
{
    let rt = crate::runtime::runtime()?;
    crate::runtime::start_callback_thread()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        kind,
    });
    let has_callbacks = oncomplete.is_some() || onsafe.is_some();
    let completion = Py::new(
        py,
        Completion {
            shared: shared.clone(),
            ioctx: ioctx.clone().unbind(),
            oncomplete,
            onsafe,
        },
    )?;
    // Only a completion with callbacks travels with the task (to be handed back to Python).
    let handle = has_callbacks.then(|| completion.clone_ref(py));
    let in_flight = ioctx.get().in_flight();
    in_flight.enter();
    // Submitted now, on the caller's thread: the first poll takes the operation's turn on its
    // object, so operations on one object are applied in the order of the calls (a spawned
    // task's first poll could come after a later call's). What remains runs on the runtime.
    let mut op = Box::pin(op);
    let first = {
        let _in_runtime = rt.enter();
        op.as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    };
    match first {
        std::task::Poll::Ready((rv, outcome)) => {
            finish(shared, rv, outcome, handle);
            in_flight.leave();
        }
        std::task::Poll::Pending => {
            rt.spawn(async move {
                let (rv, outcome) = op.await;
                finish(shared, rv, outcome, handle);
                in_flight.leave();
            });
        }
    }
    Ok(completion)
}

fn finish(shared: Arc<Shared>, rv: i64, outcome: Outcome, handle: Option<Py<Completion>>) {
    let awaiters = {
        let mut s = shared.lock();
        s.done = true;
        s.return_value = rv;
        s.outcome = Some(outcome);
        let awaiters = std::mem::take(&mut s.awaiters);
        if handle.is_none() && awaiters.is_empty() {
            s.callbacks_done = true;
        }
        awaiters
    };
    shared.changed.notify_all();
    if handle.is_none() && awaiters.is_empty() {
        return;
    }
    crate::runtime::on_callback_thread(move |py| {
        if let Some(c) = handle {
            run_callbacks(py, c.bind(py));
        }
        for (event_loop, fut) in awaiters {
            resolve(py, &shared, event_loop.bind(py), fut.bind(py), true);
        }
        shared.lock().callbacks_done = true;
        shared.changed.notify_all();
    });
}

fn run_callbacks(py: Python<'_>, c: &Bound<'_, Completion>) {
    let this = c.get();
    for cb in [&this.oncomplete, &this.onsafe].into_iter().flatten() {
        let cb = cb.bind(py);
        let called = callback_args(py, c).and_then(|args| cb.call1(args));
        if let Err(e) = called {
            e.write_unraisable(py, Some(cb));
        }
    }
}

/// The callback arguments after the completion, by kind.
fn callback_args<'py>(
    py: Python<'py>,
    c: &Bound<'py, Completion>,
) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
    let s = c.get().shared.lock();
    let none = py.None().into_bound(py);
    let args: Vec<Bound<'py, PyAny>> = match (c.get().shared.kind, &s.outcome) {
        (Kind::Plain, _) => vec![],
        (Kind::Data, Some(Ok(Payload::Data(d)))) => vec![PyBytes::new(py, d).into_any()],
        (Kind::Data, _) => vec![none],
        (Kind::Stat, Some(Ok(Payload::Stat { size, mtime }))) => {
            vec![
                size.into_pyobject(py)?.into_any(),
                crate::time::struct_time(py, *mtime)?,
            ]
        }
        (Kind::Stat, _) => vec![none.clone(), none],
        (Kind::Notify, Some(Ok(Payload::Notify(acks)))) => vec![
            s.return_value.into_pyobject(py)?.into_any(),
            notify_acks(py, acks)?,
            pyo3::types::PyList::empty(py).into_any(),
        ],
        (Kind::Notify, _) => vec![
            s.return_value.into_pyobject(py)?.into_any(),
            none.clone(),
            none,
        ],
    };
    drop(s);
    let mut all = vec![c.clone().into_any()];
    all.extend(args);
    pyo3::types::PyTuple::new(py, all)
}

/// A notify's acknowledgements as python-rados lists them: `[(notifier_id, cookie, reply)]`.
fn notify_acks<'py>(py: Python<'py>, acks: &[(u64, u64, Bytes)]) -> PyResult<Bound<'py, PyAny>> {
    let items = acks
        .iter()
        .map(|(id, cookie, reply)| (*id, *cookie, PyBytes::new(py, reply)));
    Ok(pyo3::types::PyList::new(py, items)?.into_any())
}

/// What awaiting the completion yields: the result value, or the exception.
fn await_value<'py>(py: Python<'py>, shared: &Shared) -> PyResult<Bound<'py, PyAny>> {
    let s = shared.lock();
    match &s.outcome {
        Some(Ok(Payload::Data(d))) => Ok(PyBytes::new(py, d).into_any()),
        Some(Ok(Payload::Stat { size, mtime })) => {
            let t = crate::time::struct_time(py, *mtime)?;
            Ok((*size, t).into_pyobject(py)?.into_any())
        }
        Some(Ok(Payload::Notify(acks))) => {
            let timeouts = pyo3::types::PyList::empty(py).into_any();
            Ok((notify_acks(py, acks)?, timeouts)
                .into_pyobject(py)?
                .into_any())
        }
        Some(Ok(Payload::None)) | None => Ok(s.return_value.into_pyobject(py)?.into_any()),
        Some(Err((err, context))) => Err(errors::to_py(py, err, context)),
    }
}

/// Hands the outcome to an asyncio future (`threadsafe`: from outside the loop's thread).
fn resolve(
    py: Python<'_>,
    shared: &Shared,
    event_loop: &Bound<'_, PyAny>,
    fut: &Bound<'_, PyAny>,
    threadsafe: bool,
) {
    let res = (|| -> PyResult<()> {
        let support = errors::support(py)?;
        let (setter, value) = match await_value(py, shared) {
            Ok(v) => (support.getattr("_set_result")?, v),
            Err(e) => (
                support.getattr("_set_exception")?,
                e.into_value(py).into_bound(py).into_any(),
            ),
        };
        if threadsafe {
            event_loop.call_method1("call_soon_threadsafe", (setter, fut, value))?;
        } else {
            setter.call1((fut, value))?;
        }
        Ok(())
    })();
    if let Err(e) = res {
        // The loop is closed, or the future's owner went away: nobody is waiting any more.
        e.write_unraisable(py, Some(fut));
    }
}

#[pymethods]
impl Completion {
    /// Has the asynchronous operation completed? (Its callbacks may still be running.)
    fn is_complete(&self) -> bool {
        self.shared.lock().done
    }

    /// Is the operation safe (on storage on every replica)? Same as is_complete: a write is
    /// acknowledged only once every OSD of the acting set committed it.
    fn is_safe(&self) -> bool {
        self.is_complete()
    }

    /// Waits for the operation to complete (not for its callbacks).
    fn wait_for_complete(&self, py: Python<'_>) {
        let shared = self.shared.clone();
        py.detach(move || shared.wait(|s| s.done));
    }

    /// Alias of wait_for_complete (as in python-rados since Luminous).
    fn wait_for_safe(&self, py: Python<'_>) {
        self.wait_for_complete(py)
    }

    /// Waits for the operation to complete and its callbacks to return; returns 0 (the wait's
    /// result, as in python-rados: the operation's is get_return_value()).
    fn wait_for_complete_and_cb(&self, py: Python<'_>) -> i32 {
        let shared = self.shared.clone();
        py.detach(move || shared.wait(|s| s.done && s.callbacks_done));
        0
    }

    /// Alias of wait_for_complete_and_cb.
    fn wait_for_safe_and_cb(&self, py: Python<'_>) -> i32 {
        self.wait_for_complete_and_cb(py)
    }

    /// The operation's return value once complete: 0 or the bytes read/returned on success,
    /// a negative errno on failure (0 while still running).
    fn get_return_value(&self) -> i64 {
        self.shared.lock().return_value
    }

    /// Makes the completion awaitable in asyncio: the result is the operation's value or its
    /// exception (see the class documentation).
    fn __await__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let asyncio = py.import("asyncio")?;
        let event_loop = asyncio.call_method0("get_running_loop")?;
        let fut = event_loop.call_method0("create_future")?;
        let shared = &slf.get().shared;
        let done = {
            let mut s = shared.lock();
            if !s.done {
                s.awaiters
                    .push((event_loop.clone().unbind(), fut.clone().unbind()));
            }
            s.done
        };
        if done {
            resolve(py, shared, &event_loop, &fut, false);
        }
        fut.call_method0("__await__")
    }

    fn __repr__(&self) -> String {
        let s = self.shared.lock();
        if s.done {
            format!("<rados.Completion complete rv={}>", s.return_value)
        } else {
            "<rados.Completion pending>".into()
        }
    }
}

pub fn done(r: librados::Result<()>, what: impl FnOnce() -> String) -> (i64, Outcome) {
    match r {
        Ok(()) => (0, Ok(Payload::None)),
        Err(e) => (-i64::from(e.errno()), Err((e, what()))),
    }
}

/// The outcome of an aio operation that returns bytes.
pub fn data(r: librados::Result<Bytes>, what: impl FnOnce() -> String) -> (i64, Outcome) {
    match r {
        Ok(d) => (d.len() as i64, Ok(Payload::Data(d))),
        Err(e) => (-i64::from(e.errno()), Err((e, what()))),
    }
}

/// The Ioctx's asynchronous calls: each returns a Completion at once.
#[pymethods]
impl Ioctx {
    /// Writes ``to_write`` at ``offset`` asynchronously; returns a Completion.
    #[pyo3(signature = (object_name, to_write, offset=0, oncomplete=None, onsafe=None))]
    fn aio_write(
        slf: &Bound<'_, Self>,
        object_name: String,
        to_write: PyBackedBytes,
        offset: u64,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let (aio, d, what) = (
            slf.get().io(slf.py())?.aio(),
            shared_bytes(to_write),
            slf.get().failed("aio_write", "write", &object_name),
        );
        start(slf.py(), slf, Kind::Plain, oncomplete, onsafe, async move {
            done(aio.write(&object_name, d, offset).await, || what)
        })
    }

    /// Replaces the object's data asynchronously.
    #[pyo3(signature = (object_name, to_write, oncomplete=None, onsafe=None))]
    fn aio_write_full(
        slf: &Bound<'_, Self>,
        object_name: String,
        to_write: PyBackedBytes,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let (aio, d, what) = (
            slf.get().io(slf.py())?.aio(),
            shared_bytes(to_write),
            slf.get().failed("aio_write_full", "write", &object_name),
        );
        start(slf.py(), slf, Kind::Plain, oncomplete, onsafe, async move {
            done(aio.write_full(&object_name, d).await, || what)
        })
    }

    /// Appends asynchronously.
    #[pyo3(signature = (object_name, to_append, oncomplete=None, onsafe=None))]
    fn aio_append(
        slf: &Bound<'_, Self>,
        object_name: String,
        to_append: PyBackedBytes,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let (aio, d, what) = (
            slf.get().io(slf.py())?.aio(),
            shared_bytes(to_append),
            slf.get().failed("aio_append", "append", &object_name),
        );
        start(slf.py(), slf, Kind::Plain, oncomplete, onsafe, async move {
            done(aio.append(&object_name, d).await, || what)
        })
    }

    /// Reads asynchronously: ``oncomplete(completion, data)`` (data None on failure);
    /// awaiting the completion gives the bytes.
    #[pyo3(signature = (object_name, length, offset, oncomplete=None))]
    fn aio_read(
        slf: &Bound<'_, Self>,
        object_name: String,
        length: u64,
        offset: u64,
        oncomplete: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let (aio, what) = (
            slf.get().io(slf.py())?.aio(),
            slf.get().failed("aio_read", "read", &object_name),
        );
        start(slf.py(), slf, Kind::Data, oncomplete, None, async move {
            if length == 0 {
                let r = aio.stat(&object_name).await.map(|_| Bytes::new());
                return data(r, || what);
            }
            data(aio.read(&object_name, length, offset).await, || what)
        })
    }

    /// Removes the object asynchronously.
    #[pyo3(signature = (object_name, oncomplete=None, onsafe=None))]
    fn aio_remove(
        slf: &Bound<'_, Self>,
        object_name: String,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let aio = slf.get().io(slf.py())?.aio();
        start(slf.py(), slf, Kind::Plain, oncomplete, onsafe, async move {
            let r = aio.remove(&object_name).await;
            done(r, || format!("Failed to remove '{object_name}'"))
        })
    }

    /// Stats asynchronously: ``oncomplete(completion, size, mtime)`` (None, None on failure).
    #[pyo3(signature = (object_name, oncomplete))]
    fn aio_stat(
        slf: &Bound<'_, Self>,
        object_name: String,
        oncomplete: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let aio = slf.get().io(slf.py())?.aio();
        start(slf.py(), slf, Kind::Stat, oncomplete, None, async move {
            match aio.stat(&object_name).await {
                Ok(s) => (
                    0,
                    Ok(Payload::Stat {
                        size: s.size,
                        mtime: s.mtime,
                    }),
                ),
                Err(e) => done(Err(e), || format!("Failed to stat '{object_name}'")),
            }
        })
    }

    /// Notifies the watchers of ``obj`` asynchronously: ``oncomplete(completion, ret, acks,
    /// timeouts)`` with ``acks`` a list of ``(notifier_id, cookie, reply)`` and ``timeouts``
    /// a list (both None when ``ret`` is an error: ENOENT for a missing object, ETIMEDOUT
    /// when some watcher did not answer within ``timeout_ms``). Awaited, it yields ``(acks,
    /// timeouts)`` or raises.
    #[pyo3(signature = (obj, oncomplete, msg=None, timeout_ms=5000))]
    fn aio_notify(
        slf: &Bound<'_, Self>,
        obj: String,
        oncomplete: Option<Py<PyAny>>,
        msg: Option<&Bound<'_, PyAny>>,
        timeout_ms: u64,
    ) -> PyResult<Py<Completion>> {
        let payload = crate::watch::payload(msg)?;
        let aio = slf.get().io(slf.py())?.aio();
        let timeout = std::time::Duration::from_millis(timeout_ms);
        start(slf.py(), slf, Kind::Notify, oncomplete, None, async move {
            match aio.notify(&obj, payload, timeout).await {
                Ok(r) => (0, Ok(Payload::Notify(r.acks))),
                Err(e) => done(Err(e), || format!("Failed to notify '{obj}'")),
            }
        })
    }

    /// Calls an object class method asynchronously: ``oncomplete(completion, output)``.
    #[pyo3(signature = (object_name, cls, method, data, length=8192, oncomplete=None, onsafe=None))]
    #[allow(clippy::too_many_arguments)]
    fn aio_execute(
        slf: &Bound<'_, Self>,
        object_name: String,
        cls: String,
        method: String,
        data: PyBackedBytes,
        length: usize,
        oncomplete: Option<Py<PyAny>>,
        onsafe: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let _ = length;
        let (aio, d) = (slf.get().io(slf.py())?.aio(), shared_bytes(data));
        start(slf.py(), slf, Kind::Data, oncomplete, onsafe, async move {
            let r = aio.exec(&object_name, &cls, &method, d).await;
            self::data(r, || {
                format!("Failed to exec {cls}:{method} on {object_name}")
            })
        })
    }

    /// Sets an xattr asynchronously.
    #[pyo3(signature = (object_name, xattr_name, xattr_value, oncomplete=None))]
    fn aio_setxattr(
        slf: &Bound<'_, Self>,
        object_name: String,
        xattr_name: String,
        xattr_value: PyBackedBytes,
        oncomplete: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let (aio, v) = (slf.get().io(slf.py())?.aio(), shared_bytes(xattr_value));
        start(slf.py(), slf, Kind::Plain, oncomplete, None, async move {
            let r = aio.set_xattr(&object_name, &xattr_name, v).await;
            done(r, || {
                format!("Failed to set xattr '{xattr_name}' on '{object_name}'")
            })
        })
    }

    /// Removes an xattr asynchronously.
    #[pyo3(signature = (object_name, xattr_name, oncomplete=None))]
    fn aio_rmxattr(
        slf: &Bound<'_, Self>,
        object_name: String,
        xattr_name: String,
        oncomplete: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let aio = slf.get().io(slf.py())?.aio();
        start(slf.py(), slf, Kind::Plain, oncomplete, None, async move {
            let r = aio.rm_xattr(&object_name, &xattr_name).await;
            done(r, || {
                format!("Failed to delete xattr '{xattr_name}' from '{object_name}'")
            })
        })
    }

    /// Writes ``to_write`` repeated to fill ``write_len`` bytes at ``offset`` asynchronously.
    /// Raises InvalidArgumentError at once unless ``write_len`` is a multiple of its length.
    #[pyo3(signature = (object_name, to_write, write_len, offset=0, oncomplete=None))]
    fn aio_writesame(
        slf: &Bound<'_, Self>,
        object_name: String,
        to_write: PyBackedBytes,
        write_len: u64,
        offset: u64,
        oncomplete: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        if to_write.is_empty() || write_len % to_write.len() as u64 != 0 {
            let message = format!("error writing object {object_name}");
            return Err(errors::errno_error(slf.py(), 22, &message, false));
        }
        let (aio, d, what) = (
            slf.get().io(slf.py())?.aio(),
            shared_bytes(to_write),
            slf.get().failed("aio_writesame", "write", &object_name),
        );
        start(slf.py(), slf, Kind::Plain, oncomplete, None, async move {
            let r = aio.write_same(&object_name, d, write_len, offset).await;
            done(r, || what)
        })
    }

    /// Compares the object's bytes at ``offset`` with ``cmp_buf`` asynchronously. The return
    /// value (and what awaiting gives) is 0 when equal, ``-(4095 + i)`` when byte ``i`` of
    /// ``cmp_buf`` is the first to differ, a negative errno on failure.
    #[pyo3(signature = (object_name, cmp_buf, offset=0, oncomplete=None))]
    fn aio_cmpext(
        slf: &Bound<'_, Self>,
        object_name: String,
        cmp_buf: PyBackedBytes,
        offset: u64,
        oncomplete: Option<Py<PyAny>>,
    ) -> PyResult<Py<Completion>> {
        let (aio, d, what) = (
            slf.get().io(slf.py())?.aio(),
            shared_bytes(cmp_buf),
            slf.get().failed("aio_cmpext", "compare", &object_name),
        );
        start(slf.py(), slf, Kind::Plain, oncomplete, None, async move {
            match crate::ioctx::cmpext_value(aio.cmp_ext(&object_name, offset, d).await) {
                Ok(rv) => (rv, Ok(Payload::None)),
                Err(e) => done(Err(e), || what),
            }
        })
    }

    /// Blocks until every asynchronous operation started through this context completed.
    fn aio_flush(&self, py: Python<'_>) {
        let in_flight = self.in_flight();
        py.detach(move || in_flight.wait_idle());
    }
}

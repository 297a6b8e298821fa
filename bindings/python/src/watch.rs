//! Watch/notify: `Ioctx.watch(obj, callback, error_callback, timeout)` returns a `Watch`;
//! every notify on the object calls ``callback(notify_id, notifier_id, watch_id, data)``, and
//! bytes it returns go back to the notifier as this watcher's reply. When the watch fails (its
//! object was removed, or its OSD lost it) ``error_callback(watch_id, error)`` is called once,
//! with the negative errno, and ``check()`` raises that error from then on.

use crate::errors::Context;
use crate::ioctx::Ioctx;
use bytes::Bytes;
use librados::client::{NotifyEvent, WatchErrorCallback, WatchOptions};
use librados::IoCtx;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A notify's payload from python-rados' ``msg`` (str, as python-rados takes it, or bytes).
pub fn payload(msg: Option<&Bound<'_, PyAny>>) -> PyResult<Bytes> {
    match msg {
        None => Ok(Bytes::new()),
        Some(m) if m.is_none() => Ok(Bytes::new()),
        Some(m) => {
            if let Ok(s) = m.cast::<PyString>() {
                Ok(Bytes::from(s.to_cow()?.into_owned()))
            } else if let Ok(b) = m.cast::<PyBytes>() {
                Ok(Bytes::copy_from_slice(b.as_bytes()))
            } else {
                Err(pyo3::exceptions::PyTypeError::new_err(
                    "notify: msg must be str or bytes",
                ))
            }
        }
    }
}

/// Calls the Python callback for one notify; its bytes result (if any) is the reply.
fn deliver(py: Python<'_>, callback: &Py<PyAny>, ev: &NotifyEvent) -> Vec<u8> {
    let cb = callback.bind(py);
    let data = PyBytes::new(py, &ev.payload);
    match cb.call1((ev.notify_id, ev.notifier, ev.cookie, data)) {
        Ok(r) => r
            .cast::<PyBytes>()
            .map(|b| b.as_bytes().to_vec())
            .unwrap_or_default(),
        Err(e) => {
            e.write_unraisable(py, Some(cb));
            Vec::new()
        }
    }
}

/// The watch's error callback as librados calls it: ``callback(watch_id, -errno)`` on the
/// module's callback thread (where it may make blocking calls, such as watching again).
fn on_error(callback: Py<PyAny>) -> WatchErrorCallback {
    let callback = Arc::new(callback);
    Arc::new(move |cookie: u64, err: &librados::Error| {
        let (callback, errno) = (callback.clone(), err.errno());
        crate::runtime::on_callback_thread(move |py| {
            let cb = callback.bind(py);
            if let Err(e) = cb.call1((cookie, -errno)) {
                e.write_unraisable(py, Some(cb));
            }
        });
    })
}

/// A registered watch: ``get_id()``, ``check()``, ``close()``; a context manager.
#[pyclass(module = "rados", frozen)]
pub struct Watch {
    #[pyo3(get)]
    ioctx: Py<Ioctx>,
    #[pyo3(get)]
    oid: String,
    cookie: u64,
    /// Always Some until dropped (then released without the GIL).
    io: Option<Arc<IoCtx>>,
    closed: AtomicBool,
}

impl Watch {
    pub fn start(
        slf: &Bound<'_, Ioctx>,
        obj: String,
        callback: Py<PyAny>,
        error_callback: Option<Py<PyAny>>,
        timeout: Option<u64>,
    ) -> PyResult<Watch> {
        let py = slf.py();
        if error_callback.is_some() {
            crate::runtime::start_callback_thread()?;
        }
        let options = WatchOptions {
            timeout: timeout
                .filter(|&t| t > 0)
                .map(std::time::Duration::from_secs),
            on_error: error_callback.map(on_error),
        };
        let callback = Arc::new(callback);
        let on_notify = move |ev: &NotifyEvent| -> Vec<u8> {
            let (callback, ev) = (callback.clone(), ev.clone());
            // This thread belongs to the cluster's runtime, where librados refuses blocking
            // calls; the callback may make some, so it runs on a plain thread.
            std::thread::spawn(move || {
                Python::try_attach(|py| deliver(py, &callback, &ev)).unwrap_or_default()
            })
            .join()
            .unwrap_or_default()
        };
        let io = slf.get().io(py)?;
        let o = obj.clone();
        let cookie = py
            .detach(|| io.watch_with(&o, options, on_notify))
            .ctx(py, || "watch error".into())?;
        Ok(Watch {
            ioctx: slf.clone().unbind(),
            oid: obj,
            cookie,
            io: Some(io),
            closed: AtomicBool::new(false),
        })
    }
}

#[pymethods]
impl Watch {
    /// The watch's id (the ``watch_id`` its callback receives).
    fn get_id(&self) -> u64 {
        self.cookie
    }

    /// The time since the watch's OSD last confirmed it (the client pings it every few
    /// seconds), as a ``timedelta``; raises the watch's error (NotConnected once its object
    /// was removed) if it failed.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let age = match &self.io {
            Some(io) => io
                .watch_check(self.cookie)
                .ctx(py, || "check error".into())?,
            None => std::time::Duration::ZERO,
        };
        let millis = age.as_secs_f64() * 1000.0;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("milliseconds", millis.floor())?;
        py.import("datetime")?
            .getattr("timedelta")?
            .call((), Some(&kwargs))
    }

    /// Unregisters the watch. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let (io, cookie) = (self.io.clone(), self.cookie);
        py.detach(move || io.map_or(Ok(()), |io| io.unwatch(cookie)))
            .ctx(py, || format!("Failed to unwatch '{}'", self.oid))
    }

    fn __enter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let io = self.io.take();
        if !self.closed.swap(true, Ordering::SeqCst) {
            // Unregistered in the background; a runtime that cannot start leaves the watch
            // to lapse when the client goes.
            if let (Some(aio), Ok(rt)) = (io.as_ref().map(|io| io.aio()), crate::runtime::runtime())
            {
                let cookie = self.cookie;
                rt.spawn(async move {
                    let _ = aio.unwatch(cookie).await;
                });
            }
        }
        crate::runtime::drop_detached(io);
    }
}

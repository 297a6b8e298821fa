//! `Rados.monitor_log` / `monitor_log2`: following the cluster log. Each entry at the level
//! asked for or above calls, on the module's callback thread (in order),
//! ``callback(arg, line, who, sec, nsec, seq, level, msg)`` (``monitor_log``) or
//! ``callback(arg, line, channel, name, who, sec, nsec, seq, level, msg)`` (``monitor_log2``),
//! the text arguments as bytes: `line` is ``STAMP NAME [LVL] MSG``, `who` the name and
//! address (``client.4 127.0.0.1:0/4``), `level` the tag (``b"[WRN]"``).

use crate::errors::{self, Context};
use librados::client::{ClusterLogCallback, ClusterLogEntry, LogLevel};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::sync::Arc;

/// The levels python-rados accepts.
const LEVELS: &[&str] = &["debug", "info", "warn", "warning", "err", "error", "sec"];

/// Subscribes `h` to entries at `level` and above for `callback`, or ends its subscription
/// when `callback` is None.
pub fn follow(
    py: Python<'_>,
    h: librados::Rados,
    level: &str,
    callback: Option<Py<PyAny>>,
    arg: Option<Py<PyAny>>,
    with_channel: bool,
) -> PyResult<()> {
    let parsed = LEVELS
        .contains(&level)
        .then(|| LogLevel::parse(level))
        .flatten()
        .ok_or_else(|| {
            errors::state_error(py, "LogicError", &format!("invalid monitor level {level}"))
        })?;
    let what = || "Rados.monitor_log".to_string();
    let Some(callback) = callback.filter(|c| !c.is_none(py)) else {
        return py.detach(move || h.monitor_log_stop()).ctx(py, what);
    };
    if !callback.bind(py).is_callable() {
        return Err(errors::state_error(
            py,
            "LogicError",
            "callback must be a callable function or None",
        ));
    }
    let (callback, arg) = (Arc::new(callback), Arc::new(arg));
    let f: ClusterLogCallback = Arc::new(move |e: &ClusterLogEntry| {
        let (callback, arg, e) = (callback.clone(), arg.clone(), e.clone());
        crate::runtime::on_callback_thread(move |py| {
            let cb = callback.bind(py);
            let called = arguments(py, arg.as_ref().as_ref(), &e, with_channel)
                .and_then(|args| cb.call1(args));
            if let Err(err) = called {
                err.write_unraisable(py, Some(cb));
            }
        });
    });
    py.detach(move || h.monitor_log(parsed, f)).ctx(py, what)
}

fn arguments<'py>(
    py: Python<'py>,
    arg: Option<&Py<PyAny>>,
    e: &ClusterLogEntry,
    with_channel: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let bytes = |s: &str| PyBytes::new(py, s.as_bytes()).into_any();
    let int = |v: u64| v.into_pyobject(py).map(|i| i.into_any());
    let name = e.who.to_string();
    let mut items = vec![
        arg.map_or_else(|| py.None().into_bound(py), |a| a.bind(py).clone()),
        bytes(&e.brief()),
    ];
    if with_channel {
        items.push(bytes(&e.channel));
        items.push(bytes(&name));
    }
    items.extend([
        bytes(&format!("{name} {}", e.addr)),
        int(e.stamp.secs)?,
        int(u64::from(e.stamp.nanos))?,
        int(e.seq)?,
        bytes(e.level.tag()),
        bytes(&e.message),
    ]);
    PyTuple::new(py, items)
}

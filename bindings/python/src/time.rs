//! Times as python-rados returns them: `time.struct_time` (local time, whole seconds) for
//! object mtimes, `datetime.datetime` (local, naive) for snapshot timestamps.

use pyo3::prelude::*;
use std::time::{SystemTime, UNIX_EPOCH};

fn secs(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `time.localtime(t)`, truncated to the second as librados' `time_t` is.
pub fn struct_time(py: Python<'_>, t: SystemTime) -> PyResult<Bound<'_, PyAny>> {
    py.import("time")?
        .call_method1("localtime", (secs(t).floor() as i64,))
}

/// `datetime.datetime.fromtimestamp(t)`.
pub fn datetime(py: Python<'_>, t: SystemTime) -> PyResult<Bound<'_, PyAny>> {
    py.import("datetime")?
        .getattr("datetime")?
        .call_method1("fromtimestamp", (secs(t),))
}

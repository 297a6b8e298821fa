//! Benchmark aids: what the binding adds to each call, measured two ways.
//!
//! - `rados._librados_clock()`: while on, every blocking Ioctx call adds the time librados
//!   spent on it (inside the GIL-free section) to a clock; a benchmark times the same calls
//!   in Python and subtracts. What remains is the binding's own work — entering the method,
//!   converting arguments, releasing and retaking the GIL, building the result — plus the
//!   interpreter's loop. In wall time that also counts the moments the cluster's threads
//!   take the core from the caller; in the calling thread's CPU time (`cpu=True`, against
//!   Python's `time.thread_time()`) it is the work alone.
//! - `rados._native_loop(...)`: the same read or write loop run in Rust, for comparison.

use crate::ioctx::Ioctx;
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

static CLOCK_ON: AtomicBool = AtomicBool::new(false);
static CLOCK_CPU: AtomicBool = AtomicBool::new(false);
static CLOCK_CALLS: AtomicU64 = AtomicU64::new(0);
static CLOCK_NS: AtomicU64 = AtomicU64::new(0);

/// Runs `f`, adding its time to the clock when the clock is on (one relaxed load otherwise).
pub fn timed<T>(f: impl FnOnce() -> T) -> T {
    if !CLOCK_ON.load(Ordering::Relaxed) {
        return f();
    }
    let ns = if CLOCK_CPU.load(Ordering::Relaxed) {
        let start = thread_cpu_ns();
        let out = f();
        (thread_cpu_ns().saturating_sub(start), out)
    } else {
        let start = Instant::now();
        let out = f();
        (start.elapsed().as_nanos() as u64, out)
    };
    CLOCK_NS.fetch_add(ns.0, Ordering::Relaxed);
    CLOCK_CALLS.fetch_add(1, Ordering::Relaxed);
    ns.1
}

/// The calling thread's CPU time (the clock Python's `time.thread_time()` reads).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Returns ``(calls, seconds)`` the clock counted since the last call and resets it; ``on``
/// starts or stops it, counting wall time or (``cpu``) the calling thread's CPU time.
#[pyfunction]
#[pyo3(name = "_librados_clock", signature = (on, cpu=false))]
pub fn librados_clock(on: bool, cpu: bool) -> (u64, f64) {
    CLOCK_CPU.store(cpu, Ordering::Relaxed);
    CLOCK_ON.store(on, Ordering::Relaxed);
    let secs = CLOCK_NS.swap(0, Ordering::Relaxed) as f64 / 1e9;
    (CLOCK_CALLS.swap(0, Ordering::Relaxed), secs)
}

/// Runs `count` calls of `op` ("read": `read(key, length, 0)`; "write_full": `write_full(key,
/// length bytes)`) on the Ioctx from Rust, with the GIL released; returns the seconds taken.
/// A benchmark aid: the same loop from Python, minus this, is what the binding costs.
#[pyfunction]
#[pyo3(name = "_native_loop", signature = (ioctx, op, key, length, count))]
pub fn native_loop(
    py: Python<'_>,
    ioctx: &Ioctx,
    op: &str,
    key: String,
    length: u64,
    count: u64,
) -> PyResult<f64> {
    // No object is larger; a bigger length is a caller's mistake, not an allocation to try.
    if length > librados::osd::exec::MAX_OBJECT_SIZE {
        return Err(PyValueError::new_err(format!(
            "length {length} exceeds the largest object ({} bytes)",
            librados::osd::exec::MAX_OBJECT_SIZE
        )));
    }
    let read = match op {
        "read" => true,
        "write_full" => false,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown op {other:?}: read or write_full"
            )))
        }
    };
    ioctx.run(
        py,
        |io| {
            let data = Bytes::from(vec![0x5a; if read { 0 } else { length as usize }]);
            let start = Instant::now();
            for _ in 0..count {
                if read {
                    io.read(&key, length, 0)?;
                } else {
                    io.write_full(&key, data.clone())?;
                }
            }
            Ok(start.elapsed().as_secs_f64())
        },
        || format!("_native_loop({op}, {key})"),
    )
}

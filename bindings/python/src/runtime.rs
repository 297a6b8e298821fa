//! The threads behind asynchronous calls: a small tokio runtime that drives `aio_*` operations
//! (librados' async API), and one callback thread that runs Python code for them (completion
//! callbacks, asyncio futures, watch callbacks' results).
//!
//! Python callbacks never run on a runtime thread: librados refuses blocking calls from inside
//! async code, and a callback may well call `ioctx.read(...)`. Running them on one plain thread
//! also keeps their order: callbacks of one thread's requests run one at a time, as librados'
//! finisher runs them.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// The runtime that drives aio operations (two workers: the machine-size default for a
/// client), or OSError if it could not start.
pub fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rados-py-aio")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| PyOSError::new_err(format!("the aio runtime did not start: {e}")))
}

type Job = Box<dyn FnOnce(Python<'_>) + Send>;
type Queue = Mutex<mpsc::Sender<Job>>;

/// The callback thread's queue, starting the thread on first use.
fn callback_queue() -> &'static Result<Queue, String> {
    static TX: OnceLock<Result<Queue, String>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("rados-py-callbacks".into())
            .spawn(move || run_callback_thread(rx))
            .map_err(|e| e.to_string())?;
        Ok(Mutex::new(tx))
    })
}

/// The callback thread's loop. It keeps one Python thread state for its whole life, detached
/// while it waits: attaching afresh for every job would create and destroy a thread state
/// (and with it the interpreter's frame stack, mapped and unmapped) per callback.
fn run_callback_thread(rx: mpsc::Receiver<Job>) {
    let drain = |rx: mpsc::Receiver<Job>| {
        for job in rx {
            // During interpreter shutdown there is nobody left to call back.
            let _ = Python::try_attach(job);
        }
    };
    let mut rx = Some(rx);
    let _ = Python::try_attach(|py| {
        let rx = rx.take();
        py.detach(move || rx.map(drain));
    });
    // Not attached (the interpreter is going away): drop the jobs as they come.
    if let Some(rx) = rx {
        drain(rx);
    }
}

/// Starts the callback thread if it is not running yet; OSError if it cannot start. Called
/// where callbacks are set up, so that [`on_callback_thread`] never has nowhere to go.
pub fn start_callback_thread() -> PyResult<()> {
    callback_queue()
        .as_ref()
        .map(|_| ())
        .map_err(|e| PyOSError::new_err(format!("the callback thread did not start: {e}")))
}

/// Queues `job` to run with the interpreter attached on the callback thread. (If the thread
/// could not start, [`start_callback_thread`] has already told the caller, and the job is
/// dropped.)
pub fn on_callback_thread(job: impl FnOnce(Python<'_>) + Send + 'static) {
    if let Ok(tx) = callback_queue() {
        let tx = tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // The thread lives as long as the process; a send fails only after it has panicked.
        let _ = tx.send(Box::new(job));
    }
}

/// Drops `value` with the GIL released. The last handle on an embedded cluster stops it, and
/// stopping waits for callbacks in flight, which may be waiting for the GIL.
pub fn drop_detached<T: Send>(value: T) {
    let mut value = Some(value);
    let _ = Python::try_attach(|py| {
        let v = value.take();
        py.detach(move || drop(v));
    });
}

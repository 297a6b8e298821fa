//! The threads behind asynchronous calls: a small tokio runtime that drives `aio_*` operations
//! (librados' async API), and one callback thread that runs Python code for them (completion
//! callbacks, asyncio futures, watch callbacks' results).
//!
//! Python callbacks never run on a runtime thread: librados refuses blocking calls from inside
//! async code, and a callback may well call `ioctx.read(...)`. Running them on one plain thread
//! also keeps their order: callbacks of one thread's requests run one at a time, as librados'
//! finisher runs them.

use pyo3::prelude::*;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// The runtime that drives aio operations (two workers: the machine-size default for a client).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rados-py-aio")
            .enable_all()
            .build()
            .expect("the aio runtime starts")
    })
}

type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// Queues `job` to run with the interpreter attached on the callback thread.
pub fn on_callback_thread(job: impl FnOnce(Python<'_>) + Send + 'static) {
    static TX: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let tx = TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("rados-py-callbacks".into())
            .spawn(move || {
                for job in rx {
                    // During interpreter shutdown there is nobody left to call back.
                    let _ = Python::try_attach(job);
                }
            })
            .expect("the callback thread starts");
        Mutex::new(tx)
    });
    let tx = tx.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // The thread lives as long as the process; a send fails only after it has panicked.
    let _ = tx.send(Box::new(job));
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

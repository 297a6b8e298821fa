//! The `rados` Python module: a drop-in for Ceph's python-rados (same classes, signatures,
//! return shapes and exceptions) over librados' client API, so code written for Ceph runs on
//! an embedded cluster unchanged:
//!
//! ```python
//! import rados
//! with rados.Rados(conffile="ceph.conf") as cluster:   # [global] data_dir = ./data
//!     with cluster.open_ioctx("data") as io:
//!         io.write_full("greeting", b"hello")
//!         data = await io.aio_read("greeting", 5, 0)   # completions are awaitable too
//! ```
//!
//! Layout: [`cluster`] (Rados), [`ioctx`] (Ioctx), [`ops`] (WriteOp/ReadOp, omap),
//! [`objects`] (listing, Object), [`snaps`], [`applications`], [`watch`], [`aio`]
//! (Completion, asyncio), [`errors`] (the exception hierarchy, with src/support.py),
//! [`mon_command`] and [`daemon_command`] (osd/pg/mgr), [`runtime`] (the threads aio and
//! callbacks run on), [`buffer`] (zero-copy reads), [`bench`] (benchmark aids). Every
//! blocking call releases the GIL.

// The module's tests are Python (tests/, run by run-tests.sh). `cargo test --workspace
// --all-targets` still builds this crate's unit-test harness; compiled empty, it references
// no Python symbol and so needs no libpython to start, whichever Python the machine has.
#![cfg(not(test))]

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod aio;
mod applications;
mod bench;
mod buffer;
mod cluster;
mod daemon_command;
mod errors;
mod ioctx;
mod mon_command;
mod monitor_log;
mod objects;
mod ops;
mod runtime;
mod snaps;
mod time;
mod watch;

use pyo3::prelude::*;

/// python-rados' module-level constants.
const CONSTANTS: &[(&str, u64)] = &[
    ("LIBRADOS_OP_FLAG_EXCL", 1),
    ("LIBRADOS_OP_FLAG_FAILOK", 2),
    ("LIBRADOS_OP_FLAG_FADVISE_RANDOM", 4),
    ("LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL", 8),
    ("LIBRADOS_OP_FLAG_FADVISE_WILLNEED", 16),
    ("LIBRADOS_OP_FLAG_FADVISE_DONTNEED", 32),
    ("LIBRADOS_OP_FLAG_FADVISE_NOCACHE", 64),
    ("LIBRADOS_CMPXATTR_OP_EQ", 1),
    ("LIBRADOS_CMPXATTR_OP_NE", 2),
    ("LIBRADOS_CMPXATTR_OP_GT", 3),
    ("LIBRADOS_CMPXATTR_OP_GTE", 4),
    ("LIBRADOS_CMPXATTR_OP_LT", 5),
    ("LIBRADOS_CMPXATTR_OP_LTE", 6),
    ("LIBRADOS_OPERATION_NOFLAG", 0),
    ("LIBRADOS_OPERATION_BALANCE_READS", 1),
    ("LIBRADOS_OPERATION_LOCALIZE_READS", 2),
    ("LIBRADOS_OPERATION_ORDER_READS_WRITES", 4),
    ("LIBRADOS_OPERATION_IGNORE_CACHE", 8),
    ("LIBRADOS_OPERATION_SKIPRWLOCKS", 16),
    ("LIBRADOS_OPERATION_IGNORE_OVERLAY", 32),
    ("LIBRADOS_LOCK_FLAG_RENEW", 1),
    ("LIBRADOS_LOCK_FLAG_MAY_RENEW", 1),
    ("LIBRADOS_LOCK_FLAG_MUST_RENEW", 2),
    ("LIBRADOS_CREATE_EXCLUSIVE", 1),
    ("LIBRADOS_CREATE_IDEMPOTENT", 0),
    ("LIBRADOS_SNAP_HEAD", librados::client::SNAP_HEAD),
    ("MAX_ERRNO", 4095),
    ("ADMIN_AUID", 0),
    ("ANONYMOUS_AUID", u64::MAX),
];

#[pymodule]
fn rados(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "__doc__",
        "A drop-in for Ceph's python-rados module over rados-rs: the same classes, calls and \
         exceptions, on an embedded cluster (a conffile whose [global] section names data_dir, \
         or rados.embedded(path)). Completions of aio_* calls are also awaitable in asyncio.",
    )?;
    errors::register(m)?;
    m.add_class::<cluster::Rados>()?;
    m.add_class::<cluster::Version>()?;
    m.add_class::<ioctx::Ioctx>()?;
    m.add_class::<aio::Completion>()?;
    m.add_class::<ops::WriteOp>()?;
    m.add_class::<ops::WriteOpCtx>()?;
    m.add_class::<ops::ReadOp>()?;
    m.add_class::<ops::ReadOpCtx>()?;
    m.add_class::<ops::OmapIterator>()?;
    m.add_class::<objects::ObjectIterator>()?;
    m.add_class::<objects::Object>()?;
    m.add_class::<objects::XattrIterator>()?;
    m.add_class::<snaps::Snap>()?;
    m.add_class::<snaps::SnapIterator>()?;
    m.add_class::<watch::Watch>()?;
    m.add_function(wrap_pyfunction!(cluster::embedded, m)?)?;
    m.add_function(wrap_pyfunction!(bench::native_loop, m)?)?;
    m.add_function(wrap_pyfunction!(bench::librados_clock, m)?)?;
    for (name, value) in CONSTANTS {
        m.add(*name, *value)?;
    }
    m.add("LIBRADOS_ALL_NSPACES", ioctx::ALL_NSPACES)?;
    m.add(
        "MONITOR_LEVELS",
        vec!["debug", "info", "warn", "warning", "err", "error", "sec"],
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

//! Errors at the Python edge: each `librados::Error` becomes the exception python-rados raises
//! for its errno (`rados.ObjectNotFound`, `rados.ObjectExists`, ...), with python-rados'
//! message shape: `[errno 2] RADOS object not found (Ioctx.read(data): failed to read x)`.
//!
//! The exception classes themselves are Python classes (src/support.py): under abi3 before
//! Python 3.12 a Rust class cannot extend `Exception`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

static SUPPORT: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The compiled support module (exceptions, asyncio helpers).
pub fn support(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    SUPPORT
        .get_or_try_init(py, || {
            PyModule::from_code(
                py,
                &std::ffi::CString::new(include_str!("support.py"))?,
                c"rados/support.py",
                c"rados._support",
            )
            .map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

/// Every exception class, exported from the module under its python-rados name.
pub const CLASSES: &[&str] = &[
    "Error",
    "OSError",
    "InvalidArgumentError",
    "ExtendMismatch",
    "InProgress",
    "IsConnected",
    "LogicError",
    "IoctxStateError",
    "ObjectStateError",
    "RadosStateError",
    "PermissionError",
    "PermissionDeniedError",
    "ObjectNotFound",
    "NoData",
    "ObjectExists",
    "ObjectBusy",
    "IOError",
    "NoSpace",
    "NotConnected",
    "ConnectionShutdown",
    "TimedOut",
    "InterruptedOrTimeoutError",
    "PoolNotFound",
    "ReadOnly",
    "OperationCanceled",
    "NotSupported",
];

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let support = support(m.py())?;
    for name in CLASSES {
        let class = support.getattr(*name)?;
        class.setattr("__module__", "rados")?;
        m.add(*name, class)?;
    }
    Ok(())
}

/// An exception of class `name` (one of [`CLASSES`]) without an errno.
pub fn state_error(py: Python<'_>, class: &str, message: &str) -> PyErr {
    match support(py).and_then(|s| s.getattr(class)?.call1((message,))) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The exception for a failure with `errno` (positive).
pub fn errno_error(py: Python<'_>, errno: i32, message: &str, pool_missing: bool) -> PyErr {
    match support(py).and_then(|s| s.getattr("make_ex")?.call1((errno, message, pool_missing))) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The exception for `err`, raised by the operation `context` describes (python-rados style:
/// "Ioctx.read(data): failed to read x"). Errors whose text says more than their errno (bad
/// arguments, unsupported features, OS errors) append it.
pub fn to_py(py: Python<'_>, err: &librados::Error, context: &str) -> PyErr {
    use librados::Error as E;
    let message = match err {
        E::InvalidArgument(_)
        | E::Unsupported(_)
        | E::PermissionDenied(_)
        | E::Locked { .. }
        | E::Os { .. } => {
            format!("{context}: {err}")
        }
        _ => context.to_string(),
    };
    let pool_missing = matches!(err, E::PoolNotFound { .. });
    errno_error(py, err.errno(), &message, pool_missing)
}

/// `Result<T, librados::Error>` into `PyResult<T>` with a context string built lazily.
pub trait Context<T> {
    fn ctx(self, py: Python<'_>, context: impl FnOnce() -> String) -> PyResult<T>;
}

impl<T> Context<T> for librados::Result<T> {
    fn ctx(self, py: Python<'_>, context: impl FnOnce() -> String) -> PyResult<T> {
        self.map_err(|e| to_py(py, &e, &context()))
    }
}

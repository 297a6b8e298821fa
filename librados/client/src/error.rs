//! The client's one error type. Every variant maps to the errno a Ceph client reports
//! ([`Error::errno`]); the Python bindings raise one exception class per variant.

use crate::errno;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("{what}: No such file or directory")]
    NotFound { what: String },
    #[error("{what}: File exists")]
    Exists { what: String },
    #[error("pool '{name}' does not exist")]
    PoolNotFound { name: String },
    #[error("{what}: No data available")]
    NoData { what: String },
    #[error("{what}: Operation canceled (a guard failed)")]
    Canceled { what: String },
    /// A compare-extent guard found different content: `offset` is the index, within the
    /// compared buffer, of the first differing byte. Its errno is Ceph's: `MAX_ERRNO`
    /// (4095) + `offset`, which C librados returns negated.
    #[error("{what}: object content differs at byte {offset} of the compared extent")]
    CmpExtMismatch { what: String, offset: u64 },
    #[error("{what}: No space left on device")]
    NoSpace { what: String },
    #[error("{what}: Connection timed out")]
    TimedOut { what: String },
    /// A watch ended on the OSD's side: its object was removed, it lapsed unpinged, or it
    /// could not be registered again after the object moved.
    #[error("{what}: Transport endpoint is not connected")]
    NotConnected { what: String },
    /// The client is fenced: the map blocklists its address, and OSDs refuse its requests.
    #[error("{what}: client is blocklisted (Cannot send after transport endpoint shutdown)")]
    Blocklisted { what: String },
    #[error("{what}: Device or resource busy")]
    Busy { what: String },
    #[error("{what}: read-only (a snapshot)")]
    ReadOnly { what: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unsupported(String),
    /// Refused unless confirmed (e.g. a second application on a pool without `force`).
    #[error("{0}")]
    PermissionDenied(String),
    #[error("the data directory {path} is in use by {holder}")]
    Locked { path: String, holder: String },
    #[error("{what}: {message}")]
    Os {
        what: String,
        errno: i32,
        message: String,
    },
}

/// The C library's text for an errno, as Ceph's tools print it.
pub fn strerror(e: i32) -> String {
    std::io::Error::from_raw_os_error(e)
        .to_string()
        .split(" (os error")
        .next()
        .unwrap_or("")
        .to_string()
}

impl Error {
    /// The errno Ceph's clients report for this error (positive).
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotFound { .. } | Error::PoolNotFound { .. } => errno::ENOENT,
            Error::Exists { .. } => errno::EEXIST,
            Error::NoData { .. } => errno::ENODATA,
            Error::Canceled { .. } => errno::ECANCELED,
            Error::CmpExtMismatch { offset, .. } => i32::try_from(*offset)
                .ok()
                .and_then(|o| errno::MAX_ERRNO.checked_add(o))
                .unwrap_or(i32::MAX),
            Error::NoSpace { .. } => errno::ENOSPC,
            Error::TimedOut { .. } => errno::ETIMEDOUT,
            Error::Busy { .. } => errno::EBUSY,
            Error::NotConnected { .. } => errno::ENOTCONN,
            Error::Blocklisted { .. } => errno::EBLOCKLISTED,
            Error::InvalidArgument(_) => errno::EINVAL,
            Error::ReadOnly { .. } => errno::EROFS,
            Error::Unsupported(_) => errno::EOPNOTSUPP,
            Error::PermissionDenied(_) => errno::EPERM,
            Error::Locked { .. } => errno::EBUSY,
            Error::Os { errno, .. } => *errno,
        }
    }

    /// The error for a failed operation on `what` with `errno` (positive).
    pub fn from_errno(errno: i32, what: impl Into<String>) -> Error {
        let what = what.into();
        match errno {
            errno::ENOENT => Error::NotFound { what },
            errno::EEXIST => Error::Exists { what },
            errno::ENODATA => Error::NoData { what },
            errno::ECANCELED => Error::Canceled { what },
            errno::ENOSPC => Error::NoSpace { what },
            errno::ETIMEDOUT => Error::TimedOut { what },
            errno::EBUSY => Error::Busy { what },
            errno::ENOTCONN => Error::NotConnected { what },
            errno::EBLOCKLISTED => Error::Blocklisted { what },
            errno::EINVAL => Error::InvalidArgument(what),
            errno::EROFS => Error::ReadOnly { what },
            n if n >= errno::MAX_ERRNO => Error::CmpExtMismatch {
                what,
                offset: (n - errno::MAX_ERRNO) as u64,
            },
            _ => Error::Os {
                message: strerror(errno),
                what,
                errno,
            },
        }
    }
}

impl From<crate::msg::command::WireError> for Error {
    fn from(e: crate::msg::command::WireError) -> Self {
        match e.errno {
            errno::EINVAL => Error::InvalidArgument(e.message),
            errno::EOPNOTSUPP => Error::Unsupported(e.message),
            errno::EPERM => Error::PermissionDenied(e.message),
            n => Error::from_errno(n, e.message),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<rados_common::ConfigError> for Error {
    fn from(e: rados_common::ConfigError) -> Self {
        match e {
            rados_common::ConfigError::Invalid(m) => Error::InvalidArgument(m),
            e => Error::Os {
                errno: e.errno(),
                message: e.to_string(),
                what: "configuration".into(),
            },
        }
    }
}

impl From<rados_cluster::ClusterError> for Error {
    fn from(e: rados_cluster::ClusterError) -> Self {
        match e {
            rados_cluster::ClusterError::Locked { path, holder } => Error::Locked { path, holder },
            rados_cluster::ClusterError::Config(c) => c.into(),
            rados_cluster::ClusterError::TimedOut { what } => Error::TimedOut { what },
            rados_cluster::ClusterError::Command(w) => w.into(),
            e => Error::Os {
                errno: e.errno(),
                message: e.to_string(),
                what: "cluster".into(),
            },
        }
    }
}

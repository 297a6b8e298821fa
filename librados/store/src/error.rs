//! The store's error type. Every variant names what it is about; [`StoreError::errno`] is where
//! they become numbers for the layers above.

use super::types::{CollectionId, ObjectId};
use crate::errno;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("object {object} does not exist")]
    ObjectNotFound { object: Box<ObjectId> },
    #[error("object {object} already exists")]
    ObjectExists { object: Box<ObjectId> },
    #[error("object {object} has no attribute {name:?}")]
    AttrNotFound { object: Box<ObjectId>, name: String },
    #[error("collection {collection} does not exist")]
    CollectionNotFound { collection: CollectionId },
    #[error("collection {collection} already exists")]
    CollectionExists { collection: CollectionId },
    #[error("collection {collection} is not empty; remove its objects first")]
    CollectionNotEmpty { collection: CollectionId },
    #[error("invalid operation: {reason}")]
    InvalidArgument { reason: String },
    #[error(
        "no space: the transaction needs about {needed_bytes} bytes but only {available_bytes} \
         are available above the reserve; delete objects to make room"
    )]
    NoSpace {
        needed_bytes: u64,
        available_bytes: u64,
    },
    #[error("integrity error in object {object}: {detail}")]
    Corrupt {
        object: Box<ObjectId>,
        detail: String,
    },
    #[error("the key-value engine failed: {detail}")]
    Engine { detail: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store at {path} cannot be opened: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("store at {path} is in use by another process (lock held on {lock})")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error(
        "the store stopped accepting writes after an earlier I/O failure ({cause}); \
         reopen it to recover"
    )]
    ReadOnly { cause: String },
}

impl StoreError {
    /// The errno a Ceph client would see for this error.
    pub fn errno(&self) -> i32 {
        match self {
            StoreError::ObjectNotFound { .. } | StoreError::CollectionNotFound { .. } => {
                errno::ENOENT
            }
            StoreError::AttrNotFound { .. } => errno::ENODATA,
            StoreError::ObjectExists { .. } | StoreError::CollectionExists { .. } => errno::EEXIST,
            StoreError::CollectionNotEmpty { .. } => errno::ENOTEMPTY,
            StoreError::InvalidArgument { .. } => errno::EINVAL,
            StoreError::NoSpace { .. } => errno::ENOSPC,
            StoreError::Corrupt { .. } | StoreError::Engine { .. } | StoreError::Io { .. } => {
                errno::EIO
            }
            StoreError::Format { .. } => errno::EINVAL,
            StoreError::Locked { .. } => errno::EBUSY,
            StoreError::ReadOnly { .. } => errno::EROFS,
        }
    }

    /// Whether this is an integrity failure (bad checksum, unreadable record).
    pub fn is_integrity(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. } | StoreError::Engine { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(errno::ENOSPC) {
            return StoreError::NoSpace {
                needed_bytes: 0,
                available_bytes: 0,
            };
        }
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(reason: impl Into<String>) -> Self {
        StoreError::InvalidArgument {
            reason: reason.into(),
        }
    }
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        StoreError::Engine {
            detail: e.to_string(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

//! Errors of the OSD map layer.

use crate::crush::CrushError;
use crate::errno;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OsdMapError {
    #[error("pool {pool} does not exist")]
    PoolNotFound { pool: String },

    #[error("pool '{name}' already exists")]
    PoolExists { name: String },

    #[error("osd.{osd} does not exist")]
    OsdNotFound { osd: i32 },

    /// An incremental was applied to the wrong epoch.
    #[error("incremental for epoch {inc_epoch} cannot apply to epoch {map_epoch} (needs {})", inc_epoch - 1)]
    EpochMismatch { map_epoch: u32, inc_epoch: u32 },

    #[error("incremental is for cluster {inc} but this map is cluster {map}")]
    FsidMismatch { map: String, inc: String },

    #[error("invalid OSD map: {0}")]
    Invalid(String),

    #[error("cannot decode OSD map: {0}")]
    Decode(String),

    #[error(transparent)]
    Crush(#[from] CrushError),
}

impl OsdMapError {
    /// The errno a Ceph client would report.
    pub fn errno(&self) -> i32 {
        match self {
            OsdMapError::PoolNotFound { .. } | OsdMapError::OsdNotFound { .. } => errno::ENOENT,
            OsdMapError::PoolExists { .. } => errno::EEXIST,
            OsdMapError::EpochMismatch { .. } => errno::EAGAIN,
            OsdMapError::Crush(e) => e.errno(),
            _ => errno::EINVAL,
        }
    }
}

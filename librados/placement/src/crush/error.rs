//! Errors of the CRUSH layer: text syntax and semantics, binary decoding, map edits.

use crate::errno;
use thiserror::Error;

/// Everything that can go wrong while building, parsing, decoding or editing a CRUSH map.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CrushError {
    /// A text map could not be compiled; `line` is 1-based.
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },

    /// A binary map could not be decoded.
    #[error("malformed binary crush map at byte {offset}: {message}")]
    Decode { offset: usize, message: String },

    /// The map would violate an invariant the mapper relies on.
    #[error("invalid crush map: {0}")]
    Invalid(String),

    /// A bucket's weights add up to more than 65535.99998 (the 16.16 fixed-point limit).
    #[error("bucket weight overflows 16.16 fixed point (total above 65536)")]
    WeightOverflow,

    /// A named item, bucket, type, rule or class does not exist.
    #[error("{kind} '{name}' does not exist")]
    NotFound { kind: &'static str, name: String },

    /// A name or id is already taken.
    #[error("{kind} '{name}' already exists")]
    Exists { kind: &'static str, name: String },

    /// The edit is refused (for instance removing a bucket that still has items).
    #[error("{0}")]
    Refused(String),
}

impl CrushError {
    pub(crate) fn parse(line: usize, message: impl Into<String>) -> CrushError {
        CrushError::Parse {
            line,
            message: message.into(),
        }
    }

    /// The errno a Ceph client would report for this error.
    pub fn errno(&self) -> i32 {
        match self {
            CrushError::NotFound { .. } => errno::ENOENT,
            CrushError::Exists { .. } => errno::EEXIST,
            CrushError::Refused(_) => errno::ENOTEMPTY,
            _ => errno::EINVAL,
        }
    }
}

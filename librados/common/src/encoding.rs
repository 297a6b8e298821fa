//! Versioned encoding for everything persisted or sent: MessagePack (rmp-serde) with named
//! fields, inside an envelope naming the kind of value and its format version.
//!
//! ```text
//! { "kind": "osdmap", "version": 1, "body": { ...named fields... } }
//! ```
//!
//! Named fields let a newer version add fields (`#[serde(default)]`) that older data lacks; a
//! version above what the reader supports is refused rather than half understood.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodingError {
    #[error("expected an encoded {expected}, found {found}")]
    WrongKind { expected: String, found: String },
    #[error("{kind} format version {version} is newer than this build supports ({max})")]
    UnsupportedVersion {
        kind: String,
        version: u16,
        max: u16,
    },
    #[error("malformed {kind}: {message}")]
    Malformed { kind: String, message: String },
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    kind: &'a str,
    version: u16,
    body: &'a T,
}

#[derive(Deserialize)]
struct EnvelopeHeader {
    kind: String,
    version: u16,
    #[allow(dead_code)]
    body: IgnoredAny,
}

#[derive(Deserialize)]
struct EnvelopeIn<T> {
    body: T,
}

/// Encodes `body` as `kind` at format `version`.
pub fn encode<T: Serialize>(kind: &str, version: u16, body: &T) -> Result<Vec<u8>, EncodingError> {
    rmp_serde::to_vec_named(&EnvelopeOut {
        kind,
        version,
        body,
    })
    .map_err(|e| EncodingError::Malformed {
        kind: kind.to_string(),
        message: e.to_string(),
    })
}

/// Decodes a `kind` of at most format `max_version`; returns the version found and the value.
pub fn decode<T: DeserializeOwned>(
    kind: &str,
    max_version: u16,
    bytes: &[u8],
) -> Result<(u16, T), EncodingError> {
    let malformed = |e: rmp_serde::decode::Error| EncodingError::Malformed {
        kind: kind.to_string(),
        message: e.to_string(),
    };
    let header: EnvelopeHeader = rmp_serde::from_slice(bytes).map_err(malformed)?;
    if header.kind != kind {
        return Err(EncodingError::WrongKind {
            expected: kind.to_string(),
            found: header.kind,
        });
    }
    if header.version > max_version {
        return Err(EncodingError::UnsupportedVersion {
            kind: kind.to_string(),
            version: header.version,
            max: max_version,
        });
    }
    let env: EnvelopeIn<T> = rmp_serde::from_slice(bytes).map_err(malformed)?;
    Ok((header.version, env.body))
}

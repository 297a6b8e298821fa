//! Pieces every layer shares: the errno table used at the API edge, the versioned MessagePack
//! envelope for everything persisted or sent, C-compatible number formatting for tool outputs,
//! directory lock files, and ceph.conf-style configuration.

pub mod config;
pub mod encoding;
pub mod errno;
pub mod fmt;
pub mod frame_bytes;
pub mod lockfile;
pub mod random;

pub use config::{Config, ConfigError};

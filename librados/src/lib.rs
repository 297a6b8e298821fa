//! An embeddable RADOS: Ceph's reliable distributed object store as a Rust library.
//!
//! Layers, bottom up (see ARCHITECTURE.md): [`crush`] and [`osdmap`] compute placement (pure);
//! the object store, messenger, monitor, OSD and client layers build on them.

pub mod client;
pub mod cluster;
pub mod crush;
pub mod encoding;
pub mod errno;
pub mod fmt;
pub mod hash;
pub mod lockfile;
pub mod mon;
pub mod msg;
pub mod osd;
pub mod osdmap;
pub mod store;

pub use client::{AioCtx, Config, Error, IoCtx, Rados, ReadOp, Result, WriteOp};

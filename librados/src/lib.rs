//! An embeddable RADOS: Ceph's reliable distributed object store as a Rust library.
//!
//! This crate is the public face of the layers below it, each its own crate (see
//! ARCHITECTURE.md), bottom up: [`crush`] and [`osdmap`] compute placement (pure); [`store`] is
//! the per-OSD object store; [`msg`] the messenger; [`mon`] the monitor; [`osd`] the OSD;
//! [`cluster`] the deployments (embedded, daemons); [`client`] the API programs use.

pub use rados_client as client;
pub use rados_cluster as cluster;
pub use rados_common::{config, encoding, errno, fmt, lockfile};
pub use rados_mon as mon;
pub use rados_msg as msg;
pub use rados_osd as osd;
pub use rados_placement::{crush, hash, osdmap};
pub use rados_store as store;

pub use client::{AioCtx, Config, Error, IoCtx, Rados, ReadOp, Result, WriteOp};

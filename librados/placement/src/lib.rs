//! Placement, pure: [`crush`] (the CRUSH map and mapper, bit-exact with Ceph 16, its text and
//! binary formats) and [`osdmap`] (pools, OSD states, epochs and incrementals, object → PG →
//! OSDs), with the Jenkins hashes both use ([`hash`]).

pub mod crush;
pub mod hash;
pub mod osdmap;

use rados_common::{encoding, errno, fmt};

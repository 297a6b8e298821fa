//! PG intervals: a run of map epochs in which a PG's acting set, up set, primary, pool size
//! and pg_num stay the same and no acting member restarted. Messages between OSDs name their
//! interval (by the epoch it began) and clients resend when a PG's interval changes.

use super::{OsdMap, PgId};

/// What makes two epochs the same interval for a PG (`None` when its pool is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalKey {
    pub acting: Vec<i32>,
    pub up: Vec<i32>,
    pub primary: i32,
    pub size: u8,
    pub min_size: u8,
    pub pg_num: u32,
    pub up_from: Vec<u32>,
}

pub fn interval_key(map: &OsdMap, pgid: PgId) -> Option<IntervalKey> {
    let pool = map.pool(pgid.pool)?;
    let m = map.pg_mapping(pgid);
    Some(IntervalKey {
        up_from: m
            .acting
            .iter()
            .map(|&o| map.osd(o).map_or(0, |i| i.up_from))
            .collect(),
        acting: m.acting,
        up: m.up,
        primary: m.acting_primary,
        size: pool.size,
        min_size: pool.min_size,
        pg_num: pool.pg_num,
    })
}

/// Whether `pgid`'s interval differs between two maps (clients resend when it does).
pub fn interval_changed(old: &OsdMap, new: &OsdMap, pgid: PgId) -> bool {
    interval_key(old, pgid) != interval_key(new, pgid)
}

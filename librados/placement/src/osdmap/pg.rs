//! Placement groups: ids, and the stable modulo that keeps PG membership steady while pg_num grows.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A placement group: a pool and a placement seed (`1.6f` in Ceph's notation, seed in hex).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct PgId {
    pub pool: i64,
    pub seed: u32,
}

impl PgId {
    pub fn new(pool: i64, seed: u32) -> PgId {
        PgId { pool, seed }
    }
}

impl fmt::Display for PgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:x}", self.pool, self.seed)
    }
}

/// Error parsing a PG id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pg id '{0}' (expected POOL.SEED with the seed in hex, e.g. 1.6f)")]
pub struct PgIdParseError(pub String);

impl FromStr for PgId {
    type Err = PgIdParseError;

    fn from_str(s: &str) -> Result<PgId, PgIdParseError> {
        let bad = || PgIdParseError(s.to_string());
        let (pool, seed) = s.split_once('.').ok_or_else(bad)?;
        let pool = pool.parse().map_err(|_| bad())?;
        let seed = u32::from_str_radix(seed, 16).map_err(|_| bad())?;
        Ok(PgId { pool, seed })
    }
}

/// Number of bits needed to represent `v` (0 for 0).
pub fn cbits(v: u32) -> u32 {
    32 - v.leading_zeros()
}

/// The mask `stable_mod` uses for `n` buckets: the smallest `2^k - 1` that covers `n - 1`.
pub fn mask_for(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    ((1u64 << cbits(n - 1)) - 1) as u32
}

/// Ceph's `ceph_stable_mod`: like `x mod b`, but when `b` grows only the inputs of the buckets
/// being split move.
pub fn stable_mod(x: u32, b: u32, bmask: u32) -> u32 {
    if x & bmask < b {
        x & bmask
    } else {
        x & (bmask >> 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse() {
        let pg = PgId::new(1, 0x4b);
        assert_eq!(pg.to_string(), "1.4b");
        assert_eq!("1.4b".parse::<PgId>().unwrap(), pg);
        assert!("1".parse::<PgId>().is_err());
        assert!("x.1".parse::<PgId>().is_err());
    }

    #[test]
    fn stable_mod_stays_below_b() {
        for b in 1..200u32 {
            let m = mask_for(b);
            for x in 0..1000u32 {
                assert!(stable_mod(x, b, m) < b);
            }
        }
        // Growing from 12 to 13 PGs only moves inputs into the new PG 12.
        for x in 0..10_000u32 {
            let before = stable_mod(x, 12, mask_for(12));
            let after = stable_mod(x, 13, mask_for(13));
            assert!(after == before || after == 12);
        }
    }
}

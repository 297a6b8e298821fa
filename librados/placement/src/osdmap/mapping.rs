//! Object → PG → OSDs, exactly as Ceph computes it.
//!
//! 1. seed = pool's string hash of (namespace \x1f) (locator key or name)
//! 2. PG = stable_mod(seed, pg_num)
//! 3. pps = hash(stable_mod(PG, pgp_num), pool) with hashpspool
//! 4. raw = CRUSH(rule, pps, size, reweights, choose_args[pool]) minus OSDs that do not exist
//!    (replicated) or with holes for them (erasure); then pg_upmap / pg_upmap_items
//! 5. up = raw minus down OSDs (or holes); up primary = first entry, then primary affinity
//! 6. acting = pg_temp if set (else up); acting primary = primary_temp, else first of pg_temp

use super::{OsdMap, OsdMapError, PgId, Pool, DEFAULT_PRIMARY_AFFINITY};
use crate::crush::{Workspace, CRUSH_ITEM_NONE};
use crate::hash::crush_hash32_2;

/// Where an object lives within a pool: its namespace and optional locator key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ObjectLocator {
    pub pool: i64,
    pub namespace: Vec<u8>,
    /// When set, placement hashes this instead of the object name (co-locating objects).
    pub key: Option<Vec<u8>>,
}

impl ObjectLocator {
    pub fn new(pool: i64) -> ObjectLocator {
        ObjectLocator {
            pool,
            ..ObjectLocator::default()
        }
    }
}

/// Where a PG is, at every stage of the computation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgMapping {
    /// CRUSH's answer, without OSDs that do not exist (before upmaps).
    pub raw: Vec<i32>,
    pub raw_primary: i32,
    /// `raw` without down OSDs.
    pub up: Vec<i32>,
    pub up_primary: i32,
    /// The OSDs serving the PG now (pg_temp while backfilling, else `up`).
    pub acting: Vec<i32>,
    pub acting_primary: i32,
}

impl OsdMap {
    fn pool_or_err(&self, pool: i64) -> Result<&Pool, OsdMapError> {
        self.pool(pool).ok_or(OsdMapError::PoolNotFound {
            pool: pool.to_string(),
        })
    }

    /// The raw PG of an object (seed = the full hash, before `pg_num` is applied).
    pub fn object_to_raw_pg(&self, name: &[u8], loc: &ObjectLocator) -> Result<PgId, OsdMapError> {
        let pool = self.pool_or_err(loc.pool)?;
        let key = loc.key.as_deref().unwrap_or(name);
        Ok(PgId::new(loc.pool, pool.hash_key(key, &loc.namespace)))
    }

    /// The PG that holds an object.
    pub fn object_to_pg(&self, name: &[u8], loc: &ObjectLocator) -> Result<PgId, OsdMapError> {
        let raw = self.object_to_raw_pg(name, loc)?;
        Ok(self.pool_or_err(loc.pool)?.raw_pg_to_pg(raw))
    }

    /// Folds a raw PG into `pg_num` (unknown pools are returned unchanged).
    pub fn raw_pg_to_pg(&self, raw: PgId) -> PgId {
        self.pool(raw.pool).map_or(raw, |p| p.raw_pg_to_pg(raw))
    }

    /// Where a PG is; empty sets for an unknown pool or a PG beyond `pg_num`.
    pub fn pg_mapping(&self, pg: PgId) -> PgMapping {
        self.pg_mapping_with(pg, &mut Workspace::new())
    }

    /// [`OsdMap::pg_mapping`] reusing a CRUSH workspace (no allocation in steady state).
    pub fn pg_mapping_with(&self, pg: PgId, ws: &mut Workspace) -> PgMapping {
        let none = PgMapping {
            raw_primary: -1,
            up_primary: -1,
            acting_primary: -1,
            ..PgMapping::default()
        };
        let Some(pool) = self.pool(pg.pool) else {
            return none;
        };
        if pg.seed >= pool.pg_num {
            return none;
        }
        let (mut acting, mut acting_primary) = self.temp_osds(pool, pg);
        let (raw, pps) = self.pg_to_raw_osds(pool, pg, ws);
        let raw_primary = pick_primary(&raw);
        let mut raw_upmapped = raw.clone();
        self.apply_upmap(pool, pg, &mut raw_upmapped);
        let mut up = self.raw_to_up(pool, &raw_upmapped);
        let mut up_primary = pick_primary(&up);
        self.apply_primary_affinity(pps, pool, &mut up, &mut up_primary);
        if acting.is_empty() {
            acting = up.clone();
            if acting_primary == -1 {
                acting_primary = up_primary;
            }
        }
        PgMapping {
            raw,
            raw_primary,
            up,
            up_primary,
            acting,
            acting_primary,
        }
    }

    /// CRUSH's OSDs for a PG (nonexistent OSDs dropped or holed) and the placement seed.
    pub(crate) fn pg_to_raw_osds(
        &self,
        pool: &Pool,
        pg: PgId,
        ws: &mut Workspace,
    ) -> (Vec<i32>, u32) {
        let pps = pool.raw_pg_to_pps(pg);
        let mut osds = Vec::with_capacity(usize::from(pool.size));
        let size = usize::from(pool.size);
        if let Some(rule) = self
            .crush
            .find_rule(pool.crush_rule, pool.pool_type.rule_type(), size)
        {
            let args = self.crush.choose_args_for(pg.pool);
            self.crush
                .do_rule(rule, pps, size, &self.crush_weights, args, ws, &mut osds);
        }
        if pool.can_shift_osds() {
            osds.retain(|&o| self.exists(o));
        } else {
            for o in &mut osds {
                if !self.exists(*o) {
                    *o = CRUSH_ITEM_NONE;
                }
            }
        }
        (osds, pps)
    }

    fn raw_to_up(&self, pool: &Pool, raw: &[i32]) -> Vec<i32> {
        if pool.can_shift_osds() {
            raw.iter().copied().filter(|&o| self.is_up(o)).collect()
        } else {
            raw.iter()
                .map(|&o| if self.is_up(o) { o } else { CRUSH_ITEM_NONE })
                .collect()
        }
    }

    fn is_marked_out(&self, osd: i32) -> bool {
        osd != CRUSH_ITEM_NONE && self.osd(osd).is_some_and(|o| o.weight == 0)
    }

    /// Explicit remappings: a whole `pg_upmap` list (ignored if it names an out OSD), then
    /// `pg_upmap_items` pairs replacing one OSD by another.
    fn apply_upmap(&self, pool: &Pool, pg: PgId, raw: &mut Vec<i32>) {
        let pg = pool.raw_pg_to_pg(pg);
        if let Some(list) = self.pg_upmap.get(&pg) {
            if list.iter().any(|&o| self.is_marked_out(o)) {
                return;
            }
            *raw = list.clone();
        }
        if let Some(items) = self.pg_upmap_items.get(&pg) {
            for &(from, to) in items {
                if raw.contains(&to) {
                    continue;
                }
                if let Some(pos) = raw.iter().position(|&o| o == from) {
                    if !self.is_marked_out(to) {
                        raw[pos] = to;
                    }
                }
            }
        }
    }

    /// pg_temp (down or missing OSDs dropped, or holed for erasure pools) and its primary.
    fn temp_osds(&self, pool: &Pool, pg: PgId) -> (Vec<i32>, i32) {
        let pg = pool.raw_pg_to_pg(pg);
        let mut temp = Vec::new();
        if let Some(list) = self.pg_temp.get(&pg) {
            for &o in list {
                if self.is_up(o) {
                    temp.push(o);
                } else if !pool.can_shift_osds() {
                    temp.push(CRUSH_ITEM_NONE);
                }
            }
        }
        let primary = match self.primary_temp.get(&pg) {
            Some(&p) => p,
            None => pick_primary(&temp),
        };
        (temp, primary)
    }

    /// Lets OSDs with primary affinity below 1.0 decline to be primary for a share of PGs; a
    /// replicated pool then moves the chosen primary to the front.
    fn apply_primary_affinity(&self, pps: u32, pool: &Pool, osds: &mut [i32], primary: &mut i32) {
        let affinity = |o: i32| {
            self.osd(o)
                .map_or(DEFAULT_PRIMARY_AFFINITY, |i| i.primary_affinity)
        };
        if !osds
            .iter()
            .any(|&o| o != CRUSH_ITEM_NONE && affinity(o) != DEFAULT_PRIMARY_AFFINITY)
        {
            return;
        }
        let mut pos = None;
        for (i, &o) in osds.iter().enumerate() {
            if o == CRUSH_ITEM_NONE {
                continue;
            }
            let a = affinity(o);
            if a < DEFAULT_PRIMARY_AFFINITY && (crush_hash32_2(pps, o as u32) >> 16) >= a {
                // Declined; remember it as a fallback in case nobody accepts.
                pos.get_or_insert(i);
            } else {
                pos = Some(i);
                break;
            }
        }
        let Some(pos) = pos else { return };
        *primary = osds[pos];
        if pool.can_shift_osds() && pos > 0 {
            osds[..=pos].rotate_right(1);
        }
    }
}

fn pick_primary(osds: &[i32]) -> i32 {
    osds.iter()
        .copied()
        .find(|&o| o != CRUSH_ITEM_NONE)
        .unwrap_or(-1)
}

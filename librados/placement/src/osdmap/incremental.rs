//! Incrementals: the change that turns epoch N of the OSD map into epoch N+1.
//!
//! Every field is a set of explicit new values (never toggles), so applying an incremental is
//! idempotent in effect and easy to audit; an incremental applies only to the epoch before its own.

use super::{EntityAddr, Fsid, OsdInfo, OsdMap, OsdMapError, PgId, Pool, UTime, MAX_OSD_LIMIT};
use crate::crush::CrushMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// New state of one OSD: each `Some` field is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsdStateChange {
    pub exists: Option<bool>,
    pub up: Option<bool>,
    pub weight: Option<u32>,
    pub primary_affinity: Option<u32>,
    pub addr: Option<String>,
    #[serde(default)]
    pub cluster_addr: Option<String>,
    #[serde(default)]
    pub auto_out: Option<bool>,
}

/// The difference between two consecutive epochs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Incremental {
    /// The epoch this incremental produces.
    pub epoch: u32,
    pub fsid: Fsid,
    pub modified: UTime,
    #[serde(default)]
    pub new_flags: Option<u32>,
    #[serde(default)]
    pub new_crush: Option<CrushMap>,
    #[serde(default)]
    pub new_max_osd: Option<i32>,
    #[serde(default)]
    pub new_pools: BTreeMap<i64, Pool>,
    #[serde(default)]
    pub old_pools: BTreeSet<i64>,
    #[serde(default)]
    pub osd_changes: BTreeMap<i32, OsdStateChange>,
    /// PGs whose newest active interval this epoch records.
    #[serde(default)]
    pub new_pg_active: BTreeMap<PgId, super::PgActive>,
    /// New pg_temp entries; an empty list removes the entry.
    #[serde(default)]
    pub new_pg_temp: BTreeMap<PgId, Vec<i32>>,
    /// New primary_temp entries; `None` removes the entry.
    #[serde(default)]
    pub new_primary_temp: BTreeMap<PgId, Option<i32>>,
    #[serde(default)]
    pub new_pg_upmap: BTreeMap<PgId, Vec<i32>>,
    #[serde(default)]
    pub new_pg_upmap_items: BTreeMap<PgId, Vec<(i32, i32)>>,
    /// Addresses fenced (or fenced again with a new expiry), and until when.
    #[serde(default)]
    pub new_blocklist: BTreeMap<EntityAddr, UTime>,
    /// Addresses no longer fenced.
    #[serde(default)]
    pub old_blocklist: BTreeSet<EntityAddr>,
}

impl Incremental {
    /// An empty incremental on top of `map` (producing `map.epoch() + 1`).
    pub fn next(map: &OsdMap) -> Incremental {
        Incremental {
            epoch: map.epoch.wrapping_add(1),
            fsid: map.fsid,
            modified: UTime::now(),
            ..Incremental::default()
        }
    }

    pub fn osd(&mut self, id: i32) -> &mut OsdStateChange {
        self.osd_changes.entry(id).or_default()
    }
}

impl OsdMap {
    /// Applies `inc` (which must be for `epoch + 1`). On error the map is unchanged.
    pub fn apply_incremental(&mut self, inc: &Incremental) -> Result<(), OsdMapError> {
        if self.epoch == u32::MAX {
            return Err(OsdMapError::Invalid(
                "the map is at the last possible epoch".into(),
            ));
        }
        if inc.epoch != self.epoch.wrapping_add(1) {
            return Err(OsdMapError::EpochMismatch {
                map_epoch: self.epoch,
                inc_epoch: inc.epoch,
            });
        }
        if inc.fsid != self.fsid && self.fsid != Fsid::NIL {
            return Err(OsdMapError::FsidMismatch {
                map: self.fsid.to_string(),
                inc: inc.fsid.to_string(),
            });
        }
        let mut next = self.clone();
        next.apply_unchecked(inc)?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    fn apply_unchecked(&mut self, inc: &Incremental) -> Result<(), OsdMapError> {
        if self.epoch == 0 {
            self.created = inc.modified;
            self.fsid = inc.fsid;
        }
        self.epoch = inc.epoch;
        self.modified = inc.modified;
        if let Some(f) = inc.new_flags {
            self.flags = f;
        }
        if let Some(n) = inc.new_max_osd {
            if !(0..=MAX_OSD_LIMIT).contains(&n) {
                return Err(OsdMapError::Invalid(format!(
                    "new max_osd {n} out of range"
                )));
            }
            self.osds.resize(n as usize, OsdInfo::default());
        }
        if let Some(crush) = &inc.new_crush {
            // crush_version counts the monitor's CRUSH edits; an imported map keeps it.
            self.crush = crush.clone();
        }
        for id in &inc.old_pools {
            if self.pools.contains_key(id) {
                self.remove_pool(*id)?;
            }
        }
        for pool in inc.new_pools.values() {
            let mut pool = pool.clone();
            pool.last_change = inc.epoch;
            self.set_pool(pool)?;
        }
        for (&id, change) in &inc.osd_changes {
            let o = usize::try_from(id)
                .ok()
                .and_then(|i| self.osds.get_mut(i))
                .ok_or(OsdMapError::OsdNotFound { osd: id })?;
            if let Some(e) = change.exists {
                o.exists = e;
                if !e {
                    *o = OsdInfo::default();
                }
            }
            if let Some(up) = change.up {
                if up && !o.up {
                    o.up_from = inc.epoch;
                }
                if !up && o.up {
                    o.down_at = inc.epoch;
                }
                o.up = up && o.exists;
            }
            if let Some(w) = change.weight {
                o.weight = w.min(crate::crush::WEIGHT_IN);
            }
            if let Some(a) = change.auto_out {
                o.auto_out = a;
            }
            if let Some(a) = change.primary_affinity {
                o.primary_affinity = a.min(super::DEFAULT_PRIMARY_AFFINITY);
            }
            if let Some(addr) = &change.addr {
                o.addr = Some(addr.clone());
                o.cluster_addr = change.cluster_addr.clone();
            }
        }
        for (pg, osds) in &inc.new_pg_temp {
            self.set_pg_temp(*pg, osds.clone());
        }
        for (pg, a) in &inc.new_pg_active {
            if self.pools.get(&pg.pool).is_some_and(|p| pg.seed < p.pg_num) {
                self.pg_active.insert(*pg, a.clone());
            }
        }
        for (pg, osd) in &inc.new_primary_temp {
            self.set_primary_temp(*pg, *osd);
        }
        for (pg, osds) in &inc.new_pg_upmap {
            self.set_pg_upmap(*pg, osds.clone());
        }
        for (pg, items) in &inc.new_pg_upmap_items {
            self.set_pg_upmap_items(*pg, items.clone());
        }
        for addr in &inc.old_blocklist {
            self.blocklist.remove(addr);
        }
        self.blocklist
            .extend(inc.new_blocklist.iter().map(|(a, t)| (*a, *t)));
        self.refresh_weights();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_in_order_only() {
        let mut map = OsdMap::new(Fsid::NIL);
        let mut inc = Incremental::next(&map);
        inc.new_max_osd = Some(3);
        inc.osd(1).exists = Some(true);
        inc.osd(1).up = Some(true);
        inc.osd(1).weight = Some(0x10000);
        map.apply_incremental(&inc).unwrap();
        assert_eq!(map.epoch(), 1);
        assert!(map.is_up(1) && map.is_in(1) && !map.exists(0));
        assert_eq!(map.osd(1).unwrap().up_from, 1);

        // The same incremental again is for the wrong epoch.
        let err = map.apply_incremental(&inc).unwrap_err();
        assert!(matches!(
            err,
            OsdMapError::EpochMismatch {
                map_epoch: 1,
                inc_epoch: 1
            }
        ));

        let mut skip = Incremental::next(&map);
        skip.epoch += 1;
        assert!(map.apply_incremental(&skip).is_err());
    }

    #[test]
    fn a_failing_incremental_changes_nothing() {
        let mut map = OsdMap::new(Fsid::NIL);
        let mut inc = Incremental::next(&map);
        inc.new_max_osd = Some(2);
        inc.osd(5).up = Some(true);
        let before = map.clone();
        assert!(matches!(
            map.apply_incremental(&inc),
            Err(OsdMapError::OsdNotFound { osd: 5 })
        ));
        assert_eq!(map, before);
    }

    #[test]
    fn pools_come_and_go() {
        let mut map = OsdMap::new(Fsid::NIL);
        let mut inc = Incremental::next(&map);
        inc.new_pools
            .insert(1, Pool::replicated(1, "rbd", 3, 32, 0));
        map.apply_incremental(&inc).unwrap();
        assert_eq!(map.pool(1).unwrap().last_change, 1);
        let mut inc = Incremental::next(&map);
        inc.old_pools.insert(1);
        map.apply_incremental(&inc).unwrap();
        assert!(map.pools().is_empty());
        assert_eq!(map.pool_max(), 1);
    }

    #[test]
    fn blocklist_entries_come_and_go_with_epochs() {
        let mut map = OsdMap::new(Fsid::NIL);
        map.apply_incremental(&Incremental::next(&map)).unwrap();
        let a: EntityAddr = "10.0.0.1:0/7".parse().unwrap();
        let b: EntityAddr = "10.0.0.1:0/8".parse().unwrap();
        let until = UTime {
            secs: 100,
            nanos: 0,
        };
        let mut inc = Incremental::next(&map);
        inc.new_blocklist.insert(a, until);
        map.apply_incremental(&inc).unwrap();
        assert!(map.is_blocklisted(&a) && !map.is_blocklisted(&b));
        assert_eq!(map.blocklist()[&a], until);

        // A whole-IP entry fences every instance there, and nobody elsewhere.
        let mut inc = Incremental::next(&map);
        inc.new_blocklist.insert(a.whole_ip(), until);
        map.apply_incremental(&inc).unwrap();
        assert!(map.is_blocklisted(&b));
        assert!(!map.is_blocklisted(&"10.0.0.2:0/7".parse().unwrap()));

        let mut inc = Incremental::next(&map);
        inc.old_blocklist.insert(a.whole_ip());
        inc.old_blocklist.insert(a);
        map.apply_incremental(&inc).unwrap();
        assert!(!map.is_blocklisted(&a) && !map.is_blocklisted(&b));
        assert!(map.blocklist().is_empty());
    }
}

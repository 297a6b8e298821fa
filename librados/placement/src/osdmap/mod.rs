//! The OSD map: the cluster's epoch-numbered description of pools, OSDs and CRUSH, and the pure
//! function from an object name to the OSDs that hold it.
//!
//! - [`OsdMap`]: fsid, epoch, pools, per-OSD state (exists, up, reweight, primary affinity),
//!   the CRUSH map, and PG overrides (pg_temp, primary_temp, upmap).
//! - [`Incremental`]: the change from epoch N to N+1; the monitor publishes these.
//! - `mapping.rs`: object → PG → raw OSDs (CRUSH) → up set → acting set and primary.
//! - `encoding.rs`: versioned, self-describing serialisation (serde + MessagePack).
//! - [`tool`]: `osdmaptool`-compatible operations and reports.
//! - [`EntityAddr`]: entity addresses, and the client blocklist the map carries.

mod addr;
mod ceph;
mod encoding;
mod error;
mod fsid;
mod incremental;
mod interval;
mod mapping;
mod pg;
mod pool;
mod time;
pub mod tool;

pub use addr::{AddrParseError, EntityAddr};
pub use ceph::{decode_ceph_osdmap, is_ceph_osdmap};
pub use error::OsdMapError;
pub use fsid::{Fsid, FsidParseError};
pub use incremental::{Incremental, OsdStateChange};
pub use interval::{interval_changed, interval_key, IntervalKey};
pub use mapping::{ObjectLocator, PgMapping};
pub use pg::{cbits, mask_for, stable_mod, PgId, PgIdParseError};
pub use pool::{flags as pool_flags, ObjectHash, Pool, PoolSnap, PoolType};
pub use time::UTime;

use crate::crush::{CrushMap, WEIGHT_IN};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Highest number of OSD slots a map may have.
pub const MAX_OSD_LIMIT: i32 = 1 << 20;
/// Primary affinity meaning "always eligible" (1.0 in 16.16).
pub const DEFAULT_PRIMARY_AFFINITY: u32 = 0x10000;

/// One OSD's state in the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsdInfo {
    /// The id is allocated (an OSD that does not exist is never mapped to).
    pub exists: bool,
    /// The OSD is running and reachable.
    pub up: bool,
    /// Reweight in 16.16: 0 = out, 0x10000 = fully in.
    pub weight: u32,
    /// Share of PGs for which the OSD may act as primary (16.16).
    pub primary_affinity: u32,
    /// Where the OSD listens for clients and monitors (for the distributed deployment), as
    /// an entity address `IP:PORT/NONCE` whose nonce names the OSD's incarnation.
    #[serde(default)]
    pub addr: Option<String>,
    /// Where it listens for other OSDs, when that is a separate address.
    #[serde(default)]
    pub cluster_addr: Option<String>,
    /// The monitor marked it out because it stayed down (it is marked in when it boots).
    #[serde(default)]
    pub auto_out: bool,
    /// Epoch the OSD last came up.
    #[serde(default)]
    pub up_from: u32,
    /// Epoch the OSD last went down.
    #[serde(default)]
    pub down_at: u32,
}

impl Default for OsdInfo {
    fn default() -> Self {
        OsdInfo {
            exists: false,
            up: false,
            weight: 0,
            primary_affinity: DEFAULT_PRIMARY_AFFINITY,
            addr: None,
            cluster_addr: None,
            auto_out: false,
            up_from: 0,
            down_at: 0,
        }
    }
}

/// A PG's newest interval that went active: the epoch it began, and its acting set. Every
/// write acknowledged since is on every member of that set, and any member that activated
/// in it (its `last_epoch_started` is at least `epoch`) holds every write acknowledged
/// before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgActive {
    pub epoch: u32,
    pub acting: Vec<i32>,
}

/// The cluster map of OSDs and pools at one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OsdMap {
    pub(crate) fsid: Fsid,
    pub(crate) epoch: u32,
    pub(crate) created: UTime,
    pub(crate) modified: UTime,
    pub(crate) flags: u32,
    pub(crate) crush: CrushMap,
    pub(crate) crush_version: u32,
    pub(crate) osds: Vec<OsdInfo>,
    pub(crate) pools: BTreeMap<i64, Pool>,
    pub(crate) pool_max: i64,
    #[serde(default)]
    pub(crate) pg_temp: BTreeMap<PgId, Vec<i32>>,
    #[serde(default)]
    pub(crate) primary_temp: BTreeMap<PgId, i32>,
    #[serde(default)]
    pub(crate) pg_upmap: BTreeMap<PgId, Vec<i32>>,
    #[serde(default)]
    pub(crate) pg_upmap_items: BTreeMap<PgId, Vec<(i32, i32)>>,
    /// Fenced client addresses and when the monitor lifts each (it removes an entry in a
    /// new epoch once its time has passed; until then the entry holds).
    #[serde(default)]
    pub(crate) blocklist: BTreeMap<EntityAddr, UTime>,
    /// Per PG, the newest interval that went active (could accept writes): recorded before
    /// its primary activates, so whoever peers later knows whose copies hold every
    /// acknowledged write.
    #[serde(default)]
    pub(crate) pg_active: BTreeMap<PgId, PgActive>,
    /// Reweights as CRUSH consumes them; derived from `osds`.
    #[serde(skip)]
    pub(crate) crush_weights: Vec<u32>,
}

impl OsdMap {
    /// An empty map at epoch 0 (the first incremental makes epoch 1).
    pub fn new(fsid: Fsid) -> OsdMap {
        OsdMap {
            fsid,
            epoch: 0,
            created: UTime::default(),
            modified: UTime::default(),
            flags: 0,
            crush: CrushMap::new(),
            crush_version: 0,
            osds: Vec::new(),
            pools: BTreeMap::new(),
            pool_max: 0,
            pg_temp: BTreeMap::new(),
            pg_active: BTreeMap::new(),
            primary_temp: BTreeMap::new(),
            pg_upmap: BTreeMap::new(),
            pg_upmap_items: BTreeMap::new(),
            blocklist: BTreeMap::new(),
            crush_weights: Vec::new(),
        }
    }

    pub fn fsid(&self) -> Fsid {
        self.fsid
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn created(&self) -> UTime {
        self.created
    }

    pub fn modified(&self) -> UTime {
        self.modified
    }

    pub fn flags(&self) -> u32 {
        self.flags
    }

    pub fn crush(&self) -> &CrushMap {
        &self.crush
    }

    pub fn crush_version(&self) -> u32 {
        self.crush_version
    }

    /// Number of OSD slots (ids `0..max_osd`).
    pub fn max_osd(&self) -> i32 {
        self.osds.len() as i32
    }

    pub fn osd(&self, id: i32) -> Option<&OsdInfo> {
        self.osds.get(usize::try_from(id).ok()?)
    }

    pub fn exists(&self, id: i32) -> bool {
        self.osd(id).is_some_and(|o| o.exists)
    }

    pub fn is_up(&self, id: i32) -> bool {
        self.osd(id).is_some_and(|o| o.exists && o.up)
    }

    /// In = exists with a non-zero reweight.
    pub fn is_in(&self, id: i32) -> bool {
        self.osd(id).is_some_and(|o| o.exists && o.weight != 0)
    }

    pub fn pools(&self) -> &BTreeMap<i64, Pool> {
        &self.pools
    }

    pub fn pool(&self, id: i64) -> Option<&Pool> {
        self.pools.get(&id)
    }

    pub fn pool_by_name(&self, name: &str) -> Option<&Pool> {
        self.pools.values().find(|p| p.name == name)
    }

    /// Highest pool id ever allocated.
    pub fn pool_max(&self) -> i64 {
        self.pool_max
    }

    /// Fenced addresses and when each is lifted.
    pub fn blocklist(&self) -> &BTreeMap<EntityAddr, UTime> {
        &self.blocklist
    }

    /// Whether `addr` is fenced: listed itself, or its whole IP is (an entry with port and
    /// nonce 0). An entry holds until the monitor removes it, whatever the local clock says.
    pub fn is_blocklisted(&self, addr: &EntityAddr) -> bool {
        !self.blocklist.is_empty()
            && (self.blocklist.contains_key(addr) || self.blocklist.contains_key(&addr.whole_ip()))
    }

    /// The newest interval of `pg` that went active, if any did.
    pub fn pg_active(&self, pg: PgId) -> Option<&PgActive> {
        self.pg_active.get(&pg)
    }

    pub fn pg_temp(&self) -> &BTreeMap<PgId, Vec<i32>> {
        &self.pg_temp
    }

    pub fn primary_temp(&self) -> &BTreeMap<PgId, i32> {
        &self.primary_temp
    }

    // ---- direct edits (tools and tests; the monitor goes through incrementals) ----

    pub fn set_epoch(&mut self, epoch: u32) {
        self.epoch = epoch;
    }

    pub fn set_times(&mut self, created: UTime, modified: UTime) {
        self.created = created;
        self.modified = modified;
    }

    /// Resizes the OSD slots; new slots do not exist yet.
    pub fn set_max_osd(&mut self, max_osd: i32) -> Result<(), OsdMapError> {
        if !(0..=MAX_OSD_LIMIT).contains(&max_osd) {
            return Err(OsdMapError::Invalid(format!(
                "max_osd {max_osd} out of range"
            )));
        }
        self.osds.resize(max_osd as usize, OsdInfo::default());
        self.refresh_weights();
        Ok(())
    }

    fn osd_mut(&mut self, id: i32) -> Result<&mut OsdInfo, OsdMapError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.osds.get_mut(i))
            .ok_or(OsdMapError::OsdNotFound { osd: id })
    }

    pub fn set_osd_state(&mut self, id: i32, exists: bool, up: bool) -> Result<(), OsdMapError> {
        let o = self.osd_mut(id)?;
        o.exists = exists;
        o.up = up && exists;
        Ok(())
    }

    /// Sets a reweight (0 = out, 0x10000 = in).
    pub fn set_osd_weight(&mut self, id: i32, weight: u32) -> Result<(), OsdMapError> {
        self.osd_mut(id)?.weight = weight.min(WEIGHT_IN);
        self.refresh_weights();
        Ok(())
    }

    pub fn set_primary_affinity(&mut self, id: i32, affinity: u32) -> Result<(), OsdMapError> {
        self.osd_mut(id)?.primary_affinity = affinity.min(DEFAULT_PRIMARY_AFFINITY);
        Ok(())
    }

    /// Replaces the CRUSH map (it must not name devices beyond `max_osd`).
    pub fn set_crush(&mut self, crush: CrushMap) -> Result<(), OsdMapError> {
        if crush.max_devices() > self.max_osd() {
            return Err(OsdMapError::Invalid(format!(
                "crush map max_devices {} > osdmap max_osd {}",
                crush.max_devices(),
                self.max_osd()
            )));
        }
        self.crush = crush;
        self.crush_version = self.crush_version.wrapping_add(1);
        Ok(())
    }

    /// Mutable access to CRUSH for edits that keep its devices within `max_osd`.
    pub fn crush_mut(&mut self) -> &mut CrushMap {
        &mut self.crush
    }

    /// Adds or replaces a pool.
    pub fn set_pool(&mut self, pool: Pool) -> Result<(), OsdMapError> {
        validate_pool(&pool)?;
        if self
            .pools
            .values()
            .any(|p| p.name == pool.name && p.id != pool.id)
        {
            return Err(OsdMapError::PoolExists { name: pool.name });
        }
        self.pool_max = self.pool_max.max(pool.id);
        self.pools.insert(pool.id, pool);
        Ok(())
    }

    pub fn remove_pool(&mut self, id: i64) -> Result<Pool, OsdMapError> {
        let pool = self.pools.remove(&id).ok_or(OsdMapError::PoolNotFound {
            pool: id.to_string(),
        })?;
        self.pg_temp.retain(|pg, _| pg.pool != id);
        self.pg_active.retain(|pg, _| pg.pool != id);
        self.primary_temp.retain(|pg, _| pg.pool != id);
        self.pg_upmap.retain(|pg, _| pg.pool != id);
        self.pg_upmap_items.retain(|pg, _| pg.pool != id);
        Ok(pool)
    }

    pub fn set_pg_temp(&mut self, pg: PgId, osds: Vec<i32>) {
        if osds.is_empty() {
            self.pg_temp.remove(&pg);
        } else {
            self.pg_temp.insert(pg, osds);
        }
    }

    pub fn set_primary_temp(&mut self, pg: PgId, osd: Option<i32>) {
        match osd {
            Some(o) => self.primary_temp.insert(pg, o),
            None => self.primary_temp.remove(&pg),
        };
    }

    pub fn set_pg_upmap(&mut self, pg: PgId, osds: Vec<i32>) {
        if osds.is_empty() {
            self.pg_upmap.remove(&pg);
        } else {
            self.pg_upmap.insert(pg, osds);
        }
    }

    pub fn set_pg_upmap_items(&mut self, pg: PgId, items: Vec<(i32, i32)>) {
        if items.is_empty() {
            self.pg_upmap_items.remove(&pg);
        } else {
            self.pg_upmap_items.insert(pg, items);
        }
    }

    /// The oldest Ceph client release that can use this map (what `min_compat_client` prints):
    /// from the CRUSH tunables and bucket algorithms, the steps of rules pools use, choose_args
    /// beyond a single default weight set, upmaps and primary affinity.
    pub fn min_compat_client(&self) -> &'static str {
        use crate::crush::{BucketAlg, Step, DEFAULT_CHOOSE_ARGS};
        let crush = &self.crush;
        let t = crush.tunables();
        let pool_rule_uses = |f: &dyn Fn(&Step) -> bool| {
            self.pools.values().any(|p| {
                let rule = usize::try_from(p.crush_rule)
                    .ok()
                    .and_then(|r| crush.rule(r));
                rule.is_some_and(|r| r.steps.iter().any(f))
            })
        };
        let incompat_args = match crush.choose_args().iter().collect::<Vec<_>>().as_slice() {
            [] => false,
            [(index, args)] => {
                **index != DEFAULT_CHOOSE_ARGS
                    || args
                        .iter()
                        .any(|(_, a)| a.weight_set.len() != 1 || !a.ids.is_empty())
            }
            _ => true,
        };
        if incompat_args || !self.pg_upmap.is_empty() || !self.pg_upmap_items.is_empty() {
            return "luminous";
        }
        if t.chooseleaf_stable != 0
            || pool_rule_uses(&|s| matches!(s, Step::SetChooseleafStable(_)))
        {
            return "jewel";
        }
        if crush.buckets().any(|b| b.alg() == BucketAlg::Straw2) {
            return "hammer";
        }
        let affinity = self
            .osds
            .iter()
            .any(|o| o.exists && o.primary_affinity != DEFAULT_PRIMARY_AFFINITY);
        if affinity
            || t.chooseleaf_vary_r != 0
            || pool_rule_uses(&|s| matches!(s, Step::SetChooseleafVaryR(_)))
        {
            return "firefly";
        }
        let hashpspool = self
            .pools
            .values()
            .any(|p| p.flags & pool_flags::HASHPSPOOL != 0);
        if t.chooseleaf_descend_once != 0 || hashpspool {
            return "dumpling";
        }
        // Non-default local/total tries were already understood by argonaut clients.
        "argonaut"
    }

    pub(crate) fn refresh_weights(&mut self) {
        self.crush_weights.clear();
        self.crush_weights
            .extend(self.osds.iter().map(|o| o.weight));
    }

    /// Checks what decoding cannot: sizes within limits and pools that make sense.
    pub(crate) fn validate(&self) -> Result<(), OsdMapError> {
        if self.osds.len() > MAX_OSD_LIMIT as usize {
            return Err(OsdMapError::Invalid(format!(
                "{} OSD slots exceed the limit",
                self.osds.len()
            )));
        }
        if self.crush.max_devices() > self.max_osd() {
            return Err(OsdMapError::Invalid(
                "crush map names devices beyond max_osd".into(),
            ));
        }
        for (id, pool) in &self.pools {
            if *id != pool.id {
                return Err(OsdMapError::Invalid(format!(
                    "pool {} filed under id {id}",
                    pool.id
                )));
            }
            validate_pool(pool)?;
        }
        Ok(())
    }
}

fn validate_pool(pool: &Pool) -> Result<(), OsdMapError> {
    let bad = |m: String| Err(OsdMapError::Invalid(format!("pool '{}': {m}", pool.name)));
    if pool.id < 0 {
        return bad(format!("negative id {}", pool.id));
    }
    if pool.name.is_empty() {
        return bad("empty name".into());
    }
    if pool.size == 0 || pool.min_size == 0 || pool.min_size > pool.size {
        return bad(format!("size {} / min_size {}", pool.size, pool.min_size));
    }
    if pool.pg_num == 0 || pool.pgp_num == 0 {
        return bad(format!("pg_num {} / pgp_num {}", pool.pg_num, pool.pgp_num));
    }
    Ok(())
}

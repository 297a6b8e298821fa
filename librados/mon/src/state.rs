//! The monitor's map logic as a pure state machine.
//!
//! A command is first *proposed*: checked against the current state, it yields the log records
//! that carry it out (and a reply), without changing anything. The driver makes the records
//! durable in the monitor's log and then *applies* them. Replaying the log from the start
//! rebuilds the state exactly; a replicated monitor only has to agree on the log.

use super::MonError;
use crate::crush::{simple, CrushMap, WEIGHT_IN};
use crate::msg::command::{MonCommand, MonReply, PgStat, PoolOption};
use crate::osdmap::{Fsid, Incremental, OsdMap, PgId, Pool, UTime};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Incrementals kept for subscribers that are behind; older ones get a full map.
pub const INCREMENTALS_KEPT: usize = 500;
/// Largest pool size and pg_num a command may ask for.
pub const MAX_POOL_SIZE: u8 = 10;
pub const MAX_PG_NUM: u32 = 65536;

/// One entry of the monitor's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LogRecord {
    /// The first entry: the cluster's initial map.
    Create { map: Box<OsdMap> },
    /// The next map epoch.
    Map(Box<Incremental>),
    /// Client ids below `next` are taken.
    ClientIds { next: u64 },
    /// Everything the records before it made, at once: a log that starts with this instead
    /// of `Create` has been compacted (see [`MonState::checkpoint`]).
    Checkpoint { map: Box<OsdMap>, next_client: u64 },
}

/// Settings that shape new pools and OSDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonConfig {
    pub default_pool_size: u8,
    pub default_pg_num: u32,
}

impl Default for MonConfig {
    fn default() -> Self {
        MonConfig {
            default_pool_size: 3,
            default_pg_num: 32,
        }
    }
}

/// What a proposed command does: records to make durable (in order), then the reply.
#[derive(Debug)]
pub struct Proposal {
    pub records: Vec<LogRecord>,
    pub reply: MonReply,
}

/// The monitor's state: the OSD map, recent incrementals, client ids, and (not logged, since
/// primaries re-report them) the latest PG statistics.
#[derive(Debug)]
pub struct MonState {
    map: OsdMap,
    incrementals: VecDeque<Incremental>,
    next_client: u64,
    pub(crate) pg_stats: BTreeMap<PgId, (i32, PgStat)>,
    /// Each OSD's store usage (total, used, available), as last reported.
    pub(crate) osd_usage: BTreeMap<i32, (u64, u64, u64)>,
    config: MonConfig,
}

impl MonState {
    /// The record that creates a new cluster: no OSDs yet, an empty CRUSH hierarchy with the
    /// default replicated rule over hosts.
    pub fn genesis(fsid: Fsid) -> Result<LogRecord, MonError> {
        let mut map = OsdMap::new(fsid);
        let now = UTime::now();
        map.set_times(now, now);
        map.set_epoch(1);
        map.set_crush(simple::build_hosts(&[], 1)?)?;
        Ok(LogRecord::Create { map: Box::new(map) })
    }

    /// Rebuilds the state from the log, starting with its `Create` (or `Checkpoint`) record.
    pub fn replay<'a>(
        records: impl IntoIterator<Item = &'a LogRecord>,
        config: MonConfig,
    ) -> Result<MonState, MonError> {
        let mut it = records.into_iter();
        let (map, next_client) = match it.next() {
            Some(LogRecord::Create { map }) => (map, 1),
            Some(LogRecord::Checkpoint { map, next_client }) => (map, *next_client),
            _ => {
                return Err(MonError::Corrupt(
                    "the log does not begin with the cluster's creation or a checkpoint".into(),
                ))
            }
        };
        let mut state = MonState {
            map: (**map).clone(),
            incrementals: VecDeque::new(),
            next_client,
            pg_stats: BTreeMap::new(),
            osd_usage: BTreeMap::new(),
            config,
        };
        for r in it {
            state.apply(r)?;
        }
        Ok(state)
    }

    pub fn map(&self) -> &OsdMap {
        &self.map
    }

    /// The one record a compacted log needs to rebuild this state.
    pub fn checkpoint(&self) -> LogRecord {
        LogRecord::Checkpoint {
            map: Box::new(self.map.clone()),
            next_client: self.next_client,
        }
    }

    /// Incrementals after `have`, when all of them are still kept.
    pub fn incrementals_since(&self, have: u32) -> Option<Vec<Incremental>> {
        if have >= self.map.epoch() {
            return Some(Vec::new());
        }
        let first = self.incrementals.front()?.epoch;
        if have + 1 < first {
            return None;
        }
        Some(
            self.incrementals
                .iter()
                .filter(|i| i.epoch > have)
                .cloned()
                .collect(),
        )
    }

    /// Applies a durable record.
    pub fn apply(&mut self, record: &LogRecord) -> Result<(), MonError> {
        match record {
            LogRecord::Create { .. } | LogRecord::Checkpoint { .. } => {
                return Err(MonError::Corrupt(
                    "a creation or checkpoint record after the first".into(),
                ))
            }
            LogRecord::Map(inc) => {
                self.map.apply_incremental(inc)?;
                self.incrementals.push_back((**inc).clone());
                while self.incrementals.len() > INCREMENTALS_KEPT {
                    self.incrementals.pop_front();
                }
            }
            LogRecord::ClientIds { next } => self.next_client = self.next_client.max(*next),
        }
        Ok(())
    }

    /// Checks `cmd` and returns what carrying it out takes. Read-only commands yield no records.
    pub fn propose(&self, cmd: &MonCommand) -> Result<Proposal, MonError> {
        match cmd {
            MonCommand::OsdBoot {
                osd,
                host,
                addr,
                cluster_addr,
            } => self.osd_boot(*osd, host, addr.clone(), cluster_addr.clone()),
            MonCommand::PoolCreate { name, pg_num, size } => self.pool_create(name, *pg_num, *size),
            MonCommand::PoolDelete { name } => {
                let pool = self.pool(name)?;
                let mut inc = self.next_inc();
                inc.old_pools.insert(pool.id);
                Ok(self.changed(inc, format!("pool '{name}' removed")))
            }
            MonCommand::PoolSet { name, var, value } => self.pool_set(name, var, value),
            MonCommand::PoolGet { name, var } => self.pool_get(name, var),
            MonCommand::OsdIn { ids } => self.osd_change(ids, "in", |c| {
                c.weight = Some(WEIGHT_IN);
                c.auto_out = Some(false);
            }),
            MonCommand::OsdOut { ids } => self.osd_change(ids, "out", |c| {
                c.weight = Some(0);
                c.auto_out = Some(false);
            }),
            MonCommand::OsdAutoOut { osd } => self.osd_change(&[*osd], "out", |c| {
                c.weight = Some(0);
                c.auto_out = Some(true);
            }),
            MonCommand::OsdDown { ids } => self.osd_change(ids, "down", |c| c.up = Some(false)),
            MonCommand::OsdReweight { id, weight } => self.osd_reweight(*id, *weight),
            MonCommand::OsdCrushReweight { name, weight } => self.crush_reweight(name, *weight),
            MonCommand::GetCrushMap => Ok(self.read_only(MonReply::CrushMap(
                crate::crush::binary::encode(self.map.crush()),
            ))),
            MonCommand::SetCrushMap { map } => self.set_crush_map(map),
            MonCommand::PoolSnapCreate { pool, snap } => self.pool_snap_create(pool, snap),
            MonCommand::PoolSnapRemove { pool, snap } => self.pool_snap_remove(pool, snap),
            MonCommand::PoolApplicationEnable { pool, app, force } => {
                self.application_enable(pool, app, *force)
            }
            MonCommand::PoolApplicationDisable { pool, app, force } => {
                self.application_disable(pool, app, *force)
            }
            MonCommand::PoolApplicationSet {
                pool,
                app,
                key,
                value,
            } => self.application_set(pool, app, key, value),
            MonCommand::PoolApplicationRemove { pool, app, key } => {
                self.application_remove(pool, app, key)
            }
            MonCommand::SelfManagedSnapCreate { pool } => self.unmanaged_snap(pool, None),
            MonCommand::SelfManagedSnapRemove { pool, snap } => {
                self.unmanaged_snap(pool, Some(*snap))
            }
            MonCommand::AllocClientId => Ok(Proposal {
                records: vec![LogRecord::ClientIds {
                    next: self.next_client + 1,
                }],
                reply: MonReply::ClientId(self.next_client),
            }),
            MonCommand::BlocklistAdd { addr, expire_secs } => {
                self.blocklist_add(addr, *expire_secs)
            }
            MonCommand::BlocklistRemove { addr } => self.blocklist_remove(addr),
            MonCommand::BlocklistList => Ok(self.blocklist_list()),
            MonCommand::BlocklistClear => Ok(self.blocklist_clear()),
            MonCommand::BlocklistExpire => Ok(self.blocklist_expire(UTime::now())),
            MonCommand::Status => Ok(self.read_only(MonReply::Status(super::report::status(self)))),
            MonCommand::PgDump => {
                Ok(self.read_only(MonReply::PgDump(super::report::pg_dump(self))))
            }
            MonCommand::Df => Ok(self.read_only(MonReply::Df(super::report::df(self)))),
            MonCommand::OsdTree => {
                Ok(self.read_only(MonReply::OsdTree(super::report::osd_tree(&self.map))))
            }
            MonCommand::OsdMarkMeDown { osd } => {
                if self.map.is_up(*osd) {
                    self.osd_change(&[*osd], "down", |c| c.up = Some(false))
                } else {
                    Ok(self.read_only(MonReply::Done {
                        epoch: self.map.epoch(),
                        message: format!("osd.{osd} is down already"),
                    }))
                }
            }
            MonCommand::PgActivating {
                pgid,
                interval,
                acting,
            } => self.pg_activating(&[(*pgid, *interval, acting.clone())]),
            MonCommand::PgStats { .. } | MonCommand::OsdFailure { .. } => Err(MonError::Invalid(
                "PG statistics and failure reports are reports, not commands".into(),
            )),
            MonCommand::Log { .. }
            | MonCommand::LogLast { .. }
            | MonCommand::LogSubscribe { .. } => Err(MonError::Invalid(
                "the cluster log is the monitor's, not the map's".into(),
            )),
        }
    }

    /// Records a primary's PG report (volatile state: not logged).
    pub fn note_pg_stats(&mut self, osd: i32, stats: &[PgStat]) {
        for s in stats {
            let newer = self
                .pg_stats
                .get(&s.pgid)
                .is_none_or(|(_, old)| old.epoch <= s.epoch);
            if newer && self.map.pool(s.pgid.pool).is_some() {
                self.pg_stats.insert(s.pgid, (osd, s.clone()));
            }
        }
        let map = &self.map;
        self.pg_stats
            .retain(|pg, _| map.pool(pg.pool).is_some_and(|p| pg.seed < p.pg_num));
    }

    pub(super) fn read_only(&self, reply: MonReply) -> Proposal {
        Proposal {
            records: Vec::new(),
            reply,
        }
    }

    pub(super) fn next_inc(&self) -> Incremental {
        Incremental::next(&self.map)
    }

    /// Records PGs' newest active intervals in one epoch: those whose acting set is still
    /// the map's and whose interval began at or before it (the others' primaries see a
    /// newer map and peer again). Fails only when none is current.
    pub fn pg_activating(&self, entries: &[(PgId, u32, Vec<i32>)]) -> Result<Proposal, MonError> {
        let mut inc = self.next_inc();
        for (pgid, interval, acting) in entries {
            let current = self
                .map
                .pool(pgid.pool)
                .is_some_and(|p| pgid.seed < p.pg_num)
                && *interval <= self.map.epoch()
                && self.map.pg_mapping(*pgid).acting == *acting;
            let known = self
                .map
                .pg_active(*pgid)
                .is_some_and(|a| a.epoch >= *interval);
            if current && !known {
                inc.new_pg_active.insert(
                    *pgid,
                    crate::osdmap::PgActive {
                        epoch: *interval,
                        acting: acting.clone(),
                    },
                );
            }
        }
        if inc.new_pg_active.is_empty() {
            let all_known = entries.iter().all(|(pgid, interval, _)| {
                self.map
                    .pg_active(*pgid)
                    .is_some_and(|a| a.epoch >= *interval)
            });
            if all_known {
                return Ok(self.unchanged(String::new()));
            }
            return Err(MonError::Invalid(
                "the map has moved on: the PG's acting set is no longer that".into(),
            ));
        }
        Ok(self.changed(inc, String::new()))
    }

    pub(super) fn changed(&self, inc: Incremental, message: String) -> Proposal {
        let epoch = inc.epoch;
        Proposal {
            records: vec![LogRecord::Map(Box::new(inc))],
            reply: MonReply::Done { epoch, message },
        }
    }

    /// A command that succeeds without changing the map (Ceph answers these with success).
    pub(super) fn unchanged(&self, message: String) -> Proposal {
        self.read_only(MonReply::Done {
            epoch: self.map.epoch(),
            message,
        })
    }

    pub(super) fn pool(&self, name: &str) -> Result<&Pool, MonError> {
        self.map
            .pool_by_name(name)
            .ok_or_else(|| MonError::PoolNotFound {
                name: name.to_string(),
            })
    }

    fn osd_boot(
        &self,
        osd: i32,
        host: &str,
        addr: Option<String>,
        cluster_addr: Option<String>,
    ) -> Result<Proposal, MonError> {
        if !(0..crate::osdmap::MAX_OSD_LIMIT).contains(&osd) {
            return Err(MonError::Invalid(format!("osd id {osd} out of range")));
        }
        if let Some(a) = addr.iter().chain(cluster_addr.iter()).next() {
            a.parse::<crate::osdmap::EntityAddr>()
                .map_err(|e| MonError::Invalid(e.to_string()))?;
        }
        let mut records = Vec::new();
        let mut map = self.map.clone();
        let current = map.osd(osd).filter(|i| i.up).map(|i| i.addr.clone());
        if addr.is_some() && current == Some(addr.clone()) {
            // The same incarnation announcing itself again (its monitor session was reset).
            return Ok(Proposal {
                records,
                reply: MonReply::Done {
                    epoch: map.epoch(),
                    message: format!("osd.{osd} is up already"),
                },
            });
        }
        if map.is_up(osd) {
            // A restarted OSD starts a new interval: down, then up again.
            let mut down = Incremental::next(&map);
            down.osd(osd).up = Some(false);
            map.apply_incremental(&down)?;
            records.push(LogRecord::Map(Box::new(down)));
        }
        let mut inc = Incremental::next(&map);
        if osd >= map.max_osd() {
            inc.new_max_osd = Some(osd + 1);
        }
        let known = map.exists(osd);
        if map.crush().item_name(osd).is_none() {
            let mut crush: CrushMap = map.crush().clone();
            let loc: BTreeMap<String, String> = [("host", host), ("root", "default")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            crush.insert_item(osd, WEIGHT_IN, &format!("osd.{osd}"), &loc)?;
            inc.new_crush = Some(crush);
        }
        let change = inc.osd(osd);
        change.exists = Some(true);
        change.up = Some(true);
        change.addr = addr;
        change.cluster_addr = cluster_addr;
        let auto_out = map.osd(osd).is_some_and(|i| i.auto_out);
        if !known || auto_out {
            // New, or marked out by the monitor for staying down: in.
            change.weight = Some(WEIGHT_IN);
            change.auto_out = Some(false);
        }
        let epoch = inc.epoch;
        records.push(LogRecord::Map(Box::new(inc)));
        Ok(Proposal {
            records,
            reply: MonReply::Done {
                epoch,
                message: format!("osd.{osd} booted"),
            },
        })
    }

    fn pool_create(
        &self,
        name: &str,
        pg_num: Option<u32>,
        size: Option<u8>,
    ) -> Result<Proposal, MonError> {
        if name.is_empty() || name.len() > 256 || name.contains('\0') {
            return Err(MonError::Invalid(format!("invalid pool name '{name}'")));
        }
        if self.map.pool_by_name(name).is_some() {
            return Err(MonError::PoolExists {
                name: name.to_string(),
            });
        }
        let pg_num = pg_num.unwrap_or(self.config.default_pg_num);
        if !(1..=MAX_PG_NUM).contains(&pg_num) {
            return Err(MonError::Invalid(format!(
                "pg_num {pg_num} must be between 1 and {MAX_PG_NUM}"
            )));
        }
        let size = size.unwrap_or(self.config.default_pool_size);
        if !(1..=MAX_POOL_SIZE).contains(&size) {
            return Err(MonError::Invalid(format!(
                "pool size {size} must be between 1 and {MAX_POOL_SIZE}"
            )));
        }
        let id = self.map.pool_max() + 1;
        let pool = Pool::replicated(id, name, size, pg_num, 0);
        self.check_can_activate(&pool)?;
        let mut inc = self.next_inc();
        inc.new_pools.insert(id, pool);
        Ok(self.changed(inc, format!("pool '{name}' created")))
    }

    /// Refuses a pool whose PGs could never become active: a `min_size` above the number of
    /// OSDs the cluster has. Ceph accepts such a pool and leaves its PGs `undersized+peered`
    /// for ever, so every client op waits out its timeout; here the command fails at once.
    /// (OSDs that are down or out still count: that is a passing state.)
    fn check_can_activate(&self, pool: &Pool) -> Result<(), MonError> {
        let osds = (0..self.map.max_osd())
            .filter(|&o| self.map.exists(o))
            .count();
        if usize::from(pool.min_size) > osds {
            return Err(MonError::Invalid(format!(
                "pool '{}' could never become active: with size {} it needs {} OSDs up \
                 (min_size) and the cluster has {osds}; choose a smaller size",
                pool.name, pool.size, pool.min_size
            )));
        }
        Ok(())
    }

    /// A pool changed by a snapshot command, in the next epoch, with the snap id the reply
    /// carries.
    fn snap_changed(&self, mut pool: Pool, id: u64) -> Proposal {
        let mut inc = self.next_inc();
        pool.snap_epoch = inc.epoch;
        pool.last_change = inc.epoch;
        let epoch = inc.epoch;
        inc.new_pools.insert(pool.id, pool);
        Proposal {
            records: vec![LogRecord::Map(Box::new(inc))],
            reply: MonReply::Snap { id, epoch },
        }
    }

    fn pool_snap_create(&self, pool: &str, snap: &str) -> Result<Proposal, MonError> {
        use crate::osdmap::pool_flags as flags;
        let mut p = self.pool(pool)?.clone();
        if snap.is_empty() || snap.len() > 256 || snap.contains('\0') {
            return Err(MonError::Invalid(format!("invalid snapshot name '{snap}'")));
        }
        if p.flags & flags::SELFMANAGED_SNAPS != 0 {
            return Err(MonError::Invalid(format!(
                "pool '{pool}' uses self-managed snapshots; pool snapshots cannot be mixed in"
            )));
        }
        if p.snaps.values().any(|s| s.name == snap) {
            return Err(MonError::Exists(format!(
                "pool '{pool}' snapshot '{snap}' already exists"
            )));
        }
        p.snap_seq += 1;
        let id = p.snap_seq;
        p.snaps.insert(
            id,
            crate::osdmap::PoolSnap {
                id,
                name: snap.to_string(),
                created: UTime::now(),
            },
        );
        p.flags |= flags::POOL_SNAPS;
        Ok(self.snap_changed(p, id))
    }

    fn pool_snap_remove(&self, pool: &str, snap: &str) -> Result<Proposal, MonError> {
        let mut p = self.pool(pool)?.clone();
        let id = p
            .snaps
            .values()
            .find(|s| s.name == snap)
            .map(|s| s.id)
            .ok_or_else(|| MonError::NotFound(format!("pool '{pool}' has no snapshot '{snap}'")))?;
        p.snaps.remove(&id);
        p.snap_seq += 1;
        p.removed_snaps.push(id);
        Ok(self.snap_changed(p, id))
    }

    /// Allocates a self-managed snap id (`remove` None) or marks one removed.
    fn unmanaged_snap(&self, pool: &str, remove: Option<u64>) -> Result<Proposal, MonError> {
        use crate::osdmap::pool_flags as flags;
        let mut p = self.pool(pool)?.clone();
        if p.flags & flags::POOL_SNAPS != 0 {
            return Err(MonError::Invalid(format!(
                "pool '{pool}' uses pool snapshots; self-managed snapshots cannot be mixed in"
            )));
        }
        p.flags |= flags::SELFMANAGED_SNAPS;
        let Some(id) = remove else {
            p.snap_seq += 1;
            let id = p.snap_seq;
            return Ok(self.snap_changed(p, id));
        };
        if id == 0 || id > p.snap_seq {
            return Err(MonError::NotFound(format!(
                "pool '{pool}' has no snap {id}"
            )));
        }
        if p.removed_snaps.contains(&id) {
            // Already removed: nothing changes.
            return Ok(self.read_only(MonReply::Snap {
                id,
                epoch: self.map.epoch(),
            }));
        }
        p.snap_seq += 1;
        p.removed_snaps.push(id);
        Ok(self.snap_changed(p, id))
    }

    fn pool_set(&self, name: &str, var: &str, value: &str) -> Result<Proposal, MonError> {
        let mut pool = self.pool(name)?.clone();
        let num = |v: &str| -> Result<u64, MonError> {
            v.parse::<u64>()
                .map_err(|_| MonError::Invalid(format!("value '{v}' for {var} is not a number")))
        };
        match var {
            "size" => {
                let size = num(value)?;
                if !(1..=u64::from(MAX_POOL_SIZE)).contains(&size) {
                    return Err(MonError::Invalid(format!(
                        "pool size must be between 1 and {MAX_POOL_SIZE}"
                    )));
                }
                pool.size = size as u8;
                pool.min_size = pool.min_size.min(pool.size).max(1);
            }
            "min_size" => {
                let min = num(value)?;
                if min < 1 || min > u64::from(pool.size) {
                    return Err(MonError::Invalid(format!(
                        "pool min_size must be between 1 and size({})",
                        pool.size
                    )));
                }
                pool.min_size = min as u8;
            }
            "crush_rule" => {
                let rule = self
                    .map
                    .crush()
                    .rule_id(value)
                    .or_else(|| value.parse::<usize>().ok().filter(|r| self.map.crush().rule(*r).is_some()))
                    .ok_or_else(|| MonError::NotFound(format!("crush rule {value} does not exist")))?;
                pool.crush_rule = i32::try_from(rule)
                    .map_err(|_| MonError::Invalid(format!("crush rule {rule} out of range")))?;
            }
            "pg_num" | "pgp_num" => {
                let n = num(value)?;
                let current = if var == "pg_num" { pool.pg_num } else { pool.pgp_num };
                if n != u64::from(current) {
                    return Err(MonError::Unsupported(format!(
                        "changing {var} (PG split and merge) is not supported yet"
                    )));
                }
            }
            _ => {
                return Err(MonError::Invalid(format!(
                    "unrecognized variable '{var}' (settable: size, min_size, crush_rule, pg_num, pgp_num)"
                )))
            }
        }
        self.check_can_activate(&pool)?;
        let mut inc = self.next_inc();
        inc.new_pools.insert(pool.id, pool);
        Ok(self.changed(inc, format!("set pool {name} {var} to {value}")))
    }

    fn pool_get(&self, name: &str, var: &str) -> Result<Proposal, MonError> {
        let pool = self.pool(name)?;
        let value = match var {
            "size" => pool.size.to_string(),
            "min_size" => pool.min_size.to_string(),
            "pg_num" => pool.pg_num.to_string(),
            "pgp_num" => pool.pgp_num.to_string(),
            "crush_rule" => self
                .map
                .crush()
                .rule_name(usize::try_from(pool.crush_rule).unwrap_or(usize::MAX))
                .map(str::to_string)
                .unwrap_or_else(|| pool.crush_rule.to_string()),
            _ => {
                return Err(MonError::Invalid(format!(
                    "unrecognized variable '{var}' (readable: size, min_size, pg_num, pgp_num, crush_rule)"
                )))
            }
        };
        Ok(self.read_only(MonReply::PoolOption(PoolOption {
            pool: name.to_string(),
            var: var.to_string(),
            value,
        })))
    }

    fn osd_reweight(&self, id: i32, weight: f64) -> Result<Proposal, MonError> {
        if !self.map.exists(id) {
            return Err(MonError::OsdNotFound { osd: id });
        }
        if !(0.0..=1.0).contains(&weight) {
            return Err(MonError::Invalid(format!(
                "weight {weight} must be in the range [0.0, 1.0]"
            )));
        }
        let fixed = (weight * f64::from(WEIGHT_IN)).round() as u32;
        let mut inc = self.next_inc();
        inc.osd(id).weight = Some(fixed);
        Ok(self.changed(inc, format!("reweighted osd.{id} to {weight} ({fixed:x})")))
    }

    fn crush_reweight(&self, name: &str, weight: f64) -> Result<Proposal, MonError> {
        let mut crush = self.map.crush().clone();
        let item = crush.item_id(name).ok_or_else(|| {
            MonError::NotFound(format!("device '{name}' does not appear in the crush map"))
        })?;
        if item < 0 {
            return Err(MonError::Invalid(format!(
                "{name} is a bucket; reweight its devices"
            )));
        }
        let fixed = crate::crush::weight_to_fixed(weight as f32)?;
        crush.adjust_item_weight(item, fixed)?;
        let mut inc = self.next_inc();
        inc.new_crush = Some(crush);
        Ok(self.changed(
            inc,
            format!("reweighted item id {item} name '{name}' to {weight} in crush map"),
        ))
    }

    fn set_crush_map(&self, bytes: &[u8]) -> Result<Proposal, MonError> {
        let crush = if crate::crush::binary::is_binary(bytes) {
            crate::crush::binary::decode(bytes)?
        } else {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                MonError::Invalid("the CRUSH map is neither binary nor text".into())
            })?;
            crate::crush::compile(text)?
        };
        for pool in self.map.pools().values() {
            let rule = usize::try_from(pool.crush_rule)
                .ok()
                .and_then(|r| crush.rule(r));
            if rule.is_none() {
                return Err(MonError::Invalid(format!(
                    "pool '{}' uses crush rule {} which the new map lacks",
                    pool.name, pool.crush_rule
                )));
            }
        }
        let mut next = self.map.clone();
        next.set_crush(crush.clone())?;
        let mut inc = self.next_inc();
        inc.new_crush = Some(crush);
        Ok(self.changed(inc, "set crush map".to_string()))
    }

    fn osd_change(
        &self,
        ids: &[i32],
        what: &str,
        f: impl Fn(&mut crate::osdmap::OsdStateChange),
    ) -> Result<Proposal, MonError> {
        if ids.is_empty() {
            return Err(MonError::Invalid("no OSD ids given".into()));
        }
        let mut inc = self.next_inc();
        for &id in ids {
            if !self.map.exists(id) {
                return Err(MonError::OsdNotFound { osd: id });
            }
            f(inc.osd(id));
        }
        let names: Vec<String> = ids.iter().map(|i| format!("osd.{i}")).collect();
        let message = format!("marked {what} {}. ", names.join(", "));
        Ok(self.changed(inc, message))
    }
}

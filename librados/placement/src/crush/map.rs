//! The CRUSH map: devices, types, buckets, rules, device classes and choose_args.
//!
//! The layout mirrors Ceph's (bucket slots indexed by `-1 - id`, rule slots by id, the same growth of
//! those arrays), so that a map compiled here encodes to the same bytes as `crushtool -c` and a map
//! decoded from Ceph round-trips unchanged.

use super::bucket::Bucket;
use super::error::CrushError;
use super::rule::{Rule, Step};
use super::tunables::Tunables;
use std::collections::{BTreeMap, BTreeSet};

/// "No item": a hole in an `indep` result (`CRUSH_ITEM_NONE`).
pub const CRUSH_ITEM_NONE: i32 = 0x7fff_ffff;
/// Most rules a map can hold (rule ids are one byte on the wire).
pub const MAX_RULES: usize = 256;
/// Most bucket slots a map can have (bucket ids -1 to -65536).
pub const MAX_BUCKETS: usize = 1 << 16;
/// Most devices a map can have (device ids 0 to 2^20 - 1).
pub const MAX_DEVICES: i32 = 1 << 20;
/// Most retries any tunable or rule step may ask for: real maps use 19 to a few hundred, and an
/// absurd count would turn one mapping into minutes of work.
pub const MAX_TRIES: u32 = 1000;
/// Largest replica count a choose step may name (real rules use a handful; a huge count would
/// make every mapping loop that many times when placements fail).
pub const MAX_CHOOSE_COUNT: i32 = 1024;
/// Deepest bucket hierarchy accepted (real ones have a dozen levels at most).
pub const MAX_DEPTH: u32 = 64;
/// The choose_args set used when none exists for the requested index.
pub const DEFAULT_CHOOSE_ARGS: i64 = -1;

/// Per-bucket alternative weights (one vector per result position) and/or ids fed to straw2's
/// hash instead of the real item ids. Used to rebalance without changing the hierarchy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChooseArg {
    pub ids: Vec<i32>,
    pub weight_set: Vec<Vec<u32>>,
}

impl ChooseArg {
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.weight_set.is_empty()
    }
}

/// One choose_args set: the [`ChooseArg`]s of the buckets that have one, by bucket slot
/// (`-1 - bucket id`). Stored sparsely, so a set costs memory for what it holds only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChooseArgMap {
    /// `(slot, arg)` sorted by slot, every arg non-empty.
    entries: Vec<(usize, ChooseArg)>,
}

impl ChooseArgMap {
    /// The argument for the bucket with this id, if any.
    pub fn get(&self, bucket_id: i32) -> Option<&ChooseArg> {
        self.slot(slot_of(bucket_id)?)
    }

    /// Entries as `(bucket id, arg)`, by slot order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &ChooseArg)> {
        self.entries.iter().map(|(pos, a)| (-1 - *pos as i32, a))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn slot(&self, pos: usize) -> Option<&ChooseArg> {
        let i = self.entries.binary_search_by_key(&pos, |(p, _)| *p).ok()?;
        Some(&self.entries[i].1)
    }

    pub(crate) fn get_mut(&mut self, bucket_id: i32) -> Option<&mut ChooseArg> {
        let pos = slot_of(bucket_id)?;
        let i = self.entries.binary_search_by_key(&pos, |(p, _)| *p).ok()?;
        Some(&mut self.entries[i].1)
    }

    /// Sets (or, with an empty arg, removes) the argument of a bucket.
    pub(crate) fn set(&mut self, bucket_id: i32, arg: ChooseArg) {
        let Some(pos) = slot_of(bucket_id).filter(|&p| p < MAX_BUCKETS) else {
            return;
        };
        match self.entries.binary_search_by_key(&pos, |(p, _)| *p) {
            Ok(i) if arg.is_empty() => {
                self.entries.remove(i);
            }
            Ok(i) => self.entries[i].1 = arg,
            Err(_) if arg.is_empty() => {}
            Err(i) => self.entries.insert(i, (pos, arg)),
        }
    }

    /// Keeps the entries for which `keep(bucket id, arg)` holds (and may change them).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(i32, &mut ChooseArg) -> bool) {
        self.entries
            .retain_mut(|(pos, a)| keep(-1 - *pos as i32, a) && !a.is_empty());
    }
}

/// A CRUSH map.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CrushMap {
    pub(crate) tunables: Tunables,
    /// Slot `i` holds the bucket with id `-1 - i`; the length is Ceph's `max_buckets`.
    pub(crate) buckets: Vec<Option<Bucket>>,
    /// Slot `i` holds rule `i`; the length is Ceph's `max_rules`.
    pub(crate) rules: Vec<Option<Rule>>,
    pub(crate) max_devices: i32,
    pub(crate) type_names: BTreeMap<i32, String>,
    /// Names of devices and buckets.
    pub(crate) names: BTreeMap<i32, String>,
    pub(crate) rule_names: BTreeMap<i32, String>,
    /// Device class of each item (devices and shadow buckets).
    pub(crate) class_map: BTreeMap<i32, i32>,
    pub(crate) class_names: BTreeMap<i32, String>,
    /// Original bucket → class → its shadow bucket.
    pub(crate) class_bucket: BTreeMap<i32, BTreeMap<i32, i32>>,
    pub(crate) choose_args: BTreeMap<i64, ChooseArgMap>,
}

pub(crate) fn slot_of(bucket_id: i32) -> Option<usize> {
    usize::try_from(-1 - i64::from(bucket_id)).ok()
}

impl CrushMap {
    /// An empty map with legacy tunables, as `crushtool -c` starts from.
    pub fn new() -> CrushMap {
        CrushMap::default()
    }

    pub fn tunables(&self) -> &Tunables {
        &self.tunables
    }

    /// Tunables can be changed freely: they are inputs to the mapper, nothing derives from them
    /// except straw (v1) lengths, which are computed when buckets are built.
    pub fn tunables_mut(&mut self) -> &mut Tunables {
        &mut self.tunables
    }

    /// One more than the highest device id.
    pub fn max_devices(&self) -> i32 {
        self.max_devices
    }

    /// Number of bucket slots (Ceph's `max_buckets`).
    pub fn max_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Number of rule slots (Ceph's `max_rules`).
    pub fn max_rules(&self) -> usize {
        self.rules.len()
    }

    pub fn bucket(&self, id: i32) -> Option<&Bucket> {
        self.buckets.get(slot_of(id)?)?.as_ref()
    }

    pub(crate) fn bucket_mut(&mut self, id: i32) -> Option<&mut Bucket> {
        self.buckets.get_mut(slot_of(id)?)?.as_mut()
    }

    /// Buckets in slot order (id -1, -2, ...).
    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter().flatten()
    }

    pub fn rule(&self, id: usize) -> Option<&Rule> {
        self.rules.get(id)?.as_ref()
    }

    /// `(id, rule)` in id order.
    pub fn rules(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().map(|r| (i, r)))
    }

    pub fn rule_name(&self, id: usize) -> Option<&str> {
        self.rule_names
            .get(&i32::try_from(id).ok()?)
            .map(String::as_str)
    }

    pub fn rule_id(&self, name: &str) -> Option<usize> {
        self.rule_names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(&id, _)| id as usize)
    }

    /// Name of a device or bucket.
    pub fn item_name(&self, id: i32) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }

    /// Id of the device or bucket with this name.
    pub fn item_id(&self, name: &str) -> Option<i32> {
        self.names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(&id, _)| id)
    }

    pub fn type_name(&self, type_id: i32) -> Option<&str> {
        self.type_names.get(&type_id).map(String::as_str)
    }

    pub fn type_id(&self, name: &str) -> Option<i32> {
        self.type_names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(&id, _)| id)
    }

    /// `(type id, name)` in id order.
    pub fn types(&self) -> impl Iterator<Item = (i32, &str)> {
        self.type_names.iter().map(|(&id, n)| (id, n.as_str()))
    }

    /// Named devices `(id, name)` in id order.
    pub fn devices(&self) -> impl Iterator<Item = (i32, &str)> {
        self.names.range(0..).map(|(&id, n)| (id, n.as_str()))
    }

    /// The device class of a device or shadow bucket.
    pub fn item_class(&self, item: i32) -> Option<&str> {
        self.class_names
            .get(self.class_map.get(&item)?)
            .map(String::as_str)
    }

    pub fn class_id(&self, name: &str) -> Option<i32> {
        self.class_names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(&id, _)| id)
    }

    pub fn class_name(&self, class_id: i32) -> Option<&str> {
        self.class_names.get(&class_id).map(String::as_str)
    }

    /// `(class id, name)` in id order.
    pub fn classes(&self) -> impl Iterator<Item = (i32, &str)> {
        self.class_names.iter().map(|(&id, n)| (id, n.as_str()))
    }

    /// The shadow bucket holding only devices of `class_id` under `bucket`.
    pub fn shadow_bucket(&self, bucket: i32, class_id: i32) -> Option<i32> {
        self.class_bucket.get(&bucket)?.get(&class_id).copied()
    }

    /// `class id → shadow id` for one original bucket.
    pub fn shadows_of(&self, bucket: i32) -> impl Iterator<Item = (i32, i32)> + '_ {
        self.class_bucket
            .get(&bucket)
            .into_iter()
            .flatten()
            .map(|(&c, &s)| (c, s))
    }

    /// Shadow buckets are the per-class copies the map maintains (`host1~ssd`).
    pub fn is_shadow(&self, id: i32) -> bool {
        id < 0 && self.item_name(id).is_some_and(|n| n.contains('~'))
    }

    /// The original bucket a shadow bucket copies, with its class.
    pub fn shadow_origin(&self, shadow: i32) -> Option<(i32, i32)> {
        self.class_bucket.iter().find_map(|(&orig, m)| {
            m.iter()
                .find(|(_, &s)| s == shadow)
                .map(|(&c, _)| (orig, c))
        })
    }

    /// choose_args sets by index (a pool id, or [`DEFAULT_CHOOSE_ARGS`]).
    pub fn choose_args(&self) -> &BTreeMap<i64, ChooseArgMap> {
        &self.choose_args
    }

    /// The choose_args a placement for `index` uses: its own set, else the default set, else none.
    pub fn choose_args_for(&self, index: i64) -> Option<&ChooseArgMap> {
        self.choose_args
            .get(&index)
            .or_else(|| self.choose_args.get(&DEFAULT_CHOOSE_ARGS))
    }

    pub fn item_exists(&self, id: i32) -> bool {
        if id >= 0 {
            id < self.max_devices || self.names.contains_key(&id)
        } else {
            self.bucket(id).is_some()
        }
    }

    /// Whether a device is placed in some bucket (unplaced devices get no weight in tests).
    pub fn is_device_placed(&self, device: i32) -> bool {
        self.buckets().any(|b| b.items.contains(&device))
    }

    /// Buckets that contain `item`.
    pub fn parents_of(&self, item: i32) -> Vec<i32> {
        self.buckets()
            .filter(|b| b.items.contains(&item))
            .map(|b| b.id)
            .collect()
    }

    /// Buckets no other bucket contains, in id order (most negative first).
    pub fn roots(&self) -> BTreeSet<i32> {
        let contained: BTreeSet<i32> = self
            .buckets()
            .flat_map(|b| b.items.iter().copied())
            .collect();
        self.buckets()
            .map(|b| b.id)
            .filter(|id| !contained.contains(id))
            .collect()
    }

    /// Roots that are not shadow buckets.
    pub fn nonshadow_roots(&self) -> BTreeSet<i32> {
        self.roots()
            .into_iter()
            .filter(|&id| !self.is_shadow(id))
            .collect()
    }

    /// The first free bucket id, counting down from -1.
    pub fn next_bucket_id(&self) -> i32 {
        let free = self
            .buckets
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.buckets.len());
        -1 - free as i32
    }

    /// Stores a bucket at its id's slot, growing the slot array as Ceph does (8, then doubling).
    pub(crate) fn insert_bucket(&mut self, bucket: Bucket) -> Result<i32, CrushError> {
        let id = bucket.id;
        let pos = slot_of(id).filter(|&p| p < MAX_BUCKETS).ok_or_else(|| {
            CrushError::Invalid(format!("bucket id {id} is outside -1..-{MAX_BUCKETS}"))
        })?;
        while pos >= self.buckets.len() {
            let grown = if self.buckets.is_empty() {
                8
            } else {
                self.buckets.len() * 2
            };
            self.buckets.resize(grown, None);
        }
        if self.buckets[pos].is_some() {
            return Err(CrushError::Exists {
                kind: "bucket id",
                name: id.to_string(),
            });
        }
        self.buckets[pos] = Some(bucket);
        Ok(id)
    }

    /// Stores a rule at `id` (or the first free slot), growing the slot array to fit exactly.
    pub(crate) fn insert_rule(
        &mut self,
        id: Option<usize>,
        rule: Rule,
    ) -> Result<usize, CrushError> {
        let id = match id {
            Some(id) => id,
            None => self
                .rules
                .iter()
                .position(Option::is_none)
                .unwrap_or(self.rules.len()),
        };
        if id >= MAX_RULES {
            return Err(CrushError::Invalid(format!(
                "rule id {id} is above the maximum {}",
                MAX_RULES - 1
            )));
        }
        if self.rules.len() <= id {
            self.rules.resize(id + 1, None);
        }
        if self.rules[id].is_some() {
            return Err(CrushError::Exists {
                kind: "rule id",
                name: id.to_string(),
            });
        }
        self.rules[id] = Some(rule);
        Ok(id)
    }

    /// Takes a rule out; trailing empty slots stay (as in Ceph).
    pub(crate) fn take_rule(&mut self, id: usize) -> Option<Rule> {
        self.rules.get_mut(id)?.take()
    }

    /// Class id for `name`, allocating the next one if new.
    pub(crate) fn class_id_or_create(&mut self, name: &str) -> i32 {
        if let Some(id) = self.class_id(name) {
            return id;
        }
        let id = self
            .class_names
            .keys()
            .next_back()
            .map_or(0, |&last| last + 1);
        self.class_names.insert(id, name.to_string());
        id
    }

    /// Recomputes `max_devices` as Ceph does after compiling or decoding: one more than the
    /// highest device that a bucket holds or that has a name.
    pub(crate) fn finalize(&mut self) {
        let in_buckets = self
            .buckets()
            .flat_map(|b| b.items.iter().copied())
            .filter(|&i| i >= 0)
            .max();
        let named = self.names.range(0..).next_back().map(|(&id, _)| id);
        // Saturating: an absurd id must fail validation, not overflow here.
        self.max_devices = in_buckets.max(named).map_or(0, |h| h.saturating_add(1));
    }

    /// Checks every invariant the mapper and the encoders rely on: bucket shapes, references to
    /// existing items, an acyclic hierarchy, choose_args sized to their buckets.
    pub fn validate(&self) -> Result<(), CrushError> {
        if !(0..=MAX_DEVICES).contains(&self.max_devices) || self.buckets.len() > MAX_BUCKETS {
            return Err(CrushError::Invalid(format!(
                "{} devices and {} bucket slots exceed the limits ({MAX_DEVICES}, {MAX_BUCKETS})",
                self.max_devices,
                self.buckets.len()
            )));
        }
        for (pos, slot) in self.buckets.iter().enumerate() {
            let Some(b) = slot else { continue };
            if slot_of(b.id) != Some(pos) {
                return Err(CrushError::Invalid(format!(
                    "bucket {} stored in slot {pos}",
                    b.id
                )));
            }
            b.check_shape()?;
            for &item in &b.items {
                if item >= 0 && item >= self.max_devices {
                    return Err(CrushError::Invalid(format!(
                        "bucket {} holds device {item} beyond max_devices {}",
                        b.id, self.max_devices
                    )));
                }
                if item < 0 && self.bucket(item).is_none() {
                    return Err(CrushError::Invalid(format!(
                        "bucket {} holds missing bucket {item}",
                        b.id
                    )));
                }
            }
        }
        self.check_acyclic()?;
        self.check_tries()?;
        for (index, args) in &self.choose_args {
            for (id, arg) in args.iter() {
                let Some(b) = self.bucket(id) else {
                    return Err(CrushError::Invalid(format!(
                        "choose_args {index} names missing bucket {id}"
                    )));
                };
                let sized = |n: usize| n == b.size();
                if !arg.ids.is_empty() && !sized(arg.ids.len()) {
                    return Err(CrushError::Invalid(format!(
                        "choose_args {index} bucket {id}: {} ids for {} items",
                        arg.ids.len(),
                        b.size()
                    )));
                }
                if let Some(ws) = arg.weight_set.iter().find(|ws| !sized(ws.len())) {
                    return Err(CrushError::Invalid(format!(
                        "choose_args {index} bucket {id}: weight_set of {} for {} items",
                        ws.len(),
                        b.size()
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_tries(&self) -> Result<(), CrushError> {
        let t = &self.tunables;
        let tunables = [
            ("choose_total_tries", t.choose_total_tries),
            ("choose_local_tries", t.choose_local_tries),
            ("choose_local_fallback_tries", t.choose_local_fallback_tries),
        ];
        if let Some((name, v)) = tunables.iter().find(|(_, v)| *v > MAX_TRIES) {
            return Err(CrushError::Invalid(format!(
                "tunable {name} {v} is above the limit {MAX_TRIES}"
            )));
        }
        for (id, rule) in self.rules() {
            for step in &rule.steps {
                if let Step::Choose { count, .. } = *step {
                    if !(-MAX_CHOOSE_COUNT..=MAX_CHOOSE_COUNT).contains(&count) {
                        return Err(CrushError::Invalid(format!(
                            "rule {id} chooses {count} items (limit {MAX_CHOOSE_COUNT})"
                        )));
                    }
                }
                let v = match *step {
                    Step::SetChooseTries(v)
                    | Step::SetChooseleafTries(v)
                    | Step::SetChooseLocalTries(v)
                    | Step::SetChooseLocalFallbackTries(v) => v,
                    _ => continue,
                };
                if v > MAX_TRIES as i32 {
                    return Err(CrushError::Invalid(format!(
                        "rule {id} asks for {v} tries (limit {MAX_TRIES})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// No bucket contains itself, and no chain of buckets is deeper than [`MAX_DEPTH`] (so the
    /// recursive walks over the hierarchy are bounded).
    fn check_acyclic(&self) -> Result<(), CrushError> {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; self.buckets.len()];
        let mut depth = vec![0u32; self.buckets.len()];
        for start in self.buckets().map(|b| b.id) {
            let mut stack: Vec<(i32, usize)> = vec![(start, 0)];
            while let Some((id, next)) = stack.pop() {
                let pos = (-1 - id) as usize;
                if next == 0 {
                    if state[pos] == 2 {
                        continue;
                    }
                    state[pos] = 1;
                }
                let items = self.bucket(id).map_or(&[][..], |b| &b.items[..]);
                let child = items[next..]
                    .iter()
                    .position(|&c| c < 0)
                    .map(|k| (next + k, items[next + k]));
                match child {
                    Some((at, c)) => {
                        stack.push((id, at + 1));
                        let cpos = (-1 - c) as usize;
                        if state[cpos] == 1 {
                            return Err(CrushError::Invalid(format!("bucket {c} contains itself")));
                        }
                        if state[cpos] == 0 {
                            stack.push((c, 0));
                        }
                    }
                    None => {
                        state[pos] = 2;
                        let below = items
                            .iter()
                            .filter(|&&c| c < 0)
                            .map(|&c| depth[(-1 - c) as usize])
                            .max()
                            .unwrap_or(0);
                        depth[pos] = below + 1;
                        if depth[pos] > MAX_DEPTH {
                            return Err(CrushError::Invalid(format!(
                                "bucket {id} heads a hierarchy deeper than {MAX_DEPTH} levels"
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The rule a pool with this rule id, type and size uses (Ceph's `find_rule`): the rule with
    /// that id if its type matches and `size` is within its min/max, else any rule whose ruleset,
    /// type and size range match; `None` means the pool maps nowhere.
    pub fn find_rule(&self, ruleset: i32, rule_type: u8, size: usize) -> Option<usize> {
        let fits = |r: &Rule| {
            r.rule_type == rule_type
                && usize::from(r.min_size) <= size
                && usize::from(r.max_size) >= size
        };
        let uniform = self.rules().all(|(id, r)| usize::from(r.ruleset) == id);
        if uniform {
            if let Some(r) = usize::try_from(ruleset).ok().and_then(|id| self.rule(id)) {
                if fits(r) {
                    return usize::try_from(ruleset).ok();
                }
            }
        }
        self.rules()
            .find(|(_, r)| i32::from(r.ruleset) == ruleset && fits(r))
            .map(|(id, _)| id)
    }

    /// Whether some rule step takes this item.
    pub fn is_taken_by_rule(&self, item: i32) -> bool {
        self.rules()
            .any(|(_, r)| r.steps.contains(&Step::Take(item)))
    }
}

//! Editing operations on a CRUSH map, with Ceph's semantics: what the monitor applies for
//! `osd crush add/move/remove/reweight/set-device-class` and `osd crush rule create-simple`.
//!
//! Weights propagate: changing an item's weight changes every bucket that holds it, then those
//! buckets' weights in their parents, up to the roots (and the same for choose_args weight sets).
//! Shadow hierarchies are rebuilt after every structural change.

use super::bucket::{Bucket, BucketAlg, BucketData};
use super::error::CrushError;
use super::map::{ChooseArg, CrushMap};
use super::rule::{ChooseMode, Rule, Step, RULE_TYPE_ERASURE, RULE_TYPE_REPLICATED};
use super::tunables::Tunables;
use std::collections::BTreeMap;

/// A rule of the usual shape: take a root (optionally only its devices of one class), place each
/// replica under a different bucket of the failure-domain type, emit. `indep` makes an erasure
/// rule (with Ceph's retry settings for those), `firstn` a replicated one.
#[derive(Clone, Copy, Debug)]
pub struct SimpleRule<'a> {
    pub name: &'a str,
    pub root: &'a str,
    pub failure_domain: &'a str,
    pub device_class: Option<&'a str>,
    pub mode: ChooseMode,
    /// The rule id, or the first free one.
    pub id: Option<usize>,
}

/// Whether `name` is usable for a device, bucket, type, class or rule.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_name(name: &str) -> Result<(), CrushError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(CrushError::Invalid(format!(
            "invalid name '{name}': use letters, digits, '-', '_' and '.'"
        )))
    }
}

/// 16.16 fixed point from a float weight, as Ceph converts (`(int)(w * 0x10000)`).
pub fn weight_to_fixed(weight: f32) -> Result<u32, CrushError> {
    let fixed = weight * 65536.0f32;
    if !(0.0..=u32::MAX as f32).contains(&fixed) || fixed.is_nan() {
        return Err(CrushError::Invalid(format!(
            "weight {weight} is out of range"
        )));
    }
    Ok(fixed as u32)
}

impl CrushMap {
    /// The algorithm for new buckets: the best one the map's clients allow.
    pub fn default_bucket_alg(&self) -> BucketAlg {
        let allowed = self.tunables.allowed_bucket_algs;
        [
            BucketAlg::Straw2,
            BucketAlg::Straw,
            BucketAlg::Tree,
            BucketAlg::List,
            BucketAlg::Uniform,
        ]
        .into_iter()
        .find(|a| allowed & (1 << *a as u32) != 0)
        .unwrap_or(BucketAlg::Straw2)
    }

    pub fn set_type_name(&mut self, type_id: i32, name: &str) -> Result<(), CrushError> {
        check_name(name)?;
        if !(0..=i32::from(u16::MAX)).contains(&type_id) {
            return Err(CrushError::Invalid(format!(
                "type id {type_id} out of range"
            )));
        }
        self.type_names.insert(type_id, name.to_string());
        Ok(())
    }

    /// Runs an edit all or nothing: on error, or when the result would not validate, the map
    /// is left exactly as it was.
    fn atomically<T>(
        &mut self,
        edit: impl FnOnce(&mut CrushMap) -> Result<T, CrushError>,
    ) -> Result<T, CrushError> {
        let before = self.clone();
        let result = edit(self).and_then(|v| self.validate().map(|()| v));
        if result.is_err() {
            *self = before;
        }
        result
    }

    /// Names a device (without placing it in the hierarchy).
    pub fn add_device(
        &mut self,
        id: i32,
        name: &str,
        class: Option<&str>,
    ) -> Result<(), CrushError> {
        self.atomically(|m| m.add_device_inner(id, name, class))
    }

    pub(crate) fn add_device_inner(
        &mut self,
        id: i32,
        name: &str,
        class: Option<&str>,
    ) -> Result<(), CrushError> {
        check_name(name)?;
        if !(0..super::map::MAX_DEVICES).contains(&id) {
            return Err(CrushError::Invalid(format!("device id {id} out of range")));
        }
        if self.item_id(name).is_some_and(|other| other != id) {
            return Err(CrushError::Exists {
                kind: "item",
                name: name.to_string(),
            });
        }
        self.names.insert(id, name.to_string());
        self.max_devices = self.max_devices.max(id + 1);
        if let Some(class) = class {
            self.set_device_class_inner(id, class)?;
        }
        Ok(())
    }

    /// Sets (or changes) a device's class and rebuilds the shadow hierarchies.
    pub fn set_device_class(&mut self, device: i32, class: &str) -> Result<(), CrushError> {
        self.atomically(|m| m.set_device_class_inner(device, class))
    }

    fn set_device_class_inner(&mut self, device: i32, class: &str) -> Result<(), CrushError> {
        check_name(class)?;
        if device < 0 || !self.names.contains_key(&device) {
            return Err(CrushError::NotFound {
                kind: "device",
                name: device.to_string(),
            });
        }
        let cid = self.class_id_or_create(class);
        self.class_map.insert(device, cid);
        self.rebuild_shadow_trees()
    }

    /// Adds a bucket holding `items` (existing buckets, or devices, with their 16.16 weights);
    /// `id` None picks the first free id. Shadow hierarchies are rebuilt.
    pub fn add_bucket(
        &mut self,
        id: Option<i32>,
        alg: BucketAlg,
        type_id: i32,
        name: &str,
        items: &[(i32, u32)],
    ) -> Result<i32, CrushError> {
        self.atomically(|m| {
            let id = m.add_bucket_inner(id, alg, type_id, name, items)?;
            m.rebuild_shadow_trees()?;
            Ok(id)
        })
    }

    pub(crate) fn add_bucket_inner(
        &mut self,
        id: Option<i32>,
        alg: BucketAlg,
        type_id: i32,
        name: &str,
        items: &[(i32, u32)],
    ) -> Result<i32, CrushError> {
        check_name(name)?;
        if self.item_id(name).is_some() {
            return Err(CrushError::Exists {
                kind: "item",
                name: name.to_string(),
            });
        }
        let type_id = u16::try_from(type_id)
            .ok()
            .filter(|&t| t > 0)
            .ok_or_else(|| CrushError::Invalid(format!("bucket type {type_id} out of range")))?;
        let id = id.unwrap_or_else(|| self.next_bucket_id());
        for &(item, _) in items {
            let valid = if item >= 0 {
                item < super::map::MAX_DEVICES
            } else {
                item != id && self.bucket(item).is_some()
            };
            if !valid {
                return Err(CrushError::Invalid(format!(
                    "bucket '{name}' cannot hold item {item}"
                )));
            }
            if item >= 0 {
                self.max_devices = self.max_devices.max(item + 1);
            }
        }
        let (ids, weights): (Vec<i32>, Vec<u32>) = items.iter().copied().unzip();
        let bucket = Bucket::new(
            id,
            alg,
            type_id,
            ids,
            weights.clone(),
            self.tunables.straw_calc_version,
        )?;
        self.insert_bucket(bucket)?;
        self.names.insert(id, name.to_string());
        // Existing weight sets get an entry for the new bucket, seeded with its weights.
        for args in self.choose_args.values_mut() {
            // As many positions as the set's other weight sets (Ceph takes the first), else one.
            let positions = args
                .iter()
                .map(|(_, a)| a.weight_set.len())
                .find(|&n| n > 0)
                .unwrap_or(1);
            if !items.is_empty() {
                args.set(
                    id,
                    ChooseArg {
                        ids: Vec::new(),
                        weight_set: vec![weights.clone(); positions],
                    },
                );
            }
        }
        Ok(id)
    }

    /// Whether `item` is `ancestor` or lies below it.
    pub fn subtree_contains(&self, ancestor: i32, item: i32) -> bool {
        if ancestor == item {
            return true;
        }
        self.bucket(ancestor).is_some_and(|b| {
            b.items
                .iter()
                .any(|&c| c == item || (c < 0 && self.subtree_contains(c, item)))
        })
    }

    /// Places `item` (a device, or an existing unlinked bucket) at `loc` with `weight`, creating
    /// the missing buckets of the location (like `ceph osd crush add osd.N W host=a root=default`).
    ///
    /// `loc` maps type names to bucket names; levels are visited from the lowest type up, and the
    /// walk stops at the first level whose bucket already exists.
    pub fn insert_item(
        &mut self,
        item: i32,
        weight: u32,
        name: &str,
        loc: &BTreeMap<String, String>,
    ) -> Result<(), CrushError> {
        self.atomically(|m| m.insert_item_inner(item, weight, name, loc))
    }

    pub(crate) fn insert_item_inner(
        &mut self,
        item: i32,
        weight: u32,
        name: &str,
        loc: &BTreeMap<String, String>,
    ) -> Result<(), CrushError> {
        check_name(name)?;
        self.check_loc(loc)?;
        if item >= super::map::MAX_DEVICES {
            return Err(CrushError::Invalid(format!(
                "device id {item} out of range"
            )));
        }
        if item < 0 {
            if self.bucket(item).is_none() || self.is_shadow(item) {
                return Err(CrushError::NotFound {
                    kind: "bucket",
                    name: item.to_string(),
                });
            }
            if !self.parents_of(item).is_empty() {
                return Err(CrushError::Refused(format!(
                    "bucket {name} is already placed: move it instead"
                )));
            }
        }
        match self.item_id(name) {
            Some(existing) if existing != item => {
                return Err(CrushError::Exists {
                    kind: "item",
                    name: name.to_string(),
                });
            }
            Some(_) => {}
            None => {
                self.names.insert(item, name.to_string());
            }
        }
        if item >= 0 {
            self.max_devices = self.max_devices.max(item + 1);
        }
        let mut cur = item;
        let levels: Vec<(i32, String)> = self
            .type_names
            .iter()
            .filter(|(&t, _)| t != 0)
            .map(|(&t, n)| (t, n.clone()))
            .collect();
        for (type_id, type_name) in levels {
            let Some(bucket_name) = loc.get(&type_name) else {
                continue;
            };
            let Some(id) = self.item_id(bucket_name) else {
                let alg = self.default_bucket_alg();
                cur = self.add_bucket_inner(None, alg, type_id, bucket_name, &[(cur, 0)])?;
                continue;
            };
            let Some(b) = self.bucket(id) else {
                return Err(CrushError::Invalid(format!(
                    "'{bucket_name}' is a device, not a bucket"
                )));
            };
            if i32::from(b.type_id) != type_id {
                return Err(CrushError::Invalid(format!(
                    "bucket '{bucket_name}' has type {} but the location says {type_name}",
                    self.type_name(i32::from(b.type_id)).unwrap_or("?")
                )));
            }
            if self.subtree_contains(id, cur) || self.subtree_contains(cur, id) {
                return Err(CrushError::Invalid(format!(
                    "{name} is already under or above '{bucket_name}'"
                )));
            }
            self.bucket_add_item(id, cur, 0)?;
            break;
        }
        self.adjust_item_weight_in_loc(item, weight, loc)?;
        self.rebuild_shadow_trees()
    }

    fn check_loc(&self, loc: &BTreeMap<String, String>) -> Result<(), CrushError> {
        for (t, n) in loc {
            if self.type_id(t).is_none() {
                return Err(CrushError::NotFound {
                    kind: "type",
                    name: t.clone(),
                });
            }
            check_name(n)?;
        }
        Ok(())
    }

    /// Sets `item`'s weight in the lowest existing bucket of `loc` that holds it.
    fn adjust_item_weight_in_loc(
        &mut self,
        item: i32,
        weight: u32,
        loc: &BTreeMap<String, String>,
    ) -> Result<(), CrushError> {
        let levels: Vec<String> = self
            .type_names
            .iter()
            .filter(|(&t, _)| t != 0)
            .map(|(_, n)| n.clone())
            .collect();
        for type_name in levels {
            let Some(bucket) = loc.get(&type_name).and_then(|n| self.item_id(n)) else {
                continue;
            };
            if self.bucket(bucket).is_some_and(|b| b.items.contains(&item)) {
                self.adjust_item_weight_in_bucket(item, weight, bucket, item >= 0)?;
                return Ok(());
            }
        }
        Err(CrushError::Invalid(format!(
            "item {item} is not in location {loc:?}"
        )))
    }

    /// Sets the weight of `item` everywhere it appears; returns how many buckets changed.
    pub fn adjust_item_weight(&mut self, item: i32, weight: u32) -> Result<usize, CrushError> {
        self.atomically(|m| m.adjust_item_weight_impl(item, weight, true))
    }

    fn adjust_item_weight_impl(
        &mut self,
        item: i32,
        weight: u32,
        weight_sets: bool,
    ) -> Result<usize, CrushError> {
        let parents = self.parents_of(item);
        if parents.is_empty() {
            return Err(CrushError::NotFound {
                kind: "item",
                name: item.to_string(),
            });
        }
        for &p in &parents {
            self.adjust_item_weight_in_bucket(item, weight, p, weight_sets)?;
        }
        Ok(parents.len())
    }

    fn adjust_item_weight_in_bucket(
        &mut self,
        item: i32,
        weight: u32,
        bucket_id: i32,
        weight_sets: bool,
    ) -> Result<(), CrushError> {
        let scv = self.tunables.straw_calc_version;
        let b = self.bucket_mut_or_err(bucket_id)?;
        let positions: Vec<usize> = (0..b.size()).filter(|&i| b.items[i] == item).collect();
        for &p in &positions {
            b.adjust_item_weight(p, weight, scv);
        }
        let total = b.weight;
        if weight_sets {
            for args in self.choose_args.values_mut() {
                if let Some(arg) = args.get_mut(bucket_id) {
                    for ws in &mut arg.weight_set {
                        positions.iter().for_each(|&p| ws[p] = weight);
                    }
                }
            }
        }
        // The bucket's new total in its own parents (weight sets are summed separately below).
        if !self.parents_of(bucket_id).is_empty() {
            self.adjust_item_weight_impl(bucket_id, total, false)?;
        }
        self.resum_weight_sets(bucket_id);
        Ok(())
    }

    /// After a bucket's weight sets changed, sets its entries in its parents' weight sets to the
    /// per-position sums, recursively.
    fn resum_weight_sets(&mut self, bucket_id: i32) {
        let indexes: Vec<i64> = self.choose_args.keys().copied().collect();
        for index in indexes {
            self.resum_weight_set(index, bucket_id);
        }
    }

    /// [`CrushMap::resum_weight_sets`] for one choose_args set.
    fn resum_weight_set(&mut self, index: i64, bucket_id: i32) {
        let Some(sums) = self
            .choose_args
            .get(&index)
            .and_then(|a| a.get(bucket_id))
            .map(|a| {
                a.weight_set
                    .iter()
                    .map(|ws| ws.iter().fold(0u32, |s, &w| s.wrapping_add(w)))
                    .collect::<Vec<u32>>()
            })
        else {
            return;
        };
        if sums.is_empty() {
            return;
        }
        for parent in self.parents_of(bucket_id) {
            let Some(pos) = self.bucket(parent).and_then(|b| b.position_of(bucket_id)) else {
                continue;
            };
            let Some(arg) = self
                .choose_args
                .get_mut(&index)
                .and_then(|a| a.get_mut(parent))
            else {
                continue;
            };
            for (ws, &sum) in arg.weight_set.iter_mut().zip(&sums) {
                if let Some(w) = ws.get_mut(pos) {
                    *w = sum;
                }
            }
            self.resum_weight_set(index, parent);
        }
    }

    fn bucket_or_err(&self, id: i32) -> Result<&Bucket, CrushError> {
        self.bucket(id).ok_or(CrushError::NotFound {
            kind: "bucket",
            name: id.to_string(),
        })
    }

    fn bucket_mut_or_err(&mut self, id: i32) -> Result<&mut Bucket, CrushError> {
        self.bucket_mut(id).ok_or(CrushError::NotFound {
            kind: "bucket",
            name: id.to_string(),
        })
    }

    /// Puts a rebuilt bucket back in its slot.
    fn replace_bucket(&mut self, bucket: Bucket) {
        if let Some(slot) = self.bucket_mut(bucket.id) {
            *slot = bucket;
        }
    }

    /// Appends `item` to a bucket (weight sets and ids follow).
    fn bucket_add_item(
        &mut self,
        bucket_id: i32,
        item: i32,
        weight: u32,
    ) -> Result<(), CrushError> {
        let scv = self.tunables.straw_calc_version;
        let b = self.bucket_or_err(bucket_id)?;
        let mut items = b.items.clone();
        let mut weights = b.item_weights();
        items.push(item);
        weights.push(weight);
        let rebuilt = rebuilt_with(b, items, weights, scv)?;
        self.replace_bucket(rebuilt);
        for args in self.choose_args.values_mut() {
            if let Some(arg) = args.get_mut(bucket_id) {
                arg.weight_set.iter_mut().for_each(|ws| ws.push(weight));
                if !arg.ids.is_empty() {
                    arg.ids.push(item);
                }
            }
        }
        Ok(())
    }

    /// Removes `item` from one bucket, propagating the weight change up.
    fn bucket_remove_item(&mut self, bucket_id: i32, item: i32) -> Result<(), CrushError> {
        let scv = self.tunables.straw_calc_version;
        let b = self.bucket_or_err(bucket_id)?;
        let keep: Vec<usize> = (0..b.size()).filter(|&i| b.items[i] != item).collect();
        let items = keep.iter().map(|&i| b.items[i]).collect();
        let weights = keep.iter().map(|&i| b.item_weight(i)).collect();
        let rebuilt = rebuilt_with(b, items, weights, scv)?;
        let total = rebuilt.weight;
        self.replace_bucket(rebuilt);
        for args in self.choose_args.values_mut() {
            if let Some(arg) = args.get_mut(bucket_id) {
                for ws in &mut arg.weight_set {
                    *ws = keep.iter().map(|&i| ws[i]).collect();
                }
                if !arg.ids.is_empty() {
                    arg.ids = keep.iter().map(|&i| arg.ids[i]).collect();
                }
            }
        }
        if !self.parents_of(bucket_id).is_empty() {
            self.adjust_item_weight_impl(bucket_id, total, false)?;
        }
        self.resum_weight_sets(bucket_id);
        Ok(())
    }

    /// Unlinks `item` from every bucket holding it; a bucket is deleted too unless `unlink_only`.
    /// A bucket must be empty and not taken by a rule to be deleted.
    pub fn remove_item(&mut self, item: i32, unlink_only: bool) -> Result<(), CrushError> {
        self.atomically(|m| m.remove_item_inner(item, unlink_only))
    }

    fn remove_item_inner(&mut self, item: i32, unlink_only: bool) -> Result<(), CrushError> {
        if !self.item_exists(item) || self.is_shadow(item) {
            return Err(CrushError::NotFound {
                kind: "item",
                name: item.to_string(),
            });
        }
        if let Some(b) = self.bucket(item).filter(|_| !unlink_only) {
            if b.size() > 0 {
                return Err(CrushError::Refused(format!(
                    "bucket {} is not empty",
                    self.item_name(item).unwrap_or("?")
                )));
            }
            let shadows: Vec<i32> = self.shadows_of(item).map(|(_, s)| s).collect();
            if self.is_taken_by_rule(item) || shadows.iter().any(|&s| self.is_taken_by_rule(s)) {
                return Err(CrushError::Refused(format!(
                    "bucket {} is used by a rule",
                    self.item_name(item).unwrap_or("?")
                )));
            }
        }
        for parent in self.parents_of(item) {
            if !self.is_shadow(parent) {
                self.bucket_remove_item(parent, item)?;
            }
        }
        if !unlink_only {
            if item < 0 {
                if let Some(slot) = super::map::slot_of(item).and_then(|p| self.buckets.get_mut(p))
                {
                    *slot = None;
                }
                for args in self.choose_args.values_mut() {
                    args.set(item, ChooseArg::default());
                }
                self.class_bucket.remove(&item);
            }
            self.names.remove(&item);
            self.class_map.remove(&item);
        }
        self.rebuild_shadow_trees()
    }

    /// Moves a bucket to a new location, keeping its weight.
    pub fn move_bucket(
        &mut self,
        id: i32,
        loc: &BTreeMap<String, String>,
    ) -> Result<(), CrushError> {
        self.atomically(|m| m.move_bucket_inner(id, loc))
    }

    fn move_bucket_inner(
        &mut self,
        id: i32,
        loc: &BTreeMap<String, String>,
    ) -> Result<(), CrushError> {
        let b = self.bucket_or_err(id)?;
        if self.is_shadow(id) {
            return Err(CrushError::Refused(
                "shadow buckets follow their originals".into(),
            ));
        }
        let weight = b.weight;
        let name = self.item_name(id).unwrap_or_default().to_string();
        self.check_loc(loc)?;
        self.remove_item_inner(id, true)?;
        self.insert_item_inner(id, weight, &name, loc)
    }

    /// Adds a rule `take ROOT[~CLASS]; (choose|chooseleaf) MODE 0 type FD; emit`, as
    /// `ceph osd crush rule create-simple` / `create-replicated` do. Returns the rule id.
    pub fn add_simple_rule(&mut self, spec: &SimpleRule) -> Result<usize, CrushError> {
        self.atomically(|m| m.add_simple_rule_inner(spec))
    }

    fn add_simple_rule_inner(&mut self, spec: &SimpleRule) -> Result<usize, CrushError> {
        let SimpleRule {
            name,
            root,
            failure_domain,
            device_class,
            mode,
            id,
        } = *spec;
        let rule_type = if mode == ChooseMode::Indep {
            RULE_TYPE_ERASURE
        } else {
            RULE_TYPE_REPLICATED
        };
        check_name(name)?;
        if self.rule_id(name).is_some() {
            return Err(CrushError::Exists {
                kind: "rule",
                name: name.to_string(),
            });
        }
        let mut take = self.item_id(root).ok_or(CrushError::NotFound {
            kind: "bucket",
            name: root.to_string(),
        })?;
        if let Some(class) = device_class {
            let cid = self.class_id(class).ok_or(CrushError::NotFound {
                kind: "class",
                name: class.to_string(),
            })?;
            take = self.shadow_bucket(take, cid).ok_or(CrushError::NotFound {
                kind: "shadow bucket",
                name: format!("{root}~{class}"),
            })?;
        }
        let fd = self.type_id(failure_domain).ok_or(CrushError::NotFound {
            kind: "type",
            name: failure_domain.to_string(),
        })?;
        let mut steps = Vec::new();
        if mode == ChooseMode::Indep {
            steps.push(Step::SetChooseleafTries(5));
            steps.push(Step::SetChooseTries(100));
        }
        steps.push(Step::Take(take));
        steps.push(Step::Choose {
            mode,
            leaf: fd != 0,
            count: 0,
            type_id: fd,
        });
        steps.push(Step::Emit);
        let (min_size, max_size) = if rule_type == RULE_TYPE_ERASURE {
            (3, 20)
        } else {
            (1, 10)
        };
        let placeholder = Rule {
            ruleset: 0,
            rule_type,
            min_size,
            max_size,
            steps,
        };
        let id = self.insert_rule(id, placeholder)?;
        if let Some(r) = self.rules[id].as_mut() {
            r.ruleset = id as u8;
        }
        self.rule_names.insert(id as i32, name.to_string());
        Ok(id)
    }

    /// Removes a rule.
    pub fn remove_rule(&mut self, id: usize) -> Result<Rule, CrushError> {
        let rule = self.take_rule(id).ok_or(CrushError::NotFound {
            kind: "rule",
            name: id.to_string(),
        })?;
        self.rule_names.remove(&(id as i32));
        Ok(rule)
    }

    /// Replaces the tunables (a profile or custom values).
    pub fn set_tunables(&mut self, tunables: Tunables) {
        self.tunables = tunables;
    }
}

/// A copy of `b` with new items and weights (same id, type, hash and algorithm).
fn rebuilt_with(
    b: &Bucket,
    items: Vec<i32>,
    weights: Vec<u32>,
    scv: u8,
) -> Result<Bucket, CrushError> {
    let mut copy = b.clone();
    if let BucketData::Uniform { .. } = b.data {
        // A uniform bucket has one weight for all items; a different new weight replaces it.
        let w = weights.last().copied().unwrap_or(0);
        let n = weights.len();
        copy.rebuild(BucketAlg::Uniform, items, vec![w; n], scv)?;
    } else {
        copy.rebuild(b.alg(), items, weights, scv)?;
    }
    Ok(copy)
}

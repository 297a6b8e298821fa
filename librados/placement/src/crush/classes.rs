//! Device classes and their shadow hierarchies.
//!
//! For every class, each bucket under a (non-shadow) root gets a shadow copy named `NAME~CLASS`
//! that holds only that class's devices and the shadow copies of its child buckets. A rule step
//! `take default class ssd` takes `default~ssd`. Shadow ids feed the hashes, so they are assigned
//! exactly as Ceph assigns them: explicit ids where the text (or an earlier map) gave them,
//! otherwise the first free bucket slot, children before parents, roots in id order, classes in
//! class-id order.

use super::bucket::{Bucket, BucketAlg, BucketData};
use super::error::CrushError;
use super::map::{ChooseArg, CrushMap};
use std::collections::{BTreeMap, BTreeSet};

impl CrushMap {
    /// Builds the shadow hierarchy of every class under every non-shadow root.
    ///
    /// `explicit` maps original bucket → class → the shadow id to use; other shadows get the first
    /// free slot not reserved by `explicit`.
    pub(crate) fn populate_classes(
        &mut self,
        explicit: &BTreeMap<i32, BTreeMap<i32, i32>>,
    ) -> Result<(), CrushError> {
        let reserved: BTreeSet<i32> = explicit
            .values()
            .flat_map(|m| m.values().copied())
            .collect();
        let classes: Vec<i32> = self.class_names.keys().copied().collect();
        for root in self.nonshadow_roots() {
            for &class in &classes {
                self.clone_for_class(root, class, explicit, &reserved, 0)?;
            }
        }
        Ok(())
    }

    /// Removes every shadow bucket and builds the shadow hierarchies again, keeping the ids shadows
    /// had (as the monitor does after an edit).
    pub fn rebuild_shadow_trees(&mut self) -> Result<(), CrushError> {
        let old = std::mem::take(&mut self.class_bucket);
        let shadows: Vec<i32> = self
            .buckets()
            .map(|b| b.id)
            .filter(|&id| self.is_shadow(id))
            .collect();
        for id in shadows {
            if let Some(slot) = super::map::slot_of(id).and_then(|p| self.buckets.get_mut(p)) {
                *slot = None;
            }
            self.names.remove(&id);
            self.class_map.remove(&id);
            for args in self.choose_args.values_mut() {
                args.set(id, ChooseArg::default());
            }
        }
        // Rules that took a shadow keep pointing at the same id, which is reused below.
        self.populate_classes(&old)
    }

    fn clone_for_class(
        &mut self,
        original: i32,
        class: i32,
        explicit: &BTreeMap<i32, BTreeMap<i32, i32>>,
        reserved: &BTreeSet<i32>,
        depth: u32,
    ) -> Result<i32, CrushError> {
        if depth > super::map::MAX_DEPTH {
            return Err(CrushError::Invalid(format!(
                "hierarchy under bucket {original} is deeper than {} levels",
                super::map::MAX_DEPTH
            )));
        }
        let name = self
            .item_name(original)
            .ok_or_else(|| CrushError::Invalid(format!("bucket {original} has no name")))?
            .to_string();
        let class_name = self.class_name(class).unwrap_or_default().to_string();
        let copy_name = format!("{name}~{class_name}");
        if let Some(existing) = self.item_id(&copy_name) {
            return Ok(existing);
        }
        let orig = self
            .bucket(original)
            .cloned()
            .ok_or_else(|| CrushError::Invalid(format!("bucket {original} does not exist")))?;
        let uniform = orig.alg() == BucketAlg::Uniform;
        let mut items = Vec::new();
        let mut weights = Vec::new();
        let mut orig_pos = Vec::new();
        for (pos, &item) in orig.items.iter().enumerate() {
            let (copy_item, weight) = if item >= 0 {
                if self.class_map.get(&item) != Some(&class) {
                    continue;
                }
                (item, orig.item_weight(pos))
            } else {
                let child = self.clone_for_class(item, class, explicit, reserved, depth + 1)?;
                (child, self.bucket(child).map_or(0, Bucket::weight))
            };
            if uniform && weight != 0 {
                // Ceph builds a shadow by adding items to an empty bucket, and an empty uniform
                // bucket only accepts items of its (zero) item weight: the clone fails here,
                // after the children cloned so far.
                return Err(CrushError::Refused(format!(
                    "uniform bucket '{name}' cannot get a '{class_name}' shadow (its items have weight)"
                )));
            }
            items.push(copy_item);
            weights.push(weight);
            orig_pos.push(pos);
        }
        let id = match explicit.get(&original).and_then(|m| m.get(&class)) {
            Some(&id) => id,
            None => {
                let mut id = -1;
                while self.bucket(id).is_some() || reserved.contains(&id) {
                    id -= 1;
                }
                id
            }
        };
        let mut copy = if uniform {
            // Ceph grows shadow buckets item by item, which never sets a uniform bucket's
            // per-item weight: it stays 0 while the total adds up.
            let total = weights
                .iter()
                .try_fold(0u32, |a, &w| a.checked_add(w))
                .ok_or(CrushError::WeightOverflow)?;
            Bucket::from_parts(
                id,
                orig.type_id,
                0,
                total,
                items,
                BucketData::Uniform { item_weight: 0 },
            )
        } else {
            Bucket::new(
                id,
                orig.alg(),
                orig.type_id,
                items,
                weights,
                self.tunables.straw_calc_version,
            )?
        };
        copy.hash = orig.hash;
        self.insert_bucket(copy)?;
        self.names.insert(id, copy_name);
        self.class_map.insert(id, class);
        self.class_bucket
            .entry(original)
            .or_default()
            .insert(class, id);
        self.copy_choose_args(original, id, &orig_pos);
        Ok(id)
    }

    /// Gives a new shadow bucket the weight sets of its original: devices keep their weights,
    /// child shadows get the sum of their own weight set at each position.
    fn copy_choose_args(&mut self, original: i32, shadow: i32, orig_pos: &[usize]) {
        let items: Vec<i32> = self
            .bucket(shadow)
            .map(|b| b.items.clone())
            .unwrap_or_default();
        for args in self.choose_args.values_mut() {
            let Some(src) = args
                .get(original)
                .filter(|a| !a.weight_set.is_empty())
                .cloned()
            else {
                continue;
            };
            let weight_set = src
                .weight_set
                .iter()
                .enumerate()
                .map(|(position, ws)| {
                    items
                        .iter()
                        .zip(orig_pos)
                        .map(|(&item, &pos)| {
                            if item >= 0 {
                                ws.get(pos).copied().unwrap_or(0)
                            } else {
                                args.get(item)
                                    .and_then(|a| a.weight_set.get(position))
                                    .map_or(0, |child| {
                                        child.iter().fold(0u32, |s, &w| s.wrapping_add(w))
                                    })
                            }
                        })
                        .collect()
                })
                .collect();
            args.set(
                shadow,
                ChooseArg {
                    ids: Vec::new(),
                    weight_set,
                },
            );
        }
    }
}

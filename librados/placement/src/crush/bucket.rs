//! CRUSH buckets: the interior nodes of the hierarchy and the five selection algorithms' data.
//!
//! A bucket holds items (devices ≥ 0, buckets < 0) with 16.16 fixed-point weights. What each
//! algorithm precomputes (list prefix sums, tree node weights, straw lengths) is kept exactly as Ceph
//! keeps it, so a map decoded from Ceph's binary form maps identically even when its precomputed
//! values were produced by an older Ceph.

use super::divide::Divisor;
use super::error::CrushError;
use std::fmt;

/// Bucket algorithms, numbered as in Ceph's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BucketAlg {
    /// Equal-weight items, chosen by a hashed permutation: O(1).
    Uniform = 1,
    /// Items tried newest first: cheap to extend, O(n).
    List = 2,
    /// A weighted binary tree: O(log n).
    Tree = 3,
    /// Straw (version 1): weights turned into precomputed straw lengths.
    Straw = 4,
    /// Straw2: each item draws independently; changing one weight moves data only to or from it.
    Straw2 = 5,
}

impl BucketAlg {
    pub const ALL: [BucketAlg; 5] = [
        BucketAlg::Uniform,
        BucketAlg::List,
        BucketAlg::Tree,
        BucketAlg::Straw,
        BucketAlg::Straw2,
    ];

    /// The name used in text maps (`alg straw2`).
    pub fn name(self) -> &'static str {
        match self {
            BucketAlg::Uniform => "uniform",
            BucketAlg::List => "list",
            BucketAlg::Tree => "tree",
            BucketAlg::Straw => "straw",
            BucketAlg::Straw2 => "straw2",
        }
    }

    pub fn from_name(name: &str) -> Option<BucketAlg> {
        BucketAlg::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn from_u8(code: u8) -> Option<BucketAlg> {
        BucketAlg::ALL.into_iter().find(|a| *a as u8 == code)
    }
}

impl fmt::Display for BucketAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-algorithm data, as Ceph stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketData {
    Uniform {
        item_weight: u32,
    },
    List {
        item_weights: Vec<u32>,
        sum_weights: Vec<u32>,
    },
    /// `node_weights.len()` is the node count (a power of two); item `i` sits at node `2i+1`.
    Tree {
        node_weights: Vec<u32>,
    },
    Straw {
        item_weights: Vec<u32>,
        straws: Vec<u32>,
    },
    Straw2 {
        item_weights: Vec<u32>,
    },
}

/// One bucket of a CRUSH map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub(crate) id: i32,
    pub(crate) type_id: u16,
    pub(crate) hash: u8,
    pub(crate) weight: u32,
    pub(crate) items: Vec<i32>,
    pub(crate) data: BucketData,
    /// For straw2: a divisor per item weight (derived; see `refresh_derived`).
    pub(crate) divisors: Vec<Divisor>,
}

/// Tree buckets store their node count in one byte: 64 leaves need 128 nodes, 65 would need 256.
pub const MAX_TREE_ITEMS: usize = 64;

/// Depth of the tree that holds `size` leaves (Ceph's `calc_depth`).
fn tree_depth(size: usize) -> u32 {
    if size == 0 {
        return 0;
    }
    let mut depth = 1;
    let mut t = size - 1;
    while t != 0 {
        t >>= 1;
        depth += 1;
    }
    depth
}

/// Node index of leaf `i` in a tree bucket.
pub(crate) fn tree_leaf_node(i: usize) -> usize {
    ((i + 1) << 1) - 1
}

/// Height of node `n` above the leaves (number of trailing zero bits).
pub(crate) fn tree_height(n: usize) -> u32 {
    n.trailing_zeros()
}

fn tree_parent(n: usize) -> usize {
    let h = tree_height(n);
    if n & (1 << (h + 1)) != 0 {
        n - (1 << h)
    } else {
        n + (1 << h)
    }
}

fn sum_weights(weights: &[u32]) -> Result<u32, CrushError> {
    weights
        .iter()
        .try_fold(0u32, |acc, &w| acc.checked_add(w))
        .ok_or(CrushError::WeightOverflow)
}

impl Bucket {
    /// Builds a bucket and everything its algorithm precomputes from the item weights.
    ///
    /// `straw_calc_version` is the map's tunable (it only matters for `straw`).
    pub fn new(
        id: i32,
        alg: BucketAlg,
        type_id: u16,
        items: Vec<i32>,
        weights: Vec<u32>,
        straw_calc_version: u8,
    ) -> Result<Bucket, CrushError> {
        if items.len() != weights.len() {
            return Err(CrushError::Invalid(format!(
                "bucket {id}: {} items but {} weights",
                items.len(),
                weights.len()
            )));
        }
        let mut bucket = Bucket {
            id,
            type_id,
            hash: crate::hash::CRUSH_HASH_RJENKINS1,
            weight: 0,
            items: Vec::new(),
            data: BucketData::Straw2 {
                item_weights: Vec::new(),
            },
            divisors: Vec::new(),
        };
        bucket.rebuild(alg, items, weights, straw_calc_version)?;
        Ok(bucket)
    }

    /// Replaces the items and recomputes the algorithm's data.
    pub(crate) fn rebuild(
        &mut self,
        alg: BucketAlg,
        items: Vec<i32>,
        weights: Vec<u32>,
        straw_calc_version: u8,
    ) -> Result<(), CrushError> {
        let total = sum_weights(&weights)?;
        let (weight, data) = match alg {
            BucketAlg::Uniform => {
                let item_weight = weights.first().copied().unwrap_or(0);
                if weights.iter().any(|&w| w != item_weight) {
                    return Err(CrushError::Invalid(format!(
                        "uniform bucket {} has items of different weights",
                        self.id
                    )));
                }
                (total, BucketData::Uniform { item_weight })
            }
            BucketAlg::List => {
                let mut sum = 0u32;
                let sum_weights = weights
                    .iter()
                    .map(|&w| {
                        sum += w;
                        sum
                    })
                    .collect();
                (
                    total,
                    BucketData::List {
                        item_weights: weights,
                        sum_weights,
                    },
                )
            }
            BucketAlg::Tree => {
                if weights.len() > MAX_TREE_ITEMS {
                    return Err(CrushError::Invalid(format!(
                        "tree bucket {} has {} items; the encoding allows at most {MAX_TREE_ITEMS}",
                        self.id,
                        weights.len()
                    )));
                }
                let depth = tree_depth(weights.len());
                // An empty tree has no nodes at all (not the single node 1 << 0 would give).
                let nodes = if weights.is_empty() { 0 } else { 1 << depth };
                let mut node_weights = vec![0u32; nodes];
                for (i, &w) in weights.iter().enumerate() {
                    let mut node = tree_leaf_node(i);
                    node_weights[node] = w;
                    for _ in 1..depth {
                        node = tree_parent(node);
                        node_weights[node] += w;
                    }
                }
                (total, BucketData::Tree { node_weights })
            }
            BucketAlg::Straw => {
                let straws = straw_lengths(&weights, straw_calc_version);
                (
                    total,
                    BucketData::Straw {
                        item_weights: weights,
                        straws,
                    },
                )
            }
            BucketAlg::Straw2 => (
                total,
                BucketData::Straw2 {
                    item_weights: weights,
                },
            ),
        };
        self.items = items;
        self.weight = weight;
        self.data = data;
        self.refresh_derived();
        Ok(())
    }

    /// A bucket from stored parts (decoded from Ceph's encoding, or a shadow under construction).
    pub(crate) fn from_parts(
        id: i32,
        type_id: u16,
        hash: u8,
        weight: u32,
        items: Vec<i32>,
        data: BucketData,
    ) -> Bucket {
        let mut b = Bucket {
            id,
            type_id,
            hash,
            weight,
            items,
            data,
            divisors: Vec::new(),
        };
        b.refresh_derived();
        b
    }

    /// Recomputes what only speeds up the mapper: straw2's reciprocal item weights.
    pub(crate) fn refresh_derived(&mut self) {
        self.divisors = match &self.data {
            BucketData::Straw2 { item_weights } => item_weights
                .iter()
                .map(|&w| Divisor::new(w.max(1)))
                .collect(),
            _ => Vec::new(),
        };
    }

    pub fn id(&self) -> i32 {
        self.id
    }

    pub fn type_id(&self) -> u16 {
        self.type_id
    }

    pub fn alg(&self) -> BucketAlg {
        match self.data {
            BucketData::Uniform { .. } => BucketAlg::Uniform,
            BucketData::List { .. } => BucketAlg::List,
            BucketData::Tree { .. } => BucketAlg::Tree,
            BucketData::Straw { .. } => BucketAlg::Straw,
            BucketData::Straw2 { .. } => BucketAlg::Straw2,
        }
    }

    pub fn hash(&self) -> u8 {
        self.hash
    }

    /// Total weight (16.16 fixed point), as stored.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    pub fn items(&self) -> &[i32] {
        &self.items
    }

    pub fn size(&self) -> usize {
        self.items.len()
    }

    pub fn data(&self) -> &BucketData {
        &self.data
    }

    /// Weight of the item at position `pos` (16.16), or 0 when out of range.
    pub fn item_weight(&self, pos: usize) -> u32 {
        let get = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
        match &self.data {
            BucketData::Uniform { item_weight } => {
                if pos < self.items.len() {
                    *item_weight
                } else {
                    0
                }
            }
            BucketData::List { item_weights, .. }
            | BucketData::Straw { item_weights, .. }
            | BucketData::Straw2 { item_weights } => get(item_weights, pos),
            BucketData::Tree { node_weights } => get(node_weights, tree_leaf_node(pos)),
        }
    }

    /// All item weights, in item order.
    pub fn item_weights(&self) -> Vec<u32> {
        (0..self.items.len()).map(|i| self.item_weight(i)).collect()
    }

    /// Position of `item` in this bucket.
    pub fn position_of(&self, item: i32) -> Option<usize> {
        self.items.iter().position(|&i| i == item)
    }

    /// Sets the weight of the item at `pos` the way Ceph does it in place: the difference is added
    /// to the bucket's total and, for list and tree buckets, to the stored sums above the item
    /// (so a decoded map's stored values are adjusted, never recomputed). Straw lengths are
    /// recomputed; a uniform bucket's single item weight changes for all items.
    pub(crate) fn adjust_item_weight(&mut self, pos: usize, weight: u32, straw_calc_version: u8) {
        let size = self.items.len() as u32;
        let diff = match &mut self.data {
            BucketData::Uniform { item_weight } => {
                let old_total = self.weight;
                *item_weight = weight;
                self.weight = weight.wrapping_mul(size);
                self.weight.wrapping_sub(old_total)
            }
            BucketData::List {
                item_weights,
                sum_weights,
            } => {
                let diff = weight.wrapping_sub(item_weights[pos]);
                item_weights[pos] = weight;
                sum_weights[pos..]
                    .iter_mut()
                    .for_each(|s| *s = s.wrapping_add(diff));
                diff
            }
            BucketData::Tree { node_weights } => {
                let mut node = tree_leaf_node(pos);
                let diff = weight.wrapping_sub(node_weights[node]);
                node_weights[node] = weight;
                for _ in 1..tree_depth(self.items.len()) {
                    node = tree_parent(node);
                    node_weights[node] = node_weights[node].wrapping_add(diff);
                }
                diff
            }
            BucketData::Straw {
                item_weights,
                straws,
            } => {
                let diff = weight.wrapping_sub(item_weights[pos]);
                item_weights[pos] = weight;
                *straws = straw_lengths(item_weights, straw_calc_version);
                diff
            }
            BucketData::Straw2 { item_weights } => {
                let diff = weight.wrapping_sub(item_weights[pos]);
                item_weights[pos] = weight;
                diff
            }
        };
        if !matches!(self.data, BucketData::Uniform { .. }) {
            self.weight = self.weight.wrapping_add(diff);
        }
        self.refresh_derived();
    }

    /// Checks the shape invariants the mapper relies on.
    pub(crate) fn check_shape(&self) -> Result<(), CrushError> {
        let n = self.items.len();
        let bad = |what: &str| {
            Err(CrushError::Invalid(format!(
                "bucket {}: {what} does not match its {n} items",
                self.id
            )))
        };
        match &self.data {
            BucketData::Uniform { .. } => Ok(()),
            BucketData::List {
                item_weights,
                sum_weights,
            } => {
                if item_weights.len() != n || sum_weights.len() != n {
                    return bad("list weights");
                }
                Ok(())
            }
            BucketData::Straw {
                item_weights,
                straws,
            } => {
                if item_weights.len() != n || straws.len() != n {
                    return bad("straw lengths");
                }
                Ok(())
            }
            BucketData::Straw2 { item_weights } => {
                if item_weights.len() != n {
                    return bad("item weights");
                }
                Ok(())
            }
            BucketData::Tree { node_weights } => {
                let nodes = node_weights.len();
                if n == 0 {
                    return Ok(());
                }
                if !nodes.is_power_of_two() || nodes <= tree_leaf_node(n - 1) {
                    return bad("tree node count");
                }
                Ok(())
            }
        }
    }
}

/// Straw lengths for a straw (v1) bucket, as Ceph's builder computes them.
///
/// Items are visited from lightest to heaviest; each distinct weight step scales the straw by the
/// probability that all heavier items lose. `straw_calc_version` 0 is the original calculation
/// (which mishandles zero weights and repeated weights); 1 is the corrected one. Both must be
/// reproduced exactly because the lengths are not stored in text maps.
pub(crate) fn straw_lengths(weights: &[u32], straw_calc_version: u8) -> Vec<u32> {
    let size = weights.len();
    let mut straws = vec![0u32; size];
    // Stable ascending order by weight (an insertion sort in Ceph: equal weights keep their order).
    let mut order: Vec<usize> = (0..size).collect();
    order.sort_by_key(|&i| weights[i]);

    let mut numleft = size as i64;
    let mut straw = 1.0f64;
    let mut wbelow = 0.0f64;
    let mut lastw = 0.0f64;
    let mut i = 0;
    while i < size {
        let w = weights[order[i]];
        if w == 0 {
            straws[order[i]] = 0;
            i += 1;
            if straw_calc_version >= 1 {
                numleft -= 1;
            }
            continue;
        }
        straws[order[i]] = (straw * 65536.0) as u32;
        i += 1;
        if i == size {
            break;
        }
        let prev = weights[order[i - 1]];
        let cur = weights[order[i]];
        if straw_calc_version == 0 {
            if cur == prev {
                continue;
            }
            wbelow += (f64::from(prev) - lastw) * numleft as f64;
            for &j in &order[i..] {
                if weights[j] == cur {
                    numleft -= 1;
                } else {
                    break;
                }
            }
        } else {
            wbelow += (f64::from(prev) - lastw) * numleft as f64;
            numleft -= 1;
        }
        // Ceph multiplies in unsigned 32-bit arithmetic here.
        let wnext = f64::from((numleft as u32).wrapping_mul(cur.wrapping_sub(prev)));
        let pbelow = wbelow / (wbelow + wnext);
        straw *= (1.0 / pbelow).powf(1.0 / numleft as f64);
        lastw = f64::from(prev);
    }
    straws
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_nodes_sum_their_subtrees() {
        let b = Bucket::new(
            -1,
            BucketAlg::Tree,
            1,
            vec![0, 1, 2],
            vec![0x10000, 0x20000, 0x8000],
            1,
        )
        .unwrap();
        let BucketData::Tree { node_weights } = &b.data else {
            panic!("not a tree")
        };
        assert_eq!(node_weights.len(), 8);
        assert_eq!(node_weights[1], 0x10000);
        assert_eq!(node_weights[3], 0x20000);
        assert_eq!(node_weights[5], 0x8000);
        assert_eq!(node_weights[2], 0x30000);
        assert_eq!(node_weights[4], 0x38000);
        assert_eq!(b.weight, 0x38000);
        assert_eq!(b.item_weights(), vec![0x10000, 0x20000, 0x8000]);
    }

    #[test]
    fn uniform_refuses_unequal_weights() {
        assert!(Bucket::new(-1, BucketAlg::Uniform, 1, vec![0, 1], vec![1, 2], 1).is_err());
    }

    #[test]
    fn weight_overflow_is_an_error() {
        let r = Bucket::new(-1, BucketAlg::Straw2, 1, vec![0, 1], vec![u32::MAX, 1], 1);
        assert!(matches!(r, Err(CrushError::WeightOverflow)));
    }

    #[test]
    fn equal_straws_for_equal_weights() {
        let s = straw_lengths(&[0x10000; 4], 1);
        assert!(s.iter().all(|&x| x == 0x10000));
        let s0 = straw_lengths(&[0x10000, 0, 0x20000], 0);
        assert_eq!(s0[1], 0);
        assert!(s0[2] > s0[0]);
    }
}

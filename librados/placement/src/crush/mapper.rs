//! The CRUSH mapper: evaluates a rule for an input `x` and yields an ordered list of devices.
//!
//! Every decision reproduces Ceph's mapper exactly — the same hash inputs, the same retry and
//! collision handling, the same tunable-dependent quirks — because any difference moves data.
//! Nothing allocates per mapping once a [`Workspace`] has warmed up.

use super::bucket::{tree_height, Bucket, BucketData};
use super::ln_table::{LL, RH_LH};
use super::map::{ChooseArg, ChooseArgMap, CrushMap, CRUSH_ITEM_NONE, MAX_CHOOSE_COUNT};
use super::rule::{ChooseMode, Step};
use crate::hash::{
    crush_hash32_2, crush_hash32_3, crush_hash32_4, hash_lanes, CRUSH_HASH_RJENKINS1, HASH_LANES,
};

/// Marks a result position not yet decided during `indep` selection.
const ITEM_UNDEF: i32 = 0x7fff_fffe;

/// Most items one mapping returns ([`CrushMap::do_rule`] caps larger requests).
pub const MAX_RESULT: usize = MAX_CHOOSE_COUNT as usize;

/// A device weight that means "fully in" (1.0 in 16.16).
pub const WEIGHT_IN: u32 = 0x10000;

/// Scratch state reused across mappings: permutation caches for uniform buckets (and the legacy
/// exhaustive-search fallback) and the intermediate result vectors.
#[derive(Debug, Default, Clone)]
pub struct Workspace {
    perms: Vec<Perm>,
    scratch: Vec<i32>,
}

/// A lazily extended random permutation of a bucket's positions for one `x`.
#[derive(Debug, Default, Clone)]
struct Perm {
    x: u32,
    /// Positions `0..fixed` of `order` are final.
    fixed: u32,
    /// Only `order[0]` is known (the common r = 0 case, computed without initialising the rest).
    first_only: bool,
    order: Vec<u32>,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace::default()
    }
}

/// See [`Ctx::classify`].
enum Descent<'a> {
    Bad,
    Into(&'a Bucket),
    Found,
}

/// What one rule evaluation works with; the per-step tunables live in [`ChooseParams`].
struct Ctx<'a> {
    map: &'a CrushMap,
    weights: &'a [u32],
    x: u32,
    choose_args: Option<&'a ChooseArgMap>,
}

#[derive(Clone, Copy)]
struct ChooseParams {
    tries: u32,
    recurse_tries: u32,
    local_retries: u32,
    local_fallback_retries: u32,
    vary_r: u32,
    stable: u32,
}

impl CrushMap {
    /// Maps `x` through rule `rule` into `result` (cleared first), asking for `result_max` items.
    ///
    /// `weights` holds each device's reweight (0 = out, 0x10000 = in, values between reject that
    /// share of inputs); devices beyond its end count as out. `choose_args` replaces straw2 weights
    /// and ids where set. An unknown rule yields an empty result, as in Ceph.
    #[allow(clippy::too_many_arguments)] // Ceph's crush_do_rule inputs, plus reusable buffers.
    pub fn do_rule(
        &self,
        rule: usize,
        x: u32,
        result_max: usize,
        weights: &[u32],
        choose_args: Option<&ChooseArgMap>,
        ws: &mut Workspace,
        result: &mut Vec<i32>,
    ) {
        result.clear();
        let Some(rule) = self.rule(rule) else { return };
        // No rule can place more than this; asking for more only costs memory.
        let result_max = result_max.min(MAX_RESULT);
        if ws.perms.len() < self.buckets.len() {
            ws.perms.resize_with(self.buckets.len(), Perm::default);
        }
        let mut scratch = std::mem::take(&mut ws.scratch);
        scratch.clear();
        scratch.resize(3 * result_max, 0);
        let (w_buf, rest) = scratch.split_at_mut(result_max);
        let (o_buf, c) = rest.split_at_mut(result_max);
        let (mut w, mut o) = (w_buf, o_buf);
        let mut wsize = 0usize;

        let ctx = Ctx {
            map: self,
            weights,
            x,
            choose_args,
        };
        let t = &self.tunables;
        // Ceph's total tries counted retries; the mapper adds one. Local tries stay as counted.
        let mut choose_tries = t.choose_total_tries.wrapping_add(1);
        let mut choose_leaf_tries = 0u32;
        let mut local_retries = t.choose_local_tries;
        let mut local_fallback_retries = t.choose_local_fallback_tries;
        let mut vary_r = u32::from(t.chooseleaf_vary_r);
        let mut stable = u32::from(t.chooseleaf_stable);

        for step in &rule.steps {
            match *step {
                Step::Take(item) => {
                    let valid = if item >= 0 {
                        item < self.max_devices
                    } else {
                        self.bucket(item).is_some()
                    };
                    if valid && result_max > 0 {
                        w[0] = item;
                        wsize = 1;
                    }
                }
                Step::SetChooseTries(v) if v > 0 => choose_tries = v as u32,
                Step::SetChooseleafTries(v) if v > 0 => choose_leaf_tries = v as u32,
                Step::SetChooseLocalTries(v) if v >= 0 => local_retries = v as u32,
                Step::SetChooseLocalFallbackTries(v) if v >= 0 => local_fallback_retries = v as u32,
                Step::SetChooseleafVaryR(v) if v >= 0 => vary_r = v as u32,
                Step::SetChooseleafStable(v) if v >= 0 => stable = v as u32,
                Step::Choose {
                    mode,
                    leaf,
                    count,
                    type_id,
                } => {
                    if wsize == 0 {
                        continue;
                    }
                    // Nested leaf searches: the rule's override, else once (indep, or the
                    // descend_once tunable), else as many tries as the outer search.
                    let recurse_tries = if choose_leaf_tries > 0 {
                        choose_leaf_tries
                    } else if mode == ChooseMode::Indep || t.chooseleaf_descend_once != 0 {
                        1
                    } else {
                        choose_tries
                    };
                    let params = ChooseParams {
                        tries: choose_tries,
                        recurse_tries,
                        local_retries,
                        local_fallback_retries,
                        vary_r,
                        stable,
                    };
                    let mut osize = 0usize;
                    for &start in &w[..wsize] {
                        let mut numrep = count;
                        if numrep <= 0 {
                            numrep = numrep.saturating_add(result_max as i32);
                            if numrep <= 0 {
                                continue;
                            }
                        }
                        // A hole (or a device) from an earlier step: nothing to descend into.
                        let Some(bucket) = (if start < 0 { self.bucket(start) } else { None })
                        else {
                            continue;
                        };
                        match mode {
                            ChooseMode::FirstN => {
                                osize += ctx.choose_firstn(
                                    &mut ws.perms,
                                    bucket,
                                    numrep,
                                    type_id,
                                    &mut o[osize..],
                                    0,
                                    result_max - osize,
                                    params,
                                    leaf,
                                    Some(&mut c[osize..]),
                                    0,
                                );
                            }
                            ChooseMode::Indep => {
                                let out_size = (numrep as usize).min(result_max - osize);
                                ctx.choose_indep(
                                    &mut ws.perms,
                                    bucket,
                                    out_size,
                                    numrep,
                                    type_id,
                                    &mut o[osize..],
                                    0,
                                    params,
                                    leaf,
                                    Some(&mut c[osize..]),
                                    0,
                                );
                                osize += out_size;
                            }
                        }
                    }
                    if leaf {
                        o[..osize].copy_from_slice(&c[..osize]);
                    }
                    std::mem::swap(&mut w, &mut o);
                    wsize = osize;
                }
                Step::Emit => {
                    let room = result_max - result.len();
                    result.extend_from_slice(&w[..wsize.min(room)]);
                    wsize = 0;
                }
                _ => {}
            }
        }
        ws.scratch = scratch;
    }

    /// Convenience form of [`CrushMap::do_rule`] that allocates; prefer `do_rule` in loops.
    pub fn map_input(&self, rule: usize, x: u32, result_max: usize, weights: &[u32]) -> Vec<i32> {
        let mut out = Vec::with_capacity(result_max);
        self.do_rule(
            rule,
            x,
            result_max,
            weights,
            None,
            &mut Workspace::new(),
            &mut out,
        );
        out
    }

    /// The reweight vector with every device fully in.
    pub fn all_in_weights(&self) -> Vec<u32> {
        vec![WEIGHT_IN; usize::try_from(self.max_devices).unwrap_or(0)]
    }
}

impl Ctx<'_> {
    /// The descend-and-retry loop of `firstn` selection. Returns the new `outpos`.
    #[allow(clippy::too_many_arguments)]
    fn choose_firstn(
        &self,
        perms: &mut [Perm],
        bucket: &Bucket,
        numrep: i32,
        type_id: i32,
        out: &mut [i32],
        mut outpos: usize,
        out_size: usize,
        p: ChooseParams,
        recurse_to_leaf: bool,
        mut out2: Option<&mut [i32]>,
        parent_r: i32,
    ) -> usize {
        let mut count = out_size;
        let mut rep: i32 = if p.stable != 0 { 0 } else { outpos as i32 };
        while rep < numrep && count > 0 {
            let mut ftotal: u32 = 0;
            let mut skip_rep = false;
            let mut item;
            'descent: loop {
                let mut retry_descent = false;
                let mut in_bucket = bucket;
                let mut flocal: u32 = 0;
                loop {
                    let mut collide = false;
                    let mut retry_bucket = false;
                    let r = rep.wrapping_add(parent_r).wrapping_add(ftotal as i32);
                    let mut reject;
                    let in_size = in_bucket.size() as u32;
                    if in_size == 0 {
                        reject = true;
                        item = 0;
                    } else {
                        item = if p.local_fallback_retries > 0
                            && flocal >= (in_size >> 1)
                            && flocal > p.local_fallback_retries
                        {
                            perm_choose(in_bucket, &mut perms[slot(in_bucket)], self.x, r as u32)
                        } else {
                            self.bucket_choose(perms, in_bucket, r as u32, outpos)
                        };
                        let item_type = match self.classify(item, type_id) {
                            Descent::Bad => {
                                skip_rep = true;
                                break 'descent;
                            }
                            Descent::Into(b) => {
                                in_bucket = b;
                                continue;
                            }
                            Descent::Found => type_id,
                        };
                        collide = out[..outpos].contains(&item);
                        reject = false;
                        if !collide && recurse_to_leaf {
                            if item < 0 {
                                let sub_r = if p.vary_r != 0 {
                                    r.wrapping_shr(p.vary_r - 1)
                                } else {
                                    0
                                };
                                let numrep = if p.stable != 0 { 1 } else { outpos as i32 + 1 };
                                let sub = ChooseParams {
                                    tries: p.recurse_tries,
                                    recurse_tries: 0,
                                    ..p
                                };
                                let got = match (out2.as_deref_mut(), self.map.bucket(item)) {
                                    (Some(o2), Some(leaf_bucket)) => self.choose_firstn(
                                        perms,
                                        leaf_bucket,
                                        numrep,
                                        0,
                                        o2,
                                        outpos,
                                        count,
                                        sub,
                                        false,
                                        None,
                                        sub_r,
                                    ),
                                    _ => outpos,
                                };
                                if got <= outpos {
                                    reject = true;
                                }
                            } else if let Some(o2) = out2.as_deref_mut() {
                                o2[outpos] = item;
                            }
                        }
                        if !reject && !collide && item_type == 0 {
                            reject = self.is_out(item);
                        }
                    }
                    if reject || collide {
                        ftotal += 1;
                        flocal += 1;
                        let local_retry = collide && flocal <= p.local_retries;
                        let exhaustive = p.local_fallback_retries > 0
                            && flocal <= in_size.wrapping_add(p.local_fallback_retries);
                        if local_retry || exhaustive {
                            retry_bucket = true;
                        } else if ftotal < p.tries {
                            retry_descent = true;
                        } else {
                            skip_rep = true;
                        }
                    }
                    if !retry_bucket {
                        break;
                    }
                }
                if !retry_descent {
                    break;
                }
            }
            if !skip_rep {
                out[outpos] = item;
                outpos += 1;
                count -= 1;
            }
            rep += 1;
        }
        outpos
    }

    /// `indep` selection: each position is filled independently and failures leave holes, so a
    /// device going away disturbs only its own position.
    #[allow(clippy::too_many_arguments)]
    fn choose_indep(
        &self,
        perms: &mut [Perm],
        bucket: &Bucket,
        left: usize,
        numrep: i32,
        type_id: i32,
        out: &mut [i32],
        outpos: usize,
        p: ChooseParams,
        recurse_to_leaf: bool,
        mut out2: Option<&mut [i32]>,
        parent_r: i32,
    ) {
        let endpos = outpos + left;
        let mut left = left;
        for rep in outpos..endpos {
            out[rep] = ITEM_UNDEF;
            if let Some(o2) = out2.as_deref_mut() {
                o2[rep] = ITEM_UNDEF;
            }
        }
        let mut ftotal: u32 = 0;
        while left > 0 && ftotal < p.tries {
            for rep in outpos..endpos {
                if out[rep] != ITEM_UNDEF {
                    continue;
                }
                let mut in_bucket = bucket;
                loop {
                    let mut r = (rep as i32).wrapping_add(parent_r);
                    let uniform_cycle = matches!(in_bucket.data, BucketData::Uniform { .. })
                        && in_bucket.size() as i32 % numrep == 0;
                    let stride = if uniform_cycle { numrep + 1 } else { numrep };
                    r = r.wrapping_add(stride.wrapping_mul(ftotal as i32));
                    if in_bucket.size() == 0 {
                        break;
                    }
                    let item = self.bucket_choose(perms, in_bucket, r as u32, outpos);
                    let item_type = match self.classify(item, type_id) {
                        Descent::Bad => {
                            set_none(out, out2.as_deref_mut(), rep);
                            left -= 1;
                            break;
                        }
                        Descent::Into(b) => {
                            in_bucket = b;
                            continue;
                        }
                        Descent::Found => type_id,
                    };
                    if out[outpos..endpos].contains(&item) {
                        break;
                    }
                    if recurse_to_leaf {
                        if item < 0 {
                            let sub = ChooseParams {
                                tries: p.recurse_tries,
                                recurse_tries: 0,
                                ..p
                            };
                            if let (Some(o2), Some(leaf_bucket)) =
                                (out2.as_deref_mut(), self.map.bucket(item))
                            {
                                self.choose_indep(
                                    perms,
                                    leaf_bucket,
                                    1,
                                    numrep,
                                    0,
                                    o2,
                                    rep,
                                    sub,
                                    false,
                                    None,
                                    r,
                                );
                                if o2[rep] == CRUSH_ITEM_NONE {
                                    break;
                                }
                            }
                        } else if let Some(o2) = out2.as_deref_mut() {
                            o2[rep] = item;
                        }
                    }
                    if item_type == 0 && self.is_out(item) {
                        break;
                    }
                    out[rep] = item;
                    left -= 1;
                    break;
                }
            }
            ftotal += 1;
        }
        for rep in outpos..endpos {
            if out[rep] == ITEM_UNDEF {
                out[rep] = CRUSH_ITEM_NONE;
            }
            if let Some(o2) = out2.as_deref_mut() {
                if o2[rep] == ITEM_UNDEF {
                    o2[rep] = CRUSH_ITEM_NONE;
                }
            }
        }
    }

    /// What a choice means for the descent looking for items of `type_id`: the item itself, a
    /// bucket to descend into, or nothing usable (a device beyond the map, a missing bucket, a
    /// device where a bucket type was wanted).
    fn classify(&self, item: i32, type_id: i32) -> Descent<'_> {
        if item >= self.map.max_devices {
            return Descent::Bad;
        }
        if item >= 0 {
            return if type_id == 0 {
                Descent::Found
            } else {
                Descent::Bad
            };
        }
        match self.map.bucket(item) {
            None => Descent::Bad,
            Some(b) if i32::from(b.type_id) == type_id => Descent::Found,
            Some(b) => Descent::Into(b),
        }
    }

    /// Whether a device is (partly) out for this input: reweighted devices reject a
    /// pseudo-random share of inputs.
    fn is_out(&self, item: i32) -> bool {
        let Some(&w) = usize::try_from(item).ok().and_then(|i| self.weights.get(i)) else {
            return true;
        };
        if w >= WEIGHT_IN {
            return false;
        }
        if w == 0 {
            return true;
        }
        (crush_hash32_2(self.x, item as u32) & 0xffff) >= w
    }

    fn bucket_choose(&self, perms: &mut [Perm], b: &Bucket, r: u32, position: usize) -> i32 {
        let x = self.x;
        match &b.data {
            BucketData::Uniform { .. } => perm_choose(b, &mut perms[slot(b)], x, r),
            BucketData::List {
                item_weights,
                sum_weights,
            } => list_choose(b, item_weights, sum_weights, x, r),
            BucketData::Tree { node_weights } => tree_choose(b, node_weights, x, r),
            BucketData::Straw { straws, .. } => straw_choose(b, straws, x, r),
            BucketData::Straw2 { item_weights } => {
                let arg = self.choose_args.and_then(|a| a.slot(slot(b)));
                straw2_choose(b, item_weights, arg, x, r, position)
            }
        }
    }
}

fn slot(b: &Bucket) -> usize {
    (-1 - b.id) as usize
}

fn set_none(out: &mut [i32], out2: Option<&mut [i32]>, rep: usize) {
    out[rep] = CRUSH_ITEM_NONE;
    if let Some(o2) = out2 {
        o2[rep] = CRUSH_ITEM_NONE;
    }
}

/// A bucket's hash of three values. Ceph defines only rjenkins1 (type 0): its hash functions
/// return 0 for any other type, and so does this, so such buckets map as Ceph maps them.
#[inline(always)]
fn bucket_hash3(b: &Bucket, x: u32, y: u32, z: u32) -> u32 {
    if b.hash == CRUSH_HASH_RJENKINS1 {
        crush_hash32_3(x, y, z)
    } else {
        0
    }
}

/// [`bucket_hash3`] of four values.
#[inline(always)]
fn bucket_hash4(b: &Bucket, x: u32, y: u32, z: u32, w: u32) -> u32 {
    if b.hash == CRUSH_HASH_RJENKINS1 {
        crush_hash32_4(x, y, z, w)
    } else {
        0
    }
}

/// Picks position `r mod size` of a pseudo-random permutation of the bucket, extending the
/// cached permutation only as far as needed.
fn perm_choose(b: &Bucket, perm: &mut Perm, x: u32, r: u32) -> i32 {
    let size = b.size() as u32;
    let pr = r % size;
    let id = b.id as u32;
    let fresh =
        perm.x != x || (perm.fixed == 0 && !perm.first_only) || perm.order.len() != size as usize;
    if fresh {
        perm.x = x;
        perm.order.resize(size as usize, 0);
        if pr == 0 {
            let s = bucket_hash3(b, x, id, 0) % size;
            perm.order[0] = s;
            perm.first_only = true;
            perm.fixed = 0;
            return b.items[s as usize];
        }
        perm.first_only = false;
        for (i, v) in perm.order.iter_mut().enumerate() {
            *v = i as u32;
        }
        perm.fixed = 0;
    } else if perm.first_only {
        // Complete the r = 0 shortcut: it was the first swap of the full permutation.
        let s = perm.order[0];
        for (i, v) in perm.order.iter_mut().enumerate().skip(1) {
            *v = i as u32;
        }
        perm.order[s as usize] = 0;
        perm.order[0] = s;
        perm.first_only = false;
        perm.fixed = 1;
    }
    while perm.fixed <= pr {
        let p = perm.fixed;
        if p + 1 < size {
            let i = bucket_hash3(b, x, id, p) % (size - p);
            if i != 0 {
                perm.order.swap(p as usize, (p + i) as usize);
            }
        }
        perm.fixed += 1;
    }
    b.items[perm.order[pr as usize] as usize]
}

fn list_choose(b: &Bucket, item_weights: &[u32], sum_weights: &[u32], x: u32, r: u32) -> i32 {
    for i in (0..b.items.len()).rev() {
        let draw = u64::from(bucket_hash4(b, x, b.items[i] as u32, r, b.id as u32) & 0xffff);
        let scaled = (draw * u64::from(sum_weights[i])) >> 16;
        if scaled < u64::from(item_weights[i]) {
            return b.items[i];
        }
    }
    b.items[0]
}

fn tree_choose(b: &Bucket, node_weights: &[u32], x: u32, r: u32) -> i32 {
    let mut n = node_weights.len() >> 1;
    if n == 0 {
        return CRUSH_ITEM_NONE;
    }
    while n & 1 == 0 {
        let w = u64::from(node_weights[n]);
        let t = (u64::from(bucket_hash4(b, x, n as u32, r, b.id as u32)) * w) >> 32;
        let half = 1usize << (tree_height(n) - 1);
        let l = n - half;
        n = if t < u64::from(node_weights[l]) {
            l
        } else {
            n + half
        };
    }
    // A walk can end on a leaf past the last item: in an all-zero tree (always right), or where
    // Ceph's compiler left interior weights uninitialised. Ceph then reads past its item array,
    // into the zeroed padding of the allocation — item 0 — and so do we, to map identically.
    b.items.get(n >> 1).copied().unwrap_or(0)
}

fn straw_choose(b: &Bucket, straws: &[u32], x: u32, r: u32) -> i32 {
    let mut high = 0;
    let mut high_draw = 0u64;
    for (i, (&item, &straw)) in b.items.iter().zip(straws).enumerate() {
        let draw = u64::from(bucket_hash3(b, x, item as u32, r) & 0xffff) * u64::from(straw);
        if i == 0 || draw > high_draw {
            high = i;
            high_draw = draw;
        }
    }
    b.items[high]
}

/// straw2: every item draws `ln(hash)/weight`; the longest straw wins.
fn straw2_choose(
    b: &Bucket,
    item_weights: &[u32],
    arg: Option<&ChooseArg>,
    x: u32,
    r: u32,
    position: usize,
) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only requirement of this function.
            return unsafe { straw2_choose_avx2(b, item_weights, arg, x, r, position) };
        }
    }
    straw2_choose_impl(b, item_weights, arg, x, r, position)
}

/// straw2 compiled for AVX2: the lane-parallel hash inlined into the loop.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn straw2_choose_avx2(
    b: &Bucket,
    item_weights: &[u32],
    arg: Option<&ChooseArg>,
    x: u32,
    r: u32,
    position: usize,
) -> i32 {
    straw2_choose_impl(b, item_weights, arg, x, r, position)
}

#[inline(always)]
fn straw2_choose_impl(
    b: &Bucket,
    item_weights: &[u32],
    arg: Option<&ChooseArg>,
    x: u32,
    r: u32,
    position: usize,
) -> i32 {
    let n = b.items.len();
    // Arguments sized for another bucket (a choose_args set of another map) are ignored.
    let weight_set = match arg {
        Some(a) if !a.weight_set.is_empty() => {
            Some(&a.weight_set[position.min(a.weight_set.len() - 1)][..]).filter(|ws| ws.len() == n)
        }
        _ => None,
    };
    let weights = weight_set.unwrap_or(item_weights);
    let ids = match arg {
        Some(a) if a.ids.len() == n => &a.ids[..],
        _ => &b.items[..],
    };
    let mut high = 0;
    let mut high_draw = 0i64;
    let mut start = 0;
    while start < n {
        let lanes = (n - start).min(HASH_LANES);
        let mut lane_ids = [0u32; HASH_LANES];
        for (k, id) in lane_ids.iter_mut().take(lanes).enumerate() {
            *id = ids[start + k] as u32;
        }
        let hashes = if b.hash == CRUSH_HASH_RJENKINS1 {
            hash_lanes(x, &lane_ids, r)
        } else {
            [0; HASH_LANES]
        };
        for (k, &hash) in hashes.iter().take(lanes).enumerate() {
            let i = start + k;
            let draw = match weights[i] {
                0 => i64::MIN,
                w => {
                    // ln(u/65536) in fixed point: -2^48 ..= 0. Divided by the weight, truncating
                    // toward zero like C: a larger weight gives a larger (less negative) draw.
                    let neg_ln = neg_ln_table()[(hash & 0xffff) as usize];
                    let q = match weight_set {
                        None => b.divisors[i].div(neg_ln),
                        Some(_) => neg_ln / u64::from(w),
                    };
                    -(q as i64)
                }
            };
            if i == 0 || draw > high_draw {
                high = i;
                high_draw = draw;
            }
        }
        start += lanes;
    }
    b.items[high]
}

/// `2^48 - crush_ln(u)` for every 16-bit `u`: straw2's draws look it up instead of computing it
/// (512 KiB, built on first use; a lookup is cheaper than the dependent chain of the computation).
fn neg_ln_table() -> &'static [u64] {
    static TABLE: std::sync::OnceLock<Box<[u64]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..0x10000u32)
            .map(|u| 0x1_0000_0000_0000 - crush_ln(u))
            .collect()
    })
}

/// 2^44 · log2(x + 1) in fixed point, from Ceph's tables.
fn crush_ln(xin: u32) -> u64 {
    let mut x = xin + 1;
    let mut iexpon: u64 = 15;
    if x & 0x18000 == 0 {
        let bits = (x & 0x1ffff).leading_zeros() - 16;
        x <<= bits;
        iexpon = 15 - u64::from(bits);
    }
    let index1 = ((x >> 8) << 1) as usize;
    let rh = RH_LH[index1 - 256];
    let lh = RH_LH[index1 + 1 - 256];
    let xl64 = u64::from(x).wrapping_mul(rh) >> 48;
    let ll = LL[(xl64 & 0xff) as usize];
    (iexpon << 44) + ((lh + ll) >> 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_endpoints() {
        // ln of the top input is (almost) 2^48: the draw for u = 0xffff is (almost) zero.
        assert_eq!(
            crush_ln(0xffff),
            (15u64 << 44) + ((0xffff_0000_0000u64 + LL[0]) >> 4)
        );
        assert_eq!(crush_ln(0), 0);
        assert!(crush_ln(1) < crush_ln(2));
    }

    #[test]
    fn ln_tracks_log2() {
        // Ceph's tables are not exactly their formulas (and not even monotonic), but every value
        // stays within 0.1% of 2^44 · log2(u + 1).
        for u in 0..0x10000u32 {
            let exact = 2f64.powi(44) * f64::from(u + 1).log2();
            let got = crush_ln(u) as f64;
            assert!(
                (got - exact).abs() <= 2f64.powi(44) * 1e-3,
                "crush_ln({u}) = {got}, want {exact}"
            );
        }
    }
}

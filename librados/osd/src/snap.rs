//! Snapshots on the OSD: the SnapSet each head object carries, which version of an object a
//! snap id reads, when a write must clone the head first, and what trimming removed snaps
//! leaves.
//!
//! A head object's SnapSet lists its clones, oldest first. A clone is named by the write
//! context's `seq` at the time it was made and serves the snaps listed with it (those taken
//! between the previous clone and it). Each clone also records its size and the extents it
//! shares with the next newer version (clone or head), which is what it costs in space.
//!
//! Everything here is pure; `exec` and the PG's trimmer apply the results to the store.

use crate::msg::ops::{CloneListing, SnapContext, SnapListing};
use crate::store::SNAP_HEAD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The head's xattr holding its [`SnapSet`].
pub const SS_ATTR: &str = "ss";

/// One clone of an object: its id (the snap context seq of the write that made it), the
/// snaps it serves (newest first; none left means it can go), its size, and the extents it
/// shares with the next newer version. The same record lists it to clients.
pub use crate::msg::ops::CloneListing as CloneInfo;

/// An object's snapshot state, kept on its head.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapSet {
    /// The newest snap context seq the object was written under.
    pub seq: u64,
    /// Oldest first (ascending ids).
    pub clones: Vec<CloneInfo>,
}

/// Which stored version a read at some snap sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    Head,
    Clone(u64),
    /// The object did not exist at that snap.
    Missing,
}

impl SnapSet {
    pub fn encode(&self) -> Bytes {
        Bytes::from(rmp_serde::to_vec(self).unwrap_or_default())
    }

    /// Decodes a stored SnapSet; `None` when the bytes are damaged.
    pub fn decode(b: &[u8]) -> Option<SnapSet> {
        rmp_serde::from_slice(b).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.seq == 0 && self.clones.is_empty()
    }

    pub fn clone_info(&self, id: u64) -> Option<&CloneInfo> {
        self.clones.iter().find(|c| c.id == id)
    }

    /// The version a read at `snap` sees, given whether the head exists (not a whiteout).
    pub fn resolve(&self, snap: u64, head_exists: bool) -> Resolved {
        let head = if head_exists {
            Resolved::Head
        } else {
            Resolved::Missing
        };
        if snap == SNAP_HEAD || snap > self.seq {
            // No write since `snap` was taken has preserved an older version.
            return head;
        }
        match self.clones.iter().find(|c| c.id >= snap) {
            Some(c) if c.snaps.contains(&snap) => Resolved::Clone(c.id),
            _ => Resolved::Missing,
        }
    }

    /// Bytes the clones hold that their next newer version does not share.
    pub fn clone_bytes(&self) -> u64 {
        self.clones
            .iter()
            .map(|c| c.size.saturating_sub(extents_len(&c.overlap)))
            .sum()
    }

    /// Prepares a write under `snapc` (already filtered of removed snaps): when the context
    /// has a snap newer than the object's last one and the head exists, the head must first be
    /// preserved as a clone; the new clone's info is returned. `seq` advances either way.
    pub fn make_writeable(
        &mut self,
        snapc: &SnapContext,
        head_exists: bool,
        head_size: u64,
    ) -> Option<CloneInfo> {
        let mut made = None;
        if head_exists && snapc.snaps.first().is_some_and(|&s| s > self.seq) {
            let snaps: Vec<u64> = snapc
                .snaps
                .iter()
                .copied()
                .take_while(|&s| s > self.seq)
                .collect();
            let clone = CloneInfo {
                id: snapc.seq,
                snaps,
                size: head_size,
                overlap: if head_size > 0 {
                    vec![(0, head_size)]
                } else {
                    Vec::new()
                },
            };
            self.clones.push(clone.clone());
            made = Some(clone);
        }
        self.seq = self.seq.max(snapc.seq);
        made
    }

    /// The head changed in `[offset, offset + len)`: the newest clone no longer shares it.
    pub fn head_modified(&mut self, offset: u64, len: u64) {
        if let Some(c) = self.clones.last_mut() {
            subtract(&mut c.overlap, offset, len);
        }
    }

    /// The head became a copy of clone `id` (a rollback): the newest clone shares with it
    /// what every version from that clone up to the newest shares.
    pub fn head_rolled_back_to(&mut self, id: u64) {
        let Some(from) = self.clones.iter().position(|c| c.id == id) else {
            return;
        };
        let last = self.clones.len() - 1;
        let size = self.clones[from].size;
        let mut shared = if size > 0 {
            vec![(0, size)]
        } else {
            Vec::new()
        };
        for c in &self.clones[from..last] {
            shared = intersect(&shared, &c.overlap);
        }
        let newest = &mut self.clones[last];
        shared = intersect(&shared, &[(0, newest.size)]);
        newest.overlap = shared;
    }

    /// Drops `removed` from every clone's snaps and returns the ids of clones left serving
    /// none (to delete). The overlaps of the clones kept are narrowed to what they share with
    /// their new next newer version.
    pub fn trim(&mut self, removed: &BTreeSet<u64>) -> Vec<u64> {
        let mut gone = Vec::new();
        let mut kept: Vec<CloneInfo> = Vec::with_capacity(self.clones.len());
        for mut c in std::mem::take(&mut self.clones) {
            c.snaps.retain(|s| !removed.contains(s));
            if c.snaps.is_empty() {
                if let Some(prev) = kept.last_mut() {
                    prev.overlap = intersect(&prev.overlap, &c.overlap);
                }
                gone.push(c.id);
            } else {
                kept.push(c);
            }
        }
        self.clones = kept;
        gone
    }

    /// Whether any clone serves one of `snaps`.
    pub fn serves_any(&self, snaps: &BTreeSet<u64>) -> bool {
        self.clones
            .iter()
            .any(|c| c.snaps.iter().any(|s| snaps.contains(s)))
    }

    /// The listing clients see: the clones, then the head when it exists.
    pub fn listing(&self, head: Option<u64>) -> SnapListing {
        let mut clones = self.clones.clone();
        if let Some(size) = head {
            clones.push(CloneListing {
                id: SNAP_HEAD,
                snaps: Vec::new(),
                size,
                overlap: Vec::new(),
            });
        }
        SnapListing {
            seq: self.seq,
            clones,
        }
    }
}

/// The snap context a write runs under: the pool's own in pool-snapshot mode, else the
/// client's, without snaps that were removed (a clone serving only those would never be
/// trimmed).
pub fn effective_snapc(pool: &crate::osdmap::Pool, client: &SnapContext) -> SnapContext {
    use crate::osdmap::pool_flags as flags;
    let mut snapc = if pool.flags & flags::POOL_SNAPS != 0 {
        SnapContext {
            seq: pool.snap_seq,
            snaps: pool.snaps.keys().rev().copied().collect(),
        }
    } else {
        client.clone()
    };
    if !pool.removed_snaps.is_empty() {
        let removed: BTreeSet<u64> = pool.removed_snaps.iter().copied().collect();
        snapc.snaps.retain(|s| !removed.contains(s));
    }
    snapc
}

fn extents_len(e: &[(u64, u64)]) -> u64 {
    e.iter().map(|&(_, l)| l).sum()
}

/// The extents of clone `c` it does not share with the next newer version (what must travel
/// when it is pushed).
pub fn unshared_extents(c: &CloneInfo) -> Vec<(u64, u64)> {
    let mut delta = if c.size > 0 {
        vec![(0, c.size)]
    } else {
        Vec::new()
    };
    for &(o, len) in &c.overlap {
        subtract(&mut delta, o, len);
    }
    delta
}

/// Removes `[offset, offset + len)` from a sorted, disjoint extent list.
pub fn subtract(e: &mut Vec<(u64, u64)>, offset: u64, len: u64) {
    if len == 0 {
        return;
    }
    let end = offset.saturating_add(len);
    let mut out = Vec::with_capacity(e.len() + 1);
    for &(o, l) in e.iter() {
        let oe = o + l;
        if oe <= offset || o >= end {
            out.push((o, l));
            continue;
        }
        if o < offset {
            out.push((o, offset - o));
        }
        if oe > end {
            out.push((end, oe - end));
        }
    }
    *e = out;
}

/// The extents in both sorted, disjoint lists.
pub fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let (ao, al) = a[i];
        let (bo, bl) = b[j];
        let (ae, be) = (ao + al, bo + bl);
        let start = ao.max(bo);
        let end = ae.min(be);
        if start < end {
            out.push((start, end - start));
        }
        if ae <= be {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx(seq: u64, snaps: &[u64]) -> SnapContext {
        SnapContext {
            seq,
            snaps: snaps.to_vec(),
        }
    }

    #[test]
    fn snap_context_validity() {
        assert!(ctx(0, &[]).is_valid());
        assert!(ctx(5, &[5, 3, 1]).is_valid());
        assert!(ctx(7, &[5]).is_valid());
        assert!(!ctx(4, &[5]).is_valid(), "snap above seq");
        assert!(!ctx(5, &[3, 5]).is_valid(), "not descending");
        assert!(!ctx(5, &[3, 3]).is_valid(), "duplicate");
        assert!(!ctx(5, &[0]).is_valid(), "snap id 0");
        assert!(!ctx(SNAP_HEAD, &[]).is_valid());
    }

    #[test]
    fn first_write_after_a_snap_clones_once() {
        let mut ss = SnapSet::default();
        // Created before any snap: nothing to clone.
        assert_eq!(ss.make_writeable(&ctx(0, &[]), false, 0), None);
        // Snap 1 taken; the next write clones the 100-byte head.
        let c = ss.make_writeable(&ctx(1, &[1]), true, 100).unwrap();
        assert_eq!((c.id, c.snaps.clone(), c.size), (1, vec![1], 100));
        assert_eq!(ss.seq, 1);
        // A second write under the same context does not clone again.
        assert_eq!(ss.make_writeable(&ctx(1, &[1]), true, 100), None);
        // Snaps 2 and 3 taken: one clone serves both.
        let c = ss.make_writeable(&ctx(3, &[3, 2, 1]), true, 50).unwrap();
        assert_eq!((c.id, c.snaps), (3, vec![3, 2]));
        // A context whose seq moved but with no newer snap (a snap was removed) clones
        // nothing.
        assert_eq!(ss.make_writeable(&ctx(4, &[3, 2, 1]), true, 50), None);
        assert_eq!(ss.seq, 4);
        // A stale context neither clones nor moves seq back.
        assert_eq!(ss.make_writeable(&ctx(2, &[2, 1]), true, 50), None);
        assert_eq!(ss.seq, 4);
    }

    #[test]
    fn resolve_finds_the_covering_clone() {
        let mut ss = SnapSet::default();
        ss.make_writeable(&ctx(0, &[]), false, 0); // created
        ss.make_writeable(&ctx(2, &[2, 1]), true, 10); // clone 2 serves 2, 1
        ss.make_writeable(&ctx(5, &[5, 2, 1]), true, 20); // clone 5 serves 5
        assert_eq!(ss.resolve(1, true), Resolved::Clone(2));
        assert_eq!(ss.resolve(2, true), Resolved::Clone(2));
        assert_eq!(
            ss.resolve(3, true),
            Resolved::Missing,
            "snap 3 never existed"
        );
        assert_eq!(ss.resolve(5, true), Resolved::Clone(5));
        assert_eq!(ss.resolve(6, true), Resolved::Head);
        assert_eq!(ss.resolve(6, false), Resolved::Missing);
        assert_eq!(ss.resolve(SNAP_HEAD, true), Resolved::Head);
        // An object created after snap 7 did not exist at 7.
        let mut late = SnapSet::default();
        late.make_writeable(&ctx(7, &[7]), false, 0);
        assert_eq!(late.resolve(7, true), Resolved::Missing);
        assert_eq!(late.resolve(8, true), Resolved::Head);
    }

    #[test]
    fn overlap_tracks_head_changes_and_trim_merges() {
        let mut ss = SnapSet::default();
        ss.make_writeable(&ctx(1, &[1]), true, 100);
        ss.head_modified(10, 10);
        assert_eq!(ss.clones[0].overlap, vec![(0, 10), (20, 80)]);
        assert_eq!(ss.clone_bytes(), 10);
        ss.make_writeable(&ctx(2, &[2, 1]), true, 100);
        ss.head_modified(50, 50);
        assert_eq!(ss.clone_bytes(), 10 + 50);
        // Removing snap 2 drops clone 2; clone 1 now shares with the head only what both
        // shared.
        let gone = ss.trim(&BTreeSet::from([2]));
        assert_eq!(gone, vec![2]);
        assert_eq!(ss.clones[0].overlap, vec![(0, 10), (20, 30)]);
        assert_eq!(ss.clone_bytes(), 60);
        let gone = ss.trim(&BTreeSet::from([1]));
        assert_eq!(gone, vec![1]);
        assert!(ss.clones.is_empty());
        assert_eq!(ss.clone_bytes(), 0);
    }

    #[test]
    fn rollback_overlap_follows_the_chain() {
        let mut ss = SnapSet::default();
        ss.make_writeable(&ctx(1, &[1]), true, 100);
        ss.head_modified(0, 10);
        ss.make_writeable(&ctx(2, &[2, 1]), true, 100);
        ss.head_modified(90, 10);
        // Head := clone 1. Clone 2 shares with it what 1 shared with 2.
        ss.head_rolled_back_to(1);
        assert_eq!(ss.clones[1].overlap, vec![(10, 90)]);
        ss.head_rolled_back_to(2);
        assert_eq!(ss.clones[1].overlap, vec![(0, 100)]);
    }

    #[test]
    fn effective_context_uses_pool_snaps_and_drops_removed() {
        use crate::osdmap::{pool_flags as flags, PoolSnap};
        let mut pool = crate::osdmap::Pool::replicated(1, "p", 3, 8, 0);
        pool.flags |= flags::POOL_SNAPS;
        pool.snap_seq = 4;
        for id in [1, 3] {
            pool.snaps.insert(
                id,
                PoolSnap {
                    id,
                    name: format!("s{id}"),
                    created: Default::default(),
                },
            );
        }
        let c = effective_snapc(&pool, &ctx(99, &[99]));
        assert_eq!(c, ctx(4, &[3, 1]));
        pool.flags = flags::SELFMANAGED_SNAPS;
        pool.removed_snaps = vec![2];
        assert_eq!(effective_snapc(&pool, &ctx(3, &[3, 2, 1])), ctx(3, &[3, 1]));
    }

    fn extents() -> impl Strategy<Value = Vec<(u64, u64)>> {
        proptest::collection::vec((0u64..200, 1u64..40), 0..6).prop_map(|v| {
            let mut e = vec![(0u64, 256u64)];
            for (o, l) in v {
                subtract(&mut e, o, l);
            }
            e
        })
    }

    fn bits(e: &[(u64, u64)]) -> Vec<bool> {
        let mut b = vec![false; 300];
        for &(o, l) in e {
            for x in o..o + l {
                b[x as usize] = true;
            }
        }
        b
    }

    proptest! {
        #[test]
        fn extent_ops_match_bitmaps(a in extents(), b in extents(), o in 0u64..260, l in 0u64..60) {
            let i = intersect(&a, &b);
            let expect: Vec<bool> = bits(&a).iter().zip(bits(&b)).map(|(x, y)| *x && y).collect();
            prop_assert_eq!(bits(&i), expect);
            prop_assert!(i.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));
            let mut s = a.clone();
            subtract(&mut s, o, l);
            let expect: Vec<bool> = bits(&a)
                .iter()
                .enumerate()
                .map(|(x, v)| *v && !(o..o + l).contains(&(x as u64)))
                .collect();
            prop_assert_eq!(bits(&s), expect);
            prop_assert!(s.iter().all(|&(_, l)| l > 0));
        }
    }
}

//! Engine writes applied by transactions but not yet handed to the engine.
//!
//! Writers never touch the engine: a transaction's writes land here (visible to every read at
//! once) and in the commit queue. The commit thread turns everything queued into one engine
//! batch, syncs the engine journal once (group commit: writers never wait for a sync they do
//! not need), and only then drops the entries here. So every key is always either here or in
//! the engine, and reads that merge the two under the read lock see one consistent state.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Bound;

/// The engine keyspaces a write can go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ks {
    Onode = 0,
    Data = 1,
    Omap = 2,
    Alloc = 3,
    Meta = 4,
}

/// One engine write: a put (`Some`) or a remove (`None`).
pub type Write1 = (Ks, Vec<u8>, Option<Bytes>);

/// Key → (sequence number of the transaction that wrote it, value or removal).
type Staged = BTreeMap<Vec<u8>, (u64, Option<Bytes>)>;

#[derive(Default)]
pub struct Pending {
    maps: [Staged; 5],
}

impl Pending {
    /// `Some(Some(v))`: pending put; `Some(None)`: pending remove; `None`: ask the engine.
    pub fn get(&self, ks: Ks, key: &[u8]) -> Option<Option<Bytes>> {
        self.maps[ks as usize].get(key).map(|(_, v)| v.clone())
    }

    pub fn insert(&mut self, seq: u64, writes: &[Write1]) {
        for (ks, k, v) in writes {
            self.maps[*ks as usize].insert(k.clone(), (seq, v.clone()));
        }
    }

    /// Drops entries the engine now holds: those written by transactions up to `seq`.
    pub fn retire(&mut self, seq: u64, writes: &[Write1]) {
        for (ks, k, _) in writes {
            let map = &mut self.maps[*ks as usize];
            if map.get(k.as_slice()).is_some_and(|(s, _)| *s <= seq) {
                map.remove(k.as_slice());
            }
        }
    }

    /// Pending entries of `ks` in `[lower, upper)`, in key order.
    pub fn range(
        &self,
        ks: Ks,
        lower: &[u8],
        upper: Option<&[u8]>,
    ) -> Vec<(Vec<u8>, Option<Bytes>)> {
        let hi = upper.map_or(Bound::Unbounded, Bound::Excluded);
        self.maps[ks as usize]
            .range::<[u8], _>((Bound::Included(lower), hi))
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(BTreeMap::is_empty)
    }
}

enum Next {
    Engine,
    Pending,
    /// The pending entry replaces the engine's entry with the same key.
    Shadow,
}

/// Merges an engine range scan with the pending entries of the same range: pending puts
/// replace or add, pending removes hide. Calls `f` in key order until it returns false.
pub fn merge_scan<V, E>(
    engine: impl Iterator<Item = Result<(Vec<u8>, V), E>>,
    pending: Vec<(Vec<u8>, Option<V>)>,
    mut f: impl FnMut(&[u8], &V) -> bool,
) -> Result<(), E> {
    let mut engine = engine.peekable();
    let mut pending = pending.into_iter().peekable();
    loop {
        let next = match (engine.peek(), pending.peek()) {
            (None, None) => return Ok(()),
            (Some(Err(_)), _) | (Some(_), None) => Next::Engine,
            (None, Some(_)) => Next::Pending,
            (Some(Ok((ek, _))), Some((pk, _))) => match pk.cmp(ek) {
                std::cmp::Ordering::Less => Next::Pending,
                std::cmp::Ordering::Equal => Next::Shadow,
                std::cmp::Ordering::Greater => Next::Engine,
            },
        };
        if matches!(next, Next::Shadow) {
            engine.next();
        }
        let go_on = match next {
            Next::Engine => match engine.next() {
                Some(Ok((k, v))) => f(&k, &v),
                Some(Err(e)) => return Err(e),
                None => true,
            },
            Next::Pending | Next::Shadow => match pending.next() {
                Some((k, Some(v))) => f(&k, &v),
                _ => true,
            },
        };
        if !go_on {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_entries_shadow_the_engine() {
        let engine: Vec<Result<(Vec<u8>, Bytes), ()>> = ["a", "b", "d"]
            .iter()
            .map(|k| Ok((k.as_bytes().to_vec(), Bytes::from("engine"))))
            .collect();
        let pending = vec![
            (b"b".to_vec(), None),
            (b"c".to_vec(), Some(Bytes::from("new"))),
            (b"d".to_vec(), Some(Bytes::from("newer"))),
        ];
        let mut seen = Vec::new();
        merge_scan(engine.into_iter(), pending, |k, v| {
            seen.push((String::from_utf8(k.to_vec()).unwrap(), v.clone()));
            true
        })
        .unwrap();
        let want = [("a", "engine"), ("c", "new"), ("d", "newer")];
        assert_eq!(seen.len(), 3);
        for ((k, v), (wk, wv)) in seen.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_ref()), (wk, wv.as_bytes()));
        }
    }

    #[test]
    fn retire_keeps_entries_rewritten_later() {
        let mut p = Pending::default();
        let w1 = vec![(Ks::Onode, b"k".to_vec(), Some(Bytes::from("1")))];
        let w2 = vec![(Ks::Onode, b"k".to_vec(), Some(Bytes::from("2")))];
        p.insert(1, &w1);
        p.insert(2, &w2);
        p.retire(1, &w1);
        assert_eq!(p.get(Ks::Onode, b"k"), Some(Some(Bytes::from("2"))));
        p.retire(2, &w2);
        assert!(p.is_empty());
    }
}

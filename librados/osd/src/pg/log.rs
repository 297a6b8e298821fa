//! The PG log: the recent writes of a PG, in order, kept in memory and in the omap of the PG's
//! metadata object (written in the same transaction as each write, so log and data never
//! disagree).
//!
//! ```text
//! pgmeta object: the object with an empty name and hash = PG seed in the PG's collection
//!   omap "info"                      -> PgInfo (versioned MessagePack)
//!   omap "log.EEEEEEEEEE.VVVVVVVVVVVVVVVVVVVV" -> LogEntry (epoch and version zero-padded,
//!                                       so key order is log order)
//!   omap "missing." + (hash, name)    -> empty: an object this replica's log names that it
//!                                       does not hold yet (recovery of an active PG)
//! ```

use crate::encoding;
use crate::msg::ops::{Eversion, ReqId};
use crate::msg::peering::{LogEntry, PgInfo};
use crate::osdmap::PgId;
use crate::store::{CollectionId, ObjectId, ObjectStore, StoreError, StoreResult, Transaction};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

/// Entries kept; older ones are trimmed as new ones arrive. A replica further behind than
/// this is backfilled instead of recovered from the log.
pub const LOG_MAX_ENTRIES: usize = 3000;

const INFO_KEY: &[u8] = b"info";
const LOG_PREFIX: &str = "log.";
const LOG_END: &[u8] = b"log/";
const MISSING_PREFIX: &[u8] = b"missing.";
const MISSING_END: &[u8] = b"missing/";
const INFO_KIND: &str = "pg-info";
const ENTRY_KIND: &str = "pg-log-entry";

pub fn collection(pgid: PgId) -> CollectionId {
    CollectionId::new(pgid.pool, pgid.seed)
}

/// The PG's metadata object: an empty name (clients cannot use it) at the PG's own seed.
pub fn pgmeta(pgid: PgId) -> ObjectId {
    ObjectId::new(pgid.pool, "", pgid.seed)
}

fn entry_key(v: Eversion) -> Bytes {
    Bytes::from(format!("{LOG_PREFIX}{:010}.{:020}", v.epoch, v.version))
}

fn corrupt(pgid: PgId, detail: String) -> StoreError {
    StoreError::Corrupt {
        object: Box::new(pgmeta(pgid)),
        detail,
    }
}

/// The in-memory log and the request ids it covers.
#[derive(Clone, Debug, Default)]
pub struct PgLog {
    entries: VecDeque<LogEntry>,
    dups: HashMap<ReqId, (Eversion, u64)>,
}

impl PgLog {
    pub fn from_entries(entries: Vec<LogEntry>) -> PgLog {
        let mut log = PgLog::default();
        for e in entries {
            log.dups.insert(e.reqid, (e.version, e.user_version));
            log.entries.push_back(e);
        }
        log
    }

    pub fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }

    pub fn to_vec(&self) -> Vec<LogEntry> {
        self.entries.iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of a request already applied.
    pub fn find_request(&self, reqid: &ReqId) -> Option<&LogEntry> {
        let (version, _) = self.dups.get(reqid)?;
        let i = self
            .entries
            .binary_search_by(|e| e.version.cmp(version))
            .ok()?;
        self.entries.get(i)
    }

    /// Adds `entry` (and `info`, which the caller has moved to the entry) to `txn`, with the
    /// removal of entries that [`PgLog::apply_append`] will trim; `info.log_tail` moves with
    /// them. Changes nothing in memory, so a transaction the store refuses leaves no trace.
    pub fn stage_append(
        &self,
        entry: &LogEntry,
        info: &mut PgInfo,
        txn: &mut Transaction,
    ) -> StoreResult<()> {
        let cid = collection(info.pgid);
        let meta = pgmeta(info.pgid);
        let value = encoding::encode(ENTRY_KIND, 1, entry)
            .map_err(|e| corrupt(info.pgid, e.to_string()))?;
        let excess = (self.entries.len() + 1).saturating_sub(LOG_MAX_ENTRIES);
        let trimmed: Vec<Bytes> = self
            .entries
            .iter()
            .take(excess)
            .map(|e| entry_key(e.version))
            .collect();
        if let Some(last) = self.entries.iter().take(excess).next_back() {
            info.log_tail = last.version;
        }
        if !trimmed.is_empty() {
            txn.omap_rmkeys(cid, &meta, trimmed);
        }
        txn.omap_setkeys(
            cid,
            &meta,
            vec![
                (entry_key(entry.version), Bytes::from(value)),
                (Bytes::from_static(INFO_KEY), encode_info(info)?),
            ],
        );
        Ok(())
    }

    /// Records in memory an entry whose transaction the store accepted; returns the new log
    /// tail when entries were trimmed.
    pub fn apply_append(&mut self, entry: LogEntry) -> Option<Eversion> {
        self.dups
            .insert(entry.reqid, (entry.version, entry.user_version));
        self.entries.push_back(entry);
        let mut tail = None;
        while self.entries.len() > LOG_MAX_ENTRIES {
            let old = self.entries.pop_front().expect("non-empty");
            if self
                .dups
                .get(&old.reqid)
                .is_some_and(|(v, _)| *v == old.version)
            {
                self.dups.remove(&old.reqid);
            }
            tail = Some(old.version);
        }
        tail
    }

    /// The newest entry's version.
    pub fn head(&self) -> Option<Eversion> {
        self.entries.back().map(|e| e.version)
    }

    /// Replaces the stored log and info with `self` and `info` (on activation).
    pub fn rewrite(&self, info: &PgInfo, txn: &mut Transaction) -> StoreResult<()> {
        let cid = collection(info.pgid);
        let meta = pgmeta(info.pgid);
        txn.omap_rmkeyrange(
            cid,
            &meta,
            Bytes::from_static(LOG_PREFIX.as_bytes()),
            Bytes::from_static(LOG_END),
        );
        let mut sets = Vec::with_capacity(self.entries.len() + 1);
        for e in &self.entries {
            let value = encoding::encode(ENTRY_KIND, 1, e)
                .map_err(|err| corrupt(info.pgid, err.to_string()))?;
            sets.push((entry_key(e.version), Bytes::from(value)));
        }
        sets.push((Bytes::from_static(INFO_KEY), encode_info(info)?));
        txn.omap_setkeys(cid, &meta, sets);
        Ok(())
    }
}

pub fn encode_info(info: &PgInfo) -> StoreResult<Bytes> {
    encoding::encode(INFO_KIND, 1, info)
        .map(Bytes::from)
        .map_err(|e| corrupt(info.pgid, e.to_string()))
}

/// Records `info` alone in `txn`.
pub fn write_info(info: &PgInfo, txn: &mut Transaction) -> StoreResult<()> {
    let v = encode_info(info)?;
    txn.omap_setkeys(
        collection(info.pgid),
        &pgmeta(info.pgid),
        vec![(Bytes::from_static(INFO_KEY), v)],
    );
    Ok(())
}

/// The object a PG's missing set is keyed by.
pub type MissingKey = (u32, crate::msg::ops::ObjectName);

fn missing_key(pgid: PgId, key: &MissingKey) -> StoreResult<Bytes> {
    let mut k = MISSING_PREFIX.to_vec();
    rmp_serde::encode::write(&mut k, key).map_err(|e| corrupt(pgid, e.to_string()))?;
    Ok(Bytes::from(k))
}

/// Replaces the stored missing set with `missing`, in `txn`.
pub fn stage_missing_replace(
    pgid: PgId,
    missing: &std::collections::BTreeSet<MissingKey>,
    txn: &mut Transaction,
) -> StoreResult<()> {
    let (cid, meta) = (collection(pgid), pgmeta(pgid));
    txn.omap_rmkeyrange(
        cid,
        &meta,
        Bytes::from_static(MISSING_PREFIX),
        Bytes::from_static(MISSING_END),
    );
    if !missing.is_empty() {
        let keys = missing
            .iter()
            .map(|m| Ok((missing_key(pgid, m)?, Bytes::new())))
            .collect::<StoreResult<Vec<_>>>()?;
        txn.omap_setkeys(cid, &meta, keys);
    }
    Ok(())
}

/// Drops objects from the stored missing set, in `txn`.
pub fn stage_missing_remove(
    pgid: PgId,
    found: &[MissingKey],
    txn: &mut Transaction,
) -> StoreResult<()> {
    if found.is_empty() {
        return Ok(());
    }
    let keys = found
        .iter()
        .map(|m| missing_key(pgid, m))
        .collect::<StoreResult<Vec<_>>>()?;
    txn.omap_rmkeys(collection(pgid), &pgmeta(pgid), keys);
    Ok(())
}

/// Loads a PG's missing set (empty without a metadata object).
pub fn load_missing(
    store: &dyn ObjectStore,
    pgid: PgId,
) -> StoreResult<std::collections::BTreeSet<MissingKey>> {
    let (cid, meta) = (collection(pgid), pgmeta(pgid));
    let mut out = std::collections::BTreeSet::new();
    if store.collection_bits(cid).is_err() || !store.exists(cid, &meta)? {
        return Ok(out);
    }
    let page = store.omap_list(cid, &meta, None, Some(MISSING_PREFIX), usize::MAX)?;
    for (k, _) in page.entries {
        let key: MissingKey = rmp_serde::from_slice(&k[MISSING_PREFIX.len()..])
            .map_err(|e| corrupt(pgid, format!("bad missing-set key: {e}")))?;
        out.insert(key);
    }
    Ok(out)
}

/// Loads a PG's info and log; `None` when the PG has no metadata object yet.
pub fn load(store: &dyn ObjectStore, pgid: PgId) -> StoreResult<Option<(PgInfo, PgLog)>> {
    let cid = collection(pgid);
    let meta = pgmeta(pgid);
    if store.collection_bits(cid).is_err() || !store.exists(cid, &meta)? {
        return Ok(None);
    }
    let vals = store.omap_get_values(cid, &meta, &[Bytes::from_static(INFO_KEY)])?;
    let Some(raw) = vals.get(INFO_KEY) else {
        return Ok(None);
    };
    let (_, info): (u16, PgInfo) =
        encoding::decode(INFO_KIND, 1, raw).map_err(|e| corrupt(pgid, e.to_string()))?;
    let page = store.omap_list(cid, &meta, None, Some(LOG_PREFIX.as_bytes()), usize::MAX)?;
    let mut entries = Vec::with_capacity(page.entries.len());
    for (_, v) in page.entries {
        let (_, e): (u16, LogEntry) =
            encoding::decode(ENTRY_KIND, 1, &v).map_err(|err| corrupt(pgid, err.to_string()))?;
        entries.push(e);
    }
    Ok(Some((info, PgLog::from_entries(entries))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ops::ObjectName;
    use crate::msg::peering::LogOp;
    use crate::store::MemStore;

    fn entry(v: u64) -> LogEntry {
        LogEntry {
            version: Eversion {
                epoch: 3,
                version: v,
            },
            reqid: ReqId { client: 1, tid: v },
            object: ObjectName {
                name: format!("o{v}"),
                ..ObjectName::default()
            },
            hash: 0,
            op: LogOp::Modify,
            user_version: v,
            results: Vec::new(),
        }
    }

    #[test]
    fn the_missing_set_is_replaced_shrinks_and_reloads_beside_the_log() {
        let store = MemStore::new();
        let pgid = PgId::new(1, 0);
        assert!(load_missing(&store, pgid).unwrap().is_empty(), "no PG yet");
        let mut t = Transaction::new();
        t.create_collection(collection(pgid), 0);
        t.touch(collection(pgid), &pgmeta(pgid));
        let info = PgInfo {
            pgid,
            ..PgInfo::default()
        };
        let log = PgLog::from_entries((1..=3).map(entry).collect());
        log.rewrite(&info, &mut t).unwrap();
        let key = |n: &str, h| {
            (
                h,
                ObjectName {
                    namespace: "ns".into(),
                    name: n.into(),
                    ..ObjectName::default()
                },
            )
        };
        let set: std::collections::BTreeSet<MissingKey> =
            [key("a", 7), key("b.c", 0), key("", u32::MAX)].into();
        stage_missing_replace(pgid, &set, &mut t).unwrap();
        store.apply_transaction(t).unwrap();
        assert_eq!(load_missing(&store, pgid).unwrap(), set);
        // Rewriting the log leaves it alone; removing one drops only that one.
        let mut t = Transaction::new();
        log.rewrite(&info, &mut t).unwrap();
        stage_missing_remove(pgid, &[key("a", 7)], &mut t).unwrap();
        store.apply_transaction(t).unwrap();
        let left = load_missing(&store, pgid).unwrap();
        assert_eq!(left.len(), 2);
        assert!(!left.contains(&key("a", 7)));
        assert_eq!(load(&store, pgid).unwrap().unwrap().1.len(), 3);
        // A new activation replaces the whole set.
        let mut t = Transaction::new();
        stage_missing_replace(pgid, &[key("z", 1)].into(), &mut t).unwrap();
        store.apply_transaction(t).unwrap();
        assert_eq!(load_missing(&store, pgid).unwrap(), [key("z", 1)].into());
    }

    #[test]
    fn log_persists_trims_and_reloads() {
        let store = MemStore::new();
        let pgid = PgId::new(1, 0);
        let mut t = Transaction::new();
        t.create_collection(collection(pgid), 0);
        t.touch(collection(pgid), &pgmeta(pgid));
        store.apply_transaction(t).unwrap();
        let mut info = PgInfo {
            pgid,
            ..PgInfo::default()
        };
        let mut log = PgLog::default();
        for v in 1..=(LOG_MAX_ENTRIES as u64 + 5) {
            let mut t = Transaction::new();
            info.last_update = entry(v).version;
            log.stage_append(&entry(v), &mut info, &mut t).unwrap();
            store.apply_transaction(t).unwrap();
            log.apply_append(entry(v));
        }
        assert_eq!(log.len(), LOG_MAX_ENTRIES);
        assert_eq!(info.log_tail.version, 5);
        assert!(log.find_request(&ReqId { client: 1, tid: 5 }).is_none());
        assert!(log.find_request(&ReqId { client: 1, tid: 6 }).is_some());
        let (info2, log2) = load(&store, pgid).unwrap().unwrap();
        assert_eq!(info2, info);
        assert_eq!(log2.to_vec(), log.to_vec());
    }
}

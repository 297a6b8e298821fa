//! The Raft log of one monitor: entries, the vote and the commit point, as records of one
//! append-only file (the format of [`crate::log`]), with the live entries also in memory.
//!
//! Appends, votes, truncations and purges are durable before they are acknowledged (one
//! `fdatasync` per batch); the commit point is written behind them and made durable by the
//! next sync (replaying a record file in order rebuilds the same log). When purged records
//! outweigh the live ones the file is rewritten with only what is live.

use super::{Rank, TypeConfig};
use crate::log::{Record, RecordFile};
use crate::MonError;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// One record of the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RaftRecord {
    Entry(Entry<TypeConfig>),
    Vote(Vote<Rank>),
    Committed(Option<LogId<Rank>>),
    /// Entries from this index on are gone.
    TruncatedFrom(u64),
    /// Entries up to this one are gone (a snapshot holds them).
    Purged(LogId<Rank>),
}

impl Record for RaftRecord {
    const MAGIC: &'static [u8; 8] = b"RDMONRF1";
    const KIND: &'static str = "mon-raft-record";
    const VERSION: u16 = 1;
    const WHAT: &'static str = "a monitor's consensus log";
}

struct Inner {
    file: RecordFile<RaftRecord>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    vote: Option<Vote<Rank>>,
    committed: Option<LogId<Rank>>,
    purged: Option<LogId<Rank>>,
    /// Records in the file (live or not), to know when to rewrite it.
    records: usize,
}

impl Inner {
    fn replay(&mut self, r: RaftRecord) {
        match r {
            RaftRecord::Entry(e) => {
                let at = e.log_id.index;
                self.entries.split_off(&at);
                self.entries.insert(at, e);
            }
            RaftRecord::Vote(v) => self.vote = Some(v),
            RaftRecord::Committed(c) => self.committed = c,
            RaftRecord::TruncatedFrom(at) => {
                self.entries.split_off(&at);
            }
            RaftRecord::Purged(id) => {
                self.entries = self.entries.split_off(&(id.index + 1));
                self.purged = Some(id);
            }
        }
    }

    /// What a rewritten file holds.
    fn live(&self) -> Vec<RaftRecord> {
        let mut out = Vec::with_capacity(self.entries.len() + 3);
        out.extend(self.vote.map(RaftRecord::Vote));
        out.push(RaftRecord::Committed(self.committed));
        out.extend(self.purged.map(RaftRecord::Purged));
        out.extend(self.entries.values().cloned().map(RaftRecord::Entry));
        out
    }
}

/// What the log held when opened.
#[derive(Clone, Copy, Debug)]
pub struct Opened {
    entries: usize,
    voted: bool,
    purged: bool,
}

impl Opened {
    /// Nothing was ever written (a member that never took part).
    pub fn is_empty(&self) -> bool {
        self.entries == 0 && !self.voted && !self.purged
    }
}

/// The log store (and, sharing it, its reader).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LogStore {
    pub fn open(path: &Path) -> Result<(LogStore, Opened), MonError> {
        let (file, records) = RecordFile::<RaftRecord>::open(path)?;
        let mut inner = Inner {
            file,
            entries: BTreeMap::new(),
            vote: None,
            committed: None,
            purged: None,
            records: records.len(),
        };
        for r in records {
            inner.replay(r);
        }
        let opened = Opened {
            entries: inner.entries.len(),
            voted: inner.vote.is_some(),
            purged: inner.purged.is_some(),
        };
        tracing::debug!(target: "mon", "consensus log: {} entries, vote {:?}, committed {:?}", opened.entries, inner.vote, inner.committed);
        Ok((
            LogStore {
                inner: Arc::new(Mutex::new(inner)),
            },
            opened,
        ))
    }

    /// Writes `records` behind the others, synced or not, off the async threads.
    async fn write(&self, records: Vec<RaftRecord>, sync: bool) -> Result<(), MonError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = lock(&inner);
            g.records += records.len();
            if sync {
                g.file.append(&records)
            } else {
                g.file.append_buffered(&records)
            }
        })
        .await
        .map_err(|e| MonError::Corrupt(format!("consensus log writer failed: {e}")))?
    }

    /// Rewrites the file with only what is live, when most of it is not.
    async fn maybe_rewrite(&self) -> Result<(), MonError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut g = lock(&inner);
            if g.records <= 2 * g.entries.len() + 64 {
                return Ok(());
            }
            let live = g.live();
            g.file.rewrite(&live)?;
            g.records = live.len();
            Ok(())
        })
        .await
        .map_err(|e| MonError::Corrupt(format!("consensus log writer failed: {e}")))?
    }
}

fn io_error(e: MonError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<Rank>> {
        let g = lock(&self.inner);
        Ok(g.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<Rank>> {
        let g = lock(&self.inner);
        let last = g
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(g.purged);
        Ok(LogState {
            last_purged_log_id: g.purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<Rank>) -> Result<(), StorageError<Rank>> {
        lock(&self.inner).vote = Some(*vote);
        self.write(vec![RaftRecord::Vote(*vote)], true)
            .await
            .map_err(|e| StorageIOError::write_vote(&io_error(e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<Rank>>, StorageError<Rank>> {
        Ok(lock(&self.inner).vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<Rank>>,
    ) -> Result<(), StorageError<Rank>> {
        lock(&self.inner).committed = committed;
        self.write(vec![RaftRecord::Committed(committed)], false)
            .await
            .map_err(|e| StorageIOError::write(&io_error(e)).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<Rank>>, StorageError<Rank>> {
        Ok(lock(&self.inner).committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<Rank>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let records: Vec<RaftRecord> = {
            let mut g = lock(&self.inner);
            entries
                .into_iter()
                .map(|e| {
                    g.replay(RaftRecord::Entry(e.clone()));
                    RaftRecord::Entry(e)
                })
                .collect()
        };
        let result = self.write(records, true).await.map_err(io_error);
        let failed = result
            .as_ref()
            .err()
            .map(|e| std::io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(result);
        match failed {
            Some(e) => Err(StorageIOError::write_logs(&e).into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<Rank>) -> Result<(), StorageError<Rank>> {
        lock(&self.inner).replay(RaftRecord::TruncatedFrom(log_id.index));
        // Synced (rare): entries it removes must not come back beside a snapshot that is.
        self.write(vec![RaftRecord::TruncatedFrom(log_id.index)], true)
            .await
            .map_err(|e| StorageIOError::write_logs(&io_error(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<Rank>) -> Result<(), StorageError<Rank>> {
        lock(&self.inner).replay(RaftRecord::Purged(log_id));
        let written = match self.write(vec![RaftRecord::Purged(log_id)], true).await {
            Ok(()) => self.maybe_rewrite().await,
            Err(e) => Err(e),
        };
        written.map_err(|e| StorageIOError::write_logs(&io_error(e)).into())
    }
}

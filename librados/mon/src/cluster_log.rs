//! The cluster log: what happened to the cluster (OSDs booting, pools created, clients
//! fenced, lines logged with `log`), numbered, kept in memory for `log last` and in a record
//! file so a restarted monitor still has its history.
//!
//! Entries are written without waiting for the disk (they are a history, not state: losing
//! the last few to a power failure loses no data), and the file is compacted to the newest
//! [`KEEP`] entries whenever it has grown to twice that.

use super::log::{Record, RecordFile};
use super::MonError;
use crate::msg::clog::{ClusterLogEntry, LogLevel};
use crate::msg::EntityName;
use crate::osdmap::{EntityAddr, UTime};
use std::collections::VecDeque;
use std::path::Path;

/// How many entries the monitor keeps.
pub const KEEP: usize = 10_000;

impl Record for ClusterLogEntry {
    const MAGIC: &'static [u8; 8] = b"RDCLOG01";
    const KIND: &'static str = "cluster-log-entry";
    const VERSION: u16 = 1;
    const WHAT: &'static str = "a cluster log";
}

pub struct ClusterLog {
    file: RecordFile<ClusterLogEntry>,
    recent: VecDeque<ClusterLogEntry>,
    /// Entries in the file (those in `recent` and older ones not yet compacted away).
    in_file: usize,
    next_seq: u64,
}

impl ClusterLog {
    /// Opens the log at `path`. A file that is not a cluster log is moved aside (to
    /// `PATH.damaged`) and a new log started: a damaged history never keeps the monitor down.
    pub fn open(path: &Path) -> Result<ClusterLog, MonError> {
        let (file, entries) = match RecordFile::<ClusterLogEntry>::open(path) {
            Err(MonError::Corrupt(why)) => {
                let aside = path.with_extension("damaged");
                tracing::warn!(target: "mon", "{why}: moving it to {} and starting a new cluster log", aside.display());
                std::fs::rename(path, &aside).map_err(|source| MonError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                RecordFile::open(path)?
            }
            other => other?,
        };
        let in_file = entries.len();
        let next_seq = entries.last().map_or(1, |e| e.seq + 1);
        let skip = entries.len().saturating_sub(KEEP);
        Ok(ClusterLog {
            file,
            recent: entries.into_iter().skip(skip).collect(),
            in_file,
            next_seq,
        })
    }

    /// Logs one entry now; returns it, numbered. A failure to write it is reported (and the
    /// entry still kept in memory and returned to subscribers).
    pub fn append(
        &mut self,
        who: EntityName,
        addr: EntityAddr,
        channel: &str,
        level: LogLevel,
        message: String,
    ) -> ClusterLogEntry {
        let entry = ClusterLogEntry {
            stamp: UTime::now(),
            who,
            addr,
            seq: self.next_seq,
            channel: channel.to_string(),
            level,
            message,
        };
        self.next_seq += 1;
        if self.recent.len() == KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back(entry.clone());
        if let Err(e) = self.write(&entry) {
            tracing::warn!(target: "mon", "cannot write the cluster log: {e}");
        }
        entry
    }

    fn write(&mut self, entry: &ClusterLogEntry) -> Result<(), MonError> {
        if self.in_file >= 2 * KEEP {
            let keep: Vec<ClusterLogEntry> = self.recent.iter().cloned().collect();
            self.file.rewrite(&keep)?;
            self.in_file = keep.len();
            return Ok(());
        }
        self.file.append_buffered(std::slice::from_ref(entry))?;
        self.in_file += 1;
        Ok(())
    }

    /// The newest `n` entries at `level` or above (and in `channel`, when given), oldest first.
    pub fn last(&self, n: usize, level: LogLevel, channel: Option<&str>) -> Vec<ClusterLogEntry> {
        let mut out: Vec<ClusterLogEntry> = self
            .recent
            .iter()
            .rev()
            .filter(|e| e.level >= level && channel.is_none_or(|c| e.channel == c))
            .take(n)
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_numbered_filtered_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clog");
        let mut log = ClusterLog::open(&path).unwrap();
        let a = log.append(
            EntityName::mon(0),
            EntityAddr::local(0),
            "cluster",
            LogLevel::Info,
            "a".into(),
        );
        let b = log.append(
            EntityName::client(4),
            EntityAddr::local(4),
            "audit",
            LogLevel::Warn,
            "b".into(),
        );
        let c = log.append(
            EntityName::osd(1),
            EntityAddr::local(1),
            "cluster",
            LogLevel::Error,
            "c".into(),
        );
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
        assert_eq!(
            log.last(10, LogLevel::Debug, None),
            vec![a.clone(), b.clone(), c.clone()]
        );
        assert_eq!(
            log.last(10, LogLevel::Warn, None),
            vec![b.clone(), c.clone()]
        );
        assert_eq!(log.last(1, LogLevel::Debug, None), vec![c.clone()]);
        assert_eq!(
            log.last(10, LogLevel::Debug, Some("cluster")),
            vec![a.clone(), c.clone()]
        );
        drop(log);
        let mut log = ClusterLog::open(&path).unwrap();
        assert_eq!(log.last(10, LogLevel::Debug, None), vec![a, b, c]);
        // Numbering continues where it stopped.
        let d = log.append(
            EntityName::mon(0),
            EntityAddr::local(0),
            "cluster",
            LogLevel::Info,
            "d".into(),
        );
        assert_eq!(d.seq, 4);
    }

    #[test]
    fn a_damaged_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clog");
        std::fs::write(&path, b"not a log at all").unwrap();
        let mut log = ClusterLog::open(&path).unwrap();
        assert!(log.last(10, LogLevel::Debug, None).is_empty());
        let who = EntityName::mon(0);
        let e = log.append(
            who,
            EntityAddr::local(0),
            "cluster",
            LogLevel::Info,
            "x".into(),
        );
        assert_eq!(e.seq, 1);
        assert_eq!(
            std::fs::read(dir.path().join("clog.damaged")).unwrap(),
            b"not a log at all"
        );
        drop(log);
        let log = ClusterLog::open(&path).unwrap();
        assert_eq!(log.last(10, LogLevel::Debug, None), vec![e]);
    }

    #[test]
    fn the_file_is_compacted_to_the_newest_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clog");
        let mut log = ClusterLog::open(&path).unwrap();
        let total = 2 * KEEP + 5;
        for i in 0..total {
            log.append(
                EntityName::mon(0),
                EntityAddr::local(0),
                "cluster",
                LogLevel::Info,
                i.to_string(),
            );
        }
        assert!(log.in_file <= KEEP + 5, "{}", log.in_file);
        drop(log);
        let log = ClusterLog::open(&path).unwrap();
        let all = log.last(usize::MAX, LogLevel::Debug, None);
        assert_eq!(all.len(), KEEP);
        assert_eq!(all.last().unwrap().message, (total - 1).to_string());
        assert_eq!(all.last().unwrap().seq, total as u64);
        // Oldest first, consecutive.
        assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    }
}

//! The monitor's persistent logs: append-only files of checksummed records. [`MonLog`] holds
//! the map's records; the cluster log (`cluster_log`) uses the same format for its entries.
//!
//! ```text
//! file:   magic (8 bytes: "RDMONLG1" for the map's log), then records
//! record: length u32 LE | crc32c u32 LE of the payload | payload (versioned MessagePack)
//! ```
//!
//! A record is durable once `append` returns (the file is fsynced). On open, records are read
//! until the first torn or damaged one; the file is truncated there (a crash can only tear the
//! last append, which was never acknowledged).

use super::state::LogRecord;
use super::MonError;
use crate::encoding;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Largest record accepted (a CRUSH map of a very large cluster fits easily).
const MAX_RECORD_BYTES: u32 = 64 << 20;

/// What a record file holds: its magic, and the kind and version its records are encoded as.
pub trait Record: Serialize + DeserializeOwned {
    const MAGIC: &'static [u8; 8];
    const KIND: &'static str;
    const VERSION: u16;
    /// What the file is, for errors ("a monitor log").
    const WHAT: &'static str;
}

impl Record for LogRecord {
    const MAGIC: &'static [u8; 8] = b"RDMONLG1";
    const KIND: &'static str = "mon-log-record";
    const VERSION: u16 = 1;
    const WHAT: &'static str = "a monitor log";
}

/// An append-only file of records of type `T`.
pub struct RecordFile<T> {
    path: PathBuf,
    file: File,
    _records: PhantomData<fn() -> T>,
}

/// The map's log.
pub type MonLog = RecordFile<LogRecord>;

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> MonError + '_ {
    move |source| MonError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl<T: Record> RecordFile<T> {
    /// Opens (creating when missing) the file at `path`; returns it and every intact record.
    pub fn open(path: &Path) -> Result<(RecordFile<T>, Vec<T>), MonError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(path))?;
        let magic = T::MAGIC;
        if bytes.is_empty() {
            file.write_all(magic).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
            return Ok((RecordFile::new(path, file), Vec::new()));
        }
        if bytes.len() < magic.len() || &bytes[..magic.len()] != magic {
            return Err(MonError::Corrupt(format!(
                "{} is not {}",
                path.display(),
                T::WHAT
            )));
        }
        let (records, good_len) = parse::<T>(&bytes[magic.len()..]);
        let good_len = (magic.len() + good_len) as u64;
        if good_len < bytes.len() as u64 {
            tracing::warn!(target: "mon", "dropping {} bytes of torn log tail", bytes.len() as u64 - good_len);
            file.set_len(good_len).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err(path))?;
        Ok((RecordFile::new(path, file), records))
    }

    fn new(path: &Path, file: File) -> RecordFile<T> {
        RecordFile {
            path: path.to_path_buf(),
            file,
            _records: PhantomData,
        }
    }

    /// Appends records and makes them durable.
    pub fn append(&mut self, records: &[T]) -> Result<(), MonError> {
        self.append_buffered(records)?;
        self.file.sync_data().map_err(io_err(&self.path))
    }

    /// Appends records without waiting for the disk: they survive this process failing,
    /// not the machine (a crash may tear the last ones, which `open` then drops).
    pub fn append_buffered(&mut self, records: &[T]) -> Result<(), MonError> {
        let buf = frames(records)?;
        self.file.write_all(&buf).map_err(io_err(&self.path))
    }

    /// Replaces the whole file with `records`, atomically (a new file renamed over it).
    pub fn rewrite(&mut self, records: &[T]) -> Result<(), MonError> {
        let tmp = self.path.with_extension("new");
        let mut buf = T::MAGIC.to_vec();
        buf.extend_from_slice(&frames(records)?);
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(&buf).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err(&self.path))?;
        self.file = file;
        Ok(())
    }
}

/// Records framed as the file holds them.
fn frames<T: Record>(records: &[T]) -> Result<Vec<u8>, MonError> {
    let mut buf = Vec::new();
    for r in records {
        let payload = encoding::encode(T::KIND, T::VERSION, r)
            .map_err(|e| MonError::Corrupt(e.to_string()))?;
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|n| *n <= MAX_RECORD_BYTES)
            .ok_or_else(|| MonError::Invalid("log record too large".into()))?;
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
    }
    Ok(buf)
}

/// Intact records and the byte length they span.
fn parse<T: Record>(mut rest: &[u8]) -> (Vec<T>, usize) {
    let mut records = Vec::new();
    let mut used = 0;
    while rest.len() >= 8 {
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > MAX_RECORD_BYTES || rest.len() < 8 + len as usize {
            break;
        }
        let payload = &rest[8..8 + len as usize];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        match encoding::decode::<T>(T::KIND, T::VERSION, payload) {
            Ok((_, r)) => records.push(r),
            Err(_) => break,
        }
        used += 8 + len as usize;
        rest = &rest[8 + len as usize..];
    }
    (records, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osdmap::Fsid;

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let (mut log, recs) = MonLog::open(&path).unwrap();
        assert!(recs.is_empty());
        let genesis = crate::MonState::genesis(Fsid([7; 16])).unwrap();
        log.append(&[genesis.clone(), LogRecord::ClientIds { next: 5 }])
            .unwrap();
        drop(log);
        // A torn append: a length with half a payload.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[100, 0, 0, 0, 1, 2, 3, 4, 9]).unwrap();
        drop(f);
        let (mut log, recs) = MonLog::open(&path).unwrap();
        assert_eq!(
            recs,
            vec![genesis.clone(), LogRecord::ClientIds { next: 5 }]
        );
        log.append(&[LogRecord::ClientIds { next: 9 }]).unwrap();
        drop(log);
        let (_, recs) = MonLog::open(&path).unwrap();
        assert_eq!(recs.len(), 3);
    }

    #[test]
    fn a_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, b"something else entirely").unwrap();
        assert!(matches!(MonLog::open(&path), Err(MonError::Corrupt(_))));
    }
}

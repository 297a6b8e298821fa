//! The write-ahead log: what makes a transaction durable, in as little disk work as possible.
//!
//! A ring of preallocated segment files. The commit thread writes each group of transactions
//! as one record with one write and one `fdatasync`; since the segments were filled with zeros
//! when created, the sync never has to allocate blocks or grow a file, which halves its cost on
//! ext4. The engine applies groups afterwards, off the commit path, and its own journal is
//! synced only when a segment is about to be reused (a checkpoint: everything in that segment
//! must be in the engine and durable there first). At open, records newer than the engine's
//! last applied sequence number are replayed.
//!
//! ```text
//! <dir>/wal/<n>.seg   n = 0..segments, each exactly segment_bytes long
//! record : magic "RWAL" (4) | len (4, LE: bytes after crc) | crc32c of the rest (4, LE)
//!          | first seq (8, LE) | last seq (8, LE) | count (4, LE) | entry*
//! entry  : keyspace (1) | key len (4, LE) | key | value len (4, LE; u32::MAX = remove) | value
//! ```
//! A scan reads each segment from its start until the first record that does not check out
//! (zeros, a torn write, or the remains of an older record); stale records carry sequence
//! numbers the engine already holds and are ignored.

use super::pending::{Ks, Write1};
use crate::error::{StoreError, StoreResult};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"RWAL";
const REMOVE: u32 = u32::MAX;
const HEADER: usize = 12;

/// One decoded record: a group of transactions `first..=last` and their writes.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    pub first: u64,
    pub last: u64,
    pub writes: Vec<Write1>,
}

fn ks_from(b: u8) -> Option<Ks> {
    Some(match b {
        0 => Ks::Onode,
        1 => Ks::Data,
        2 => Ks::Omap,
        3 => Ks::Alloc,
        4 => Ks::Meta,
        _ => return None,
    })
}

pub fn encode(first: u64, last: u64, writes: &[Write1], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(&(writes.len() as u32).to_le_bytes());
    for (ks, k, v) in writes {
        out.push(*ks as u8);
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(k);
        match v {
            Some(v) => {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
            None => out.extend_from_slice(&REMOVE.to_le_bytes()),
        }
    }
    let len = (out.len() - start - HEADER) as u32;
    let crc = crc32c::crc32c(&out[start + HEADER..]);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Some(h)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn decode_body(body: &[u8]) -> Option<Record> {
    let mut c = Cursor(body);
    let (first, last, count) = (c.u64()?, c.u64()?, c.u32()?);
    let mut writes = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        let ks = ks_from(*c.take(1)?.first()?)?;
        let klen = c.u32()? as usize;
        let key = c.take(klen)?.to_vec();
        let vlen = c.u32()?;
        let value = if vlen == REMOVE {
            None
        } else {
            Some(bytes::Bytes::copy_from_slice(c.take(vlen as usize)?))
        };
        writes.push((ks, key, value));
    }
    (c.0.is_empty() && first <= last).then_some(Record {
        first,
        last,
        writes,
    })
}

/// The valid records at the start of a segment's bytes, in order.
fn decode_segment(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut c = Cursor(bytes);
    while let Some(magic) = c.take(4) {
        if magic != MAGIC {
            break;
        }
        let (Some(len), Some(crc)) = (c.u32(), c.u32()) else {
            break;
        };
        let Some(body) = c.take(len as usize) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        match decode_body(body) {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

/// The ring of segments and the write position.
pub struct Wal {
    dir: PathBuf,
    files: Vec<File>,
    segment_bytes: u64,
    current: usize,
    offset: u64,
    /// The highest sequence number written into each segment since open (0: none).
    seg_last: Vec<u64>,
}

fn segment_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i}.seg"))
}

impl Wal {
    /// Opens the ring in `dir`, creating (and zero-filling) any missing segment.
    pub fn open(dir: &Path, segments: usize, segment_bytes: u64) -> StoreResult<Wal> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        // Segments left by an earlier, larger configuration stay in the ring: they may hold
        // records not yet in the engine.
        let mut count = segments.max(2);
        while segment_path(dir, count).exists() {
            count += 1;
        }
        let mut files = Vec::new();
        for i in 0..count {
            let path = segment_path(dir, i);
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| StoreError::io(&path, e))?;
            let len = f.metadata().map_err(|e| StoreError::io(&path, e))?.len();
            if len < segment_bytes {
                let zeros = vec![0u8; 1 << 20];
                let mut at = len;
                while at < segment_bytes {
                    let n = (segment_bytes - at).min(zeros.len() as u64);
                    f.write_all_at(&zeros[..n as usize], at)
                        .map_err(|e| StoreError::io(&path, e))?;
                    at += n;
                }
                f.sync_all().map_err(|e| StoreError::io(&path, e))?;
            }
            files.push(f);
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(dir, e))?;
        let n = files.len();
        Ok(Wal {
            dir: dir.to_path_buf(),
            files,
            segment_bytes,
            current: 0,
            offset: 0,
            seg_last: vec![0; n],
        })
    }

    /// Every valid record in every segment, sorted by sequence number.
    pub fn scan(&self) -> StoreResult<Vec<Record>> {
        let mut all = Vec::new();
        for i in 0..self.files.len() {
            let path = segment_path(&self.dir, i);
            let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
            all.extend(decode_segment(&bytes));
        }
        all.sort_by_key(|r| r.first);
        Ok(all)
    }

    /// Largest record the ring takes; bigger groups go to the engine directly.
    pub fn max_record(&self) -> u64 {
        self.segment_bytes / 2
    }

    /// `Some(segment)` when `len` more bytes do not fit the current segment: the segment to
    /// reuse next, whose records (up to [`Self::last_in`]) must be checkpointed first.
    pub fn needs_switch(&self, len: u64) -> Option<usize> {
        (self.offset + len > self.segment_bytes).then_some((self.current + 1) % self.files.len())
    }

    pub fn last_in(&self, segment: usize) -> u64 {
        self.seg_last[segment]
    }

    /// The segment the write position moves to at the next switch.
    pub fn next_segment(&self) -> usize {
        (self.current + 1) % self.files.len()
    }

    pub fn switch(&mut self) {
        self.current = (self.current + 1) % self.files.len();
        self.offset = 0;
        self.seg_last[self.current] = 0;
    }

    /// Writes a record (or several) at the write position and makes it durable.
    pub fn append(&mut self, bytes: &[u8], last: u64) -> StoreResult<()> {
        let f = &self.files[self.current];
        let path = || segment_path(&self.dir, self.current);
        f.write_all_at(bytes, self.offset)
            .and_then(|()| f.sync_data())
            .map_err(|e| StoreError::io(path(), e))?;
        self.offset += bytes.len() as u64;
        self.seg_last[self.current] = last;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn w(k: &str, v: Option<&str>) -> Write1 {
        (
            Ks::Onode,
            k.as_bytes().to_vec(),
            v.map(|v| Bytes::from(v.to_string())),
        )
    }

    #[test]
    fn records_round_trip_and_torn_tails_end_a_segment() {
        let mut buf = Vec::new();
        encode(1, 3, &[w("a", Some("1")), w("b", None)], &mut buf);
        let first = buf.len();
        encode(4, 4, &[w("c", Some("2"))], &mut buf);
        let recs = decode_segment(&buf);
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].first, recs[0].last, recs[1].first), (1, 3, 4));
        assert_eq!(recs[0].writes, vec![w("a", Some("1")), w("b", None)]);
        for cut in 0..buf.len() {
            assert_eq!(
                decode_segment(&buf[..cut]).len(),
                usize::from(cut >= first),
                "cut {cut}"
            );
        }
        let mut flipped = buf.clone();
        flipped[first + 20] ^= 1;
        assert_eq!(decode_segment(&flipped).len(), 1);
    }

    #[test]
    fn the_ring_wraps_and_scans_in_sequence_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 2, 4096).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("1.seg")).unwrap().len(),
            4096
        );
        for seq in 1..=10u64 {
            let mut b = Vec::new();
            encode(seq, seq, &[w("k", Some(&"x".repeat(500)))], &mut b);
            if let Some(next) = wal.needs_switch(b.len() as u64) {
                assert!(wal.last_in(next) < seq);
                wal.switch();
            }
            wal.append(&b, seq).unwrap();
        }
        let seqs: Vec<u64> = wal.scan().unwrap().iter().map(|r| r.first).collect();
        assert!(seqs.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(seqs.last(), Some(&10));
        let reopened = Wal::open(dir.path(), 2, 4096).unwrap();
        assert_eq!(reopened.scan().unwrap().len(), seqs.len());
    }
}

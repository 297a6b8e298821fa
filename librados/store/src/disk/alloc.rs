//! Slots of the block file: which are free, which are shared between clones, and the file I/O.
//!
//! A slot holds one [`CHUNK_SIZE`] chunk. Data is written only into free slots (never over a
//! slot that committed metadata points at), synced, and only then referenced by a committed
//! batch; a slot is freed only after the batch that dropped its last reference is durable and
//! no reader can still hold the old reference. Reference counts are persisted in the `alloc`
//! keyspace in the same batch as the references, so the allocator is rebuilt exactly at open.

use super::format::CHUNK_SIZE;
use crate::error::{StoreError, StoreResult};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Memory alignment a direct (`O_DIRECT`) write needs; slots are aligned far beyond it on disk.
const DIRECT_ALIGN: usize = 4096;
/// The bounce buffer that aligns a direct write's data, one per writing thread.
const BOUNCE_BYTES: usize = 1 << 20;
const _: () =
    assert!(BOUNCE_BYTES % CHUNK_SIZE as usize == 0 && CHUNK_SIZE as usize % DIRECT_ALIGN == 0);

thread_local! {
    static BOUNCE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A run of consecutive slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub start: u64,
    pub len: u64,
}

#[derive(Debug, Default)]
pub struct Allocator {
    /// Free runs below `end`, by start slot.
    free: BTreeMap<u64, u64>,
    /// One past the highest slot ever handed out.
    end: u64,
    /// Reference counts above one; an allocated slot absent here has exactly one reference.
    shared: HashMap<u64, u32>,
    /// Slots in use (referenced or reserved for a transaction in flight).
    used: u64,
}

impl Allocator {
    /// Rebuilds the allocator from the persisted reference counts (in slot order).
    pub fn from_refcounts(refs: impl IntoIterator<Item = (u64, u32)>) -> Self {
        let mut a = Allocator::default();
        for (slot, count) in refs {
            if slot < a.end || slot == u64::MAX {
                continue; // out of order or absurd: a damaged record, ignored rather than trusted
            }
            if slot > a.end {
                a.free.insert(a.end, slot - a.end);
            }
            a.end = slot + 1;
            a.used += 1;
            if count > 1 {
                a.shared.insert(slot, count);
            }
        }
        a
    }

    #[cfg(test)]
    pub fn used_slots(&self) -> u64 {
        self.used
    }

    /// Reserves `n` slots, lowest free runs first, then past the end of the file.
    pub fn allocate(&mut self, mut n: u64) -> Vec<Run> {
        let mut runs = Vec::new();
        self.used += n;
        while n > 0 {
            let Some((&start, &len)) = self.free.iter().next() else {
                break;
            };
            self.free.remove(&start);
            let take = len.min(n);
            if take < len {
                self.free.insert(start + take, len - take);
            }
            runs.push(Run { start, len: take });
            n -= take;
        }
        if n > 0 {
            runs.push(Run {
                start: self.end,
                len: n,
            });
            self.end += n;
        }
        runs
    }

    /// The reference count of an allocated slot (reserved slots not yet referenced count 0
    /// only in the transaction that reserved them, which tracks that itself).
    pub fn refcount(&self, slot: u64) -> u32 {
        self.shared.get(&slot).copied().unwrap_or(1)
    }

    pub fn set_refcount(&mut self, slot: u64, count: u32) {
        if count > 1 {
            self.shared.insert(slot, count);
        } else {
            self.shared.remove(&slot);
        }
    }

    fn is_free(&self, slot: u64) -> bool {
        self.free
            .range(..=slot)
            .next_back()
            .is_some_and(|(&start, &len)| slot < start + len)
    }

    /// Returns slots to the free list, merging neighbouring runs.
    pub fn release(&mut self, slots: &[u64]) -> Vec<Run> {
        let mut sorted = slots.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut runs: Vec<Run> = Vec::new();
        for s in sorted {
            if s >= self.end || self.is_free(s) {
                tracing::error!(target: "store", slot = s, "release of a slot that is not allocated; ignored");
                continue;
            }
            self.shared.remove(&s);
            self.used -= 1;
            match runs.last_mut() {
                Some(r) if r.start + r.len == s => r.len += 1,
                _ => runs.push(Run { start: s, len: 1 }),
            }
        }
        for r in &runs {
            let (mut start, mut len) = (r.start, r.len);
            if let Some((&ps, &pl)) = self.free.range(..start).next_back() {
                if ps + pl == start {
                    self.free.remove(&ps);
                    start = ps;
                    len += pl;
                }
            }
            if let Some(&nl) = self.free.get(&(start + len)) {
                self.free.remove(&(start + len));
                len += nl;
            }
            self.free.insert(start, len);
        }
        runs
    }
}

/// The block file holding slot data.
///
/// Slots are written with `O_DIRECT` where the filesystem allows it: a store's writes are
/// synced at once anyway, and copying them through the page cache cost the embedded
/// cluster most of its CPU on large writes (three stores, every byte). Reads stay buffered;
/// the kernel drops cached pages a direct write replaces. Where direct writes are refused
/// (EINVAL: tmpfs on older kernels, some network filesystems), writes go through the cache.
pub struct BlockFile {
    pub path: PathBuf,
    file: File,
    direct: Option<File>,
    direct_refused: AtomicBool,
}

impl BlockFile {
    pub fn open(path: PathBuf) -> StoreResult<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let direct = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .ok();
        Ok(BlockFile {
            path,
            file,
            direct,
            direct_refused: AtomicBool::new(false),
        })
    }

    /// Writes chunks into slots from `start_slot` on: `data` fills whole slots but for the
    /// last one, which may be partly filled (its remainder is never read).
    pub fn write_slots(&self, start_slot: u64, data: &[u8]) -> StoreResult<()> {
        let offset = start_slot * CHUNK_SIZE;
        self.direct(|f| write_direct(f, data, offset))
            .unwrap_or_else(|| self.file.write_all_at(data, offset))
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// Reads `buf.len()` bytes at `offset` within `slot`; a short file reads as an error.
    pub fn read_at(&self, slot: u64, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(buf, slot * CHUNK_SIZE + offset)
    }

    /// Reads whole slots from `start_slot` on into `buf` (a multiple of [`CHUNK_SIZE`]),
    /// bypassing the page cache where direct I/O works, as writes do.
    pub fn read_slots(&self, start_slot: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let offset = start_slot * CHUNK_SIZE;
        match self.direct(|f| read_direct(f, buf, offset)) {
            Some(done) => done,
            None => self.file.read_exact_at(buf, offset),
        }
    }

    /// Runs `io` on the direct descriptor; None when there is none, or when the filesystem
    /// refuses direct I/O (EINVAL, remembered): the caller then goes through the cache.
    fn direct(&self, io: impl FnOnce(&File) -> std::io::Result<()>) -> Option<std::io::Result<()>> {
        let direct = self.direct.as_ref()?;
        if self.direct_refused.load(Ordering::Relaxed) {
            return None;
        }
        match io(direct) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                tracing::info!(target: "store", "{}: direct I/O refused ({e}); going through the page cache", self.path.display());
                self.direct_refused.store(true, Ordering::Relaxed);
                None
            }
            done => Some(done),
        }
    }

    pub fn sync(&self) -> StoreResult<()> {
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, e))
    }

    /// Gives the space of freed runs back to the filesystem. Filesystems without hole punching
    /// keep the space inside the file, where the allocator reuses it.
    pub fn punch(&self, runs: &[Run]) {
        for r in runs {
            let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
            let (Ok(off), Ok(len)) = (
                libc::off_t::try_from(r.start * CHUNK_SIZE),
                libc::off_t::try_from(r.len * CHUNK_SIZE),
            ) else {
                continue;
            };
            // SAFETY: fallocate only reads its integer arguments; the descriptor is owned by
            // `self.file` and open for writing.
            let rc = unsafe { libc::fallocate(self.file.as_raw_fd(), mode, off, len) };
            if rc != 0 {
                tracing::debug!(target: "store", "hole punch unsupported or failed: {}", std::io::Error::last_os_error());
                return;
            }
        }
    }
}

/// Whether a buffer can go to a direct descriptor as it is.
fn is_aligned(buf: &[u8]) -> bool {
    buf.as_ptr().align_offset(DIRECT_ALIGN) == 0 && buf.len() % DIRECT_ALIGN == 0
}

/// Runs `f` on this thread's aligned bounce buffer of [`BOUNCE_BYTES`].
fn with_bounce<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BOUNCE.with(|bounce| {
        let mut bounce = bounce.borrow_mut();
        if bounce.len() < BOUNCE_BYTES + DIRECT_ALIGN {
            bounce.resize(BOUNCE_BYTES + DIRECT_ALIGN, 0);
        }
        let pad = bounce.as_ptr().align_offset(DIRECT_ALIGN);
        f(&mut bounce[pad..pad + BOUNCE_BYTES])
    })
}

/// Writes `data` at `offset` (a slot boundary) through a direct descriptor: straight from
/// `data` when its address and length are aligned, else a piece at a time through this
/// thread's bounce buffer. Pieces are whole slots but for the last, which is padded with
/// zeros to the alignment — inside its slot, past the chunk's end, where nothing is read.
fn write_direct(file: &File, data: &[u8], offset: u64) -> std::io::Result<()> {
    if is_aligned(data) {
        return file.write_all_at(data, offset);
    }
    with_bounce(|buf| {
        let mut at = offset;
        for piece in data.chunks(BOUNCE_BYTES) {
            let padded = piece.len().next_multiple_of(DIRECT_ALIGN);
            buf[..piece.len()].copy_from_slice(piece);
            buf[piece.len()..padded].fill(0);
            file.write_all_at(&buf[..padded], at)?;
            at += piece.len() as u64;
        }
        Ok(())
    })
}

/// Reads whole slots into `buf` at `offset` through a direct descriptor: straight into `buf`
/// when its address is aligned, else a piece at a time through this thread's bounce buffer.
fn read_direct(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    if is_aligned(buf) {
        return file.read_exact_at(buf, offset);
    }
    with_bounce(|tmp| {
        let mut at = offset;
        for piece in buf.chunks_mut(BOUNCE_BYTES) {
            file.read_exact_at(&mut tmp[..piece.len()], at)?;
            piece.copy_from_slice(&tmp[..piece.len()]);
            at += piece.len() as u64;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_free_runs_first_and_merges_on_release() {
        let mut a = Allocator::from_refcounts([(0, 1), (2, 2), (5, 1)]);
        assert_eq!(a.used_slots(), 3);
        assert_eq!(a.refcount(2), 2);
        let runs = a.allocate(4);
        assert_eq!(
            runs,
            vec![
                Run { start: 1, len: 1 },
                Run { start: 3, len: 2 },
                Run { start: 6, len: 1 }
            ]
        );
        a.release(&[3, 4, 1]);
        a.release(&[0]);
        // Releasing twice, or past the end, changes nothing.
        let runs = a.release(&[0, 1, 99]);
        assert!(runs.is_empty());
        assert_eq!(a.allocate(2), vec![Run { start: 0, len: 2 }]);
        assert_eq!(a.allocate(2), vec![Run { start: 3, len: 2 }]);
        assert_eq!(a.allocate(1), vec![Run { start: 7, len: 1 }]);
    }

    /// Whole slots, a partly filled last slot, unaligned and aligned sources, through direct
    /// writes and through the cache: every byte reads back where it was written.
    #[test]
    fn slots_read_back_as_written_direct_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = CHUNK_SIZE as usize;
        let pattern = |n: usize, seed: u8| -> Vec<u8> {
            (0..n).map(|i| (i as u8).wrapping_mul(29) ^ seed).collect()
        };
        for direct in [true, false] {
            let block = BlockFile::open(dir.path().join(format!("block-{direct}"))).unwrap();
            if !direct {
                block.direct_refused.store(true, Ordering::Relaxed);
            }
            // 2.5 MiB of whole slots from an unaligned source (longer than the bounce buffer).
            let big = pattern(40 * chunk + 1, 1);
            block.write_slots(2, &big[1..]).unwrap();
            // A partial chunk (not a multiple of the alignment) after them.
            let tail = pattern(4464, 2);
            block.write_slots(42, &tail).unwrap();
            // An aligned source of whole slots.
            let mut aligned = vec![0u8; 2 * chunk + DIRECT_ALIGN];
            let pad = aligned.as_ptr().align_offset(DIRECT_ALIGN);
            aligned[pad..pad + 2 * chunk].copy_from_slice(&pattern(2 * chunk, 3));
            block
                .write_slots(0, &aligned[pad..pad + 2 * chunk])
                .unwrap();

            let mut back = vec![0u8; 40 * chunk];
            block.read_at(2, 0, &mut back).unwrap();
            assert!(back == big[1..], "direct {direct}: whole slots differ");
            let mut back = vec![0u8; tail.len()];
            block.read_at(42, 0, &mut back).unwrap();
            assert_eq!(back, tail, "direct {direct}: the partial slot differs");
            let mut back = vec![0u8; 2 * chunk];
            block.read_at(0, 0, &mut back).unwrap();
            assert!(
                back == pattern(2 * chunk, 3),
                "direct {direct}: aligned slots differ"
            );
            // Whole slots read as runs, into unaligned and aligned buffers.
            let mut back = vec![0u8; 40 * chunk + 1];
            block.read_slots(2, &mut back[1..]).unwrap();
            assert!(back[1..] == big[1..], "direct {direct}: run read differs");
            let mut back = vec![0u8; 2 * chunk + DIRECT_ALIGN];
            let pad = back.as_ptr().align_offset(DIRECT_ALIGN);
            block
                .read_slots(0, &mut back[pad..pad + 2 * chunk])
                .unwrap();
            assert!(
                back[pad..pad + 2 * chunk] == pattern(2 * chunk, 3),
                "direct {direct}: aligned run read differs"
            );
            block.sync().unwrap();
        }
    }
}

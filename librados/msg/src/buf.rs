//! Page-aligned, recycled buffers for large frames.
//!
//! A frame of [`POOLED_MIN`] bytes or more (a large write, read result, replicated write or
//! push) is built or received into a page-aligned [`FrameBuf`] taken from a per-process
//! pool, and its memory goes back to the pool when the last `Bytes` of the frame is dropped.
//! Reusing buffers spares the page faults and zeroing that fresh memory costs on every large
//! message (allocators hand memory of this size back to the system, or get it from there
//! afresh); page alignment lets a payload that its sender placed on a page boundary of the
//! frame (`frame.rs`) go to disk by direct I/O without a bounce copy.
//!
//! The pool keeps at most [`POOL_MAX_BYTES`] of idle buffers; beyond, a freed buffer goes
//! back to the allocator. Buffers in use are bounded by the transports' budgets, not here.

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes};
use std::alloc::Layout;
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Alignment of every pooled buffer: a page, what direct I/O needs.
pub const ALIGN: usize = 4096;
/// Frames from this size on use pooled buffers.
pub const POOLED_MIN: usize = 64 << 10;
/// Capacities are rounded up to this, so that frames of nearly the same size (a 4 MiB write
/// with different headers) share buffers.
const GRAIN: usize = 64 << 10;
/// Idle bytes the pool keeps unless told otherwise ([`set_idle_max`]).
pub const POOL_MAX_BYTES: usize = 32 << 20;

/// An owned, page-aligned buffer: written once (as a `BufMut` or `io::Write`), then frozen
/// into `Bytes` whose drop recycles it.
pub struct FrameBuf {
    ptr: NonNull<u8>,
    cap: usize,
    len: usize,
}

// SAFETY: a FrameBuf owns its allocation alone; shared access is read-only.
unsafe impl Send for FrameBuf {}
// SAFETY: as above: `&FrameBuf` only reads.
unsafe impl Sync for FrameBuf {}

impl FrameBuf {
    /// An empty buffer with room for at least `n` bytes (from the pool when there is one of
    /// a fitting size).
    pub fn with_capacity(n: usize) -> FrameBuf {
        let cap = n.max(1).next_multiple_of(GRAIN);
        if let Some((ptr, cap)) = take(cap) {
            return FrameBuf { ptr, cap, len: 0 };
        }
        FrameBuf {
            ptr: alloc(cap),
            cap,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The written bytes, mutable (to fill in a header reserved earlier).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the first `len` bytes were written.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Appends `data`, growing (into a new buffer) if it does not fit.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        if data.len() > self.cap - self.len {
            let mut bigger = FrameBuf::with_capacity((self.len + data.len()).max(2 * self.cap));
            bigger.extend_from_slice(self.as_ref());
            *self = bigger;
        }
        // SAFETY: room for `data` was made above; the regions cannot overlap (ours is owned).
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                data.len(),
            );
        }
        self.len += data.len();
    }

    /// Appends `n` zero bytes.
    pub fn put_zeros(&mut self, n: usize) {
        self.put_bytes(0, n);
    }

    /// The buffer as `Bytes`; dropping the last of them recycles the buffer.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for FrameBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes were written.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::io::Write for FrameBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// SAFETY: `chunk_mut` is the unwritten rest of the allocation; `advance_mut` only counts
// bytes the caller initialised in it (BufMut's contract), never past the capacity.
unsafe impl BufMut for FrameBuf {
    fn remaining_mut(&self) -> usize {
        self.cap - self.len
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        assert!(
            cnt <= self.cap - self.len,
            "advance past the buffer's capacity"
        );
        self.len += cnt;
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        // SAFETY: [len, cap) lies inside the allocation and nobody else refers to it.
        unsafe {
            UninitSlice::from_raw_parts_mut(self.ptr.as_ptr().add(self.len), self.cap - self.len)
        }
    }
}

impl Drop for FrameBuf {
    fn drop(&mut self) {
        give(self.ptr, self.cap);
    }
}

fn layout(cap: usize) -> Layout {
    Layout::from_size_align(cap, ALIGN).expect("a frame buffer's size fits a layout")
}

fn alloc(cap: usize) -> NonNull<u8> {
    let layout = layout(cap);
    // SAFETY: `cap` is at least GRAIN, so the layout is not zero-sized.
    NonNull::new(unsafe { std::alloc::alloc(layout) })
        .unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Idle buffers by capacity, at most `max` bytes of them.
struct Pool {
    free: BTreeMap<usize, Vec<Idle>>,
    bytes: usize,
    max: usize,
}

struct Idle(NonNull<u8>);
// SAFETY: an idle buffer belongs to the pool alone.
unsafe impl Send for Idle {}

impl Pool {
    const fn new(max: usize) -> Pool {
        Pool {
            free: BTreeMap::new(),
            bytes: 0,
            max,
        }
    }

    /// An idle buffer of at least `cap` bytes and at most an eighth more.
    fn take(&mut self, cap: usize) -> Option<(NonNull<u8>, usize)> {
        let (&found, list) = self.free.range_mut(cap..=cap + cap / 8).next()?;
        let Idle(ptr) = list.pop()?;
        if list.is_empty() {
            self.free.remove(&found);
        }
        self.bytes -= found;
        Some((ptr, found))
    }

    /// Keeps a freed buffer if there is room; else hands it back.
    fn give(&mut self, ptr: NonNull<u8>, cap: usize) -> Option<NonNull<u8>> {
        if self.bytes + cap > self.max {
            return Some(ptr);
        }
        self.bytes += cap;
        self.free.entry(cap).or_default().push(Idle(ptr));
        None
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new(POOL_MAX_BYTES));

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets how many bytes of idle buffers this process keeps (default [`POOL_MAX_BYTES`]);
/// buffers beyond it are freed as they come back.
pub fn set_idle_max(bytes: usize) {
    pool().max = bytes;
}

fn take(cap: usize) -> Option<(NonNull<u8>, usize)> {
    pool().take(cap)
}

fn give(ptr: NonNull<u8>, cap: usize) {
    let refused = pool().give(ptr, cap);
    if let Some(ptr) = refused {
        // SAFETY: allocated by `alloc` with this capacity, and no longer referenced.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout(cap)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn buffers_are_aligned_and_written_whole() {
        let mut b = FrameBuf::with_capacity(100 << 10);
        assert_eq!(b.as_ref().as_ptr() as usize % ALIGN, 0);
        assert!(b.capacity() >= 100 << 10 && b.capacity() % GRAIN == 0);
        b.write_all(b"head").unwrap();
        b.put_zeros(10);
        b.put_slice(&[7; 1000]);
        assert_eq!(b.len(), 1014);
        b.as_mut_slice()[0] = b'H';
        let frozen = b.freeze();
        assert_eq!(&frozen[..4], b"Head");
        assert!(frozen[4..14].iter().all(|x| *x == 0) && frozen[14..].iter().all(|x| *x == 7));
        let slice = frozen.slice(14..20);
        drop(frozen);
        assert_eq!(&slice[..], &[7; 6], "a slice keeps the buffer alive");
    }

    #[test]
    fn writing_past_the_capacity_grows_the_buffer() {
        let mut b = FrameBuf::with_capacity(1);
        let cap = b.capacity();
        let data: Vec<u8> = (0..cap + 5).map(|i| i as u8).collect();
        b.write_all(&data[..10]).unwrap();
        b.write_all(&data[10..]).unwrap();
        assert_eq!(b.as_ref(), &data[..]);
        assert!(b.capacity() > cap);
        assert_eq!(b.as_ref().as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn the_pool_reuses_near_sizes_and_keeps_a_bounded_amount() {
        let mut p = Pool::new(3 * GRAIN * 8);
        let (a, b, c) = (alloc(8 * GRAIN), alloc(8 * GRAIN), alloc(16 * GRAIN));
        assert!(p.give(a, 8 * GRAIN).is_none());
        assert!(p.give(b, 8 * GRAIN).is_none());
        assert_eq!(
            p.give(c, 16 * GRAIN),
            Some(c),
            "over the bound: handed back"
        );
        assert_eq!(p.bytes, 16 * GRAIN);
        // A request up to an eighth smaller is served; a much smaller or larger one is not.
        assert_eq!(p.take(9 * GRAIN), None);
        assert_eq!(p.take(4 * GRAIN), None);
        assert_eq!(p.take(7 * GRAIN + GRAIN / 2).map(|t| t.1), Some(8 * GRAIN));
        assert_eq!(p.take(8 * GRAIN).map(|t| t.1), Some(8 * GRAIN));
        assert_eq!((p.bytes, p.take(8 * GRAIN)), (0, None));
        for (ptr, cap) in [(a, 8 * GRAIN), (b, 8 * GRAIN), (c, 16 * GRAIN)] {
            // SAFETY: allocated above with these capacities, referenced nowhere else.
            unsafe { std::alloc::dealloc(ptr.as_ptr(), layout(cap)) }
        }
    }
}

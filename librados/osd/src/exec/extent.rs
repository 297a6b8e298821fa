//! Compare-extent, omap-compare and write-same steps, with Ceph 16's semantics (checked
//! against a Pacific cluster):
//!
//! - `CmpExt` reads what the object held before the request (like every read inside a
//!   request) up to its current size; bytes past the end compare as zeros, and a missing
//!   object is all zeros inside a write request but ENOENT in a read-only one. The first
//!   differing byte `i` fails the request with errno `MAX_ERRNO + i`.
//! - `OmapCmp` compares stored values byte-wise; a missing key compares as an empty value.
//!   Only `Eq`, `Gt` and `Lt` are understood, as in Ceph (EINVAL for the others).
//! - `WriteSame` is a `Write` of the pattern repeated, so snapshots, whiteouts and usage
//!   accounting treat it exactly as one.

use super::{compare, StepCtx, StepOut};
use crate::errno;
use crate::msg::ops::{CmpMode, CmpOp, StepOutput};
use crate::store::MAX_READ_BYTES;
use bytes::{Bytes, BytesMut};

/// The index of the first byte of `expected` that differs from `stored`, where `stored`
/// continues with zeros past its end.
pub(super) fn first_mismatch(expected: &[u8], stored: &[u8]) -> Option<usize> {
    expected
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != stored.get(i).copied().unwrap_or(0))
        .map(|(i, _)| i)
}

/// The errno a mismatch at index `i` fails with (saturating: a request's data is far
/// smaller than `i32::MAX` anyway).
pub(super) fn mismatch_errno(i: usize) -> i32 {
    i32::try_from(i)
        .ok()
        .and_then(|i| errno::MAX_ERRNO.checked_add(i))
        .unwrap_or(i32::MAX)
}

/// `pattern` repeated to `len` bytes; EINVAL when it is empty or does not divide `len`.
/// The caller bounds `len` (by the largest object size).
pub(super) fn repeat_to(pattern: &[u8], len: u64) -> Result<Bytes, i32> {
    if pattern.is_empty() || len % pattern.len() as u64 != 0 {
        return Err(errno::EINVAL);
    }
    let len = usize::try_from(len).map_err(|_| errno::EFBIG)?;
    let mut out = BytesMut::with_capacity(len);
    out.extend_from_slice(&pattern[..pattern.len().min(len)]);
    // Doubling: a short pattern takes log(len) copies, not len / pattern.len().
    while out.len() < len {
        let more = out.len().min(len - out.len());
        out.extend_from_within(..more);
    }
    Ok(out.freeze())
}

/// Whether a stored omap value (None: the key is missing) satisfies `stored <op> given`.
pub(super) fn omap_satisfies(stored: Option<&[u8]>, op: CmpOp, given: &[u8]) -> Result<bool, i32> {
    if !matches!(op, CmpOp::Eq | CmpOp::Gt | CmpOp::Lt) {
        return Err(errno::EINVAL);
    }
    compare(stored.unwrap_or_default(), op, CmpMode::String, given)
}

impl StepCtx<'_> {
    pub(super) fn cmp_ext(&self, offset: u64, data: &Bytes) -> StepOut {
        let stored = if self.w.existed {
            let len = (data.len() as u64).min(self.w.size.saturating_sub(offset));
            if len > MAX_READ_BYTES {
                return Err(errno::EINVAL);
            }
            if len == 0 {
                Bytes::new()
            } else {
                self.store
                    .read(self.cid, self.oid, offset, len)
                    .map_err(super::store_errno)?
            }
        } else if self.write_request {
            Bytes::new()
        } else {
            return Err(errno::ENOENT);
        };
        match first_mismatch(data, &stored) {
            None => Ok(StepOutput::None),
            Some(i) => Err(mismatch_errno(i)),
        }
    }

    pub(super) fn omap_cmp(&self, assertions: &[(Bytes, CmpOp, Bytes)]) -> StepOut {
        self.need_exists()?;
        let keys: Vec<Bytes> = assertions.iter().map(|(k, _, _)| k.clone()).collect();
        let stored = self
            .store
            .omap_get_values(self.cid, self.oid, &keys)
            .map_err(super::store_errno)?;
        for (key, op, given) in assertions {
            if !omap_satisfies(stored.get(key).map(|v| &v[..]), *op, given)? {
                return Err(errno::ECANCELED);
            }
        }
        Ok(StepOutput::None)
    }

    pub(super) fn write_same(&mut self, offset: u64, len: u64, pattern: &[u8]) -> StepOut {
        if pattern.is_empty() {
            return Err(errno::EINVAL);
        }
        if len == 0 {
            // As in Ceph: nothing to write, and the object is not created.
            return Ok(StepOutput::None);
        }
        self.check_size(offset.checked_add(len))?;
        let data = repeat_to(pattern, len)?;
        self.write_at(offset, &data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_are_found_where_they_are_and_past_the_end_is_zeros() {
        assert_eq!(first_mismatch(b"hello", b"hello"), None);
        assert_eq!(first_mismatch(b"heLlo", b"hello"), Some(2));
        assert_eq!(first_mismatch(b"X", b"hello"), Some(0));
        assert_eq!(first_mismatch(b"hi\0\0", b"hi"), None);
        assert_eq!(first_mismatch(b"hi\0x", b"hi"), Some(3));
        assert_eq!(first_mismatch(b"", b"anything"), None);
        assert_eq!(first_mismatch(b"\0\0", b""), None);
    }

    #[test]
    fn mismatch_errno_is_max_errno_plus_index() {
        assert_eq!(mismatch_errno(0), 4095);
        assert_eq!(mismatch_errno(2), 4097);
        assert_eq!(mismatch_errno(usize::MAX), i32::MAX);
    }

    #[test]
    fn patterns_repeat_to_whole_multiples_only() {
        assert_eq!(repeat_to(b"ab", 6).unwrap(), &b"ababab"[..]);
        for (pattern, times) in [
            (&b"q"[..], 1000),
            (b"abc", 333),
            (b"0123456", 17),
            (b"xy", 1),
        ] {
            let len = (pattern.len() * times) as u64;
            assert_eq!(repeat_to(pattern, len).unwrap(), pattern.repeat(times));
        }
        assert_eq!(repeat_to(b"xyz", 0).unwrap(), &b""[..]);
        assert_eq!(repeat_to(b"ab", 5), Err(errno::EINVAL));
        assert_eq!(repeat_to(b"", 4), Err(errno::EINVAL));
    }

    #[test]
    fn omap_comparisons_follow_ceph() {
        use CmpOp::*;
        type Case = (Option<&'static [u8]>, CmpOp, &'static [u8], bool);
        let cases: &[Case] = &[
            (Some(b"b"), Eq, b"b", true),
            (Some(b"b"), Eq, b"a", false),
            (Some(b"b"), Gt, b"a", true),
            (Some(b"b"), Gt, b"b", false),
            (Some(b"b"), Lt, b"c", true),
            (Some(b"b"), Lt, b"b", false),
            // Byte-wise: a prefix sorts first.
            (Some(b"b"), Lt, b"bb", true),
            // A missing key is an empty value.
            (None, Eq, b"", true),
            (None, Eq, b"a", false),
            (None, Lt, b"a", true),
            (None, Gt, b"", false),
        ];
        for &(stored, op, given, want) in cases {
            assert_eq!(
                omap_satisfies(stored, op, given),
                Ok(want),
                "{stored:?} {op:?} {given:?}"
            );
        }
        for op in [Ne, Gte, Lte] {
            assert_eq!(omap_satisfies(Some(b"b"), op, b"b"), Err(errno::EINVAL));
        }
    }
}

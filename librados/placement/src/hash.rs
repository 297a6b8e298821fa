//! The hash functions placement is built on, bit-exact with Ceph's.
//!
//! Two families live here:
//! - Bob Jenkins' 1997 "lookup2" string hash (`ceph_str_hash_rjenkins`): object name → placement seed;
//!   plus the Linux dcache string hash that pools may select instead (`object_hash linux`).
//! - CRUSH's integer hashes (`crush_hash32_rjenkins1_{1..5}`): every choice the mapper makes is a
//!   hash of the input `x`, an item id and a replica rank.
//!
//! Both use the same 96-bit mixing step; they differ in how inputs are fed to it.

/// The only CRUSH hash algorithm Ceph defines: Robert Jenkins' integer hash (`hash 0` in text maps).
pub const CRUSH_HASH_RJENKINS1: u8 = 0;

const CRUSH_HASH_SEED: u32 = 1_315_423_911;
const MIX_X: u32 = 231_232;
const MIX_Y: u32 = 1232;

/// Jenkins' reversible 96-bit mix.
#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 13);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 8);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 13);
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 12);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 16);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 5);
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 3);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 10);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 15);
}

/// `crush_hash32(RJENKINS1, a)`.
#[inline]
pub fn crush_hash32(a: u32) -> u32 {
    let mut a = a;
    let mut hash = CRUSH_HASH_SEED ^ a;
    let mut b = a;
    let (mut x, mut y) = (MIX_X, MIX_Y);
    mix(&mut b, &mut x, &mut hash);
    mix(&mut y, &mut a, &mut hash);
    hash
}

/// `crush_hash32_2(RJENKINS1, a, b)`.
#[inline]
pub fn crush_hash32_2(a: u32, b: u32) -> u32 {
    let (mut a, mut b) = (a, b);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b;
    let (mut x, mut y) = (MIX_X, MIX_Y);
    mix(&mut a, &mut b, &mut hash);
    mix(&mut x, &mut a, &mut hash);
    mix(&mut b, &mut y, &mut hash);
    hash
}

/// `crush_hash32_3(RJENKINS1, a, b, c)`.
#[inline(always)]
pub fn crush_hash32_3(a: u32, b: u32, c: u32) -> u32 {
    let (mut a, mut b, mut c) = (a, b, c);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c;
    let (mut x, mut y) = (MIX_X, MIX_Y);
    mix(&mut a, &mut b, &mut hash);
    mix(&mut c, &mut x, &mut hash);
    mix(&mut y, &mut a, &mut hash);
    mix(&mut b, &mut x, &mut hash);
    mix(&mut y, &mut c, &mut hash);
    hash
}

/// `crush_hash32_4(RJENKINS1, a, b, c, d)`.
#[inline]
pub fn crush_hash32_4(a: u32, b: u32, c: u32, d: u32) -> u32 {
    let (mut a, mut b, mut c, mut d) = (a, b, c, d);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d;
    let (mut x, mut y) = (MIX_X, MIX_Y);
    mix(&mut a, &mut b, &mut hash);
    mix(&mut c, &mut d, &mut hash);
    mix(&mut a, &mut x, &mut hash);
    mix(&mut y, &mut b, &mut hash);
    mix(&mut c, &mut x, &mut hash);
    mix(&mut y, &mut d, &mut hash);
    hash
}

/// `crush_hash32_5(RJENKINS1, a, b, c, d, e)`.
#[inline]
pub fn crush_hash32_5(a: u32, b: u32, c: u32, d: u32, e: u32) -> u32 {
    let (mut a, mut b, mut c, mut d, mut e) = (a, b, c, d, e);
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d ^ e;
    let (mut x, mut y) = (MIX_X, MIX_Y);
    mix(&mut a, &mut b, &mut hash);
    mix(&mut c, &mut d, &mut hash);
    mix(&mut e, &mut x, &mut hash);
    mix(&mut y, &mut a, &mut hash);
    mix(&mut b, &mut x, &mut hash);
    mix(&mut y, &mut c, &mut hash);
    mix(&mut d, &mut x, &mut hash);
    mix(&mut y, &mut e, &mut hash);
    hash
}

/// Number of `crush_hash32_3` computed together by [`crush_hash32_3_lanes`].
pub const HASH_LANES: usize = 8;

/// `crush_hash32_3(x, ids[i], r)` for eight ids at once. The lanes are independent, so each step
/// becomes one vector instruction: several times the throughput of eight scalar calls, whose
/// long dependency chains leave the CPU idle. AVX2 (eight lanes per instruction) is used when the
/// CPU has it, SSE2 (four) otherwise.
#[inline]
pub fn crush_hash32_3_lanes(x: u32, ids: &[u32; HASH_LANES], r: u32) -> [u32; HASH_LANES] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only requirement of this function.
            return unsafe { hash_lanes_avx2(x, ids, r) };
        }
    }
    hash_lanes(x, ids, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hash_lanes_avx2(x: u32, ids: &[u32; HASH_LANES], r: u32) -> [u32; HASH_LANES] {
    hash_lanes(x, ids, r)
}

/// The portable body of [`crush_hash32_3_lanes`], for callers that are themselves compiled for a
/// vector extension.
#[inline(always)]
pub(crate) fn hash_lanes(x: u32, ids: &[u32; HASH_LANES], r: u32) -> [u32; HASH_LANES] {
    #[inline(always)]
    fn mix8(a: &mut [u32; HASH_LANES], b: &mut [u32; HASH_LANES], c: &mut [u32; HASH_LANES]) {
        for i in 0..HASH_LANES {
            mix(&mut a[i], &mut b[i], &mut c[i]);
        }
    }
    let mut a = [x; HASH_LANES];
    let mut b = *ids;
    let mut c = [r; HASH_LANES];
    let mut hash = [0u32; HASH_LANES];
    for i in 0..HASH_LANES {
        hash[i] = CRUSH_HASH_SEED ^ x ^ ids[i] ^ r;
    }
    let mut xs = [MIX_X; HASH_LANES];
    let mut ys = [MIX_Y; HASH_LANES];
    mix8(&mut a, &mut b, &mut hash);
    mix8(&mut c, &mut xs, &mut hash);
    mix8(&mut ys, &mut a, &mut hash);
    mix8(&mut b, &mut xs, &mut hash);
    mix8(&mut ys, &mut c, &mut hash);
    hash
}

/// Ceph's object-name hash (`ceph_str_hash_rjenkins`, Jenkins' lookup2 with the golden-ratio
/// initial state). Bytes are taken as unsigned, so any byte string — not only UTF-8 — hashes.
pub fn str_hash_rjenkins(key: &[u8]) -> u32 {
    const GOLDEN_RATIO: u32 = 0x9e37_79b9;
    let word = |k: &[u8]| u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    let (mut a, mut b, mut c) = (GOLDEN_RATIO, GOLDEN_RATIO, 0u32);
    let mut chunks = key.chunks_exact(12);
    for k in &mut chunks {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix(&mut a, &mut b, &mut c);
    }
    // Lookup2 folds the length into c (as a 32-bit value: longer names wrap, as in Ceph).
    c = c.wrapping_add(key.len() as u32);
    // The tail: up to 11 bytes; byte 8 onwards go to c shifted up by one byte (its low byte
    // holds the length).
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        let byte = u32::from(byte);
        match i {
            0..=3 => a = a.wrapping_add(byte << (8 * i)),
            4..=7 => b = b.wrapping_add(byte << (8 * (i - 4))),
            _ => c = c.wrapping_add(byte << (8 * (i - 7))),
        }
    }
    mix(&mut a, &mut b, &mut c);
    c
}

/// The Linux dcache string hash (`ceph_str_hash_linux`), selected by pools with `object_hash linux`.
pub fn str_hash_linux(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |hash, &c| {
        let c = u32::from(c);
        hash.wrapping_add(c << 4)
            .wrapping_add(c >> 4)
            .wrapping_mul(11)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from Ceph's own library; the complete tables are checked by tests/crush_vectors.rs.
    #[test]
    fn str_hash_known_values() {
        assert_eq!(str_hash_rjenkins(b"foo"), 0x7fc1_f406);
        assert_eq!(str_hash_rjenkins(b""), 0xbd49_d10d);
    }

    #[test]
    fn lanes_match_scalar() {
        let ids = [
            0,
            1,
            0x7fff_ffff,
            0xffff_fffe,
            12345,
            0xdead_beef,
            7,
            u32::MAX,
        ];
        for (x, r) in [(0, 0), (1, 2), (0xffff_ffff, 77), (123_456, 0x8000_0000)] {
            let got = crush_hash32_3_lanes(x, &ids, r);
            let portable = hash_lanes(x, &ids, r);
            for (i, &id) in ids.iter().enumerate() {
                assert_eq!(got[i], crush_hash32_3(x, id, r));
                assert_eq!(portable[i], got[i]);
            }
        }
    }

    #[test]
    fn crush_hash_changes_with_every_argument() {
        let base = crush_hash32_5(1, 2, 3, 4, 5);
        assert_ne!(base, crush_hash32_5(0, 2, 3, 4, 5));
        assert_ne!(base, crush_hash32_5(1, 2, 3, 4, 6));
        assert_ne!(crush_hash32_3(1, 2, 3), crush_hash32_3(1, 3, 2));
    }
}

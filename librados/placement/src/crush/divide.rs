//! Exact division of straw2 draws by item weights, by multiplication.
//!
//! straw2 divides a fixed-point logarithm `n` (0 ≤ n ≤ 2^48) by each item's 16.16 weight for every
//! item of every bucket it visits; a 64-bit hardware division costs ~40 cycles. With a
//! precomputed reciprocal the quotient is the high half of one 64×64-bit multiply, shifted, and it
//! is exact for every `n < 2^62` (Granlund & Montgomery, "Division by invariant integers using
//! multiplication", 1994, theorem 4.2: with `l = ceil(log2 d)` and `m = floor(2^(N+l) / d) + 1`,
//! `floor(n / d) = floor(n·m / 2^(N+l))` for all `n < 2^N`). With N = 62 the shift is at least
//! 64 for every divisor above 4, so only the high half is needed; divisors up to 4 (weights below
//! 0.0001) use the hardware instruction.

/// Bits of the dividends this divisor is exact for.
const N: u32 = 62;

/// A precomputed divisor (never zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Divisor {
    /// 0 for small divisors, which divide in hardware.
    magic: u64,
    /// The shift beyond 64 (`N + l - 64`), or the divisor itself when `magic` is 0.
    shift: u32,
}

impl Divisor {
    pub(crate) fn new(d: u32) -> Divisor {
        let d = d.max(1);
        let l = 32 - (d - 1).leading_zeros();
        if l <= 2 {
            return Divisor { magic: 0, shift: d };
        }
        let magic = ((1u128 << (N + l)) / u128::from(d) + 1) as u64;
        Divisor {
            magic,
            shift: N + l - 64,
        }
    }

    /// `floor(n / d)` for `n < 2^62`.
    #[inline(always)]
    pub(crate) fn div(self, n: u64) -> u64 {
        debug_assert!(n < 1 << N);
        if self.magic == 0 {
            return n / u64::from(self.shift);
        }
        (((u128::from(n) * u128::from(self.magic)) >> 64) as u64) >> self.shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edge_divisors_and_dividends() {
        let divisors = [
            1u32,
            2,
            3,
            7,
            0x8000,
            0xffff,
            0x10000,
            0x10001,
            0x18000,
            0x7fff_ffff,
            0x8000_0000,
            u32::MAX,
        ];
        let dividends = [
            0u64,
            1,
            2,
            0xffff,
            1 << 32,
            (1 << 48) - 1,
            1 << 48,
            (1 << 49) - 1,
            (1 << 62) - 1,
        ];
        for &d in &divisors {
            let dv = Divisor::new(d);
            for &n in &dividends {
                assert_eq!(dv.div(n), n / u64::from(d), "{n} / {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn matches_hardware_division(d in 1u32.., n in 0u64..(1 << 62)) {
            prop_assert_eq!(Divisor::new(d).div(n), n / u64::from(d));
        }
    }
}

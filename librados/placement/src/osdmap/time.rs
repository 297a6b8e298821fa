//! Wall-clock timestamps as the cluster map stores them (seconds and nanoseconds since the epoch).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time; zero means "unset".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct UTime {
    pub secs: u64,
    pub nanos: u32,
}

impl UTime {
    pub fn now() -> UTime {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UTime {
            secs: d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.secs == 0 && self.nanos == 0
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for UTime {
    /// `2026-11-23T19:26:48.187179+0000` (UTC), or `0.000000` when unset, as Ceph prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0.000000");
        }
        let days = (self.secs / 86_400) as i64;
        let rem = self.secs % 86_400;
        let (y, mo, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+0000",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60,
            self.nanos / 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_ceph() {
        let t = UTime {
            secs: 1_795_462_008,
            nanos: 187_179_000,
        };
        assert_eq!(t.to_string(), "2026-11-23T19:26:48.187179+0000");
        assert_eq!(UTime::default().to_string(), "0.000000");
        assert_eq!(
            UTime {
                secs: 951_782_400,
                nanos: 0
            }
            .to_string(),
            "2000-02-29T00:00:00.000000+0000"
        );
    }
}

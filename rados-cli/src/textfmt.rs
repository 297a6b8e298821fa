//! Text formats Ceph's tools print, reproduced so output can be compared with theirs: the
//! `hexdump -C` style of `bufferlist::hexdump`, `byte_u_t` sizes ("4.0 KiB"), `utime_t`
//! timestamps, `lssnap`'s local-time stamps, `TextTable` tables, CRUSH weights, and Ceph's size
//! arguments ("4K", "4M").

use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// `bufferlist::hexdump` with its trailing length line: 16 bytes a row, runs of zero rows
/// collapsed to `*`, printable ASCII on the right.
pub fn hexdump(data: &[u8]) -> String {
    let mut out = String::new();
    if data.is_empty() {
        return out;
    }
    const PER: usize = 16;
    let (mut was_zeros, mut did_star) = (false, false);
    let mut o = 0;
    while o < data.len() {
        let row = &data[o..data.len().min(o + PER)];
        if o + PER < data.len() {
            if row.iter().all(|&b| b == 0) {
                if was_zeros {
                    if !did_star {
                        out.push_str("\n*");
                        did_star = true;
                    }
                    o += PER;
                    continue;
                }
                was_zeros = true;
            } else {
                was_zeros = false;
                did_star = false;
            }
        }
        if o > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{o:08x} ");
        for i in 0..PER {
            if i == 8 {
                out.push(' ');
            }
            match row.get(i) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        for &c in row {
            out.push(if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            });
        }
        out.push('|');
        o += PER;
    }
    let _ = writeln!(out, "\n{:08x}", data.len());
    out
}

/// A byte count as Ceph's `byte_u_t` prints it: "0 B", "4.0 KiB", "27 GiB".
pub fn bytes_u(v: u64) -> String {
    const UNITS: [&str; 7] = [" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"];
    let mut n = v;
    let mut index = 0;
    while n >= 1024 && index < UNITS.len() - 1 {
        n /= 1024;
        index += 1;
    }
    if index == 0 {
        return format!("{n}{}", UNITS[0]);
    }
    let scaled = v as f64 / (1u64 << (10 * index)) as f64;
    let mut s = String::new();
    for precision in (0..=2).rev() {
        s = format!("{scaled:.precision$}{}", UNITS[index]);
        if s.len() < 8 {
            break;
        }
    }
    s
}

/// Days since 1970-01-01 to a civil (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A time as `utime_t` prints it (in UTC): `2024-05-01T12:00:00.123456+0000`; small values
/// (under ten years, i.e. durations) print as `SECONDS.USEC`.
pub fn utime(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let usec = since_epoch.subsec_micros();
    if secs < 60 * 60 * 24 * 365 * 10 {
        return format!("{secs}.{usec:06}");
    }
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{usec:06}+0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// A time in the local time zone as `rados lssnap` prints a snapshot's stamp:
/// `2024.05.01 14:00:00` (whole seconds). UTC when the zone cannot be read.
pub fn local_stamp(t: SystemTime) -> String {
    let secs = since_epoch(t).as_secs();
    let (y, mo, d, h, mi, s) = match local_fields(secs) {
        Some(f) => f,
        None => {
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let rem = (secs % 86_400) as u32;
            (y, mo, d, rem / 3600, (rem / 60) % 60, rem % 60)
        }
    };
    format!("{y:04}.{mo:02}.{d:02} {h:02}:{mi:02}:{s:02}")
}

/// (year, month, day, hour, minute, second) of `secs` in the local zone ($TZ, /etc/localtime),
/// which only the C library knows how to read.
fn local_fields(secs: u64) -> Option<(i64, u32, u32, u32, u32, u32)> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data that localtime_r fills in; a zeroed one is a valid value
    // (its zone pointer null), and both pointers passed live for the whole call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let filled = unsafe { libc::localtime_r(&t, &mut tm) };
    if filled.is_null() {
        return None;
    }
    let field = |v: libc::c_int| u32::try_from(v).ok();
    Some((
        i64::from(tm.tm_year) + 1900,
        field(tm.tm_mon + 1)?,
        field(tm.tm_mday)?,
        field(tm.tm_hour)?,
        field(tm.tm_min)?,
        field(tm.tm_sec)?,
    ))
}

/// Time since the epoch (zero for times before it).
pub fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
}

/// A CRUSH weight as `weightf_t` prints it: five decimals, "0" for nothing.
pub fn weightf(v: f64) -> String {
    if v < -0.01 {
        "-".into()
    } else if v < 0.000_001 {
        "0".into()
    } else {
        format!("{v:.5}")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Ceph's `TextTable`: columns padded to their widest cell, two spaces between columns.
pub struct TextTable {
    cols: Vec<(String, Align, Align)>,
    rows: Vec<Vec<String>>,
}

impl TextTable {
    pub fn new() -> TextTable {
        TextTable {
            cols: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn column(&mut self, heading: &str, heading_align: Align, align: Align) -> &mut Self {
        self.cols.push((heading.to_string(), heading_align, align));
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let widths: Vec<usize> = self
            .cols
            .iter()
            .enumerate()
            .map(|(i, (h, _, _))| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .chain([h.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = (&str, Align)>| {
            for (i, (cell, align)) in cells.enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(cell.chars().count());
                match align {
                    Align::Left => {
                        out.push_str(cell);
                        out.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        out.extend(std::iter::repeat_n(' ', pad));
                        out.push_str(cell);
                    }
                }
            }
            out.push('\n');
        };
        line(
            &mut out,
            &mut self.cols.iter().map(|(h, a, _)| (h.as_str(), *a)),
        );
        for row in &self.rows {
            line(
                &mut out,
                &mut row
                    .iter()
                    .zip(&self.cols)
                    .map(|(c, (_, _, a))| (c.as_str(), *a)),
            );
        }
        out
    }
}

/// A size as Ceph's `strict_iecstrtoll` reads it: `4096`, `4K`, `4M`, `1G`, `4KiB`, `4MB`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return None;
    }
    let n: u64 = t[..digits].parse().ok()?;
    let unit = t[digits..].to_ascii_uppercase();
    let unit = unit.strip_suffix('B').unwrap_or(&unit);
    let unit = unit.strip_suffix('I').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexdump_like_ceph() {
        assert_eq!(
            hexdump(b"hello"),
            "00000000  68 65 6c 6c 6f                                    |hello|\n00000005\n"
        );
        let d = hexdump(&[0u8; 64]);
        assert_eq!(
            d,
            "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n*\n\
             00000030  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n00000040\n"
        );
        assert_eq!(hexdump(b""), "");
    }

    #[test]
    fn sizes_like_ceph() {
        assert_eq!(bytes_u(0), "0 B");
        assert_eq!(bytes_u(1023), "1023 B");
        assert_eq!(bytes_u(4096), "4.0 KiB");
        assert_eq!(bytes_u(1536), "1.5 KiB");
        assert_eq!(bytes_u(27 << 30), "27 GiB");
        assert_eq!(bytes_u(100 << 20), "100 MiB");
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("4M"), Some(4 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("4KiB"), Some(4096));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-4"), None);
        assert_eq!(parse_size("99999999999E"), None);
    }

    #[test]
    fn times_like_utime_t() {
        assert_eq!(
            utime(Duration::new(1_700_000_000, 123_456_000)),
            "2023-11-14T22:13:20.123456+0000"
        );
        assert_eq!(utime(Duration::ZERO), "0.000000");
        assert_eq!(weightf(0.0), "0");
        assert_eq!(weightf(1.0), "1.00000");
    }

    #[test]
    fn tables_pad_columns() {
        let mut t = TextTable::new();
        t.column("ID", Align::Left, Align::Right)
            .column("NAME", Align::Left, Align::Left);
        t.row(vec!["-1".into(), "root default".into()]);
        t.row(vec!["0".into(), "osd.0".into()]);
        assert_eq!(
            t.render(),
            "ID  NAME        \n-1  root default\n 0  osd.0       \n"
        );
    }

    #[test]
    fn local_stamps_have_lssnap_shape() {
        // The zone is the machine's, so only the layout is fixed.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let s = local_stamp(t);
        let b = s.as_bytes();
        assert_eq!(s.len(), 19, "{s}");
        assert!(b[4] == b'.' && b[7] == b'.' && b[10] == b' ' && b[13] == b':' && b[16] == b':');
        assert!(s.starts_with("2023.11.1"), "{s}");
    }
}

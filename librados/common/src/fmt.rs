//! Number and list formatting that matches what Ceph's C++ tools print, so outputs can be
//! compared with `diff`.

use std::fmt::Write;

/// What a report-producing tool printed, split as the Ceph tool splits it between stdout and
/// stderr (so outputs compare with `diff` against the tool's stdout).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub stdout: String,
    pub stderr: String,
}

/// A float as C++ streams print it by default (`%g` with 6 significant digits).
pub fn general(v: f64) -> String {
    general_with_precision(v, 6)
}

/// `%g` with `precision` significant digits: fixed or scientific by exponent, no trailing zeros.
pub fn general_with_precision(v: f64, precision: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `[a,b,c]`, as Ceph prints a vector.
pub fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let mut s = String::with_capacity(2 + items.len() * 4);
    s.push('[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v}");
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_printf_g() {
        assert_eq!(general(409.6), "409.6");
        assert_eq!(general(1.0), "1");
        assert_eq!(general(1.0 / 0.6), "1.66667");
        assert_eq!(general(6.298_149_99), "6.29815");
        assert_eq!(general(0.262_423_4), "0.262423");
        assert_eq!(general(1_234_567.0), "1.23457e+06");
        assert_eq!(general(0.000_012_5), "1.25e-05");
        assert_eq!(general(100_000.0), "100000");
        assert_eq!(general(0.0001), "0.0001");
    }

    #[test]
    fn lists() {
        assert_eq!(list::<i32>(&[]), "[]");
        assert_eq!(list(&[3, 0, 7]), "[3,0,7]");
    }
}

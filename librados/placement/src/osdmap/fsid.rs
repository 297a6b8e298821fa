//! The cluster id (a UUID).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A cluster's fsid: 16 bytes, printed as a UUID.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Fsid(pub [u8; 16]);

impl Fsid {
    pub const NIL: Fsid = Fsid([0; 16]);

    /// A random (version 4) fsid from the operating system's randomness.
    pub fn generate() -> std::io::Result<Fsid> {
        use std::io::Read;
        let mut b = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Ok(Fsid(b))
    }
}

impl fmt::Display for Fsid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fsid '{0}' (expected a UUID such as 6f1e0b9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b)")]
pub struct FsidParseError(pub String);

impl FromStr for Fsid {
    type Err = FsidParseError;

    fn from_str(s: &str) -> Result<Fsid, FsidParseError> {
        let hex: String = s.chars().filter(|&c| c != '-').collect();
        let dashes_ok = s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-');
        if hex.len() != 32 || !dashes_ok || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FsidParseError(s.to_string()));
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| FsidParseError(s.to_string()))?;
        }
        Ok(Fsid(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = Fsid::generate().unwrap();
        assert_eq!(f.to_string().parse::<Fsid>().unwrap(), f);
        assert_eq!(
            Fsid::NIL.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert!("not-a-uuid".parse::<Fsid>().is_err());
        assert!("ééééééé-0000-0000-0000-000000000000"
            .parse::<Fsid>()
            .is_err());
        assert!("0000000000000000000000000000000000-0"
            .parse::<Fsid>()
            .is_err());
    }
}

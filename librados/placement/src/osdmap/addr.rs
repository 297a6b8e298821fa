//! Entity addresses, as Ceph prints and parses them (`127.0.0.1:0/3141592`,
//! `[::1]:6800/77`), and the map's client blocklist that fences clients by address.
//!
//! An address is an IP, a port and a nonce that tells apart the instances sharing an IP and
//! port. A blocklist entry of port 0 and nonce 0 fences every client at that IP.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// Where an entity (client, OSD) is reached. Encoded as its text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityAddr {
    pub ip: IpAddr,
    pub port: u16,
    pub nonce: u64,
}

/// Why an address did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid address '{input}': {reason}")]
pub struct AddrParseError {
    pub input: String,
    pub reason: &'static str,
}

impl EntityAddr {
    /// The address of an in-process entity with instance number `nonce`: the loopback IP,
    /// port 0 (it listens on no socket).
    pub fn local(nonce: u64) -> EntityAddr {
        EntityAddr {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            nonce,
        }
    }

    /// The same IP with port and nonce 0: the entry that stands for every entity there.
    pub fn whole_ip(&self) -> EntityAddr {
        EntityAddr {
            ip: self.ip,
            port: 0,
            nonce: 0,
        }
    }
}

impl fmt::Display for EntityAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}/{}", self.port, self.nonce),
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}/{}", self.port, self.nonce),
        }
    }
}

impl FromStr for EntityAddr {
    type Err = AddrParseError;

    /// `IP[:PORT][/NONCE]`, IPv6 in brackets, with an optional `v1:`, `v2:` or `any:` prefix
    /// (the protocol is not part of the identity). A missing port or nonce is 0.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddrParseError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let s = ["v1:", "v2:", "any:"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .unwrap_or(s);
        let (host_port, nonce) = match s.rsplit_once('/') {
            Some((h, n)) => (h, n.parse::<u64>().map_err(|_| err("bad nonce"))?),
            None => (s, 0),
        };
        let (ip, port) = if let Some(rest) = host_port.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or(err("unclosed '['"))?;
            let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| err("bad IPv6 address"))?;
            let port = match after {
                "" => 0,
                p => p
                    .strip_prefix(':')
                    .ok_or(err("expected ':' after ']'"))?
                    .parse()
                    .map_err(|_| err("bad port"))?,
            };
            (IpAddr::V6(ip), port)
        } else {
            match host_port.rsplit_once(':') {
                Some((ip, port)) => (
                    IpAddr::V4(ip.parse().map_err(|_| err("bad IPv4 address"))?),
                    port.parse().map_err(|_| err("bad port"))?,
                ),
                None => (
                    IpAddr::V4(host_port.parse().map_err(|_| err("bad IPv4 address"))?),
                    0,
                ),
            }
        };
        Ok(EntityAddr { ip, port, nonce })
    }
}

impl Serialize for EntityAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntityAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_ceph_forms() {
        let a: EntityAddr = "127.0.0.1:0/3141592".parse().unwrap();
        assert_eq!(a, EntityAddr::local(3_141_592));
        assert_eq!("v2:127.0.0.1:0/3141592".parse::<EntityAddr>().unwrap(), a);
        assert_eq!("any:127.0.0.1:0/3141592".parse::<EntityAddr>().unwrap(), a);
        let whole: EntityAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(whole.to_string(), "10.1.2.3:0/0");
        assert_eq!("10.1.2.3:6789".parse::<EntityAddr>().unwrap().port, 6789);
        let v6: EntityAddr = "[::1]:6800/7".parse().unwrap();
        assert_eq!(v6.to_string(), "[::1]:6800/7");
        assert_eq!(
            "[fe80::2]".parse::<EntityAddr>().unwrap().to_string(),
            "[fe80::2]:0/0"
        );
        assert_eq!(a.whole_ip().to_string(), "127.0.0.1:0/0");
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "host:1/2",
            "1.2.3.4:x/1",
            "1.2.3.4:1/-3",
            "1.2.3.4:70000/1",
            "[::1",
            "[::1]x",
            "1.2.3.4.5",
            "::1:0/0",
            "1.2.3.4:0/1/2",
        ] {
            assert!(bad.parse::<EntityAddr>().is_err(), "{bad:?} parsed");
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(v4 in any::<u32>(), v6 in any::<u128>(), six: bool,
                               port: u16, nonce: u64) {
            let ip = if six { IpAddr::V6(v6.into()) } else { IpAddr::V4(v4.into()) };
            let a = EntityAddr { ip, port, nonce };
            prop_assert_eq!(a.to_string().parse::<EntityAddr>().unwrap(), a);
        }
    }
}

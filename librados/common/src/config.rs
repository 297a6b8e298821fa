//! Client and cluster configuration: a ceph.conf-style INI file, or built in code.
//!
//! ```ini
//! [global]
//! data_dir = /var/lib/rados     # embedded: run the cluster in-process over this directory
//! # mon_host = 10.0.0.1:6789    # distributed: connect to daemons (a later release)
//! osd_count = 3                 # OSDs of a new embedded cluster
//! osd_pool_default_size = 3     # unset: 3, or osd_count if fewer
//! osd_pool_default_pg_num = 32
//! rados_osd_op_timeout = 60     # seconds; 0 = wait for ever
//! ```
//!
//! Keys are matched as Ceph matches them: case-insensitive, with spaces, dashes and
//! underscores equivalent. A client reads `[global]`, `[client]` and `[client.NAME]`; a daemon
//! reads `[global]`, its type's section and its own (`[osd]`, `[osd.3]`), later sections
//! overriding earlier ones as they come. A relative `data_dir` is relative to the file's
//! directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Every option read, by normalised key.
    values: BTreeMap<String, String>,
    /// Where the file came from (relative paths resolve against its directory).
    base: Option<PathBuf>,
}

/// Why a configuration could not be read or a value is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A malformed line or an unusable value.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    pub fn errno(&self) -> i32 {
        match self {
            ConfigError::Invalid(_) => crate::errno::EINVAL,
            ConfigError::Io { source, .. } => source.raw_os_error().unwrap_or(crate::errno::EIO),
        }
    }
}

pub type Result<T> = std::result::Result<T, ConfigError>;

fn normalise(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

impl Config {
    /// A configuration for an embedded cluster in `dir`.
    pub fn embedded(dir: impl AsRef<Path>) -> Config {
        let mut c = Config {
            values: BTreeMap::new(),
            base: None,
        };
        c.set("data_dir", &dir.as_ref().to_string_lossy());
        c
    }

    /// Parses INI text as a client reads it (`base` resolves relative paths).
    pub fn parse(text: &str, base: Option<&Path>) -> Result<Config> {
        Config::parse_for(text, base, "client")
    }

    /// Parses INI text as entity `who` (`client`, `osd.3`, `mon.a`) reads it: `[global]`, the
    /// sections of its type and of its name.
    pub fn parse_for(text: &str, base: Option<&Path>, who: &str) -> Result<Config> {
        let who = normalise(who);
        let kind = who.split('.').next().unwrap_or("").to_string();
        let mut values = BTreeMap::new();
        let mut section = String::from("global");
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split(['#', ';']).next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or_else(|| {
                    ConfigError::Invalid(format!("line {}: unterminated section header", n + 1))
                })?;
                section = normalise(name);
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| {
                ConfigError::Invalid(format!("line {}: expected 'key = value'", n + 1))
            })?;
            let applies = section == "global"
                || section == kind
                || section == who
                || (kind == "client" && section.starts_with("client."));
            if applies {
                values.insert(normalise(k), v.trim().to_string());
            }
        }
        Ok(Config {
            values,
            base: base.map(Path::to_path_buf),
        })
    }

    /// Reads a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        Config::from_file_for(path, "client")
    }

    /// Reads a configuration file as entity `who` reads it (see [`Config::parse_for`]).
    pub fn from_file_for(path: impl AsRef<Path>, who: &str) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse_for(&text, path.parent(), who)
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.values.insert(normalise(key), value.to_string());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(&normalise(key)).map(String::as_str)
    }

    /// A duration in seconds (fractions allowed), `default` when unset; must be positive.
    pub fn seconds(&self, key: &str, default: Duration) -> Result<Duration> {
        match self.number::<f64>(key)? {
            None => Ok(default),
            Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
            Some(s) => Err(ConfigError::Invalid(format!(
                "{key} = {s} must be a positive number of seconds"
            ))),
        }
    }

    /// A duration in seconds (fractions allowed) that may be zero, `default` when unset.
    pub fn seconds_or_zero(&self, key: &str, default: Duration) -> Result<Duration> {
        match self.number::<f64>(key)? {
            Some(0.0) => Ok(Duration::ZERO),
            _ => self.seconds(key, default),
        }
    }

    /// A size in bytes (a whole number, or one with a `K`, `M` or `G` suffix: powers of
    /// 1024), `default` when unset.
    pub fn bytes(&self, key: &str, default: u64) -> Result<u64> {
        let Some(v) = self.get(key) else {
            return Ok(default);
        };
        let t = v.trim();
        let (digits, shift) = match t.char_indices().last() {
            Some((i, 'K' | 'k')) => (&t[..i], 10),
            Some((i, 'M' | 'm')) => (&t[..i], 20),
            Some((i, 'G' | 'g')) => (&t[..i], 30),
            _ => (t, 0),
        };
        digits
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1 << shift))
            .ok_or_else(|| ConfigError::Invalid(format!("{key} = {v} is not a size in bytes")))
    }

    /// A whole number, `default` when unset.
    pub fn count(&self, key: &str, default: u32) -> Result<u32> {
        Ok(self.number::<u32>(key)?.unwrap_or(default))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ConfigError::Invalid(format!("{key} = {v} is not a number"))),
        }
    }

    /// The embedded data directory, when the configuration names one.
    pub fn data_dir(&self) -> Option<PathBuf> {
        let d = PathBuf::from(self.get("data_dir")?);
        Some(match &self.base {
            Some(b) if d.is_relative() => b.join(d),
            _ => d,
        })
    }

    pub fn mon_host(&self) -> Option<&str> {
        self.get("mon_host").filter(|s| !s.is_empty())
    }

    pub fn osd_count(&self) -> Result<u32> {
        let n = self.number::<u32>("osd_count")?.unwrap_or(3);
        if !(1..=64).contains(&n) {
            return Err(ConfigError::Invalid(format!(
                "osd_count = {n}: an embedded cluster has 1 to 64 OSDs"
            )));
        }
        Ok(n)
    }

    pub fn default_pool_size(&self) -> Result<Option<u8>> {
        self.number("osd_pool_default_size")
    }

    pub fn default_pg_num(&self) -> Result<Option<u32>> {
        self.number("osd_pool_default_pg_num")
    }

    /// How long an operation may wait before failing with ETIMEDOUT (None: for ever).
    pub fn op_timeout(&self) -> Result<Option<Duration>> {
        let secs = self.number::<f64>("rados_osd_op_timeout")?.unwrap_or(60.0);
        if !secs.is_finite() || secs < 0.0 {
            return Err(ConfigError::Invalid(format!(
                "rados_osd_op_timeout = {secs} must be a number of seconds"
            )));
        }
        Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
    }

    /// How long connecting to the monitors may take (`client_mount_timeout`, seconds;
    /// default 30).
    pub fn mount_timeout(&self) -> Result<Duration> {
        let secs = self.number::<f64>("client_mount_timeout")?.unwrap_or(30.0);
        if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
            return Err(ConfigError::Invalid(format!(
                "client_mount_timeout = {secs} must be a positive number of seconds"
            )));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// The text of this configuration as an INI file.
    pub fn to_ini(&self) -> String {
        let mut out = String::from("[global]\n");
        for (k, v) in &self.values {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ceph_style_files() {
        let c = Config::parse(
            "# comment\n[global]\n  Data Dir = ./d ; trailing\nmon-host=\n[osd]\nosd_count = 9\n[client]\nrados osd op timeout = 5\n",
            Some(Path::new("/etc/x")),
        )
        .unwrap();
        assert_eq!(c.data_dir(), Some(PathBuf::from("/etc/x/./d")));
        assert_eq!(c.mon_host(), None);
        assert_eq!(
            c.osd_count().unwrap(),
            3,
            "[osd] sections are not the client's"
        );
        assert_eq!(c.op_timeout().unwrap(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn daemons_read_their_type_and_name_sections() {
        let text = "[global]\na = 1\nb = 1\n[osd]\nb = 2\nc = 2\n[osd.3]\nc = 3\n[osd.30]\nc = 30\n[mon]\na = 9\n[client]\na = 7\n";
        let osd3 = Config::parse_for(text, None, "osd.3").unwrap();
        assert_eq!(
            (osd3.get("a"), osd3.get("b"), osd3.get("c")),
            (Some("1"), Some("2"), Some("3"))
        );
        let osd4 = Config::parse_for(text, None, "osd.4").unwrap();
        assert_eq!(osd4.get("c"), Some("2"));
        let client = Config::parse(text, None).unwrap();
        assert_eq!((client.get("a"), client.get("c")), (Some("7"), None));
    }

    #[test]
    fn bad_lines_and_values_are_errors() {
        assert!(Config::parse("[global\n", None).is_err());
        assert!(Config::parse("novalue\n", None).is_err());
        let c = Config::parse("osd_count = many\n", None).unwrap();
        assert_eq!(c.osd_count().unwrap_err().errno(), crate::errno::EINVAL);
        let c = Config::parse("osd_count = 0\n", None).unwrap();
        assert!(c.osd_count().is_err());
    }

    #[test]
    fn sizes_and_durations_that_may_be_zero() {
        let c = Config::parse(
            "a = 512\nb = 4K\nc = 500M\nd = 2g\ne = 1.5M\nf = -1\ng = 99999999999G\nz = 0\n",
            None,
        )
        .unwrap();
        assert_eq!(c.bytes("a", 7).unwrap(), 512);
        assert_eq!(c.bytes("b", 7).unwrap(), 4096);
        assert_eq!(c.bytes("c", 7).unwrap(), 500 << 20);
        assert_eq!(c.bytes("d", 7).unwrap(), 2 << 30);
        assert_eq!(c.bytes("unset", 7).unwrap(), 7);
        for bad in ["e", "f", "g"] {
            assert_eq!(c.bytes(bad, 7).unwrap_err().errno(), crate::errno::EINVAL);
        }
        assert_eq!(
            c.seconds_or_zero("z", Duration::from_secs(1)).unwrap(),
            Duration::ZERO
        );
        assert!(c.seconds("z", Duration::from_secs(1)).is_err());
        assert!(c.seconds_or_zero("f", Duration::from_secs(1)).is_err());
    }
}

//! The cluster log's vocabulary: levels and entries, as the monitor keeps them and sends
//! them to subscribers (`ceph -w`, `Rados::monitor_log`).

use crate::osdmap::{EntityAddr, UTime};
use crate::EntityName;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest `log` line the monitor accepts.
pub const MAX_LOG_MESSAGE_BYTES: usize = 64 << 10;

/// How serious an entry is, least to most (Ceph's order: `sec` sits between info and warn).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    Debug,
    Info,
    /// Security events (a client fenced, say).
    Sec,
    Warn,
    Error,
}

impl LogLevel {
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Sec,
        LogLevel::Warn,
        LogLevel::Error,
    ];

    /// Parses a level as Ceph's tools and python-rados spell it: `debug`, `info`, `sec`,
    /// `warn`/`warning`, `err`/`error` (any case).
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.to_ascii_lowercase().as_str() {
            "debug" | "dbg" => Some(LogLevel::Debug),
            "info" | "inf" => Some(LogLevel::Info),
            "sec" | "security" => Some(LogLevel::Sec),
            "warn" | "warning" | "wrn" => Some(LogLevel::Warn),
            "err" | "error" => Some(LogLevel::Error),
            _ => None,
        }
    }

    /// The word python-rados and `ceph log last` take: `debug`, `info`, `sec`, `warn`, `error`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Sec => "sec",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The tag in a log line: `[DBG]`, `[INF]`, `[SEC]`, `[WRN]`, `[ERR]`.
    pub fn tag(self) -> &'static str {
        match self {
            LogLevel::Debug => "[DBG]",
            LogLevel::Info => "[INF]",
            LogLevel::Sec => "[SEC]",
            LogLevel::Warn => "[WRN]",
            LogLevel::Error => "[ERR]",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One cluster log entry. `seq` is the monitor's: it numbers every entry the cluster has
/// logged, in order, and never repeats (not even across monitor restarts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLogEntry {
    pub stamp: UTime,
    /// Who logged it: `mon.0`, `osd.3`, `client.4127`.
    pub who: EntityName,
    /// The address it logged from.
    pub addr: EntityAddr,
    pub seq: u64,
    /// `cluster` for the cluster's own events, `audit` for changes clients asked for.
    pub channel: String,
    pub level: LogLevel,
    pub message: String,
}

impl ClusterLogEntry {
    /// `STAMP NAME [LVL] MESSAGE`: the line a subscriber is given (`ceph -w` prints these).
    pub fn brief(&self) -> String {
        format!(
            "{} {} {} {}",
            self.stamp,
            self.who,
            self.level.tag(),
            self.message
        )
    }
}

impl fmt::Display for ClusterLogEntry {
    /// `STAMP NAME (WHO) SEQ : CHANNEL [LVL] MESSAGE`, the shape of Ceph's `log last` lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}) {} : {} {} {}",
            self.stamp,
            self.who,
            self.who,
            self.seq,
            self.channel,
            self.level.tag(),
            self.message
        )
    }
}

/// The channel of the cluster's own events.
pub const CHANNEL_CLUSTER: &str = "cluster";
/// The channel of changes clients asked for.
pub const CHANNEL_AUDIT: &str = "audit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_order_and_print_as_ceph_does() {
        for l in LogLevel::ALL {
            assert_eq!(LogLevel::parse(l.name()), Some(l));
        }
        assert_eq!(LogLevel::parse("WARNING"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("err"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse("loud"), None);
        assert!(LogLevel::Info < LogLevel::Sec && LogLevel::Sec < LogLevel::Warn);
        let e = ClusterLogEntry {
            stamp: UTime {
                secs: 1_795_462_008,
                nanos: 187_179_000,
            },
            who: EntityName::client(4),
            addr: EntityAddr::local(4),
            seq: 12,
            channel: CHANNEL_CLUSTER.into(),
            level: LogLevel::Warn,
            message: "disk nearly full".into(),
        };
        assert_eq!(
            e.to_string(),
            "2026-11-23T19:26:48.187179+0000 client.4 (client.4) 12 : cluster [WRN] disk nearly full"
        );
        assert_eq!(
            e.brief(),
            "2026-11-23T19:26:48.187179+0000 client.4 [WRN] disk nearly full"
        );
    }
}

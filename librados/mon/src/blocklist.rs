//! The client blocklist (`osd blocklist add|rm|ls`): addresses whose requests OSDs refuse,
//! which is how a client that lost a lock (or its lease) is fenced off before another takes
//! over. Each change is a new map epoch; an entry holds until the monitor removes it, which it
//! does in a new epoch once the entry's time has passed.

use super::state::{MonState, Proposal};
use super::MonError;
use crate::msg::command::MonReply;
use crate::osdmap::{EntityAddr, UTime};
use std::time::Duration;

/// How long a fence lasts when no expiry is given (Ceph's default: an hour).
pub const DEFAULT_EXPIRE: Duration = Duration::from_secs(3600);
/// Longest fence accepted (ten years).
pub const MAX_EXPIRE: Duration = Duration::from_secs(10 * 365 * 86_400);

fn parse_addr(addr: &str) -> Result<EntityAddr, MonError> {
    addr.parse()
        .map_err(|e: crate::osdmap::AddrParseError| MonError::Invalid(e.to_string()))
}

fn after(now: UTime, d: Duration) -> UTime {
    let total = Duration::new(now.secs, now.nanos).saturating_add(d);
    UTime {
        secs: total.as_secs(),
        nanos: total.subsec_nanos(),
    }
}

impl MonState {
    pub(super) fn blocklist_add(
        &self,
        addr: &str,
        expire_secs: Option<f64>,
    ) -> Result<Proposal, MonError> {
        let addr = parse_addr(addr)?;
        let expire = match expire_secs {
            None => DEFAULT_EXPIRE,
            Some(s) if s.is_finite() && s > 0.0 => {
                Duration::from_secs_f64(s.min(MAX_EXPIRE.as_secs_f64()))
            }
            Some(s) => {
                return Err(MonError::Invalid(format!(
                    "expire {s} must be a positive number of seconds"
                )))
            }
        };
        let mut inc = self.next_inc();
        let until = after(inc.modified, expire);
        inc.new_blocklist.insert(addr, until);
        Ok(self.changed(
            inc,
            format!(
                "blocklisting {addr} until {until} ({} sec)",
                expire.as_secs_f64().round()
            ),
        ))
    }

    pub(super) fn blocklist_remove(&self, addr: &str) -> Result<Proposal, MonError> {
        let addr = parse_addr(addr)?;
        if !self.map().blocklist().contains_key(&addr) {
            return Ok(self.unchanged(format!("{addr} isn't blocklisted")));
        }
        let mut inc = self.next_inc();
        inc.old_blocklist.insert(addr);
        Ok(self.changed(inc, format!("un-blocklisting {addr}")))
    }

    pub(super) fn blocklist_clear(&self) -> Proposal {
        let mut inc = self.next_inc();
        inc.old_blocklist = self.map().blocklist().keys().copied().collect();
        if inc.old_blocklist.is_empty() {
            return self.unchanged("removed all blocklist entries".into());
        }
        self.changed(inc, "removed all blocklist entries".into())
    }

    pub(super) fn blocklist_list(&self) -> Proposal {
        let entries = self
            .map()
            .blocklist()
            .iter()
            .map(|(a, t)| (*a, *t))
            .collect();
        self.read_only(MonReply::Blocklist(entries))
    }

    /// Removes every entry whose time is at or before `now` (nothing to log if none is).
    pub(super) fn blocklist_expire(&self, now: UTime) -> Proposal {
        let mut inc = self.next_inc();
        inc.old_blocklist = self
            .map()
            .blocklist()
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(a, _)| *a)
            .collect();
        if inc.old_blocklist.is_empty() {
            return self.unchanged("no blocklist entry has expired".into());
        }
        let n = inc.old_blocklist.len();
        self.changed(inc, format!("{n} blocklist entries expired"))
    }

    /// When the earliest fence is due to be lifted.
    pub fn next_blocklist_expiry(&self) -> Option<UTime> {
        self.map().blocklist().values().min().copied()
    }
}

//! Heartbeats between OSDs, pure (times are given): which peers to ping, and which have not
//! answered for longer than the grace.
//!
//! An OSD pings the OSDs it shares PGs with, and the next two up OSDs by id (so every OSD
//! has watchers, even one that serves no PG), every `interval`; a peer whose last answer
//! is older than `grace` is reported to the monitor once, and the report is withdrawn if it
//! answers again. After a gap in its own ticks longer than half the grace (the process was
//! stopped or starved), an OSD starts every peer's clock afresh instead of reporting peers
//! that could not have answered a process that was not running.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Heartbeat timing.
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatConfig {
    /// How often peers are pinged (Ceph's `osd_heartbeat_interval`).
    pub interval: Duration,
    /// How long a peer may stay silent before it is reported (`osd_heartbeat_grace`).
    pub grace: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_secs(6),
            grace: Duration::from_secs(20),
        }
    }
}

struct Peer {
    last_rx: Instant,
    reported: bool,
}

/// What a tick asks for.
#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    pub ping: Vec<i32>,
    /// Peers to report, with how long they have been silent.
    pub failed: Vec<(i32, Duration)>,
}

pub struct Heartbeats {
    cfg: HeartbeatConfig,
    peers: BTreeMap<i32, Peer>,
    last_tick: Option<Instant>,
}

impl Heartbeats {
    pub fn new(cfg: HeartbeatConfig) -> Heartbeats {
        Heartbeats {
            cfg,
            peers: BTreeMap::new(),
            last_tick: None,
        }
    }

    pub fn config(&self) -> &HeartbeatConfig {
        &self.cfg
    }

    /// The peers to watch from now on; new ones get a full grace. Returns the peers that had
    /// been reported and are no longer watched (their reports should be withdrawn).
    pub fn set_peers(&mut self, peers: &BTreeSet<i32>, now: Instant) -> Vec<i32> {
        let mut dropped = Vec::new();
        self.peers.retain(|o, p| {
            let keep = peers.contains(o);
            if !keep && p.reported {
                dropped.push(*o);
            }
            keep
        });
        for &o in peers {
            self.peers.entry(o).or_insert(Peer {
                last_rx: now,
                reported: false,
            });
        }
        dropped
    }

    /// `osd` answered; true when it had been reported (the report is to be withdrawn).
    pub fn on_reply(&mut self, osd: i32, now: Instant) -> bool {
        match self.peers.get_mut(&osd) {
            Some(p) => {
                p.last_rx = p.last_rx.max(now);
                std::mem::replace(&mut p.reported, false)
            }
            None => false,
        }
    }

    pub fn tick(&mut self, now: Instant) -> Tick {
        let stalled = self
            .last_tick
            .is_some_and(|t| now.saturating_duration_since(t) > self.cfg.grace / 2);
        self.last_tick = Some(now);
        let mut t = Tick::default();
        for (&o, p) in &mut self.peers {
            if stalled {
                p.last_rx = now;
            }
            let silent = now.saturating_duration_since(p.last_rx);
            if silent > self.cfg.grace && !p.reported {
                p.reported = true;
                t.failed.push((o, silent));
            }
            t.ping.push(o);
        }
        t
    }
}

/// The peers an OSD watches: those it shares PGs with (given), and the next two up OSDs
/// after it by id, wrapping around.
pub fn choose_peers(me: i32, sharing: BTreeSet<i32>, up: &[i32]) -> BTreeSet<i32> {
    let mut peers = sharing;
    let after = up
        .iter()
        .filter(|&&o| o > me)
        .chain(up.iter().filter(|&&o| o < me));
    peers.extend(after.take(2));
    peers.remove(&me);
    peers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HeartbeatConfig {
        HeartbeatConfig {
            interval: Duration::from_secs(1),
            grace: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_silent_peer_is_reported_once_and_withdrawn_when_it_answers() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut h = Heartbeats::new(cfg());
        h.set_peers(&[1, 2].into(), t0);
        for i in 1..=5 {
            h.on_reply(1, s(i));
            assert!(h.tick(s(i)).failed.is_empty());
        }
        h.on_reply(1, s(6));
        let t = h.tick(s(6));
        assert_eq!(t.failed, vec![(2, Duration::from_secs(6))]);
        assert_eq!(t.ping, vec![1, 2]);
        assert!(h.tick(s(7)).failed.is_empty(), "reported once");
        assert!(h.on_reply(2, s(8)), "the report is withdrawn");
        assert!(!h.on_reply(2, s(8)));
    }

    #[test]
    fn a_stalled_osd_reports_no_one_after_it_resumes() {
        let t0 = Instant::now();
        let mut h = Heartbeats::new(cfg());
        h.set_peers(&[1].into(), t0);
        h.tick(t0);
        // The process was stopped for 30 s: its peers could not answer it.
        let t = h.tick(t0 + Duration::from_secs(30));
        assert!(t.failed.is_empty());
    }

    #[test]
    fn peers_include_pg_neighbours_and_the_next_two_up() {
        let up = [0, 1, 2, 5, 7];
        assert_eq!(choose_peers(5, [0].into(), &up), [0, 7].into());
        assert_eq!(choose_peers(7, BTreeSet::new(), &up), [0, 1].into());
        assert_eq!(choose_peers(1, [1, 2].into(), &up), [2, 5].into());
        assert_eq!(choose_peers(0, BTreeSet::new(), &[0]), BTreeSet::new());
    }
}

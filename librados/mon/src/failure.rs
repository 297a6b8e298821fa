//! Deciding that OSDs failed, pure (times are given): heartbeat failure reports from their
//! peers, beacons from the OSDs themselves, and how long a down OSD has been down.
//!
//! - An up OSD is marked down once enough distinct up OSDs report it (`min_down_reporters`,
//!   but never more than the other up OSDs there are), or once it has sent no beacon for
//!   `report_timeout` (which catches the case of every OSD dying at once).
//! - A down OSD is marked out after `down_out_interval`, if it is still in; the map records
//!   that the monitor did it (`auto_out`), and the OSD is marked in again when it boots (an
//!   operator's `osd out` stays).
//!
//! The driver (`Monitor::run`) feeds it and carries its decisions out as ordinary map
//! changes. None of this is durable: after a monitor restart every timer starts afresh,
//! which only ever delays a decision.

use crate::osdmap::OsdMap;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// When OSDs are declared down and out.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureConfig {
    /// Distinct reporters needed to mark an OSD down (Ceph's `mon_osd_min_down_reporters`).
    pub min_down_reporters: u32,
    /// A down OSD is marked out after this long (`mon_osd_down_out_interval`).
    pub down_out_interval: Duration,
    /// An up OSD silent this long (no beacon) is marked down (`mon_osd_report_timeout`).
    pub report_timeout: Duration,
}

impl Default for FailureConfig {
    fn default() -> Self {
        FailureConfig {
            min_down_reporters: 2,
            down_out_interval: Duration::from_secs(600),
            report_timeout: Duration::from_secs(900),
        }
    }
}

#[derive(Default)]
pub struct Failures {
    /// Target → reporters (and when each first reported).
    reports: BTreeMap<i32, BTreeMap<i32, Instant>>,
    beacons: HashMap<i32, Instant>,
    down_since: HashMap<i32, Instant>,
    /// Down OSDs whose sessions this monitor ended.
    sessions_ended: BTreeSet<i32>,
    /// When this tracker started: OSDs never heard from count from then.
    started: Option<Instant>,
}

/// Why an OSD is to be marked down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    Reported { reporters: Vec<i32> },
    Silent { for_secs: u64 },
}

impl Failures {
    pub fn new(now: Instant) -> Failures {
        Failures {
            started: Some(now),
            ..Failures::default()
        }
    }

    pub fn report(&mut self, target: i32, reporter: i32, now: Instant) {
        if target != reporter {
            self.reports
                .entry(target)
                .or_default()
                .entry(reporter)
                .or_insert(now);
        }
    }

    pub fn cancel(&mut self, target: i32, reporter: i32) {
        if let Some(r) = self.reports.get_mut(&target) {
            r.remove(&reporter);
            if r.is_empty() {
                self.reports.remove(&target);
            }
        }
    }

    pub fn beacon(&mut self, osd: i32, now: Instant) {
        self.beacons.insert(osd, now);
    }

    /// `osd` booted: its reports and timers end.
    pub fn booted(&mut self, osd: i32, now: Instant) {
        self.reports.remove(&osd);
        self.down_since.remove(&osd);
        self.sessions_ended.remove(&osd);
        self.beacons.insert(osd, now);
    }

    /// Up OSDs to mark down now, and why.
    pub fn due_down(
        &mut self,
        map: &OsdMap,
        cfg: &FailureConfig,
        now: Instant,
    ) -> Vec<(i32, DownReason)> {
        let up: Vec<i32> = (0..map.max_osd()).filter(|&o| map.is_up(o)).collect();
        // Reports from OSDs that are down themselves, or about OSDs already down, lapse.
        self.reports.retain(|t, _| map.is_up(*t));
        for r in self.reports.values_mut() {
            r.retain(|reporter, _| map.is_up(*reporter));
        }
        let needed = (cfg.min_down_reporters as usize).clamp(1, up.len().saturating_sub(1).max(1));
        let started = self.started.unwrap_or(now);
        let mut out = Vec::new();
        for &osd in &up {
            if let Some(r) = self.reports.get(&osd) {
                if r.len() >= needed {
                    out.push((
                        osd,
                        DownReason::Reported {
                            reporters: r.keys().copied().collect(),
                        },
                    ));
                    continue;
                }
            }
            let last = self
                .beacons
                .get(&osd)
                .copied()
                .unwrap_or(started)
                .max(started);
            let silent = now.saturating_duration_since(last);
            if silent >= cfg.report_timeout {
                out.push((
                    osd,
                    DownReason::Silent {
                        for_secs: silent.as_secs(),
                    },
                ));
            }
        }
        out
    }

    /// Down OSDs that are still in and have been down for `down_out_interval`: to mark out.
    pub fn due_out(&mut self, map: &OsdMap, cfg: &FailureConfig, now: Instant) -> Vec<i32> {
        let mut out = Vec::new();
        for osd in 0..map.max_osd() {
            if !map.exists(osd) || map.is_up(osd) {
                self.down_since.remove(&osd);
                continue;
            }
            let since = *self.down_since.entry(osd).or_insert(now);
            if map.is_in(osd) && now.saturating_duration_since(since) >= cfg.down_out_interval {
                out.push(osd);
            }
        }
        out
    }

    /// OSDs down for `after` whose sessions should end now (once each): what is queued for
    /// them is dropped. Not at once: an OSD that asked to be marked down is still there to
    /// receive the map that says so.
    pub fn sessions_to_end(&mut self, map: &OsdMap, after: Duration, now: Instant) -> Vec<i32> {
        let mut out = Vec::new();
        for (&osd, &since) in &self.down_since {
            if !map.is_up(osd)
                && now.saturating_duration_since(since) >= after
                && self.sessions_ended.insert(osd)
            {
                out.push(osd);
            }
        }
        out
    }

    /// The reports standing against each OSD (for `health detail` style reports).
    pub fn reporters(&self, target: i32) -> usize {
        self.reports.get(&target).map_or(0, BTreeMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osdmap::{Fsid, Incremental};

    fn map(n: i32) -> OsdMap {
        let mut m = OsdMap::new(Fsid::NIL);
        let mut inc = Incremental::next(&m);
        inc.new_max_osd = Some(n);
        for o in 0..n {
            inc.osd(o).exists = Some(true);
            inc.osd(o).up = Some(true);
            inc.osd(o).weight = Some(0x10000);
        }
        m.apply_incremental(&inc).unwrap();
        m
    }

    fn set_down(m: &mut OsdMap, osd: i32) {
        let mut inc = Incremental::next(m);
        inc.osd(osd).up = Some(false);
        m.apply_incremental(&inc).unwrap();
    }

    #[test]
    fn two_reporters_mark_an_osd_down_and_a_withdrawn_report_does_not_count() {
        let t0 = Instant::now();
        let m = map(4);
        let cfg = FailureConfig::default();
        let mut f = Failures::new(t0);
        f.report(3, 0, t0);
        assert!(
            f.due_down(&m, &cfg, t0).is_empty(),
            "one reporter is not enough"
        );
        f.report(3, 3, t0);
        assert!(
            f.due_down(&m, &cfg, t0).is_empty(),
            "an OSD cannot report itself"
        );
        f.report(3, 1, t0);
        f.cancel(3, 1);
        assert!(f.due_down(&m, &cfg, t0).is_empty());
        f.report(3, 2, t0);
        assert_eq!(
            f.due_down(&m, &cfg, t0),
            vec![(
                3,
                DownReason::Reported {
                    reporters: vec![0, 2]
                }
            )]
        );
    }

    #[test]
    fn reports_from_down_osds_lapse_and_a_small_cluster_needs_one_reporter() {
        let t0 = Instant::now();
        let cfg = FailureConfig::default();
        let mut m = map(3);
        let mut f = Failures::new(t0);
        f.report(2, 0, t0);
        f.report(2, 1, t0);
        set_down(&mut m, 1);
        // osd.1 is down: its report lapses, but with two up OSDs one reporter suffices.
        assert_eq!(f.due_down(&m, &cfg, t0).len(), 1);
        let m2 = map(2);
        let mut f = Failures::new(t0);
        f.report(1, 0, t0);
        assert_eq!(f.due_down(&m2, &cfg, t0).len(), 1);
    }

    #[test]
    fn silent_osds_go_down_and_long_down_ones_go_out_once() {
        let t0 = Instant::now();
        let cfg = FailureConfig {
            report_timeout: Duration::from_secs(10),
            down_out_interval: Duration::from_secs(30),
            ..FailureConfig::default()
        };
        let mut m = map(3);
        let mut f = Failures::new(t0);
        f.beacon(0, t0 + Duration::from_secs(8));
        f.beacon(1, t0 + Duration::from_secs(8));
        let due = f.due_down(&m, &cfg, t0 + Duration::from_secs(11));
        assert_eq!(due, vec![(2, DownReason::Silent { for_secs: 11 })]);
        set_down(&mut m, 2);
        let t1 = t0 + Duration::from_secs(12);
        assert!(f.due_out(&m, &cfg, t1).is_empty());
        assert_eq!(f.due_out(&m, &cfg, t1 + Duration::from_secs(30)), vec![2]);
        assert_eq!(
            f.sessions_to_end(&m, Duration::from_secs(5), t1),
            Vec::<i32>::new()
        );
        let later = t1 + Duration::from_secs(6);
        assert_eq!(
            f.sessions_to_end(&m, Duration::from_secs(5), later),
            vec![2]
        );
        assert!(f
            .sessions_to_end(&m, Duration::from_secs(5), later)
            .is_empty());
        f.booted(2, t1);
        assert!(f.due_out(&m, &cfg, t1).is_empty(), "its timer starts again");
    }
}

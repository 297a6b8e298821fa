//! Peering decisions, pure: which replica's log is authoritative, and what each member of the
//! acting set must receive to match it.
//!
//! Every acknowledged write is on every member of the acting set it was made in, so the
//! replica with the newest `last_update` among those that answered holds every acknowledged
//! write. A replica's entries that the authority lacks (possible only for writes that were never
//! acknowledged) are *divergent*: their objects are reset to the authority's copy.

use crate::msg::ops::{Eversion, ObjectName};
use crate::msg::peering::{LogEntry, PgInfo};
use std::collections::BTreeSet;

/// What one replica needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    Nothing,
    /// These objects (hash, name) must be copied from the authority (or deleted where the
    /// authority no longer has them).
    Objects(BTreeSet<(u32, ObjectName)>),
    /// The logs do not overlap: copy every object and drop the rest.
    Backfill,
}

/// One replica's answer to a query.
#[derive(Clone, Debug)]
pub struct PeerState {
    pub osd: i32,
    pub info: Option<PgInfo>,
    pub log: Vec<LogEntry>,
    /// Objects its log names that it does not hold yet.
    pub missing: BTreeSet<(u32, ObjectName)>,
}

impl PeerState {
    /// Holds every object its log names.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// The authoritative replica: the newest `last_update` among those holding every object
/// their log names (one still missing objects cannot be the source of them); on a tie, the
/// one listed first (callers list the primary first, then the rest of the acting set).
pub fn choose_authority(peers: &[PeerState]) -> Option<usize> {
    let mut best: Option<(usize, (bool, Eversion))> = None;
    for (i, p) in peers.iter().enumerate() {
        let Some(info) = &p.info else { continue };
        let rank = (p.is_complete(), info.last_update);
        if best.is_none_or(|(_, r)| rank > r) {
            best = Some((i, rank));
        }
    }
    best.map(|(i, _)| i)
}

/// `None` when some OSD that answered activated in the PG's newest active interval (`record`,
/// from the map) and holds every object its log names: it then holds every acknowledged
/// write; otherwise the members of that interval, one of which must come back before the PG
/// may go active. No record: the PG never went active, so nothing was ever acknowledged.
pub fn missing_active_member(
    record: Option<&crate::osdmap::PgActive>,
    peers: &[PeerState],
) -> Option<Vec<i32>> {
    let record = record?;
    let found = peers.iter().any(|p| {
        record.acting.contains(&p.osd)
            && p.is_complete()
            && p.info
                .as_ref()
                .is_some_and(|i| i.last_epoch_started >= record.epoch)
    });
    (!found).then(|| record.acting.clone())
}

/// What `peer` needs to match `auth`.
pub fn need(auth: &PeerState, peer: &PeerState) -> Need {
    let Some(auth_info) = &auth.info else {
        return Need::Nothing;
    };
    let Some(info) = &peer.info else {
        return if auth_info.last_update == Eversion::default() {
            Need::Nothing
        } else {
            Need::Backfill
        };
    };
    // What it was still to receive when its last interval ended, whatever else it lacks.
    let missing = || peer.missing.iter().cloned();
    if info.last_update == auth_info.last_update {
        return if peer.missing.is_empty() {
            Need::Nothing
        } else {
            Need::Objects(missing().collect())
        };
    }
    if info.last_update < auth_info.log_tail {
        return Need::Backfill;
    }
    let auth_versions: BTreeSet<Eversion> = auth.log.iter().map(|e| e.version).collect();
    let known = |v: &Eversion| auth_versions.contains(v) || *v == auth_info.log_tail;
    // The newest point both histories share (an eversion names one write, whoever holds it).
    let common = peer
        .log
        .iter()
        .rev()
        .map(|e| e.version)
        .chain(std::iter::once(info.log_tail))
        .find(known);
    let Some(common) = common else {
        return Need::Backfill;
    };
    let mut objects = BTreeSet::new();
    for e in auth.log.iter().filter(|e| e.version > common) {
        objects.insert((e.hash, e.object.clone()));
    }
    for e in peer.log.iter().filter(|e| e.version > common) {
        objects.insert((e.hash, e.object.clone()));
    }
    objects.extend(missing());
    if objects.is_empty() {
        Need::Nothing
    } else {
        Need::Objects(objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ops::ReqId;
    use crate::msg::peering::LogOp;
    use crate::osdmap::PgId;

    fn e(epoch: u32, version: u64, name: &str) -> LogEntry {
        LogEntry {
            version: Eversion { epoch, version },
            reqid: ReqId {
                client: 1,
                tid: version,
            },
            object: ObjectName {
                name: name.into(),
                ..ObjectName::default()
            },
            hash: 0,
            op: LogOp::Modify,
            user_version: version,
            results: Vec::new(),
        }
    }

    fn peer(osd: i32, tail: (u32, u64), log: Vec<LogEntry>) -> PeerState {
        let last = log.last().map_or(
            Eversion {
                epoch: tail.0,
                version: tail.1,
            },
            |x| x.version,
        );
        PeerState {
            osd,
            info: Some(PgInfo {
                pgid: PgId::new(1, 0),
                last_update: last,
                log_tail: Eversion {
                    epoch: tail.0,
                    version: tail.1,
                },
                ..PgInfo::default()
            }),
            log,
            missing: BTreeSet::new(),
        }
    }

    fn names(n: &Need) -> Vec<String> {
        match n {
            Need::Objects(s) => s.iter().map(|(_, o)| o.name.clone()).collect(),
            other => panic!("expected objects, got {other:?}"),
        }
    }

    #[test]
    fn a_pg_waits_for_a_member_of_its_newest_active_interval() {
        let record = crate::osdmap::PgActive {
            epoch: 20,
            acting: vec![1, 2],
        };
        let with_les = |osd, les| {
            let mut p = peer(osd, (0, 0), vec![e(10, 1, "x")]);
            p.info.as_mut().unwrap().last_epoch_started = les;
            p
        };
        // Only a stale copy answers: the PG is down until osd.1 or osd.2 returns.
        let stale = [with_les(0, 10)];
        assert_eq!(
            missing_active_member(Some(&record), &stale),
            Some(vec![1, 2])
        );
        // A member of that interval that never activated in it does not do either.
        let late = [with_les(0, 10), with_les(2, 15)];
        assert!(missing_active_member(Some(&record), &late).is_some());
        let good = [with_les(0, 10), with_les(2, 20)];
        assert_eq!(missing_active_member(Some(&record), &good), None);
        assert_eq!(missing_active_member(None, &stale), None, "never active");
    }

    #[test]
    fn newest_log_wins_and_ties_go_to_the_first() {
        let a = peer(0, (0, 0), vec![e(1, 1, "x")]);
        let b = peer(1, (0, 0), vec![e(1, 1, "x"), e(1, 2, "y")]);
        let c = peer(2, (0, 0), vec![e(1, 1, "x"), e(1, 2, "y")]);
        assert_eq!(
            choose_authority(&[a.clone(), b.clone(), c.clone()]),
            Some(1)
        );
        assert_eq!(choose_authority(&[c, b]), Some(0));
        let none = PeerState {
            osd: 3,
            info: None,
            log: vec![],
            missing: BTreeSet::new(),
        };
        assert_eq!(choose_authority(std::slice::from_ref(&none)), None);
        assert_eq!(choose_authority(&[none, a]), Some(1));
    }

    fn missing(mut p: PeerState, names: &[&str]) -> PeerState {
        p.missing = names
            .iter()
            .map(|n| {
                (
                    0,
                    ObjectName {
                        name: n.to_string(),
                        ..ObjectName::default()
                    },
                )
            })
            .collect();
        p
    }

    #[test]
    fn a_replica_still_recovering_is_never_the_authority_nor_enough_to_activate() {
        // osd.1 took the newest write but still waits for "x" (recovery was under way).
        let whole = peer(0, (0, 0), vec![e(20, 1, "x"), e(20, 2, "y")]);
        let partial = missing(
            peer(1, (0, 0), vec![e(20, 1, "x"), e(20, 2, "y"), e(20, 3, "z")]),
            &["x"],
        );
        assert_eq!(choose_authority(&[partial.clone(), whole.clone()]), Some(1));
        // Only the incomplete one answers: choosing it would lose "x"; it still wins
        // among incomplete peers, but the record keeps the PG down.
        assert_eq!(choose_authority(std::slice::from_ref(&partial)), Some(0));
        let record = crate::osdmap::PgActive {
            epoch: 20,
            acting: vec![0, 1],
        };
        let les = |mut p: PeerState| {
            p.info.as_mut().unwrap().last_epoch_started = 20;
            p
        };
        assert_eq!(
            missing_active_member(Some(&record), &[les(partial.clone())]),
            Some(vec![0, 1])
        );
        assert_eq!(
            missing_active_member(Some(&record), &[les(partial.clone()), les(whole.clone())]),
            None
        );
        // What it misses is recovered with what the logs say it lacks.
        assert_eq!(names(&need(&whole, &partial)), vec!["x", "z"]);
        let same = missing(peer(1, (0, 0), vec![e(20, 1, "x"), e(20, 2, "y")]), &["x"]);
        assert_eq!(names(&need(&whole, &same)), vec!["x"]);
    }

    #[test]
    fn a_lagging_replica_needs_the_newer_objects() {
        let auth = peer(
            0,
            (0, 0),
            vec![e(1, 1, "x"), e(1, 2, "y"), e(1, 3, "z"), e(1, 4, "y")],
        );
        let behind = peer(1, (0, 0), vec![e(1, 1, "x")]);
        assert_eq!(names(&need(&auth, &behind)), vec!["y", "z"]);
        assert_eq!(need(&auth, &auth), Need::Nothing);
    }

    #[test]
    fn divergent_entries_are_reset() {
        // The peer wrote 1'3 (never acknowledged) while the authority moved on in epoch 2.
        let auth = peer(0, (0, 0), vec![e(1, 1, "x"), e(1, 2, "y"), e(2, 3, "w")]);
        let div = peer(1, (0, 0), vec![e(1, 1, "x"), e(1, 2, "y"), e(1, 3, "q")]);
        assert_eq!(names(&need(&auth, &div)), vec!["q", "w"]);
    }

    #[test]
    fn logs_that_do_not_overlap_mean_backfill() {
        let auth = peer(0, (1, 10), vec![e(1, 11, "a"), e(1, 12, "b")]);
        let old = peer(1, (0, 0), vec![e(1, 1, "x")]);
        assert_eq!(need(&auth, &old), Need::Backfill);
        let empty = PeerState {
            osd: 2,
            info: None,
            log: vec![],
            missing: BTreeSet::new(),
        };
        assert_eq!(need(&auth, &empty), Need::Backfill);
        let fresh = peer(0, (0, 0), vec![]);
        assert_eq!(need(&fresh, &empty), Need::Nothing);
    }

    #[test]
    fn a_peer_at_the_authoritys_tail_recovers_from_the_log() {
        let auth = peer(0, (1, 10), vec![e(1, 11, "a"), e(1, 12, "b")]);
        let at_tail = peer(1, (1, 9), vec![e(1, 10, "x")]);
        // 1'10 is the authority's tail: not in its log, but not before it either.
        assert_eq!(names(&need(&auth, &at_tail)), vec!["a", "b"]);
    }
}

use super::log_store::{LogStore, RaftRecord};
use super::state_machine::StateMachine;
use super::*;
use crate::log::RecordFile;
use crate::msg::command::{MonCommand, MonReply, WireError};
use crate::msg::{EntityName, Event, Inbox, LocalNetwork, Message, Messenger, Network};
use crate::osdmap::Fsid;
use crate::Monitor;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, LogId, RaftLogReader};
use std::path::PathBuf;
use std::time::Instant;

fn log_id(term: u64, index: u64) -> LogId<Rank> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn entry(term: u64, index: u64, payload: EntryPayload<TypeConfig>) -> openraft::Entry<TypeConfig> {
    openraft::Entry {
        log_id: log_id(term, index),
        payload,
    }
}

fn genesis_state() -> MonState {
    let g = MonState::genesis(Fsid([7; 16])).unwrap();
    MonState::replay(std::slice::from_ref(&g), MonConfig::default()).unwrap()
}

/// A state machine over a snapshot file in `dir`, starting from a new cluster's state.
fn machine(dir: &std::path::Path) -> (StateMachine, Shared) {
    StateMachine::open(&dir.join("snap"), genesis_state(), MonConfig::default()).unwrap()
}

#[tokio::test]
async fn an_entry_applies_only_to_the_version_it_was_proposed_against() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sm, shared) = machine(dir.path());
    let boot = |osd| MonCommand::OsdBoot {
        osd,
        host: format!("host{osd}"),
        addr: None,
        cluster_addr: None,
    };
    let records = |osd| shared.lock().state.propose(&boot(osd)).unwrap().records;
    let first = MonEntry {
        base: 0,
        records: records(0),
    };
    // Proposed against the same state as the first, so stale once the first applied.
    let rival = MonEntry {
        base: 0,
        records: records(1),
    };
    let out = sm
        .apply(vec![
            entry(1, 1, EntryPayload::Blank),
            entry(1, 2, EntryPayload::Normal(first)),
            entry(1, 3, EntryPayload::Normal(rival)),
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![Applied::Done(0), Applied::Done(1), Applied::Stale]
    );
    {
        let r = shared.lock();
        assert_eq!(r.version, 1);
        assert!(r.state.map().is_up(0) && !r.state.map().exists(1));
    }
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(1, 3)));
}

#[tokio::test]
async fn a_snapshot_survives_reopen_and_installs_on_another_member() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sm, shared) = machine(dir.path());
    assert!(sm.is_fresh());
    let records = shared
        .lock()
        .state
        .propose(&MonCommand::AllocClientId)
        .unwrap()
        .records;
    sm.apply(vec![entry(
        2,
        5,
        EntryPayload::Normal(MonEntry { base: 0, records }),
    )])
    .await
    .unwrap();
    let epoch = shared.lock().state.map().epoch();
    let snap = {
        use openraft::RaftSnapshotBuilder;
        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap()
    };
    assert_eq!(snap.meta.last_log_id, Some(log_id(2, 5)));
    drop(sm);

    let (mut again, shared2) = machine(dir.path());
    assert!(!again.is_fresh());
    assert_eq!(shared2.lock().version, 1);
    assert_eq!(shared2.lock().state.map().epoch(), epoch);
    assert_eq!(again.applied_state().await.unwrap().0, Some(log_id(2, 5)));
    let current = again.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snap.meta);

    // Another member, far behind, takes it whole.
    let other = tempfile::tempdir().unwrap();
    let (mut sm3, shared3) = machine(other.path());
    sm3.install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    assert_eq!(shared3.lock().version, 1);
    assert_eq!(sm3.applied_state().await.unwrap().0, Some(log_id(2, 5)));
    let garbage = Box::new(std::io::Cursor::new(b"not a snapshot".to_vec()));
    assert!(sm3.install_snapshot(&current.meta, garbage).await.is_err());
    assert_eq!(shared3.lock().version, 1, "a bad snapshot changes nothing");
}

#[tokio::test]
async fn the_log_replays_appends_truncations_purges_and_votes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft-log");
    {
        let (mut f, _) = RecordFile::<RaftRecord>::open(&path).unwrap();
        let e = |t, i| RaftRecord::Entry(entry(t, i, EntryPayload::Blank));
        f.append(&[
            RaftRecord::Vote(openraft::Vote::new(1, 0)),
            e(1, 1),
            e(1, 2),
            e(1, 3),
            e(1, 4),
            // A new leader's entries replace the tail from index 3.
            RaftRecord::TruncatedFrom(3),
            e(2, 3),
            RaftRecord::Vote(openraft::Vote::new(2, 1)),
            RaftRecord::Purged(log_id(1, 1)),
            RaftRecord::Committed(Some(log_id(1, 2))),
            // An entry written again at an index replaces what followed it.
            e(2, 4),
            e(2, 5),
            e(3, 4),
        ])
        .unwrap();
    }
    let (mut store, opened) = LogStore::open(&path).unwrap();
    assert!(!opened.is_empty());
    let ids: Vec<_> = store
        .try_get_log_entries(0..100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.log_id)
        .collect();
    assert_eq!(ids, vec![log_id(1, 2), log_id(2, 3), log_id(3, 4)]);
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 1)));
    assert_eq!(state.last_log_id, Some(log_id(3, 4)));
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(openraft::Vote::new(2, 1))
    );
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 2)));
    // Purging everything leaves the purge point as the last id.
    store.purge(log_id(3, 4)).await.unwrap();
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id, Some(log_id(3, 4)));
    assert!(store.try_get_log_entries(0..100).await.unwrap().is_empty());
    drop(store);
    let (store, _) = LogStore::open(&path).unwrap();
    let mut store = store;
    assert_eq!(
        store.get_log_state().await.unwrap().last_purged_log_id,
        Some(log_id(3, 4))
    );
}

// --- three monitors in one process

fn fast() -> ConsensusConfig {
    ConsensusConfig {
        heartbeat: Duration::from_millis(50),
        election_min: Duration::from_millis(200),
        election_max: Duration::from_millis(400),
        snapshot_every: 20,
        commit_timeout: Duration::from_secs(2),
    }
}

struct Mons {
    net: Arc<dyn Network>,
    dirs: Vec<PathBuf>,
    members: BTreeMap<Rank, String>,
    running: BTreeMap<Rank, (tokio::task::JoinHandle<()>, Arc<Consensus>)>,
    client: Messenger,
    inbox: Inbox,
    tid: u64,
    _tmp: tempfile::TempDir,
}

const FSID: Fsid = Fsid([9; 16]);

impl Mons {
    async fn new(n: u64) -> Mons {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..n)
            .map(|r| tmp.path().join(format!("mon.{r}")))
            .collect();
        let refs: Vec<&std::path::Path> = dirs.iter().map(|d| d.as_path()).collect();
        Monitor::seed(&refs, FSID).unwrap();
        assert!(
            Monitor::seed(&refs[..1], FSID).is_err(),
            "a seeded monitor is not seeded again"
        );
        let net: Arc<dyn Network> = Arc::new(LocalNetwork::new());
        // Speaks as osd.0, which may also report its own boot.
        let client_name = EntityName::osd(0);
        let inbox = net.register(client_name);
        let mut m = Mons {
            client: Messenger::new(client_name, net.clone()),
            net,
            dirs,
            members: (0..n).map(|r| (r, String::new())).collect(),
            running: BTreeMap::new(),
            inbox,
            tid: 0,
            _tmp: tmp,
        };
        for r in 0..n {
            m.start(r).await;
        }
        m
    }

    async fn start(&mut self, rank: Rank) {
        let name = EntityName::mon(rank);
        let inbox = self.net.register(name);
        let mon = Monitor::open_member(
            &self.dirs[rank as usize],
            FSID,
            MonConfig::default(),
            Messenger::new(name, self.net.clone()),
            &self.members,
            &fast(),
        )
        .await
        .unwrap();
        let c = mon.consensus().clone();
        self.running.insert(rank, (tokio::spawn(mon.run(inbox)), c));
    }

    /// Stops a monitor as a crash would (its files stay as they are).
    async fn kill(&mut self, rank: Rank) {
        let (task, c) = self.running.remove(&rank).expect("running");
        c.shutdown().await;
        task.abort();
        let _ = task.await;
        self.net.unregister(EntityName::mon(rank));
    }

    /// The leader every running monitor agrees on, once they do.
    async fn leader(&self) -> Rank {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen: BTreeSet<Option<Rank>> =
                self.running.values().map(|(_, c)| c.leader()).collect();
            if let [Some(l)] = seen.iter().collect::<Vec<_>>()[..] {
                if self.running.contains_key(l) {
                    return *l;
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader: {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn epoch(&self, rank: Rank) -> u32 {
        self.running[&rank].1.shared.lock().state.map().epoch()
    }

    /// Waits until every running monitor has applied `epoch` or more.
    async fn converge(&self, epoch: u32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running.keys().any(|r| self.epoch(*r) < epoch) {
            assert!(
                Instant::now() < deadline,
                "monitors stuck below epoch {epoch}: {:?}",
                self.running
                    .keys()
                    .map(|r| self.epoch(*r))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn ask(&mut self, rank: Rank, cmd: MonCommand) -> Result<MonReply, WireError> {
        self.tid += 1;
        let tid = self.tid;
        self.client
            .send(EntityName::mon(rank), tid, 0, &Message::MonCommand(cmd))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.inbox.next())
                .await
                .expect("an answer from the monitor");
            if let Some(Event::Msg(env)) = ev {
                if let (Message::MonCommandReply(r), true) = (env.msg, env.tid == tid) {
                    return r;
                }
            }
        }
    }

    async fn pool(&mut self, rank: Rank, name: &str) -> Result<MonReply, WireError> {
        self.ask(
            rank,
            MonCommand::PoolCreate {
                name: name.into(),
                pg_num: Some(8),
                size: Some(1),
            },
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_commit_through_a_quorum_and_survive_the_loss_of_any_one() {
    let mut mons = Mons::new(3).await;
    let leader = mons.leader().await;
    mons.ask(
        leader,
        MonCommand::OsdBoot {
            osd: 0,
            host: "host0".into(),
            addr: None,
            cluster_addr: None,
        },
    )
    .await
    .unwrap();
    mons.pool(leader, "p").await.unwrap();
    let epoch = mons.epoch(leader);
    mons.converge(epoch).await;

    // A follower passes commands to the leader and their answers back.
    let follower = (0..3).find(|r| *r != leader).unwrap();
    mons.pool(follower, "f").await.unwrap();
    let exists = mons.pool(follower, "f").await.unwrap_err();
    assert_eq!(exists.errno, rados_common::errno::EEXIST, "{exists:?}");
    let MonReply::ClientId(a) = mons.ask(follower, MonCommand::AllocClientId).await.unwrap() else {
        panic!("a client id")
    };
    let MonReply::ClientId(b) = mons.ask(leader, MonCommand::AllocClientId).await.unwrap() else {
        panic!("a client id")
    };
    assert!(b > a, "one sequence of client ids: {a} then {b}");
    let epoch = mons.epoch(leader);
    mons.converge(epoch).await;

    // The leader dies: the other two elect another and go on.
    mons.kill(leader).await;
    let died = Instant::now();
    let second = mons.leader().await;
    assert_ne!(second, leader);
    mons.pool(second, "q").await.unwrap();
    let failover = died.elapsed();
    assert!(
        failover < Duration::from_secs(5),
        "changes resumed after {failover:?}"
    );
    // Enough changes for snapshots and purged logs, so the dead one must catch up from one.
    for i in 0..30 {
        mons.ask(
            second,
            MonCommand::OsdReweight {
                id: 0,
                weight: if i % 2 == 0 { 0.5 } else { 1.0 },
            },
        )
        .await
        .unwrap();
    }
    let epoch = mons.epoch(second);
    mons.start(leader).await;
    mons.converge(epoch).await;
    for r in 0..3 {
        let c = &mons.running[&r].1;
        let st = c.shared.lock();
        assert!(st.state.map().pool_by_name("p").is_some(), "mon.{r} has p");
        assert!(st.state.map().pool_by_name("q").is_some(), "mon.{r} has q");
        assert!(st.state.map().pool_by_name("f").is_some(), "mon.{r} has f");
    }

    // Two of three gone: no change commits, and nothing changes.
    let third = (0..3).find(|r| *r != second && *r != leader).unwrap();
    mons.kill(second).await;
    mons.kill(third).await;
    let before = mons.epoch(leader);
    let refused = mons.pool(leader, "r").await.unwrap_err();
    assert!(
        [rados_common::errno::EAGAIN, rados_common::errno::ETIMEDOUT].contains(&refused.errno),
        "{refused:?}"
    );
    assert_eq!(mons.epoch(leader), before);

    // A majority again: changes go on from where they were.
    mons.start(third).await;
    let l = mons.leader().await;
    mons.pool(l, "r").await.unwrap();
    let epoch = mons.epoch(l);
    mons.converge(epoch).await;
    for r in mons.running.keys().copied().collect::<Vec<_>>() {
        mons.kill(r).await;
    }
}

#[tokio::test]
async fn a_monitor_outside_the_members_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Monitor::seed(&[dir.path()], FSID).unwrap();
    let net: Arc<dyn Network> = Arc::new(LocalNetwork::new());
    let members = BTreeMap::from([(0, String::new()), (1, String::new())]);
    let err = Monitor::open_member(
        dir.path(),
        FSID,
        MonConfig::default(),
        Messenger::new(EntityName::mon(5), net),
        &members,
        &fast(),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("mon.5 is not among"), "{err}");
}

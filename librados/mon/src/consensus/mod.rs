//! The monitors' consensus: the map's log replicated by Raft (openraft), so every change is
//! committed by a quorum of monitors before anyone acts on it.
//!
//! Everything that names openraft lives in this module (its API moves between minor
//! versions). The pieces:
//! - [`log_store`]: the Raft log, its vote and commit point, in one append-only file.
//! - [`state_machine`]: the monitor state ([`MonState`]) the log's entries build, and its
//!   snapshots (a checkpoint of the state, kept in a file).
//! - [`network`]: Raft's requests carried between monitors as [`Message::MonPeer`].
//!
//! Each entry is a proposal: the [`LogRecord`]s a command yields, stamped with the version of
//! the state it was proposed against. An entry applies only to that version (else it is
//! skipped everywhere alike, and the proposer proposes again), so a leader never builds on a
//! state that an entry committed by an earlier leader has already moved past.
//!
//! [`Message::MonPeer`]: crate::msg::Message::MonPeer

pub mod log_store;
pub mod network;
pub mod state_machine;

use crate::state::{LogRecord, MonConfig, MonState};
use crate::MonError;
use openraft::error::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A monitor's rank: its Raft node id, and `mon.RANK` on the wire.
pub type Rank = u64;

/// An entry of the replicated log: the records of one proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonEntry {
    /// The state version the records were proposed against.
    pub base: u64,
    pub records: Vec<LogRecord>,
}

impl std::fmt::Display for MonEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} records on version {}", self.records.len(), self.base)
    }
}

/// What applying an entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// The records were applied; the state is now at this version.
    Done(u64),
    /// The state had moved past the entry's base: nothing was applied.
    Stale,
}

openraft::declare_raft_types!(
    /// The monitors' Raft types.
    pub TypeConfig:
        D = MonEntry,
        R = Applied,
        NodeId = Rank,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;

/// Timing of elections and heartbeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusConfig {
    pub heartbeat: Duration,
    /// A follower that hears no leader for a random time in this range stands for election.
    pub election_min: Duration,
    pub election_max: Duration,
    /// A snapshot is taken after this many entries, and the log before it dropped.
    pub snapshot_every: u64,
    /// A change the quorum has not committed after this long is answered with a timeout
    /// (it may still commit later).
    pub commit_timeout: Duration,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            heartbeat: Duration::from_millis(100),
            election_min: Duration::from_millis(500),
            election_max: Duration::from_millis(1000),
            snapshot_every: crate::CHECKPOINT_RECORDS as u64,
            commit_timeout: Duration::from_secs(10),
        }
    }
}

impl ConsensusConfig {
    fn raft_config(&self) -> Result<openraft::Config, MonError> {
        let ms = |d: Duration| d.as_millis().max(1) as u64;
        openraft::Config {
            cluster_name: "rados-mon".into(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_min),
            election_timeout_max: ms(self.election_max),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: 64,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MonError::Invalid(format!("monitor election settings: {e}")))
    }
}

/// The replicated state as the monitor sees it: the map state, its version, and the
/// membership last applied.
#[derive(Debug)]
pub struct Replicated {
    pub state: MonState,
    /// Proposals applied since the state's beginning (the base a proposal names).
    pub version: u64,
    last_applied: Option<openraft::LogId<Rank>>,
    membership: openraft::StoredMembership<Rank, openraft::BasicNode>,
}

/// The replicated state, shared by the state machine (which applies) and the monitor
/// (which proposes and serves reads).
#[derive(Clone)]
pub struct Shared {
    inner: Arc<Mutex<Replicated>>,
    /// The map epoch after each apply, for the monitor to publish.
    applied: tokio::sync::watch::Sender<u32>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Replicated> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches the map epoch as entries are applied.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u32> {
        self.applied.subscribe()
    }
}

/// How long a lone monitor may take to lead and replay its log on start.
const ALONE_READY: Duration = Duration::from_secs(30);

/// Why a proposal was not committed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// Another monitor leads (or none is known): ask it.
    #[error("not the leader{}", leader.map(|l| format!(" (mon.{l} is)")).unwrap_or_default())]
    NotLeader { leader: Option<Rank> },
    #[error("consensus failed: {0}")]
    Failed(String),
}

/// One monitor's member of the consensus.
pub struct Consensus {
    pub raft: Raft,
    pub shared: Shared,
    pub rank: Rank,
    commit_timeout: Duration,
}

impl Consensus {
    /// Opens the consensus state in `dir` (the Raft log, vote and snapshot) and starts this
    /// monitor's member. `base` is the state the log builds on when no snapshot exists yet
    /// (the cluster's creation, the same on every monitor). A new group of `members` (by
    /// rank, with their addresses) is formed on first start; once formed, membership lives
    /// in the log.
    pub async fn start(
        dir: &Path,
        rank: Rank,
        members: &BTreeMap<Rank, String>,
        base: MonState,
        config: MonConfig,
        timing: &ConsensusConfig,
        net: network::PeerNet,
    ) -> Result<Consensus, MonError> {
        if !members.contains_key(&rank) {
            return Err(MonError::Invalid(format!(
                "mon.{rank} is not among the monitors ({})",
                members
                    .keys()
                    .map(|r| format!("mon.{r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let raft_config = Arc::new(timing.raft_config()?);
        let (log, log_state) = log_store::LogStore::open(&dir.join("raft-log"))?;
        let (sm, shared) =
            state_machine::StateMachine::open(&dir.join("raft-snapshot"), base, config)?;
        let fresh = log_state.is_empty() && sm.is_fresh();
        let raft = Raft::new(rank, raft_config, net, log, sm)
            .await
            .map_err(|e| MonError::Corrupt(format!("cannot start consensus: {e}")))?;
        if fresh {
            let nodes: BTreeMap<Rank, openraft::BasicNode> = members
                .iter()
                .map(|(r, a)| (*r, openraft::BasicNode::new(a)))
                .collect();
            match raft.initialize(nodes).await {
                Ok(()) => {}
                // Another member formed the group first and reached us already.
                Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(MonError::Corrupt(format!("cannot form the quorum: {e}"))),
            }
        }
        let c = Consensus {
            raft,
            shared,
            rank,
            commit_timeout: timing.commit_timeout,
        };
        if c.voters() == BTreeSet::from([rank]) {
            // Alone: no need to wait out an election timeout, and the state is whole once
            // this member leads and has applied its log.
            let _ = c.raft.trigger().elect().await;
            let ready = c
                .wait_metrics(ALONE_READY, |m| {
                    m.current_leader == Some(rank)
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                })
                .await;
            if !ready {
                return Err(MonError::Corrupt(format!(
                    "mon.{rank}, the only monitor, did not take the lead within {ALONE_READY:?}"
                )));
            }
        }
        Ok(c)
    }

    /// The voting members.
    pub fn voters(&self) -> BTreeSet<Rank> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<Rank> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.rank)
    }

    /// Waits until some member leads (this one or another), up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<Rank> {
        self.wait_metrics(timeout, |m| m.current_leader.is_some())
            .await
            .then(|| self.leader())
            .flatten()
    }

    /// Waits until this member's Raft metrics satisfy `ok`; false after `timeout`.
    pub async fn wait_metrics(
        &self,
        timeout: Duration,
        ok: impl Fn(&openraft::RaftMetrics<Rank, openraft::BasicNode>) -> bool,
    ) -> bool {
        let mut m = self.raft.metrics();
        tokio::time::timeout(timeout, async {
            loop {
                if ok(&m.borrow_and_update()) {
                    return;
                }
                if m.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await
        .is_ok()
    }

    /// Commits the records that `propose` makes of the current state, proposing again when
    /// an entry committed meanwhile moved the state on; returns what `propose` returned with
    /// them once they are applied here.
    pub async fn commit<T>(
        &self,
        mut propose: impl FnMut(&MonState) -> Result<(Vec<LogRecord>, T), MonError>,
    ) -> Result<T, CommitError> {
        // A leader cut off from its quorum proposes nothing: an entry it appended could
        // still commit after its asker was told it failed.
        if self.voters().len() > 1 {
            let confirmed =
                tokio::time::timeout(self.commit_timeout, self.raft.ensure_linearizable()).await;
            match confirmed {
                Ok(Ok(_)) => {}
                Ok(Err(RaftError::APIError(
                    openraft::error::CheckIsLeaderError::ForwardToLeader(f),
                ))) => {
                    return Err(CommitError::Propose(ProposeError::NotLeader {
                        leader: f.leader_id,
                    }))
                }
                Ok(Err(RaftError::APIError(
                    openraft::error::CheckIsLeaderError::QuorumNotEnough(q),
                ))) => {
                    let got: Vec<String> = q.got.iter().map(|r| format!("mon.{r}")).collect();
                    return Err(CommitError::Propose(ProposeError::Failed(format!(
                        "only {} of {} monitors answer",
                        got.join(", "),
                        self.voters().len()
                    ))));
                }
                Ok(Err(e)) => {
                    return Err(CommitError::Propose(ProposeError::Failed(e.to_string())))
                }
                Err(_) => {
                    return Err(CommitError::Propose(ProposeError::Failed(format!(
                        "no quorum confirmed this leader within {:?}",
                        self.commit_timeout
                    ))))
                }
            }
        }
        // Each retry follows an entry that was applied, so this only loops while other
        // proposals keep winning; it is bounded all the same.
        for _ in 0..64 {
            let (entry, value) = {
                let r = self.shared.lock();
                let (records, value) = propose(&r.state).map_err(CommitError::Refused)?;
                if records.is_empty() {
                    return Ok(value);
                }
                (
                    MonEntry {
                        base: r.version,
                        records,
                    },
                    value,
                )
            };
            let written = tokio::time::timeout(self.commit_timeout, self.raft.client_write(entry));
            let Ok(written) = written.await else {
                return Err(CommitError::Propose(ProposeError::Failed(format!(
                    "not committed within {:?} (it may still be)",
                    self.commit_timeout
                ))));
            };
            match written {
                Ok(resp) => match resp.data {
                    Applied::Done(_) => return Ok(value),
                    Applied::Stale => continue,
                },
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                    return Err(CommitError::Propose(ProposeError::NotLeader {
                        leader: f.leader_id,
                    }))
                }
                Err(e) => return Err(CommitError::Propose(ProposeError::Failed(e.to_string()))),
            }
        }
        Err(CommitError::Propose(ProposeError::Failed(
            "the state kept moving under 64 proposals in a row".into(),
        )))
    }

    /// How long a change may wait for the quorum.
    pub fn commit_timeout(&self) -> Duration {
        self.commit_timeout
    }

    /// Stops this member (its log and state stay on disk).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(target: "mon", "consensus did not stop cleanly: {e}");
        }
    }
}

/// Why [`Consensus::commit`] did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The command was refused by the state (nothing proposed).
    #[error(transparent)]
    Refused(MonError),
    #[error(transparent)]
    Propose(ProposeError),
}

#[cfg(test)]
mod tests;

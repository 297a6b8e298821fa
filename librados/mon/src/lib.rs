//! The monitor: owner of the cluster map.
//!
//! - [`state`]: the map logic, pure (commands are proposed into log records, records applied).
//! - [`log`]: the persistent log those records live in.
//! - [`report`]: `status`, `df`, `osd tree`.
//! - `application`: pool application tags and their metadata (`osd pool application ...`).
//! - [`blocklist`]: fenced client addresses (`osd blocklist ...`), lifted when they expire.
//! - [`cluster_log`]: the cluster log (map changes, `log` lines), sent to subscribers as it
//!   grows and kept for `log last`.
//! - [`Monitor`]: the async driver: receives messages, makes records durable, applies them,
//!   answers, and publishes new epochs to subscribers (OSDs and clients pull what they lack
//!   with `MonGetMap { have, subscribe }`).

use rados_common::{encoding, errno};
use rados_msg as msg;
use rados_placement::{crush, osdmap};

mod application;
pub mod blocklist;
pub mod cluster_log;
pub mod consensus;
pub mod failure;
pub mod log;
pub mod report;
pub mod state;

pub use state::{LogRecord, MonConfig, MonState, Proposal};

use crate::msg::clog::{LogLevel, CHANNEL_AUDIT, CHANNEL_CLUSTER};
use crate::msg::command::{MonCommand, MonReply, WireError};
use crate::msg::{EntityName, Envelope, Event, Inbox, Message, Messenger};
use crate::osdmap::{Fsid, OsdMapError, UTime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MonError {
    #[error("pool '{name}' does not exist")]
    PoolNotFound { name: String },
    #[error("pool '{name}' already exists")]
    PoolExists { name: String },
    #[error("osd.{osd} does not exist")]
    OsdNotFound { osd: i32 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    /// Refused unless confirmed (Ceph's `--yes-i-really-mean-it`).
    #[error("{0}")]
    NotPermitted(String),
    #[error(transparent)]
    Map(#[from] OsdMapError),
    #[error(transparent)]
    Crush(#[from] crate::crush::CrushError),
    #[error("monitor log is damaged: {0}")]
    Corrupt(String),
    /// This monitor does not lead the quorum: ask the leader.
    #[error("mon.{me} is not the leader{}", leader.map(|l| format!(" (mon.{l} is)")).unwrap_or_else(|| " (no leader elected)".into()))]
    NotLeader { me: u64, leader: Option<u64> },
    /// The quorum did not commit the change (it may still commit later).
    #[error("no quorum: {0}")]
    NoQuorum(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MonError {
    pub fn errno(&self) -> i32 {
        match self {
            MonError::PoolNotFound { .. }
            | MonError::OsdNotFound { .. }
            | MonError::NotFound(_) => errno::ENOENT,
            MonError::PoolExists { .. } | MonError::Exists(_) => errno::EEXIST,
            MonError::Invalid(_) => errno::EINVAL,
            MonError::Unsupported(_) => errno::EOPNOTSUPP,
            MonError::NotPermitted(_) => errno::EPERM,
            MonError::Map(e) => e.errno(),
            MonError::Crush(e) => e.errno(),
            MonError::Corrupt(_) | MonError::Io { .. } => errno::EIO,
            MonError::NotLeader { .. } => errno::EAGAIN,
            MonError::NoQuorum(_) => errno::ETIMEDOUT,
        }
    }

    pub fn to_wire(&self) -> WireError {
        WireError {
            errno: self.errno(),
            message: self.to_string(),
        }
    }
}

/// A running monitor: its member of the consensus (which holds the replicated state) and
/// what it keeps for itself (subscribers, failure reports, the cluster log).
pub struct Monitor {
    consensus: Arc<consensus::Consensus>,
    peers: consensus::network::PeerNet,
    msgr: Messenger,
    /// Subscribers and the last epoch each was sent.
    subscribers: BTreeMap<EntityName, u32>,
    clog: cluster_log::ClusterLog,
    /// Cluster log subscribers and the least level each is sent.
    log_subscribers: BTreeMap<EntityName, LogLevel>,
    failures: failure::Failures,
    failure_config: failure::FailureConfig,
    /// PG activations waiting to be recorded in one epoch: who to answer, its tid, the PG,
    /// the interval and the acting set.
    activating: Vec<(EntityName, u64, crate::osdmap::PgId, u32, Vec<i32>)>,
    /// Commands passed to the leader and not answered yet, by the tid they went with.
    forwarded: BTreeMap<u64, Forwarded>,
    next_forward: u64,
    /// Commands for the leader while none is known (an election is under way).
    unsent: Vec<Forwarded>,
}

/// A command a follower passes to the leader.
struct Forwarded {
    src: EntityName,
    tid: u64,
    cmd: MonCommand,
    /// The leader it went to (none while unsent).
    leader: Option<u64>,
    /// Times it was sent back by a monitor that did not lead.
    bounces: u32,
    since: std::time::Instant,
}

pub use crate::msg::clog::MAX_LOG_MESSAGE_BYTES;

/// The monitor state, borrowed from the consensus while this lives (never across an await).
pub struct StateRef<'a>(std::sync::MutexGuard<'a, consensus::Replicated>);

impl std::ops::Deref for StateRef<'_> {
    type Target = MonState;
    fn deref(&self) -> &MonState {
        &self.0.state
    }
}

impl std::ops::DerefMut for StateRef<'_> {
    fn deref_mut(&mut self) -> &mut MonState {
        &mut self.0.state
    }
}

impl Monitor {
    /// Opens the monitor's directory, creating the cluster (with `fsid`) when it is new, as
    /// the only monitor (rank 0).
    pub async fn open(
        dir: &Path,
        fsid: Fsid,
        config: MonConfig,
        msgr: Messenger,
    ) -> Result<Monitor, MonError> {
        let members = BTreeMap::from([(0, String::new())]);
        let timing = consensus::ConsensusConfig::default();
        Monitor::open_member(dir, fsid, config, msgr, &members, &timing).await
    }

    /// Opens the monitor's directory as member `msgr.me` of the monitors `members` (rank to
    /// address), which form their quorum on first start.
    ///
    /// The replicated log builds on the directory's creation record (`DIR/log`, written here
    /// when missing; every member of a new cluster must start from the same one, see
    /// [`seed`]) or on the latest snapshot once there is one.
    pub async fn open_member(
        dir: &Path,
        fsid: Fsid,
        config: MonConfig,
        msgr: Messenger,
        members: &BTreeMap<u64, String>,
        timing: &consensus::ConsensusConfig,
    ) -> Result<Monitor, MonError> {
        std::fs::create_dir_all(dir).map_err(|source| MonError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let (mut log, mut records) = log::MonLog::open(&dir.join("log"))?;
        if records.is_empty() {
            let genesis = MonState::genesis(fsid)?;
            log.append(std::slice::from_ref(&genesis))?;
            records.push(genesis);
        }
        let base = MonState::replay(&records, config.clone())?;
        let peers = consensus::network::PeerNet::new(msgr.clone());
        let consensus = consensus::Consensus::start(
            dir,
            msgr.me.id,
            members,
            base,
            config,
            timing,
            peers.clone(),
        )
        .await?;
        let epoch = consensus.shared.lock().state.map().epoch();
        tracing::info!(target: "mon", "{} open at epoch {epoch} (monitors: {})", msgr.me, members.keys().map(|r| format!("mon.{r}")).collect::<Vec<_>>().join(", "));
        let clog = cluster_log::ClusterLog::open(&dir.join("cluster-log"))?;
        Ok(Monitor {
            consensus: Arc::new(consensus),
            peers,
            msgr,
            subscribers: BTreeMap::new(),
            clog,
            log_subscribers: BTreeMap::new(),
            failures: failure::Failures::new(std::time::Instant::now()),
            failure_config: failure::FailureConfig::default(),
            activating: Vec::new(),
            forwarded: BTreeMap::new(),
            // Not reused by a restarted process, whose old answers may still be on the way.
            next_forward: rados_common::random::nonzero_u64() >> 2,
            unsent: Vec::new(),
        })
    }

    /// When OSDs are declared down and out (see [`failure`]).
    pub fn with_failure_config(mut self, config: failure::FailureConfig) -> Monitor {
        self.failure_config = config;
        self
    }

    /// The replicated state as this monitor has applied it.
    pub fn state(&self) -> StateRef<'_> {
        StateRef(self.consensus.shared.lock())
    }

    /// This monitor's member of the consensus.
    pub fn consensus(&self) -> &Arc<consensus::Consensus> {
        &self.consensus
    }

    /// Writes a new cluster's creation record into the directory of each of its monitors
    /// (they must all start from the same one). Refused where a monitor log exists already.
    pub fn seed(dirs: &[&Path], fsid: Fsid) -> Result<(), MonError> {
        let genesis = MonState::genesis(fsid)?;
        for dir in dirs {
            std::fs::create_dir_all(dir).map_err(|source| MonError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let (mut log, records) = log::MonLog::open(&dir.join("log"))?;
            if !records.is_empty() {
                return Err(MonError::Exists(format!(
                    "{} holds a monitor already",
                    dir.display()
                )));
            }
            log.append(std::slice::from_ref(&genesis))?;
        }
        Ok(())
    }

    /// Serves messages until the inbox closes; while leading, also marks failed OSDs down
    /// and lifts blocklist entries when they expire.
    pub async fn run(mut self, inbox: Inbox) {
        // Consensus traffic is served beside the commands: a command waits on the quorum,
        // whose answers must never queue behind it, so the router never waits for this loop.
        // What it passes on stays bounded all the same: a client's message holds its share
        // of the transport's client budget (`mon_client_bytes`) until this loop drops it,
        // and daemons send the monitor reports at a bounded rate.
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let router = tokio::spawn(route(
            inbox,
            tx,
            self.consensus.clone(),
            self.peers.clone(),
            self.msgr.clone(),
        ));
        let mut applied = self.consensus.shared.subscribe();
        let mut raft_metrics = self.consensus.raft.metrics();
        // After an expiry pass that lifted nothing (the clock stepped back, the log failed),
        // the next waits a second, so the loop is never busy.
        let mut backoff: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(FAILURE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut led = false;
        loop {
            let leading = self.consensus.is_leader();
            if leading && !led {
                // Failure reports and beacons start afresh with each leadership (a new
                // leader gives every OSD a full grace before calling it silent).
                self.failures = failure::Failures::new(std::time::Instant::now());
                tracing::info!(target: "mon", "{} leads the monitors", self.msgr.me);
            }
            led = leading;
            let deadline = leading
                .then(|| self.state().next_blocklist_expiry())
                .flatten()
                .map(|until| {
                    let now = UTime::now();
                    let left = Duration::new(until.secs, until.nanos.min(999_999_999))
                        .saturating_sub(Duration::new(now.secs, now.nanos));
                    let at = tokio::time::Instant::now() + left;
                    backoff.map_or(at, |b| at.max(b))
                });
            // With no fence to lift, that branch is disabled (its instant is never awaited).
            let expiry = deadline.unwrap_or_else(tokio::time::Instant::now);
            let ev = tokio::select! {
                ev = events.recv() => ev,
                changed = raft_metrics.changed(), if !self.unsent.is_empty() => {
                    if changed.is_err() {
                        tracing::error!(target: "mon", "{}: consensus stopped; the monitor stops", self.msgr.me);
                        break;
                    }
                    if self.consensus.leader().is_some() {
                        // A leader was elected: pass on what waited for one.
                        for f in std::mem::take(&mut self.unsent) {
                            self.forward(f).await;
                        }
                    }
                    continue;
                }
                changed = applied.changed() => {
                    if changed.is_ok() {
                        // Entries committed by the quorum (ours or another leader's).
                        self.publish().await;
                    }
                    continue;
                }
                _ = tick.tick() => {
                    if leading {
                        self.check_failures().await;
                    }
                    self.drop_forwards().await;
                    continue;
                }
                _ = tokio::time::sleep(ACTIVATION_BATCH), if !self.activating.is_empty() => {
                    self.record_activations().await;
                    continue;
                }
                _ = tokio::time::sleep_until(expiry), if deadline.is_some() => {
                    let lifted = self.expire_blocklist().await;
                    backoff = (!lifted)
                        .then(|| tokio::time::Instant::now() + Duration::from_secs(1));
                    continue;
                }
            };
            match ev {
                Some(Event::Msg(env)) => self.handle(env).await,
                Some(Event::Reset(peer)) => {
                    // It will subscribe again if it still wants to hear from us.
                    self.subscribers.remove(&peer);
                    self.log_subscribers.remove(&peer);
                }
                None => break,
            }
        }
        router.abort();
        self.consensus.shutdown().await;
    }

    /// Lifts the fences whose time has passed; false when none was lifted.
    async fn expire_blocklist(&mut self) -> bool {
        let before = self.state().map().epoch();
        match self.command(&MonCommand::BlocklistExpire).await {
            Ok(MonReply::Done { message, epoch }) if epoch != before => {
                tracing::info!(target: "mon", "{message}");
                self.publish().await;
                self.log_map_change(self.msgr.me, message).await;
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(target: "mon", "cannot expire blocklist entries: {e}");
                false
            }
        }
    }

    async fn handle(&mut self, env: Envelope) {
        let (from, tid) = (env.src, env.tid);
        match env.msg {
            Message::MonGetMap { have, subscribe } => {
                if subscribe {
                    self.subscribers.insert(from, have);
                }
                self.send_maps(from, tid, have).await;
            }
            Message::MonCommand(cmd) => {
                if for_the_leader(&cmd) && !self.consensus.is_leader() {
                    let f = Forwarded {
                        src: from,
                        tid,
                        cmd,
                        leader: None,
                        bounces: 0,
                        since: std::time::Instant::now(),
                    };
                    self.forward(f).await;
                } else {
                    self.command_from(from, (from, tid), cmd).await;
                }
            }
            Message::MonForward {
                src,
                cmd,
                bounced: false,
            } if from.kind == crate::msg::EntityKind::Mon => {
                if self.consensus.is_leader() {
                    self.command_from(src, (from, tid), cmd).await;
                } else {
                    // Not carried out here: back to the follower, which knows whom to ask.
                    let back = Message::MonForward {
                        src,
                        cmd,
                        bounced: true,
                    };
                    let epoch = self.state().map().epoch();
                    if let Err(e) = self.msgr.send(from, tid, epoch, &back).await {
                        tracing::debug!(target: "mon", "cannot send a command back to {from}: {e}");
                    }
                }
            }
            Message::MonForward { bounced: true, .. }
                if from.kind == crate::msg::EntityKind::Mon =>
            {
                if let Some(f) = self.take_forwarded(tid, from) {
                    self.pass_again(f).await;
                }
            }
            Message::MonCommandReply(reply) if from.kind == crate::msg::EntityKind::Mon => {
                match self.take_forwarded(tid, from) {
                    // EAGAIN: not carried out (the leader lost the lead while at it).
                    Some(f) if matches!(&reply, Err(e) if e.errno == errno::EAGAIN) => {
                        self.pass_again(f).await;
                    }
                    Some(f) => {
                        let msg = Message::MonCommandReply(reply);
                        let epoch = self.state().map().epoch();
                        if let Err(e) = self.msgr.send(f.src, f.tid, epoch, &msg).await {
                            tracing::debug!(target: "mon", "answer to {} lost: {e}", f.src);
                        }
                    }
                    None => {
                        tracing::debug!(target: "mon", "an answer from {from} nobody waits for (tid {tid})")
                    }
                }
            }
            other => {
                tracing::warn!(target: "mon", "unexpected message type {} from {from}", other.msg_type())
            }
        }
    }

    /// Passes a command to the leader (keeping it until one is known); its answer goes back
    /// to its asker when it comes.
    async fn forward(&mut self, mut f: Forwarded) {
        let me = self.consensus.rank;
        let leader = match self.consensus.leader() {
            Some(l) if l != me => l,
            Some(_) => {
                // We lead now.
                self.command_from(f.src, (f.src, f.tid), f.cmd).await;
                return;
            }
            None => {
                // Reports are sent again by their OSDs; commands wait for an election.
                if answered(&f.cmd) {
                    f.leader = None;
                    self.unsent.push(f);
                }
                return;
            }
        };
        let fwd = self.next_forward;
        self.next_forward += 1;
        let msg = Message::MonForward {
            src: f.src,
            cmd: f.cmd.clone(),
            bounced: false,
        };
        let epoch = self.state().map().epoch();
        match self
            .msgr
            .send(EntityName::mon(leader), fwd, epoch, &msg)
            .await
        {
            Ok(()) => {
                if answered(&f.cmd) {
                    f.leader = Some(leader);
                    self.forwarded.insert(fwd, f);
                }
            }
            Err(e) => {
                tracing::debug!(target: "mon", "cannot pass a command to mon.{leader}: {e}");
                if answered(&f.cmd) {
                    let e = MonError::NotLeader {
                        me,
                        leader: Some(leader),
                    };
                    self.reply(f.src, f.tid, Err(e)).await;
                }
            }
        }
    }

    /// The command passed on with `tid`, if `from` is the monitor it went to.
    fn take_forwarded(&mut self, tid: u64, from: EntityName) -> Option<Forwarded> {
        match self.forwarded.get(&tid) {
            Some(f) if f.leader == Some(from.id) => self.forwarded.remove(&tid),
            _ => {
                tracing::debug!(target: "mon", "an answer from {from} nobody waits for (tid {tid})");
                None
            }
        }
    }

    /// A command the monitor it was passed to did not carry out (it did not lead): passed on
    /// again once another leads, at most `MAX_BOUNCES` times.
    async fn pass_again(&mut self, mut f: Forwarded) {
        f.bounces += 1;
        if f.bounces > MAX_BOUNCES {
            let e = MonError::NotLeader {
                me: self.consensus.rank,
                leader: self.consensus.leader(),
            };
            self.reply(f.src, f.tid, Err(e)).await;
        } else if self.consensus.is_leader() {
            self.command_from(f.src, (f.src, f.tid), f.cmd).await;
        } else if self.consensus.leader() == f.leader {
            // It refused: wait for the election that follows.
            f.leader = None;
            self.unsent.push(f);
        } else {
            self.forward(f).await;
        }
    }

    /// Answers the commands passed to a leader that is no longer one, or that never
    /// answered, and those that waited too long for a leader: the askers try again (a
    /// command passed on may or may not have been carried out, as with any command whose
    /// answer was lost).
    async fn drop_forwards(&mut self) {
        let leader = self.consensus.leader();
        let now = std::time::Instant::now();
        let lost: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, f)| f.leader != leader || now.duration_since(f.since) > FORWARD_TIMEOUT)
            .map(|(t, _)| *t)
            .collect();
        let mut gone: Vec<Forwarded> = lost
            .into_iter()
            .filter_map(|t| self.forwarded.remove(&t))
            .collect();
        let (late, waiting): (Vec<Forwarded>, Vec<Forwarded>) = std::mem::take(&mut self.unsent)
            .into_iter()
            .partition(|f| now.duration_since(f.since) > self.consensus.commit_timeout());
        self.unsent = waiting;
        gone.extend(late);
        for f in gone {
            let e = MonError::NoQuorum(format!(
                "{} (leader now: {})",
                f.leader.map_or_else(
                    || "no leader was elected in time".to_string(),
                    |l| format!("mon.{l} did not answer")
                ),
                leader.map_or_else(|| "none".to_string(), |l| format!("mon.{l}"))
            ));
            self.reply(f.src, f.tid, Err(e)).await;
        }
    }

    /// Carries out a command from `src`, answering `reply_to` (the asker, or the monitor
    /// that passed the command on, with its tid).
    async fn command_from(
        &mut self,
        src: EntityName,
        reply_to: (EntityName, u64),
        cmd: MonCommand,
    ) {
        let (to, tid) = reply_to;
        match cmd {
            cmd if !from_the_osd(&cmd, src) => {
                tracing::warn!(target: "mon", "refusing {cmd:?} from {src}: only the OSD it names may send it");
                let refused = MonError::NotPermitted(format!(
                    "{src} may not send OSD reports for another entity"
                ));
                self.reply(to, tid, Err(refused)).await;
            }
            MonCommand::PgStats { osd, stats, usage } => {
                self.state().note_pg_stats(osd, &stats);
                self.failures.beacon(osd, std::time::Instant::now());
                if let Some(u) = usage {
                    self.state().osd_usage.insert(osd, u);
                }
            }
            MonCommand::PgActivating {
                pgid,
                interval,
                acting,
            } => {
                let primary = self.state().map().pg_mapping(pgid).acting_primary;
                if src.osd_id() != Some(primary) {
                    let refused =
                        MonError::NotPermitted(format!("{src} is not pg {pgid}'s primary"));
                    self.reply(to, tid, Err(refused)).await;
                    return;
                }
                self.activating.push((to, tid, pgid, interval, acting));
                if self.activating.len() >= MAX_ACTIVATION_BATCH {
                    self.record_activations().await;
                }
            }
            MonCommand::OsdFailure {
                target,
                failed_for_ms,
                alive,
            } => {
                let Some(reporter) = src.osd_id() else {
                    return;
                };
                if alive {
                    self.failures.cancel(target, reporter);
                } else if self.state().map().is_up(target) {
                    tracing::info!(target: "mon", "osd.{reporter} reports osd.{target} silent for {} ms", failed_for_ms);
                    self.failures
                        .report(target, reporter, std::time::Instant::now());
                    if self.consensus.is_leader() {
                        self.check_failures().await;
                    }
                }
            }
            cmd @ (MonCommand::Log { .. }
            | MonCommand::LogLast { .. }
            | MonCommand::LogSubscribe { .. }) => {
                let reply = self.cluster_log_command(src, cmd).await;
                self.reply(to, tid, reply).await;
            }
            cmd => {
                let before = self.state().map().epoch();
                let reply = self.command(&cmd).await;
                if let (MonCommand::OsdBoot { osd, .. }, Ok(_)) = (&cmd, &reply) {
                    self.failures.booted(*osd, std::time::Instant::now());
                }
                let epoch = self.state().map().epoch();
                let change = match &reply {
                    Ok(MonReply::Done { message, .. }) if epoch != before => Some(message.clone()),
                    _ => None,
                };
                self.reply(to, tid, reply).await;
                self.publish().await;
                if let Some(message) = change {
                    self.log_map_change(src, message).await;
                }
            }
        }
    }

    /// Answers a command, stamped with the current epoch.
    async fn reply(&self, to: EntityName, tid: u64, reply: Result<MonReply, MonError>) {
        let epoch = self.state().map().epoch();
        let reply = Message::MonCommandReply(reply.map_err(|e| e.to_wire()));
        if let Err(e) = self.msgr.send(to, tid, epoch, &reply).await {
            tracing::debug!(target: "mon", "reply to {to} lost: {e}");
        }
    }

    /// Proposes one command and, once the quorum committed its records, applies them.
    pub async fn command(
        &mut self,
        cmd: &MonCommand,
    ) -> Result<crate::msg::command::MonReply, MonError> {
        let reply = self.commit(|st| st.propose(cmd)).await?;
        tracing::debug!(target: "mon", "{cmd:?} -> epoch {}", self.state().map().epoch());
        Ok(reply)
    }

    /// Commits what `propose` makes of the current state (proposing again if the state moved
    /// on meanwhile), and returns its reply once applied here.
    async fn commit(
        &self,
        mut propose: impl FnMut(&MonState) -> Result<Proposal, MonError>,
    ) -> Result<MonReply, MonError> {
        let me = self.consensus.rank;
        self.consensus
            .commit(|st| propose(st).map(|p| (p.records, p.reply)))
            .await
            .map_err(|e| match e {
                consensus::CommitError::Refused(e) => e,
                consensus::CommitError::Propose(consensus::ProposeError::NotLeader { leader }) => {
                    MonError::NotLeader { me, leader }
                }
                consensus::CommitError::Propose(consensus::ProposeError::Failed(m)) => {
                    MonError::NoQuorum(m)
                }
            })
    }

    /// Records the PG activations that came in since the last batch, in one epoch, and
    /// answers each primary.
    async fn record_activations(&mut self) {
        let batch = std::mem::take(&mut self.activating);
        let entries: Vec<_> = batch
            .iter()
            .map(|(_, _, pgid, interval, acting)| (*pgid, *interval, acting.clone()))
            .collect();
        let result = self.commit(|st| st.pg_activating(&entries)).await;
        for (src, tid, pgid, interval, _) in batch {
            let recorded = self
                .state()
                .map()
                .pg_active(pgid)
                .is_some_and(|a| a.epoch >= interval);
            let reply = match &result {
                Ok(r) if recorded => Ok(r.clone()),
                Ok(_) => Err(MonError::Invalid(format!(
                    "pg {pgid}: the map has moved on from interval {interval}"
                ))),
                // Kept as they are: a follower that passed the request on tries again.
                Err(MonError::NotLeader { me, leader }) => Err(MonError::NotLeader {
                    me: *me,
                    leader: *leader,
                }),
                Err(MonError::NoQuorum(m)) => Err(MonError::NoQuorum(m.clone())),
                Err(e) => Err(MonError::Invalid(e.to_string())),
            };
            self.reply(src, tid, reply).await;
        }
        self.publish().await;
    }

    /// Marks down the OSDs their peers report or that fell silent, and out those down for
    /// too long.
    async fn check_failures(&mut self) {
        let now = std::time::Instant::now();
        let consensus = self.consensus.clone();
        let due = self.failures.due_down(
            consensus.shared.lock().state.map(),
            &self.failure_config,
            now,
        );
        for (osd, why) in due {
            let why = match why {
                failure::DownReason::Reported { reporters } => {
                    let names: Vec<String> = reporters.iter().map(|r| format!("osd.{r}")).collect();
                    format!(
                        "osd.{osd} failed ({} reporters: {})",
                        names.len(),
                        names.join(", ")
                    )
                }
                failure::DownReason::Silent { for_secs } => {
                    format!("osd.{osd} marked down: no beacon for {for_secs} s")
                }
            };
            if !self
                .own_change(&MonCommand::OsdDown { ids: vec![osd] }, why)
                .await
            {
                // No quorum or no longer leading: the next pass tries again.
                return;
            }
        }
        let out = self.failures.due_out(
            consensus.shared.lock().state.map(),
            &self.failure_config,
            now,
        );
        for osd in out {
            let why = format!(
                "osd.{osd} marked out after being down for {} s",
                self.failure_config.down_out_interval.as_secs()
            );
            if !self.own_change(&MonCommand::OsdAutoOut { osd }, why).await {
                return;
            }
        }
        for osd in self.failures.sessions_to_end(
            consensus.shared.lock().state.map(),
            SESSION_END_AFTER,
            now,
        ) {
            self.msgr.network().mark_down(EntityName::osd(osd));
        }
    }

    /// A map change the monitor makes on its own: carried out, published, and logged to the
    /// cluster log at WRN with `why`. False when it failed.
    async fn own_change(&mut self, cmd: &MonCommand, why: String) -> bool {
        match self.command(cmd).await {
            Ok(_) => {
                tracing::warn!(target: "mon", "{why}");
                self.publish().await;
                let me = self.msgr.me;
                self.clog(me, CHANNEL_CLUSTER, LogLevel::Warn, why).await;
                true
            }
            Err(e) => {
                tracing::error!(target: "mon", "{why}, but the change failed: {e}");
                false
            }
        }
    }

    /// Serves `log`, `log last` and log subscriptions for `src`.
    async fn cluster_log_command(
        &mut self,
        src: EntityName,
        cmd: MonCommand,
    ) -> Result<MonReply, MonError> {
        let done = |epoch| MonReply::Done {
            epoch,
            message: String::new(),
        };
        let epoch = self.state().map().epoch();
        match cmd {
            MonCommand::Log {
                level,
                channel,
                message,
            } => {
                let channel = channel.unwrap_or_else(|| CHANNEL_CLUSTER.to_string());
                check_channel(&channel)?;
                if message.len() > MAX_LOG_MESSAGE_BYTES {
                    return Err(MonError::Invalid(format!(
                        "a log line is at most {MAX_LOG_MESSAGE_BYTES} bytes"
                    )));
                }
                self.clog(src, &channel, level, message).await;
                Ok(done(epoch))
            }
            MonCommand::LogLast {
                num,
                level,
                channel,
            } => {
                if let Some(c) = &channel {
                    check_channel(c)?;
                }
                Ok(MonReply::ClusterLog(self.clog.last(
                    num as usize,
                    level,
                    channel.as_deref(),
                )))
            }
            MonCommand::LogSubscribe { level } => {
                match level {
                    Some(l) => self.log_subscribers.insert(src, l),
                    None => self.log_subscribers.remove(&src),
                };
                Ok(done(epoch))
            }
            other => self.command(&other).await,
        }
    }

    /// Logs a map change `src` caused (audited, naming the client, when a client asked for
    /// it), then the new map's summary.
    async fn log_map_change(&mut self, src: EntityName, message: String) {
        let me = self.msgr.me;
        let (channel, message) = match src.kind {
            crate::msg::EntityKind::Client => (
                CHANNEL_AUDIT,
                format!("from='{src} {}': {message}", self.msgr.addr_of(src)),
            ),
            _ => (CHANNEL_CLUSTER, message),
        };
        self.clog(me, channel, LogLevel::Info, message).await;
        let summary = {
            let st = self.state();
            let (total, up, inn) = report::osd_counts(st.map());
            format!(
                "osdmap e{}: {total} total, {up} up, {inn} in",
                st.map().epoch()
            )
        };
        self.clog(me, CHANNEL_CLUSTER, LogLevel::Debug, summary)
            .await;
    }

    /// Logs one cluster log entry and sends it to the subscribers that want its level.
    async fn clog(&mut self, who: EntityName, channel: &str, level: LogLevel, message: String) {
        let addr = self.msgr.addr_of(who);
        let entry = self.clog.append(who, addr, channel, level, message);
        tracing::debug!(target: "mon", "cluster log: {entry}");
        let to: Vec<EntityName> = self
            .log_subscribers
            .iter()
            .filter(|(_, &l)| entry.level >= l)
            .map(|(n, _)| *n)
            .collect();
        if to.is_empty() {
            return;
        }
        let msg = Message::ClusterLog(vec![entry]);
        let frame = match self.msgr.encode(0, self.state().map().epoch(), &msg) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(target: "mon", "cannot encode a cluster log entry: {e}");
                return;
            }
        };
        for n in to {
            if self.msgr.deliver(n, frame.clone()).await.is_err() {
                self.log_subscribers.remove(&n);
            }
        }
    }

    async fn send_maps(&mut self, to: EntityName, tid: u64, have: u32) {
        let (msg, epoch) = {
            let st = self.state();
            let msg = match st.incrementals_since(have) {
                Some(incs) if have > 0 => Message::MonMap {
                    full: None,
                    incrementals: incs,
                },
                _ => Message::MonMap {
                    full: Some(Box::new(st.map().clone())),
                    incrementals: Vec::new(),
                },
            };
            (msg, st.map().epoch())
        };
        if self.msgr.send(to, tid, epoch, &msg).await.is_err() {
            self.subscribers.remove(&to);
        } else if let Some(h) = self.subscribers.get_mut(&to) {
            *h = epoch;
        }
    }

    async fn publish(&mut self) {
        let epoch = self.state().map().epoch();
        let behind: Vec<(EntityName, u32)> = self
            .subscribers
            .iter()
            .filter(|(_, &h)| h < epoch)
            .map(|(n, h)| (*n, *h))
            .collect();
        for (to, have) in behind {
            self.send_maps(to, 0, have).await;
        }
    }
}

/// Takes the inbox's consensus traffic (requests served at once, each in a task of its own;
/// answers handed to the requests waiting for them) and passes everything else on.
async fn route(
    mut inbox: Inbox,
    tx: tokio::sync::mpsc::UnboundedSender<Event>,
    consensus: Arc<consensus::Consensus>,
    peers: consensus::network::PeerNet,
    msgr: Messenger,
) {
    while let Some(ev) = inbox.next().await {
        let env = match ev {
            Event::Msg(env) if matches!(env.msg, Message::MonPeer { .. }) => env,
            other => {
                if tx.send(other).is_err() {
                    return;
                }
                continue;
            }
        };
        let (src, tid) = (env.src, env.tid);
        let Message::MonPeer { payload, reply } = env.msg else {
            continue;
        };
        if src.kind != crate::msg::EntityKind::Mon {
            tracing::warn!(target: "mon", "refusing a consensus message from {src}: only monitors send it");
            continue;
        }
        if reply {
            peers.answered(src.id, tid, payload);
        } else {
            let (c, m) = (consensus.clone(), msgr.clone());
            tokio::spawn(async move {
                consensus::network::serve(&c.raft, &m, src, tid, &payload).await;
            });
        }
    }
}

/// PG activations are recorded together when they come within this long of each other.
pub const ACTIVATION_BATCH: Duration = Duration::from_millis(5);
/// At most this many PG activations go into one epoch.
pub const MAX_ACTIVATION_BATCH: usize = 256;

/// The log is compacted into one checkpoint once it holds this many records.
pub const CHECKPOINT_RECORDS: usize = 1000;

/// How often the monitor looks for failed and long-down OSDs.
pub const FAILURE_TICK: Duration = Duration::from_millis(500);

/// The monitor ends its session with an OSD down this long (dropping what is queued for it).
pub const SESSION_END_AFTER: Duration = Duration::from_secs(30);

/// A command passed to the leader (or waiting for one) unanswered for this long is answered
/// with a timeout.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);
/// A command sent back this many times by monitors that did not lead is answered EAGAIN.
const MAX_BOUNCES: u32 = 5;

/// Whether a follower passes `cmd` to the leader (everything but the cluster log, which
/// each monitor keeps for its own subscribers).
fn for_the_leader(cmd: &MonCommand) -> bool {
    !matches!(
        cmd,
        MonCommand::Log { .. } | MonCommand::LogLast { .. } | MonCommand::LogSubscribe { .. }
    )
}

/// Whether the asker waits for an answer to `cmd` (reports are not answered).
fn answered(cmd: &MonCommand) -> bool {
    !matches!(
        cmd,
        MonCommand::PgStats { .. } | MonCommand::OsdFailure { .. }
    )
}

/// Whether `cmd`, if it is one of an OSD's reports about itself, comes from that OSD.
fn from_the_osd(cmd: &MonCommand, src: EntityName) -> bool {
    let osd = match cmd {
        MonCommand::OsdBoot { osd, .. }
        | MonCommand::OsdMarkMeDown { osd }
        | MonCommand::PgStats { osd, .. } => *osd,
        MonCommand::OsdFailure { .. } => return src.osd_id().is_some(),
        // The monitor's own decision, never a peer's.
        MonCommand::OsdAutoOut { .. } => return false,
        _ => return true,
    };
    src == EntityName::osd(osd)
}

/// A channel name: 1 to 64 of `a-z`, `0-9`, `_`, `-`, `.`.
fn check_channel(c: &str) -> Result<(), MonError> {
    let ok = !c.is_empty()
        && c.len() <= 64
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(MonError::Invalid(format!(
            "invalid log channel '{c}': use 1 to 64 of a-z, 0-9, '_', '-', '.'"
        )))
    }
}

#[cfg(test)]
mod tests;

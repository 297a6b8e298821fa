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
use std::sync::{Arc, Mutex};
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
        }
    }

    pub fn to_wire(&self) -> WireError {
        WireError {
            errno: self.errno(),
            message: self.to_string(),
        }
    }
}

/// A running monitor's state and log, shared by its driver task.
pub struct Monitor {
    state: MonState,
    log: Arc<Mutex<log::MonLog>>,
    msgr: Messenger,
    /// Subscribers and the last epoch each was sent.
    subscribers: BTreeMap<EntityName, u32>,
    clog: cluster_log::ClusterLog,
    /// Cluster log subscribers and the least level each is sent.
    log_subscribers: BTreeMap<EntityName, LogLevel>,
    failures: failure::Failures,
    failure_config: failure::FailureConfig,
    /// Records in the log since it began or was last compacted.
    log_records: usize,
    /// PG activations waiting to be recorded in one epoch: who asked, its tid, the PG, the
    /// interval and the acting set.
    activating: Vec<(EntityName, u64, crate::osdmap::PgId, u32, Vec<i32>)>,
}

pub use crate::msg::clog::MAX_LOG_MESSAGE_BYTES;

impl Monitor {
    /// Opens the monitor's directory, creating the cluster (with `fsid`) when it is new.
    pub fn open(
        dir: &Path,
        fsid: Fsid,
        config: MonConfig,
        msgr: Messenger,
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
        let state = MonState::replay(&records, config)?;
        let log_records = records.len();
        tracing::info!(target: "mon", "monitor open at epoch {} ({} log records)", state.map().epoch(), records.len());
        let clog = cluster_log::ClusterLog::open(&dir.join("cluster-log"))?;
        Ok(Monitor {
            state,
            log: Arc::new(Mutex::new(log)),
            msgr,
            subscribers: BTreeMap::new(),
            clog,
            log_subscribers: BTreeMap::new(),
            failures: failure::Failures::new(std::time::Instant::now()),
            failure_config: failure::FailureConfig::default(),
            log_records,
            activating: Vec::new(),
        })
    }

    /// When OSDs are declared down and out (see [`failure`]).
    pub fn with_failure_config(mut self, config: failure::FailureConfig) -> Monitor {
        self.failure_config = config;
        self
    }

    pub fn state(&self) -> &MonState {
        &self.state
    }

    /// Serves messages until the inbox closes, and lifts blocklist entries when they expire.
    pub async fn run(mut self, mut inbox: Inbox) {
        // After an expiry pass that lifted nothing (the clock stepped back, the log failed),
        // the next waits a second, so the loop is never busy.
        let mut backoff: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(FAILURE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.state.next_blocklist_expiry().map(|until| {
                let now = UTime::now();
                let left = Duration::new(until.secs, until.nanos.min(999_999_999))
                    .saturating_sub(Duration::new(now.secs, now.nanos));
                let at = tokio::time::Instant::now() + left;
                backoff.map_or(at, |b| at.max(b))
            });
            // With no fence to lift, that branch is disabled (its instant is never awaited).
            let expiry = deadline.unwrap_or_else(tokio::time::Instant::now);
            let ev = tokio::select! {
                ev = inbox.next() => ev,
                _ = tick.tick() => {
                    self.check_failures().await;
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
    }

    /// Lifts the fences whose time has passed; false when none was lifted.
    async fn expire_blocklist(&mut self) -> bool {
        let before = self.state.map().epoch();
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
        match env.msg {
            Message::MonGetMap { have, subscribe } => {
                if subscribe {
                    self.subscribers.insert(env.src, have);
                }
                self.send_maps(env.src, env.tid, have).await;
            }
            Message::MonCommand(cmd) if !from_the_osd(&cmd, env.src) => {
                tracing::warn!(target: "mon", "refusing {cmd:?} from {}: only the OSD it names may send it", env.src);
                let refused = MonError::NotPermitted(format!(
                    "{} may not send OSD reports for another entity",
                    env.src
                ));
                self.reply(env.src, env.tid, Err(refused)).await;
            }
            Message::MonCommand(MonCommand::PgStats { osd, stats, usage }) => {
                self.state.note_pg_stats(osd, &stats);
                self.failures.beacon(osd, std::time::Instant::now());
                if let Some(u) = usage {
                    self.state.osd_usage.insert(osd, u);
                }
            }
            Message::MonCommand(MonCommand::PgActivating {
                pgid,
                interval,
                acting,
            }) => {
                let primary = self.state.map().pg_mapping(pgid).acting_primary;
                if env.src.osd_id() != Some(primary) {
                    let refused =
                        MonError::NotPermitted(format!("{} is not pg {pgid}'s primary", env.src));
                    self.reply(env.src, env.tid, Err(refused)).await;
                    return;
                }
                self.activating
                    .push((env.src, env.tid, pgid, interval, acting));
                if self.activating.len() >= MAX_ACTIVATION_BATCH {
                    self.record_activations().await;
                }
            }
            Message::MonCommand(MonCommand::OsdFailure {
                target,
                failed_for_ms,
                alive,
            }) => {
                let Some(reporter) = env.src.osd_id() else {
                    return;
                };
                if alive {
                    self.failures.cancel(target, reporter);
                } else if self.state.map().is_up(target) {
                    tracing::info!(target: "mon", "osd.{reporter} reports osd.{target} silent for {} ms", failed_for_ms);
                    self.failures
                        .report(target, reporter, std::time::Instant::now());
                    self.check_failures().await;
                }
            }
            Message::MonCommand(
                cmd @ (MonCommand::Log { .. }
                | MonCommand::LogLast { .. }
                | MonCommand::LogSubscribe { .. }),
            ) => {
                let reply = self.cluster_log_command(env.src, cmd).await;
                self.reply(env.src, env.tid, reply).await;
            }
            Message::MonCommand(cmd) => {
                let before = self.state.map().epoch();
                let reply = self.command(&cmd).await;
                if let (MonCommand::OsdBoot { osd, .. }, Ok(_)) = (&cmd, &reply) {
                    self.failures.booted(*osd, std::time::Instant::now());
                }
                let epoch = self.state.map().epoch();
                let change = match &reply {
                    Ok(MonReply::Done { message, .. }) if epoch != before => Some(message.clone()),
                    _ => None,
                };
                self.reply(env.src, env.tid, reply).await;
                self.publish().await;
                if let Some(message) = change {
                    self.log_map_change(env.src, message).await;
                }
            }
            other => {
                tracing::warn!(target: "mon", "unexpected message type {} from {}", other.msg_type(), env.src)
            }
        }
    }

    /// Answers a command, stamped with the current epoch.
    async fn reply(&self, to: EntityName, tid: u64, reply: Result<MonReply, MonError>) {
        let epoch = self.state.map().epoch();
        let reply = Message::MonCommandReply(reply.map_err(|e| e.to_wire()));
        if let Err(e) = self.msgr.send(to, tid, epoch, &reply).await {
            tracing::debug!(target: "mon", "reply to {to} lost: {e}");
        }
    }

    /// Proposes, logs and applies one command.
    pub async fn command(
        &mut self,
        cmd: &MonCommand,
    ) -> Result<crate::msg::command::MonReply, MonError> {
        let proposal = self.state.propose(cmd)?;
        let changes = !proposal.records.is_empty();
        let reply = self.commit(proposal).await?;
        if changes {
            tracing::debug!(target: "mon", "{cmd:?} -> epoch {}", self.state.map().epoch());
        }
        Ok(reply)
    }

    /// Makes a proposal's records durable, then applies them.
    async fn commit(&mut self, proposal: Proposal) -> Result<MonReply, MonError> {
        if !proposal.records.is_empty() {
            let log = self.log.clone();
            let records = proposal.records.clone();
            tokio::task::spawn_blocking(move || {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .append(&records)
            })
            .await
            .map_err(|e| MonError::Corrupt(format!("log writer failed: {e}")))??;
            for r in &proposal.records {
                self.state.apply(r)?;
            }
            self.log_records += proposal.records.len();
            if self.log_records >= CHECKPOINT_RECORDS {
                self.compact_log().await;
            }
        }
        Ok(proposal.reply)
    }

    /// Records the PG activations that came in since the last batch, in one epoch, and
    /// answers each primary.
    async fn record_activations(&mut self) {
        let batch = std::mem::take(&mut self.activating);
        let entries: Vec<_> = batch
            .iter()
            .map(|(_, _, pgid, interval, acting)| (*pgid, *interval, acting.clone()))
            .collect();
        let proposal = match self.state.pg_activating(&entries) {
            Ok(p) => p,
            Err(e) => {
                for (src, tid, ..) in batch {
                    self.reply(src, tid, Err(MonError::Invalid(e.to_string())))
                        .await;
                }
                return;
            }
        };
        let result = self.commit(proposal).await;
        for (src, tid, pgid, interval, _) in batch {
            let recorded = self
                .state
                .map()
                .pg_active(pgid)
                .is_some_and(|a| a.epoch >= interval);
            let reply = match &result {
                Ok(r) if recorded => Ok(r.clone()),
                Ok(_) => Err(MonError::Invalid(format!(
                    "pg {pgid}: the map has moved on from interval {interval}"
                ))),
                Err(e) => Err(MonError::Invalid(e.to_string())),
            };
            self.reply(src, tid, reply).await;
        }
        self.publish().await;
    }

    /// Replaces the log by one checkpoint of the state (atomically: a new file renamed over
    /// the old), so a long-lived cluster's log stays bounded. Subscribers further behind
    /// than the incrementals kept in memory get a full map, as they would anyway.
    async fn compact_log(&mut self) {
        let checkpoint = self.state.checkpoint();
        let log = self.log.clone();
        let done = tokio::task::spawn_blocking(move || {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .rewrite(std::slice::from_ref(&checkpoint))
        })
        .await;
        match done {
            Ok(Ok(())) => {
                tracing::info!(target: "mon", "log compacted at epoch {} ({} records before)", self.state.map().epoch(), self.log_records);
                self.log_records = 1;
            }
            Ok(Err(e)) => tracing::error!(target: "mon", "cannot compact the log: {e}"),
            Err(e) => tracing::error!(target: "mon", "cannot compact the log: {e}"),
        }
    }

    /// Marks down the OSDs their peers report or that fell silent, and out those down for
    /// too long.
    async fn check_failures(&mut self) {
        let now = std::time::Instant::now();
        let due = self
            .failures
            .due_down(self.state.map(), &self.failure_config, now);
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
            self.own_change(&MonCommand::OsdDown { ids: vec![osd] }, why)
                .await;
        }
        let out = self
            .failures
            .due_out(self.state.map(), &self.failure_config, now);
        for osd in out {
            let why = format!(
                "osd.{osd} marked out after being down for {} s",
                self.failure_config.down_out_interval.as_secs()
            );
            self.own_change(&MonCommand::OsdAutoOut { osd }, why).await;
        }
        for osd in self
            .failures
            .sessions_to_end(self.state.map(), SESSION_END_AFTER, now)
        {
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
        let epoch = self.state.map().epoch();
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
        let map = self.state.map();
        let (total, up, inn) = report::osd_counts(map);
        let summary = format!("osdmap e{}: {total} total, {up} up, {inn} in", map.epoch());
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
        let frame = match self.msgr.encode(0, self.state.map().epoch(), &msg) {
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
        let map = self.state.map();
        let msg = match self.state.incrementals_since(have) {
            Some(incs) if have > 0 => Message::MonMap {
                full: None,
                incrementals: incs,
            },
            _ => Message::MonMap {
                full: Some(Box::new(map.clone())),
                incrementals: Vec::new(),
            },
        };
        let epoch = map.epoch();
        if self.msgr.send(to, tid, epoch, &msg).await.is_err() {
            self.subscribers.remove(&to);
        } else if let Some(h) = self.subscribers.get_mut(&to) {
            *h = epoch;
        }
    }

    async fn publish(&mut self) {
        let epoch = self.state.map().epoch();
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

//! The state the replicated log builds: the monitor state, the version proposals are checked
//! against, and the membership; and its snapshots.
//!
//! The state lives in memory. A snapshot (a checkpoint of the state with the log position it
//! covers) is kept in one file, rewritten atomically; on start the state is rebuilt from it
//! (or, before the first snapshot, from the base the cluster was created with) and Raft
//! applies the committed entries after it again.

use super::{Applied, MonEntry, Rank, Replicated, Shared, TypeConfig};
use crate::log::{Record, RecordFile};
use crate::state::{LogRecord, MonConfig, MonState};
use crate::MonError;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A snapshot's contents (what travels to a member that is too far behind).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Body {
    version: u64,
    checkpoint: LogRecord,
}

/// The snapshot file's one record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotRecord {
    meta: SnapshotMeta<Rank, BasicNode>,
    body: Vec<u8>,
}

impl Record for SnapshotRecord {
    const MAGIC: &'static [u8; 8] = b"RDMONSN1";
    const KIND: &'static str = "mon-snapshot";
    const VERSION: u16 = 1;
    const WHAT: &'static str = "a monitor's snapshot";
}

const BODY_KIND: &str = "mon-snapshot-body";
const BODY_VERSION: u16 = 1;

type Current = Arc<Mutex<Option<SnapshotRecord>>>;

pub struct StateMachine {
    shared: Shared,
    file: Arc<Mutex<RecordFile<SnapshotRecord>>>,
    path: PathBuf,
    config: MonConfig,
    current: Current,
    fresh: bool,
}

fn storage_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn state_from(body: &Body, config: &MonConfig) -> Result<MonState, MonError> {
    MonState::replay(std::slice::from_ref(&body.checkpoint), config.clone())
}

impl StateMachine {
    /// Opens the snapshot at `path`; without one the state starts from `base`.
    pub fn open(
        path: &Path,
        base: MonState,
        config: MonConfig,
    ) -> Result<(StateMachine, Shared), MonError> {
        let (file, mut records) = RecordFile::<SnapshotRecord>::open(path)?;
        let snapshot = records.pop();
        let fresh = snapshot.is_none();
        let replicated = match &snapshot {
            Some(s) => {
                let (_, body) =
                    crate::encoding::decode::<Body>(BODY_KIND, BODY_VERSION, &s.body)
                        .map_err(|e| MonError::Corrupt(format!("{}: {e}", path.display())))?;
                Replicated {
                    state: state_from(&body, &config)?,
                    version: body.version,
                    last_applied: s.meta.last_log_id,
                    membership: s.meta.last_membership.clone(),
                }
            }
            None => Replicated {
                state: base,
                version: 0,
                last_applied: None,
                membership: StoredMembership::default(),
            },
        };
        let (applied, _) = tokio::sync::watch::channel(replicated.state.map().epoch());
        let shared = Shared {
            inner: Arc::new(Mutex::new(replicated)),
            applied,
        };
        Ok((
            StateMachine {
                shared: shared.clone(),
                file: Arc::new(Mutex::new(file)),
                path: path.to_path_buf(),
                config,
                current: Arc::new(Mutex::new(snapshot)),
                fresh,
            },
            shared,
        ))
    }

    /// Whether no snapshot was ever taken or installed here.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    fn builder(&self) -> Builder {
        Builder {
            shared: self.shared.clone(),
            file: self.file.clone(),
            current: self.current.clone(),
        }
    }
}

/// Keeps `record` as the current snapshot, durably, unless a newer one is kept already (a
/// snapshot built in the background may finish after a newer one was installed).
async fn keep(
    file: &Arc<Mutex<RecordFile<SnapshotRecord>>>,
    current: &Current,
    record: SnapshotRecord,
) -> Result<(), std::io::Error> {
    let (f, cur) = (file.clone(), current.clone());
    tokio::task::spawn_blocking(move || {
        let mut file = f.lock().unwrap_or_else(|e| e.into_inner());
        let mut cur = cur.lock().unwrap_or_else(|e| e.into_inner());
        if cur
            .as_ref()
            .is_some_and(|c| c.meta.last_log_id > record.meta.last_log_id)
        {
            return Ok::<(), MonError>(());
        }
        file.rewrite(std::slice::from_ref(&record))?;
        *cur = Some(record);
        Ok(())
    })
    .await
    .map_err(storage_err)?
    .map_err(storage_err)
}

pub struct Builder {
    shared: Shared,
    file: Arc<Mutex<RecordFile<SnapshotRecord>>>,
    current: Current,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<Rank>> {
        let (meta, body) = {
            let r = self.shared.lock();
            let body = Body {
                version: r.version,
                checkpoint: r.state.checkpoint(),
            };
            let id = r.last_applied.map_or_else(
                || format!("0-0-{}", r.version),
                |l| format!("{}-{}-{}", l.leader_id, l.index, r.version),
            );
            let meta = SnapshotMeta {
                last_log_id: r.last_applied,
                last_membership: r.membership.clone(),
                snapshot_id: id,
            };
            (meta, body)
        };
        let bytes = crate::encoding::encode(BODY_KIND, BODY_VERSION, &body)
            .map_err(|e| StorageIOError::write_snapshot(None, &storage_err(e)))?;
        let record = SnapshotRecord {
            meta: meta.clone(),
            body: bytes.clone(),
        };
        keep(&self.file, &self.current, record)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        tracing::info!(target: "mon", "snapshot of the monitor state at {:?} (version {}, {} bytes)", meta.last_log_id, body.version, bytes.len());
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Builder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<Rank>>, StoredMembership<Rank, BasicNode>), StorageError<Rank>> {
        let r = self.shared.lock();
        Ok((r.last_applied, r.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<Rank>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let epoch = {
            let mut r = self.shared.lock();
            for e in entries {
                r.last_applied = Some(e.log_id);
                out.push(match e.payload {
                    EntryPayload::Blank => Applied::Done(r.version),
                    EntryPayload::Membership(m) => {
                        r.membership = StoredMembership::new(Some(e.log_id), m);
                        Applied::Done(r.version)
                    }
                    EntryPayload::Normal(MonEntry { base, records }) => {
                        if base != r.version {
                            Applied::Stale
                        } else {
                            for rec in &records {
                                // Deterministic: every member fails the same way, on the
                                // same state, so they stay alike.
                                if let Err(err) = r.state.apply(rec) {
                                    tracing::error!(target: "mon", "entry {} of the consensus log does not apply: {err}", e.log_id);
                                }
                            }
                            r.version += 1;
                            Applied::Done(r.version)
                        }
                    }
                });
            }
            r.state.map().epoch()
        };
        self.shared.applied.send_replace(epoch);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.builder()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<Rank>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<Rank, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<Rank>> {
        let bytes = snapshot.into_inner();
        let bad = |e: String| {
            StorageError::from(StorageIOError::read_snapshot(
                Some(meta.signature()),
                &storage_err(format!("{}: {e}", self.path.display())),
            ))
        };
        let (_, body) = crate::encoding::decode::<Body>(BODY_KIND, BODY_VERSION, &bytes)
            .map_err(|e| bad(e.to_string()))?;
        let state = state_from(&body, &self.config).map_err(|e| bad(e.to_string()))?;
        let record = SnapshotRecord {
            meta: meta.clone(),
            body: bytes,
        };
        keep(&self.file, &self.current, record)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let epoch = {
            let mut r = self.shared.lock();
            r.state = state;
            r.version = body.version;
            r.last_applied = meta.last_log_id;
            r.membership = meta.last_membership.clone();
            r.state.map().epoch()
        };
        tracing::info!(target: "mon", "installed a snapshot of the monitor state at {:?} (epoch {epoch})", meta.last_log_id);
        self.shared.applied.send_replace(epoch);
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<Rank>> {
        let cur = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(cur.map(|r| Snapshot {
            meta: r.meta,
            snapshot: Box::new(Cursor::new(r.body)),
        }))
    }
}

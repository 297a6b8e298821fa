//! Snapshots through an [`IoCtx`]: pool snapshots (named, taken by the monitor for the whole
//! pool), self-managed snapshots (ids the monitor allocates, applied through the write snap
//! context an application sets), reads at a snap, rollback and per-object snap listings.
//!
//! A pool uses one kind or the other: the first snapshot command decides, and the monitor
//! refuses the other kind from then on (EINVAL).

use super::ioctx::{AioCtx, IoCtx};
use super::{Error, Result};
use crate::msg::command::{MonCommand, MonReply};
use crate::msg::ops::{OpStep, SnapContext, SnapListing, StepOutput};
use crate::store::SNAP_HEAD;
use std::time::{Duration, SystemTime};

/// A pool snapshot: its id, name and when it was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSnapInfo {
    pub id: u64,
    pub name: String,
    pub created: SystemTime,
}

fn snap_id(reply: MonReply) -> Result<u64> {
    match reply {
        MonReply::Snap { id, .. } => Ok(id),
        _ => Err(Error::InvalidArgument(
            "unexpected reply from the monitor".into(),
        )),
    }
}

impl IoCtx {
    /// The pool's record in this client's map.
    pub(super) fn pool_record(&self) -> Result<crate::osdmap::Pool> {
        self.rados()
            .osdmap()
            .pool(self.pool_id())
            .cloned()
            .ok_or_else(|| Error::PoolNotFound {
                name: self.pool_name().to_string(),
            })
    }

    /// Takes a pool snapshot named `name`; returns its id. Once this returns, every write to
    /// the pool preserves what the snapshot saw.
    pub fn snap_create(&self, name: &str) -> Result<u64> {
        snap_id(self.rados().mon_command(MonCommand::PoolSnapCreate {
            pool: self.pool_name().to_string(),
            snap: name.to_string(),
        })?)
    }

    /// Removes a pool snapshot; its clones are trimmed in the background.
    pub fn snap_remove(&self, name: &str) -> Result<()> {
        self.rados()
            .mon_command(MonCommand::PoolSnapRemove {
                pool: self.pool_name().to_string(),
                snap: name.to_string(),
            })
            .map(|_| ())
    }

    /// The pool's snapshots, oldest first.
    pub fn snap_list(&self) -> Result<Vec<PoolSnapInfo>> {
        Ok(self
            .pool_record()?
            .snaps
            .values()
            .map(|s| PoolSnapInfo {
                id: s.id,
                name: s.name.clone(),
                created: SystemTime::UNIX_EPOCH + Duration::new(s.created.secs, s.created.nanos),
            })
            .collect())
    }

    /// The id of the pool snapshot named `name` (ENOENT when there is none).
    pub fn snap_lookup(&self, name: &str) -> Result<u64> {
        self.snap_list()?
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.id)
            .ok_or_else(|| Error::NotFound {
                what: format!("snapshot '{name}'"),
            })
    }

    /// The pool snapshot with id `id` (ENOENT when there is none).
    pub fn snap_info(&self, id: u64) -> Result<PoolSnapInfo> {
        self.snap_list()?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| Error::NotFound {
                what: format!("snapshot {id}"),
            })
    }

    /// Makes object `obj` what it was in pool snapshot `snap_name`.
    pub fn snap_rollback(&self, obj: &str, snap_name: &str) -> Result<()> {
        let id = self.snap_lookup(snap_name)?;
        self.rollback(obj, id)
    }

    /// Makes object `obj` what it was at snap `snap` (removed if it did not exist then). The
    /// current state is itself preserved for any snapshot taken since it was written.
    pub fn rollback(&self, obj: &str, snap: u64) -> Result<()> {
        let n = obj.to_string();
        self.block(move |a| async move { a.rollback(&n, snap).await })
    }

    /// Allocates a self-managed snap id. Pass it in the write snap context to make later
    /// writes preserve what it saw.
    pub fn selfmanaged_snap_create(&self) -> Result<u64> {
        snap_id(
            self.rados()
                .mon_command(MonCommand::SelfManagedSnapCreate {
                    pool: self.pool_name().to_string(),
                })?,
        )
    }

    /// Marks a self-managed snap removed; its clones are trimmed in the background.
    pub fn selfmanaged_snap_remove(&self, snap: u64) -> Result<()> {
        self.rados()
            .mon_command(MonCommand::SelfManagedSnapRemove {
                pool: self.pool_name().to_string(),
                snap,
            })
            .map(|_| ())
    }

    /// Same as [`IoCtx::rollback`] (librados' name for self-managed snapshots).
    pub fn selfmanaged_snap_rollback(&self, obj: &str, snap: u64) -> Result<()> {
        self.rollback(obj, snap)
    }

    /// Sets the snap context this context's writes carry (self-managed snapshots): `seq` is
    /// the newest snap id allocated, `snaps` the live snaps, newest first. EINVAL when the
    /// context is malformed (unsorted, duplicates, a snap above `seq`).
    pub fn set_write_snap_context(&mut self, seq: u64, snaps: &[u64]) -> Result<()> {
        let snapc = SnapContext {
            seq,
            snaps: snaps.to_vec(),
        };
        if !snapc.is_valid() {
            return Err(Error::InvalidArgument(format!(
                "snap context seq {seq} snaps {snaps:?}: snaps must be descending, distinct, \
                 nonzero and not above seq"
            )));
        }
        self.write_snapc = snapc;
        Ok(())
    }

    /// The write snap context set by [`IoCtx::set_write_snap_context`].
    pub fn write_snap_context(&self) -> &SnapContext {
        &self.write_snapc
    }

    /// Reads (and listings) from now on see the pool at `snap`; [`SNAP_HEAD`] goes back to
    /// the current state. Writes are refused with EROFS while reading at a snap.
    pub fn set_read(&mut self, snap: u64) {
        self.read_snap = snap;
    }

    /// The snap reads see ([`SNAP_HEAD`] for the current state).
    pub fn read_snap(&self) -> u64 {
        self.read_snap
    }

    /// A copy of this context reading at `snap` (see [`IoCtx::set_read`]).
    pub fn at_snap(&self, snap: u64) -> IoCtx {
        let mut io = self.clone();
        io.read_snap = snap;
        io
    }

    /// The object's clones and the snaps each serves, then the head if it exists (ENOENT
    /// when neither exists).
    pub fn list_snaps(&self, obj: &str) -> Result<SnapListing> {
        let n = obj.to_string();
        self.block(move |a| async move { a.list_snaps(&n).await })
    }
}

impl AioCtx {
    pub async fn rollback(&self, name: &str, snap: u64) -> Result<()> {
        if snap == SNAP_HEAD {
            return Err(Error::InvalidArgument(
                "cannot roll back to the head".into(),
            ));
        }
        self.run(name, vec![OpStep::Rollback { snap }])
            .await
            .map(|_| ())
    }

    pub async fn list_snaps(&self, name: &str) -> Result<SnapListing> {
        match self.run(name, vec![OpStep::ListSnaps]).await?.pop() {
            Some(StepOutput::Snaps(l)) => Ok(l),
            _ => Err(Error::InvalidArgument(
                "unexpected reply to list_snaps".into(),
            )),
        }
    }
}

//! Pool snapshots as python-rados presents them: `Snap` objects (name, id, timestamp) and
//! `SnapIterator`, with the Ioctx calls that create, find, remove and roll back to them.
//! (Self-managed snapshots are plain ids; their calls are in [`crate::ioctx`].)

use crate::ioctx::Ioctx;
use librados::client::PoolSnapInfo;
use pyo3::prelude::*;
use std::sync::Mutex;
use std::time::SystemTime;

/// A pool snapshot: ``name``, ``snap_id``, ``get_timestamp()``.
#[pyclass(module = "rados", frozen)]
pub struct Snap {
    #[pyo3(get)]
    ioctx: Py<Ioctx>,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    snap_id: u64,
    created: SystemTime,
}

impl Snap {
    fn new(ioctx: Py<Ioctx>, s: PoolSnapInfo) -> Snap {
        Snap {
            ioctx,
            name: s.name,
            snap_id: s.id,
            created: s.created,
        }
    }
}

#[pymethods]
impl Snap {
    /// When the snapshot was taken, as a naive local ``datetime.datetime``.
    fn get_timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::time::datetime(py, self.created)
    }

    fn __str__(&self) -> String {
        format!(
            "rados.Snap(ioctx={},name={},snap_id={})",
            self.ioctx.get().pool(),
            self.name,
            self.snap_id
        )
    }

    fn __repr__(&self) -> String {
        self.__str__()
    }
}

/// Iterator of rados.Snap over a pool's snapshots.
#[pyclass(module = "rados", frozen)]
pub struct SnapIterator {
    #[pyo3(get)]
    ioctx: Py<Ioctx>,
    snaps: Mutex<std::vec::IntoIter<PoolSnapInfo>>,
}

#[pymethods]
impl SnapIterator {
    fn __iter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    fn __next__(&self, py: Python<'_>) -> Option<Snap> {
        let s = self
            .snaps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next()?;
        Some(Snap::new(self.ioctx.clone_ref(py), s))
    }
}

pub fn create(io: &Ioctx, py: Python<'_>, name: String) -> PyResult<()> {
    io.run(
        py,
        |io| io.snap_create(&name).map(|_| ()),
        || format!("Failed to create snap {name}"),
    )
}

pub fn remove(io: &Ioctx, py: Python<'_>, name: String) -> PyResult<()> {
    io.run(
        py,
        |io| io.snap_remove(&name),
        || format!("Failed to remove snap {name}"),
    )
}

pub fn lookup(slf: &Bound<'_, Ioctx>, name: String) -> PyResult<Snap> {
    let py = slf.py();
    let id = slf.get().run(
        py,
        |io| io.snap_lookup(&name),
        || format!("Failed to lookup snap {name}"),
    )?;
    let info = slf.get().run(
        py,
        |io| io.snap_info(id),
        || format!("Failed to lookup snap {name}"),
    )?;
    Ok(Snap::new(slf.clone().unbind(), info))
}

pub fn list(slf: &Bound<'_, Ioctx>) -> PyResult<SnapIterator> {
    let py = slf.py();
    let snaps = slf
        .get()
        .run(py, |io| io.snap_list(), || "Failed to list snaps".into())?;
    Ok(SnapIterator {
        ioctx: slf.clone().unbind(),
        snaps: Mutex::new(snaps.into_iter()),
    })
}

pub fn rollback(io: &Ioctx, py: Python<'_>, oid: String, snap: String) -> PyResult<()> {
    io.run(
        py,
        |io| io.snap_rollback(&oid, &snap),
        || format!("Failed to rollback {oid}"),
    )
}

/// The Ioctx calls for snapshots: pool snapshots (through rados.Snap) and self-managed ones.
#[pymethods]
impl Ioctx {
    /// Takes a pool snapshot named ``snap_name`` (ObjectExists if the name is taken).
    fn create_snap(&self, py: Python<'_>, snap_name: String) -> PyResult<()> {
        crate::snaps::create(self, py, snap_name)
    }

    /// Removes a pool snapshot (ObjectNotFound if there is none of that name).
    fn remove_snap(&self, py: Python<'_>, snap_name: String) -> PyResult<()> {
        crate::snaps::remove(self, py, snap_name)
    }

    /// The pool snapshot named ``snap_name`` as a rados.Snap (ObjectNotFound if none).
    fn lookup_snap(slf: &Bound<'_, Self>, snap_name: String) -> PyResult<Snap> {
        crate::snaps::lookup(slf, snap_name)
    }

    /// An iterator of rados.Snap over the pool's snapshots.
    fn list_snaps(slf: &Bound<'_, Self>) -> PyResult<SnapIterator> {
        crate::snaps::list(slf)
    }

    /// Makes object ``oid`` what it was in pool snapshot ``snap_name``.
    fn snap_rollback(&self, py: Python<'_>, oid: String, snap_name: String) -> PyResult<()> {
        crate::snaps::rollback(self, py, oid, snap_name)
    }

    /// Reads (and listings) from now on see the pool at snap ``snap_id``;
    /// ``LIBRADOS_SNAP_HEAD`` goes back to the present. Writes raise ReadOnly meanwhile.
    fn set_read(&self, py: Python<'_>, snap_id: u64) -> PyResult<()> {
        self.update(py, |io, _| {
            io.set_read(snap_id);
            Ok(())
        })
    }

    /// Allocates a self-managed snap id.
    fn create_self_managed_snap(&self, py: Python<'_>) -> PyResult<u64> {
        self.run(
            py,
            |io| io.selfmanaged_snap_create(),
            || "Failed to create self-managed snapshot".into(),
        )
    }

    /// Removes a self-managed snap; its clones are trimmed in the background.
    fn remove_self_managed_snap(&self, py: Python<'_>, snap_id: u64) -> PyResult<()> {
        self.run(
            py,
            |io| io.selfmanaged_snap_remove(snap_id),
            || format!("Failed to remove self-managed snapshot {snap_id}"),
        )
    }

    /// Sets the snap context of later writes to ``snaps`` (every live self-managed snap id;
    /// the newest is the context's seq).
    fn set_self_managed_snap_write(&self, py: Python<'_>, snaps: Vec<u64>) -> PyResult<()> {
        let mut sorted = snaps;
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let seq = sorted.first().copied().unwrap_or(0);
        self.update(py, |io, _| io.set_write_snap_context(seq, &sorted))
    }

    /// Makes object ``oid`` what it was at self-managed snap ``snap_id``.
    fn rollback_self_managed_snap(
        &self,
        py: Python<'_>,
        oid: String,
        snap_id: u64,
    ) -> PyResult<()> {
        self.run(
            py,
            |io| io.selfmanaged_snap_rollback(&oid, snap_id),
            || format!("Failed to rollback {oid}"),
        )
    }
}

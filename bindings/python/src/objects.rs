//! Listing and per-object handles: `ObjectIterator` (what `Ioctx.list_objects()` returns),
//! `Object` (python-rados' file-like wrapper of one object) and `XattrIterator`.

use crate::errors::{self, Context};
use crate::ioctx::{shared_bytes, Ioctx, ALL_NSPACES};
use bytes::Bytes;
use librados::client::ListEntry;
use librados::IoCtx;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Listing = Box<dyn Iterator<Item = librados::Result<ListEntry>> + Send>;

/// Iterator of rados.Object over a pool's objects, fetched a page at a time.
#[pyclass(module = "rados", frozen)]
pub struct ObjectIterator {
    #[pyo3(get)]
    ioctx: Py<Ioctx>,
    listing: Arc<Mutex<Listing>>,
}

impl ObjectIterator {
    pub fn new(ioctx: Py<Ioctx>, io: &IoCtx) -> ObjectIterator {
        let listing: Listing = if io.namespace() == ALL_NSPACES {
            Box::new(io.list_objects_all_namespaces())
        } else {
            Box::new(io.list_objects())
        };
        ObjectIterator {
            ioctx,
            listing: Arc::new(Mutex::new(listing)),
        }
    }
}

#[pymethods]
impl ObjectIterator {
    fn __iter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    /// The next object (its name as ``key``, its ``nspace`` and ``locator_key``).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Object>> {
        let listing = self.listing.clone();
        let next = py.detach(move || listing.lock().unwrap_or_else(|e| e.into_inner()).next());
        let Some(entry) = next else {
            return Ok(None);
        };
        let pool = self.ioctx.get().pool().to_string();
        let e = entry.ctx(py, || {
            format!("error iterating over the objects in pool '{pool}'")
        })?;
        Ok(Some(Object::listed(self.ioctx.clone_ref(py), e)))
    }
}

/// One object, used like a file: reads and writes move ``offset``.
#[pyclass(module = "rados", frozen)]
pub struct Object {
    #[pyo3(get)]
    ioctx: Py<Ioctx>,
    #[pyo3(get)]
    key: String,
    /// As python-rados reports them: None when the object has none.
    #[pyo3(get)]
    locator_key: Option<String>,
    #[pyo3(get)]
    nspace: Option<String>,
    /// What operations use: the object's own namespace and locator.
    ns: String,
    loc: String,
    pos: Mutex<(u64, &'static str)>,
}

impl Object {
    fn listed(ioctx: Py<Ioctx>, e: ListEntry) -> Object {
        Object {
            ioctx,
            locator_key: (!e.locator.is_empty()).then(|| e.locator.clone()),
            nspace: Some(e.namespace.clone()),
            key: e.name,
            ns: e.namespace,
            loc: e.locator,
            pos: Mutex::new((0, "exists")),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, &'static str)> {
        self.pos.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A context addressing this object (its namespace and locator), or ObjectStateError
    /// once removed.
    fn io(&self, py: Python<'_>) -> PyResult<IoCtx> {
        if self.lock().1 != "exists" {
            return Err(errors::state_error(
                py,
                "ObjectStateError",
                "The object is removed",
            ));
        }
        let (io, _) = self.ioctx.get().held(py)?;
        let mut io = IoCtx::clone(&io);
        io.set_namespace(&self.ns);
        io.set_locator_key(&self.loc);
        Ok(io)
    }

    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&IoCtx) -> librados::Result<T> + Send,
        what: &str,
    ) -> PyResult<T> {
        let io = self.io(py)?;
        py.detach(|| f(&io)).ctx(py, || {
            format!(
                "Object.{what}({}): failed on {}",
                self.ioctx.get().pool(),
                self.key
            )
        })
    }
}

#[pymethods]
impl Object {
    /// The object ``key`` in namespace ``nspace`` placed by ``locator_key`` (None: the
    /// default namespace, placed by its name), whatever the Ioctx's current ones.
    #[new]
    #[pyo3(signature = (ioctx, key, locator_key=None, nspace=None))]
    fn new(
        ioctx: Py<Ioctx>,
        key: String,
        locator_key: Option<String>,
        nspace: Option<String>,
    ) -> PyResult<Object> {
        Ok(Object {
            ns: nspace.clone().unwrap_or_default(),
            loc: locator_key.clone().unwrap_or_default(),
            ioctx,
            key,
            locator_key,
            nspace,
            pos: Mutex::new((0, "exists")),
        })
    }

    /// Where the next read or write starts.
    #[getter]
    fn offset(&self) -> u64 {
        self.lock().0
    }

    /// "exists", or "removed" after remove().
    #[getter]
    fn state(&self) -> &'static str {
        self.lock().1
    }

    /// Raises ObjectStateError once removed.
    fn require_object_exists(&self, py: Python<'_>) -> PyResult<()> {
        self.io(py).map(|_| ())
    }

    /// Up to ``length`` bytes from the offset, which moves past them.
    #[pyo3(signature = (length=1024 * 1024))]
    fn read<'py>(&self, py: Python<'py>, length: u64) -> PyResult<Bound<'py, PyBytes>> {
        let offset = self.offset();
        if length == 0 {
            self.io(py)?;
            return Ok(PyBytes::new(py, b""));
        }
        let key = self.key.clone();
        let d = self.run(py, |io| io.read(&key, length, offset), "read")?;
        self.lock().0 = offset + d.len() as u64;
        Ok(PyBytes::new(py, &d))
    }

    /// Writes at the offset, which moves past the data; returns 0.
    fn write(&self, py: Python<'_>, string_to_write: PyBackedBytes) -> PyResult<i32> {
        let offset = self.offset();
        let d = shared_bytes(string_to_write);
        let n = d.len() as u64;
        let key = self.key.clone();
        self.run(py, |io| io.write(&key, d, offset), "write")?;
        self.lock().0 = offset + n;
        Ok(0)
    }

    /// Removes the object; this handle then refuses every operation.
    fn remove(&self, py: Python<'_>) -> PyResult<()> {
        let key = self.key.clone();
        self.run(py, |io| io.remove(&key), "remove")?;
        self.lock().1 = "removed";
        Ok(())
    }

    /// ``(size, mtime)`` as Ioctx.stat.
    fn stat<'py>(&self, py: Python<'py>) -> PyResult<(u64, Bound<'py, PyAny>)> {
        let key = self.key.clone();
        let s = self.run(py, |io| io.stat(&key), "stat")?;
        Ok((s.size, crate::time::struct_time(py, s.mtime)?))
    }

    /// Moves the offset.
    fn seek(&self, py: Python<'_>, position: u64) -> PyResult<()> {
        self.io(py)?;
        self.lock().0 = position;
        Ok(())
    }

    fn get_xattr<'py>(&self, py: Python<'py>, xattr_name: String) -> PyResult<Bound<'py, PyBytes>> {
        let key = self.key.clone();
        let v = self.run(py, |io| io.get_xattr(&key, &xattr_name), "get_xattr")?;
        Ok(PyBytes::new(py, &v))
    }

    fn get_xattrs(&self, py: Python<'_>) -> PyResult<XattrIterator> {
        let key = self.key.clone();
        let all = self.run(py, |io| io.get_xattrs(&key), "get_xattrs")?;
        Ok(XattrIterator::new(self.key.clone(), all))
    }

    /// Sets an xattr; returns True.
    fn set_xattr(
        &self,
        py: Python<'_>,
        xattr_name: String,
        xattr_value: PyBackedBytes,
    ) -> PyResult<bool> {
        let (key, v) = (self.key.clone(), shared_bytes(xattr_value));
        self.run(py, |io| io.set_xattr(&key, &xattr_name, v), "set_xattr")?;
        Ok(true)
    }

    /// Removes an xattr; returns True.
    fn rm_xattr(&self, py: Python<'_>, xattr_name: String) -> PyResult<bool> {
        let key = self.key.clone();
        self.run(py, |io| io.rm_xattr(&key, &xattr_name), "rm_xattr")?;
        Ok(true)
    }

    fn __str__(&self) -> String {
        let ns = match self.nspace.as_deref() {
            None | Some("") => "--default--",
            Some(ns) => ns,
        };
        format!(
            "rados.Object(ioctx={},key={},nspace={ns},locator={})",
            self.ioctx.get().pool(),
            self.key,
            self.locator_key.as_deref().unwrap_or("None")
        )
    }

    fn __repr__(&self) -> String {
        self.__str__()
    }
}

/// Iterator of ``(name, value)`` over an object's xattrs.
#[pyclass(module = "rados", frozen)]
pub struct XattrIterator {
    #[pyo3(get)]
    oid: String,
    items: Mutex<std::collections::btree_map::IntoIter<String, Bytes>>,
}

impl XattrIterator {
    pub fn new(oid: String, all: BTreeMap<String, Bytes>) -> XattrIterator {
        XattrIterator {
            oid,
            items: Mutex::new(all.into_iter()),
        }
    }
}

#[pymethods]
impl XattrIterator {
    fn __iter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    fn __next__<'py>(&self, py: Python<'py>) -> Option<(String, Bound<'py, PyBytes>)> {
        let (k, v) = self
            .items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next()?;
        Some((k, PyBytes::new(py, &v)))
    }
}

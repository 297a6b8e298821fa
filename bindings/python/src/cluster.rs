//! `rados.Rados`: a cluster handle with python-rados' life cycle (configuring → connected →
//! shutdown), configuration calls, pool calls and `open_ioctx`.
//!
//! Configuration is kept as ceph.conf text (files read, then options set, in order) and parsed
//! by librados' `Config` at connect: a `[global]` `data_dir` without `mon_host` opens that
//! directory as an embedded cluster, so `Rados(conffile=...)` code runs unchanged on one.

use crate::errors::{self, Context};
use crate::ioctx::{Ioctx, Slot};
use crate::mon_command;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The state names python-rados reports in `Rados.state`.
const CONFIGURING: &str = "configuring";
const CONNECTED: &str = "connected";
const SHUTDOWN: &str = "shutdown";

/// ceph.conf text built up by conf_read_file and conf_set, in order; later settings win.
#[derive(Default, Clone)]
struct ConfText(String);

impl ConfText {
    fn set(&mut self, key: &str, value: &str) {
        self.0.push_str(&format!("\n[global]\n{key} = {value}\n"));
    }

    fn read_file(&mut self, path: &str) -> librados::Result<()> {
        // Parsed alone first: reports unreadable or malformed files, and resolves a relative
        // data_dir against the file's directory.
        let alone = librados::Config::from_file(path)?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        self.0.push_str("\n[global]\n");
        self.0.push_str(&text);
        if let Some(dir) = alone.data_dir() {
            self.set("data_dir", &dir.to_string_lossy());
        }
        Ok(())
    }

    fn parse(&self) -> librados::Result<librados::Config> {
        Ok(librados::Config::parse(&self.0, None)?)
    }
}

struct Inner {
    state: &'static str,
    conf: ConfText,
    handle: Option<librados::Rados>,
    /// Every Ioctx opened, so shutdown closes them.
    ioctxs: Vec<Weak<Slot>>,
}

/// A handle on a RADOS cluster: ``Rados(conffile=...)``, then ``connect()``.
///
/// A configuration whose ``[global]`` section names ``data_dir`` (and no ``mon_host``) opens
/// that directory as an embedded cluster (created on first use, with a pool ``data``); with
/// neither, ``$RADOS_DATA_DIR`` is used when set. With ``mon_host`` it connects to the
/// project's monitor and OSD daemons over TCP.
#[pyclass(module = "rados", frozen)]
pub struct Rados {
    inner: Mutex<Inner>,
    #[pyo3(get)]
    conffile: Option<Py<PyAny>>,
    #[pyo3(get)]
    rados_id: Option<String>,
    name: Option<String>,
    clustername: Option<String>,
}

/// The librados version this module's API corresponds to (python-rados' `Rados.version()`).
#[pyclass(module = "rados", frozen, get_all)]
pub struct Version {
    major: i32,
    minor: i32,
    extra: i32,
}

#[pymethods]
impl Version {
    #[new]
    fn new(major: i32, minor: i32, extra: i32) -> Self {
        Version {
            major,
            minor,
            extra,
        }
    }
    fn __str__(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.extra)
    }
}

impl Rados {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The librados handle, or RadosStateError unless connected.
    pub fn handle(&self, py: Python<'_>) -> PyResult<librados::Rados> {
        let inner = self.lock();
        match (&inner.handle, inner.state) {
            (Some(h), CONNECTED) => Ok(h.clone()),
            (_, state) => Err(errors::state_error(
                py,
                "RadosStateError",
                &format!("You cannot perform that operation on a Rados object in state {state}."),
            )),
        }
    }

    fn require_configuring(&self, py: Python<'_>, what: &str) -> PyResult<()> {
        let state = self.lock().state;
        if state == CONFIGURING {
            return Ok(());
        }
        // As librados: reading files once connected is refused (ENOSYS).
        Err(errors::errno_error(
            py,
            38,
            &format!("error calling {what}"),
            false,
        ))
    }

    /// Remembers an Ioctx's slot, so shutdown() closes it.
    pub fn track(&self, slot: &Arc<Slot>) {
        let mut inner = self.lock();
        inner.ioctxs.retain(|w| w.strong_count() > 0);
        inner.ioctxs.push(Arc::downgrade(slot));
    }

    fn open(slf: &Bound<'_, Self>, io: librados::IoCtx) -> PyResult<Py<Ioctx>> {
        let slot = Arc::new(Slot::new(io, String::new()));
        slf.get().track(&slot);
        Py::new(slf.py(), Ioctx::new(slf.clone().unbind(), slot))
    }
}

fn apply_dict(conf: &mut ConfText, d: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    for (k, v) in d.into_iter().flat_map(|d| d.iter()) {
        conf.set(&k.str()?.to_cow()?, &v.str()?.to_cow()?);
    }
    Ok(())
}

#[pymethods]
impl Rados {
    /// ``conffile``: a path, ``Rados.NO_CONF_FILE``/None (none) or
    /// ``Rados.DEFAULT_CONF_FILES``/"" ($CEPH_CONF, then /etc/ceph/ceph.conf, ~/.ceph/config,
    /// ./ceph.conf). ``conf_defaults`` are applied before the file, ``conf`` after it.
    #[new]
    #[pyo3(signature = (rados_id=None, name=None, clustername=None, conf_defaults=None,
                        conffile=None, conf=None, flags=0, context=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        rados_id: Option<String>,
        name: Option<String>,
        clustername: Option<String>,
        conf_defaults: Option<&Bound<'_, PyDict>>,
        conffile: Option<&Bound<'_, PyAny>>,
        conf: Option<&Bound<'_, PyDict>>,
        flags: u64,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let _ = (flags, context);
        if rados_id.is_some() && name.is_some() {
            return Err(errors::state_error(
                py,
                "Error",
                "Rados(): can't supply both rados_id and name",
            ));
        }
        let mut text = ConfText::default();
        apply_dict(&mut text, conf_defaults)?;
        let conffile_path: Option<String> = match conffile {
            None => None,
            Some(c) if c.is_none() => None,
            Some(c) => match c.extract::<i64>() {
                Ok(-2) => default_conf_file(),
                Ok(_) => None,
                Err(_) => {
                    let p: String = c.extract()?;
                    if p.is_empty() {
                        default_conf_file()
                    } else {
                        Some(p)
                    }
                }
            },
        };
        if let Some(p) = &conffile_path {
            text.read_file(p)
                .ctx(py, || "error calling conf_read_file".into())?;
        }
        apply_dict(&mut text, conf)?;
        Ok(Rados {
            inner: Mutex::new(Inner {
                state: CONFIGURING,
                conf: text,
                handle: None,
                ioctxs: Vec::new(),
            }),
            conffile: conffile.map(|c| c.clone().unbind()),
            rados_id,
            name,
            clustername,
        })
    }

    #[classattr]
    #[allow(non_snake_case)]
    fn NO_CONF_FILE() -> i64 {
        -1
    }

    #[classattr]
    #[allow(non_snake_case)]
    fn DEFAULT_CONF_FILES() -> i64 {
        -2
    }

    /// "configuring", "connected" or "shutdown".
    #[getter]
    fn state(&self) -> &'static str {
        self.lock().state
    }

    /// Raises RadosStateError unless the handle is in one of ``states``.
    #[pyo3(signature = (*states))]
    fn require_state(&self, py: Python<'_>, states: &Bound<'_, PyTuple>) -> PyResult<()> {
        let state = self.lock().state;
        for s in states.iter() {
            if s.extract::<String>()? == state {
                return Ok(());
            }
        }
        Err(errors::state_error(
            py,
            "RadosStateError",
            &format!("You cannot perform that operation on a Rados object in state {state}."),
        ))
    }

    /// The librados API version implemented: 3.0.0, as Ceph's librados 16.
    fn version(&self) -> Version {
        Version::new(3, 0, 0)
    }

    /// Reads a ceph.conf-style file (None: the default search path).
    #[pyo3(signature = (path=None))]
    fn conf_read_file(&self, py: Python<'_>, path: Option<String>) -> PyResult<()> {
        self.require_configuring(py, "conf_read_file")?;
        let Some(path) = path.or_else(default_conf_file) else {
            return Ok(());
        };
        let mut inner = self.lock();
        inner
            .conf
            .read_file(&path)
            .ctx(py, || "error calling conf_read_file".into())
    }

    /// Parses ceph options from an argument list; this implementation takes none from there
    /// and returns the list unchanged.
    fn conf_parse_argv(&self, args: Vec<String>) -> Vec<String> {
        args
    }

    /// Parses options from an environment variable (CEPH_ARGS); none are taken from there.
    #[pyo3(signature = (var=Some("CEPH_ARGS".to_string())))]
    fn conf_parse_env(&self, var: Option<String>) {
        let _ = var;
    }

    /// The value of a configuration option, or None when it is not set.
    fn conf_get(&self, option: &str) -> Option<String> {
        let conf = self.lock().conf.clone();
        conf.parse().ok()?.get(option).map(str::to_string)
    }

    /// Sets a configuration option (used at connect: data_dir, osd_count,
    /// osd_pool_default_size, osd_pool_default_pg_num, rados_osd_op_timeout; others are kept
    /// and reported by conf_get).
    fn conf_set(&self, option: &str, val: &Bound<'_, PyAny>) -> PyResult<()> {
        let val = val.str()?.to_cow()?.into_owned();
        self.lock().conf.set(option, &val);
        Ok(())
    }

    /// Connects: opens (creating on first use) the embedded cluster the configuration names.
    #[pyo3(signature = (timeout=0))]
    fn connect(&self, py: Python<'_>, timeout: u64) -> PyResult<()> {
        let _ = timeout;
        let conf = {
            let inner = self.lock();
            if inner.state != CONFIGURING {
                drop(inner);
                return self.require_state(py, &PyTuple::new(py, [CONFIGURING])?);
            }
            inner.conf.clone()
        };
        let mut config = conf
            .parse()
            .ctx(py, || "error parsing configuration".into())?;
        if config.data_dir().is_none() && config.mon_host().is_none() {
            if let Ok(dir) = std::env::var("RADOS_DATA_DIR") {
                config.set("data_dir", &dir);
            }
        }
        let handle = py
            .detach(move || librados::Rados::connect(&config))
            .ctx(py, || "error connecting to the cluster".into())?;
        let mut inner = self.lock();
        if inner.state == CONFIGURING {
            inner.state = CONNECTED;
            inner.handle = Some(handle);
        }
        Ok(())
    }

    /// Disconnects: closes every Ioctx opened through this handle. Idempotent.
    fn shutdown(&self, py: Python<'_>) {
        let (handle, slots) = {
            let mut inner = self.lock();
            if inner.state == SHUTDOWN {
                return;
            }
            inner.state = SHUTDOWN;
            (inner.handle.take(), std::mem::take(&mut inner.ioctxs))
        };
        let closed: Vec<_> = slots
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|s| s.close())
            .collect();
        // The last handle of an embedded cluster stops it (stores flush): not under the GIL.
        py.detach(move || drop((handle, closed)));
    }

    fn __enter__(slf: &Bound<'_, Self>) -> PyResult<Py<Self>> {
        slf.get().connect(slf.py(), 0)?;
        Ok(slf.clone().unbind())
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.shutdown(py);
        false
    }

    /// The cluster's fsid.
    fn get_fsid(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.handle(py)?.fsid())
    }

    /// This client's global id (client.N).
    fn get_instance_id(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.handle(py)?.instance_id())
    }

    /// This client's address, as a blocklist names it (``127.0.0.1:0/<instance id>`` for a
    /// client of an embedded cluster).
    fn get_addrs(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.handle(py)?.addr().to_string())
    }

    /// Fences a client address (``get_addrs()`` of another client; an IP alone fences
    /// every client there) for ``expire_seconds`` (0: an hour): the OSDs refuse its
    /// requests with ``ConnectionShutdown`` and drop its watches. Returns once this
    /// client's map has the fence.
    #[pyo3(signature = (client_address, expire_seconds = 0))]
    fn blocklist_add(
        &self,
        py: Python<'_>,
        client_address: &str,
        expire_seconds: u32,
    ) -> PyResult<()> {
        let h = self.handle(py)?;
        let expire = (expire_seconds > 0).then(|| Duration::from_secs(u64::from(expire_seconds)));
        let addr = client_address.to_string();
        py.detach(move || h.blocklist_add(&addr, expire))
            .map(drop)
            .ctx(py, || {
                format!("error blocklisting client '{client_address}'")
            })
    }

    /// Follows the cluster log: from now on ``callback(arg, line, who, sec, nsec, seq,
    /// level, msg)`` is called, on the module's callback thread and in order, for each entry
    /// at ``level`` ("debug", "info", "sec", "warn"/"warning", "err"/"error") or above;
    /// ``callback=None`` stops. Replaces an earlier subscription of this handle.
    #[pyo3(signature = (level, callback = None, arg = None))]
    fn monitor_log(
        &self,
        py: Python<'_>,
        level: &str,
        callback: Option<Py<PyAny>>,
        arg: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        crate::monitor_log::follow(py, self.handle(py)?, level, callback, arg, false)
    }

    /// As ``monitor_log``, with the entry's channel and the logger's name:
    /// ``callback(arg, line, channel, name, who, sec, nsec, seq, level, msg)``.
    #[pyo3(signature = (level, callback = None, arg = None))]
    fn monitor_log2(
        &self,
        py: Python<'_>,
        level: &str,
        callback: Option<Py<PyAny>>,
        arg: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        crate::monitor_log::follow(py, self.handle(py)?, level, callback, arg, true)
    }

    /// Cluster usage: ``{"kb", "kb_used", "kb_avail", "num_objects"}``.
    fn get_cluster_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.handle(py)?;
        let s = py
            .detach(move || h.status())
            .ctx(py, || "Rados.get_cluster_stats".into())?;
        let d = PyDict::new(py);
        d.set_item("kb", s.total_bytes / 1024)?;
        d.set_item("kb_used", s.used_bytes / 1024)?;
        d.set_item("kb_avail", s.avail_bytes / 1024)?;
        d.set_item("num_objects", s.objects)?;
        Ok(d)
    }

    /// The names of every pool.
    fn list_pools(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(self.handle(py)?.list_pools())
    }

    fn pool_exists(&self, py: Python<'_>, pool_name: &str) -> PyResult<bool> {
        Ok(self.handle(py)?.pool_exists(pool_name))
    }

    /// The pool's id, or None when it does not exist.
    fn pool_lookup(&self, py: Python<'_>, pool_name: &str) -> PyResult<Option<i64>> {
        Ok(self.handle(py)?.pool_lookup(pool_name))
    }

    /// The pool's name, or None when no pool has that id.
    fn pool_reverse_lookup(&self, py: Python<'_>, pool_id: i64) -> PyResult<Option<String>> {
        let map = self.handle(py)?.osdmap();
        Ok(map.pool(pool_id).map(|p| p.name.clone()))
    }

    /// Creates a replicated pool with the cluster's defaults (ObjectExists if it exists).
    /// ``crush_rule`` and ``auid`` are accepted and ignored.
    #[pyo3(signature = (pool_name, crush_rule=None, auid=None))]
    fn create_pool(
        &self,
        py: Python<'_>,
        pool_name: String,
        crush_rule: Option<i64>,
        auid: Option<i64>,
    ) -> PyResult<()> {
        let _ = (crush_rule, auid);
        let h = self.handle(py)?;
        let name = pool_name.clone();
        py.detach(move || h.create_pool(&name))
            .ctx(py, || format!("error creating pool '{pool_name}'"))
    }

    /// Deletes a pool and its objects.
    fn delete_pool(&self, py: Python<'_>, pool_name: String) -> PyResult<()> {
        let h = self.handle(py)?;
        let name = pool_name.clone();
        py.detach(move || h.delete_pool(&name))
            .ctx(py, || format!("error deleting pool '{pool_name}'"))
    }

    /// The base pool of a cache tier: pools are never tiered here, so ``pool_id``.
    fn get_pool_base_tier(&self, py: Python<'_>, pool_id: i64) -> PyResult<i64> {
        self.handle(py)?;
        Ok(pool_id)
    }

    /// Waits for the newest OSD map: the client always follows the monitor's map; returns 0.
    fn wait_for_latest_osdmap(&self, py: Python<'_>) -> PyResult<i64> {
        self.handle(py)?;
        Ok(0)
    }

    /// An I/O context on the pool named ``ioctx_name``.
    fn open_ioctx(slf: &Bound<'_, Self>, ioctx_name: &str) -> PyResult<Py<Ioctx>> {
        let py = slf.py();
        let io = slf
            .get()
            .handle(py)?
            .ioctx(ioctx_name)
            .ctx(py, || format!("error opening pool '{ioctx_name}'"))?;
        Rados::open(slf, io)
    }

    /// An I/O context on the pool with id ``pool_id``.
    fn open_ioctx2(slf: &Bound<'_, Self>, pool_id: i64) -> PyResult<Py<Ioctx>> {
        let py = slf.py();
        let h = slf.get().handle(py)?;
        let name = h.osdmap().pool(pool_id).map(|p| p.name.clone());
        let io = match name {
            Some(n) => h.ioctx(&n),
            None => Err(librados::Error::PoolNotFound {
                name: pool_id.to_string(),
            }),
        }
        .ctx(py, || format!("error opening pool id '{pool_id}'"))?;
        Rados::open(slf, io)
    }

    /// Sends a JSON command to the monitor: returns ``(ret, outbuf, outs)``, errors as a
    /// negative ``ret``. Understood: ``osd pool ls``/``osd lspools``, ``osd pool create``,
    /// ``osd pool rm``/``delete``, ``osd pool get``/``set``, ``df``, ``status``/``health``,
    /// ``fsid``, ``osd tree`` (``"format": "json"`` or plain text); others give -EINVAL.
    #[pyo3(signature = (cmd, inbuf, timeout=0, target=None))]
    fn mon_command<'py>(
        &self,
        py: Python<'py>,
        cmd: &str,
        inbuf: &[u8],
        timeout: u64,
        target: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(i32, Bound<'py, pyo3::types::PyBytes>, String)> {
        let _ = (inbuf, timeout, target);
        let h = self.handle(py)?;
        let cmd = cmd.to_string();
        let (ret, out, outs) = py.detach(move || mon_command::run(&h, &cmd));
        Ok((ret, pyo3::types::PyBytes::new(py, &out), outs))
    }

    fn __repr__(&self) -> String {
        let who = self
            .name
            .clone()
            .or_else(|| self.rados_id.as_ref().map(|id| format!("client.{id}")))
            .unwrap_or_else(|| "client.admin".into());
        let cluster = self.clustername.as_deref().unwrap_or("ceph");
        format!("<rados.Rados {who}@{cluster} {}>", self.lock().state)
    }
}

impl Drop for Rados {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        crate::runtime::drop_detached(inner.handle.take());
    }
}

/// The first ceph.conf of Ceph's default search path that exists.
fn default_conf_file() -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("CEPH_CONF") {
        candidates.push(p);
    }
    candidates.push("/etc/ceph/ceph.conf".into());
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(format!("{home}/.ceph/config"));
    }
    candidates.push("ceph.conf".into());
    candidates
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
}

/// ``rados.embedded(path)``: a connected handle on the embedded cluster in ``path`` (created on
/// first use, with a pool ``data``). Keyword options are set as with ``conf_set`` (e.g.
/// ``osd_count=1``).
#[pyfunction]
#[pyo3(signature = (path, **options))]
pub fn embedded(
    py: Python<'_>,
    path: std::path::PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<Rados>> {
    let conf = PyDict::new(py);
    if let Some(o) = options {
        conf.update(o.as_mapping())?;
    }
    conf.set_item("data_dir", path.to_string_lossy())?;
    let r = Rados::new(py, None, None, None, None, None, Some(&conf), 0, None)?;
    let r = Py::new(py, r)?;
    r.get().connect(py, 0)?;
    Ok(r)
}

//! `Rados.osd_command`, `pg_command` and `mgr_command`: Ceph's JSON commands to one OSD, one PG
//! and the manager, as far as the cluster can answer them from its map. Replies follow Ceph's
//! `(ret, outbuf, outs)` and its errors: a missing OSD is `-ENOENT "osd dne"`, a missing pool
//! `-ENOENT "pool dne"`, an unknown prefix `-EINVAL "unknown command prefix X"`. There is no
//! manager daemon: every mgr command gets `-EOPNOTSUPP` and says so.

use crate::cluster::Rados;
use librados::osdmap::PgId;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::{json, Value};

const ENOENT: i32 = 2;
const EINVAL: i32 = 22;
const EOPNOTSUPP: i32 = 95;

type Reply = (i32, Vec<u8>, String);

fn err(errno: i32, outs: impl Into<String>) -> Reply {
    (-errno, Vec::new(), outs.into())
}

/// The command's JSON and its prefix, or the reply to a malformed one.
fn parse(cmd: &str) -> Result<(Value, String), Reply> {
    let v: Value = serde_json::from_str(cmd).map_err(|_| err(EINVAL, "invalid json"))?;
    let prefix = v
        .get("prefix")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok((v, prefix))
}

fn json_reply(v: Value) -> Reply {
    (0, format!("{v:#}\n").into_bytes(), String::new())
}

/// A command to `osd.<id>`: ``version``, ``status``.
pub fn osd(h: &librados::Rados, id: i32, cmd: &str) -> Reply {
    let (_, prefix) = match parse(cmd) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let map = h.osdmap();
    if !map.exists(id) {
        return err(ENOENT, "osd dne");
    }
    match prefix.as_str() {
        "version" => json_reply(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "release": "rados-rs",
            "release_type": "stable",
        })),
        "status" => {
            let mut num_pgs = 0u32;
            for (&pool, p) in map.pools() {
                for seed in 0..p.pg_num {
                    if map.pg_mapping(PgId::new(pool, seed)).acting.contains(&id) {
                        num_pgs += 1;
                    }
                }
            }
            json_reply(json!({
                "cluster_fsid": h.fsid(),
                "whoami": id,
                "state": if map.is_up(id) { "active" } else { "down" },
                "in": map.is_in(id),
                "newest_map": map.epoch(),
                "num_pgs": num_pgs,
            }))
        }
        other => err(EINVAL, format!("unknown command prefix {other}")),
    }
}

/// A command to PG `pgid` (``POOL.SEED``, the seed in hex; a ``pgid`` in the command wins):
/// ``query`` gives the PG's place in the map — its up and acting sets and primaries, at the
/// map's epoch. (Ceph's query also reports the PG's state and peering history, which only
/// the OSDs know; the client does not ask them.)
pub fn pg(h: &librados::Rados, pgid: &str, cmd: &str) -> Reply {
    let (v, prefix) = match parse(cmd) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // Ceph reads the PG from the command (the argument only routes it); either will do.
    let pgid = v.get("pgid").and_then(Value::as_str).unwrap_or(pgid);
    let pg: PgId = match pgid.parse() {
        Ok(pg) => pg,
        Err(e) => return err(EINVAL, e.to_string()),
    };
    let map = h.osdmap();
    let Some(pool) = map.pool(pg.pool) else {
        return err(ENOENT, "pool dne");
    };
    if pg.seed >= pool.pg_num {
        return err(ENOENT, format!("i don't have pgid {pg}"));
    }
    match prefix.as_str() {
        "query" => {
            let m = map.pg_mapping(pg);
            json_reply(json!({
                "epoch": map.epoch(),
                "up": m.up,
                "acting": m.acting,
                "up_primary": m.up_primary,
                "acting_primary": m.acting_primary,
                "info": { "pgid": pg.to_string() },
            }))
        }
        other => err(EINVAL, format!("unknown command prefix {other}")),
    }
}

/// Runs a command with the GIL released; the reply as Python has it.
fn answer<'py>(
    py: Python<'py>,
    rados: &Rados,
    f: impl FnOnce(&librados::Rados) -> Reply + Send,
) -> PyResult<(i32, Bound<'py, PyBytes>, String)> {
    let h = rados.handle(py)?;
    let (ret, out, outs) = py.detach(|| f(&h));
    Ok((ret, PyBytes::new(py, &out), outs))
}

#[pymethods]
impl Rados {
    /// Sends a JSON command to ``osd.<osdid>``: ``(ret, outbuf, outs)``. Understood:
    /// ``version``, ``status``; a missing OSD gives ``-ENOENT``, other prefixes ``-EINVAL``.
    #[pyo3(signature = (osdid, cmd, inbuf, timeout=0))]
    fn osd_command<'py>(
        &self,
        py: Python<'py>,
        osdid: i32,
        cmd: &str,
        inbuf: &[u8],
        timeout: u64,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, String)> {
        let _ = (inbuf, timeout);
        answer(py, self, |h| osd(h, osdid, cmd))
    }

    /// Sends a JSON command to PG ``pgid``: ``(ret, outbuf, outs)``. Understood: ``query``
    /// (the PG's up and acting sets); a missing pool or PG gives ``-ENOENT``.
    #[pyo3(signature = (pgid, cmd, inbuf, timeout=0))]
    fn pg_command<'py>(
        &self,
        py: Python<'py>,
        pgid: &str,
        cmd: &str,
        inbuf: &[u8],
        timeout: u64,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, String)> {
        let _ = (inbuf, timeout);
        answer(py, self, |h| pg(h, pgid, cmd))
    }

    /// The cluster runs no manager daemon: every command gets ``(-EOPNOTSUPP, b"", why)``
    /// (monitor commands such as ``df`` and ``status`` go through ``mon_command``).
    #[pyo3(signature = (cmd, inbuf, timeout=0, target=None))]
    fn mgr_command<'py>(
        &self,
        py: Python<'py>,
        cmd: &str,
        inbuf: &[u8],
        timeout: u64,
        target: Option<&str>,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, String)> {
        let _ = (inbuf, timeout, target);
        self.handle(py)?;
        let (ret, _, outs) = match parse(cmd) {
            Ok((_, prefix)) => err(
                EOPNOTSUPP,
                format!("no manager daemon to handle '{prefix}' (monitor commands go through mon_command)"),
            ),
            Err(r) => r,
        };
        Ok((ret, PyBytes::new(py, b""), outs))
    }
}

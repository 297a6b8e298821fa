//! `Rados.mon_command`: Ceph's JSON monitor commands, the few that map onto librados' typed
//! commands. Output follows Ceph's shapes where scripts commonly read them (`osd pool ls`,
//! `df`, `status`, `fsid`, `osd pool application get`, `osd blocklist ls`, `log last`);
//! anything else is `-EINVAL "command not known"`, as Ceph answers an unknown prefix.

use librados::client::LogLevel;
use librados::msg::command::{MonCommand, MonReply};
use librados::Rados;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const EINVAL: i32 = 22;

/// Runs one command: `(ret, outbuf, outs)`.
pub fn run(h: &Rados, cmd: &str) -> (i32, Vec<u8>, String) {
    let v: Value = match serde_json::from_str(cmd) {
        Ok(v) => v,
        Err(_) => return (-EINVAL, Vec::new(), format!("unparseable JSON {cmd}")),
    };
    let prefix = v.get("prefix").and_then(Value::as_str).unwrap_or("");
    let json_out = v
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("json"));
    let arg = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let out = match prefix {
        "osd pool ls" | "osd lspools" => Ok(pool_ls(h, json_out)),
        "osd pool create" => pool_create(h, &arg("pool")),
        "osd pool rm" | "osd pool delete" => pool_rm(h, &arg("pool")),
        "osd pool get" => pool_get(h, &arg("pool"), &arg("var"), json_out),
        "osd pool set" => {
            let val = match v.get("val") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            h.pool_set(&arg("pool"), &arg("var"), &val).map(|()| {
                (
                    Vec::new(),
                    format!("set pool {} {} to {val}", arg("pool"), arg("var")),
                )
            })
        }
        "df" => df(h, json_out),
        "status" | "health" => status(h, prefix, json_out),
        "fsid" => Ok(text_or_json(
            json_out,
            h.fsid(),
            json!({ "fsid": h.fsid() }),
        )),
        "osd tree" => osd_tree(h, json_out),
        "osd pool application enable"
        | "osd pool application disable"
        | "osd pool application set"
        | "osd pool application rm" => {
            return monitor_worded(pool_application_change(h, prefix, &v))
        }
        "osd pool application get" => {
            let (pool, app, key) = (arg("pool"), arg("app"), arg("key"));
            return monitor_worded(pool_application_get(h, &pool, &app, &key, json_out));
        }
        "osd blocklist" | "osd blacklist" => {
            let addr = arg("addr");
            match arg("blocklistop").as_str() {
                "add" => {
                    let expire = v.get("expire").and_then(Value::as_f64);
                    blocklist_add(h, &addr, expire)
                }
                "rm" => h.blocklist_remove(&addr).map(|m| (Vec::new(), m)),
                op => Err(librados::Error::InvalidArgument(format!(
                    "blocklistop '{op}' is not add or rm"
                ))),
            }
        }
        "osd blocklist ls" | "osd blacklist ls" => blocklist_ls(h, json_out),
        "log" => log(h, &v),
        "log last" => log_last(h, &v, json_out),
        "osd blocklist clear" | "osd blacklist clear" => {
            h.blocklist_clear().map(|m| (Vec::new(), m))
        }
        _ => return (-EINVAL, Vec::new(), "command not known".into()),
    };
    match out {
        Ok((outbuf, outs)) => (0, outbuf, outs),
        Err(e) => (-e.errno(), Vec::new(), e.to_string()),
    }
}

type Reply = librados::Result<(Vec<u8>, String)>;

/// A reply whose failure text is the monitor's message alone, as Ceph's `outs` is (no
/// errno description appended).
fn monitor_worded(reply: Reply) -> (i32, Vec<u8>, String) {
    use librados::Error as E;
    match reply {
        Ok((outbuf, outs)) => (0, outbuf, outs),
        Err(e) => {
            let outs = match &e {
                E::NotFound { what } | E::Exists { what } => what.clone(),
                E::InvalidArgument(m) | E::PermissionDenied(m) => m.clone(),
                other => other.to_string(),
            };
            (-e.errno(), Vec::new(), outs)
        }
    }
}

fn text_or_json(json_out: bool, text: String, v: Value) -> (Vec<u8>, String) {
    if json_out {
        (v.to_string().into_bytes(), String::new())
    } else {
        (format!("{text}\n").into_bytes(), String::new())
    }
}

fn pool_ls(h: &Rados, json_out: bool) -> (Vec<u8>, String) {
    let pools = h.list_pools();
    if json_out {
        (json!(pools).to_string().into_bytes(), String::new())
    } else {
        let text: String = pools.iter().map(|p| format!("{p}\n")).collect();
        (text.into_bytes(), String::new())
    }
}

fn pool_create(h: &Rados, pool: &str) -> Reply {
    match h.create_pool(pool) {
        Ok(()) => Ok((Vec::new(), format!("pool '{pool}' created"))),
        // Ceph treats creating an existing pool as success.
        Err(librados::Error::Exists { .. }) => {
            Ok((Vec::new(), format!("pool '{pool}' already exists")))
        }
        Err(e) => Err(e),
    }
}

fn pool_rm(h: &Rados, pool: &str) -> Reply {
    match h.delete_pool(pool) {
        Ok(()) => Ok((Vec::new(), format!("pool '{pool}' removed"))),
        Err(librados::Error::PoolNotFound { .. }) => {
            Ok((Vec::new(), format!("pool '{pool}' does not exist")))
        }
        Err(e) => Err(e),
    }
}

fn blocklist_add(h: &Rados, addr: &str, expire: Option<f64>) -> Reply {
    let expire = match expire {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s <= 1e9 => {
            Some(std::time::Duration::from_secs_f64(s))
        }
        Some(s) => {
            return Err(librados::Error::InvalidArgument(format!(
                "expire {s} must be a positive number of seconds"
            )))
        }
    };
    h.blocklist_add(addr, expire).map(|m| (Vec::new(), m))
}

/// `osd blocklist ls`: one `ADDR UNTIL` line per entry (or a JSON list), and
/// `listed N entries`.
fn blocklist_ls(h: &Rados, json_out: bool) -> Reply {
    let entries = h.blocklist()?;
    let outs = format!("listed {} entries", entries.len());
    let outbuf = if json_out {
        let list: Vec<Value> = entries
            .iter()
            .map(|(a, t)| json!({ "addr": a.to_string(), "until": t.to_string() }))
            .collect();
        Value::from(list).to_string()
    } else {
        entries.iter().map(|(a, t)| format!("{a} {t}\n")).collect()
    };
    Ok((outbuf.into_bytes(), outs))
}

/// `log`: `logtext` (a list of words, joined with spaces, or one string) at `level`
/// (default `info`) in the `cluster` channel.
fn log(h: &Rados, v: &Value) -> Reply {
    let text = match v.get("logtext") {
        Some(Value::Array(words)) => words
            .iter()
            .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(" "),
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(librados::Error::InvalidArgument(
                "log: missing required parameter logtext".into(),
            ))
        }
    };
    let level = log_level(v)?;
    let channel = v.get("channel").and_then(Value::as_str);
    h.log_to(level, channel, &text)?;
    Ok((Vec::new(), String::new()))
}

/// The `level` argument of `log` and `log last` (default `info`).
fn log_level(v: &Value) -> librados::Result<LogLevel> {
    match v.get("level").and_then(Value::as_str) {
        None => Ok(LogLevel::Info),
        Some(l) => LogLevel::parse(l).ok_or_else(|| {
            librados::Error::InvalidArgument(format!(
                "invalid level '{l}': use debug, info, sec, warn or error"
            ))
        }),
    }
}

/// `log last`: the newest `num` (default 20) entries at `level` (default `info`) or above in
/// `channel` (default `cluster`; `*` for every channel).
fn log_last(h: &Rados, v: &Value, json_out: bool) -> Reply {
    let num = match v.get("num") {
        None => 20,
        Some(n) => n
            .as_u64()
            .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                librados::Error::InvalidArgument(format!("invalid num {n}: a count is expected"))
            })?,
    };
    let channel = match v.get("channel").and_then(Value::as_str) {
        None => Some("cluster"),
        Some("*") => None,
        Some(c) => Some(c),
    };
    let entries = h.log_last(num, log_level(v)?, channel)?;
    let outbuf = if json_out {
        let list: Vec<Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "name": e.who.to_string(),
                    "rank": e.who.to_string(),
                    "addrs": {"addrvec": [{
                        "type": "any",
                        "addr": format!("{}:{}", e.addr.ip, e.addr.port),
                        "nonce": e.addr.nonce,
                    }]},
                    "stamp": e.stamp.to_string(),
                    "seq": e.seq,
                    "channel": e.channel,
                    "priority": e.level.tag(),
                    "message": e.message,
                })
            })
            .collect();
        Value::from(list).to_string()
    } else {
        entries.iter().map(|e| format!("{e}\n")).collect()
    };
    Ok((outbuf.into_bytes(), String::new()))
}

fn pool_get(h: &Rados, pool: &str, var: &str, json_out: bool) -> Reply {
    let o = h.pool_get(pool, var)?;
    let num = o.value.parse::<i64>().map(Value::from);
    let value = num.unwrap_or_else(|_| Value::from(o.value.clone()));
    let mut obj = serde_json::Map::new();
    obj.insert("pool".into(), json!(o.pool));
    obj.insert(o.var.clone(), value);
    Ok(text_or_json(
        json_out,
        format!("{}: {}", o.var, o.value),
        Value::Object(obj),
    ))
}

fn df(h: &Rados, json_out: bool) -> Reply {
    let pools = h.df()?;
    let s = h.status()?;
    if !json_out {
        let mut text = String::from("--- POOLS ---\nPOOL  ID  STORED  OBJECTS\n");
        for p in &pools {
            text.push_str(&format!(
                "{}  {}  {}  {}\n",
                p.name, p.id, p.bytes, p.objects
            ));
        }
        return Ok((text.into_bytes(), String::new()));
    }
    let pools: Vec<Value> = pools
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "id": p.id,
                "stats": {
                    "stored": p.bytes,
                    "objects": p.objects,
                    "kb_used": p.bytes * u64::from(p.size) / 1024,
                    "bytes_used": p.bytes * u64::from(p.size),
                    "max_avail": s.avail_bytes,
                },
            })
        })
        .collect();
    let v = json!({
        "stats": {
            "total_bytes": s.total_bytes,
            "total_avail_bytes": s.avail_bytes,
            "total_used_bytes": s.used_bytes,
            "total_used_raw_bytes": s.used_bytes,
            "num_osds": s.num_osds,
        },
        "pools": pools,
    });
    Ok((v.to_string().into_bytes(), String::new()))
}

fn status(h: &Rados, prefix: &str, json_out: bool) -> Reply {
    let s = h.status()?;
    if prefix == "health" {
        let v = json!({ "status": s.health, "checks": {} });
        return Ok(text_or_json(json_out, s.health.clone(), v));
    }
    let pgs: Vec<Value> = s
        .pgs_by_state
        .iter()
        .map(|(state, count)| json!({ "state_name": state, "count": count }))
        .collect();
    let v = json!({
        "fsid": s.fsid,
        "health": { "status": s.health, "checks": {} },
        "osdmap": {
            "epoch": s.epoch,
            "num_osds": s.num_osds,
            "num_up_osds": s.num_up_osds,
            "num_in_osds": s.num_in_osds,
        },
        "pgmap": {
            "pgs_by_state": pgs,
            "num_pgs": s.num_pgs,
            "num_pools": s.num_pools,
            "num_objects": s.objects,
            "data_bytes": s.data_bytes,
            "bytes_used": s.used_bytes,
            "bytes_avail": s.avail_bytes,
            "bytes_total": s.total_bytes,
        },
    });
    let text = format!(
        "  cluster:\n    id:     {}\n    health: {}\n\n  services:\n    osd: {} osds: {} up, {} in\n\n  data:\n    pools:   {} pools, {} pgs\n    objects: {} objects\n",
        s.fsid, s.health, s.num_osds, s.num_up_osds, s.num_in_osds, s.num_pools, s.num_pgs, s.objects
    );
    Ok(text_or_json(json_out, text, v))
}

fn osd_tree(h: &Rados, json_out: bool) -> Reply {
    let nodes = h.osd_tree()?;
    let v: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "name": n.name,
                "type": n.type_name,
                "crush_weight": n.weight,
                "depth": n.depth,
                "status": n.status,
                "reweight": n.reweight,
            })
        })
        .collect();
    let text = nodes
        .iter()
        .map(|n| format!("{} {} {} {}", n.id, n.weight, n.type_name, n.name))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(text_or_json(json_out, text, json!({ "nodes": v })))
}

/// `osd pool application enable|disable|set|rm`, with Ceph's argument names; `outs` is the
/// monitor's message, worded as Ceph's.
fn pool_application_change(h: &Rados, prefix: &str, v: &Value) -> Reply {
    let arg = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let force = match v.get("yes_i_really_mean_it") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(librados::Error::InvalidArgument(
                "bad or missing field 'yes_i_really_mean_it'".into(),
            ))
        }
    };
    let (pool, app) = (arg("pool"), arg("app"));
    let cmd = match prefix.rsplit(' ').next() {
        Some("enable") => MonCommand::PoolApplicationEnable { pool, app, force },
        Some("disable") => MonCommand::PoolApplicationDisable { pool, app, force },
        Some("set") => MonCommand::PoolApplicationSet {
            pool,
            app,
            key: arg("key"),
            value: arg("value"),
        },
        _ => MonCommand::PoolApplicationRemove {
            pool,
            app,
            key: arg("key"),
        },
    };
    match h.mon_command(cmd)? {
        MonReply::Done { message, .. } => Ok((Vec::new(), message)),
        _ => Ok((Vec::new(), String::new())),
    }
}

/// `osd pool application get [app [key]]`: every application's metadata, one application's,
/// or one value, as Ceph prints them (JSON; pretty with four-space indents unless a JSON
/// format is asked for; a value as a line of text).
fn pool_application_get(h: &Rados, pool: &str, app: &str, key: &str, json_out: bool) -> Reply {
    let io = h.ioctx(pool)?;
    let not_found = |what: String| librados::Error::NotFound { what };
    let value = if app.is_empty() {
        let mut all = BTreeMap::new();
        for name in io.application_list()? {
            let metadata: BTreeMap<_, _> =
                io.application_metadata_list(&name)?.into_iter().collect();
            all.insert(name, metadata);
        }
        json!(all)
    } else {
        let metadata: BTreeMap<_, _> = io
            .application_metadata_list(app)
            .map_err(|e| match e {
                librados::Error::NotFound { .. } => {
                    not_found(format!("pool '{pool}' has no application '{app}'"))
                }
                e => e,
            })?
            .into_iter()
            .collect();
        if !key.is_empty() {
            let value = metadata.get(key).ok_or_else(|| {
                not_found(format!(
                    "application '{app}' on pool '{pool}' does not have key '{key}'"
                ))
            })?;
            return Ok((format!("{value}\n").into_bytes(), String::new()));
        }
        json!(metadata)
    };
    if json_out {
        return Ok((value.to_string().into_bytes(), String::new()));
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&value, &mut ser)
        .map_err(|e| librados::Error::InvalidArgument(format!("cannot format the reply: {e}")))?;
    out.push(b'\n');
    Ok((out, String::new()))
}

//! Object metadata commands with Ceph's `rados` syntax and output: xattrs (listxattr, getxattr,
//! setxattr, rmxattr), omap (listomapkeys, listomapvals, getomapval, setomapval, rmomapkey,
//! clearomap, getomapheader, setomapheader) and advisory locks (`lock list|get|info|break`,
//! printed as JSON like Ceph's).

use crate::cli::{Format, LockCmd, Opts};
use crate::session::{errstr, fail, format, io_errstr, print, value_arg};
use crate::textfmt::{hexdump, utime};
use anyhow::Result;
use librados::client::LockType;
use librados::IoCtx;
use std::io::Write;
use std::time::Duration;

pub fn listxattr(io: &IoCtx, obj: &str) -> Result<()> {
    let attrs = io.get_xattrs(obj).map_err(|e| {
        fail(
            format!(
                "error getting xattr set {}/{obj}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })?;
    let mut out = std::io::stdout().lock();
    for name in attrs.keys() {
        writeln!(out, "{name}")?;
    }
    out.flush()?;
    Ok(())
}

pub fn getxattr(io: &IoCtx, obj: &str, attr: &str) -> Result<()> {
    let v = io.get_xattr(obj, attr).map_err(|e| {
        fail(
            format!(
                "error getting xattr {}/{obj}/{attr}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&v)?;
    out.flush()?;
    Ok(())
}

pub fn setxattr(io: &IoCtx, opts: &Opts, obj: &str, attr: &str, value: Option<&str>) -> Result<()> {
    let v = value_arg(opts, value)?;
    io.set_xattr(obj, attr, v).map_err(|e| {
        fail(
            format!(
                "error setting xattr {}/{obj}/{attr}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })
}

pub fn rmxattr(io: &IoCtx, obj: &str, attr: &str) -> Result<()> {
    io.rm_xattr(obj, attr).map_err(|e| {
        fail(
            format!(
                "error removing xattr {}/{obj}/{attr}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })
}

/// A key as Ceph shows it: as is when printable, else as a hexdump after its length.
fn show_key(key: &[u8]) -> String {
    if key.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        String::from_utf8_lossy(key).into_owned()
    } else {
        format!("key ({} bytes):\n{}", key.len(), hexdump(key))
    }
}

pub fn listomapkeys(io: &IoCtx, obj: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut after: Vec<u8> = Vec::new();
    loop {
        let (keys, more) = io.omap_get_keys(obj, &after, 1024).map_err(|e| {
            fail(
                format!(
                    "error getting omap key set {}/{obj}: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })?;
        for k in &keys {
            out.write_all(k)?;
            out.write_all(b"\n")?;
        }
        match keys.last() {
            Some(k) if more => after = k.to_vec(),
            _ => break,
        }
    }
    out.flush()?;
    Ok(())
}

pub fn listomapvals(io: &IoCtx, obj: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut after: Vec<u8> = Vec::new();
    loop {
        let (entries, more) = io.omap_get_vals(obj, &after, b"", 1024).map_err(|e| {
            fail(
                format!(
                    "error getting omap keys {}/{obj}: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })?;
        for (k, v) in &entries {
            write!(
                out,
                "{}\nvalue ({} bytes) :\n{}\n",
                show_key(k),
                v.len(),
                hexdump(v)
            )?;
        }
        match entries.last() {
            Some((k, _)) if more => after = k.to_vec(),
            _ => break,
        }
    }
    out.flush()?;
    Ok(())
}

fn dump_or_write(label: &str, data: &[u8], outfile: Option<&str>) -> Result<()> {
    match outfile {
        Some(path) => {
            eprintln!("Writing to {path}");
            let r = if path == "-" {
                let mut out = std::io::stdout().lock();
                out.write_all(data).and_then(|_| out.flush())
            } else {
                std::fs::write(path, data)
            };
            r.map_err(|e| fail(format!("error writing {path}: {}", io_errstr(&e)), 1))
        }
        None => print(&format!(
            "{label} ({} bytes) :\n{}\n",
            data.len(),
            hexdump(data)
        )),
    }
}

pub fn getomapval(io: &IoCtx, obj: &str, key: &str, outfile: Option<&str>) -> Result<()> {
    let pool = io.pool_name();
    let vals = io
        .omap_get_vals_by_keys(obj, [key.as_bytes().to_vec()])
        .map_err(|e| {
            fail(
                format!(
                    "error getting omap value {pool}/{obj}/{key}: {}",
                    errstr(&e)
                ),
                1,
            )
        })?;
    match vals.iter().find(|(k, _)| &k[..] == key.as_bytes()) {
        Some((_, v)) => dump_or_write("value", v, outfile),
        None => {
            print(&format!("No such key: {pool}/{obj}/{key}\n"))?;
            Err(fail("", 1))
        }
    }
}

pub fn setomapval(
    io: &IoCtx,
    opts: &Opts,
    obj: &str,
    key: &str,
    value: Option<&str>,
) -> Result<()> {
    let v = value_arg(opts, value)?;
    io.omap_set(obj, [(key.as_bytes().to_vec(), v)])
        .map_err(|e| {
            fail(
                format!(
                    "error setting omap value {}/{obj}/{key}: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })
}

pub fn rmomapkey(io: &IoCtx, obj: &str, key: &str) -> Result<()> {
    io.omap_rm_keys(obj, [key.as_bytes().to_vec()])
        .map_err(|e| {
            fail(
                format!(
                    "error removing omap key {}/{obj}/{key}: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })
}

pub fn clearomap(io: &IoCtx, objs: &[String]) -> Result<()> {
    for obj in objs {
        io.omap_clear(obj).map_err(|e| {
            fail(
                format!(
                    "error clearing omap keys {}/{obj}/{}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })?;
    }
    Ok(())
}

pub fn getomapheader(io: &IoCtx, obj: &str, outfile: Option<&str>) -> Result<()> {
    let h = io.omap_get_header(obj).map_err(|e| {
        fail(
            format!(
                "error getting omap header {}/{obj}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })?;
    dump_or_write("header", &h, outfile)
}

pub fn setomapheader(io: &IoCtx, obj: &str, value: &str) -> Result<()> {
    io.omap_set_header(obj, value.as_bytes().to_vec())
        .map_err(|e| {
            fail(
                format!(
                    "error setting omap value {}/{obj}: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })
}

fn print_lock_json(opts: &Opts, v: serde_json::Value) -> Result<()> {
    // Ceph prints lock output as JSON whatever --format says.
    let f = match format(opts) {
        Format::JsonPretty => Format::JsonPretty,
        _ => Format::Json,
    };
    crate::session::print_json(f, &v)
}

/// Checks an entity name the way Ceph's `entity_name_t::parse` does (`client.4`, `osd.0`).
fn valid_entity(s: &str) -> bool {
    match s.split_once('.') {
        Some((kind, id)) => {
            matches!(kind, "client" | "osd" | "mon" | "mds" | "mgr")
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

pub fn lock(io: &IoCtx, opts: &Opts, cmd: &LockCmd) -> Result<()> {
    let cookie = opts.lock_cookie.as_deref().unwrap_or("");
    let tag = opts.lock_tag.as_deref().unwrap_or("");
    let description = opts.lock_description.as_deref().unwrap_or("");
    let duration = match opts.lock_duration.as_deref() {
        None => None,
        Some(s) => match s.parse::<u64>() {
            Ok(0) => None,
            Ok(n) => Some(Duration::from_secs(n)),
            Err(_) => {
                return Err(fail(
                    format!("invalid lock duration '{s}': give whole seconds"),
                    1,
                ))
            }
        },
    };
    let lock_type = match opts.lock_type.as_deref() {
        None | Some("exclusive") => LockType::Exclusive,
        Some("shared") => LockType::Shared,
        Some(_) => return Err(fail("unknown lock type was specified, aborting", 1)),
    };
    match cmd {
        LockCmd::List { obj } => {
            let locks = io
                .list_locks(obj)
                .map_err(|e| fail(format!("ERROR: rados_list_locks(): {}", errstr(&e)), 1))?;
            let locks: Vec<_> = locks
                .iter()
                .map(|n| serde_json::json!({ "name": n }))
                .collect();
            print_lock_json(opts, serde_json::json!({"objname": obj, "locks": locks}))
        }
        LockCmd::Info { obj, name } => {
            let info = io.lock_info(obj, name).map_err(|e| {
                fail(
                    format!("ERROR: rados_lock_get_lock_info(): {}", errstr(&e)),
                    1,
                )
            })?;
            let lockers: Vec<_> = info
                .lockers
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "name": l.entity,
                        "cookie": l.cookie,
                        "description": l.description,
                        "expiration": utime(Duration::from_nanos(l.expires_ns)),
                        "addr": "",
                    })
                })
                .collect();
            let kind = match info.lock_type {
                LockType::Exclusive => "exclusive",
                LockType::Shared => "shared",
            };
            print_lock_json(
                opts,
                serde_json::json!({"name": name, "type": kind, "tag": info.tag, "lockers": lockers}),
            )
        }
        LockCmd::Get { obj, name } => {
            let r = match lock_type {
                LockType::Exclusive => io.lock_exclusive(obj, name, cookie, description, duration),
                LockType::Shared => io.lock_shared(obj, name, cookie, tag, description, duration),
            };
            r.map_err(|e| fail(format!("ERROR: failed locking: {}", errstr(&e)), 1))
        }
        LockCmd::Break { obj, name, locker } => {
            if !valid_entity(locker) {
                return Err(fail(
                    format!("ERROR: failed to parse locker name ({locker})"),
                    1,
                ));
            }
            io.break_lock(obj, name, locker, cookie)
                .map_err(|e| fail(format!("ERROR: failed breaking lock: {}", errstr(&e)), 1))
        }
    }
}

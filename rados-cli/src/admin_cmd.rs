//! Cluster-wide commands: `df` (as `rados df` prints it), and from the `ceph` tool `status`
//! (`ceph -s`), `osd tree`, `osd in|out|down|blocklist`, `pool get|set`, `log`. Failures of these monitor
//! commands print as `ceph` prints them (`Error ENOENT: ...`) and exit with the errno, as `ceph`
//! does; their status messages ("marked out osd.1. ") go to standard error, as with `ceph`.

use crate::cli::{BlocklistCmd, CrushCmd, Format, Opts, OsdCmd, PgCmd, PoolCmd};
use crate::session::{detail, errstr, fail, format, print, print_json};
use crate::textfmt::{bytes_u, weightf, Align, TextTable};
use anyhow::Result;
use librados::client::{ClusterLogEntry, LogLevel, PoolUsage};
use librados::{Error, Rados};

/// Ceph's symbolic name for an errno.
fn errno_name(n: i32) -> String {
    let name = match n {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        16 => "EBUSY",
        17 => "EEXIST",
        22 => "EINVAL",
        28 => "ENOSPC",
        34 => "ERANGE",
        61 => "ENODATA",
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        125 => "ECANCELED",
        _ => return n.to_string(),
    };
    name.to_string()
}

/// A monitor command's failure as `ceph` reports it, exiting with the errno.
fn mon_error(e: Error) -> anyhow::Error {
    let n = e.errno();
    fail(
        format!("Error {}: {}", errno_name(n), detail(&e)),
        u8::try_from(n).unwrap_or(1),
    )
}

/// A pool's object and copy counts as Ceph's `num_objects` counts them: clones included
/// (the library counts heads and clones apart).
fn ceph_objects(u: &PoolUsage) -> (u64, u64) {
    (
        u.objects + u.clones,
        u.copies + u.clones * u64::from(u.size),
    )
}

pub fn df(rados: &Rados, opts: &Opts) -> Result<()> {
    let mut pools = rados
        .df()
        .map_err(|e| fail(format!("error fetching pool stats: {}", errstr(&e)), 1))?;
    let all_clones: u64 = pools.iter().map(|u| u.clones).sum();
    if let Some(p) = &opts.pool {
        if !rados.pool_exists(p) {
            return Err(fail(
                format!(
                    "error fetching pool stats: {}",
                    crate::session::errno_str(2)
                ),
                1,
            ));
        }
        pools.retain(|u| &u.name == p);
    }
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    let st = rados.status().map_err(|e| {
        fail(
            format!("error getting total cluster usage: {}", errstr(&e)),
            1,
        )
    })?;
    let fmt = format(opts);
    if fmt != Format::Plain {
        let list: Vec<_> = pools
            .iter()
            .map(|u| {
                let used = u.bytes * u64::from(u.size);
                let (objects, copies) = ceph_objects(u);
                serde_json::json!({
                    "name": u.name, "id": u.id,
                    "size_bytes": used, "size_kb": used.div_ceil(1024),
                    "num_objects": objects, "num_object_clones": u.clones,
                    "num_object_copies": copies, "num_objects_missing_on_primary": 0,
                    "num_objects_unfound": 0, "num_objects_degraded": 0,
                    "read_ops": 0, "read_bytes": 0, "write_ops": 0, "write_bytes": 0,
                    "compress_bytes_used": 0, "compress_under_bytes": 0,
                })
            })
            .collect();
        return print_json(
            fmt,
            &serde_json::json!({
                "pools": list,
                "total_objects": st.objects + all_clones,
                "total_used": st.used_bytes / 1024,
                "total_avail": st.avail_bytes / 1024,
                "total_space": st.total_bytes / 1024,
            }),
        );
    }
    let mut t = TextTable::new();
    t.column("POOL_NAME", Align::Left, Align::Left);
    for h in [
        "USED",
        "OBJECTS",
        "CLONES",
        "COPIES",
        "MISSING_ON_PRIMARY",
        "UNFOUND",
        "DEGRADED",
        "RD_OPS",
        "RD",
        "WR_OPS",
        "WR",
        "USED COMPR",
        "UNDER COMPR",
    ] {
        t.column(h, Align::Right, Align::Right);
    }
    for u in &pools {
        let zero = || "0".to_string();
        let (objects, copies) = ceph_objects(u);
        t.row(vec![
            u.name.clone(),
            bytes_u(u.bytes * u64::from(u.size)),
            objects.to_string(),
            u.clones.to_string(),
            copies.to_string(),
            zero(),
            zero(),
            zero(),
            zero(),
            bytes_u(0),
            zero(),
            bytes_u(0),
            bytes_u(0),
            bytes_u(0),
        ]);
    }
    print(&format!(
        "{}\ntotal_objects    {}\ntotal_used       {}\ntotal_avail      {}\ntotal_space      {}\n",
        t.render(),
        st.objects + all_clones,
        bytes_u(st.used_bytes),
        bytes_u(st.avail_bytes),
        bytes_u(st.total_bytes)
    ))
}

pub fn status(rados: &Rados, opts: &Opts) -> Result<()> {
    let st = rados.status().map_err(mon_error)?;
    let fmt = format(opts);
    if fmt != Format::Plain {
        return print_json(fmt, &serde_json::to_value(&st)?);
    }
    let mut s = String::new();
    s.push_str("  cluster:\n");
    s.push_str(&format!("    id:     {}\n", st.fsid));
    s.push_str(&format!("    health: {}\n", st.health));
    for d in &st.health_details {
        s.push_str(&format!("            {d}\n"));
    }
    s.push_str(" \n  services:\n");
    s.push_str("    mon: 1 daemons, quorum a\n");
    s.push_str(&format!(
        "    osd: {} osds: {} up, {} in\n",
        st.num_osds, st.num_up_osds, st.num_in_osds
    ));
    s.push_str(" \n  data:\n");
    s.push_str(&format!(
        "    pools:   {} pools, {} pgs\n",
        st.num_pools, st.num_pgs
    ));
    s.push_str(&format!(
        "    objects: {} objects, {}\n",
        st.objects,
        bytes_u(st.data_bytes)
    ));
    if st.total_bytes > 0 {
        s.push_str(&format!(
            "    usage:   {} used, {} / {} avail\n",
            bytes_u(st.used_bytes),
            bytes_u(st.avail_bytes),
            bytes_u(st.total_bytes)
        ));
    } else {
        s.push_str(&format!("    usage:   {} used\n", bytes_u(st.used_bytes)));
    }
    let mut states: Vec<(&String, &u32)> = st.pgs_by_state.iter().collect();
    states.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let width = states
        .iter()
        .map(|(_, n)| n.to_string().len())
        .max()
        .unwrap_or(1);
    for (i, (state, n)) in states.iter().enumerate() {
        let lead = if i == 0 {
            "    pgs:     "
        } else {
            "             "
        };
        s.push_str(&format!("{lead}{:<width$} {state}\n", n.to_string()));
    }
    s.push_str(" \n");
    print(&s)
}

fn osd_tree(rados: &Rados, opts: &Opts) -> Result<()> {
    let nodes = rados.osd_tree().map_err(mon_error)?;
    let fmt = format(opts);
    if fmt != Format::Plain {
        return print_json(
            fmt,
            &serde_json::json!({"nodes": serde_json::to_value(&nodes)?, "stray": []}),
        );
    }
    let mut t = TextTable::new();
    t.column("ID", Align::Left, Align::Right)
        .column("CLASS", Align::Left, Align::Right)
        .column("WEIGHT", Align::Left, Align::Right)
        .column("TYPE NAME", Align::Left, Align::Left)
        .column("STATUS", Align::Left, Align::Right)
        .column("REWEIGHT", Align::Left, Align::Right)
        .column("PRI-AFF", Align::Left, Align::Right);
    for n in &nodes {
        let indent = "    ".repeat(n.depth as usize);
        let name = if n.id >= 0 {
            format!("{indent}{}", n.name)
        } else {
            format!("{indent}{} {}", n.type_name, n.name)
        };
        let osd = n.id >= 0;
        t.row(vec![
            n.id.to_string(),
            n.class.clone(),
            weightf(n.weight),
            name,
            n.status.clone().unwrap_or_default(),
            n.reweight.map(weightf).unwrap_or_default(),
            if osd { weightf(1.0) } else { String::new() },
        ]);
    }
    print(&t.render())
}

fn parse_osd_ids(ids: &[String]) -> Result<Vec<i32>> {
    ids.iter()
        .map(|s| {
            let digits = s.strip_prefix("osd.").unwrap_or(s);
            digits
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| fail(format!("Error EINVAL: invalid osd id '{s}'"), 22))
        })
        .collect()
}

pub fn osd(rados: &Rados, opts: &Opts, cmd: &OsdCmd) -> Result<()> {
    let msg = match cmd {
        OsdCmd::Tree => return osd_tree(rados, opts),
        OsdCmd::In { ids } => rados.osd_set_in(&parse_osd_ids(ids)?, true),
        OsdCmd::Out { ids } => rados.osd_set_in(&parse_osd_ids(ids)?, false),
        OsdCmd::Down { ids } => rados.osd_down(&parse_osd_ids(ids)?),
        OsdCmd::Reweight { id, weight } => {
            let id = parse_osd_ids(std::slice::from_ref(id))?[0];
            rados.osd_reweight(id, *weight)
        }
        OsdCmd::Crush {
            cmd: CrushCmd::Reweight { name, weight },
        } => rados.osd_crush_reweight(name, *weight),
        OsdCmd::Blocklist { cmd } => return blocklist(rados, opts, cmd),
        OsdCmd::Getcrushmap { output } => {
            let map = rados.get_crush_map().map_err(mon_error)?;
            std::fs::write(output, &map)
                .map_err(|e| fail(format!("error writing {output}: {e}"), 1))?;
            eprintln!("got crush map from osdmap epoch {}", rados.osdmap().epoch());
            return Ok(());
        }
        OsdCmd::Setcrushmap { input } => {
            let map =
                std::fs::read(input).map_err(|e| fail(format!("error reading {input}: {e}"), 1))?;
            rados.set_crush_map(&map)
        }
    }
    .map_err(mon_error)?;
    eprintln!("{msg}");
    Ok(())
}

fn blocklist(rados: &Rados, opts: &Opts, cmd: &BlocklistCmd) -> Result<()> {
    let msg = match cmd {
        BlocklistCmd::Add { addr, expire } => {
            let expire = match expire {
                None => None,
                Some(s) if s.is_finite() && *s > 0.0 && *s <= 1e9 => {
                    Some(std::time::Duration::from_secs_f64(*s))
                }
                Some(s) => {
                    return Err(fail(
                        format!("Error EINVAL: expire {s} must be a positive number of seconds"),
                        22,
                    ))
                }
            };
            rados.blocklist_add(addr, expire)
        }
        BlocklistCmd::Rm { addr } => rados.blocklist_remove(addr),
        BlocklistCmd::Clear => rados.blocklist_clear(),
        BlocklistCmd::Ls => {
            let entries = rados.blocklist().map_err(mon_error)?;
            let fmt = format(opts);
            if fmt != Format::Plain {
                let list: Vec<serde_json::Value> = entries
                    .iter()
                    .map(
                        |(a, t)| serde_json::json!({"addr": a.to_string(), "until": t.to_string()}),
                    )
                    .collect();
                print_json(fmt, &serde_json::Value::from(list))?;
            } else {
                for (a, t) in &entries {
                    println!("{a} {t}");
                }
            }
            eprintln!("listed {} entries", entries.len());
            return Ok(());
        }
    }
    .map_err(mon_error)?;
    eprintln!("{msg}");
    Ok(())
}

fn log_level(s: &str) -> Result<LogLevel> {
    LogLevel::parse(s).ok_or_else(|| {
        fail(
            format!("Error EINVAL: invalid level '{s}': use debug, info, sec, warn or error"),
            22,
        )
    })
}

/// `log TEXT...` (added at info), `log last [N] [LEVEL] [CHANNEL|*]` (as `ceph log last`:
/// 20 entries at info or above in `cluster` by default), `log follow [LEVEL]` (as `ceph -w`:
/// every new entry at LEVEL or above, info by default, until interrupted).
pub fn log(rados: &Rados, opts: &Opts, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("follow") if args.len() <= 2 => {
            let level = log_level(args.get(1).map_or("info", String::as_str))?;
            let (tx, rx) = std::sync::mpsc::channel::<ClusterLogEntry>();
            let tx = std::sync::Mutex::new(tx);
            rados
                .monitor_log(
                    level,
                    std::sync::Arc::new(move |e: &ClusterLogEntry| {
                        if let Ok(t) = tx.lock() {
                            let _ = t.send(e.clone());
                        }
                    }),
                )
                .map_err(mon_error)?;
            let fmt = format(opts);
            for e in rx {
                if fmt != Format::Plain {
                    print_json(fmt, &log_json(&e))?;
                } else {
                    crate::session::print(&format!("{e}\n"))?;
                }
            }
            Ok(())
        }
        Some("last") if args.len() <= 4 => {
            let num = match args.get(1) {
                None => 20,
                Some(n) => n
                    .parse::<u32>()
                    .map_err(|_| fail(format!("Error EINVAL: invalid count '{n}'"), 22))?,
            };
            let level = log_level(args.get(2).map_or("info", String::as_str))?;
            let channel = match args.get(3).map(String::as_str) {
                None => Some("cluster"),
                Some("*") => None,
                Some(c) => Some(c),
            };
            let entries = rados.log_last(num, level, channel).map_err(mon_error)?;
            let fmt = format(opts);
            if fmt != Format::Plain {
                let list: Vec<serde_json::Value> = entries.iter().map(log_json).collect();
                print_json(fmt, &serde_json::Value::from(list))?;
            } else {
                for e in &entries {
                    println!("{e}");
                }
            }
            Ok(())
        }
        _ => {
            rados
                .log(LogLevel::Info, &args.join(" "))
                .map_err(mon_error)?;
            Ok(())
        }
    }
}

/// `pg stat` (as `ceph pg stat`) and `pg ls [STATE...]` (as `ceph pg ls`).
pub fn pg(rados: &Rados, opts: &Opts, cmd: &PgCmd) -> Result<()> {
    let pgs = rados.pg_dump().map_err(mon_error)?;
    let fmt = format(opts);
    match cmd {
        PgCmd::Stat => {
            let mut by_state: std::collections::BTreeMap<&str, u32> = Default::default();
            for p in &pgs {
                *by_state.entry(p.stat.state.as_str()).or_default() += 1;
            }
            let to_recover: u64 = pgs.iter().map(|p| p.stat.to_recover).sum();
            let data: u64 = pgs.iter().map(|p| p.stat.bytes).sum();
            if fmt != Format::Plain {
                return print_json(
                    fmt,
                    &serde_json::json!({
                        "num_pgs": pgs.len(),
                        "num_pg_by_state": by_state.iter().map(|(s, n)| serde_json::json!({"name": s, "num": n})).collect::<Vec<_>>(),
                        "num_bytes": data,
                        "num_objects_to_recover": to_recover,
                    }),
                );
            }
            let states: Vec<String> = by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let st = rados.status().map_err(mon_error)?;
            let mut line = format!(
                "{} pgs: {}; {} data, {} used, {} / {} avail",
                pgs.len(),
                states.join(", "),
                bytes_u(data),
                bytes_u(st.used_bytes),
                bytes_u(st.avail_bytes),
                bytes_u(st.total_bytes)
            );
            if to_recover > 0 {
                line.push_str(&format!("; {to_recover} objects to recover"));
            }
            print(&format!("{line}\n"))
        }
        PgCmd::Ls { states } => {
            let shown: Vec<_> = pgs
                .iter()
                .filter(|p| {
                    states.is_empty()
                        || states
                            .iter()
                            .any(|s| p.stat.state.split('+').any(|part| part == s))
                })
                .collect();
            if fmt != Format::Plain {
                let list: Vec<serde_json::Value> = shown
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "pgid": p.stat.pgid.to_string(),
                            "state": p.stat.state,
                            "objects": p.stat.objects,
                            "bytes": p.stat.bytes,
                            "up": p.up,
                            "acting": p.acting,
                            "acting_primary": p.primary,
                            "objects_to_recover": p.stat.to_recover,
                        })
                    })
                    .collect();
                return print_json(fmt, &serde_json::Value::from(list));
            }
            let set = |v: &[i32], p: i32| {
                let osds: Vec<String> = v.iter().map(i32::to_string).collect();
                format!("[{}]p{p}", osds.join(","))
            };
            let mut out = String::from("PG\tOBJECTS\tBYTES\tSTATE\tUP\tACTING\tTO_RECOVER\n");
            for p in shown {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    p.stat.pgid,
                    p.stat.objects,
                    p.stat.bytes,
                    p.stat.state,
                    set(&p.up, p.up.first().copied().unwrap_or(-1)),
                    set(&p.acting, p.primary),
                    p.stat.to_recover
                ));
            }
            print(&out)
        }
    }
}

fn log_json(e: &ClusterLogEntry) -> serde_json::Value {
    serde_json::json!({
        "name": e.who.to_string(),
        "stamp": e.stamp.to_string(),
        "seq": e.seq,
        "channel": e.channel,
        "priority": e.level.tag(),
        "message": e.message,
    })
}

pub fn pool(rados: &Rados, opts: &Opts, cmd: &PoolCmd) -> Result<()> {
    match cmd {
        PoolCmd::Get { pool, var } => {
            let o = rados.pool_get(pool, var).map_err(mon_error)?;
            let fmt = format(opts);
            if fmt == Format::Plain {
                return print(&format!("{}: {}\n", o.var, o.value));
            }
            let value = o
                .value
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or_else(|_| serde_json::Value::from(o.value.clone()));
            let mut v = serde_json::json!({"pool": o.pool, "pool_id": rados.pool_lookup(pool)});
            v[o.var.as_str()] = value;
            print_json(fmt, &v)
        }
        PoolCmd::Set { pool, var, value } => {
            rados.pool_set(pool, var, value).map_err(mon_error)?;
            let id = rados.pool_lookup(pool).unwrap_or(-1);
            eprintln!("set pool {id} {var} to {value}");
            Ok(())
        }
    }
}

//! `bench SECONDS write|seq|rand` and `cleanup`, after Ceph's `ObjBencher`: the same object
//! names (`benchmark_data_<host>_<pid>_object<N>`), contents ("I'm the ... th op!"), metadata
//! object (`benchmark_last_metadata`: object size u64, object count i32, pid i32, op size u64,
//! little-endian, as Ceph encodes it), per-second progress lines and summaries. Each of the -t
//! concurrent operations is an OS thread using the blocking API; latency is measured per op.

use crate::bench_run::{drive, say, stddev, Shared, Stats, MIB, TEXT_TO_STDERR};
use crate::cli::{BenchMode, Format, Opts};
use crate::session::{errno_str, errstr, fail, format, op_size, MAX_OP_SIZE};
use anyhow::Result;
use librados::fmt::general as g;
use librados::{Error, IoCtx};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

const BENCH_PREFIX: &str = "benchmark_data";
const BENCH_LASTRUN_METADATA: &str = "benchmark_last_metadata";
const MAX_CONCURRENCY: usize = 1024;
/// How much op data the workers may hold at once (-t times -b).
const MAX_BYTES_IN_USE: u64 = 4 << 30;

fn hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into());
    // Ceph keeps at most 29 bytes of the host name.
    let mut end = h.len().min(29);
    while !h.is_char_boundary(end) {
        end -= 1;
    }
    h[..end].to_string()
}

fn prefix_nopid() -> String {
    format!("{BENCH_PREFIX}_{}", hostname())
}

fn object_name(pid: i32, n: u64) -> String {
    format!("{BENCH_PREFIX}_{}_{pid}_object{n}", hostname())
}

/// What op `index` writes: Ceph's `snprintf(buf, size, "I'm the %16dth op!", index)` over 'z's.
fn contents(index: u64, size: usize) -> Vec<u8> {
    let mut v = vec![b'z'; size];
    stamp(&mut v, index);
    v
}

/// Writes op `index`'s stamp at the start of a buffer of 'z's.
fn stamp(v: &mut [u8], index: u64) {
    let s = format!("I'm the {index:>16}th op!");
    if !v.is_empty() {
        let n = s.len().min(v.len() - 1);
        v[..n].copy_from_slice(&s.as_bytes()[..n]);
        v[n] = 0;
    }
}

thread_local! {
    /// This thread's last write buffer, taken back once its write completed (as Ceph's
    /// bench reuses its buffers): a fresh one per op would cost more than the write.
    static WRITE_BUF: std::cell::RefCell<Option<bytes::Bytes>> = const { std::cell::RefCell::new(None) };
}

/// Op `index`'s contents, in this thread's reused buffer when the last write let go of it.
fn contents_reused(index: u64, size: usize) -> bytes::Bytes {
    let reused = WRITE_BUF
        .with(|b| b.borrow_mut().take())
        .and_then(|b| b.try_into_mut().ok())
        .filter(|b| b.len() == size);
    let mut buf = reused.unwrap_or_else(|| bytes::BytesMut::from(&contents(0, size)[..]));
    // The stamp is at most 30 bytes; the rest stays 'z's.
    let head = size.min(32);
    buf[..head].fill(b'z');
    stamp(&mut buf[..], index);
    let buf = buf.freeze();
    WRITE_BUF.with(|b| *b.borrow_mut() = Some(buf.clone()));
    buf
}

fn parse_concurrency(opts: &Opts) -> Result<usize> {
    match &opts.concurrent_ios {
        None => Ok(16),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n > 0 && n as usize <= MAX_CONCURRENCY => Ok(n as usize),
            Ok(n) if n > 0 => Err(fail(
                format!("-t {n}: at most {MAX_CONCURRENCY} concurrent operations"),
                1,
            )),
            _ => Err(fail(
                format!("error during benchmark: {}", errno_str(22)),
                1,
            )),
        },
    }
}

fn run_name(opts: &Opts) -> String {
    opts.run_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| BENCH_LASTRUN_METADATA.into())
}

/// (op size, object size, object count, pid) from a metadata object.
fn fetch_metadata(io: &IoCtx, meta: &str) -> std::result::Result<(u64, u64, u64, i32), Error> {
    let d = io.read(meta, 24, 0)?;
    let not_found = || Error::NotFound {
        what: meta.to_string(),
    };
    if d.len() < 16 {
        return Err(not_found());
    }
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&d[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let i32_at = |o: usize| i32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
    let object_size = u64_at(0);
    let num_objects = u64::try_from(i32_at(8)).map_err(|_| not_found())?;
    let pid = i32_at(12);
    let op = if d.len() >= 24 {
        u64_at(16)
    } else {
        object_size
    };
    Ok((op, object_size, num_objects, pid))
}

/// Removes the objects of a run, `threads` at a time (Ceph's fast `clean_up`).
fn clean_up(io: &IoCtx, names: Vec<(String, String)>, threads: usize) -> Result<()> {
    let total = names.len();
    let queue = Mutex::new(names.into_iter());
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.min(total.max(1)) {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((ns, name)) = next else { break };
                let mut io = io.clone();
                io.set_namespace(&ns);
                match io.remove(&name) {
                    Ok(()) | Err(Error::NotFound { .. }) => {}
                    Err(e) => {
                        failure
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(fail(format!("remove got -{}", e.errno()), 1));
    }
    say(&format!(
        "Removed {total} object{}",
        if total == 1 { "" } else { "s" }
    ));
    Ok(())
}

pub fn bench(io: &IoCtx, opts: &Opts, seconds: &str, mode: BenchMode) -> Result<()> {
    let secs: i64 = seconds
        .parse()
        .map_err(|_| fail(format!("Invalid value for seconds: '{seconds}'"), 1))?;
    let secs = secs.max(0) as u64;
    if mode != BenchMode::Write && opts.block_size.is_some() {
        return Err(fail(
            "-b|--block_size option can be used only with 'write' bench test",
            1,
        ));
    }
    let threads = parse_concurrency(opts)?;
    let fmt = format(opts);
    TEXT_TO_STDERR.store(fmt != Format::Plain, Ordering::Relaxed);
    let meta = run_name(opts);
    let bench_err = |e: &Error| fail(format!("error during benchmark: {}", errstr(e)), 1);
    if fmt == Format::Plain {
        say("hints = 1");
    }
    let mut report = Map::new();
    let (op, object_size, num_objects, pid) = match mode {
        BenchMode::Write => (op_size(opts)?, op_size(opts)?, 0, std::process::id() as i32),
        _ => match fetch_metadata(io, &meta) {
            Ok((_, _, 0, _)) | Err(Error::NotFound { .. }) => {
                eprintln!("Must write data before running a read benchmark!");
                return Err(fail(format!("error during benchmark: {}", errno_str(2)), 1));
            }
            Ok(m) => m,
            Err(e) => return Err(bench_err(&e)),
        },
    };
    let sh = Shared {
        stats: Mutex::new(Stats::new()),
        wake: Condvar::new(),
    };
    if !(1..=MAX_OP_SIZE).contains(&op) || threads as u64 * op > MAX_BYTES_IN_USE {
        return Err(fail(
            format!(
                "error during benchmark: {threads} concurrent ops of {op} bytes: ops are 1 byte \
                 to 64 MiB, and at most 4 GiB in all"
            ),
            1,
        ));
    }
    // None: so far ahead that the run ends only when stopped.
    let stop = Instant::now().checked_add(Duration::from_secs(secs));
    let in_time = move |first: bool| first || (secs > 0 && stop.is_none_or(|s| Instant::now() < s));
    let size = op as usize;
    let no_verify = opts.no_verify;
    let read_op = |idx: u64| -> std::result::Result<bool, Error> {
        let name = object_name(pid, idx);
        let data = io.read(&name, op, 0)?;
        if no_verify || data[..] == contents(idx, size)[..] {
            Ok(true)
        } else {
            eprintln!("{name} is not correct!");
            Ok(false)
        }
    };
    let (time, d) = match mode {
        BenchMode::Write => {
            let prefix = format!("{BENCH_PREFIX}_{}_{pid}", hostname());
            if fmt == Format::Plain {
                say(&format!(
                    "Maintaining {threads} concurrent writes of {op} bytes to objects of size \
                     {object_size} for up to {secs} seconds or 0 objects"
                ));
                say(&format!("Object prefix: {prefix}"));
            } else {
                for (k, v) in [
                    ("concurrent_ios", json!(threads)),
                    ("object_size", json!(object_size)),
                    ("op_size", json!(op)),
                    ("seconds_to_run", json!(secs)),
                    ("max_objects", json!(0)),
                    ("object_prefix", json!(prefix)),
                ] {
                    report.insert(k.into(), v);
                }
            }
            let write = |idx: u64| {
                io.write(&object_name(pid, idx), contents_reused(idx, size), 0)
                    .map(|_| true)
            };
            drive(
                &sh,
                threads,
                op,
                fmt,
                &|st, _, first| in_time(first).then_some(st.started),
                &write,
            )?
        }
        BenchMode::Seq => drive(
            &sh,
            threads,
            op,
            fmt,
            &|st, _, first| (st.started < num_objects && in_time(first)).then_some(st.started),
            &read_op,
        )?,
        BenchMode::Rand => drive(
            &sh,
            threads,
            op,
            fmt,
            &|st, slot, first| {
                in_time(first).then(|| match slot as u64 {
                    s if first && s < num_objects => s,
                    _ => st.random() % num_objects,
                })
            },
            &read_op,
        )?,
    };
    let st = sh.lock();
    if let Some(e) = &st.failure {
        if mode != BenchMode::Write {
            eprintln!("read got -{}", e.errno());
        }
        return Err(bench_err(e));
    }
    let bandwidth = if time > 0.0 {
        st.finished as f64 * op as f64 / time / MIB
    } else {
        0.0
    };
    let avg_iops = if time > 0.0 {
        (st.finished as f64 / time) as i64
    } else {
        0
    };
    let (min_bw, max_bw) = if d.bw_cycles == 0 {
        (bandwidth, bandwidth)
    } else {
        (d.min_bw, d.max_bw)
    };
    let (min_iops, max_iops) = if d.min_iops == i64::from(i32::MAX) {
        (avg_iops, avg_iops)
    } else {
        (d.min_iops, d.max_iops)
    };
    let min_lat = if st.finished == 0 {
        0.0
    } else {
        st.min_latency
    };
    let iops_sd = stddev(d.iops_diff_sum, d.iops_cycles);
    let write = mode == BenchMode::Write;
    if fmt == Format::Plain {
        let w =
            |label: &str, v: String| format!("{label:<w$}{v}\n", w = if write { 24 } else { 22 });
        let mut s = w("Total time run:", g(time));
        if write {
            s += &w("Total writes made:", st.finished.to_string());
            s += &w("Write size:", op.to_string());
        } else {
            s += &w("Total reads made:", st.finished.to_string());
            s += &w("Read size:", op.to_string());
        }
        s += &w("Object size:", object_size.to_string());
        s += &w("Bandwidth (MB/sec):", g(bandwidth));
        if write {
            s += &w("Stddev Bandwidth:", g(stddev(d.bw_diff_sum, d.bw_cycles)));
            s += &w("Max bandwidth (MB/sec):", g(max_bw));
            s += &w("Min bandwidth (MB/sec):", g(min_bw));
        }
        s += &w("Average IOPS:", avg_iops.to_string());
        s += &w("Stddev IOPS:", g(iops_sd));
        s += &w("Max IOPS:", max_iops.to_string());
        s += &w("Min IOPS:", min_iops.to_string());
        s += &w("Average Latency(s):", g(st.avg_latency));
        if write {
            s += &w(
                "Stddev Latency(s):",
                g(stddev(st.latency_diff_sum, st.finished)),
            );
        }
        s += &w("Max latency(s):", g(st.max_latency));
        s += &w("Min latency(s):", g(min_lat));
        crate::session::print(&s)?;
    } else {
        report.insert("datas".into(), Value::Array(d.datas));
        let mut put = |k: &str, v: Value| {
            report.insert(k.into(), v);
        };
        put("total_time_run", json!(time));
        put(
            if write {
                "total_writes_made"
            } else {
                "total_reads_made"
            },
            json!(st.finished),
        );
        put(if write { "write_size" } else { "read_size" }, json!(op));
        put("object_size", json!(object_size));
        put("bandwidth", json!(bandwidth));
        if write {
            put(
                "stddev_bandwidth",
                json!(stddev(d.bw_diff_sum, d.bw_cycles)),
            );
            put("max_bandwidth", json!(max_bw));
            put("min_bandwidth", json!(min_bw));
        }
        put("average_iops", json!(avg_iops));
        put("stddev_iops", json!(iops_sd));
        put("max_iops", json!(max_iops));
        put("min_iops", json!(min_iops));
        put("average_latency", json!(st.avg_latency));
        if write {
            put(
                "stddev_latency",
                json!(stddev(st.latency_diff_sum, st.finished)),
            );
        }
        put("max_latency", json!(st.max_latency));
        put("min_latency", json!(min_lat));
    }
    let (finished, bad) = (st.finished, st.bad);
    drop(st);
    if write {
        let mut m = Vec::with_capacity(24);
        m.extend_from_slice(&object_size.to_le_bytes());
        m.extend_from_slice(&(i32::try_from(finished).unwrap_or(i32::MAX)).to_le_bytes());
        m.extend_from_slice(&pid.to_le_bytes());
        m.extend_from_slice(&op.to_le_bytes());
        io.write_full(&meta, m).map_err(|e| bench_err(&e))?;
        if !opts.no_cleanup {
            let t0 = Instant::now();
            say("Cleaning up (deleting benchmark objects)");
            let names = (0..finished).map(|i| (io.namespace().to_string(), object_name(pid, i)));
            clean_up(io, names.collect(), threads)?;
            say(&format!(
                "Clean up completed and total clean up time :{}",
                g(t0.elapsed().as_secs_f64())
            ));
            io.remove(&meta).map_err(|e| bench_err(&e))?;
        }
    }
    if fmt != Format::Plain {
        crate::session::print_json(fmt, &Value::Object(report))?;
    }
    if bad > 0 {
        return Err(fail(format!("error during benchmark: {}", errno_str(5)), 1));
    }
    Ok(())
}

/// `cleanup`: removes a run's objects (by its metadata) or, without metadata, every object
/// whose name starts with the prefix; --all looks in every namespace.
pub fn cleanup(io: &IoCtx, opts: &Opts) -> Result<()> {
    let threads = parse_concurrency(opts)?;
    let meta = run_name(opts);
    let prefix = opts.prefix.clone().unwrap_or_else(prefix_nopid);
    if !prefix.starts_with(BENCH_PREFIX) {
        eprintln!("Specified --prefix invalid, it must begin with \"{BENCH_PREFIX}\"");
        return Err(fail(format!("error during cleanup: {}", errno_str(22)), 1));
    }
    let err = |e: &Error| fail(format!("error during cleanup: {}", errstr(e)), 1);
    let iter = if opts.all && opts.namespace.is_none() {
        io.list_objects_all_namespaces()
    } else {
        io.list_objects()
    };
    let mut with_meta = std::collections::BTreeSet::new();
    let mut matching: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for e in iter {
        let e = e.map_err(|e| err(&e))?;
        if e.name == meta {
            with_meta.insert(e.namespace.clone());
        }
        if e.name.starts_with(&prefix) {
            matching.entry(e.namespace).or_default().push(e.name);
        }
    }
    for (ns, names) in matching {
        let mut nio = io.clone();
        nio.set_namespace(&ns);
        if with_meta.contains(&ns) {
            let (_, _, num, pid) = fetch_metadata(&nio, &meta).map_err(|e| err(&e))?;
            let names = (0..num).map(|i| (ns.clone(), object_name(pid, i)));
            clean_up(&nio, names.collect(), threads)?;
            nio.remove(&meta).map_err(|e| err(&e))?;
        } else {
            say("Warning: using slow linear search");
            clean_up(
                &nio,
                names.into_iter().map(|n| (ns.clone(), n)).collect(),
                threads,
            )?;
        }
    }
    Ok(())
}

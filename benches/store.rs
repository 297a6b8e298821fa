//! Object store benchmark: the disk store beside a raw baseline (plain files with fdatasync,
//! same sizes and concurrency) on the same filesystem, in one run.
//!
//! ```text
//! cargo bench -p rados-benches --bench store -- [--dir DIR] [--rounds N] [--objects N] [--quick]
//!     [--case big|small|reads|open|clone]...
//! ```
//! Cases: 4 MiB writes with 16 in flight (bandwidth vs raw); 4 KiB durable writes with 1 and 16
//! in flight (group commit) vs 16 raw fsync writers; 4 KiB reads of cached objects on one
//! thread; opening a store holding `--objects` (default 1,000,000) small objects, in a fresh
//! process, with its time and peak resident memory; cloning a 4 MiB object (what a write right
//! after a snapshot does first) after 1, 4, 16 or 64 of its 64 KiB chunks were rewritten by
//! 4 KiB writes, beside a plain 4 KiB write. Prints medians over `--rounds` (default 3);
//! raw and store runs alternate within each round and ratios are medians of per-round ratios.

use anyhow::{bail, Context, Result};
use librados::store::*;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const C: CollectionId = CollectionId { pool: 1, seed: 0 };
const MIB: u64 = 1 << 20;

fn oid(prefix: &str, i: u64) -> ObjectId {
    let name = format!("{prefix}{i}");
    ObjectId::new(1, &name, librados::hash::str_hash_rjenkins(name.as_bytes()))
}

struct Args {
    dir: PathBuf,
    rounds: usize,
    objects: u64,
    quick: bool,
    /// Only the cases named (`big`, `small`, `reads`, `open`, `clone`); all when empty.
    cases: Vec<String>,
}

impl Args {
    fn runs(&self, case: &str) -> bool {
        self.cases.is_empty() || self.cases.iter().any(|c| c == case)
    }
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        dir: std::env::temp_dir(),
        rounds: 3,
        objects: 1_000_000,
        quick: false,
        cases: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().with_context(|| format!("{arg} needs {what}"));
        match arg.as_str() {
            "--dir" => a.dir = value("a directory")?.into(),
            "--rounds" => a.rounds = value("a count")?.parse().context("--rounds N")?,
            "--objects" => a.objects = value("a count")?.parse().context("--objects N")?,
            "--case" => a.cases.push(value("big, small, reads, open or clone")?),
            "--quick" => a.quick = true,
            _ => {} // cargo bench passes --bench
        }
    }
    if a.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if let Some(bad) = a
        .cases
        .iter()
        .find(|c| !["big", "small", "reads", "open", "clone"].contains(&c.as_str()))
    {
        bail!("unknown case {bad:?}: use big, small, reads, open or clone");
    }
    Ok(a)
}

/// Incompressible bytes, so that no layer's compression flatters it.
fn noise(len: usize) -> bytes::Bytes {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// The median of a non-empty set of samples.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn fresh_store(dir: &Path) -> Result<Arc<DiskStore>> {
    let _ = std::fs::remove_dir_all(dir);
    let s =
        DiskStore::open(dir).with_context(|| format!("opening a store in {}", dir.display()))?;
    let mut t = Transaction::new();
    t.create_collection(C, 0);
    s.apply_transaction(t)?;
    Ok(Arc::new(s))
}

/// Runs `threads` workers, each calling `op(thread, i)` for i = 0.. until `per_thread` ops,
/// `limit` elapsed or an error (which stops every worker); returns ops per second.
fn run_threads(
    threads: u64,
    per_thread: u64,
    limit: Duration,
    op: impl Fn(u64, u64) -> Result<()> + Sync,
) -> Result<f64> {
    let done = AtomicU64::new(0);
    let failed = std::sync::Mutex::new(None);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, done, failed) = (&op, &done, &failed);
            s.spawn(move || {
                for i in 0..per_thread {
                    if let Err(e) = op(t, i) {
                        failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    let stop = failed.lock().map(|f| f.is_some()).unwrap_or(true);
                    if stop || start.elapsed() > limit {
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

fn raw_writers(
    dir: &Path,
    threads: u64,
    size: u64,
    per_thread: u64,
    limit: Duration,
) -> Result<f64> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = (0..threads)
        .map(|t| File::create(dir.join(format!("raw{t}"))))
        .collect::<std::io::Result<Vec<File>>>()
        .with_context(|| format!("creating files in {}", dir.display()))?;
    let buf = noise(size as usize);
    let rate = run_threads(threads, per_thread, limit, |t, i| {
        let f = &files[t as usize];
        f.write_all_at(&buf, i * size)?;
        f.sync_data()?;
        Ok(())
    });
    let _ = std::fs::remove_dir_all(dir);
    rate
}

fn store_writers(
    dir: &Path,
    threads: u64,
    size: u64,
    per_thread: u64,
    limit: Duration,
) -> Result<f64> {
    let s = fresh_store(dir)?;
    let buf = noise(size as usize);
    let rate = run_threads(threads, per_thread, limit, |t, i| {
        let mut txn = Transaction::new();
        txn.write(C, &oid(&format!("t{t}."), i), 0, buf.clone());
        Ok(s.apply_transaction(txn)?)
    });
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    rate
}

/// One thread keeping `window` transactions in flight through the asynchronous commit handle,
/// as the OSD drives the store.
fn store_pipelined(dir: &Path, window: usize, size: u64, limit: Duration) -> Result<f64> {
    let s = fresh_store(dir)?;
    let buf = noise(size as usize);
    let mut pending = std::collections::VecDeque::new();
    let start = Instant::now();
    let mut done = 0u64;
    for i in 0.. {
        let mut txn = Transaction::new();
        txn.write(C, &oid("p", i), 0, buf.clone());
        pending.push_back(s.queue_transaction(txn)?);
        if pending.len() >= window {
            if let Some(c) = pending.pop_front() {
                c.wait()?;
            }
            done += 1;
            if start.elapsed() > limit {
                break;
            }
        }
    }
    for c in pending {
        c.wait()?;
        done += 1;
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    Ok(rate)
}

/// Writes `objects` objects of `buf` named `prefix0..`, 1000 per transaction.
fn populate(
    s: &DiskStore,
    prefix: &str,
    objects: u64,
    buf: &bytes::Bytes,
    progress: bool,
) -> Result<()> {
    for chunk in 0..objects.div_ceil(1000) {
        let mut txn = Transaction::new();
        for i in chunk * 1000..((chunk + 1) * 1000).min(objects) {
            txn.write(C, &oid(prefix, i), 0, buf.clone());
        }
        s.apply_transaction(txn)?;
        if progress && chunk % 100 == 99 {
            eprint!(
                "\r  populating: {} of {objects} objects",
                (chunk + 1) * 1000
            );
        }
    }
    Ok(())
}

fn reads(dir: &Path, objects: u64, limit: Duration) -> Result<f64> {
    let s = fresh_store(dir)?;
    populate(&s, "r", objects, &noise(4096), false)?;
    let ids: Vec<ObjectId> = (0..objects).map(|i| oid("r", i)).collect();
    for o in &ids {
        s.read(C, o, 0, 4096)?; // warm the cache
    }
    let rate = run_threads(1, u64::MAX, limit, |_, i| {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17;
        let o = &ids[(x % objects) as usize];
        let got = s.read(C, o, 0, 4096)?.len();
        if got != 4096 {
            bail!("{o}: read {got} bytes, wrote 4096");
        }
        Ok(())
    });
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    rate
}

/// Over `objects` 4 MiB objects, the average ms of a 4 KiB write that makes `rewritten` the
/// number of the object's 64 KiB chunks (the first ones) overwritten by 4 KiB writes, then of a
/// clone of the object.
fn clones(dir: &Path, objects: u64, rewritten: u64) -> Result<(f64, f64)> {
    let s = fresh_store(dir)?;
    let (big, small) = (noise(4 * MIB as usize), noise(4096));
    let ids: Vec<ObjectId> = (0..objects).map(|i| oid("c", i)).collect();
    for o in &ids {
        let mut txn = Transaction::new();
        txn.write(C, o, 0, big.clone());
        s.apply_transaction(txn)?;
        for chunk in 0..rewritten.max(1) - 1 {
            let mut txn = Transaction::new();
            txn.write(C, o, chunk * 65536 + 4096, small.clone());
            s.apply_transaction(txn)?;
        }
    }
    let timed = |op: &dyn Fn(&ObjectId) -> Transaction| -> Result<f64> {
        let start = Instant::now();
        for o in &ids {
            s.apply_transaction(op(o))?;
        }
        Ok(start.elapsed().as_secs_f64() * 1e3 / objects as f64)
    };
    // The last rewritten chunk: the plain writes bring the count to `rewritten`.
    let last = (rewritten.max(1) - 1) * 65536 + 8192;
    let write_ms = timed(&|o| {
        let mut txn = Transaction::new();
        txn.write(C, o, last, small.clone());
        txn
    })?;
    let clone_ms = timed(&|o| {
        let mut txn = Transaction::new();
        txn.clone_object(C, o, &o.clone().with_snap(1));
        txn
    })?;
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    Ok((write_ms, clone_ms))
}

fn populate_small(dir: &Path, objects: u64) -> Result<()> {
    let s = fresh_store(dir)?;
    let start = Instant::now();
    populate(&s, "s", objects, &bytes::Bytes::from(vec![7u8; 128]), true)?;
    eprintln!(
        "\r  populated {objects} objects in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// In a fresh process: open the store, stat one object, print seconds and peak RSS.
fn open_child(dir: &Path) -> Result<()> {
    let start = Instant::now();
    let s = DiskStore::open(dir)?;
    let secs = start.elapsed().as_secs_f64();
    let st = s.statfs()?;
    s.stat(C, &oid("s", 12345 % st.objects.max(1)))?;
    println!("OPEN {secs} {} {}", proc_status_kib("VmHWM:"), st.objects);
    Ok(())
}

fn open_in_child(dir: &Path) -> Result<(f64, u64, u64)> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--open-child")
        .arg(dir)
        .output()
        .context("starting the open child")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find(|l| l.starts_with("OPEN ")) else {
        bail!(
            "the open child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    let field = |i: usize| f.get(i).copied().unwrap_or("");
    Ok((field(1).parse()?, field(2).parse()?, field(3).parse()?))
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--open-child") {
        let dir = argv.get(i + 1).context("--open-child needs a directory")?;
        return open_child(Path::new(dir));
    }
    let mut args = parse_args()?;
    // `cargo test --all-targets` runs this without `--bench`: a short smoke run then.
    let smoke = !std::env::args().any(|a| a == "--bench");
    if smoke {
        args.rounds = 1;
        args.objects = args.objects.min(2000);
        args.quick = true;
    }
    let root = args
        .dir
        .join(format!("rados-store-bench-{}", std::process::id()));
    let result = run(&args, &root, smoke);
    let _ = std::fs::remove_dir_all(&root);
    result
}

fn run(args: &Args, root: &Path, smoke: bool) -> Result<()> {
    let (raw_dir, store_dir) = (root.join("raw"), root.join("store"));
    let limit = match (smoke, args.quick) {
        (true, _) => Duration::from_millis(200),
        (false, true) => Duration::from_secs(1),
        (false, false) => Duration::from_secs(4),
    };
    println!(
        "store benchmark in {} ({} rounds)",
        root.display(),
        args.rounds
    );
    println!("| case | raw baseline | store | ratio |");
    println!("| --- | --- | --- | --- |");
    if args.runs("big") {
        // Raw and store alternate round by round, and the ratio is the median of the rounds'
        // ratios, so that the disk's drift over the run does not favour either side.
        let (mut raw, mut st, mut ratio) = (vec![], vec![], vec![]);
        for round in 0..args.rounds {
            eprintln!("  4 MiB writes, round {} of {}", round + 1, args.rounds);
            let r = raw_writers(&raw_dir, 16, 4 * MIB, 16, limit)? * 4.0;
            let s = store_writers(&store_dir, 16, 4 * MIB, 16, limit)? * 4.0;
            raw.push(r);
            st.push(s);
            ratio.push(s / r);
        }
        let (raw, st, ratio) = (median(raw), median(st), median(ratio));
        println!(
            "| 4 MiB writes, 16 in flight | {raw:.0} MiB/s | {st:.0} MiB/s | {ratio:.2} of raw |"
        );
    }
    if args.runs("small") {
        let (mut one, mut sixteen, mut raw16, mut piped) = (vec![], vec![], vec![], vec![]);
        for round in 0..args.rounds {
            eprintln!("  small writes, round {} of {}", round + 1, args.rounds);
            raw16.push(raw_writers(&raw_dir, 16, 4096, u64::MAX, limit)?);
            one.push(store_writers(&store_dir, 1, 4096, u64::MAX, limit)?);
            sixteen.push(store_writers(&store_dir, 16, 4096, u64::MAX, limit)?);
            piped.push(store_pipelined(&store_dir, 16, 4096, limit)?);
        }
        let ratio = |a: &[f64], b: &[f64]| median(a.iter().zip(b).map(|(x, y)| x / y).collect());
        let (r16_raw, r16_one) = (ratio(&sixteen, &raw16), ratio(&sixteen, &one));
        let (rp_raw, rp_one) = (ratio(&piped, &raw16), ratio(&piped, &one));
        let (one, sixteen, raw16, piped) =
            (median(one), median(sixteen), median(raw16), median(piped));
        println!("| 4 KiB durable writes, 1 in flight | | {one:.0} commits/s | |");
        println!("| 4 KiB durable writes, 16 threads | {raw16:.0} fsyncs/s (16 writers) | {sixteen:.0} commits/s | {r16_raw:.2}x raw, {r16_one:.1}x 1-in-flight |");
        println!("| 4 KiB durable writes, 16 in flight from one thread | {raw16:.0} fsyncs/s (16 writers) | {piped:.0} commits/s | {rp_raw:.2}x raw, {rp_one:.1}x 1-in-flight |");
    }
    if args.runs("reads") {
        let objects = if smoke { 1000 } else { 10_000 };
        let rates = (0..args.rounds)
            .map(|_| reads(&store_dir, objects, limit))
            .collect::<Result<Vec<f64>>>()?;
        println!(
            "| 4 KiB reads of cached objects, 1 thread | | {:.0} reads/s | |",
            median(rates)
        );
    }
    if args.runs("clone") {
        let objects = if smoke { 4 } else { 32 };
        for rewritten in [1, 4, 16, 64] {
            let runs = (0..args.rounds)
                .map(|_| clones(&store_dir, objects, rewritten))
                .collect::<Result<Vec<(f64, f64)>>>()?;
            let write = median(runs.iter().map(|r| r.0).collect());
            let clone = median(runs.iter().map(|r| r.1).collect());
            println!(
                "| clone a 4 MiB object with {rewritten} of 64 chunks rewritten | | \
                 clone {clone:.2} ms, 4 KiB write {write:.2} ms | {:.1}x a write |",
                clone / write
            );
        }
    }
    if args.runs("open") {
        populate_small(&store_dir, args.objects)?;
        let opens = (0..args.rounds)
            .map(|_| open_in_child(&store_dir))
            .collect::<Result<Vec<(f64, u64, u64)>>>()?;
        let secs = median(opens.iter().map(|o| o.0).collect());
        let rss = opens.iter().map(|o| o.1).max().unwrap_or(0);
        let count = opens.first().map_or(0, |o| o.2);
        println!(
            "| open with {count} objects (fresh process) | | {secs:.3} s, peak RSS {:.0} MiB | |",
            rss as f64 / 1024.0
        );
    }
    Ok(())
}

//! Object store benchmark: the disk store beside a raw baseline (plain files with fdatasync,
//! same sizes and concurrency) on the same filesystem, in one run.
//!
//! ```text
//! cargo bench -p rados-benches --bench store -- [--dir DIR] [--rounds N] [--objects N] [--quick]
//!     [--case big|small|reads|open]...
//! ```
//! Cases: 4 MiB writes with 16 in flight (bandwidth vs raw); 4 KiB durable writes with 1 and 16
//! in flight (group commit) vs 16 raw fsync writers; 4 KiB reads of cached objects on one
//! thread; opening a store holding `--objects` (default 1,000,000) small objects, in a fresh
//! process, with its time and peak resident memory. Prints medians over `--rounds` (default 3);
//! raw and store runs alternate within each round and ratios are medians of per-round ratios.

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
    /// Only the cases named (`big`, `small`, `reads`, `open`); all when empty.
    cases: Vec<String>,
}

impl Args {
    fn runs(&self, case: &str) -> bool {
        self.cases.is_empty() || self.cases.iter().any(|c| c == case)
    }
}

fn parse_args() -> Args {
    let mut a = Args {
        dir: std::env::temp_dir(),
        rounds: 3,
        objects: 1_000_000,
        quick: false,
        cases: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => a.dir = it.next().expect("--dir needs a path").into(),
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--objects" => a.objects = it.next().and_then(|v| v.parse().ok()).expect("--objects N"),
            "--quick" => a.quick = true,
            "--case" => a.cases.push(it.next().expect("--case NAME")),
            _ => {} // cargo bench passes --bench
        }
    }
    a
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn fresh_store(dir: &Path) -> Arc<DiskStore> {
    let _ = std::fs::remove_dir_all(dir);
    let s = DiskStore::open(dir).expect("open store");
    let mut t = Transaction::new();
    t.create_collection(C, 0);
    s.apply_transaction(t).expect("create collection");
    Arc::new(s)
}

/// Runs `threads` workers, each calling `op(thread, i)` for i = 0.. until `per_thread` ops or
/// `limit` elapsed; returns ops per second.
fn run_threads(
    threads: u64,
    per_thread: u64,
    limit: Duration,
    op: impl Fn(u64, u64) + Sync,
) -> f64 {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, done) = (&op, &done);
            s.spawn(move || {
                for i in 0..per_thread {
                    op(t, i);
                    done.fetch_add(1, Ordering::Relaxed);
                    if start.elapsed() > limit {
                        break;
                    }
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn raw_writers(dir: &Path, threads: u64, size: u64, per_thread: u64, limit: Duration) -> f64 {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let files: Vec<File> = (0..threads)
        .map(|t| File::create(dir.join(format!("raw{t}"))).unwrap())
        .collect();
    let buf = noise(size as usize);
    let rate = run_threads(threads, per_thread, limit, |t, i| {
        let f = &files[t as usize];
        f.write_all_at(&buf, i * size).unwrap();
        f.sync_data().unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
    rate
}

fn store_writers(dir: &Path, threads: u64, size: u64, per_thread: u64, limit: Duration) -> f64 {
    let s = fresh_store(dir);
    let buf = noise(size as usize);
    let rate = run_threads(threads, per_thread, limit, |t, i| {
        let mut txn = Transaction::new();
        txn.write(C, &oid(&format!("t{t}."), i), 0, buf.clone());
        s.apply_transaction(txn).unwrap();
    });
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    rate
}

/// One thread keeping `window` transactions in flight through the asynchronous commit handle,
/// as the OSD drives the store.
fn store_pipelined(dir: &Path, window: usize, size: u64, limit: Duration) -> f64 {
    let s = fresh_store(dir);
    let buf = noise(size as usize);
    let mut pending = std::collections::VecDeque::new();
    let start = Instant::now();
    let mut done = 0u64;
    for i in 0.. {
        let mut txn = Transaction::new();
        txn.write(C, &oid("p", i), 0, buf.clone());
        pending.push_back(s.queue_transaction(txn).unwrap());
        if pending.len() >= window {
            pending.pop_front().unwrap().wait().unwrap();
            done += 1;
            if start.elapsed() > limit {
                break;
            }
        }
    }
    for c in pending {
        c.wait().unwrap();
        done += 1;
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    rate
}

fn reads(dir: &Path, objects: u64, limit: Duration) -> f64 {
    let s = fresh_store(dir);
    let buf = noise(4096);
    for chunk in 0..objects.div_ceil(1000) {
        let mut txn = Transaction::new();
        for i in chunk * 1000..((chunk + 1) * 1000).min(objects) {
            txn.write(C, &oid("r", i), 0, buf.clone());
        }
        s.apply_transaction(txn).unwrap();
    }
    let ids: Vec<ObjectId> = (0..objects).map(|i| oid("r", i)).collect();
    for o in &ids {
        s.read(C, o, 0, 4096).unwrap(); // warm the cache
    }
    let rate = run_threads(1, u64::MAX, limit, |_, i| {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17;
        let o = &ids[(x % objects) as usize];
        assert_eq!(s.read(C, o, 0, 4096).unwrap().len(), 4096);
    });
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
    rate
}

fn populate_small(dir: &Path, objects: u64) {
    let s = fresh_store(dir);
    let buf = bytes::Bytes::from(vec![7u8; 128]);
    let start = Instant::now();
    for chunk in 0..objects.div_ceil(1000) {
        let mut txn = Transaction::new();
        for i in chunk * 1000..((chunk + 1) * 1000).min(objects) {
            txn.write(C, &oid("s", i), 0, buf.clone());
        }
        s.apply_transaction(txn).unwrap();
        if chunk % 100 == 99 {
            eprint!(
                "\r  populating: {} of {objects} objects",
                (chunk + 1) * 1000
            );
        }
    }
    eprintln!(
        "\r  populated {objects} objects in {:.1} s",
        start.elapsed().as_secs_f64()
    );
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
fn open_child(dir: &Path) {
    let start = Instant::now();
    let s = DiskStore::open(dir).expect("open");
    let secs = start.elapsed().as_secs_f64();
    let st = s.statfs().unwrap();
    s.stat(C, &oid("s", 12345 % st.objects.max(1))).unwrap();
    println!("OPEN {secs} {} {}", proc_status_kib("VmHWM:"), st.objects);
}

fn open_in_child(dir: &Path) -> (f64, u64, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--open-child")
        .arg(dir)
        .output()
        .expect("spawn open child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("OPEN "))
        .unwrap_or_else(|| panic!("child failed: {}", String::from_utf8_lossy(&out.stderr)));
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].parse().unwrap(),
    )
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--open-child") {
        open_child(Path::new(&argv[i + 1]));
        return;
    }
    let mut args = parse_args();
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
    let rounds = |f: &mut dyn FnMut() -> f64| median((0..args.rounds).map(|_| f()).collect());
    if args.runs("big") {
        // Raw and store alternate round by round, and the ratio is the median of the rounds'
        // ratios, so that the disk's drift over the run does not favour either side.
        let (mut raw, mut st, mut ratio) = (vec![], vec![], vec![]);
        for round in 0..args.rounds {
            eprintln!("  4 MiB writes, round {} of {}", round + 1, args.rounds);
            let r = raw_writers(&raw_dir, 16, 4 * MIB, 16, limit) * 4.0;
            let s = store_writers(&store_dir, 16, 4 * MIB, 16, limit) * 4.0;
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
            raw16.push(raw_writers(&raw_dir, 16, 4096, u64::MAX, limit));
            one.push(store_writers(&store_dir, 1, 4096, u64::MAX, limit));
            sixteen.push(store_writers(&store_dir, 16, 4096, u64::MAX, limit));
            piped.push(store_pipelined(&store_dir, 16, 4096, limit));
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
        let r = rounds(&mut || reads(&store_dir, objects, limit));
        println!("| 4 KiB reads of cached objects, 1 thread | | {r:.0} reads/s | |");
    }
    if args.runs("open") {
        populate_small(&store_dir, args.objects);
        let opens: Vec<(f64, u64, u64)> = (0..args.rounds)
            .map(|_| open_in_child(&store_dir))
            .collect();
        let secs = median(opens.iter().map(|o| o.0).collect());
        let rss = opens.iter().map(|o| o.1).max().unwrap_or(0);
        println!(
            "| open with {} objects (fresh process) | | {secs:.3} s, peak RSS {:.0} MiB | |",
            opens[0].2,
            rss as f64 / 1024.0
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

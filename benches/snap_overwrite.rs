//! "Writes right after a snapshot pay one clone": 4 KiB overwrites of 4 MiB objects on the
//! embedded cluster, without a snapshot (phase A) and right after a fresh pool snapshot (phase
//! B, where each object's first write clones its head). `snap_overwrite_ceph.py` runs the same
//! workload on a Ceph cluster; `snap_overwrite_vs_ceph.sh` runs both and prints one table.
//!
//! ```text
//! cargo build --release -p rados-benches --bin snap_overwrite
//! target/release/snap_overwrite [--dir DIR] [--objects 64] [--rounds 5] [--depth 16]
//!     [--pg-num 32] [--seed 1] [--refill]
//! ```
//! Workload: a fresh size-3 pool; `--objects` objects written fully (4 MiB each); a warm-up
//! pass; then per round:
//! - A16: one 4 KiB write at a random 4 KiB-aligned offset of every object, `--depth` in flight
//!   (async API) — IOPS;
//! - A1: the same pass one write at a time (blocking API) — average latency;
//! - snapshot, B16: a pass like A16 (new offsets), each write now cloning its object's head;
//! - another snapshot, B1: a pass like A1 (each write clones again);
//! - both snapshots removed, then a wait until the trimmer has removed every clone, so that the
//!   next round starts from heads without clones (the wait is reported as `trim`).
//!
//! `--refill` (a diagnostic, not in the Python script) writes every object in full again before
//! each round, untimed, so that each round starts from freshly written heads.
//!
//! Offsets come from `offset_of(seed, round, pass, object)`, which the Python script computes
//! identically, so both sides write the same offsets. The last line is a `RESULT` line of
//! medians over the rounds; cost ratios (`b_over_a`) are medians of per-round ratios.

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use librados::{IoCtx, Rados};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const OBJECT_BYTES: u64 = 4 << 20;
const WRITE_BYTES: u64 = 4096;
const POOL: &str = "snapbench";
/// Longest wait for the trimmer to remove a round's clones.
const TRIM_WAIT_MAX: Duration = Duration::from_secs(600);

/// Passes whose offsets `offset_of` distinguishes (the Python script uses the same numbers).
#[derive(Clone, Copy)]
enum Pass {
    Warmup = 0,
    A16 = 1,
    A1 = 2,
    B16 = 3,
    B1 = 4,
}

struct Args {
    dir: PathBuf,
    objects: u64,
    rounds: u64,
    depth: usize,
    pg_num: u32,
    seed: u64,
    refill: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        dir: std::env::temp_dir(),
        objects: 64,
        rounds: 5,
        depth: 16,
        pg_num: 32,
        seed: 1,
        refill: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().with_context(|| format!("{arg} needs {what}"));
        match arg.as_str() {
            "--dir" => a.dir = value("a directory")?.into(),
            "--objects" => a.objects = value("a count")?.parse().context("--objects N")?,
            "--rounds" => a.rounds = value("a count")?.parse().context("--rounds N")?,
            "--depth" => a.depth = value("a count")?.parse().context("--depth N")?,
            "--pg-num" => a.pg_num = value("a count")?.parse().context("--pg-num N")?,
            "--seed" => a.seed = value("a number")?.parse().context("--seed N")?,
            "--refill" => a.refill = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    ensure!(
        a.objects >= 1 && a.rounds >= 1 && a.depth >= 1,
        "counts must be at least 1"
    );
    Ok(a)
}

/// SplitMix64: the offsets' generator, small enough to repeat exactly in Python.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 4 KiB-aligned offset of `object`'s write in `pass` of `round`.
fn offset_of(seed: u64, round: u64, pass: Pass, object: u64) -> u64 {
    let key = seed ^ (round << 40) ^ ((pass as u64) << 32) ^ object;
    splitmix64(key) % (OBJECT_BYTES / WRITE_BYTES) * WRITE_BYTES
}

fn object_name(i: u64) -> String {
    format!("snapbench_obj_{i}")
}

/// Incompressible bytes, different for each `seed`.
fn noise(len: u64, seed: u64) -> Bytes {
    let mut x = splitmix64(seed) | 1;
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
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// What one timed pass measured.
#[derive(Clone, Copy)]
struct PassResult {
    iops: f64,
    avg_lat_ms: f64,
}

/// Writes `(object, offset)` pairs with `depth` in flight through the async API, on one
/// thread (as Ceph's aio_write with completions does).
fn pass_async(
    rt: &tokio::runtime::Runtime,
    io: &IoCtx,
    writes: Vec<(u64, u64)>,
    data: Bytes,
    depth: usize,
) -> Result<PassResult> {
    let aio = io.aio();
    let n = writes.len();
    rt.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        let mut queue = writes.into_iter();
        let mut lat_sum = 0.0;
        let start = Instant::now();
        loop {
            while set.len() < depth {
                let Some((obj, off)) = queue.next() else {
                    break;
                };
                let (aio, data) = (aio.clone(), data.clone());
                set.spawn(async move {
                    let t0 = Instant::now();
                    let r = aio.write(&object_name(obj), data, off).await;
                    r.map(|()| t0.elapsed().as_secs_f64())
                        .with_context(|| format!("writing {} at {off}", object_name(obj)))
                });
            }
            let Some(done) = set.join_next().await else {
                break;
            };
            lat_sum += done.context("a write task failed")??;
        }
        let secs = start.elapsed().as_secs_f64();
        Ok(PassResult {
            iops: n as f64 / secs,
            avg_lat_ms: lat_sum / n as f64 * 1e3,
        })
    })
}

/// The same writes one at a time through the blocking API.
fn pass_sync(io: &IoCtx, writes: &[(u64, u64)], data: &Bytes) -> Result<PassResult> {
    let start = Instant::now();
    for &(obj, off) in writes {
        io.write(&object_name(obj), data.clone(), off)
            .with_context(|| format!("writing {} at {off}", object_name(obj)))?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(PassResult {
        iops: writes.len() as f64 / secs,
        avg_lat_ms: secs / writes.len() as f64 * 1e3,
    })
}

/// Clones (not counting the head) of every object.
fn clone_counts(io: &IoCtx, objects: u64) -> Result<Vec<usize>> {
    (0..objects)
        .map(|i| {
            let l = io.list_snaps(&object_name(i))?;
            Ok(l.clones
                .iter()
                .filter(|c| c.id != librados::client::SNAP_HEAD)
                .count())
        })
        .collect()
}

/// Waits until no object has a clone left; returns the seconds it took.
fn wait_trimmed(io: &IoCtx, objects: u64) -> Result<f64> {
    let start = Instant::now();
    loop {
        let left: usize = clone_counts(io, objects)?.iter().sum();
        if left == 0 {
            return Ok(start.elapsed().as_secs_f64());
        }
        ensure!(
            start.elapsed() < TRIM_WAIT_MAX,
            "{left} clones still there {TRIM_WAIT_MAX:?} after removing the snapshots"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Bench<'a> {
    args: &'a Args,
    rt: tokio::runtime::Runtime,
    io: IoCtx,
}

impl Bench<'_> {
    fn writes(&self, round: u64, pass: Pass) -> Vec<(u64, u64)> {
        (0..self.args.objects)
            .map(|o| (o, offset_of(self.args.seed, round, pass, o)))
            .collect()
    }

    fn data(&self, round: u64, pass: Pass) -> Bytes {
        noise(WRITE_BYTES, self.args.seed ^ (round << 8) ^ pass as u64)
    }

    fn run_async(&self, round: u64, pass: Pass) -> Result<PassResult> {
        let data = self.data(round, pass);
        pass_async(
            &self.rt,
            &self.io,
            self.writes(round, pass),
            data,
            self.args.depth,
        )
    }

    fn run_sync(&self, round: u64, pass: Pass) -> Result<PassResult> {
        pass_sync(&self.io, &self.writes(round, pass), &self.data(round, pass))
    }

    /// Takes a pool snapshot; returns how long `snap_create` took, in ms.
    fn snap(&self, name: &str) -> Result<f64> {
        let t0 = Instant::now();
        self.io
            .snap_create(name)
            .with_context(|| format!("mksnap {name}"))?;
        Ok(t0.elapsed().as_secs_f64() * 1e3)
    }

    /// Every object must have gained a clone in the pass just run (else B measured nothing).
    fn check_cloned(&self, want: usize) -> Result<()> {
        let counts = clone_counts(&self.io, self.args.objects)?;
        if let Some((i, n)) = counts.iter().enumerate().find(|(_, n)| **n != want) {
            bail!(
                "{} has {n} clones after the pass, expected {want}",
                object_name(i as u64)
            );
        }
        Ok(())
    }

    fn populate(&self) -> Result<()> {
        let t0 = Instant::now();
        let aio = self.io.aio();
        let data = noise(OBJECT_BYTES, self.args.seed);
        let (objects, depth) = (self.args.objects, self.args.depth);
        self.rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            let mut next = 0;
            loop {
                while set.len() < depth && next < objects {
                    let (aio, data, name) = (aio.clone(), data.clone(), object_name(next));
                    set.spawn(async move { aio.write_full(&name, data).await });
                    next += 1;
                }
                let Some(done) = set.join_next().await else {
                    break;
                };
                done.context("a write task failed")?.context("write_full")?;
            }
            anyhow::Ok(())
        })?;
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "populated {objects} objects of 4 MiB in {secs:.1} s ({:.0} MiB/s)",
            (objects * 4) as f64 / secs
        );
        Ok(())
    }
}

/// One round's figures.
struct Round {
    a16: PassResult,
    a1: PassResult,
    b16: PassResult,
    b1: PassResult,
    mksnap_ms: f64,
    trim_s: f64,
}

fn round(b: &Bench, r: u64) -> Result<Round> {
    let a16 = b.run_async(r, Pass::A16)?;
    let a1 = b.run_sync(r, Pass::A1)?;
    let (s1, s2) = (format!("snapbench-{r}-1"), format!("snapbench-{r}-2"));
    let mksnap1 = b.snap(&s1)?;
    let b16 = b.run_async(r, Pass::B16)?;
    b.check_cloned(1)?;
    let mksnap2 = b.snap(&s2)?;
    let b1 = b.run_sync(r, Pass::B1)?;
    b.check_cloned(2)?;
    b.io.snap_remove(&s1)
        .with_context(|| format!("rmsnap {s1}"))?;
    b.io.snap_remove(&s2)
        .with_context(|| format!("rmsnap {s2}"))?;
    let trim_s = wait_trimmed(&b.io, b.args.objects)?;
    Ok(Round {
        a16,
        a1,
        b16,
        b1,
        mksnap_ms: (mksnap1 + mksnap2) / 2.0,
        trim_s,
    })
}

fn print_round(r: u64, x: &Round) {
    println!(
        "round {r}: A {:.0} IOPS (16-lat {:.2} ms), 1-lat {:.3} ms | B {:.0} IOPS (16-lat {:.2} ms), \
         1-lat {:.3} ms | B/A cost {:.2}x (16), {:.2}x (1) | mksnap {:.1} ms | trim {:.1} s",
        x.a16.iops,
        x.a16.avg_lat_ms,
        x.a1.avg_lat_ms,
        x.b16.iops,
        x.b16.avg_lat_ms,
        x.b1.avg_lat_ms,
        x.a16.iops / x.b16.iops,
        x.b1.avg_lat_ms / x.a1.avg_lat_ms,
        x.mksnap_ms,
        x.trim_s
    );
}

fn summary(args: &Args, rounds: &[Round]) {
    let m = |f: &dyn Fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    println!(
        "RESULT side=ours objects={} rounds={} depth={} iops_a={:.0} iops_b={:.0} \
         b_over_a={:.2} lat_a_ms={:.3} lat_b_ms={:.3} lat_b_over_a={:.2} mksnap_ms={:.1} \
         trim_s={:.1}",
        args.objects,
        rounds.len(),
        args.depth,
        m(&|x| x.a16.iops),
        m(&|x| x.b16.iops),
        m(&|x| x.a16.iops / x.b16.iops),
        m(&|x| x.a1.avg_lat_ms),
        m(&|x| x.b1.avg_lat_ms),
        m(&|x| x.b1.avg_lat_ms / x.a1.avg_lat_ms),
        m(&|x| x.mksnap_ms),
        m(&|x| x.trim_s),
    );
}

fn run(args: &Args, root: &std::path::Path) -> Result<()> {
    let t0 = Instant::now();
    let rados = Rados::embedded(root).context("opening the embedded cluster")?;
    rados
        .create_pool_with(POOL, Some(args.pg_num), Some(3))
        .context("creating the pool")?;
    let io = rados.ioctx(POOL)?;
    println!(
        "embedded cluster in {}, pool {POOL} (size 3, {} PGs) ready in {:.1} s",
        root.display(),
        args.pg_num,
        t0.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let b = Bench { args, rt, io };
    b.populate()?;
    let w = b.run_async(0, Pass::Warmup)?;
    println!("warm-up pass: {:.0} IOPS", w.iops);
    let mut rounds = Vec::new();
    for r in 1..=args.rounds {
        if args.refill && r > 1 {
            b.populate()?;
        }
        let x = round(&b, r)?;
        print_round(r, &x);
        rounds.push(x);
    }
    summary(args, &rounds);
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let root = args
        .dir
        .join(format!("rados-snap-bench-{}", std::process::id()));
    println!(
        "snap_overwrite: {} objects x 4 MiB, 4 KiB writes, {} in flight and 1, {} rounds",
        args.objects, args.depth, args.rounds
    );
    let result = run(&args, &root);
    let _ = std::fs::remove_dir_all(&root);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python script must produce the same offsets (its self-check asserts these values).
    #[test]
    fn offsets_are_aligned_and_fixed() {
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(offset_of(1, 3, Pass::B16, 5), 385_024);
        for o in 0..100 {
            let off = offset_of(1, 3, Pass::B16, o);
            assert_eq!(off % WRITE_BYTES, 0);
            assert!(off + WRITE_BYTES <= OBJECT_BYTES);
        }
    }
}

//! The engine under `bench`: -t worker threads each running one blocking op at a time, the
//! shared counters and latency statistics (Ceph's `bench_data`), and the once-a-second progress
//! printer with Ceph's columns (`status_printer`), whose samples give the bandwidth and IOPS
//! extremes and deviations of the summary.

use crate::cli::Format;
use crate::session::fail;
use crate::textfmt::{since_epoch, utime};
use anyhow::Result;
use librados::fmt::general as g;
use librados::Error;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub const MIB: f64 = 1024.0 * 1024.0;

/// What the workers share (under one lock, as Ceph's bencher does).
pub struct Stats {
    pub started: u64,
    pub finished: u64,
    pub in_flight: u64,
    pub cur_latency: f64,
    pub min_latency: f64,
    pub max_latency: f64,
    pub avg_latency: f64,
    pub total_latency: f64,
    pub latency_diff_sum: f64,
    pub done: bool,
    pub failure: Option<Error>,
    pub bad: u64,
    pub rng: u64,
}

impl Stats {
    pub fn new() -> Stats {
        let seed = since_epoch(SystemTime::now()).as_nanos() as u64 ^ u64::from(std::process::id());
        Stats {
            started: 0,
            finished: 0,
            in_flight: 0,
            cur_latency: 0.0,
            min_latency: 9999.0,
            max_latency: 0.0,
            avg_latency: 0.0,
            total_latency: 0.0,
            latency_diff_sum: 0.0,
            done: false,
            failure: None,
            bad: 0,
            rng: seed | 1,
        }
    }

    pub fn record(&mut self, lat: f64) {
        self.cur_latency = lat;
        self.total_latency += lat;
        self.max_latency = self.max_latency.max(lat);
        self.min_latency = self.min_latency.min(lat);
        self.finished += 1;
        let delta = lat - self.avg_latency;
        self.avg_latency = self.total_latency / self.finished as f64;
        self.latency_diff_sum += delta * (lat - self.avg_latency);
    }

    pub fn random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub struct Shared {
    pub stats: Mutex<Stats>,
    pub wake: Condvar,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the once-a-second printer gathers (Ceph's `bench_interval_data`).
pub struct Interval {
    pub min_bw: f64,
    pub max_bw: f64,
    pub avg_bw: f64,
    pub bw_cycles: u64,
    pub bw_diff_sum: f64,
    pub min_iops: i64,
    pub max_iops: i64,
    pub avg_iops: f64,
    pub iops_cycles: u64,
    pub iops_diff_sum: f64,
    pub datas: Vec<Value>,
}

pub fn stddev(diff_sum: f64, n: u64) -> f64 {
    if n > 1 {
        (diff_sum / (n - 1) as f64).sqrt()
    } else {
        0.0
    }
}

/// Set with --format json: the text lines then go to standard error, keeping stdout JSON.
pub static TEXT_TO_STDERR: AtomicBool = AtomicBool::new(false);

pub fn say(line: &str) {
    if TEXT_TO_STDERR.load(Ordering::Relaxed) {
        eprintln!("{line}");
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Ceph's `status_printer`: a line a second until the run is done.
fn status_printer(sh: &Shared, start: Instant, op_size: u64, fmt: Format) -> Interval {
    let mut d = Interval {
        min_bw: f64::MAX,
        max_bw: 0.0,
        avg_bw: 0.0,
        bw_cycles: 0,
        bw_diff_sum: 0.0,
        min_iops: i64::from(i32::MAX),
        max_iops: 0,
        avg_iops: 0.0,
        iops_cycles: 0,
        iops_diff_sum: 0.0,
        datas: Vec::new(),
    };
    let plain = fmt == Format::Plain;
    let (mut i, mut previous, mut cycle, mut iops) = (0u64, 0u64, 0u64, 0i64);
    let mut st = sh.lock();
    while !st.done {
        if i % 20 == 0 && plain {
            if i > 0 {
                say(&format!(
                    "{} min lat: {} max lat: {} avg lat: {}",
                    utime(since_epoch(SystemTime::now())),
                    g(st.min_latency),
                    g(st.max_latency),
                    g(st.avg_latency)
                ));
            }
            say(&format!(
                "{:>5}{:>8}{:>10}{:>10}{:>10}{:>10}{:>12}{:>12}",
                "sec",
                "Cur ops",
                "started",
                "finished",
                "avg MB/s",
                "cur MB/s",
                "last lat(s)",
                "avg lat(s)"
            ));
        }
        let done_now = st.finished - previous;
        let bandwidth = if cycle > 0 {
            done_now as f64 * op_size as f64 / MIB / cycle as f64
        } else {
            -1.0
        };
        if bandwidth > -1.0 {
            d.max_bw = d.max_bw.max(bandwidth);
            d.min_bw = d.min_bw.min(bandwidth);
            d.bw_cycles += 1;
            let delta = bandwidth - d.avg_bw;
            d.avg_bw += delta / d.bw_cycles as f64;
            d.bw_diff_sum += delta * (bandwidth - d.avg_bw);
        }
        iops = if cycle > 0 {
            (done_now as f64 / cycle as f64) as i64
        } else {
            -1
        };
        if iops > -1 {
            d.max_iops = d.max_iops.max(iops);
            d.min_iops = d.min_iops.min(iops);
            d.iops_cycles += 1;
            let delta = iops as f64 - d.avg_iops;
            d.avg_iops += delta / d.iops_cycles as f64;
            d.iops_diff_sum += delta * (iops as f64 - d.avg_iops);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let avg_bw = if elapsed > 0.0 {
            op_size as f64 * st.finished as f64 / elapsed / MIB
        } else {
            0.0
        };
        let changed = previous != st.finished;
        let (cur_bw, last_lat) = if changed {
            previous = st.finished;
            cycle = 0;
            (bandwidth, st.cur_latency)
        } else {
            (0.0, 0.0)
        };
        if plain {
            let (bw, lat) = if changed {
                (g(cur_bw), g(last_lat))
            } else {
                ("0".to_string(), "-".to_string())
            };
            say(&format!(
                "{i:>5} {:>7} {:>9} {:>9} {:>9} {bw:>9} {lat:>11} {:>11}",
                st.in_flight,
                st.started,
                st.finished,
                g(avg_bw),
                g(st.avg_latency)
            ));
        } else {
            d.datas.push(json!({
                "sec": i, "cur_ops": st.in_flight, "started": st.started,
                "finished": st.finished, "avg_bw": avg_bw, "cur_bw": cur_bw,
                "last_lat": last_lat, "avg_lat": st.avg_latency,
            }));
        }
        i += 1;
        cycle += 1;
        let deadline = Instant::now() + Duration::from_secs(1);
        while !st.done {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = match sh.wake.wait_timeout(st, deadline - now) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
    }
    if iops < 0 {
        let runtime = start.elapsed().as_secs_f64();
        let n = if runtime > 0.0 {
            (st.finished as f64 / runtime) as i64
        } else {
            0
        };
        d.min_iops = n;
        d.max_iops = n;
    }
    d
}

/// Runs `threads` workers: `next` picks each op's index (None: stop), `op` does it (false:
/// wrong contents). Returns the run time and what the printer gathered.
pub fn drive(
    sh: &Shared,
    threads: usize,
    op_size: u64,
    fmt: Format,
    next: &(dyn Fn(&mut Stats, usize, bool) -> Option<u64> + Sync),
    op: &(dyn Fn(u64) -> std::result::Result<bool, Error> + Sync),
) -> Result<(f64, Interval)> {
    let start = Instant::now();
    std::thread::scope(|s| {
        let printer = s.spawn(|| status_printer(sh, start, op_size, fmt));
        let workers: Vec<_> = (0..threads)
            .map(|slot| {
                s.spawn(move || {
                    let mut first = true;
                    loop {
                        let idx = {
                            let mut st = sh.lock();
                            if st.failure.is_some() {
                                break;
                            }
                            match next(&mut st, slot, first) {
                                Some(i) => {
                                    st.started += 1;
                                    st.in_flight += 1;
                                    i
                                }
                                None => break,
                            }
                        };
                        first = false;
                        let t0 = Instant::now();
                        let r = op(idx);
                        let lat = t0.elapsed().as_secs_f64();
                        let mut st = sh.lock();
                        st.in_flight -= 1;
                        match r {
                            Ok(good) => {
                                st.record(lat);
                                st.bad += u64::from(!good);
                            }
                            Err(e) => {
                                st.failure.get_or_insert(e);
                            }
                        }
                    }
                })
            })
            .collect();
        let mut panicked = false;
        for w in workers {
            panicked |= w.join().is_err();
        }
        let time_passed = start.elapsed().as_secs_f64();
        sh.lock().done = true;
        sh.wake.notify_all();
        let interval = printer.join();
        match interval {
            Ok(d) if !panicked => Ok((time_passed, d)),
            _ => Err(fail("error during benchmark: a worker thread failed", 1)),
        }
    })
}

//! Crash safety: a child process applies seeded random transactions (writes of every size,
//! clones, omap, removes, ...) with several in flight and reports each one it saw committed;
//! the parent kills it with SIGKILL at a random moment, reopens the store and checks that its
//! state is exactly the model's state after some prefix of the transactions that includes every
//! reported one — so nothing acknowledged is lost and no transaction is partly visible.
//!
//! `STORE_CRASH_KILLS` sets the number of kills (default 50); `STORE_CRASH_SEED` the seed.

mod common;

use common::store_workload::*;
use librados::store::*;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const WINDOW: usize = 4;

fn txn_for(seed: u64, step: u64) -> Transaction {
    random_txn(
        &mut Rng(seed ^ step.wrapping_mul(0x2545_f491_4f6c_dd1d)),
        step,
    )
}

/// The child's side: runs only when the parent started this binary with the variables set.
#[test]
fn crash_child() {
    let (Ok(dir), Ok(seed), Ok(start)) = (
        std::env::var("STORE_CRASH_DIR"),
        std::env::var("STORE_CRASH_CHILD_SEED"),
        std::env::var("STORE_CRASH_START"),
    ) else {
        return;
    };
    let (seed, start): (u64, u64) = (seed.parse().unwrap(), start.parse().unwrap());
    let store =
        DiskStore::open_with(&dir, config(std::env::var("STORE_CRASH_SMALL_LOG").is_ok())).unwrap();
    println!("OPENED");
    let mut window = VecDeque::new();
    for step in start + 1.. {
        let commit = store.queue_transaction(txn_for(seed, step)).ok();
        window.push_back((step, commit));
        if window.len() >= WINDOW {
            let (s, c) = window.pop_front().unwrap();
            if let Some(c) = c {
                c.wait().unwrap();
            }
            println!("COMMITTED {s}");
        }
    }
}

/// The default configuration, or one with a tiny log ring: segments are reused every few
/// transactions (checkpoints) and large groups bypass the log (direct commits).
fn config(small_log: bool) -> StoreConfig {
    let mut c = StoreConfig::default();
    if small_log {
        c.wal_segments = 2;
        c.wal_segment_bytes = 256 * 1024;
    }
    c
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_never_loses_or_tears_a_transaction() {
    let kills = env_u64("STORE_CRASH_KILLS", 50);
    let seed = env_u64("STORE_CRASH_SEED", 0x5eed_0001);
    kill_and_check(kills, seed, false);
}

#[test]
fn sigkill_with_a_tiny_log_ring_checkpoints_and_direct_commits() {
    let kills = env_u64("STORE_CRASH_KILLS", 50) / 2;
    let seed = env_u64("STORE_CRASH_SEED", 0x5eed_0001) ^ 0xabcd;
    kill_and_check(kills, seed, true);
}

fn kill_and_check(kills: u64, seed: u64, small_log: bool) {
    println!("crash test: {kills} kills, seed {seed}, small log {small_log}");
    let dir = tempfile::tempdir().unwrap();
    {
        let s = DiskStore::open_with(dir.path(), config(small_log)).unwrap();
        s.apply_transaction(setup_txn()).unwrap();
    }
    let model = MemStore::new();
    model.apply_transaction(setup_txn()).unwrap();
    let mut model_step = 0u64;
    let mut timing = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let mut total_reported = 0;
    for kill in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("STORE_CRASH_DIR", dir.path())
            .env("STORE_CRASH_CHILD_SEED", seed.to_string())
            .env("STORE_CRASH_START", model_step.to_string())
            .envs(small_log.then_some(("STORE_CRASH_SMALL_LOG", "1")))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(Duration::from_millis(20 + timing.below(250)));
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let reported = lines
            .iter()
            .filter_map(|l| {
                l.strip_prefix("COMMITTED ")
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .max()
            .unwrap_or(model_step);
        total_reported += reported - model_step;

        let store = DiskStore::open_with(dir.path(), config(small_log)).unwrap();
        let got = dump(&store);
        // Bring the model up to the last reported transaction, then look for the prefix the
        // store holds among those that may have been applied but not yet reported.
        while model_step < reported {
            model_step += 1;
            let _ = model.apply_transaction(txn_for(seed, model_step));
        }
        let mut matched = got == dump(&model);
        let first_diff = if matched {
            String::new()
        } else {
            diff(&got, &dump(&model))
        };
        while !matched && model_step < reported + WINDOW as u64 + 1 {
            model_step += 1;
            let _ = model.apply_transaction(txn_for(seed, model_step));
            matched = got == dump(&model);
        }
        assert!(
            matched,
            "kill {kill} (seed {seed}): store matches no prefix from reported step {reported}; \
             against that step: {first_diff}"
        );
        let report = store.verify().unwrap();
        assert!(
            report.is_clean(),
            "kill {kill}: verify found {:?}",
            report.problems
        );
    }
    println!("{kills} kills, {total_reported} transactions reported committed, all present");
    assert!(
        total_reported > kills,
        "the child made too little progress to test anything"
    );
}

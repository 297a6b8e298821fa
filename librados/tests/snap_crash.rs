//! kill -9 of a process holding the cluster during clone-on-write and during snap trimming:
//! after a restart every acknowledged write and snapshot reads back as acknowledged, and
//! trimming that was cut short finishes.

mod common;

use bytes::Bytes;
use common::cluster::{init_tracing, spawn_child};
use librados::{IoCtx, Rados};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

const COW_OBJECTS: usize = 8;
const TRIM_OBJECTS: usize = 120;
const TRIM_SNAPS: usize = 3;

/// Object `i`'s content in round `r`: distinct per round, 96 KiB so clones span chunks.
fn content(i: usize, r: usize) -> Bytes {
    let mut v = format!("object {i} round {r};").into_bytes();
    v.resize(96 << 10, (i * 31 + r) as u8);
    Bytes::from(v)
}

fn ioctx(r: &Rados, pool: &str) -> IoCtx {
    if !r.pool_exists(pool) {
        r.create_pool_with(pool, Some(8), None).unwrap();
    }
    r.ioctx(pool).unwrap()
}

fn say(line: String) {
    let mut out = std::io::stdout();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Child side: does what `RADOS_TEST_CHILD` says, printing each acknowledgement.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var("RADOS_TEST_CHILD") else {
        return;
    };
    let dir = std::env::var("RADOS_TEST_DIR").unwrap();
    let r = Rados::embedded(&dir).unwrap();
    say("ready".into());
    match mode.as_str() {
        // Rounds of: overwrite every object (each first write clones), then snapshot.
        "cow" => {
            let io = ioctx(&r, "cow");
            let start: usize = std::env::var("RADOS_TEST_ROUND").unwrap().parse().unwrap();
            for round in start.. {
                for i in 0..COW_OBJECTS {
                    io.write_full(&format!("o{i}"), content(i, round)).unwrap();
                    say(format!("acked write {i} {round}"));
                }
                let id = io.snap_create(&format!("r{round}")).unwrap();
                say(format!("acked snap {round} {id}"));
            }
        }
        // Builds clones under TRIM_SNAPS snapshots, then removes them while writing on.
        "trim" => {
            let io = ioctx(&r, "trim");
            for round in 0..TRIM_SNAPS {
                for i in 0..TRIM_OBJECTS {
                    io.write_full(&format!("t{i}"), content(i, round)).unwrap();
                }
                io.snap_create(&format!("t{round}")).unwrap();
            }
            for i in 0..TRIM_OBJECTS {
                io.write_full(&format!("t{i}"), content(i, TRIM_SNAPS))
                    .unwrap();
            }
            say("built".into());
            for round in 0..TRIM_SNAPS {
                io.snap_remove(&format!("t{round}")).unwrap();
                say(format!("acked rmsnap {round}"));
            }
            for n in 0.. {
                let i = n % TRIM_OBJECTS;
                io.write(&format!("t{i}"), Bytes::from(format!("{n:08}")), 0)
                    .unwrap();
                say(format!("acked poke {i} {n}"));
            }
        }
        _ => panic!("unknown mode {mode}"),
    }
}

/// Runs the child until `stop` says so (given each line and the time since "ready"), then
/// kills it with SIGKILL; returns every line it printed.
fn run_and_kill(
    mode: &str,
    dir: &std::path::Path,
    round: usize,
    stop: impl Fn(&str, Duration) -> bool,
) -> Vec<String> {
    let mut child = spawn_child(mode, dir, &[("RADOS_TEST_ROUND", round.to_string())]);
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut ready = None;
    for line in out.lines() {
        let line = line.unwrap();
        if line.ends_with("ready") {
            ready = Some(Instant::now());
        }
        let done = ready.is_some_and(|t| stop(&line, t.elapsed()));
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    lines
}

fn acks<'a>(lines: &'a [String], what: &str) -> Vec<Vec<&'a str>> {
    let prefix = format!("acked {what} ");
    lines
        .iter()
        .filter_map(|l| l.find(&prefix).map(|p| &l[p + prefix.len()..]))
        .map(|rest| rest.split(' ').collect())
        .collect()
}

#[test]
fn kill_9_during_clone_on_write_keeps_every_acknowledged_version() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    // The newest acknowledged round of each object, and every acknowledged snapshot.
    let mut last: BTreeMap<usize, usize> = BTreeMap::new();
    let mut snaps: BTreeMap<usize, u64> = BTreeMap::new();
    let mut next_round = 0;
    for kill in 0..3u64 {
        let lines = run_and_kill("cow", dir.path(), next_round, |line, t| {
            line.contains("acked") && t > Duration::from_millis(300 + 250 * kill)
        });
        for a in acks(&lines, "write") {
            last.insert(a[0].parse().unwrap(), a[1].parse().unwrap());
        }
        for a in acks(&lines, "snap") {
            snaps.insert(a[0].parse().unwrap(), a[1].parse().unwrap());
        }
        assert!(!snaps.is_empty(), "the child took snapshots");
        let r = Rados::embedded(dir.path()).unwrap();
        let io = r.ioctx("cow").unwrap();
        for (&i, &round) in &last {
            let name = format!("o{i}");
            let got = io.read_full(&name).unwrap();
            // The head holds the last acknowledged write or the one in flight after it.
            assert!(
                got == content(i, round) || got == content(i, round + 1),
                "kill {kill}: {name} is neither round {round} nor the next"
            );
        }
        for (&round, &id) in &snaps {
            assert_eq!(io.snap_lookup(&format!("r{round}")).unwrap(), id);
            let at = io.at_snap(id);
            for i in 0..COW_OBJECTS {
                assert_eq!(
                    at.read_full(&format!("o{i}")).unwrap(),
                    content(i, round),
                    "kill {kill}: o{i} at snapshot r{round}"
                );
            }
        }
        // The next child goes on after every round seen, acknowledged or not.
        next_round = last.values().max().copied().unwrap_or(0) + 2;
    }
}

#[test]
fn kill_9_during_trimming_keeps_heads_and_trimming_finishes() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    // Killed right after the last removal, while the OSDs trim and the child writes on.
    let lines = run_and_kill("trim", dir.path(), 0, |line, _| line.contains("acked poke"));
    assert!(lines.iter().any(|l| l.contains("built")));
    let mut poked: BTreeMap<usize, usize> = BTreeMap::new();
    for a in acks(&lines, "poke") {
        poked.insert(a[0].parse().unwrap(), a[1].parse().unwrap());
    }
    let r = Rados::embedded(dir.path()).unwrap();
    let io = r.ioctx("trim").unwrap();
    let at_restart = r
        .df()
        .unwrap()
        .into_iter()
        .find(|u| u.name == "trim")
        .unwrap();
    eprintln!("clones left to trim at restart: {}", at_restart.clones);
    for round in 0..TRIM_SNAPS {
        assert!(
            io.snap_lookup(&format!("t{round}")).is_err(),
            "t{round} was removed"
        );
    }
    let poke = |i: usize, n: Option<usize>| {
        let mut v = content(i, TRIM_SNAPS).to_vec();
        if let Some(n) = n {
            v[..8].copy_from_slice(format!("{n:08}").as_bytes());
        }
        v
    };
    for i in 0..TRIM_OBJECTS {
        let got = io.read_full(&format!("t{i}")).unwrap();
        let acked = poked.get(&i).copied();
        // The acknowledged state, or the poke in flight after it.
        let next = acked.map_or(i, |n| n + TRIM_OBJECTS);
        assert!(
            got == poke(i, acked) || got == poke(i, Some(next)),
            "t{i} lost its acknowledged state"
        );
    }
    // Trimming cut short by the kill resumes and returns every clone's space.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let u = r
            .df()
            .unwrap()
            .into_iter()
            .find(|u| u.name == "trim")
            .unwrap();
        if u.clones == 0 {
            assert_eq!(u.bytes, (TRIM_OBJECTS * (96 << 10)) as u64);
            assert_eq!(u.objects, TRIM_OBJECTS as u64);
            break;
        }
        assert!(Instant::now() < deadline, "trimming never finished: {u:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in 0..TRIM_OBJECTS {
        let l = io.list_snaps(&format!("t{i}")).unwrap();
        assert_eq!(l.clones.len(), 1, "t{i} keeps only its head: {l:?}");
    }
}

//! Replication and durability of the embedded cluster: replicas identical, every acknowledged
//! write kept across OSD out/in and down, a clean restart and a kill -9, and the data
//! directory's lock against a second process.

mod common;

use bytes::Bytes;
use common::cluster::{assert_replicas_identical, init_tracing, spawn_child};
use librados::{Rados, WriteOp};
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn content(i: usize) -> Bytes {
    Bytes::from(format!("object {i} ").repeat(1 + i % 50))
}

#[test]
fn replicas_are_identical_after_writes() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        let mut io = r.ioctx("data").unwrap();
        for i in 0..200 {
            io.write_full(&format!("o{i}"), content(i)).unwrap();
        }
        for i in (0..200).step_by(3) {
            io.set_xattr(&format!("o{i}"), "x", Bytes::from(format!("{i}")))
                .unwrap();
            io.omap_set(
                &format!("o{i}"),
                [(Bytes::from("k"), Bytes::from(format!("{i}")))],
            )
            .unwrap();
        }
        for i in (0..200).step_by(7) {
            io.remove(&format!("o{i}")).unwrap();
        }
        io.set_namespace("other");
        io.write_full("big", Bytes::from(vec![9u8; 5 << 20]))
            .unwrap();
    }
    let objects = assert_replicas_identical(dir.path(), 3);
    assert_eq!(objects.len(), 200 - 29 + 1);
}

/// Writes `o<N>` objects until stopped; records every acknowledged one.
fn spawn_writer(
    r: &Rados,
    prefix: &'static str,
) -> (
    Arc<AtomicBool>,
    Arc<Mutex<Vec<usize>>>,
    std::thread::JoinHandle<()>,
) {
    let io = r.ioctx("data").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let (s, a) = (stop.clone(), acked.clone());
    let h = std::thread::spawn(move || {
        let mut i = 0;
        while !s.load(Ordering::Relaxed) {
            io.write_full(&format!("{prefix}{i}"), content(i)).unwrap();
            a.lock().unwrap().push(i);
            i += 1;
        }
    });
    (stop, acked, h)
}

#[test]
fn acknowledged_writes_survive_osd_out_in_and_down() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let acked;
    {
        let r = Rados::embedded(dir.path()).unwrap();
        let (stop, ack, writer) = spawn_writer(&r, "w");
        std::thread::sleep(Duration::from_millis(300));
        r.osd_set_in(&[1], false).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        r.osd_set_in(&[1], true).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        r.osd_down(&[2]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        r.wait_for_clean(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        acked = ack.lock().unwrap().clone();
        assert!(
            acked.len() > 20,
            "the writer made progress ({} writes)",
            acked.len()
        );
        r.wait_for_clean(Duration::from_secs(30)).unwrap();
        let io = r.ioctx("data").unwrap();
        for &i in &acked {
            assert_eq!(io.read_full(&format!("w{i}")).unwrap(), content(i), "w{i}");
        }
    }
    // Every replica holds every acknowledged write, identically.
    let objects = assert_replicas_identical(dir.path(), 3);
    for &i in &acked {
        let copy = objects
            .iter()
            .find(|((_, ns, name, _), _)| ns.is_empty() && *name == format!("w{i}"))
            .unwrap_or_else(|| panic!("w{i} missing from the replicas"));
        assert_eq!(copy.1.data, content(i).to_vec());
    }
}

#[test]
fn a_clean_restart_keeps_everything() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        r.create_pool("kept").unwrap();
        let io = r.ioctx("kept").unwrap();
        for i in 0..50 {
            io.write_full(&format!("r{i}"), content(i)).unwrap();
        }
        io.omap_set("r0", [(&b"k"[..], &b"v"[..])]).unwrap();
    }
    let r = Rados::embedded(dir.path()).unwrap();
    let io = r.ioctx("kept").unwrap();
    for i in 0..50 {
        assert_eq!(io.read_full(&format!("r{i}")).unwrap(), content(i));
    }
    assert_eq!(
        io.omap_get_vals_by_keys("r0", [&b"k"[..]]).unwrap().len(),
        1
    );
    assert_eq!(io.list_objects().count(), 50);
    // Writes continue after the restart.
    io.write_full("after", &b"restart"[..]).unwrap();
    r.wait_for_clean(Duration::from_secs(30)).unwrap();
}

/// Child side of the kill -9 and lock tests: does what `RADOS_TEST_CHILD` says.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var("RADOS_TEST_CHILD") else {
        return;
    };
    let dir = std::env::var("RADOS_TEST_DIR").unwrap();
    let r = Rados::embedded(&dir).unwrap();
    println!("ready");
    std::io::Write::flush(&mut std::io::stdout()).unwrap();
    if mode == "hold" {
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let io = r.ioctx("data").unwrap();
    for i in 0.. {
        io.write_full(&format!("k{i}"), content(i)).unwrap();
        println!("acked {i}");
        std::io::Write::flush(&mut std::io::stdout()).unwrap();
    }
}

#[test]
fn kill_9_keeps_acknowledged_writes() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut last = None;
    for round in 0..3 {
        let mut child = spawn_child("write", dir.path(), &[]);
        let out = BufReader::new(child.stdout.take().unwrap());
        let start = Instant::now();
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(n) = line
                .rsplit("acked ")
                .next()
                .filter(|_| line.contains("acked "))
            {
                last = Some(n.parse::<usize>().unwrap());
            }
            if start.elapsed() > Duration::from_millis(400 + 300 * round) && last.is_some() {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let r = Rados::embedded(dir.path()).unwrap();
        let io = r.ioctx("data").unwrap();
        let n = last.expect("the child acknowledged writes");
        for i in 0..=n {
            assert_eq!(
                io.read_full(&format!("k{i}")).unwrap(),
                content(i),
                "round {round}: k{i} of {n}"
            );
        }
    }
}

#[test]
fn a_second_process_gets_a_clear_error() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("hold", dir.path(), &[]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended before opening the cluster"
        );
        if line.trim().ends_with("ready") {
            break;
        }
    }
    let err = Rados::embedded(dir.path())
        .err()
        .expect("the directory is locked");
    assert_eq!(err.errno(), librados::errno::EBUSY);
    let text = err.to_string();
    assert!(text.contains(&format!("process {}", child.id())), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
    // Once the holder is gone the directory opens.
    Rados::embedded(dir.path()).unwrap();
}

#[test]
fn watches_follow_the_primary_across_map_changes() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let r = Rados::embedded(dir.path()).unwrap();
    let io = r.ioctx("data").unwrap();
    io.write_full("watched", &b"x"[..]).unwrap();
    io.watch("watched", |ev| ev.payload.to_vec()).unwrap();
    let map = r.osdmap();
    let pool = map.pool_by_name("data").unwrap();
    let pg = pool.raw_pg_to_pg(librados::osdmap::PgId::new(
        pool.id,
        pool.hash_key(b"watched", b""),
    ));
    let primary = map.pg_mapping(pg).acting_primary;
    r.osd_set_in(&[primary], false).unwrap();
    r.wait_for_clean_or_degraded();
    let notifier = Rados::embedded(dir.path()).unwrap().ioctx("data").unwrap();
    let replies = notify_until_heard(&notifier, b"hi");
    assert_eq!(replies.acks.len(), 1, "the watch moved to the new primary");
    assert_eq!(&replies.acks[0].2[..], b"hi");
    r.osd_set_in(&[primary], true).unwrap();
    r.wait_for_clean(Duration::from_secs(30)).unwrap();
    let replies = notify_until_heard(&notifier, b"back");
    assert_eq!(replies.acks.len(), 1);
}

/// The watcher registers again on the new primary once its client sees the new map; a notify
/// sent before that reaches nobody, so notify until the watch is back (bounded).
fn notify_until_heard(io: &librados::IoCtx, msg: &[u8]) -> librados::client::NotifyReplies {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let replies = io
            .notify("watched", msg.to_vec(), Duration::from_secs(5))
            .unwrap();
        if !replies.acks.is_empty() || Instant::now() > deadline {
            return replies;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

trait WaitActive {
    fn wait_for_clean_or_degraded(&self);
}

impl WaitActive for Rados {
    /// Waits until every PG is active (clean or degraded).
    fn wait_for_clean_or_degraded(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.status().unwrap();
            if s.pgs_by_state.keys().all(|k| k.starts_with("active")) {
                return;
            }
            assert!(Instant::now() < deadline, "PGs stuck: {:?}", s.pgs_by_state);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_pool_smaller_than_the_cluster_reopens() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        r.pool_set("data", "size", "2").unwrap();
        r.create_pool_with("one", Some(8), Some(1)).unwrap();
        r.ioctx("data")
            .unwrap()
            .write_full("two-copies", &b"2"[..])
            .unwrap();
        r.ioctx("one")
            .unwrap()
            .write_full("one-copy", &b"1"[..])
            .unwrap();
    }
    let t = Instant::now();
    let r = Rados::embedded(dir.path()).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "reopening took {:?}",
        t.elapsed()
    );
    r.wait_for_clean(Duration::from_secs(30)).unwrap();
    assert_eq!(
        &r.ioctx("data").unwrap().read_full("two-copies").unwrap()[..],
        b"2"
    );
    assert_eq!(
        &r.ioctx("one").unwrap().read_full("one-copy").unwrap()[..],
        b"1"
    );
}

/// Waits until every PG is active (osd.2 out: they stay undersized, never clean).
fn wait_active(r: &Rados) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !r
        .status()
        .unwrap()
        .pgs_by_state
        .keys()
        .all(|k| k.starts_with("active"))
    {
        assert!(Instant::now() < deadline, "PGs never became active");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Deterministic bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn large_objects_omaps_and_clones_recover_in_bounded_pieces() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        r.create_pool_with("big", Some(4), Some(3)).unwrap();
        let io = r.ioctx("big").unwrap();
        let write_big = |data: &[u8]| {
            for (i, piece) in data.chunks(8 << 20).enumerate() {
                io.write("big", piece.to_vec(), (i * (8 << 20)) as u64)
                    .unwrap();
            }
        };
        io.write_full("snapped", noise(9 << 20, 1)).unwrap();
        let old_big = noise(72 << 20, 4);
        write_big(&old_big);
        r.osd_set_in(&[2], false).unwrap();
        wait_active(&r);
        // An omap of more entries than one push part carries.
        for batch in 0..5 {
            let mut op = WriteOp::new();
            op.omap_set((0..1000).map(|k| {
                (
                    format!("key{batch}-{k:04}").into_bytes(),
                    noise(100, k as u64).to_vec(),
                )
            }));
            io.operate("omap", &op).unwrap();
        }
        // A snapshot, then a change: the clone travels as what it does not share. Rewritten
        // whole, the big object and its clone are more than any one message may carry.
        io.snap_create("s").unwrap();
        io.write("snapped", noise(1 << 20, 3), 4 << 20).unwrap();
        let big = noise(72 << 20, 2);
        write_big(&big);
        for i in 0..20 {
            io.write_full(&format!("small{i}"), noise(1000 + i, i as u64))
                .unwrap();
        }
        r.osd_set_in(&[2], true).unwrap();
        r.wait_for_clean(Duration::from_secs(120)).unwrap();
        assert_eq!(io.read_full("big").unwrap(), big);
        let snap = io.snap_lookup("s").unwrap();
        assert_eq!(
            io.at_snap(snap).read_full("snapped").unwrap(),
            noise(9 << 20, 1)
        );
        assert_eq!(io.at_snap(snap).read_full("big").unwrap(), old_big);
    }
    let objects = assert_replicas_identical(dir.path(), 3);
    let omap = objects
        .iter()
        .find(|((_, _, name, _), _)| name == "omap")
        .unwrap();
    assert_eq!(omap.1.omap.len(), 5000);
    for name in ["snapped", "big"] {
        assert_eq!(
            objects.keys().filter(|(_, _, n, _)| n == name).count(),
            2,
            "{name}: the head and its clone"
        );
    }
}

#[test]
fn backfill_pages_through_the_objects_and_drops_what_is_gone() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        // One PG, so that more writes than its log keeps force a backfill.
        r.create_pool_with("bf", Some(1), Some(3)).unwrap();
        let io = r.ioctx("bf").unwrap();
        for i in 0..50 {
            io.write_full(&format!("gone{i}"), vec![i as u8; 10])
                .unwrap();
        }
        r.osd_set_in(&[2], false).unwrap();
        wait_active(&r);
        for i in 0..50 {
            io.remove(&format!("gone{i}")).unwrap();
        }
        for i in 0..(librados::osd::pg::log::LOG_MAX_ENTRIES + 200) {
            io.write_full(&format!("o{i}"), format!("v{i}").into_bytes())
                .unwrap();
        }
        r.osd_set_in(&[2], true).unwrap();
        r.wait_for_clean(Duration::from_secs(120)).unwrap();
    }
    let objects = assert_replicas_identical(dir.path(), 3);
    let names: Vec<&String> = objects.keys().map(|(_, _, n, _)| n).collect();
    assert!(
        !names.iter().any(|n| n.starts_with("gone")),
        "removed objects are gone"
    );
    assert_eq!(
        names.iter().filter(|n| n.starts_with('o')).count(),
        librados::osd::pg::log::LOG_MAX_ENTRIES + 200
    );
}

/// The state and objects left to recover of the pool's only PG.
fn only_pg(r: &Rados, pool: &str) -> librados::msg::command::PgSummary {
    let id = r.osdmap().pool_by_name(pool).expect("pool").id;
    let mut pgs: Vec<_> = r
        .pg_dump()
        .unwrap()
        .into_iter()
        .filter(|p| p.stat.pgid.pool == id)
        .collect();
    assert_eq!(pgs.len(), 1);
    pgs.remove(0)
}

#[test]
fn a_pg_serves_while_a_replica_recovers_and_recovers_first_what_a_client_waits_for() {
    recovery_while_active(Behind::Replica);
}

#[test]
fn a_pg_serves_while_its_primary_recovers_and_recovers_first_what_a_client_waits_for() {
    recovery_while_active(Behind::Primary);
}

#[test]
fn a_pg_serves_while_two_members_recover_from_the_third() {
    recovery_while_active(Behind::PrimaryAndReplica);
}

/// Which members of the PG miss the writes.
#[derive(Clone, Copy, PartialEq)]
enum Behind {
    Replica,
    Primary,
    PrimaryAndReplica,
}

/// A new embedded cluster whose recovery pauses after each push message, with a clean
/// pool `rec` of one PG.
fn paced_recovery_cluster() -> (tempfile::TempDir, Rados) {
    let dir = tempfile::tempdir().unwrap();
    drop(Rados::embedded(dir.path()).unwrap());
    let conf = dir.path().join("cluster.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("osd_recovery_sleep = 0.4\n");
    std::fs::write(&conf, text).unwrap();
    let r = Rados::embedded(dir.path()).unwrap();
    r.create_pool_with("rec", Some(1), Some(3)).unwrap();
    r.wait_for_clean(Duration::from_secs(30)).unwrap();
    (dir, r)
}

/// 1 MiB objects (four to a push message) written while `osds` are out; then they come back.
fn write_while_out(r: &Rados, io: &librados::IoCtx, osds: &[i32], objects: &[String]) {
    r.osd_set_in(osds, false).unwrap();
    // Other pools may stay inactive (fewer members than their min_size).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !only_pg(r, "rec").stat.state.starts_with("active") {
        assert!(Instant::now() < deadline, "the PG never became active");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, name) in objects.iter().enumerate() {
        io.write_full(name, noise((1 << 20) - 512, i as u64))
            .unwrap();
    }
    r.osd_set_in(osds, true).unwrap();
}

/// Waits until the pool's only PG recovers while active with `osd` in its acting set.
fn wait_recovering_with(r: &Rados, pool: &str, osd: i32) -> librados::msg::command::PgSummary {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = only_pg(r, pool);
        if now.stat.state == "active+recovering+degraded" && now.acting.contains(&osd) {
            assert!(now.stat.to_recover > 0);
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "never active while recovering: {}",
            now.stat.state
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_replica_cut_off_in_mid_recovery_is_never_the_source_of_what_it_lacks() {
    init_tracing();
    let (dir, r) = paced_recovery_cluster();
    let objects: Vec<String> = (0..48).map(|i| format!("m{i}")).collect();
    {
        let io = r.ioctx("rec").unwrap();
        for name in &objects {
            io.write_full(name, &b"old"[..]).unwrap();
        }
        let pg = only_pg(&r, "rec");
        // The member next in line (primary once the primary leaves, with ties between
        // equal logs going to the primary).
        let behind = *pg.acting.iter().find(|&&o| o != pg.primary).unwrap();
        write_while_out(&r, &io, &[behind], &objects);
        wait_recovering_with(&r, "rec", behind);
        // The primary leaves while the replica still lacks most objects: the replica holds
        // the newest log but old data, so the other member must be the source.
        r.osd_set_in(&[pg.primary], false).unwrap();
        wait_active(&r);
        for (i, name) in objects.iter().enumerate() {
            let want = noise((1 << 20) - 512, i as u64);
            assert!(io.read_full(name).unwrap() == want, "{name}");
        }
        r.osd_set_in(&[pg.primary], true).unwrap();
        r.wait_for_clean(Duration::from_secs(60)).unwrap();
    }
    drop(r);
    let copies = assert_replicas_identical(dir.path(), 3);
    assert_eq!(copies.len(), objects.len());
    for (i, name) in objects.iter().enumerate() {
        let copy = copies.iter().find(|((_, _, n, _), _)| n == name).unwrap();
        assert!(copy.1.data == noise((1 << 20) - 512, i as u64), "{name}");
    }
}

/// Members of a PG's acting set miss 64 objects written while they were out; recovery is
/// paced so that it takes seconds (16 push messages).
fn recovery_while_active(which: Behind) {
    init_tracing();
    let (dir, r) = paced_recovery_cluster();
    let objects: Vec<String> = (0..64).map(|i| format!("m{i}")).collect();
    {
        let io = r.ioctx("rec").unwrap();
        io.write_full("before", &b"old"[..]).unwrap();
        let pg = only_pg(&r, "rec");
        let replica = *pg.acting.iter().rfind(|&&o| o != pg.primary).unwrap();
        let behind = match which {
            Behind::Replica => vec![replica],
            Behind::Primary => vec![pg.primary],
            Behind::PrimaryAndReplica => {
                r.pool_set("rec", "min_size", "1").unwrap();
                vec![pg.primary, replica]
            }
        };
        write_while_out(&r, &io, &behind, &objects);
        // The PG serves before every member has everything...
        let now = wait_recovering_with(&r, "rec", behind[0]);
        assert_eq!(now.primary, pg.primary, "the same primary as before");
        assert_eq!(now.acting.len(), 3);
        // ...an object not concerned is served at once, and the one recovery would reach
        // last is recovered next because a client writes it.
        assert_eq!(&io.read_full("before").unwrap()[..], b"old");
        let last = objects
            .iter()
            .max_by_key(|n| librados::hash::str_hash_rjenkins(n.as_bytes()))
            .unwrap();
        io.write(last, &b"new"[..], 0).unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let now = only_pg(&r, "rec");
        assert_eq!(
            now.stat.state, "active+recovering+degraded",
            "the write waited for the whole recovery"
        );
        assert!(now.stat.to_recover > 0);
        // A listing (from the primary's objects) sees every object.
        let mut listed: Vec<String> = io.list_objects().map(|o| o.unwrap().name).collect();
        listed.sort();
        let mut want: Vec<String> = objects.clone();
        want.push("before".into());
        want.sort();
        assert_eq!(listed, want);
        r.wait_for_clean(Duration::from_secs(60)).unwrap();
        for (i, name) in objects.iter().enumerate() {
            let mut want = noise((1 << 20) - 512, i as u64);
            if name == last {
                want[..3].copy_from_slice(b"new");
            }
            assert!(io.read_full(name).unwrap() == want, "{name}");
        }
        let s = r.status().unwrap();
        assert_eq!(s.objects, objects.len() as u64 + 1, "{s:?}");
    }
    drop(r);
    let copies = assert_replicas_identical(dir.path(), 3);
    assert_eq!(copies.len(), objects.len() + 1);
}

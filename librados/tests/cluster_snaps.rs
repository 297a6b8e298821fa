//! Snapshots on the embedded cluster: pool snapshots and self-managed snapshots, reads at a
//! snap, listings, rollback, trimming (space returned), and clones kept identical on every
//! replica, through recovery too.

mod common;

use bytes::Bytes;
use common::cluster::{assert_replicas_identical, init_tracing, shared};
use librados::client::SNAP_HEAD;
use librados::{Error, IoCtx, Rados};
use std::time::{Duration, Instant};

fn pool(r: &Rados, name: &str) -> IoCtx {
    r.create_pool_with(name, Some(8), None).unwrap();
    r.ioctx(name).unwrap()
}

fn errno<T: std::fmt::Debug>(res: Result<T, Error>) -> i32 {
    res.expect_err("an error").errno()
}

#[test]
fn pool_snapshots_preserve_what_they_saw() {
    let r = shared();
    let io = pool(&r, "psnap");
    io.write_full("a", &b"a-one"[..]).unwrap();
    io.set_xattr("a", "colour", &b"red"[..]).unwrap();
    io.omap_set("a", [(&b"k1"[..], &b"v1"[..])]).unwrap();
    io.write_full("b", &b"b-one"[..]).unwrap();

    let s1 = io.snap_create("s1").unwrap();
    assert_eq!(io.snap_lookup("s1").unwrap(), s1);
    assert_eq!(errno(io.snap_create("s1")), librados::errno::EEXIST);
    let listed = io.snap_list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].name.as_str()), (s1, "s1"));

    io.write_full("a", &b"a-two, longer"[..]).unwrap();
    io.set_xattr("a", "colour", &b"blue"[..]).unwrap();
    io.omap_set("a", [(&b"k2"[..], &b"v2"[..])]).unwrap();
    io.remove("b").unwrap();
    io.write_full("c", &b"c-one"[..]).unwrap();

    // The head moved on.
    assert_eq!(io.read_full("a").unwrap(), &b"a-two, longer"[..]);
    assert_eq!(errno(io.read_full("b")), librados::errno::ENOENT);
    // The snapshot did not.
    let at = io.at_snap(s1);
    assert_eq!(at.read_full("a").unwrap(), &b"a-one"[..]);
    assert_eq!(at.stat("a").unwrap().size, 5);
    assert_eq!(at.get_xattr("a", "colour").unwrap(), &b"red"[..]);
    let (omap, _) = at.omap_get_vals("a", b"", b"", 100).unwrap();
    assert_eq!(
        omap,
        vec![(Bytes::from_static(b"k1"), Bytes::from_static(b"v1"))]
    );
    assert_eq!(at.read_full("b").unwrap(), &b"b-one"[..]);
    assert_eq!(errno(at.read_full("c")), librados::errno::ENOENT);
    let mut names: Vec<String> = at.list_objects().map(|e| e.unwrap().name).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    let mut names: Vec<String> = io.list_objects().map(|e| e.unwrap().name).collect();
    names.sort();
    assert_eq!(names, ["a", "c"]);

    // `b` survives only in the snapshot: no watch or notify on it.
    assert_eq!(
        errno(io.watch("b", |_| Vec::new())),
        librados::errno::ENOENT
    );
    assert_eq!(
        errno(io.notify("b", &b"?"[..], Duration::from_millis(100))),
        librados::errno::ENOENT
    );

    // Snapshots are read-only.
    assert_eq!(errno(at.write_full("a", &b"x"[..])), librados::errno::EROFS);
    assert_eq!(errno(at.remove("a")), librados::errno::EROFS);

    // One clone of `a` serves s1; the head follows.
    let l = io.list_snaps("a").unwrap();
    assert_eq!(l.clones.len(), 2);
    assert_eq!(l.clones[0].snaps, vec![s1]);
    assert_eq!(l.clones[0].size, 5);
    assert_eq!(l.clones[1].id, SNAP_HEAD);
    assert_eq!(l.clones[1].size, 13);
    // `b` is only a clone now; `c` has no clone.
    let l = io.list_snaps("b").unwrap();
    assert_eq!(l.clones.len(), 1);
    assert_ne!(l.clones[0].id, SNAP_HEAD);
    assert_eq!(io.list_snaps("c").unwrap().clones.len(), 1);
    assert_eq!(errno(io.list_snaps("never")), librados::errno::ENOENT);

    // Rollback brings back what the snapshot saw, and removes what it did not have.
    io.snap_rollback("a", "s1").unwrap();
    assert_eq!(io.read_full("a").unwrap(), &b"a-one"[..]);
    assert_eq!(io.get_xattr("a", "colour").unwrap(), &b"red"[..]);
    io.snap_rollback("b", "s1").unwrap();
    assert_eq!(io.read_full("b").unwrap(), &b"b-one"[..]);
    io.snap_rollback("c", "s1").unwrap();
    assert_eq!(errno(io.read_full("c")), librados::errno::ENOENT);
    assert_eq!(
        errno(io.snap_rollback("a", "nope")),
        librados::errno::ENOENT
    );
    // The snapshot itself is unchanged by the rollbacks.
    assert_eq!(at.read_full("a").unwrap(), &b"a-one"[..]);

    // Writing after a rollback still preserves s1.
    io.write("a", &b"A"[..], 0).unwrap();
    assert_eq!(io.read_full("a").unwrap(), &b"A-one"[..]);
    assert_eq!(at.read_full("a").unwrap(), &b"a-one"[..]);

    // Pool snapshots exclude self-managed ones.
    assert_eq!(errno(io.selfmanaged_snap_create()), librados::errno::EINVAL);
    io.snap_remove("s1").unwrap();
    assert_eq!(errno(io.snap_lookup("s1")), librados::errno::ENOENT);
    assert_eq!(errno(io.snap_remove("s1")), librados::errno::ENOENT);
    wait_for_no_clones(&r, "psnap");
    assert_eq!(io.read_full("a").unwrap(), &b"A-one"[..]);
    assert_eq!(io.read_full("b").unwrap(), &b"b-one"[..]);
}

#[test]
fn self_managed_snapshots_follow_the_write_context() {
    let r = shared();
    let mut io = pool(&r, "smsnap");
    io.write_full("x", &b"x1"[..]).unwrap();
    let s1 = io.selfmanaged_snap_create().unwrap();
    // Without the new snap in the write context, nothing is preserved (as in Ceph).
    io.write_full("y", &b"y1"[..]).unwrap();
    io.set_write_snap_context(s1, &[s1]).unwrap();
    io.write_full("x", &b"x2"[..]).unwrap();
    assert_eq!(io.at_snap(s1).read_full("x").unwrap(), &b"x1"[..]);
    assert_eq!(io.read_full("x").unwrap(), &b"x2"[..]);

    let s2 = io.selfmanaged_snap_create().unwrap();
    assert!(s2 > s1);
    io.set_write_snap_context(s2, &[s2, s1]).unwrap();
    io.write_full("x", &b"x3"[..]).unwrap();
    // A writer with a stale context writes the head without preserving anything more.
    let mut stale = io.clone();
    stale.set_write_snap_context(s1, &[s1]).unwrap();
    stale.write_full("x", &b"x4"[..]).unwrap();
    assert_eq!(io.read_full("x").unwrap(), &b"x4"[..]);
    // Each snap saw what was there when it was taken.
    assert_eq!(io.at_snap(s2).read_full("x").unwrap(), &b"x2"[..]);
    assert_eq!(io.at_snap(s1).read_full("x").unwrap(), &b"x1"[..]);
    let l = io.list_snaps("x").unwrap();
    let ids: Vec<u64> = l.clones.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![s1, s2, SNAP_HEAD]);

    // Malformed contexts are refused.
    assert_eq!(
        errno(io.set_write_snap_context(s1, &[s2])),
        librados::errno::EINVAL
    );
    assert_eq!(
        errno(io.set_write_snap_context(s2, &[s1, s2])),
        librados::errno::EINVAL
    );
    // Self-managed snapshots exclude pool ones.
    assert_eq!(errno(io.snap_create("named")), librados::errno::EINVAL);

    // Rollback to a self-managed snap.
    io.selfmanaged_snap_rollback("x", s1).unwrap();
    assert_eq!(io.read_full("x").unwrap(), &b"x1"[..]);

    // Removing s1 trims the clone that served only it.
    io.selfmanaged_snap_remove(s1).unwrap();
    io.selfmanaged_snap_remove(s1).unwrap(); // again: nothing to do
    assert_eq!(
        errno(io.selfmanaged_snap_remove(s2 + 100)),
        librados::errno::ENOENT
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ids: Vec<u64> = io
            .list_snaps("x")
            .unwrap()
            .clones
            .iter()
            .map(|c| c.id)
            .collect();
        if ids == vec![s2, SNAP_HEAD] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clone of s1 never trimmed: {ids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(io.at_snap(s2).read_full("x").unwrap(), &b"x2"[..]);
    assert_eq!(
        errno(io.at_snap(s1).read_full("x")),
        librados::errno::ENOENT
    );
}

/// Waits until every PG serves (clean or not: with an OSD out, size-3 PGs are undersized).
fn wait_active(r: &Rados) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = r.status().unwrap();
        if s.pgs_by_state.keys().all(|k| k.starts_with("active")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PGs never active: {:?}",
            s.pgs_by_state
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn usage(r: &Rados, pool: &str) -> librados::client::PoolUsage {
    r.df()
        .unwrap()
        .into_iter()
        .find(|u| u.name == pool)
        .unwrap()
}

fn wait_for_no_clones(r: &Rados, pool: &str) -> librados::client::PoolUsage {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let u = usage(r, pool);
        if u.clones == 0 {
            return u;
        }
        assert!(Instant::now() < deadline, "clones never trimmed: {u:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes 100 MiB, snapshots, overwrites it all and removes the snapshot: usage doubles, and
/// returns to 100 MiB once trimming is done.
#[test]
fn trimming_returns_the_space() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let r = Rados::embedded(dir.path()).unwrap();
    let io = pool(&r, "trim");
    const N: usize = 25;
    const SIZE: usize = 4 << 20;
    let wait_usage = |want: u64, clones: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let u = usage(&r, "trim");
            if u.bytes == want && u.clones == clones {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "usage {u:?}, want {want} bytes, {clones} clones"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    for i in 0..N {
        io.write_full(&format!("o{i}"), Bytes::from(vec![1u8; SIZE]))
            .unwrap();
    }
    wait_usage((N * SIZE) as u64, 0);
    let used_before = r.status().unwrap().used_bytes;
    io.snap_create("before").unwrap();
    for i in 0..N {
        io.write_full(&format!("o{i}"), Bytes::from(vec![2u8; SIZE]))
            .unwrap();
    }
    wait_usage((2 * N * SIZE) as u64, N as u64);
    let used_with_snap = r.status().unwrap().used_bytes;
    assert!(
        used_with_snap > used_before + (2 * N * SIZE) as u64,
        "the store holds the clones: {used_before} -> {used_with_snap}"
    );
    io.snap_remove("before").unwrap();
    wait_usage((N * SIZE) as u64, 0);
    // The stores gave the clones' space back (each of 3 replicas held 100 MiB of clones).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let used = r.status().unwrap().used_bytes;
        if used < used_with_snap - (2 * N * SIZE) as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store usage did not fall: {used_before} -> {used_with_snap} -> {used}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for i in 0..N {
        assert_eq!(
            io.read_full(&format!("o{i}")).unwrap(),
            Bytes::from(vec![2u8; SIZE])
        );
    }
}

/// Clones and SnapSets are replicated like any object state, and recovery copies them to an
/// OSD that missed the writes.
#[test]
fn clones_are_identical_on_every_replica_after_recovery() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        let io = pool(&r, "rep");
        for i in 0..20 {
            io.write_full(&format!("o{i}"), Bytes::from(vec![i as u8; 10_000]))
                .unwrap();
        }
        io.snap_create("one").unwrap();
        for i in 0..10 {
            io.write(&format!("o{i}"), &b"changed"[..], 100).unwrap();
        }
        // osd.2 misses what follows and must recover it, clones included.
        r.osd_set_in(&[2], false).unwrap();
        wait_active(&r);
        io.snap_create("two").unwrap();
        for i in 5..15 {
            io.write(&format!("o{i}"), &b"again"[..], 5000).unwrap();
        }
        io.remove("o19").unwrap();
        io.truncate("o15", 3000).unwrap();
        io.append("o16", &b"tail"[..]).unwrap();
        io.snap_rollback("o7", "one").unwrap();
        io.zero("o8", 2000, 4000).unwrap();
        r.osd_set_in(&[2], true).unwrap();
        r.wait_for_clean(Duration::from_secs(30)).unwrap();
        let one = io.snap_lookup("one").unwrap();
        let two = io.snap_lookup("two").unwrap();
        let mut want = vec![0u8; 10_000];
        want.fill(7);
        want[100..107].copy_from_slice(b"changed");
        assert_eq!(io.at_snap(two).read_full("o7").unwrap(), want);
        want.fill(7);
        assert_eq!(io.at_snap(one).read_full("o7").unwrap(), want);
        assert_eq!(
            io.at_snap(two).read_full("o19").unwrap(),
            vec![19u8; 10_000]
        );
    }
    let objects = assert_replicas_identical(dir.path(), 3);
    let clones = objects.keys().filter(|k| k.3 != SNAP_HEAD).count();
    // o0..o9 have a clone for "one"; o5..o14 (o7 twice written), o15, o16 and o19 one for
    // "two".
    assert_eq!(clones, 10 + 10 + 3);
    let heads = objects
        .iter()
        .filter(|(k, _)| k.3 == SNAP_HEAD && !k.2.is_empty())
        .count();
    assert!(heads >= 20, "19 live heads and o19's whiteout: {heads}");
}

/// Class methods that only read run at a snapshot and see the object as it was; one that would
/// change the object is refused (EINVAL, as Ceph's OSD answers) and changes nothing.
#[test]
fn read_only_class_calls_run_at_a_snap() {
    let r = shared();
    let io = pool(&r, "clssnap");
    io.write_full("locked", &b"data"[..]).unwrap();
    io.lock_exclusive("locked", "L", "c1", "then", None)
        .unwrap();
    let s = io.snap_create("s").unwrap();
    io.unlock("locked", "L", "c1").unwrap();
    io.lock_shared("locked", "L", "c2", "tag", "now", None)
        .unwrap();

    let at = io.at_snap(s);
    let then = at.lock_info("locked", "L").unwrap();
    assert_eq!(then.lockers.len(), 1);
    assert_eq!(then.lockers[0].cookie, "c1");
    assert_eq!(then.lockers[0].description, "then");
    assert_eq!(at.list_locks("locked").unwrap(), vec!["L".to_string()]);
    // A method that writes is refused at the snap, and the head keeps its state.
    assert_eq!(
        errno(at.lock_exclusive("locked", "M", "c3", "", None)),
        librados::errno::EINVAL
    );
    assert_eq!(
        errno(at.unlock("locked", "L", "c1")),
        librados::errno::EINVAL
    );
    assert_eq!(io.list_locks("locked").unwrap(), vec!["L".to_string()]);
    let now = io.lock_info("locked", "L").unwrap();
    assert_eq!(now.lockers.len(), 1);
    assert_eq!(now.lockers[0].cookie, "c2");
    assert_eq!(
        errno(at.exec("never", "lock", "list_locks", Bytes::new())),
        librados::errno::ENOENT
    );
}

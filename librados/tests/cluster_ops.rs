//! Every object operation of the client API against an embedded 3-OSD cluster: contents round
//! trip byte-exact, errors carry Ceph's errno, compound operations are all or nothing.

mod common;

use bytes::Bytes;
use librados::client::{CmpOp, OpFlags, StepOutput};
use librados::errno::*;
use librados::{Error, IoCtx, ReadOp, WriteOp};
use std::time::Duration;

fn io() -> IoCtx {
    common::cluster::shared().ioctx("data").unwrap()
}

fn errno_of<T: std::fmt::Debug>(r: Result<T, Error>) -> i32 {
    r.expect_err("expected an error").errno()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn contents_round_trip_byte_exact() {
    let io = io();
    for (name, len) in [
        ("rt-empty", 0usize),
        ("rt-one", 1),
        ("rt-4m", 4 << 20),
        ("rt-64m", 64 << 20),
    ] {
        let data = pattern(len, 7);
        io.write_full(name, data.clone()).unwrap();
        assert_eq!(io.stat(name).unwrap().size, len as u64, "{name}");
        let back = io.read_full(name).unwrap();
        assert!(back == data, "{name}: contents differ");
    }
    // Binary-ish names: control characters, NUL, non-ASCII, slashes, long names.
    let long = "n".repeat(2000);
    for name in [
        "a\0b",
        "tab\tnew\nline",
        "ünï/çødé ✓",
        "/leading/slash",
        long.as_str(),
    ] {
        io.write_full(name, Bytes::from(name.as_bytes().to_vec()))
            .unwrap();
        assert_eq!(&io.read_full(name).unwrap()[..], name.as_bytes());
    }
    assert_eq!(
        errno_of(io.write_full(&"n".repeat(3000), &b"x"[..])),
        ENAMETOOLONG
    );
    assert_eq!(errno_of(io.write_full("", &b"x"[..])), EINVAL);
    // Larger than a message may be: refused at once, not retried.
    assert_eq!(
        errno_of(io.write_full("rt-huge", vec![0u8; 200 << 20])),
        E2BIG
    );
}

#[test]
fn partial_writes_appends_truncates_and_zeros() {
    let io = io();
    io.write("pw", &b"hello world"[..], 0).unwrap();
    io.write("pw", &b"HELLO"[..], 0).unwrap();
    io.write("pw", &b"!"[..], 20).unwrap();
    let d = io.read_full("pw").unwrap();
    assert_eq!(d.len(), 21);
    assert_eq!(&d[..11], b"HELLO world");
    assert!(d[11..20].iter().all(|&b| b == 0));
    io.append("pw", &b"++"[..]).unwrap();
    assert_eq!(io.stat("pw").unwrap().size, 23);
    io.truncate("pw", 5).unwrap();
    assert_eq!(&io.read_full("pw").unwrap()[..], b"HELLO");
    io.zero("pw", 1, 2).unwrap();
    assert_eq!(&io.read_full("pw").unwrap()[..], b"H\0\0LO");
    // Zero never extends; reads past the end are empty; a length reads a window.
    io.zero("pw", 3, 100).unwrap();
    assert_eq!(io.stat("pw").unwrap().size, 5);
    assert!(io.read("pw", 10, 50).unwrap().is_empty());
    assert_eq!(&io.read("pw", 2, 0).unwrap()[..], b"H\0");
    // Ceph: truncating a missing object succeeds and creates nothing.
    io.truncate("pw-missing", 10).unwrap();
    assert_eq!(errno_of(io.stat("pw-missing")), ENOENT);
    // Writes beyond the object size limit.
    assert_eq!(errno_of(io.write("pw", &b"x"[..], 128 << 20)), EFBIG);
}

#[test]
fn create_remove_and_missing_objects() {
    let io = io();
    io.create("cr", true).unwrap();
    assert_eq!(io.stat("cr").unwrap().size, 0);
    assert_eq!(errno_of(io.create("cr", true)), EEXIST);
    io.create("cr", false).unwrap();
    io.remove("cr").unwrap();
    assert_eq!(errno_of(io.remove("cr")), ENOENT);
    assert_eq!(errno_of(io.read_full("cr")), ENOENT);
    assert_eq!(errno_of(io.stat("cr")), ENOENT);
    assert!(matches!(io.read_full("cr"), Err(Error::NotFound { .. })));
    // Zero-length writes create the object, as in Ceph.
    io.write("zl", Bytes::new(), 0).unwrap();
    assert_eq!(io.stat("zl").unwrap().size, 0);
}

#[test]
fn xattrs_and_guards() {
    let io = io();
    io.write_full("xa", &b"data"[..]).unwrap();
    io.set_xattr("xa", "color", &b"blue"[..]).unwrap();
    io.set_xattr("xa", "bin", vec![0u8, 255, 1]).unwrap();
    assert_eq!(&io.get_xattr("xa", "color").unwrap()[..], b"blue");
    let all = io.get_xattrs("xa").unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), vec!["bin", "color"]);
    assert_eq!(errno_of(io.get_xattr("xa", "nope")), ENODATA);
    assert_eq!(errno_of(io.get_xattr("xa-missing", "color")), ENOENT);
    io.rm_xattr("xa", "bin").unwrap();
    io.rm_xattr("xa", "bin").unwrap(); // Ceph: removing a missing xattr succeeds
    assert_eq!(errno_of(io.rm_xattr("xa-missing", "x")), ENOENT);
    // A failed guard cancels the whole write.
    let mut op = WriteOp::new();
    op.cmp_xattr("color", CmpOp::Eq, &b"red"[..])
        .write_full(&b"changed"[..]);
    assert_eq!(errno_of(io.operate("xa", &op)), ECANCELED);
    assert_eq!(&io.read_full("xa").unwrap()[..], b"data");
    let mut op = WriteOp::new();
    op.cmp_xattr("color", CmpOp::Eq, &b"blue"[..])
        .write_full(&b"changed"[..]);
    io.operate("xa", &op).unwrap();
    assert_eq!(&io.read_full("xa").unwrap()[..], b"changed");
    io.set_xattr("xa", "n", &b"10"[..]).unwrap();
    let mut op = WriteOp::new();
    op.cmp_xattr_u64("n", CmpOp::Gt, 9)
        .set_xattr("n", &b"11"[..]);
    io.operate("xa", &op).unwrap();
    let mut op = WriteOp::new();
    op.cmp_xattr_u64("n", CmpOp::Lt, 5)
        .set_xattr("n", &b"0"[..]);
    assert_eq!(errno_of(io.operate("xa", &op)), ECANCELED);
    assert_eq!(&io.get_xattr("xa", "n").unwrap()[..], b"11");
}

#[test]
fn versions_and_asserts() {
    let io = io();
    io.write_full("ver", &b"1"[..]).unwrap();
    let v = io.last_version();
    assert!(v > 0);
    let mut op = WriteOp::new();
    op.assert_version(v).write_full(&b"2"[..]);
    let v2 = io.operate("ver", &op).unwrap();
    assert!(v2 > v);
    let mut op = WriteOp::new();
    op.assert_version(v).write_full(&b"3"[..]);
    assert_eq!(errno_of(io.operate("ver", &op)), ERANGE);
    let mut op = WriteOp::new();
    op.assert_version(v2 + 100).write_full(&b"3"[..]);
    assert_eq!(errno_of(io.operate("ver", &op)), EOVERFLOW);
    assert_eq!(&io.read_full("ver").unwrap()[..], b"2");
    let mut op = WriteOp::new();
    op.assert_exists().write_full(&b"x"[..]);
    assert_eq!(errno_of(io.operate("ver-missing", &op)), ENOENT);
    assert_eq!(errno_of(io.stat("ver-missing")), ENOENT);
}

#[test]
fn omap_operations() {
    let io = io();
    let entries: Vec<(Bytes, Bytes)> = (0..20)
        .map(|i| {
            (
                Bytes::from(format!("k{i:02}")),
                Bytes::from(format!("v{i}")),
            )
        })
        .collect();
    io.omap_set("om", entries.clone()).unwrap();
    io.omap_set("om", [(&b"other"[..], &b"o"[..])]).unwrap();
    io.omap_set_header("om", &b"hdr"[..]).unwrap();
    assert_eq!(&io.omap_get_header("om").unwrap()[..], b"hdr");
    let (page, more) = io.omap_get_vals("om", b"", b"k", 5).unwrap();
    assert_eq!(page, entries[..5].to_vec());
    assert!(more);
    let (page, more) = io.omap_get_vals("om", b"k04", b"k", 100).unwrap();
    assert_eq!(page, entries[5..].to_vec());
    assert!(!more);
    let (keys, _) = io.omap_get_keys("om", b"k18", 100).unwrap();
    assert_eq!(keys, vec![Bytes::from("k19"), Bytes::from("other")]);
    let got = io
        .omap_get_vals_by_keys("om", [&b"k03"[..], &b"nope"[..]])
        .unwrap();
    assert_eq!(got, vec![(Bytes::from("k03"), Bytes::from("v3"))]);
    io.omap_rm_keys("om", [&b"k00"[..]]).unwrap();
    io.omap_rm_range("om", b"k01", b"k10").unwrap();
    let (keys, _) = io.omap_get_keys("om", b"", 100).unwrap();
    assert_eq!(keys.first(), Some(&Bytes::from("k10")));
    assert_eq!(keys.len(), 11);
    io.omap_clear("om").unwrap();
    assert!(io.omap_get_keys("om", b"", 100).unwrap().0.is_empty());
    assert_eq!(errno_of(io.omap_get_keys("om-missing", b"", 10)), ENOENT);
    assert_eq!(errno_of(io.omap_clear("om-missing")), ENOENT);
    assert_eq!(errno_of(io.omap_rm_keys("om-missing", [&b"a"[..]])), ENOENT);
}

/// Op flags as Ceph's: EXCL makes a create exclusive; a FAILOK step may fail (reporting its
/// errno) while the rest of its operation applies; hints are accepted.
#[test]
fn op_flags_make_creates_exclusive_and_let_steps_fail() {
    let io = io();
    io.write_full("flags", &b"old"[..]).unwrap();
    let mut op = WriteOp::new();
    op.create(false).set_op_flags(OpFlags::EXCL);
    op.write_full(&b"new"[..]);
    assert_eq!(errno_of(io.operate("flags", &op)), EEXIST);
    let mut op = WriteOp::new();
    op.create(true)
        .set_op_flags(OpFlags::FAILOK | OpFlags::FADVISE_DONTNEED)
        .write_full(&b"new"[..]);
    io.operate("flags", &op).unwrap();
    assert_eq!(&io.read_full("flags").unwrap()[..], b"new");
    let mut read = ReadOp::new();
    read.get_xattr("nope").set_op_flags(OpFlags::FAILOK).stat();
    let outs = io.operate_read("flags", &read).unwrap();
    assert_eq!(outs[0], StepOutput::Failed { errno: ENODATA });
    assert!(matches!(outs[1], StepOutput::Stat { size: 3, .. }));
    // As in Ceph, a read of a missing object fails whatever its flags.
    assert_eq!(errno_of(io.operate_read("flags-missing", &read)), ENOENT);
    // Flags before any step mark nothing; later flags replace earlier ones, as in Ceph.
    let mut op = WriteOp::new();
    op.set_op_flags(OpFlags::FAILOK).remove();
    assert_eq!(errno_of(io.operate("flags-missing", &op)), ENOENT);
    op.set_op_flags(OpFlags::FAILOK)
        .set_op_flags(OpFlags::default());
    assert_eq!(errno_of(io.operate("flags-missing", &op)), ENOENT);
    let mut op = WriteOp::new();
    op.create(true).set_op_flags(OpFlags::FADVISE_NOCACHE);
    op.write_full(&b"newest"[..]);
    io.operate("flags", &op).unwrap();
    assert_eq!(&io.read_full("flags").unwrap()[..], b"newest");
}

#[test]
fn compound_operations_are_all_or_nothing() {
    let io = io();
    io.write_full("cmp", &b"before"[..]).unwrap();
    io.set_xattr("cmp", "a", &b"1"[..]).unwrap();
    let mut op = WriteOp::new();
    op.write_full(&b"after"[..])
        .set_xattr("a", &b"2"[..])
        .omap_set([(&b"k"[..], &b"v"[..])])
        .create(true); // fails: the object exists
    assert_eq!(errno_of(io.operate("cmp", &op)), EEXIST);
    assert_eq!(&io.read_full("cmp").unwrap()[..], b"before");
    assert_eq!(&io.get_xattr("cmp", "a").unwrap()[..], b"1");
    assert!(io.omap_get_keys("cmp", b"", 10).unwrap().0.is_empty());
    // A successful compound write applies every step.
    let mut op = WriteOp::new();
    op.write_full(&b"after"[..])
        .set_xattr("a", &b"2"[..])
        .omap_set([(&b"k"[..], &b"v"[..])]);
    io.operate("cmp", &op).unwrap();
    let mut rop = ReadOp::new();
    rop.read(0, 0)
        .get_xattr("a")
        .omap_get_vals("", "", 10)
        .stat();
    let out = io.operate_read("cmp", &rop).unwrap();
    assert_eq!(out[0], StepOutput::Data(Bytes::from("after")));
    assert_eq!(out[1], StepOutput::Data(Bytes::from("2")));
    assert!(matches!(&out[2], StepOutput::OmapVals { entries, .. } if entries.len() == 1));
    assert!(matches!(out[3], StepOutput::Stat { size: 5, .. }));
    // A remove and re-create in one op.
    let mut op = WriteOp::new();
    op.remove().create(true).write_full(&b"fresh"[..]);
    io.operate("cmp", &op).unwrap();
    assert_eq!(&io.read_full("cmp").unwrap()[..], b"fresh");
    assert!(io.get_xattrs("cmp").unwrap().is_empty());
}

#[test]
fn object_classes() {
    let io = io();
    assert_eq!(
        &io.exec("cls", "hello", "say_hello", &b"bob"[..]).unwrap()[..],
        b"Hello, bob!"
    );
    assert_eq!(
        &io.exec("cls", "hello", "say_hello", Bytes::new()).unwrap()[..],
        b"Hello, world!"
    );
    io.exec("cls-rec", "hello", "record_hello", &b"me"[..])
        .unwrap();
    assert_eq!(
        errno_of(io.exec("cls-rec", "hello", "record_hello", &b"me"[..])),
        EEXIST
    );
    assert_eq!(
        &io.exec("cls-rec", "hello", "replay", Bytes::new()).unwrap()[..],
        b"Hello, me!"
    );
    io.exec("cls-rec", "hello", "turn_it_to_11", Bytes::new())
        .unwrap();
    assert_eq!(&io.read_full("cls-rec").unwrap()[..], b"HELLO, ME!");
    assert_eq!(
        errno_of(io.exec("cls", "nosuch", "m", Bytes::new())),
        EOPNOTSUPP
    );
    assert_eq!(
        errno_of(io.exec("cls", "hello", "nosuch", Bytes::new())),
        EOPNOTSUPP
    );
    assert_eq!(
        errno_of(io.exec("cls-none", "hello", "replay", Bytes::new())),
        ENOENT
    );
    // The version counter.
    io.exec("cls-ver", "version", "inc", Bytes::new()).unwrap();
    io.exec("cls-ver", "version", "inc", Bytes::new()).unwrap();
    let v: librados::osd::class::ObjVersion =
        rmp_serde::from_slice(&io.exec("cls-ver", "version", "read", Bytes::new()).unwrap())
            .unwrap();
    assert_eq!(v.ver, 2);
}

#[test]
fn advisory_locks_between_clients() {
    let a = io();
    let b = io();
    a.lock_exclusive("lk", "L", "c1", "mine", None).unwrap();
    assert_eq!(
        errno_of(a.lock_exclusive("lk", "L", "c1", "mine", None)),
        EEXIST
    );
    assert_eq!(
        errno_of(b.lock_exclusive("lk", "L", "c2", "theirs", None)),
        EBUSY
    );
    assert_eq!(
        errno_of(b.lock_shared("lk", "L", "c2", "t", "", None)),
        EBUSY
    );
    let info = a.lock_info("lk", "L").unwrap();
    assert_eq!(info.lockers.len(), 1);
    assert_eq!(a.list_locks("lk").unwrap(), vec!["L".to_string()]);
    assert_eq!(
        errno_of(b.unlock("lk", "L", "c1")),
        ENOENT,
        "only the holder unlocks"
    );
    let holder = info.lockers[0].entity.clone();
    b.break_lock("lk", "L", &holder, "c1").unwrap();
    b.lock_shared("lk", "L", "c2", "tag", "", None).unwrap();
    a.lock_shared("lk", "L", "c1", "tag", "", None).unwrap();
    assert_eq!(
        errno_of(a.lock_shared("lk", "L", "c3", "other-tag", "", None)),
        EBUSY
    );
    assert_eq!(a.lock_info("lk", "L").unwrap().lockers.len(), 2);
    a.unlock("lk", "L", "c1").unwrap();
    b.unlock("lk", "L", "c2").unwrap();
    assert_eq!(errno_of(a.lock_info("lk", "L")), ENOENT);
    // Locks with a duration expire.
    a.lock_exclusive("lk", "T", "c", "", Some(Duration::from_millis(200)))
        .unwrap();
    assert_eq!(errno_of(b.lock_exclusive("lk", "T", "c", "", None)), EBUSY);
    std::thread::sleep(Duration::from_millis(300));
    b.lock_exclusive("lk", "T", "c", "", None).unwrap();
}

#[test]
fn locks_renew_only_when_asked() {
    use librados::client::LockRenew;
    let a = io();
    let b = io();
    assert_eq!(
        errno_of(a.lock_exclusive_with("rn", "L", "c", "", None, LockRenew::Must)),
        ENOENT,
        "must-renew needs a lock held"
    );
    a.lock_exclusive_with(
        "rn",
        "L",
        "c",
        "first",
        Some(Duration::from_secs(600)),
        LockRenew::May,
    )
    .unwrap();
    let expires = |io: &IoCtx| io.lock_info("rn", "L").unwrap().lockers[0].expires_ns;
    let first = expires(&a);
    assert!(first > 0);
    assert_eq!(errno_of(a.lock_exclusive("rn", "L", "c", "", None)), EEXIST);
    // Renewing replaces the duration and the description.
    a.lock_exclusive_with("rn", "L", "c", "renewed", None, LockRenew::Must)
        .unwrap();
    let info = a.lock_info("rn", "L").unwrap();
    assert_eq!(info.lockers.len(), 1);
    assert_eq!(info.lockers[0].expires_ns, 0);
    assert_eq!(info.lockers[0].description, "renewed");
    assert_eq!(
        errno_of(b.lock_exclusive_with("rn", "L", "c", "", None, LockRenew::May)),
        EBUSY,
        "another client renews nothing"
    );
    a.lock_shared_with("rn", "S", "c", "t", "", None, LockRenew::May)
        .unwrap();
    a.lock_shared_with("rn", "S", "c", "t", "", None, LockRenew::May)
        .unwrap();
    assert_eq!(a.lock_info("rn", "S").unwrap().lockers.len(), 1);
}

#[test]
fn a_write_op_stamps_the_mtime_it_is_given() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let io = io();
    let when = UNIX_EPOCH + Duration::from_secs(1_500_000_000);
    let mut op = WriteOp::new();
    op.write_full(Bytes::from_static(b"old news"))
        .set_mtime(when);
    io.operate("stamped", &op).unwrap();
    assert_eq!(io.stat("stamped").unwrap().mtime, when);
    // Without one, the time of the write.
    let before = SystemTime::now() - Duration::from_secs(1);
    io.write("stamped", Bytes::from_static(b"new"), 0).unwrap();
    assert!(io.stat("stamped").unwrap().mtime >= before);
}

#[test]
fn namespaces_locators_and_listing() {
    let r = common::cluster::shared();
    r.create_pool_with("listing", Some(16), None).unwrap();
    let mut io = r.ioctx("listing").unwrap();
    for i in 0..300 {
        io.write_full(&format!("obj-{i:03}"), Bytes::from(vec![1u8; i % 7]))
            .unwrap();
    }
    io.set_namespace("ns1");
    io.write_full("obj-000", &b"in ns1"[..]).unwrap();
    io.write_full("only-ns1", &b"x"[..]).unwrap();
    let ns1: Vec<String> = io.list_objects().map(|e| e.unwrap().name).collect();
    let mut sorted = ns1.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["obj-000", "only-ns1"]);
    io.set_namespace("");
    assert_eq!(io.read_full("obj-000").unwrap().len(), 0);
    let mut names: Vec<String> = io.list_objects().map(|e| e.unwrap().name).collect();
    names.sort();
    let want: Vec<String> = (0..300).map(|i| format!("obj-{i:03}")).collect();
    assert_eq!(names, want, "every object exactly once");
    let all = io.list_objects_all_namespaces().count();
    assert_eq!(all, 302);
    // Objects under one locator key share a PG.
    io.set_locator_key("shared-key");
    for i in 0..5 {
        io.write_full(&format!("loc-{i}"), &b"l"[..]).unwrap();
    }
    let map = r.osdmap();
    let pool = map.pool_by_name("listing").unwrap();
    let h = pool.hash_key(b"shared-key", b"");
    let pg = pool.raw_pg_to_pg(librados::osdmap::PgId::new(pool.id, h));
    let locs: Vec<_> = io
        .list_objects()
        .map(|e| e.unwrap())
        .filter(|e| e.name.starts_with("loc-"))
        .collect();
    assert_eq!(locs.len(), 5);
    assert!(locs.iter().all(|e| e.locator == "shared-key"));
    let _ = pg;
    assert_eq!(&io.read_full("loc-3").unwrap()[..], b"l");
    io.set_locator_key("");
    assert_eq!(
        errno_of(io.read_full("loc-3")),
        ENOENT,
        "without its locator the name is another object"
    );
}

#[test]
fn pools_are_created_listed_and_deleted() {
    let r = common::cluster::shared();
    r.create_pool("p-a").unwrap();
    assert_eq!(errno_of(r.create_pool("p-a")), EEXIST);
    assert!(r.list_pools().contains(&"p-a".to_string()));
    let io = r.ioctx("p-a").unwrap();
    io.write_full("x", &b"1"[..]).unwrap();
    r.delete_pool("p-a").unwrap();
    assert!(!r.pool_exists("p-a"));
    assert!(matches!(r.ioctx("p-a"), Err(Error::PoolNotFound { .. })));
    assert_eq!(errno_of(r.delete_pool("p-a")), ENOENT);
    assert_eq!(errno_of(io.read_full("x")), ENOENT);
    assert_eq!(r.pool_get("data", "size").unwrap().value, "3");
    assert_eq!(errno_of(r.pool_set("data", "bogus", "1")), EINVAL);
    assert_eq!(errno_of(r.pool_get("nosuch", "size")), ENOENT);
}

#[test]
fn async_operations_many_in_flight() {
    let io = io();
    let aio = io.aio();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The blocking API refuses to run inside async code rather than deadlock.
    rt.block_on(async {
        assert_eq!(io.stat("x").unwrap_err().errno(), EINVAL);
    });
    let n = 64;
    rt.block_on(async {
        let writes = (0..n).map(|i| {
            let aio = aio.clone();
            async move {
                aio.write_full(&format!("aio-{i}"), Bytes::from(pattern(1000 + i, i as u8)))
                    .await
            }
        });
        for r in futures_join_all(writes).await {
            r.unwrap();
        }
        let reads = (0..n).map(|i| {
            let aio = aio.clone();
            async move { (i, aio.read(&format!("aio-{i}"), 0, 0).await) }
        });
        for (i, r) in futures_join_all(reads).await {
            assert_eq!(r.unwrap().to_vec(), pattern(1000 + i, i as u8));
        }
    });
}

#[test]
fn async_operations_on_one_object_apply_in_submission_order() {
    let io = io();
    let aio = io.aio();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    type Op = std::pin::Pin<Box<dyn std::future::Future<Output = librados::Result<()>> + Send>>;
    let mut ops: Vec<Op> = Vec::new();
    {
        let aio = aio.clone();
        ops.push(Box::pin(async move {
            aio.write_full("ordered", Bytes::from_static(b"start:"))
                .await
        }));
    }
    for i in 0..50 {
        let aio = aio.clone();
        ops.push(Box::pin(async move {
            aio.append("ordered", Bytes::from(format!("{i},"))).await
        }));
    }
    let aio2 = aio.clone();
    ops.push(Box::pin(async move {
        aio2.write("ordered", Bytes::from_static(b"S"), 0).await
    }));
    // All in flight at once, submitted (first polled) in order.
    for r in rt.block_on(join_in_order(ops)) {
        r.unwrap();
    }
    let want: String = (0..50).map(|i| format!("{i},")).collect();
    assert_eq!(
        String::from_utf8(io.read_full("ordered").unwrap().to_vec()).unwrap(),
        format!("Start:{want}")
    );
}

/// Polls every future in order each time, until all are done.
async fn join_in_order<F: std::future::Future + Unpin>(mut futs: Vec<F>) -> Vec<F::Output> {
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                if let std::task::Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                    *o = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

/// Runs futures concurrently (a tiny join_all on tokio tasks).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let set: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in set {
        out.push(h.await.unwrap());
    }
    out
}

#[test]
fn usage_is_reported() {
    let r = common::cluster::shared();
    r.create_pool_with("usage", Some(8), None).unwrap();
    let io = r.ioctx("usage").unwrap();
    for i in 0..10 {
        io.write_full(&format!("u{i}"), Bytes::from(vec![0u8; 1000]))
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let df = r.df().unwrap();
        let u = df.iter().find(|p| p.name == "usage").unwrap();
        if u.objects == 10 && u.bytes == 10_000 {
            assert_eq!(u.copies, 30);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "df never showed the objects: {u:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = r.status().unwrap();
    assert_eq!((st.num_osds, st.num_up_osds, st.num_in_osds), (3, 3, 3));
    assert!(
        st.total_bytes > 0 && st.used_bytes > 0 && st.avail_bytes > 0,
        "{st:?}"
    );
    let tree = r.osd_tree().unwrap();
    assert_eq!(tree.iter().filter(|n| n.type_name == "host").count(), 3);
}

/// A watch outlives its timeout while its client pings it, and fails once, for good, when its
/// object is removed: the error callback hears ENOTCONN, `watch_check` reports it, and the
/// failed watch gets no notifies even when the object is written again.
#[test]
fn a_watch_is_kept_alive_by_pings_and_fails_when_its_object_is_removed() {
    let watcher = io();
    let other = io();
    watcher.write_full("wf", &b"x"[..]).unwrap();
    let (options, rx) = common::cluster::watch_reporting_errors(Duration::from_secs(2));
    let cookie = watcher
        .watch_with("wf", options, |ev| ev.payload.to_vec())
        .unwrap();
    assert!(watcher.watch_check(cookie).unwrap() < Duration::from_secs(1));
    // Past its 2 s timeout: alive, since the client pinged it.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(watcher.watch_check(cookie).unwrap() < Duration::from_secs(2));
    let r = other
        .notify("wf", &b"still there?"[..], Duration::from_secs(5))
        .unwrap();
    assert_eq!(r.acks.len(), 1);
    other.remove("wf").unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        (cookie, ENOTCONN)
    );
    assert_eq!(errno_of(watcher.watch_check(cookie)), ENOTCONN);
    other.write_full("wf", &b"again"[..]).unwrap();
    let r = other
        .notify("wf", &b"anyone?"[..], Duration::from_secs(1))
        .unwrap();
    assert!(r.acks.is_empty(), "a failed watch hears nothing");
    assert!(rx.try_recv().is_err(), "the failure is reported once");
    // Unwatching a failed watch succeeds, as in Ceph; then it is gone.
    watcher.unwatch(cookie).unwrap();
    assert_eq!(errno_of(watcher.watch_check(cookie)), ENOENT);
    assert_eq!(errno_of(watcher.unwatch(cookie)), ENOENT);
}

#[test]
fn watch_and_notify() {
    let watcher = io();
    let notifier = io();
    assert_eq!(
        errno_of(watcher.watch("wn-missing", |_| Vec::new())),
        ENOENT
    );
    watcher.write_full("wn", &b"x"[..]).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let cookie = watcher
        .watch("wn", move |ev| {
            s.lock().unwrap().push(ev.payload.clone());
            b"pong".to_vec()
        })
        .unwrap();
    let r = notifier
        .notify("wn", &b"ping"[..], Duration::from_secs(5))
        .unwrap();
    assert_eq!(r.acks.len(), 1);
    assert_eq!(r.acks[0].1, cookie);
    assert_eq!(&r.acks[0].2[..], b"pong");
    assert_eq!(seen.lock().unwrap().as_slice(), &[Bytes::from("ping")]);
    // A watcher that does not answer in time makes the notify time out.
    let slow = io();
    let slow_cookie = slow
        .watch("wn", |_| {
            std::thread::sleep(Duration::from_millis(800));
            Vec::new()
        })
        .unwrap();
    assert_eq!(
        errno_of(notifier.notify("wn", &b"again"[..], Duration::from_millis(200))),
        ETIMEDOUT
    );
    slow.unwatch(slow_cookie).unwrap();
    watcher.unwatch(cookie).unwrap();
    assert_eq!(errno_of(watcher.unwatch(cookie)), ENOENT);
    let r = notifier
        .notify("wn", &b"nobody"[..], Duration::from_secs(1))
        .unwrap();
    assert!(r.acks.is_empty());
    // As in Ceph, a notify needs the object.
    assert_eq!(
        errno_of(notifier.notify("wn-missing", &b"?"[..], Duration::from_secs(1))),
        ENOENT
    );
    // Notifies on an object nobody watches succeed at once.
    notifier.write_full("wn-quiet", &b""[..]).unwrap();
    assert!(notifier
        .notify("wn-quiet", &b"?"[..], Duration::from_secs(1))
        .unwrap()
        .acks
        .is_empty());
}

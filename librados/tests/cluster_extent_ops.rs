//! Compare-extent, omap-compare and write-same through the client API on the embedded
//! cluster: Ceph's return values (checked against a Ceph 16 cluster), all-or-nothing
//! compound operations, snapshots preserved and usage reported as for plain writes.

mod common;

use bytes::Bytes;
use common::cluster::shared;
use librados::client::CmpOp;
use librados::errno::*;
use librados::{Error, IoCtx, Rados, ReadOp, WriteOp};
use std::time::{Duration, Instant};

fn pool(r: &Rados, name: &str) -> IoCtx {
    r.create_pool_with(name, Some(8), None).unwrap();
    r.ioctx(name).unwrap()
}

fn errno_of<T: std::fmt::Debug>(r: Result<T, Error>) -> i32 {
    r.expect_err("expected an error").errno()
}

fn mismatch_at<T: std::fmt::Debug>(r: Result<T, Error>) -> u64 {
    match r.expect_err("expected a mismatch") {
        Error::CmpExtMismatch { offset, .. } => offset,
        other => panic!("not a mismatch: {other:?}"),
    }
}

/// Runs an async client call to completion outside the cluster's runtime.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn cmp_ext_reports_where_content_differs() {
    let r = shared();
    let io = pool(&r, "cmpext");
    io.write_full("o", &b"hello"[..]).unwrap();
    io.cmp_ext("o", 0, &b"hello"[..]).unwrap();
    io.cmp_ext("o", 1, &b"ell"[..]).unwrap();
    io.cmp_ext("o", 0, &b""[..]).unwrap();
    assert_eq!(mismatch_at(io.cmp_ext("o", 0, &b"heLlo"[..])), 2);
    assert_eq!(mismatch_at(io.cmp_ext("o", 0, &b"X"[..])), 0);
    let err = io.cmp_ext("o", 0, &b"hexlo"[..]).unwrap_err();
    assert_eq!(err.errno(), MAX_ERRNO + 2);
    assert!(err.to_string().contains("byte 2"), "{err}");
    // Past the end: zeros.
    io.cmp_ext("o", 0, &b"hello\0\0"[..]).unwrap();
    io.cmp_ext("o", 100, &b"\0\0"[..]).unwrap();
    assert_eq!(mismatch_at(io.cmp_ext("o", 0, &b"hello\0x"[..])), 6);
    assert_eq!(mismatch_at(io.cmp_ext("o", 100, &b"\0a"[..])), 1);
    // A missing object: ENOENT in a read, zeros in a write.
    assert_eq!(errno_of(io.cmp_ext("missing", 0, &b"\0"[..])), ENOENT);
    let mut rop = ReadOp::new();
    rop.cmp_ext(0, &b"\0"[..]);
    assert_eq!(errno_of(io.operate_read("missing", &rop)), ENOENT);
    let mut w = WriteOp::new();
    w.cmp_ext(0, &b"\0\0"[..]).write(0, &b"new"[..]);
    io.operate("created", &w).unwrap();
    assert_eq!(io.read_full("created").unwrap(), &b"new"[..]);
    // Async, the same.
    let aio = io.aio();
    let got = block_on(async move { aio.cmp_ext("o", 0, Bytes::from_static(b"hel!")).await });
    assert_eq!(mismatch_at(got), 3);
}

#[test]
fn a_failed_guard_leaves_the_object_untouched() {
    let r = shared();
    let io = pool(&r, "cmpext-atomic");
    io.write_full("o", &b"hello"[..]).unwrap();
    io.omap_set("o", [(&b"k"[..], &b"v1"[..])]).unwrap();
    let v = io.stat("o").map(|_| io.last_version()).unwrap();

    let mut w = WriteOp::new();
    w.write(0, &b"ZZ"[..])
        .cmp_ext(0, &b"hexlo"[..])
        .write_same(10, 4, &b"ab"[..])
        .set_xattr("a", &b"1"[..]);
    assert_eq!(mismatch_at(io.operate("o", &w)), 2);

    let mut w = WriteOp::new();
    w.write(0, &b"ZZ"[..])
        .omap_cmp(&b"k"[..], CmpOp::Eq, &b"v2"[..])
        .omap_set([(&b"k"[..], &b"v3"[..])]);
    assert_eq!(errno_of(io.operate("o", &w)), ECANCELED);

    assert_eq!(io.read_full("o").unwrap(), &b"hello"[..]);
    assert_eq!(errno_of(io.get_xattr("o", "a")), ENODATA);
    let vals = io.omap_get_vals_by_keys("o", [&b"k"[..]]).unwrap();
    assert_eq!(vals[0].1, &b"v1"[..]);
    io.stat("o").unwrap();
    assert_eq!(io.last_version(), v, "no write happened");

    // Guards that hold let the write through.
    let mut w = WriteOp::new();
    w.cmp_ext(0, &b"hello"[..])
        .omap_cmp(&b"k"[..], CmpOp::Eq, &b"v1"[..])
        .write(0, &b"J"[..])
        .omap_set([(&b"k"[..], &b"v2"[..])]);
    io.operate("o", &w).unwrap();
    assert_eq!(io.read_full("o").unwrap(), &b"Jello"[..]);
}

#[test]
fn omap_cmp_operators_and_missing_keys() {
    let r = shared();
    let io = pool(&r, "omapcmp");
    let guarded = |op: CmpOp, key: &'static [u8], value: &'static [u8]| {
        let mut w = WriteOp::new();
        w.omap_cmp(key, op, value).set_xattr("touched", &b"1"[..]);
        io.operate("o", &w).map(|_| ())
    };
    assert_eq!(errno_of(guarded(CmpOp::Eq, b"k", b"")), ENOENT);
    io.omap_set("o", [(&b"k"[..], &b"b"[..])]).unwrap();
    let cases: &[(CmpOp, &'static [u8], i32)] = &[
        (CmpOp::Eq, b"b", 0),
        (CmpOp::Eq, b"a", ECANCELED),
        (CmpOp::Eq, b"c", ECANCELED),
        (CmpOp::Gt, b"a", 0),
        (CmpOp::Gt, b"b", ECANCELED),
        (CmpOp::Lt, b"c", 0),
        (CmpOp::Lt, b"bb", 0),
        (CmpOp::Lt, b"b", ECANCELED),
        // Ceph 16 understands only EQ, GT and LT here.
        (CmpOp::Ne, b"a", EINVAL),
        (CmpOp::Gte, b"b", EINVAL),
        (CmpOp::Lte, b"b", EINVAL),
    ];
    for &(op, value, want) in cases {
        let got = guarded(op, b"k", value).err().map_or(0, |e| e.errno());
        assert_eq!(got, want, "{op:?} {value:?}");
    }
    // A missing key compares as an empty value.
    assert_eq!(errno_of(guarded(CmpOp::Eq, b"nokey", b"a")), ECANCELED);
    guarded(CmpOp::Eq, b"nokey", b"").unwrap();
    guarded(CmpOp::Lt, b"nokey", b"a").unwrap();
    // In a read too.
    let mut rop = ReadOp::new();
    rop.omap_cmp(&b"k"[..], CmpOp::Eq, &b"b"[..])
        .omap_get_vals_by_keys([&b"k"[..]]);
    assert_eq!(io.operate_read("o", &rop).unwrap().len(), 2);
    let mut rop = ReadOp::new();
    rop.omap_cmp(&b"k"[..], CmpOp::Gt, &b"b"[..]);
    assert_eq!(errno_of(io.operate_read("o", &rop)), ECANCELED);
}

#[test]
fn write_same_fills_and_refuses_bad_lengths() {
    let r = shared();
    let io = pool(&r, "writesame");
    io.write_same("o", &b"ab"[..], 6, 1).unwrap();
    assert_eq!(io.read_full("o").unwrap(), &b"\0ababab"[..]);
    io.cmp_ext("o", 1, &b"ababab"[..]).unwrap();
    let mut w = WriteOp::new();
    w.write_same(4, 6, &b"xyz"[..]);
    io.operate("o", &w).unwrap();
    assert_eq!(io.read_full("o").unwrap(), &b"\0abaxyzxyz"[..]);

    assert_eq!(errno_of(io.write_same("o", &b"ab"[..], 5, 0)), EINVAL);
    assert_eq!(errno_of(io.write_same("o", &b""[..], 4, 0)), EINVAL);
    assert_eq!(
        errno_of(io.write_same("o", &b"ab"[..], 4, 200 << 20)),
        EFBIG
    );
    // A request writes at most an object's worth, however little it carries: a few bytes of
    // pattern asking for 2 x 100 MiB is refused before anything is expanded (EMSGSIZE, as
    // Ceph refuses writes over osd_max_write_size).
    let mut w = WriteOp::new();
    w.write_same(0, 100 << 20, &b"a"[..])
        .write_same(0, 100 << 20, &b"b"[..]);
    assert_eq!(errno_of(io.operate("o", &w)), EMSGSIZE);
    assert_eq!(io.read_full("o").unwrap(), &b"\0abaxyzxyz"[..]);
    // Nothing to write: success, and no object is created.
    io.write_same("empty", &b"ab"[..], 0, 0).unwrap();
    assert_eq!(errno_of(io.stat("empty")), ENOENT);

    let aio = io.aio();
    block_on(async move {
        aio.write_same("async", Bytes::from_static(b"q"), 3, 0)
            .await
    })
    .unwrap();
    assert_eq!(io.read_full("async").unwrap(), &b"qqq"[..]);
}

#[test]
fn write_same_after_a_snapshot_keeps_the_snapshot_and_counts_usage() {
    let r = shared();
    let io = pool(&r, "writesame-snap");
    io.write_full("o", Bytes::from(vec![b'o'; 4096])).unwrap();
    let s1 = io.snap_create("s1").unwrap();
    io.write_same("o", &b"N"[..], 1024, 0).unwrap();

    let at = io.at_snap(s1);
    assert_eq!(at.read_full("o").unwrap(), vec![b'o'; 4096]);
    at.cmp_ext("o", 0, Bytes::from(vec![b'o'; 4096])).unwrap();
    io.cmp_ext("o", 1023, &b"No"[..]).unwrap();
    assert_eq!(mismatch_at(io.cmp_ext("o", 1023, &b"oo"[..])), 0);
    let head = io.read_full("o").unwrap();
    assert_eq!(&head[..1024], &vec![b'N'; 1024][..]);
    assert_eq!(&head[1024..], &vec![b'o'; 3072][..]);
    let listing = io.list_snaps("o").unwrap();
    assert_eq!(listing.clones.len(), 2, "{listing:?}");
    assert_eq!(listing.clones[0].snaps, vec![s1]);
    assert_eq!(listing.clones[0].overlap, vec![(1024, 3072)]);

    // Usage: the head's 4096 bytes and the clone's 1024 it does not share.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let df = r.df().unwrap();
        let u = df.iter().find(|p| p.name == "writesame-snap").unwrap();
        if u.objects == 1 && u.bytes == 4096 + 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "df never showed it: {u:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

//! Fencing clients with the map's blocklist, the way a lock holder that stopped answering is
//! cut off before another client takes its lock: a fenced client's requests are refused with
//! ESHUTDOWN (Ceph's EBLOCKLISTED), its watches are dropped (they fail with ENOTCONN, as in
//! Ceph 16), and lifting the fence (or its expiry) lets it back.

mod common;

use librados::errno::*;
use librados::{Error, IoCtx, Rados};
use std::time::{Duration, Instant};

fn client() -> (Rados, IoCtx) {
    let r = common::cluster::shared();
    let io = r.ioctx("data").unwrap();
    (r, io)
}

fn errno_of<T: std::fmt::Debug>(r: Result<T, Error>) -> i32 {
    r.expect_err("expected an error").errno()
}

/// Polls `f` until it holds (the fence is lifted by a timer on the monitor).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fenced_client_is_refused_until_the_fence_is_lifted() {
    let (old_r, old) = client();
    let (new_r, new) = client();
    let addr = old_r.addr();
    assert_eq!(
        addr.to_string(),
        format!("127.0.0.1:0/{}", old_r.instance_id())
    );
    assert_ne!(addr, new_r.addr());

    old.write_full("fenced", &b"v1"[..]).unwrap();
    old.lock_exclusive("fenced", "L", "c", "", None).unwrap();
    let (options, rx) = common::cluster::watch_reporting_errors(Duration::from_secs(2));
    let cookie = old
        .watch_with("fenced", options, |_| b"old".to_vec())
        .unwrap();
    assert_eq!(
        new.notify("fenced", &b"hi"[..], Duration::from_secs(5))
            .unwrap()
            .acks
            .len(),
        1
    );

    // The take-over: fence the old holder, then break its lock and take it.
    let msg = new_r
        .blocklist_add(&addr.to_string(), Some(Duration::from_secs(600)))
        .unwrap();
    assert!(
        msg.starts_with(&format!("blocklisting {addr} until ")),
        "{msg}"
    );
    let listed = new_r.blocklist().unwrap();
    assert!(listed.iter().any(|(a, _)| *a == addr));
    let holder = new.lock_info("fenced", "L").unwrap().lockers[0]
        .entity
        .clone();
    new.break_lock("fenced", "L", &holder, "c").unwrap();
    new.lock_exclusive("fenced", "L", "c2", "", None).unwrap();
    new.write_full("fenced", &b"v2"[..]).unwrap();

    // Whatever the old holder still sends is refused: writes, reads, listings.
    let e = old.write_full("fenced", &b"stale"[..]).unwrap_err();
    assert!(matches!(e, Error::Blocklisted { .. }), "{e:?}");
    assert_eq!(e.errno(), ESHUTDOWN);
    assert_eq!(errno_of(old.read("fenced", 16, 0)), ESHUTDOWN);
    assert_eq!(
        errno_of(old.list_objects().collect::<Result<Vec<_>, _>>()),
        ESHUTDOWN
    );
    assert_eq!(&new.read("fenced", 16, 0).unwrap()[..], b"v2");

    // Its watch is gone: notifies no longer reach it, and its next ping fails the watch
    // with ENOTCONN, as in Ceph.
    let r = new
        .notify("fenced", &b"anyone?"[..], Duration::from_secs(10))
        .unwrap();
    assert!(r.acks.is_empty(), "{r:?}");
    let (c, errno) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((c, errno), (cookie, ENOTCONN));
    assert_eq!(errno_of(old.watch_check(cookie)), ENOTCONN);

    // Other clients are untouched; lifting the fence lets the old client back.
    let (_, bystander) = client();
    bystander.write_full("fenced-other", &b"ok"[..]).unwrap();
    new_r.blocklist_remove(&addr.to_string()).unwrap();
    assert!(new_r.blocklist().unwrap().iter().all(|(a, _)| *a != addr));
    assert_eq!(&old.read("fenced", 16, 0).unwrap()[..], b"v2");
    old.unwatch(cookie).unwrap();
    assert_eq!(
        new_r.blocklist_remove(&addr.to_string()).unwrap(),
        format!("{addr} isn't blocklisted")
    );
}

#[test]
fn a_fence_expires_on_its_own() {
    let (old_r, old) = client();
    let (new_r, _) = client();
    old.write_full("expiring", &b"x"[..]).unwrap();
    new_r
        .blocklist_add(&old_r.addr().to_string(), Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(errno_of(old.stat("expiring")), ESHUTDOWN);
    eventually("the fence lifts", || {
        new_r
            .blocklist()
            .unwrap()
            .iter()
            .all(|(a, _)| *a != old_r.addr())
    });
    assert_eq!(old.stat("expiring").unwrap().size, 1);
}

#[test]
fn bad_blocklist_requests_are_refused() {
    let (r, _) = client();
    for bad in ["", "client.4", "1.2.3.4:99999/1", "1.2.3.4:0/x", "[::1"] {
        let e = r.blocklist_add(bad, None).unwrap_err();
        assert_eq!(e.errno(), EINVAL, "{bad:?}: {e}");
        assert_eq!(errno_of(r.blocklist_remove(bad)), EINVAL, "{bad:?}");
    }
    assert!(r
        .blocklist()
        .unwrap()
        .iter()
        .all(|(a, _)| a.to_string() != "1.2.3.4:0/1"));
}

//! The cluster as daemon processes on 127.0.0.1: clients of every kind across processes,
//! one daemon stopped and started alone, and OSDs that die or freeze detected and recovered
//! from.

mod common;

use common::daemons::{log_mentions, Daemons, FAST};
use librados::WriteOp;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn clean(s: &librados::client::ClusterStatus) -> bool {
    s.num_up_osds == s.num_osds
        && !s.pgs_by_state.is_empty()
        && s.pgs_by_state.keys().all(|k| k == "active+clean")
}

#[test]
fn clients_in_separate_processes_share_the_cluster() {
    let d = Daemons::create(3, FAST);
    let r = d.client();
    let io = r.ioctx("data").unwrap();
    // Objects, compound ops, xattrs, omap, snapshots and listing over TCP.
    io.write_full("a", &b"from rust"[..]).unwrap();
    let mut op = WriteOp::new();
    op.set_xattr("k", &b"v"[..])
        .omap_set([(&b"o1"[..], &b"x"[..])])
        .append(&b"+"[..]);
    io.operate("a", &op).unwrap();
    assert_eq!(&io.read_full("a").unwrap()[..], b"from rust+");
    let snap = io.snap_create("s1").unwrap();
    io.write_full("a", &b"changed"[..]).unwrap();
    assert_eq!(&io.at_snap(snap).read_full("a").unwrap()[..], b"from rust+");
    // Another process sees it, with Ceph's syntax.
    assert_eq!(d.cli_ok(&["-p", "data", "get", "a", "-"]), "changed");
    assert_eq!(d.cli_ok(&["-p", "data", "getxattr", "a", "k"]), "v");
    assert!(d.cli_ok(&["-p", "data", "ls"]).lines().any(|l| l == "a"));
    // A watch in one process, a notify from another.
    let conf = d.conf();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_rados"))
        .args(["-c", conf.to_str().unwrap(), "-p", "data", "watch", "a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watcher.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("press enter"));
    let replies = io
        .notify("a", &b"ping-across-processes"[..], Duration::from_secs(10))
        .unwrap();
    assert_eq!(replies.acks.len(), 1, "{replies:?}");
    let notify = lines.next().unwrap().unwrap();
    assert!(notify.starts_with("NOTIFY"), "{notify}");
    let dump: Vec<String> = (0..2).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(dump.join("").contains("ping-across-proc"), "{dump:?}");
    watcher.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(watcher.wait().unwrap().success());
    // A third client, in another process, follows the cluster log as a fourth writes to it.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_rados"))
        .args(["-c", conf.to_str().unwrap(), "log", "follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut followed = BufReader::new(follower.stdout.take().unwrap()).lines();
    let seen = std::thread::spawn(move || {
        followed.find(|l| l.as_ref().is_ok_and(|l| l.contains("hello-followers")))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.is_finished() && Instant::now() < deadline {
        d.cli_ok(&["log", "hello-followers"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(seen.join().unwrap().is_some(), "the follower saw the line");
    assert!(d.cli_ok(&["log", "last", "5"]).contains("hello-followers"));
    // One daemon stopped and started alone.
    let out = d.cluster("stop", &["osd.2"]);
    assert!(out.status.success());
    d.wait_for(&r, "osd.2 down", Duration::from_secs(20), |s| {
        s.num_up_osds == 2
    });
    io.write_full("b", &b"while osd.2 is away"[..]).unwrap();
    d.start("osd.2");
    d.wait_for(&r, "a clean cluster", Duration::from_secs(60), clean);
    assert_eq!(&io.read_full("b").unwrap()[..], b"while osd.2 is away");
    let status = String::from_utf8_lossy(&d.cluster("status", &[]).stdout).into_owned();
    assert!(status.contains("osd.2: running"), "{status}");
    assert!(status.contains("32 active+clean"), "{status}");
    let stat = d.cli_ok(&["pg", "stat"]);
    assert!(stat.starts_with("32 pgs: 32 active+clean;"), "{stat}");
}

#[test]
fn a_frozen_or_killed_osd_is_marked_down_and_comes_back() {
    let d = Daemons::create(4, FAST);
    let r = d.client();
    // Frozen: its peers report it; resumed, it finds itself down and boots again.
    d.signal("osd.1", libc::SIGSTOP);
    let t0 = Instant::now();
    d.wait_for(&r, "osd.1 marked down", Duration::from_secs(20), |s| {
        s.num_up_osds == 3
    });
    let detected = t0.elapsed();
    assert!(
        log_mentions(&d.path(), "mon.0", "osd.1 failed"),
        "{}",
        d.logs()
    );
    d.signal("osd.1", libc::SIGCONT);
    d.wait_for(&r, "osd.1 up again", Duration::from_secs(20), |s| {
        s.num_up_osds == 4
    });
    // Killed: the same, and a restarted process takes its place.
    d.signal("osd.3", libc::SIGKILL);
    d.wait_for(&r, "osd.3 marked down", Duration::from_secs(20), |s| {
        s.num_up_osds == 3
    });
    d.start("osd.3");
    d.wait_for(&r, "a clean cluster", Duration::from_secs(60), clean);
    eprintln!("a frozen OSD was marked down after {detected:?}");
}

/// Runs `rados ARGS`, which must fail; its standard error.
fn rados_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rados"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "rados {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_configuration_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x");
    let ps = p.to_str().unwrap();
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("cluster.conf"), "[global]\nfsid = nonsense\n").unwrap();
    let err = rados_fails(&["daemon", "mon", ps]);
    assert!(err.contains("no valid fsid"), "{err}");
    std::fs::write(
        p.join("cluster.conf"),
        "[global]\nfsid = 6f1e0b9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\nmon_host = 127.0.0.1:1\n\
         [mon]\nmon_client_bytes = plenty\n",
    )
    .unwrap();
    let err = rados_fails(&["daemon", "mon", ps]);
    assert!(
        err.contains("mon_client_bytes = plenty is not a size"),
        "{err}"
    );
    std::fs::write(
        p.join("cluster.conf"),
        "[global]\nfsid = 6f1e0b9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\nmon_host = 127.0.0.1:1\n\
         daemon_threads = 0\n",
    )
    .unwrap();
    let err = rados_fails(&["daemon", "mon", ps]);
    assert!(err.contains("daemon_threads = 0: use 1 to 64"), "{err}");
    std::fs::write(
        p.join("cluster.conf"),
        "[global]\nfsid = 6f1e0b9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\n",
    )
    .unwrap();
    let err = rados_fails(&["daemon", "osd", ps, "--id", "0"]);
    assert!(err.contains("no mon_host"), "{err}");
    std::fs::write(
        p.join("cluster.conf"),
        "[global]\nfsid = 6f1e0b9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b\nmon_host = 127.0.0.1:1\n\
         [osd]\nosd_memory_target = 16M\n",
    )
    .unwrap();
    let err = rados_fails(&["daemon", "osd", ps, "--id", "0"]);
    assert!(err.contains("an OSD needs at least 64 MiB"), "{err}");
    let conf = dir.path().join("client.conf");
    std::fs::write(
        &conf,
        "[global]\nmon_host = 127.0.0.1:1\nclient_mount_timeout = 1\n",
    )
    .unwrap();
    let err = rados_fails(&["-c", conf.to_str().unwrap(), "lspools"]);
    assert!(err.contains("couldn't connect to cluster"), "{err}");
}

/// A client whose operations give up after `secs`.
fn impatient(d: &Daemons, secs: u32) -> librados::Rados {
    let mut c = librados::Config::from_file(d.conf()).unwrap();
    c.set("rados_osd_op_timeout", &secs.to_string());
    librados::Rados::connect(&c).unwrap()
}

fn active_pgs(r: &librados::Rados) -> u32 {
    r.status()
        .unwrap()
        .pgs_by_state
        .iter()
        .filter(|(k, _)| k.starts_with("active"))
        .map(|(_, n)| *n)
        .sum()
}

#[test]
fn a_revived_stale_osd_does_not_serve_old_data() {
    let d = Daemons::create(3, FAST);
    let r = d.client();
    // min_size 1: one OSD alone could serve, so only peering keeps the stale one from it.
    r.create_pool_with("stale", Some(8), Some(3)).unwrap();
    r.pool_set("stale", "min_size", "1").unwrap();
    let io = r.ioctx("stale").unwrap();
    for i in 0..16 {
        io.write_full(&format!("o{i}"), b"v1".to_vec()).unwrap();
    }
    let out = d.cluster("stop", &["osd.0"]);
    assert!(out.status.success());
    for i in 0..16 {
        io.write_full(&format!("o{i}"), b"v2".to_vec()).unwrap();
    }
    let out = d.cluster("stop", &["osd.1", "osd.2"]);
    assert!(out.status.success());
    d.start("osd.0");
    d.wait_for(&r, "osd.0 alone up", Duration::from_secs(20), |s| {
        s.num_up_osds == 1
    });
    std::thread::sleep(Duration::from_secs(2));
    let s = r.status().unwrap();
    assert!(
        s.pgs_by_state.keys().any(|k| k.contains("down")),
        "the stale copy's PGs are down: {s:?}"
    );
    let down = d.cli_ok(&["pg", "ls", "down"]);
    assert!(
        down.lines().skip(1).all(|l| l.contains("\tdown\t")) && down.lines().count() > 1,
        "{down}"
    );
    let quick = impatient(&d, 3);
    let qio = quick.ioctx("stale").unwrap();
    match qio.read_full("o0") {
        Err(e) => assert_eq!(e.errno(), librados::errno::ETIMEDOUT, "{e}"),
        Ok(data) => panic!("a stale copy answered: {data:?}"),
    }
    // osd.1 has the newer writes: with it back, everything reads v2.
    d.start("osd.1");
    d.wait_for(&r, "active PGs again", Duration::from_secs(60), |s| {
        s.num_up_osds == 2 && s.pgs_by_state.keys().all(|k| k.starts_with("active"))
    });
    for i in 0..16 {
        assert_eq!(&io.read_full(&format!("o{i}")).unwrap()[..], b"v2", "o{i}");
    }
    d.start("osd.2");
    d.wait_for(&r, "a clean cluster", Duration::from_secs(60), clean);
}

#[test]
fn writes_wait_while_too_few_replicas_are_up_and_complete_when_one_returns() {
    let d = Daemons::create(3, FAST);
    let r = d.client();
    r.create_pool_with("p", Some(8), Some(3)).unwrap();
    r.pool_set("p", "min_size", "2").unwrap();
    let io = r.ioctx("p").unwrap();
    io.write_full("x", b"before".to_vec()).unwrap();
    let out = d.cluster("stop", &["osd.1", "osd.2"]);
    assert!(out.status.success());
    d.wait_for(&r, "two OSDs down", Duration::from_secs(20), |s| {
        s.num_up_osds == 1
    });
    assert_eq!(active_pgs(&r), 0, "below min_size nothing is active");
    let writer = {
        let io = io.clone();
        std::thread::spawn(move || io.write_full("x", b"after".to_vec()))
    };
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !writer.is_finished(),
        "the write waits, it does not fail or land"
    );
    d.start("osd.2");
    writer.join().unwrap().unwrap();
    assert_eq!(&io.read_full("x").unwrap()[..], b"after");
    d.start("osd.1");
    d.wait_for(&r, "a clean cluster", Duration::from_secs(60), clean);
    assert_eq!(&io.read_full("x").unwrap()[..], b"after");
}

#[test]
fn an_embedded_directory_is_served_as_daemons_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("e");
    {
        let r = librados::Rados::embedded(&p).unwrap();
        let io = r.ioctx("data").unwrap();
        io.write_full("e1", b"written embedded".to_vec()).unwrap();
    }
    let rados = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rados"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rados {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let path = p.to_str().unwrap();
    rados(&["cluster", "start", path]);
    let served = std::panic::catch_unwind(|| {
        let c = librados::Config::from_file(p.join("ceph.conf")).unwrap();
        let r = librados::Rados::connect(&c).unwrap();
        let io = r.ioctx("data").unwrap();
        assert_eq!(&io.read_full("e1").unwrap()[..], b"written embedded");
        io.write_full("e2", b"written over TCP".to_vec()).unwrap();
    });
    rados(&["cluster", "stop", path]);
    served.unwrap();
    let r = librados::Rados::embedded(&p).unwrap();
    let io = r.ioctx("data").unwrap();
    assert_eq!(&io.read_full("e1").unwrap()[..], b"written embedded");
    assert_eq!(&io.read_full("e2").unwrap()[..], b"written over TCP");
}

#[test]
fn a_client_sending_osd_only_messages_is_refused_and_others_are_served() {
    use librados::msg::ops::{Eversion, ObjectName, ReqId};
    use librados::msg::peering::{LogEntry, LogOp, PgInfo};
    use librados::msg::{EntityName, Message, Messenger, Network, TcpConfig, TcpNetwork};
    use librados::store::{CollectionId, ObjectId, Transaction};
    let d = Daemons::create(3, FAST);
    let r = d.client();
    let io = r.ioctx("data").unwrap();
    io.write_full("victim", &b"original"[..]).unwrap();
    // Where the object lives, as any client can work out from the map.
    let map = r.osdmap();
    let pool = map.pool_by_name("data").unwrap();
    let hash = pool.hash_key(b"victim", b"");
    let pgid = pool.raw_pg_to_pg(librados::osdmap::PgId::new(pool.id, hash));
    let members = map.pg_mapping(pgid).acting;
    let object = ObjectName {
        name: "victim".into(),
        ..ObjectName::default()
    };
    let oid = ObjectId::new(pool.id, "victim", hash);
    let mut evil = Transaction::new();
    evil.write(
        CollectionId::new(pool.id, pgid.seed),
        &oid,
        0,
        &b"EVIL!!!!"[..],
    );
    let entry = LogEntry {
        version: Eversion {
            epoch: map.epoch(),
            version: 1 << 40,
        },
        reqid: ReqId {
            client: 1 << 40,
            tid: 1,
        },
        object,
        hash,
        op: LogOp::Modify,
        user_version: 1 << 40,
        results: Vec::new(),
    };
    let interval = map.epoch();
    let forged = [
        Message::RepOp {
            pgid,
            interval,
            entry: entry.clone(),
            txn: evil,
        },
        Message::PgActivate {
            pgid,
            interval,
            info: PgInfo::default(),
            log: vec![entry],
            missing: Vec::new(),
        },
        Message::PgPush {
            pgid,
            interval,
            stream: 1,
            seq: 0,
            parts: Vec::new(),
            last: true,
            primary: members[0],
        },
    ];
    // A client process of its own sends them, as a client, to every member of the PG.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let net = TcpNetwork::new(
            TcpConfig::new(map.fsid()),
            tokio::runtime::Handle::current(),
        );
        let me = EntityName::client(1 << 40);
        let _inbox = net.register(me);
        librados::msg::peers::follow_map(&net, None, &map);
        let msgr = Messenger::new(me, std::sync::Arc::new(net.clone()));
        for &osd in &members {
            for m in &forged {
                msgr.send(EntityName::osd(osd), 1, map.epoch(), m)
                    .await
                    .unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        net.shutdown();
    });
    // Each member refused them, said why, and changed nothing.
    for &osd in &members {
        let log = std::fs::read_to_string(d.path().join("log").join(format!("osd.{osd}.log")))
            .unwrap_or_default();
        let refused = log
            .lines()
            .filter(|l| l.contains("from client.") && l.contains("only OSDs send it"))
            .count();
        assert_eq!(refused, forged.len(), "osd.{osd}: {}", d.logs());
    }
    assert_eq!(&io.read_full("victim").unwrap()[..], b"original");
    // And the daemons go on serving everyone else.
    io.write_full("after", &b"still served"[..]).unwrap();
    assert_eq!(d.cli_ok(&["-p", "data", "get", "victim", "-"]), "original");
    assert_eq!(
        d.cli_ok(&["-p", "data", "get", "after", "-"]),
        "still served"
    );
    d.wait_for(&r, "a clean cluster", Duration::from_secs(30), clean);
}

/// Which monitor's log last says it took the lead.
fn leader_of(d: &Daemons) -> Option<u32> {
    (0..d.mons)
        .filter_map(|r| {
            let log = std::fs::read_to_string(d.path().join("log").join(format!("mon.{r}.log")))
                .unwrap_or_default();
            let at = log.rfind("leads the monitors")?;
            let stamp = log[..at]
                .rsplit('\n')
                .next()?
                .split_whitespace()
                .next()?
                .to_string();
            Some((stamp, r))
        })
        .max()
        .map(|(_, r)| r)
}

/// Creates pool `name`, trying again while the monitors elect a leader; how long it took.
fn create_pool_within(r: &librados::Rados, name: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        match r.create_pool(name) {
            Ok(()) => return t0.elapsed(),
            Err(e) if t0.elapsed() < limit => {
                eprintln!("create {name}: {e}; again");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("pool {name} not created within {limit:?}: {e}"),
        }
    }
}

#[test]
fn three_monitors_go_on_changing_the_map_while_a_majority_lives() {
    let mut settings = FAST.to_vec();
    settings.push("mon_election_timeout=0.3");
    settings.push("mon_commit_timeout=3");
    let d = Daemons::create_with_mons(3, 2, &settings);
    let r = d.client();
    let io = r.ioctx("data").unwrap();
    io.write_full("before", &b"1"[..]).unwrap();
    // Any one monitor but the one clients know lost (and the leader among them when it is
    // one): map changes go on, passed by mon.0 to whichever monitor leads.
    for (i, who) in ["mon.1", "mon.2"].iter().enumerate() {
        let leader = leader_of(&d);
        d.signal(who, libc::SIGKILL);
        let took = create_pool_within(&r, &format!("p{i}"), Duration::from_secs(20));
        eprintln!("{who} killed (leader was mon.{leader:?}): a map change took {took:?}");
        io.write_full(&format!("while-{who}"), &b"2"[..]).unwrap();
        d.start(who);
    }
    // Two of three lost: no change commits, but I/O on active PGs goes on.
    d.signal("mon.1", libc::SIGKILL);
    d.signal("mon.2", libc::SIGKILL);
    let t0 = Instant::now();
    let refused = r.create_pool("never");
    eprintln!("without a quorum: {refused:?} after {:?}", t0.elapsed());
    assert!(refused.is_err(), "a pool created without a quorum");
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "refused after {:?}",
        t0.elapsed()
    );
    io.write_full("no-quorum", &b"3"[..]).unwrap();
    assert_eq!(&io.read("before", 10, 0).unwrap()[..], b"1");
    // A majority again: changes resume, and the one that missed them catches up.
    d.start("mon.2");
    create_pool_within(&r, "after", Duration::from_secs(20));
    d.start("mon.1");
    let pools = r.list_pools();
    for p in ["data", "p0", "p1", "after"] {
        assert!(pools.iter().any(|x| x == p), "pool {p} in {pools:?}");
    }
    assert!(!pools.iter().any(|x| x == "never"), "{pools:?}");
    for (name, want) in [
        ("while-mon.1", b"2"),
        ("while-mon.2", b"2"),
        ("no-quorum", b"3"),
    ] {
        assert_eq!(&io.read(name, 10, 0).unwrap()[..], want, "{name}");
    }
}

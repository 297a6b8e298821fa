use super::*;
use crate::msg::command::MonReply;
use crate::osdmap::Fsid;

fn run(
    state: &mut MonState,
    log: &mut Vec<LogRecord>,
    cmd: MonCommand,
) -> Result<MonReply, MonError> {
    let p = state.propose(&cmd)?;
    for r in &p.records {
        state.apply(r).unwrap();
    }
    log.extend(p.records);
    Ok(p.reply)
}

fn booted(n: i32) -> (MonState, Vec<LogRecord>) {
    let mut log = vec![MonState::genesis(Fsid([1; 16])).unwrap()];
    let mut st = MonState::replay(&log, MonConfig::default()).unwrap();
    for osd in 0..n {
        run(
            &mut st,
            &mut log,
            MonCommand::OsdBoot {
                cluster_addr: None,
                osd,
                host: format!("host{osd}"),
                addr: None,
            },
        )
        .unwrap();
    }
    (st, log)
}

#[test]
fn booting_osds_builds_crush_hosts_and_marks_them_up_in() {
    let (st, _) = booted(3);
    let map = st.map();
    assert_eq!(map.epoch(), 4);
    for osd in 0..3 {
        assert!(map.is_up(osd) && map.is_in(osd));
        assert!(map.crush().item_id(&format!("host{osd}")).is_some());
    }
    // A pool of size 3 maps every PG to three distinct OSDs (one per host).
    let (mut st, mut log) = booted(3);
    run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "p".into(),
            pg_num: Some(16),
            size: None,
        },
    )
    .unwrap();
    let pool = st.map().pool_by_name("p").unwrap().id;
    for seed in 0..16 {
        let m = st.map().pg_mapping(crate::osdmap::PgId::new(pool, seed));
        let mut acting = m.acting.clone();
        acting.sort();
        assert_eq!(acting, vec![0, 1, 2], "pg {seed}");
    }
}

#[test]
fn a_rebooting_up_osd_gets_a_new_up_from() {
    let (mut st, mut log) = booted(2);
    let before = st.map().osd(1).unwrap().up_from;
    run(
        &mut st,
        &mut log,
        MonCommand::OsdBoot {
            cluster_addr: None,
            osd: 1,
            host: "host1".into(),
            addr: None,
        },
    )
    .unwrap();
    let after = st.map().osd(1).unwrap().up_from;
    assert!(after > before);
    assert!(st.map().is_up(1));
}

#[test]
fn a_daemon_announcing_itself_again_keeps_its_interval_and_a_new_incarnation_does_not() {
    let (mut st, mut log) = booted(2);
    let boot = |addr: &str| MonCommand::OsdBoot {
        osd: 1,
        host: "host1".into(),
        addr: Some(addr.into()),
        cluster_addr: Some(addr.replace(":6800", ":6801")),
    };
    run(&mut st, &mut log, boot("127.0.0.1:6800/77")).unwrap();
    let first = st.map().osd(1).unwrap().clone();
    assert_eq!(first.addr.as_deref(), Some("127.0.0.1:6800/77"));
    assert_eq!(first.cluster_addr.as_deref(), Some("127.0.0.1:6801/77"));
    let epoch = st.map().epoch();
    run(&mut st, &mut log, boot("127.0.0.1:6800/77")).unwrap();
    assert_eq!(
        st.map().epoch(),
        epoch,
        "the same incarnation: nothing changes"
    );
    run(&mut st, &mut log, boot("127.0.0.1:6800/78")).unwrap();
    let second = st.map().osd(1).unwrap();
    assert!(
        second.up_from > first.up_from,
        "a restart is a new interval"
    );
    assert_eq!(second.addr.as_deref(), Some("127.0.0.1:6800/78"));
    let bad = MonCommand::OsdBoot {
        osd: 1,
        host: "host1".into(),
        addr: Some("not an address".into()),
        cluster_addr: None,
    };
    assert_eq!(
        run(&mut st, &mut log, bad).unwrap_err().errno(),
        crate::errno::EINVAL
    );
}

#[test]
fn a_boot_marks_in_what_the_monitor_marked_out_but_not_what_an_operator_did() {
    let (mut st, mut log) = booted(3);
    let boot = |osd| MonCommand::OsdBoot {
        osd,
        host: format!("host{osd}"),
        addr: None,
        cluster_addr: None,
    };
    run(&mut st, &mut log, MonCommand::OsdAutoOut { osd: 1 }).unwrap();
    run(&mut st, &mut log, MonCommand::OsdOut { ids: vec![2] }).unwrap();
    assert!(!st.map().is_in(1) && !st.map().is_in(2));
    assert!(st.map().osd(1).unwrap().auto_out);
    run(&mut st, &mut log, boot(1)).unwrap();
    run(&mut st, &mut log, boot(2)).unwrap();
    assert!(st.map().is_in(1), "the monitor's out is undone at boot");
    assert!(!st.map().osd(1).unwrap().auto_out);
    assert!(!st.map().is_in(2), "an operator's out stays");
    // The record survives a replay.
    run(&mut st, &mut log, MonCommand::OsdAutoOut { osd: 0 }).unwrap();
    let replayed = MonState::replay(&log, MonConfig::default()).unwrap();
    assert!(replayed.map().osd(0).unwrap().auto_out);
}

#[test]
fn pool_commands_check_their_arguments() {
    let (mut st, mut log) = booted(3);
    run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "a".into(),
            pg_num: None,
            size: None,
        },
    )
    .unwrap();
    let dup = run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "a".into(),
            pg_num: None,
            size: None,
        },
    );
    assert_eq!(dup.unwrap_err().errno(), errno::EEXIST);
    let bad = run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "b".into(),
            pg_num: Some(0),
            size: None,
        },
    );
    assert_eq!(bad.unwrap_err().errno(), errno::EINVAL);
    let set = run(
        &mut st,
        &mut log,
        MonCommand::PoolSet {
            name: "a".into(),
            var: "size".into(),
            value: "2".into(),
        },
    );
    assert!(set.is_ok());
    let got = run(
        &mut st,
        &mut log,
        MonCommand::PoolGet {
            name: "a".into(),
            var: "size".into(),
        },
    )
    .unwrap();
    assert!(matches!(got, MonReply::PoolOption(o) if o.value == "2"));
    let missing = run(
        &mut st,
        &mut log,
        MonCommand::PoolDelete { name: "zz".into() },
    );
    assert_eq!(missing.unwrap_err().errno(), errno::ENOENT);
    let split = run(
        &mut st,
        &mut log,
        MonCommand::PoolSet {
            name: "a".into(),
            var: "pg_num".into(),
            value: "64".into(),
        },
    );
    assert_eq!(split.unwrap_err().errno(), errno::EOPNOTSUPP);
    run(
        &mut st,
        &mut log,
        MonCommand::PoolDelete { name: "a".into() },
    )
    .unwrap();
    assert!(st.map().pool_by_name("a").is_none());
    let out = run(&mut st, &mut log, MonCommand::OsdOut { ids: vec![7] });
    assert_eq!(out.unwrap_err().errno(), errno::ENOENT);
}

#[test]
fn replaying_the_log_rebuilds_the_same_state() {
    let (mut st, mut log) = booted(3);
    run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "a".into(),
            pg_num: Some(8),
            size: Some(2),
        },
    )
    .unwrap();
    run(&mut st, &mut log, MonCommand::OsdOut { ids: vec![1] }).unwrap();
    let id = run(&mut st, &mut log, MonCommand::AllocClientId).unwrap();
    let again = MonState::replay(&log, MonConfig::default()).unwrap();
    assert_eq!(again.map(), st.map());
    let next = again.propose(&MonCommand::AllocClientId).unwrap().reply;
    assert!(matches!((id, next), (MonReply::ClientId(a), MonReply::ClientId(b)) if b == a + 1));
}

#[test]
fn subscribers_get_incrementals_or_a_full_map() {
    let (st, _) = booted(3);
    let incs = st.incrementals_since(1).unwrap();
    assert_eq!(
        incs.iter().map(|i| i.epoch).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert!(st.incrementals_since(4).unwrap().is_empty());
    let mut map = crate::osdmap::OsdMap::new(Fsid::NIL);
    // Epoch 1 is the genesis map (not an incremental): a new subscriber needs the full map.
    assert!(st.incrementals_since(0).is_none() || map.epoch() == 0);
    map = st.map().clone();
    assert_eq!(map.epoch(), 4);
}

#[test]
fn status_counts_osds_and_unknown_pgs() {
    let (mut st, mut log) = booted(3);
    run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "a".into(),
            pg_num: Some(4),
            size: None,
        },
    )
    .unwrap();
    run(&mut st, &mut log, MonCommand::OsdDown { ids: vec![2] }).unwrap();
    let s = report::status(&st);
    assert_eq!(
        (s.num_osds, s.num_up_osds, s.num_in_osds, s.num_pgs),
        (3, 2, 3, 4)
    );
    assert_eq!(s.pgs_by_state.get("unknown"), Some(&4));
    assert_eq!(s.health, "HEALTH_WARN");
    let tree = report::osd_tree(st.map());
    assert_eq!(tree[0].name, "default");
    assert_eq!(tree.iter().filter(|n| n.type_name == "osd").count(), 3);
}

#[test]
fn an_old_clean_report_does_not_make_a_remapped_pg_look_clean() {
    let (mut st, mut log) = booted(3);
    run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "a".into(),
            pg_num: Some(1),
            size: None,
        },
    )
    .unwrap();
    let pgid = crate::osdmap::PgId::new(st.map().pool_by_name("a").unwrap().id, 0);
    let report = |st: &mut MonState, epoch: u32, state: &str| {
        let primary = st.map().pg_mapping(pgid).acting_primary;
        let stat = crate::msg::command::PgStat {
            pgid,
            epoch,
            state: state.into(),
            objects: 1,
            bytes: 10,
            clones: 0,
            omap_keys: 0,
            to_recover: 0,
        };
        st.note_pg_stats(primary, &[stat]);
    };
    let activate = |st: &mut MonState, log: &mut Vec<LogRecord>| {
        let acting = st.map().pg_mapping(pgid).acting;
        let interval = st.map().epoch();
        let p = st.pg_activating(&[(pgid, interval, acting)]).unwrap();
        for r in &p.records {
            st.apply(r).unwrap();
        }
        log.extend(p.records);
    };
    let state_of = |st: &MonState| {
        let s = report::status(st);
        assert_eq!(s.pgs_by_state.values().sum::<u32>(), 1);
        s.pgs_by_state.keys().next().unwrap().clone()
    };
    activate(&mut st, &mut log);
    let e = st.map().epoch();
    report(&mut st, e, "active+clean");
    assert_eq!(state_of(&st), "active+clean");
    let dump = report::pg_dump(&st);
    assert_eq!(
        (dump.len(), dump[0].stat.state.as_str()),
        (1, "active+clean")
    );
    // A member goes down: until the PG activates again, the old report does not count.
    let down = st.map().pg_mapping(pgid).acting[1];
    run(&mut st, &mut log, MonCommand::OsdDown { ids: vec![down] }).unwrap();
    assert_eq!(state_of(&st), "peering");
    assert_eq!(report::pg_dump(&st)[0].stat.state, "peering");
    activate(&mut st, &mut log);
    assert_eq!(state_of(&st), "stale", "a report older than the activation");
    let e = st.map().epoch();
    report(&mut st, e, "active+undersized+degraded");
    assert_eq!(state_of(&st), "active+undersized+degraded");
    assert_eq!(report::status(&st).objects, 1);
}

#[test]
fn weights_and_crush_maps_are_editable() {
    let (mut st, mut log) = booted(3);
    run(
        &mut st,
        &mut log,
        MonCommand::OsdReweight { id: 1, weight: 0.5 },
    )
    .unwrap();
    assert_eq!(st.map().osd(1).unwrap().weight, 0x8000);
    let bad = run(
        &mut st,
        &mut log,
        MonCommand::OsdReweight { id: 1, weight: 1.5 },
    );
    assert_eq!(bad.unwrap_err().errno(), errno::EINVAL);
    run(
        &mut st,
        &mut log,
        MonCommand::OsdCrushReweight {
            name: "osd.2".into(),
            weight: 2.0,
        },
    )
    .unwrap();
    let crush = st.map().crush();
    let host = crush.bucket(crush.item_id("host2").unwrap()).unwrap();
    assert_eq!(
        host.weight(),
        0x20000,
        "the host's weight follows its device"
    );
    let missing = run(
        &mut st,
        &mut log,
        MonCommand::OsdCrushReweight {
            name: "osd.9".into(),
            weight: 1.0,
        },
    );
    assert_eq!(missing.unwrap_err().errno(), errno::ENOENT);
    // A map round-trips through get/set, in binary and as text.
    let MonReply::CrushMap(bin) = st.propose(&MonCommand::GetCrushMap).unwrap().reply else {
        panic!()
    };
    run(
        &mut st,
        &mut log,
        MonCommand::SetCrushMap { map: bin.clone() },
    )
    .unwrap();
    let text = crate::crush::decompile(&crate::crush::binary::decode(&bin).unwrap());
    run(
        &mut st,
        &mut log,
        MonCommand::SetCrushMap {
            map: text.into_bytes(),
        },
    )
    .unwrap();
    let garbage = run(
        &mut st,
        &mut log,
        MonCommand::SetCrushMap {
            map: b"not a map {".to_vec(),
        },
    );
    assert!(garbage.is_err());
    // A map without the rule a pool uses is refused.
    run(
        &mut st,
        &mut log,
        MonCommand::PoolCreate {
            name: "p".into(),
            pg_num: Some(4),
            size: None,
        },
    )
    .unwrap();
    let mut no_rule = st.map().crush().clone();
    no_rule.remove_rule(0).unwrap();
    let refused = run(
        &mut st,
        &mut log,
        MonCommand::SetCrushMap {
            map: crate::crush::binary::encode(&no_rule),
        },
    );
    assert_eq!(refused.unwrap_err().errno(), errno::EINVAL);
    let again = MonState::replay(&log, MonConfig::default()).unwrap();
    assert_eq!(again.map(), st.map());
}

fn create_pool(st: &mut MonState, log: &mut Vec<LogRecord>, name: &str, size: Option<u8>) {
    let cmd = MonCommand::PoolCreate {
        name: name.into(),
        pg_num: Some(4),
        size,
    };
    run(st, log, cmd).unwrap();
}

#[test]
fn applications_follow_cephs_rules_and_replay() {
    let (mut st, mut log) = booted(3);
    create_pool(&mut st, &mut log, "p", None);
    let enable = |app: &str, force| MonCommand::PoolApplicationEnable {
        pool: "p".into(),
        app: app.into(),
        force,
    };
    let epoch = st.map().epoch();
    run(&mut st, &mut log, enable("rbd", false)).unwrap();
    assert_eq!(st.map().epoch(), epoch + 1);
    // Enabling it again is a success that changes nothing.
    let again = st.propose(&enable("rbd", false)).unwrap();
    assert!(again.records.is_empty());
    let refused = run(&mut st, &mut log, enable("rgw", false)).unwrap_err();
    assert_eq!(refused.errno(), errno::EPERM);
    run(&mut st, &mut log, enable("rgw", true)).unwrap();
    let set = MonCommand::PoolApplicationSet {
        pool: "p".into(),
        app: "rgw".into(),
        key: "zone".into(),
        value: "east".into(),
    };
    run(&mut st, &mut log, set).unwrap();
    let unknown_app = MonCommand::PoolApplicationRemove {
        pool: "p".into(),
        app: "cephfs".into(),
        key: "zone".into(),
    };
    let err = run(&mut st, &mut log, unknown_app).unwrap_err();
    assert_eq!(err.errno(), errno::ENOENT);
    assert_eq!(
        err.to_string(),
        "application 'cephfs' is not enabled on pool 'p'"
    );

    let pool = st.map().pool_by_name("p").unwrap();
    assert_eq!(pool.applications.keys().collect::<Vec<_>>(), ["rbd", "rgw"]);
    assert_eq!(pool.applications["rgw"]["zone"], "east");
    assert_eq!(pool.last_change, st.map().epoch());
    let again = MonState::replay(&log, MonConfig::default()).unwrap();
    assert_eq!(again.map(), st.map());
}

#[test]
fn pools_that_could_never_become_active_are_refused() {
    let (mut st, mut log) = booted(1);
    // Size 3 needs 2 OSDs (min_size) to serve: refused on one OSD.
    let cmd = MonCommand::PoolCreate {
        name: "three".into(),
        pg_num: Some(4),
        size: None,
    };
    let err = run(&mut st, &mut log, cmd).unwrap_err();
    assert_eq!(err.errno(), errno::EINVAL);
    assert!(
        err.to_string().contains("could never become active"),
        "{err}"
    );
    assert!(st.map().pool_by_name("three").is_none());
    create_pool(&mut st, &mut log, "one", Some(1));
    let set = |var: &str, value: &str| MonCommand::PoolSet {
        name: "one".into(),
        var: var.into(),
        value: value.into(),
    };
    // A larger size keeps min_size 1, so the pool still serves (undersized).
    run(&mut st, &mut log, set("size", "3")).unwrap();
    let err = run(&mut st, &mut log, set("min_size", "2")).unwrap_err();
    assert_eq!(err.errno(), errno::EINVAL);
    assert_eq!(st.map().pool_by_name("one").unwrap().min_size, 1);

    // Size 3 on two OSDs runs undersized but active: allowed.
    let (mut st, mut log) = booted(2);
    create_pool(&mut st, &mut log, "three", Some(3));
}

#[test]
fn blocklist_entries_are_added_listed_removed_and_expire() {
    let (mut st, mut log) = booted(1);
    let epoch = st.map().epoch();
    let add = |addr: &str, expire_secs| MonCommand::BlocklistAdd {
        addr: addr.into(),
        expire_secs,
    };
    let reply = run(&mut st, &mut log, add("v2:10.0.0.1:0/42", Some(30.0))).unwrap();
    let MonReply::Done { epoch: e, message } = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(e, epoch + 1);
    assert!(
        message.starts_with("blocklisting 10.0.0.1:0/42 until "),
        "{message}"
    );
    assert!(message.ends_with(" (30 sec)"), "{message}");
    let a: crate::osdmap::EntityAddr = "10.0.0.1:0/42".parse().unwrap();
    assert!(st.map().is_blocklisted(&a));
    let until = st.map().blocklist()[&a];
    let modified = st.map().modified();
    assert_eq!(until.secs, modified.secs + 30);

    // Without an expiry, an hour; bad addresses and expiries change nothing.
    run(&mut st, &mut log, add("10.0.0.2", None)).unwrap();
    let whole: crate::osdmap::EntityAddr = "10.0.0.2:0/0".parse().unwrap();
    assert_eq!(
        st.map().blocklist()[&whole].secs,
        st.map().modified().secs + 3600
    );
    let before = st.map().epoch();
    for (addr, expire) in [
        ("10.0.0.300:0/1", None),
        ("nonsense", None),
        ("10.0.0.3:0/1", Some(0.0)),
        ("10.0.0.3:0/1", Some(-5.0)),
        ("10.0.0.3:0/1", Some(f64::NAN)),
    ] {
        let err = run(&mut st, &mut log, add(addr, expire)).unwrap_err();
        assert_eq!(err.errno(), crate::errno::EINVAL, "{addr} {expire:?}");
    }
    assert_eq!(st.map().epoch(), before);

    let MonReply::Blocklist(listed) = run(&mut st, &mut log, MonCommand::BlocklistList).unwrap()
    else {
        panic!()
    };
    assert_eq!(listed.len(), 2);

    // Removing a missing entry is no error and no epoch.
    let rm = |addr: &str| MonCommand::BlocklistRemove { addr: addr.into() };
    let before = st.map().epoch();
    let MonReply::Done { message, .. } = run(&mut st, &mut log, rm("10.9.9.9:0/1")).unwrap() else {
        panic!()
    };
    assert_eq!(message, "10.9.9.9:0/1 isn't blocklisted");
    assert_eq!(st.map().epoch(), before);
    run(&mut st, &mut log, rm("10.0.0.1:0/42")).unwrap();
    assert!(!st.map().is_blocklisted(&a));

    // Expiry removes only what is due, in one epoch; the log replays to the same map.
    let due = st.next_blocklist_expiry().unwrap();
    assert_eq!(due, st.map().blocklist()[&whole]);
    let p = st.blocklist_expire(crate::osdmap::UTime {
        secs: due.secs - 1,
        nanos: 0,
    });
    assert!(p.records.is_empty());
    let p = st.blocklist_expire(due);
    for r in &p.records {
        st.apply(r).unwrap();
    }
    log.extend(p.records);
    assert!(st.map().blocklist().is_empty());
    assert_eq!(st.next_blocklist_expiry(), None);
    let replayed = MonState::replay(&log, MonConfig::default()).unwrap();
    assert_eq!(replayed.map(), st.map());

    run(&mut st, &mut log, add("10.0.0.5:0/1", None)).unwrap();
    run(&mut st, &mut log, MonCommand::BlocklistClear).unwrap();
    assert!(st.map().blocklist().is_empty());
}

#[tokio::test]
async fn the_log_is_compacted_into_a_snapshot_that_restores_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let net: std::sync::Arc<dyn crate::msg::Network> =
        std::sync::Arc::new(crate::msg::LocalNetwork::new());
    let msgr = crate::msg::Messenger::new(crate::msg::EntityName::mon(0), net);
    let mut m = super::Monitor::open(dir.path(), Fsid([2; 16]), MonConfig::default(), msgr)
        .await
        .unwrap();
    for osd in 0..3 {
        m.command(&MonCommand::OsdBoot {
            osd,
            host: format!("host{osd}"),
            addr: None,
            cluster_addr: None,
        })
        .await
        .unwrap();
    }
    let mut last_client = 0;
    for i in 0..super::CHECKPOINT_RECORDS + 10 {
        if i % 100 == 0 {
            if let MonReply::ClientId(id) = m.command(&MonCommand::AllocClientId).await.unwrap() {
                last_client = id;
            }
        } else {
            m.command(&MonCommand::OsdReweight {
                id: (i % 3) as i32,
                weight: 0.5 + (i % 2) as f64 / 2.0,
            })
            .await
            .unwrap();
        }
    }
    let epoch = m.state().map().epoch();
    // The snapshot is taken in the background once enough entries were applied.
    let mut snap = None;
    for _ in 0..200 {
        snap = m.consensus().raft.metrics().borrow().snapshot;
        if snap.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(snap.is_some(), "a snapshot was taken");
    m.consensus().shutdown().await;
    drop(m);
    let (_, raft_records) =
        crate::log::RecordFile::<super::consensus::log_store::RaftRecord>::open(
            &dir.path().join("raft-log"),
        )
        .unwrap();
    assert!(
        raft_records.len() < 300,
        "the log was purged behind the snapshot: {} records for epoch {epoch}",
        raft_records.len()
    );
    let net: std::sync::Arc<dyn crate::msg::Network> =
        std::sync::Arc::new(crate::msg::LocalNetwork::new());
    let msgr = crate::msg::Messenger::new(crate::msg::EntityName::mon(0), net);
    let mut m = super::Monitor::open(dir.path(), Fsid([2; 16]), MonConfig::default(), msgr)
        .await
        .unwrap();
    assert_eq!(m.state().map().epoch(), epoch, "reopened at the same epoch");
    let MonReply::ClientId(next) = m.command(&MonCommand::AllocClientId).await.unwrap() else {
        panic!("a client id")
    };
    assert!(
        next > last_client,
        "client ids are never reused: {next} after {last_client}"
    );
}

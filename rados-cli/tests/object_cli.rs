//! The Ceph-style `rados` commands as a user runs them, against an embedded cluster in a fresh
//! data directory per test (one process at a time may open a directory, so each test runs its
//! commands one after another): objects, pools, xattrs, omap, locks, export/import, bench and
//! the admin commands, with Ceph's messages and exit codes.

use std::path::Path;

mod common;

use common::{noise, Cluster};

fn write(path: &str, data: &[u8]) {
    std::fs::write(path, data).expect("write test file");
}

#[test]
fn put_get_ls_stat_and_errors() {
    let c = Cluster::new();
    let cases: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("one", vec![0x5a]),
        ("four_mib", noise(4 << 20, 1)),
        ("binary", noise((4 << 20) + 4097, 2)),
    ];
    for (name, data) in &cases {
        let src = c.path(&format!("{name}.in"));
        let dst = c.path(&format!("{name}.out"));
        write(&src, data);
        c.ok(&["-p", "data", "put", name, &src]);
        // Options after the command work too.
        c.ok(&["get", name, &dst, "-p", "data"]);
        let back = std::fs::read(&dst).expect("read back");
        assert!(
            back == *data,
            "{name}: {} bytes back of {}",
            back.len(),
            data.len()
        );
    }
    // Standard input and output.
    let data = noise(100_000, 3);
    let out = c.run_stdin(&["-p", "data", "put", "piped", "-"], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = c.run(&["-p", "data", "get", "piped", "-"]);
    assert!(out.status.success());
    assert!(out.stdout == data, "stdout differs");

    let mut names: Vec<String> = c
        .ok(&["-p", "data", "ls"])
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["binary", "empty", "four_mib", "one", "piped"]);

    let stat = c.ok(&["-p", "data", "stat", "one"]);
    let rest = stat
        .strip_prefix("data/one mtime ")
        .unwrap_or_else(|| panic!("{stat}"));
    let (time, size) = rest.trim_end().split_once(", ").expect("two fields");
    assert_eq!(size, "size 1");
    // YYYY-MM-DDTHH:MM:SS.ffffff+0000
    let b = time.as_bytes();
    assert_eq!(time.len(), 31, "{time}");
    assert!(b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':');
    assert!(b[19] == b'.' && time.ends_with("+0000"), "{time}");

    c.ok(&["-p", "data", "rm", "one", "empty"]);
    let (code, err) = c.fails(&["-p", "data", "get", "one", &c.path("x")]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim_end(),
        "error getting data/one: (2) No such file or directory"
    );
    assert!(
        !Path::new(&c.path("x")).exists(),
        "no file for a missing object"
    );
    let (code, err) = c.fails(&["-p", "nosuch", "ls"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim_end(),
        "error opening pool nosuch: (2) No such file or directory"
    );
    let (_, err) = c.fails(&["-p", "data", "stat", "one"]);
    assert_eq!(
        err.trim_end(),
        " error stat-ing data/one: (2) No such file or directory"
    );
    let (_, err) = c.fails(&["-p", "data", "put", "x", &c.path("missing")]);
    assert!(
        err.starts_with("error reading input file") && err.contains("(2) No such file"),
        "{err}"
    );
    let (_, err) = c.fails(&["-p", "data", "rm", "one"]);
    assert_eq!(
        err.trim_end(),
        "error removing data>one: (2) No such file or directory"
    );
    let (_, err) = c.fails(&["ls"]);
    assert!(err.contains("-p POOL"), "{err}");
}

#[test]
fn pools() {
    let c = Cluster::new();
    assert_eq!(c.ok(&["mkpool", "p1"]), "successfully created pool p1\n");
    let (_, err) = c.fails(&["mkpool", "p1"]);
    assert_eq!(err.trim_end(), "error creating pool p1: (17) File exists");
    assert_eq!(c.ok(&["lspools"]), "data\np1\n");
    for args in [
        &["rmpool", "p1"][..],
        &["rmpool", "p1", "p1"],
        &["rmpool", "p1", "p2", "--yes-i-really-really-mean-it"],
    ] {
        let (code, err) = c.fails(args);
        assert_eq!(code, 1);
        assert!(
            err.starts_with("WARNING:\n  This will PERMANENTLY DESTROY an entire pool"),
            "{err}"
        );
    }
    assert_eq!(
        c.ok(&["rmpool", "p1", "p1", "--yes-i-really-really-mean-it"]),
        "successfully deleted pool p1\n"
    );
    assert_eq!(c.ok(&["lspools"]), "data\n");
}

#[test]
fn xattrs_omap_append_truncate_cp() {
    let c = Cluster::new();
    let p = ["-p", "data"];
    let run = |args: &[&str]| c.ok(&[&p[..], args].concat());
    let src = c.path("abc");
    write(&src, b"abc");
    run(&["put", "o", &src]);
    run(&["append", "o", &src]);
    assert_eq!(run(&["get", "o", "-"]), "abcabc");
    run(&["truncate", "o", "4"]);
    assert_eq!(run(&["get", "o", "-"]), "abca");
    let (_, err) = c.fails(&["-p", "data", "truncate", "o", "-1"]);
    assert_eq!(err.trim_end(), "error, cannot truncate to negative value");

    run(&["setxattr", "o", "color", "blue"]);
    let out = c.run_stdin(&["-p", "data", "setxattr", "o", "bin"], &[0, 1, 2, 255]);
    assert!(out.status.success());
    assert_eq!(run(&["listxattr", "o"]), "bin\ncolor\n");
    let out = c.run(&["-p", "data", "getxattr", "o", "bin"]);
    assert_eq!(out.stdout, [0, 1, 2, 255]);
    run(&["rmxattr", "o", "bin"]);
    assert_eq!(run(&["listxattr", "o"]), "color\n");
    let (_, err) = c.fails(&["-p", "data", "getxattr", "o", "bin"]);
    assert_eq!(
        err.trim_end(),
        "error getting xattr data/o/bin: (61) No data available"
    );

    run(&["setomapval", "o", "k1", "hello"]);
    let out = c.run_stdin(&["-p", "data", "setomapval", "o", "k2"], b"from stdin");
    assert!(out.status.success());
    assert_eq!(run(&["listomapkeys", "o"]), "k1\nk2\n");
    assert_eq!(
        run(&["getomapval", "o", "k1"]),
        "value (5 bytes) :\n\
         00000000  68 65 6c 6c 6f                                    |hello|\n\
         00000005\n\n"
    );
    let vals = run(&["listomapvals", "o"]);
    assert!(
        vals.starts_with("k1\nvalue (5 bytes) :\n00000000  68 65 6c 6c 6f")
            && vals.contains("k2\nvalue (10 bytes) :\n"),
        "{vals}"
    );
    let file = c.path("k2.val");
    run(&["getomapval", "o", "k2", &file]);
    assert_eq!(std::fs::read(&file).expect("value file"), b"from stdin");
    let out = c.run(&["-p", "data", "getomapval", "o", "nokey"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No such key: data/o/nokey\n"
    );
    run(&["rmomapkey", "o", "k2"]);
    assert_eq!(run(&["listomapkeys", "o"]), "k1\n");
    run(&["setomapheader", "o", "HDR"]);
    assert!(run(&["getomapheader", "o"]).starts_with("header (3 bytes) :\n00000000  48 44 52"));

    run(&["cp", "o", "o2"]);
    assert_eq!(run(&["get", "o2", "-"]), "abca");
    assert_eq!(run(&["listxattr", "o2"]), "color\n");
    assert_eq!(run(&["listomapkeys", "o2"]), "k1\n");
    assert!(run(&["getomapheader", "o2"]).starts_with("header (3 bytes)"));
    let (_, err) = c.fails(&["-p", "data", "cp", "o"]);
    assert_eq!(err.trim_end(), "cannot copy object into itself");
    let (_, err) = c.fails(&["-p", "data", "cp", "none", "x"]);
    assert_eq!(
        err.trim_end(),
        "error copying data/none => data/x: (2) No such file or directory"
    );
}

#[test]
fn advisory_locks() {
    let c = Cluster::new();
    let src = c.path("f");
    write(&src, b"x");
    c.ok(&["-p", "data", "put", "o", &src]);
    c.ok(&[
        "-p",
        "data",
        "lock",
        "get",
        "o",
        "L",
        "--lock-cookie",
        "c1",
        "--lock-description",
        "mine",
    ]);
    // Each invocation is a new client: the lock is busy for it.
    let (_, err) = c.fails(&["-p", "data", "lock", "get", "o", "L", "--lock-cookie", "c2"]);
    assert_eq!(
        err.trim_end(),
        "ERROR: failed locking: (16) Device or resource busy"
    );
    let list: serde_json::Value =
        serde_json::from_str(&c.ok(&["-p", "data", "lock", "list", "o"])).expect("json");
    assert_eq!(
        list,
        serde_json::json!({"objname": "o", "locks": [{"name": "L"}]})
    );
    let info: serde_json::Value =
        serde_json::from_str(&c.ok(&["-p", "data", "lock", "info", "o", "L"])).expect("json");
    assert_eq!(info["type"], "exclusive");
    assert_eq!(info["lockers"][0]["cookie"], "c1");
    assert_eq!(info["lockers"][0]["description"], "mine");
    let locker = info["lockers"][0]["name"]
        .as_str()
        .expect("locker")
        .to_string();
    assert!(locker.starts_with("client."), "{locker}");
    let (_, err) = c.fails(&["-p", "data", "lock", "break", "o", "L", "nobody"]);
    assert_eq!(
        err.trim_end(),
        "ERROR: failed to parse locker name (nobody)"
    );
    c.ok(&[
        "-p",
        "data",
        "lock",
        "break",
        "o",
        "L",
        &locker,
        "--lock-cookie",
        "c1",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&c.ok(&["-p", "data", "lock", "list", "o"])).expect("json");
    assert_eq!(list["locks"], serde_json::json!([]));
    let (_, err) = c.fails(&["-p", "data", "lock", "info", "o", "L"]);
    assert!(
        err.starts_with("ERROR: rados_lock_get_lock_info(): (2)"),
        "{err}"
    );
}

#[test]
fn export_import_round_trip() {
    let c = Cluster::new();
    let big = noise((4 << 20) + 123, 7);
    let (f_big, f_small) = (c.path("big"), c.path("small"));
    write(&f_big, &big);
    write(&f_small, b"small");
    c.ok(&["-p", "data", "put", "big", &f_big]);
    c.ok(&["-p", "data", "-N", "ns1", "put", "inns", &f_small]);
    c.ok(&[
        "-p",
        "data",
        "--object-locator",
        "key",
        "put",
        "located",
        &f_small,
    ]);
    c.ok(&["-p", "data", "-N", "ns1", "setxattr", "inns", "a", "1"]);
    c.ok(&["-p", "data", "-N", "ns1", "setomapval", "inns", "k", "v"]);
    c.ok(&["-p", "data", "-N", "ns1", "setomapheader", "inns", "H"]);
    c.ok(&["-p", "data", "create", "empty"]);
    let listing = |c: &Cluster| {
        let mut v: Vec<String> = c
            .ok(&["-p", "data", "ls", "--all"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let before = listing(&c);
    assert_eq!(before, ["\tbig", "\tempty", "\tlocated\tkey", "ns1\tinns"]);

    let file = c.path("pool.exp");
    c.ok(&["export", "data", &file]);
    c.ok(&["rmpool", "data", "data", "--yes-i-really-really-mean-it"]);
    c.ok(&["mkpool", "data"]);

    // A damaged or cut file is refused, and nothing is imported.
    let good = std::fs::read(&file).expect("export file");
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x40;
    let (f_bad, f_cut) = (c.path("bad.exp"), c.path("cut.exp"));
    write(&f_bad, &bad);
    write(&f_cut, &good[..good.len() - 7]);
    let (code, err) = c.fails(&["import", &f_bad, "data"]);
    assert_eq!(code, 1);
    assert!(err.contains("damaged") && err.contains("checksum"), "{err}");
    let (_, err) = c.fails(&["import", &f_cut, "data"]);
    assert!(err.contains("truncated"), "{err}");
    let (_, err) = c.fails(&["import", &f_small, "data"]);
    assert!(err.contains("not a file made by `rados export`"), "{err}");
    assert_eq!(c.ok(&["-p", "data", "ls", "--all"]), "");

    c.ok(&["import", &file, "data"]);
    assert_eq!(listing(&c), before);
    let out = c.run(&["-p", "data", "get", "big", "-"]);
    assert!(out.stdout == big, "big object differs after import");
    assert_eq!(
        c.ok(&[
            "-p",
            "data",
            "--object-locator",
            "key",
            "get",
            "located",
            "-"
        ]),
        "small"
    );
    assert_eq!(
        c.ok(&["-p", "data", "-N", "ns1", "getxattr", "inns", "a"]),
        "1"
    );
    assert_eq!(
        c.ok(&["-p", "data", "-N", "ns1", "listomapkeys", "inns"]),
        "k\n"
    );
    assert!(c
        .ok(&["-p", "data", "-N", "ns1", "getomapheader", "inns"])
        .starts_with("header (1 bytes)"));
    assert_eq!(c.ok(&["-p", "data", "get", "empty", "-"]), "");

    // Through standard output and input, with the pool from -p.
    let out = c.run(&["-p", "data", "export", "-"]);
    assert!(out.status.success());
    let imported = c.run_stdin(&["-p", "data", "import", "-"], &out.stdout);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(listing(&c), before);
}

#[test]
fn bench_write_seq_rand_cleanup() {
    let c = Cluster::new();
    let out = c.ok(&[
        "-p",
        "data",
        "bench",
        "2",
        "write",
        "-b",
        "4K",
        "-t",
        "4",
        "--no-cleanup",
    ]);
    for line in [
        "hints = 1",
        "Maintaining 4 concurrent writes of 4096 bytes to objects of size 4096 for up to 2 seconds or 0 objects",
        "Object prefix: benchmark_data_",
        "  sec Cur ops   started  finished  avg MB/s  cur MB/s last lat(s)  avg lat(s)",
        "Total time run:         ",
        "Total writes made:      ",
        "Write size:             4096",
        "Object size:            4096",
        "Bandwidth (MB/sec):     ",
        "Stddev Bandwidth:       ",
        "Max bandwidth (MB/sec): ",
        "Min bandwidth (MB/sec): ",
        "Average IOPS:           ",
        "Stddev IOPS:            ",
        "Max IOPS:               ",
        "Min IOPS:               ",
        "Average Latency(s):     ",
        "Stddev Latency(s):      ",
        "Max latency(s):         ",
        "Min latency(s):         ",
    ] {
        assert!(out.lines().any(|l| l.starts_with(line)), "no {line:?} in\n{out}");
    }
    let written: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("Total writes made:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("writes made");
    assert!(written > 0);
    let objects = c.ok(&["-p", "data", "ls"]);
    assert_eq!(
        objects.lines().count() as u64,
        written + 1,
        "objects and metadata"
    );
    assert!(objects.lines().any(|l| l == "benchmark_last_metadata"));

    for mode in ["seq", "rand"] {
        let out = c.ok(&["-p", "data", "bench", "2", mode]);
        for line in [
            "Total time run:       ",
            "Total reads made:     ",
            "Read size:            4096",
            "Object size:          4096",
            "Bandwidth (MB/sec):   ",
            "Average IOPS:         ",
            "Average Latency(s):   ",
            "Min latency(s):       ",
        ] {
            assert!(
                out.lines().any(|l| l.starts_with(line)),
                "{mode}: no {line:?} in\n{out}"
            );
        }
    }
    let (_, err) = c.fails(&["-p", "data", "bench", "2", "seq", "-b", "4K"]);
    assert!(err.contains("only with 'write'"), "{err}");
    let out = c.ok(&["-p", "data", "cleanup"]);
    assert!(out.contains(&format!("Removed {written} objects")), "{out}");
    assert_eq!(c.ok(&["-p", "data", "ls"]), "");
    let (_, err) = c.fails(&["-p", "data", "bench", "1", "seq"]);
    assert!(
        err.contains("Must write data before running a read benchmark!"),
        "{err}"
    );
}

#[test]
fn admin_commands() {
    let c = Cluster::new();
    let status: serde_json::Value =
        serde_json::from_str(&c.ok(&["status", "--format", "json"])).expect("status json");
    assert_eq!(status["num_osds"], 3);
    assert_eq!(status["num_in_osds"], 3);
    let tree: serde_json::Value =
        serde_json::from_str(&c.ok(&["osd", "tree", "--format", "json"])).expect("tree json");
    let osds = tree["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["type_name"] == "osd")
        .count();
    assert_eq!(osds, 3);
    let df: serde_json::Value =
        serde_json::from_str(&c.ok(&["df", "--format", "json"])).expect("df json");
    assert_eq!(df["pools"][0]["name"], "data");

    let plain = c.ok(&["osd", "tree"]);
    assert!(
        plain.starts_with("ID  CLASS  WEIGHT   TYPE NAME       STATUS  REWEIGHT  PRI-AFF\n"),
        "{plain}"
    );
    assert!(plain.contains("  root default"), "{plain}");
    assert!(c.ok(&["status"]).contains("    osd: 3 osds: 3 up, 3 in"));
    assert!(c.ok(&["df"]).starts_with("POOL_NAME"));

    let out = c.run(&["osd", "out", "1"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "marked out osd.1. \n");
    assert!(c.ok(&["status"]).contains("3 up, 2 in"));
    let out = c.run(&["osd", "in", "osd.1"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "marked in osd.1. \n");
    assert!(c.ok(&["status"]).contains("3 up, 3 in"));
    let (code, err) = c.fails(&["osd", "out", "7"]);
    assert_eq!(
        (code, err.trim_end()),
        (2, "Error ENOENT: osd.7 does not exist")
    );

    assert_eq!(c.ok(&["pool", "get", "data", "size"]), "size: 3\n");
    let out = c.run(&["pool", "set", "data", "min_size", "1"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "set pool 1 min_size to 1\n"
    );
    assert_eq!(c.ok(&["pool", "get", "data", "min_size"]), "min_size: 1\n");
    let (code, _) = c.fails(&["pool", "get", "nosuch", "size"]);
    assert_eq!(code, 2);
}

#[test]
fn blocklist_commands() {
    let c = Cluster::new();
    let out = c.run(&["osd", "blocklist", "add", "10.0.0.9:0/77", "300"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("blocklisting 10.0.0.9:0/77 until ") && err.ends_with(" (300 sec)\n"),
        "{err}"
    );
    let out = c.run(&["osd", "blocklist", "ls"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.starts_with("10.0.0.9:0/77 20"), "{listed}");
    assert_eq!(listed.lines().count(), 1);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "listed 1 entries\n");
    let json: serde_json::Value =
        serde_json::from_str(&c.ok(&["osd", "blocklist", "ls", "--format", "json"])).unwrap();
    assert_eq!(json[0]["addr"], "10.0.0.9:0/77");
    let out = c.run(&["osd", "blacklist", "rm", "10.0.0.9:0/77"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "un-blocklisting 10.0.0.9:0/77\n"
    );
    let out = c.run(&["osd", "blocklist", "ls"]);
    assert!(out.stdout.is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "listed 0 entries\n");
    let (code, err) = c.fails(&["osd", "blocklist", "add", "nonsense"]);
    assert_eq!(code, 22, "{err}");
    assert!(err.contains("invalid address 'nonsense'"), "{err}");
    let (code, err) = c.fails(&["osd", "blocklist", "add", "10.0.0.9", "0"]);
    assert_eq!(code, 22, "{err}");
}

#[test]
fn cluster_log_commands() {
    let c = Cluster::new();
    c.ok(&["log", "first", "line"]);
    c.ok(&["log", "second"]);
    c.ok(&["mkpool", "audited"]);
    // Each run of the command starts the embedded cluster: its OSDs' boots are logged too.
    let out = c.ok(&["log", "last", "100"]);
    let lines: Vec<&str> = out.lines().filter(|l| !l.ends_with(" booted")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with(" : cluster [INF] first line"), "{out}");
    assert!(lines[1].ends_with(" : cluster [INF] second"), "{out}");
    assert!(out.contains(" : cluster [INF] osd.0 booted"), "{out}");
    // The pool was created by a client: audited, not in the cluster channel.
    let audit = c.ok(&["log", "last", "5", "info", "audit"]);
    assert!(
        audit.contains("audit [INF]") && audit.contains("audited"),
        "{audit}"
    );
    let all = c.ok(&["log", "last", "100", "debug", "*"]);
    assert!(all.contains("second") && all.contains("audited"), "{all}");
    assert!(c.ok(&["log", "last", "5", "warn"]).is_empty());
    c.ok(&["log", "third"]);
    let json: serde_json::Value =
        serde_json::from_str(&c.ok(&["log", "last", "20", "--format", "json"])).unwrap();
    let third: Vec<&serde_json::Value> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"] == "third")
        .collect();
    assert_eq!(third.len(), 1, "{json}");
    assert_eq!(third[0]["priority"], "[INF]");
    assert_eq!(third[0]["channel"], "cluster");
    let (code, err) = c.fails(&["log", "last", "5", "loud"]);
    assert_eq!(code, 22, "{err}");
    assert!(err.contains("invalid level 'loud'"), "{err}");
    let (code, err) = c.fails(&["log", "last", "many"]);
    assert_eq!(code, 22, "{err}");
}

#[test]
fn watch_and_notify_commands() {
    let c = Cluster::new();
    let (code, err) = c.fails(&["-p", "data", "watch", "nothing-here"]);
    assert_eq!(code, 1);
    assert!(err.contains("(2) No such file or directory"), "{err}");
    let file = c.path("w");
    write(&file, b"x");
    c.ok(&["-p", "data", "put", "watched", &file]);
    // The watcher registers, prints Ceph's prompt, and leaves when enter is pressed.
    let out = c.run_stdin(&["-p", "data", "watch", "watched"], b"\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("press enter to exit..."));
    // Nobody watches any more: the notify completes with no replies.
    assert_eq!(c.ok(&["-p", "data", "notify", "watched", "hello"]), "");
}

//! The `rados crush` and `rados osdmap` commands as a user runs them: edits compared with what
//! crushtool produced for the same edits (tests/data/crush-edits, first line = the arguments),
//! and clear errors for bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rados(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rados"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rados")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rados-cli-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

#[test]
fn edits_match_crushtool() {
    let dir = scratch("edits");
    let fixtures = data().join("crush-edits");
    let base = fixtures.join("base.txt");
    let mut checked = 0;
    for entry in fs::read_dir(&fixtures).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path == base {
            continue;
        }
        let want = fs::read_to_string(&path).expect("fixture");
        let (header, want) = want.split_once('\n').expect("header line");
        let args: Vec<&str> = header
            .trim_start_matches("# crushtool -i base")
            .split_whitespace()
            .collect();
        let mut cmd = vec!["crush", "-c", base.to_str().expect("utf-8 path")];
        cmd.extend(&args);
        cmd.extend(["-o", "out.bin"]);
        let out = rados(&cmd, &dir);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let got = rados(&["crush", "-d", "out.bin"], &dir);
        assert_eq!(
            String::from_utf8_lossy(&got.stdout),
            want,
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 8);
}

#[test]
fn compile_errors_name_file_and_line() {
    let dir = scratch("errors");
    let cases = [
        (
            "device 0 osd.0\ntype 0 osd\ntype 1 root\nroot r {\n alg straw9\n}\n",
            "bad.txt:5: unknown bucket alg 'straw9'",
        ),
        (
            "device 0 osd.0\ntype 0 osd\nroot r {\n alg straw2\n}\n",
            "bad.txt:3: bucket type 'root' is not defined",
        ),
        ("device 0 osd:0\n", "bad.txt:1: unexpected character ':'"),
        (
            "device 0 osd.0\ntype 0 osd\ntype 1 root\nroot r {\n alg straw2\n item osd.1\n}\n",
            "bad.txt:6: item 'osd.1' in bucket 'r' is not defined",
        ),
        (
            "tunable choose_total_tries 5000\n",
            "invalid crush map: tunable choose_total_tries 5000 is above the limit 1000",
        ),
    ];
    for (text, want) in cases {
        fs::write(dir.join("bad.txt"), text).expect("write");
        let out = rados(&["crush", "-c", "bad.txt", "-o", "x.bin"], &dir);
        assert!(!out.status.success(), "{text:?} compiled");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{text:?}: got {err:?}, want {want:?}");
    }
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let dir = scratch("args");
    let cases: [(&[&str], &str); 5] = [
        (
            &["crush", "--frobnicate"],
            "unrecognized argument '--frobnicate'",
        ),
        (&["crush", "-i"], "-i needs a value"),
        (
            &["crush", "-i", "missing.bin", "--tree"],
            "cannot read 'missing.bin'",
        ),
        (
            &["crush", "--build", "--num-osds", "x"],
            "--num-osds: invalid value 'x'",
        ),
        (
            &["osdmap", "nope.osdmap", "--print"],
            "cannot read 'nope.osdmap'",
        ),
    ];
    for (args, want) in cases {
        let out = rados(args, &dir);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: got {err:?}");
    }
    // A non-map file is refused, not misread.
    fs::write(dir.join("junk.bin"), [0u8, 0, 1, 0, 9, 9, 9]).expect("write");
    let out = rados(&["crush", "-i", "junk.bin", "--tree"], &dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed binary crush map"));
}

#[test]
fn osdmap_round_trip_and_placement() {
    let dir = scratch("osdmap");
    let out = rados(
        &[
            "osdmap",
            "create-simple",
            "6",
            "om",
            "--with-default-pool",
            "--pg-bits",
            "2",
        ],
        &dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Refuses to overwrite without --clobber.
    let again = rados(&["osdmap", "--createsimple", "6", "om"], &dir);
    assert!(!again.status.success());
    let print = rados(&["osdmap", "print", "om"], &dir);
    let text = String::from_utf8_lossy(&print.stdout);
    assert!(
        text.contains("pool 1 'rbd' replicated size 3 min_size 2 crush_rule 0"),
        "{text}"
    );
    assert!(text.contains("pg_num 24 pgp_num 24"), "{text}");
    // Before --mark-up-in no OSD exists, so nothing maps.
    let m = rados(&["osdmap", "map-object", "om", "foo", "--pool", "1"], &dir);
    assert_eq!(
        String::from_utf8_lossy(&m.stdout),
        " object 'foo' -> 1.6 -> []\n"
    );
    let m = rados(
        &[
            "osdmap",
            "om",
            "--mark-up-in",
            "--test-map-object",
            "foo",
            "--pool",
            "1",
        ],
        &dir,
    );
    let s = String::from_utf8_lossy(&m.stdout);
    assert!(
        s.starts_with("marking all OSDs up and in\n object 'foo' -> 1.6 -> ["),
        "{s}"
    );
    let dump = rados(
        &[
            "osdmap",
            "om",
            "--mark-up-in",
            "--test-map-pgs-dump",
            "--pool",
            "1",
        ],
        &dir,
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert_eq!(dump.lines().filter(|l| l.starts_with("1.")).count(), 24);
    assert!(
        dump.contains("size 1\t24"),
        "single host, chooseleaf over hosts: one OSD per PG\n{dump}"
    );
}

#[test]
fn reads_ceph_binary_osdmaps() {
    let src = data().join("ceph-osdmap");
    let print = rados(&["osdmap", "om12-hosts.osdmap", "--print"], &src);
    assert!(
        print.status.success(),
        "{}",
        String::from_utf8_lossy(&print.stderr)
    );
    let want = fs::read_to_string(src.join("om12-hosts.print.txt")).expect("fixture");
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("created") && !l.starts_with("modified"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&String::from_utf8_lossy(&print.stdout)), strip(&want));
    let mut got = String::new();
    for name in fs::read_to_string(src.join("objects.txt"))
        .expect("objects")
        .lines()
    {
        let out = rados(
            &[
                "osdmap",
                "om12-hosts.osdmap",
                "--mark-up-in",
                "--test-map-object",
                name,
                "--pool",
                "1",
            ],
            &src,
        );
        got.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert_eq!(
        got,
        fs::read_to_string(src.join("om12-hosts.objects.out")).expect("fixture")
    );
}

#[test]
fn unknown_bucket_hashes_map_like_ceph() {
    // Expected outputs from crushtool: Ceph's hash functions return 0 for hash types it does
    // not define, and placement follows from that.
    let src = data().join("crush-hash");
    for rule in ["0", "1"] {
        let out = rados(
            &[
                "crush",
                "-c",
                "map.txt",
                "--test",
                "--rule",
                rule,
                "--num-rep",
                "3",
                "--min-x",
                "0",
                "--max-x",
                "99",
                "--show-mappings",
            ],
            &src,
        );
        let want = fs::read_to_string(src.join(format!("rule-{rule}.out"))).expect("fixture");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "rule {rule}");
    }
}

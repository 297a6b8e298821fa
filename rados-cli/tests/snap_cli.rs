//! Pool snapshots through the `rados` command as a user runs them: mksnap, lssnap, rmsnap,
//! reads at a snapshot with -s, listsnaps, rollback and the CLONES column of df, with the
//! output, messages and exit codes seen from Ceph 16's `rados`. One data directory serves the
//! whole file (each command opens the cluster, which costs most of a command's time), so the
//! stages run in order inside one test.

mod common;

use common::{noise, Cluster};

/// What the snapshot stages need beyond the shared helpers.
trait SnapCluster {
    fn put(&self, obj: &str, data: &[u8]);
    fn ls(&self, extra: &[&str]) -> Vec<String>;
}

impl SnapCluster for Cluster {
    /// Writes `data` to a scratch file and puts it as object `obj` of pool `data`.
    fn put(&self, obj: &str, data: &[u8]) {
        let file = self.path(&format!("{obj}.in"));
        std::fs::write(&file, data).expect("write input");
        self.ok(&["-p", "data", "put", obj, &file]);
    }

    /// `ls` of pool `data` (with `extra` options), sorted.
    fn ls(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["-p", "data", "ls"];
        args.extend_from_slice(extra);
        let mut names: Vec<String> = self
            .ok(&args)
            .lines()
            .filter(|l| !l.starts_with("selected snap "))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }
}

const OLD: &[u8] = b"old-data";
const NEW: &[u8] = b"new-data-longer";

#[test]
fn pool_snapshots_end_to_end() {
    let c = Cluster::new();
    assert_eq!(c.ok(&["-p", "data", "lssnap"]), "0 snaps\n");
    c.put("a", OLD);
    c.put("gone", OLD);
    c.put("partial", &noise(16384, 1));
    c.ok(&["-p", "data", "setxattr", "a", "color", "red"]);
    c.ok(&["-p", "data", "setomapval", "a", "k", "v1"]);

    let s1 = make_and_list_snapshot(&c);

    // Changes after the snapshot: an overwrite, a new object, a removal, a shrink.
    c.put("a", NEW);
    c.put("later", NEW);
    c.ok(&["-p", "data", "rm", "gone"]);
    c.ok(&["-p", "data", "truncate", "partial", "8192"]);
    c.ok(&["-p", "data", "setxattr", "a", "color", "blue"]);
    c.ok(&["-p", "data", "setomapval", "a", "k", "v2"]);

    reads_at_snapshot(&c, s1);
    snapshot_errors(&c);
    listsnaps_and_df(&c, s1);
    rollback(&c);
    remove_snapshot(&c);
}

/// mksnap and lssnap; returns the snapshot's id.
fn make_and_list_snapshot(c: &Cluster) -> u64 {
    assert_eq!(
        c.ok(&["-p", "data", "mksnap", "s1"]),
        "created pool data snap s1\n"
    );
    let (code, out, err) = c.fails_with_output(&["-p", "data", "mksnap", "s1"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            "",
            "error creating pool data snapshot s1: (17) File exists\n"
        )
    );

    // `ID\tNAME\tYYYY.MM.DD HH:MM:SS` in local time, then the count.
    let utc = c.run_env(&["-p", "data", "lssnap"], &[("TZ", "UTC0")]);
    let east = c.run_env(&["-p", "data", "lssnap"], &[("TZ", "XYZ-3")]);
    let (utc, east) = (
        String::from_utf8_lossy(&utc.stdout),
        String::from_utf8_lossy(&east.stdout),
    );
    let lines: Vec<&str> = utc.lines().collect();
    assert_eq!(lines.len(), 2, "{utc}");
    assert_eq!(lines[1], "1 snaps");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 3, "{utc}");
    assert_eq!(fields[1], "s1");
    let id: u64 = fields[0].parse().expect("snap id");
    let stamp = fields[2].as_bytes();
    assert_eq!(stamp.len(), 19, "{utc}");
    assert!(stamp[4] == b'.' && stamp[7] == b'.' && stamp[10] == b' ' && stamp[13] == b':');
    // Three hours east of UTC: the same minutes and seconds, the hour three later.
    let east_stamp = east
        .lines()
        .next()
        .and_then(|l| l.rsplit('\t').next())
        .expect("east stamp");
    assert_eq!(east_stamp[13..], fields[2][13..], "{east}");
    let hour = |s: &str| s[11..13].parse::<u32>().expect("hour");
    assert_eq!(hour(east_stamp), (hour(fields[2]) + 3) % 24, "{utc}{east}");
    id
}

fn reads_at_snapshot(c: &Cluster, s1: u64) {
    let selected = format!("selected snap {s1} 's1'\n");
    // As with Ceph, the choice is announced on standard output, ahead of the data.
    let out = c.ok(&["-p", "data", "-s", "s1", "get", "a", "-"]);
    assert_eq!(out, format!("{selected}{}", String::from_utf8_lossy(OLD)));
    let file = c.path("a.old");
    c.ok(&["-p", "data", "--snap", "s1", "get", "a", &file]);
    assert_eq!(std::fs::read(&file).expect("read back"), OLD);
    assert_eq!(c.ok(&["-p", "data", "get", "a", "-"]).as_bytes(), NEW);
    let file = c.path("partial.old");
    c.ok(&["-p", "data", "get", "partial", &file, "--snap=s1"]);
    assert_eq!(std::fs::read(&file).expect("read back"), noise(16384, 1));

    assert_eq!(c.ls(&["-s", "s1"]), ["a", "gone", "partial"]);
    assert_eq!(c.ls(&[]), ["a", "later", "partial"]);

    let stat = c.ok(&["-p", "data", "-s", "s1", "stat", "a"]);
    assert!(
        stat.starts_with(&format!("{selected}data/a mtime ")),
        "{stat}"
    );
    assert!(stat.ends_with(", size 8\n"), "{stat}");
    let (code, out, err) = c.fails_with_output(&["-p", "data", "-s", "s1", "stat", "later"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            selected.as_str(),
            " error stat-ing data/later: (2) No such file or directory\n"
        )
    );

    let s = |args: &[&str]| {
        let mut all = vec!["-p", "data", "-s", "s1"];
        all.extend_from_slice(args);
        c.ok(&all)
    };
    assert_eq!(s(&["getxattr", "a", "color"]), format!("{selected}red"));
    assert_eq!(s(&["listxattr", "a"]), format!("{selected}color\n"));
    assert_eq!(s(&["listomapkeys", "a"]), format!("{selected}k\n"));
    let val = s(&["getomapval", "a", "k"]);
    assert!(
        val.starts_with(&format!("{selected}value (2 bytes) :\n")),
        "{val}"
    );
    assert!(val.contains("|v1|"), "{val}");
}

fn snapshot_errors(c: &Cluster) {
    let (code, out, err) = c.fails_with_output(&["-p", "data", "-s", "nosuch", "get", "a", "-"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            "",
            "error looking up snap 'nosuch': (2) No such file or directory\n"
        )
    );
    let (code, _, err) = c.fails_with_output(&["-s", "s1", "lspools"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "pool name must be specified with --snap\n")
    );
    // Writes at a snapshot are refused with EROFS, each in its command's words.
    let file = c.path("a.in");
    for (args, message) in [
        (
            vec!["put", "a", file.as_str()],
            "error putting data/a: (30) Read-only file system",
        ),
        (
            vec!["rm", "a"],
            "error removing data>a: (30) Read-only file system",
        ),
        (
            vec!["setxattr", "a", "color", "green"],
            "error setting xattr data/a/color: (30) Read-only file system",
        ),
    ] {
        let mut all = vec!["-p", "data", "-s", "s1"];
        all.extend_from_slice(&args);
        let (code, _, err) = c.fails_with_output(&all);
        assert_eq!((code, err.trim_end()), (1, message), "{args:?}");
    }
    assert_eq!(c.ok(&["-p", "data", "get", "a", "-"]).as_bytes(), NEW);
}

fn listsnaps_and_df(c: &Cluster, s1: u64) {
    let header = "cloneid\tsnaps\tsize\toverlap\n";
    assert_eq!(
        c.ok(&["-p", "data", "listsnaps", "a"]),
        format!("a:\n{header}{s1}\t{s1}\t8\t[]\nhead\t-\t15\n")
    );
    // Shrunk to 8 KiB: the clone shares its first 8 KiB with the head.
    assert_eq!(
        c.ok(&["-p", "data", "listsnaps", "partial"]),
        format!("partial:\n{header}{s1}\t{s1}\t16384\t[0~8192]\nhead\t-\t8192\n")
    );
    // Removed since: no head, and Ceph's trailing empty line.
    assert_eq!(
        c.ok(&["-p", "data", "listsnaps", "gone"]),
        format!("gone:\n{header}{s1}\t{s1}\t8\t[]\n\n")
    );
    assert_eq!(
        c.ok(&["-p", "data", "listsnaps", "later"]),
        format!("later:\n{header}head\t-\t15\n")
    );
    let (code, _, err) = c.fails_with_output(&["-p", "data", "listsnaps", "nosuch"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error listing snap shots data/nosuch: (2) No such file or directory\n"
        )
    );
    let json = c.ok(&["-p", "data", "listsnaps", "partial", "-f", "json"]);
    assert_eq!(
        json,
        format!(
            "{{\"name\":\"partial\",\"clones\":[{{\"id\":{s1},\"snapshots\":[{{\"id\":{s1},\
             \"name\":\"s1\"}}],\"size\":16384,\"overlaps\":[{{\"start\":0,\"length\":8192}}]}},\
             {{\"id\":\"head\",\"snapshots\":[],\"size\":8192}}]}}"
        )
    );

    // Three clones (a, gone, partial); OBJECTS counts them too, as Ceph's num_objects does.
    let df = c.ok(&["-p", "data", "df"]);
    let head: Vec<&str> = df
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    let row: Vec<&str> = df
        .lines()
        .find(|l| l.starts_with("data "))
        .expect("data row")
        .split_whitespace()
        .collect();
    let col = |name: &str| {
        let i = head.iter().position(|h| *h == name).expect("column");
        // USED is a number and a unit: one field more than its heading.
        row[i + 1]
    };
    assert_eq!((col("OBJECTS"), col("CLONES")), ("6", "3"), "{df}");
    let v: serde_json::Value =
        serde_json::from_str(&c.ok(&["-p", "data", "df", "-f", "json"])).expect("df json");
    assert_eq!(v["pools"][0]["num_object_clones"], 3, "{v}");
    assert_eq!(v["pools"][0]["num_objects"], 6, "{v}");
}

fn rollback(c: &Cluster) {
    assert_eq!(
        c.ok(&["-p", "data", "rollback", "a", "s1"]),
        "rolled back pool data to snapshot s1\n"
    );
    assert_eq!(c.ok(&["-p", "data", "get", "a", "-"]).as_bytes(), OLD);
    assert_eq!(c.ok(&["-p", "data", "getxattr", "a", "color"]), "red");
    // An object removed since comes back; one created since goes.
    c.ok(&["-p", "data", "rollback", "gone", "s1"]);
    assert_eq!(c.ok(&["-p", "data", "get", "gone", "-"]).as_bytes(), OLD);
    c.ok(&["-p", "data", "rollback", "later", "s1"]);
    assert_eq!(c.ls(&[]), ["a", "gone", "partial"]);
    // Ceph's message, object name where the snapshot's would be.
    let (code, _, err) = c.fails_with_output(&["-p", "data", "rollback", "a", "nosuch"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error rolling back pool data to snapshot a(2) No such file or directory\n"
        )
    );
}

fn remove_snapshot(c: &Cluster) {
    assert_eq!(
        c.ok(&["-p", "data", "rmsnap", "s1"]),
        "removed pool data snap s1\n"
    );
    let (code, _, err) = c.fails_with_output(&["-p", "data", "rmsnap", "s1"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error removing pool data snapshot s1: (2) No such file or directory\n"
        )
    );
    assert_eq!(c.ok(&["-p", "data", "lssnap"]), "0 snaps\n");
    let (code, _, err) = c.fails_with_output(&["-p", "nosuch", "mksnap", "x"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error opening pool nosuch: (2) No such file or directory\n"
        )
    );
}

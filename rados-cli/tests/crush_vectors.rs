//! Runs a vector set made by Ceph's own `crushtool` and `osdmaptool` (see the set's README and
//! MANIFEST.tsv) with `rados` standing in for both tools, and demands identical output.
//!
//! The set's directory comes from `CRUSH_VECTORS_DIR` (default `../shared/vectors/crush` beside
//! the checkout; a relative path is taken from the workspace root). A second, generated set in
//! `tests/data/vectors-generated` always runs as well. Every MANIFEST command runs
//! through `sh -c` in a scratch copy of the set's inputs, with `crushtool` and `osdmaptool` on the
//! PATH being this build's `rados`; every file a command writes is ours, not Ceph's. Each failing
//! case prints one line naming the file and the first differing line.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CRUSH_VECTORS_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root.join(d)
            }
        }
        None => root.join("../shared/vectors/crush"),
    }
}

struct Row {
    output: String,
    command: String,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("cannot read {}/MANIFEST.tsv: {e}", dir.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(o, c)| Row {
            output: o.to_string(),
            command: c.to_string(),
        })
        .collect()
}

/// Files a command writes besides its stdout: CRUSH maps (`-o`, `--export-crush`) and osdmaps.
fn written_files(command: &str) -> (Vec<String>, Vec<String>) {
    let (mut maps, mut osdmaps) = (Vec::new(), Vec::new());
    let words: Vec<&str> = command.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(|s| s.trim_matches('"').to_string());
        match *w {
            "-o" | "--export-crush" => maps.extend(next),
            "--createsimple" => {
                // osdmaptool --createsimple N ... FILE: the file is the first bare word after N.
                if let Some(f) = words[i + 2..]
                    .iter()
                    .find(|w| !w.starts_with('-') && w.parse::<i64>().is_err())
                {
                    osdmaps.push(f.to_string());
                }
            }
            _ => {}
        }
    }
    (maps, osdmaps)
}

/// Files the manifest's commands produce (so the scratch copy must not start with them).
fn produced_files(rows: &[Row]) -> BTreeSet<String> {
    let mut produced = BTreeSet::new();
    for row in rows {
        if row.output != "-" {
            produced.insert(row.output.clone());
        }
        let (maps, osdmaps) = written_files(&row.command);
        produced.extend(maps);
        produced.extend(osdmaps);
    }
    produced
}

/// Compares a CRUSH map a command wrote with the one Ceph wrote, then puts Ceph's in its place:
/// later commands (mappings) then run on Ceph's exact bytes, which matters where Ceph's compiler
/// left interior tree nodes uninitialised (those bytes are excluded from the comparison).
fn check_written_map(file: &str, work: &Path, dir: &Path, failures: &mut Vec<String>) -> bool {
    let Ok(theirs) = fs::read(dir.join(file)) else {
        return false;
    };
    let ours = fs::read(work.join(file)).unwrap_or_default();
    let canonical = |b: &[u8]| {
        librados::crush::binary::decode(b)
            .map(|m| librados::crush::binary::canonical_encoding(&m))
            .ok()
    };
    if ours != theirs && (canonical(&ours).is_none() || canonical(&ours) != canonical(&theirs)) {
        let at = ours
            .iter()
            .zip(&theirs)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(theirs.len()));
        failures.push(format!(
            "FAIL {file}: encoding differs from byte {at} ({} vs {} bytes)",
            ours.len(),
            theirs.len()
        ));
    }
    fs::write(work.join(file), &theirs).expect("restore map");
    true
}

fn copy_inputs(src: &Path, dst: &Path, rel: &Path, produced: &BTreeSet<String>) {
    for entry in fs::read_dir(src.join(rel)).expect("read vectors dir") {
        let entry = entry.expect("dir entry");
        let rel_path = rel.join(entry.file_name());
        let key = rel_path.to_string_lossy().to_string();
        if entry.file_type().expect("file type").is_dir() {
            fs::create_dir_all(dst.join(&rel_path)).expect("mkdir");
            copy_inputs(src, dst, &rel_path, produced);
        } else if !produced.contains(&key) {
            fs::copy(entry.path(), dst.join(&rel_path)).expect("copy input");
        }
    }
}

fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for i in 0..g.len().max(w.len()) {
        if g.get(i) != w.get(i) {
            return format!(
                "line {}: expected {:?}, got {:?}",
                i + 1,
                w.get(i).unwrap_or(&"<end>"),
                g.get(i).unwrap_or(&"<end>")
            );
        }
    }
    "trailing newline differs".into()
}

/// Lines of `osdmaptool --print` that carry the time of the run.
fn is_timestamp_line(l: &str) -> bool {
    l.starts_with("created ") || l.starts_with("modified ")
}

fn check_hash_file(path: &Path, failures: &mut Vec<String>, name: &str) {
    let text = fs::read_to_string(path).unwrap_or_default();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let ok = if name.ends_with("str_hash_rjenkins.tsv") {
            let bytes: Vec<u8> = (0..f[0].len() / 2)
                .map(|i| u8::from_str_radix(&f[0][2 * i..2 * i + 2], 16).expect("hex"))
                .collect();
            librados::hash::str_hash_rjenkins(&bytes).to_string() == f[2]
        } else {
            let k: usize = f[0].parse().expect("k");
            let a: Vec<u32> = f[1..=k].iter().map(|v| v.parse().expect("arg")).collect();
            let got = match k {
                1 => librados::hash::crush_hash32(a[0]),
                2 => librados::hash::crush_hash32_2(a[0], a[1]),
                3 => librados::hash::crush_hash32_3(a[0], a[1], a[2]),
                4 => librados::hash::crush_hash32_4(a[0], a[1], a[2], a[3]),
                _ => librados::hash::crush_hash32_5(a[0], a[1], a[2], a[3], a[4]),
            };
            got.to_string() == f[k + 1]
        };
        if !ok {
            failures.push(format!("FAIL {name}: line {}: {line}", n + 1));
            return;
        }
    }
}

#[test]
fn ceph_vectors_match_exactly() {
    let dir = vectors_dir();
    if std::env::var_os("CRUSH_VECTORS_DIR").is_none() && !dir.join("MANIFEST.tsv").exists() {
        // Only the default location may be absent (a checkout without the shared directory);
        // the generated set below still runs.
        println!(
            "no vector set at {}: skipped (set CRUSH_VECTORS_DIR to run one)",
            dir.display()
        );
        return;
    }
    run_set(&dir, "ceph");
}

#[test]
fn generated_vectors_match_exactly() {
    run_set(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors-generated"),
        "generated",
    );
}

fn run_set(dir: &Path, tag: &str) {
    assert!(
        dir.join("MANIFEST.tsv").exists(),
        "no vector set at {} (set CRUSH_VECTORS_DIR to a directory with MANIFEST.tsv)",
        dir.display()
    );
    let dir = dir.to_path_buf();
    let rows = manifest(&dir);
    let produced = produced_files(&rows);
    let scratch =
        std::env::temp_dir().join(format!("rados-crush-vectors-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let work = scratch.join("work");
    let bin = scratch.join("bin");
    fs::create_dir_all(&work).expect("scratch");
    fs::create_dir_all(&bin).expect("scratch bin");
    copy_inputs(&dir, &work, Path::new(""), &produced);
    let rados = env!("CARGO_BIN_EXE_rados");
    for tool in ["crushtool", "osdmaptool"] {
        std::os::unix::fs::symlink(rados, bin.join(tool)).expect("tool link");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for row in &rows {
        if row.output.starts_with("hash/") {
            check_hash_file(&dir.join(&row.output), &mut failures, &row.output);
            checked += 1;
            continue;
        }
        let run = Command::new("sh")
            .arg("-c")
            .arg(&row.command)
            .current_dir(&work)
            .env("PATH", &path)
            .output();
        let run = run.expect("spawn sh");
        let stdout = String::from_utf8_lossy(&run.stdout).to_string();
        for file in written_files(&row.command).0 {
            checked += usize::from(check_written_map(&file, &work, &dir, &mut failures));
        }
        if row.output == "-" {
            if !run.status.success() {
                let err = String::from_utf8_lossy(&run.stderr);
                failures.push(format!(
                    "FAIL {}: command failed: {}",
                    row.command,
                    err.trim()
                ));
            }
            continue;
        }
        checked += 1;
        let want = fs::read_to_string(dir.join(&row.output)).unwrap_or_default();
        let (got, want) = if row.output.ends_with(".print.txt") {
            let keep = |s: &str| {
                s.lines()
                    .filter(|l| !is_timestamp_line(l))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            (keep(&stdout), keep(&want))
        } else {
            (stdout, want)
        };
        if got != want {
            failures.push(format!(
                "FAIL {}: {}",
                row.output,
                first_difference(&got, &want)
            ));
        }
    }
    for f in &failures {
        println!("{f}");
    }
    let _ = fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "{} of {checked} vector checks failed (listed above)",
        failures.len()
    );
    println!("{checked} vector checks passed");
}

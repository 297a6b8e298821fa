//! `rados store fsck|statfs|ls` on a store built through the library: clean and damaged stores,
//! listings, and clear errors for bad arguments.

use librados::store::{CollectionId, DiskStore, ObjectId, ObjectStore, Transaction};
use std::path::Path;
use std::process::{Command, Output};

fn rados(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rados"))
        .args(args)
        .output()
        .expect("run rados")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const C: CollectionId = CollectionId { pool: 3, seed: 0x1 };

fn build(dir: &Path) {
    let s = DiskStore::open(dir).unwrap();
    let mut t = Transaction::new();
    t.create_collection(C, 1);
    for name in ["alpha", "beta", "gamma", "delta", "epsilon"] {
        let hash = librados::hash::str_hash_rjenkins(name.as_bytes()) | 1;
        t.write(C, &ObjectId::new(3, name, hash), 0, vec![7u8; 200_000]);
    }
    s.apply_transaction(t).unwrap();
}

#[test]
fn fsck_statfs_and_ls_on_a_clean_store() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = rados(&["store", "fsck", d]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("5 objects, 1000000 bytes checked, 0 problems"),
        "{stdout}"
    );
    let (stdout, _) = text(&rados(&["store", "statfs", d]));
    assert!(
        stdout.contains("objects    5") && stdout.contains("data       1000000"),
        "{stdout}"
    );
    let (stdout, _) = text(&rados(&["store", "ls", d]));
    assert_eq!(stdout.trim(), "3.1 bits 1");
    let (stdout, _) = text(&rados(&["store", "ls", d, "--collection", "3.1"]));
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.starts_with("3:") && l.ends_with(":head")),
        "{stdout}"
    );
}

#[test]
fn fsck_names_damaged_objects_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let block = dir.path().join("block");
    let mut bytes = std::fs::read(&block).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&block, bytes).unwrap();
    let out = rados(&["store", "fsck", dir.path().to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("damaged object 3:") && stdout.contains("checksum mismatch"),
        "{stdout}"
    );
    assert!(stderr.contains("is damaged"), "{stderr}");
}

#[test]
fn bad_arguments_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = text(&rados(&["store", "fsck", dir.path().to_str().unwrap()]));
    assert!(stderr.contains("not an object store"), "{stderr}");
    build(dir.path());
    let d = dir.path().to_str().unwrap();
    let out = rados(&["store", "ls", d, "--collection", "3-1"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("POOL.SEED"), "{}", text(&out).1);
    let out = rados(&["store", "ls", d, "--collection", "3.zz"]);
    assert!(text(&out).1.contains("hex"), "{}", text(&out).1);
    let out = rados(&["store", "ls", d, "--collection", "3.7"]);
    assert!(text(&out).1.contains("does not exist"), "{}", text(&out).1);
}

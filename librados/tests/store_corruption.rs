//! Corruption: flip or truncate bytes in the block file and in the engine's table files. Every
//! read of an affected object returns an integrity error (EIO), never different bytes; other
//! objects still read correctly; `verify` names the damaged objects (or the engine file).

mod common;

use common::store_workload::Rng;
use librados::store::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const C: CollectionId = CollectionId { pool: 1, seed: 0 };

fn oid(i: usize) -> ObjectId {
    let name = format!("obj{i}");
    ObjectId::new(1, &name, librados::hash::str_hash_rjenkins(name.as_bytes()))
}

fn content(i: usize) -> Vec<u8> {
    // Large objects (full chunks in slots), medium (chunk records), small (inline).
    let len = match i % 3 {
        0 => 256 * 1024,
        1 => 20_000,
        _ => 1000,
    };
    (0..len)
        .map(|j| (j as u8).wrapping_mul(7).wrapping_add(i as u8))
        .collect()
}

const N: usize = 30;

fn populate(dir: &Path) {
    let s = DiskStore::open(dir).unwrap();
    let mut t = Transaction::new();
    t.create_collection(C, 0);
    s.apply_transaction(t).unwrap();
    for i in 0..N {
        let mut t = Transaction::new();
        t.write(C, &oid(i), 0, content(i))
            .setattr(C, &oid(i), "a", vec![i as u8; 10]);
        t.omap_setkeys(
            C,
            &oid(i),
            vec![(format!("k{i}").into(), vec![1u8; 50].into())],
        );
        s.apply_transaction(t).unwrap();
    }
    s.flush_engine().unwrap();
}

/// Reads every object: returns the ones that failed; panics on wrong bytes or a non-EIO error.
fn read_all(s: &DiskStore) -> BTreeSet<ObjectId> {
    let mut failed = BTreeSet::new();
    for i in 0..N {
        match s.read(C, &oid(i), 0, u64::MAX) {
            Ok(bytes) => assert!(bytes == content(i), "object {i} returned different bytes"),
            Err(e) => {
                assert_eq!(e.errno(), librados::errno::EIO, "object {i}: {e}");
                assert!(e.is_integrity(), "object {i}: {e}");
                failed.insert(oid(i));
            }
        }
    }
    failed
}

fn flip(path: &Path, offsets: &[u64]) {
    let mut bytes = std::fs::read(path).unwrap();
    for &o in offsets {
        let o = (o % bytes.len() as u64) as usize;
        bytes[o] ^= 0x5a;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn flipped_block_bytes_are_detected_and_named() {
    for seed in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        populate(dir.path());
        let block = dir.path().join("block");
        let used = std::fs::metadata(&block).unwrap().len();
        let mut rng = Rng(seed);
        let offsets: Vec<u64> = (0..3).map(|_| rng.below(used)).collect();
        flip(&block, &offsets);
        let s = DiskStore::open(dir.path()).unwrap();
        let failed = read_all(&s);
        assert!(
            !failed.is_empty(),
            "seed {seed}: flips at {offsets:?} went unnoticed"
        );
        let report = s.verify().unwrap();
        let named: BTreeSet<ObjectId> = report.damaged_objects().into_iter().cloned().collect();
        assert_eq!(
            named, failed,
            "seed {seed}: verify names exactly the objects reads reject"
        );
        assert!(failed
            .iter()
            .all(|o| content(o.name[3..].parse().unwrap()).len() > 100_000));
    }
}

#[test]
fn truncated_block_file_fails_only_the_objects_past_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let block = dir.path().join("block");
    let len = std::fs::metadata(&block).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&block)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let s = DiskStore::open(dir.path()).unwrap();
    let failed = read_all(&s);
    assert!(!failed.is_empty() && failed.len() < N);
    let report = s.verify().unwrap();
    let named: BTreeSet<ObjectId> = report.damaged_objects().into_iter().cloned().collect();
    assert_eq!(named, failed);
}

fn engine_tables(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("kv")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.components().any(|c| c.as_os_str() == "tables") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn damaged_engine_tables_give_integrity_errors_never_wrong_bytes() {
    let mut detected = 0;
    for seed in 0..6u64 {
        let dir = tempfile::tempdir().unwrap();
        populate(dir.path());
        let tables = engine_tables(dir.path());
        assert!(!tables.is_empty(), "no engine table files found");
        let mut rng = Rng(seed);
        let victim = &tables[rng.below(tables.len() as u64) as usize];
        let len = std::fs::metadata(victim).unwrap().len();
        // Flip inside the first half, where the data blocks are.
        let offsets: Vec<u64> = (0..2).map(|_| rng.below(len / 2 + 1)).collect();
        flip(victim, &offsets);
        let s = match DiskStore::open(dir.path()) {
            Ok(s) => s,
            Err(e) => {
                // The engine refused the damaged file at open: an I/O-class error, no data.
                assert_eq!(e.errno(), librados::errno::EIO, "seed {seed}: {e}");
                detected += 1;
                continue;
            }
        };
        let failed = read_all(&s);
        for i in 0..N {
            if let Ok(v) = s.getattr(C, &oid(i), "a") {
                assert_eq!(v.as_ref(), &vec![i as u8; 10][..]);
            }
        }
        let report = s.verify().unwrap();
        if !failed.is_empty() {
            detected += 1;
            assert!(
                !report.is_clean(),
                "seed {seed}: reads failed but verify is clean"
            );
        }
        for o in report.damaged_objects() {
            assert!(o.name.starts_with("obj"));
        }
    }
    println!("engine damage detected in {detected} of 6 runs");
    assert!(detected > 0, "no engine damage was ever detected");
}

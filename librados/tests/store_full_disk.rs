//! Full disk: on a small filesystem the test mounts (a 96 MiB tmpfs), writes are refused with
//! ENOSPC before anything is damaged; everything committed before reads back intact, the store
//! reopens, and deleting objects frees space so that writes resume. Skips, saying why, where the
//! test cannot mount (not root, or no mount permission in the sandbox).

use librados::store::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const C: CollectionId = CollectionId { pool: 1, seed: 0 };

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| Mount(dir.to_path_buf()))
}

fn oid(prefix: &str, i: usize) -> ObjectId {
    let name = format!("{prefix}{i}");
    ObjectId::new(1, &name, librados::hash::str_hash_rjenkins(name.as_bytes()))
}

fn content(i: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| (j as u8) ^ (i as u8).wrapping_mul(29))
        .collect()
}

/// Writes objects of `len` bytes until the store refuses one; returns how many it took.
fn fill(s: &DiskStore, prefix: &str, len: usize) -> usize {
    for i in 0.. {
        let mut t = Transaction::new();
        t.write(C, &oid(prefix, i), 0, content(i, len));
        match s.apply_transaction(t) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.errno(), librados::errno::ENOSPC, "after {i} objects: {e}");
                assert!(
                    !s.exists(C, &oid(prefix, i)).unwrap(),
                    "a refused write left an object"
                );
                return i;
            }
        }
        assert!(i < 100_000, "the filesystem never filled");
    }
    unreachable!()
}

fn check(s: &DiskStore, prefix: &str, n: usize, len: usize) {
    for i in 0..n {
        let got = s.read(C, &oid(prefix, i), 0, u64::MAX).unwrap();
        assert!(
            got == content(i, len),
            "{prefix}{i} differs after the disk filled"
        );
    }
}

#[test]
fn a_full_disk_refuses_writes_and_damages_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = mount_tmpfs(dir.path(), "96m") else {
        println!("SKIPPED: cannot mount a tmpfs here (needs root and mount permission)");
        return;
    };
    let path = dir.path().join("store");
    let (big, small);
    {
        let s = DiskStore::open(&path).unwrap();
        let mut t = Transaction::new();
        t.create_collection(C, 0);
        s.apply_transaction(t).unwrap();
        big = fill(&s, "big", 1 << 20);
        small = fill(&s, "small", 4096);
        println!(
            "filled with {big} x 1 MiB and {small} x 4 KiB; stats {:?}",
            s.statfs().unwrap()
        );
        assert!(big > 20, "only {big} large objects fit");
        check(&s, "big", big, 1 << 20);
        check(&s, "small", small, 4096);
        assert!(s.verify().unwrap().is_clean());
        // A request that is invalid whatever the space is refused as invalid, not as ENOSPC.
        let mut t = Transaction::new();
        t.clone_range(C, &oid("big", 0), &oid("copy", 0), 0, 2 << 30, 0);
        assert_eq!(
            s.apply_transaction(t).unwrap_err().errno(),
            librados::errno::EINVAL
        );
        // Deleting is always allowed, even with the filesystem at its limit.
        let mut t = Transaction::new();
        for i in 0..big / 2 {
            t.remove(C, &oid("big", i));
        }
        s.apply_transaction(t).unwrap();
    }
    let s = DiskStore::open(&path).unwrap();
    check(&s, "small", small, 4096);
    for i in big / 2..big {
        let got = s.read(C, &oid("big", i), 0, u64::MAX).unwrap();
        assert!(got == content(i, 1 << 20));
    }
    // The space came back: large writes resume.
    let more = fill(&s, "again", 1 << 20);
    assert!(
        more >= big / 4,
        "only {more} writes resumed after deleting {} MiB",
        big / 2
    );
    assert!(s.verify().unwrap().is_clean());
}

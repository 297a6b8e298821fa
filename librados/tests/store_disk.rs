//! Behaviour of the disk store through its public API: data layout edge cases (inline, chunked,
//! slots, holes), clones sharing data, persistence across reopen, locking, collections.

use bytes::Bytes;
use librados::store::*;
use std::future::Future;

const C: CollectionId = CollectionId { pool: 1, seed: 0 };

fn setup() -> (tempfile::TempDir, DiskStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let mut t = Transaction::new();
    t.create_collection(C, 0);
    store.apply_transaction(t).unwrap();
    (dir, store)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn oid(name: &str) -> ObjectId {
    ObjectId::new(1, name, librados::hash::str_hash_rjenkins(name.as_bytes()))
}

#[test]
fn writes_across_every_layout_read_back() {
    let (_d, s) = setup();
    let o = oid("obj");
    // Small (inline in the onode), then grown past the inline limit, then large full chunks,
    // then an unaligned overwrite spanning chunk boundaries, then a hole.
    let mut model = vec![0u8; 0];
    let mut put = |s: &DiskStore, off: usize, data: Vec<u8>| {
        if model.len() < off + data.len() {
            model.resize(off + data.len(), 0);
        }
        model[off..off + data.len()].copy_from_slice(&data);
        let mut t = Transaction::new();
        t.write(C, &o, off as u64, data);
        s.apply_transaction(t).unwrap();
        model.clone()
    };
    put(&s, 0, pattern(100, 1));
    put(&s, 50, pattern(20_000, 2));
    put(&s, 65_536, pattern(4 << 20, 3));
    put(&s, 60_000, pattern(200_000, 4));
    let want = put(&s, 10 << 20, pattern(10, 5));
    let got = s.read(C, &o, 0, u64::MAX).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "contents differ");
    assert_eq!(
        s.read(C, &o, 9 << 20, 4096).unwrap(),
        Bytes::from(vec![0u8; 4096])
    );
    assert_eq!(s.read(C, &o, want.len() as u64 - 5, 100).unwrap().len(), 5);
    assert!(s
        .read(C, &o, want.len() as u64 + 1, 100)
        .unwrap()
        .is_empty());
    assert_eq!(s.stat(C, &o).unwrap().size, want.len() as u64);
    assert!(s.verify().unwrap().is_clean());
}

/// Partial overwrites keep chunks inline in the engine; a clone moves them into slots that
/// source and clone share, so repeated snapshots of a rewritten object never copy its data.
#[test]
fn clones_share_rewritten_chunks_too() {
    let dir = tempfile::tempdir().unwrap();
    let a = oid("a");
    let big = pattern(4 << 20, 3);
    let mut want = big.to_vec();
    {
        let s = DiskStore::open(dir.path()).unwrap();
        let mut t = Transaction::new();
        t.create_collection(C, 0).write(C, &a, 0, big.clone());
        s.apply_transaction(t).unwrap();
        for round in 0..6u64 {
            // A 4 KiB overwrite in a new chunk each round (stored inline), then a clone.
            let off = round * (64 << 10) + 4096;
            let mut t = Transaction::new();
            t.write(C, &a, off, vec![round as u8; 4096]);
            s.apply_transaction(t).unwrap();
            want[off as usize..off as usize + 4096].fill(round as u8);
            let before = s.statfs().unwrap().used_bytes;
            let mut t = Transaction::new();
            t.clone_object(C, &a, &oid(&format!("a@{round}")));
            s.apply_transaction(t).unwrap();
            let after = s.statfs().unwrap().used_bytes;
            assert!(
                after < before + (256 << 10),
                "round {round}: a clone must not copy 4 MiB: {before} -> {after}"
            );
        }
        let mut t = Transaction::new();
        t.write(C, &a, 0, vec![0xee; 100]);
        s.apply_transaction(t).unwrap();
    }
    let s = DiskStore::open(dir.path()).unwrap();
    assert!(s.verify().unwrap().is_clean());
    let last = s.read(C, &oid("a@5"), 0, u64::MAX).unwrap();
    assert!(last == want, "the newest clone holds every overwrite");
    let first = s.read(C, &oid("a@0"), 0, u64::MAX).unwrap();
    assert_eq!(&first[4096..8192], &[0u8; 4096][..]);
    assert_eq!(
        &first[(64 << 10) + 4096..(64 << 10) + 8192],
        &big[(64 << 10) + 4096..(64 << 10) + 8192]
    );
    let head = s.read(C, &a, 0, 200).unwrap();
    assert_eq!(&head[..100], &[0xee; 100][..]);
    assert_eq!(&head[100..200], &want[100..200]);
}

#[test]
fn data_survives_reopen_and_clones_share_slots() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (oid("a"), oid("b"));
    let big = pattern(8 << 20, 7);
    {
        let s = DiskStore::open(dir.path()).unwrap();
        let mut t = Transaction::new();
        t.create_collection(C, 0)
            .write(C, &a, 0, big.clone())
            .setattr(C, &a, "x", &b"1"[..]);
        t.omap_setkeys(C, &a, vec![(Bytes::from("k"), Bytes::from("v"))]);
        s.apply_transaction(t).unwrap();
        let used = s.statfs().unwrap().used_bytes;
        let mut t = Transaction::new();
        t.clone_object(C, &a, &b);
        s.apply_transaction(t).unwrap();
        let after = s.statfs().unwrap().used_bytes;
        assert!(
            after < used + (1 << 20),
            "a clone of 8 MiB must not copy it: {used} -> {after}"
        );
        // Overwriting the source leaves the clone intact.
        let mut t = Transaction::new();
        t.write(C, &a, 0, vec![9u8; 1 << 20]);
        s.apply_transaction(t).unwrap();
    }
    let s = DiskStore::open(dir.path()).unwrap();
    assert!(s.read(C, &b, 0, u64::MAX).unwrap() == big);
    assert_eq!(
        s.read(C, &a, 0, 1 << 20).unwrap(),
        Bytes::from(vec![9u8; 1 << 20])
    );
    assert!(s.read(C, &a, 1 << 20, u64::MAX).unwrap() == big[1 << 20..]);
    assert_eq!(s.getattr(C, &b, "x").unwrap(), Bytes::from("1"));
    assert_eq!(
        omap_get_all(&s, C, &b).unwrap(),
        vec![(b"k".to_vec(), b"v".to_vec())]
    );
    assert_eq!(s.statfs().unwrap().objects, 2);
    assert!(s.verify().unwrap().is_clean());
    // Removing both frees the slots for reuse.
    let mut t = Transaction::new();
    t.remove(C, &a).remove(C, &b);
    s.apply_transaction(t).unwrap();
    assert_eq!(s.statfs().unwrap().objects, 0);
    assert_eq!(s.statfs().unwrap().data_bytes, 0);
}

#[test]
fn unusable_log_geometry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        wal_segment_bytes: 1000,
        ..Default::default()
    };
    let err = DiskStore::open_with(dir.path(), cfg)
        .err()
        .expect("must refuse");
    assert_eq!(err.errno(), librados::errno::EINVAL);
    assert!(err.to_string().contains("64 KiB"), "{err}");
}

#[test]
fn a_second_open_is_refused_with_the_lock_named() {
    let (d, _s) = setup();
    let err = DiskStore::open(d.path())
        .err()
        .expect("second open must fail");
    assert_eq!(err.errno(), librados::errno::EBUSY);
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn failed_transactions_apply_nothing() {
    let (_d, s) = setup();
    let o = oid("o");
    let mut t = Transaction::new();
    t.write(C, &o, 0, pattern(300_000, 1))
        .remove(C, &oid("missing"));
    let err = s.apply_transaction(t).unwrap_err();
    assert_eq!(err.errno(), librados::errno::ENOENT);
    assert!(!s.exists(C, &o).unwrap());
    assert_eq!(s.statfs().unwrap().objects, 0);
    // Wrong collection, missing collection, extents past the limit.
    let mut t = Transaction::new();
    t.touch(CollectionId::new(1, 5), &o);
    assert_eq!(
        s.apply_transaction(t).unwrap_err().errno(),
        librados::errno::ENOENT
    );
    let mut t = Transaction::new();
    t.touch(C, &ObjectId::new(2, "x", 0));
    assert_eq!(
        s.apply_transaction(t).unwrap_err().errno(),
        librados::errno::EINVAL
    );
    let mut t = Transaction::new();
    t.write(C, &o, u64::MAX - 2, vec![1, 2, 3, 4]);
    assert_eq!(
        s.apply_transaction(t).unwrap_err().errno(),
        librados::errno::EINVAL
    );
}

#[test]
fn collections_list_in_hash_order_and_split() {
    let (_d, s) = setup();
    let names: Vec<String> = (0..200).map(|i| format!("obj{i}")).collect();
    let mut t = Transaction::new();
    for n in &names {
        t.touch(C, &oid(n));
    }
    s.apply_transaction(t).unwrap();
    let mut all = Vec::new();
    let mut cursor = ListCursor::Start;
    loop {
        let page = s.list_objects(C, &cursor, 7).unwrap();
        all.extend(page.objects);
        match page.next {
            Some(c) => cursor = c,
            None => break,
        }
    }
    let mut want: Vec<ObjectId> = names.iter().map(|n| oid(n)).collect();
    want.sort();
    assert_eq!(all, want);
    // Split into two halves by the lowest hash bit.
    let child = CollectionId::new(1, 1);
    let mut t = Transaction::new();
    t.create_collection(child, 0).split_collection(C, 1, child);
    s.apply_transaction(t).unwrap();
    let left = s.list_objects(C, &ListCursor::Start, 1000).unwrap().objects;
    let right = s
        .list_objects(child, &ListCursor::Start, 1000)
        .unwrap()
        .objects;
    assert_eq!(left.len() + right.len(), 200);
    assert!(left.iter().all(|o| o.hash & 1 == 0) && right.iter().all(|o| o.hash & 1 == 1));
    let mut t = Transaction::new();
    t.remove_collection(child);
    assert_eq!(
        s.apply_transaction(t).unwrap_err().errno(),
        librados::errno::ENOTEMPTY
    );
}

#[test]
fn omap_listing_honours_start_prefix_and_max() {
    let (_d, s) = setup();
    let o = oid("omap");
    let entries: Vec<(Bytes, Bytes)> = ["a1", "a2", "a3", "b1", "b2", "c"]
        .iter()
        .map(|k| (Bytes::from(*k), Bytes::from(format!("v{k}"))))
        .collect();
    let mut t = Transaction::new();
    t.omap_setkeys(C, &o, entries)
        .omap_setheader(C, &o, &b"hdr"[..]);
    s.apply_transaction(t).unwrap();
    let keys = |p: OmapPage| {
        p.entries
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(s.omap_list(C, &o, Some(b"a1"), Some(b"a"), 10).unwrap()),
        ["a2", "a3"]
    );
    let page = s.omap_list(C, &o, None, None, 4).unwrap();
    assert!(page.more);
    assert_eq!(keys(page), ["a1", "a2", "a3", "b1"]);
    assert_eq!(
        keys(s.omap_list(C, &o, Some(b"b"), None, 10).unwrap()),
        ["b1", "b2", "c"]
    );
    assert_eq!(s.omap_get_header(C, &o).unwrap(), Bytes::from("hdr"));
    let mut t = Transaction::new();
    t.omap_rmkeyrange(C, &o, &b"a2"[..], &b"b2"[..]);
    s.apply_transaction(t).unwrap();
    assert_eq!(
        keys(s.omap_list(C, &o, None, None, 10).unwrap()),
        ["a1", "b2", "c"]
    );
    let got = s
        .omap_get_values(C, &o, &[Bytes::from("c"), Bytes::from("zz")])
        .unwrap();
    assert_eq!(got.len(), 1);
}

#[test]
fn sparse_objects_reach_the_gib_range() {
    let (_d, s) = setup();
    let o = oid("sparse");
    let far = 5u64 << 30;
    let mut t = Transaction::new();
    t.write(C, &o, 0, pattern(1000, 1))
        .write(C, &o, far, pattern(70_000, 2));
    s.apply_transaction(t).unwrap();
    assert_eq!(s.stat(C, &o).unwrap().size, far + 70_000);
    assert_eq!(
        s.read(C, &o, far - 10, 20).unwrap().as_ref(),
        &[&[0u8; 10][..], &pattern(10, 2)].concat()[..]
    );
    assert_eq!(
        s.read(C, &o, 3 << 30, 4096).unwrap(),
        Bytes::from(vec![0u8; 4096])
    );
    // Truncating back frees the far chunks; the start survives.
    let mut t = Transaction::new();
    t.truncate(C, &o, 500);
    s.apply_transaction(t).unwrap();
    assert_eq!(
        s.read(C, &o, 0, u64::MAX).unwrap().as_ref(),
        &pattern(1000, 1)[..500]
    );
    assert!(s.verify().unwrap().is_clean());
}

#[test]
fn commits_resolve_as_futures_and_in_submission_order() {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let (_d, s) = setup();
    let o = oid("ordered");
    let commits: Vec<Commit> = (0..50u8)
        .map(|i| {
            let mut t = Transaction::new();
            t.write(C, &o, 0, vec![i; 100]);
            s.queue_transaction(t).unwrap()
        })
        .collect();
    // Reads see queued transactions at once, durable or not.
    assert_eq!(s.read(C, &o, 0, 1).unwrap().as_ref(), &[49]);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    for mut c in commits {
        loop {
            match std::pin::Pin::new(&mut c).poll(&mut cx) {
                Poll::Ready(r) => break r.unwrap(),
                Poll::Pending => std::thread::park_timeout(std::time::Duration::from_millis(50)),
            }
        }
    }
    assert_eq!(s.stat(C, &o).unwrap().version, 50);
}

#[test]
fn huge_reads_are_refused_and_pieces_work() {
    let (_d, s) = setup();
    let o = oid("huge");
    let mut t = Transaction::new();
    t.truncate(C, &o, 3 << 30)
        .write(C, &o, 2 << 30, pattern(10, 3));
    s.apply_transaction(t).unwrap();
    let err = s.read(C, &o, 0, u64::MAX).unwrap_err();
    assert_eq!(err.errno(), librados::errno::EINVAL);
    assert!(err.to_string().contains("read in pieces"), "{err}");
    assert_eq!(
        s.read(C, &o, 2 << 30, 10).unwrap().as_ref(),
        &pattern(10, 3)[..]
    );
    let mut t = Transaction::new();
    t.clone_range(C, &o, &oid("copy"), 0, 2 << 30, 0);
    assert_eq!(
        s.apply_transaction(t).unwrap_err().errno(),
        librados::errno::EINVAL
    );
}

#[test]
fn groups_larger_than_the_log_go_straight_to_the_engine_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig {
        wal_segments: 2,
        wal_segment_bytes: 64 * 1024,
        ..Default::default()
    };
    let model = MemStore::new();
    {
        let s = DiskStore::open_with(dir.path(), cfg.clone()).unwrap();
        for store in [&s as &dyn ObjectStore, &model] {
            let mut t = Transaction::new();
            t.create_collection(C, 0);
            store.apply_transaction(t).unwrap();
        }
        // Queue many transactions without waiting: some groups exceed half a segment (40 KB
        // partial chunks), some are small; they must reach the engine in order.
        let mut commits = Vec::new();
        for i in 0..200u32 {
            let mut t = Transaction::new();
            let o = oid(&format!("o{}", i % 7));
            if i % 3 == 0 {
                t.write(C, &o, 100, pattern(40_000, i as u8));
            } else {
                t.write(C, &o, u64::from(i) * 10, pattern(50, i as u8));
            }
            model.apply_transaction(t.clone()).unwrap();
            commits.push(s.queue_transaction(t).unwrap());
        }
        for c in commits {
            c.wait().unwrap();
        }
        for i in 0..7 {
            let o = oid(&format!("o{i}"));
            assert!(s.read(C, &o, 0, u64::MAX).unwrap() == model.read(C, &o, 0, u64::MAX).unwrap());
        }
    }
    let s = DiskStore::open_with(dir.path(), cfg).unwrap();
    for i in 0..7 {
        let o = oid(&format!("o{i}"));
        assert!(s.read(C, &o, 0, u64::MAX).unwrap() == model.read(C, &o, 0, u64::MAX).unwrap());
        assert_eq!(
            s.stat(C, &o).unwrap().version,
            model.stat(C, &o).unwrap().version
        );
    }
    assert!(s.verify().unwrap().is_clean());
}

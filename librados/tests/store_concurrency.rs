//! Concurrency: writer threads replace, clone and remove objects (small, chunked and slot-sized)
//! while reader threads read them. Every object's content describes itself (version, length and
//! a pattern), so a reader can tell a whole object from a torn or mixed one: reads must always
//! return a whole version (or NotFound), never an integrity error — which is what a slot reused
//! under a reader would cause. Afterwards, and after reopening, each writer's objects equal its
//! own model.

mod common;

use common::store_workload::Rng;
use librados::store::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const C: CollectionId = CollectionId { pool: 1, seed: 0 };
const WRITERS: u64 = 3;
const OBJECTS_PER_WRITER: u64 = 6;

fn oid(writer: u64, i: u64) -> ObjectId {
    let name = format!("w{writer}.o{i}");
    ObjectId::new(1, &name, librados::hash::str_hash_rjenkins(name.as_bytes()))
}

fn content(version: u64, len: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len as usize);
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend((16..len).map(|i| (i.wrapping_mul(31) ^ version.wrapping_mul(7)) as u8));
    v
}

fn is_whole(bytes: &[u8]) -> bool {
    if bytes.len() < 16 {
        return false;
    }
    let version = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap());
    len == bytes.len() as u64 && bytes == content(version, len).as_slice()
}

fn writer(store: &DiskStore, model: &MemStore, w: u64, steps: u64, versions: &AtomicU64) {
    let mut rng = Rng(w + 1);
    for _ in 0..steps {
        let o = oid(w, rng.below(OBJECTS_PER_WRITER));
        let mut t = Transaction::new();
        match rng.below(10) {
            0 => {
                t.remove(C, &o);
            }
            1 => {
                let dst = oid(w, rng.below(OBJECTS_PER_WRITER));
                if dst != o {
                    t.clone_object(C, &o, &dst);
                }
            }
            _ => {
                let len = *[20u64, 5000, 70_000, 200_000, 300_000]
                    .get(rng.below(5) as usize)
                    .unwrap();
                let v = versions.fetch_add(1, Ordering::SeqCst);
                t.truncate(C, &o, 0).write(C, &o, 0, content(v, len));
            }
        }
        t.set_mtime_ns(1);
        let want = model.apply_transaction(t.clone()).map_err(|e| e.errno());
        let got = store.apply_transaction(t).map_err(|e| e.errno());
        assert_eq!(got, want, "writer {w}");
    }
}

fn reader(store: &DiskStore, stop: &AtomicBool, reads: &AtomicU64) {
    let mut rng = Rng(99);
    while !stop.load(Ordering::SeqCst) {
        let o = oid(rng.below(WRITERS), rng.below(OBJECTS_PER_WRITER));
        match store.read(C, &o, 0, u64::MAX) {
            Ok(bytes) => assert!(is_whole(&bytes), "{o}: a read returned a torn object"),
            Err(StoreError::ObjectNotFound { .. }) => {}
            Err(e) => panic!("{o}: {e}"),
        }
        reads.fetch_add(1, Ordering::Relaxed);
    }
}

fn same(store: &DiskStore, model: &MemStore) {
    for w in 0..WRITERS {
        for i in 0..OBJECTS_PER_WRITER {
            let o = oid(w, i);
            match (
                store.read(C, &o, 0, u64::MAX),
                model.read(C, &o, 0, u64::MAX),
            ) {
                (Ok(a), Ok(b)) => assert!(a == b, "{o} differs from the model"),
                (Err(a), Err(b)) => assert_eq!(a.errno(), b.errno()),
                (a, b) => panic!(
                    "{o}: store {:?} vs model {:?}",
                    a.map(|b| b.len()),
                    b.map(|b| b.len())
                ),
            }
        }
    }
}

#[test]
fn readers_never_see_torn_objects_while_writers_replace_clone_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let model = MemStore::new();
    for s in [&store as &dyn ObjectStore, &model] {
        let mut t = Transaction::new();
        t.create_collection(C, 0);
        s.apply_transaction(t).unwrap();
    }
    let stop = AtomicBool::new(false);
    let (reads, versions) = (AtomicU64::new(0), AtomicU64::new(1));
    std::thread::scope(|sc| {
        let readers: Vec<_> = (0..2)
            .map(|_| sc.spawn(|| reader(&store, &stop, &reads)))
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, model, versions) = (&store, &model, &versions);
                sc.spawn(move || writer(store, model, w, 150, versions))
            })
            .collect();
        for h in writers {
            h.join().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        for h in readers {
            h.join().unwrap();
        }
    });
    assert!(
        reads.load(Ordering::Relaxed) > 100,
        "the readers barely ran"
    );
    same(&store, &model);
    assert!(store.verify().unwrap().is_clean());
    drop(store);
    let store = DiskStore::open(dir.path()).unwrap();
    same(&store, &model);
    assert!(store.verify().unwrap().is_clean());
}

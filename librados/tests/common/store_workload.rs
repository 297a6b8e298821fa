//! A seeded random workload for the object store (writes of every size, zeros, truncates,
//! removes, xattrs, omap, clones, clone ranges, moves) and a full dump of a store's state, so
//! that any two stores — or a store and the in-memory model — can be compared exactly.

use bytes::Bytes;
use librados::store::*;
use std::collections::BTreeMap;

/// splitmix64: small, seeded, reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

pub const POOL: i64 = 1;
pub const COLLS: [CollectionId; 2] = [
    CollectionId {
        pool: POOL,
        seed: 0,
    },
    CollectionId {
        pool: POOL,
        seed: 1,
    },
];
const NAMES: [&str; 7] = ["a", "b", "c", "dd", "e\0x", "fff", "g/h"];

pub fn oid(i: usize) -> ObjectId {
    let name = NAMES[i % NAMES.len()];
    let o = ObjectId::new(
        POOL,
        name,
        librados::hash::str_hash_rjenkins(name.as_bytes()),
    );
    if i >= NAMES.len() {
        o.with_namespace("ns")
    } else {
        o
    }
}

/// The collection an object lives in (bits = 1).
pub fn cid_of(o: &ObjectId) -> CollectionId {
    COLLS[(o.hash & 1) as usize]
}

/// The transaction that creates the two collections.
pub fn setup_txn() -> Transaction {
    let mut t = Transaction::new();
    for c in COLLS {
        t.create_collection(c, 1);
    }
    t.set_mtime_ns(1);
    t
}

fn data(rng: &mut Rng, max: u64) -> Bytes {
    let len = if max == u64::MAX {
        0
    } else {
        rng.below(max + 1)
    };
    let seed = rng.next() as u8;
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

fn exact(rng: &mut Rng, len: u64) -> Bytes {
    let seed = rng.next() as u8;
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

const OFFSETS: [u64; 9] = [0, 1, 100, 8000, 65_526, 65_536, 131_072, 300_000, 1 << 20];
const LENS: [u64; 8] = [0, 1, 100, 5000, 8192, 65_536, 70_000, 200_000];

fn key(rng: &mut Rng) -> Bytes {
    Bytes::from(vec![b'k', b'0' + rng.below(6) as u8])
}

/// One random operation; about one in twenty is addressed through the wrong collection.
pub fn random_op(rng: &mut Rng) -> Op {
    let universe = NAMES.len() * 2;
    let o = oid(rng.below(universe as u64) as usize);
    let mut cid = cid_of(&o);
    if rng.below(20) == 0 {
        cid = COLLS[1 - (o.hash & 1) as usize];
    }
    let other = oid(rng.below(universe as u64) as usize);
    match rng.below(17) {
        0..=3 => {
            let (offset, len) = (rng.pick(&OFFSETS), rng.pick(&LENS));
            Op::Write {
                cid,
                oid: o,
                offset,
                data: exact(rng, len),
            }
        }
        4 => Op::Zero {
            cid,
            oid: o,
            offset: rng.pick(&OFFSETS),
            len: rng.pick(&LENS),
        },
        5 => Op::Truncate {
            cid,
            oid: o,
            size: rng.pick(&OFFSETS) + rng.pick(&[0, 7]),
        },
        6 => Op::Remove { cid, oid: o },
        7 => Op::SetAttrs {
            cid,
            oid: o,
            attrs: vec![(format!("x{}", rng.below(3)), data(rng, 40))],
        },
        8 => Op::RmAttr {
            cid,
            oid: o,
            name: format!("x{}", rng.below(3)),
        },
        9 => {
            let entries = (0..1 + rng.below(3))
                .map(|_| (key(rng), data(rng, 30)))
                .collect();
            Op::OmapSetKeys {
                cid,
                oid: o,
                entries,
            }
        }
        10 => Op::OmapRmKeys {
            cid,
            oid: o,
            keys: vec![key(rng), key(rng)],
        },
        11 => Op::OmapRmKeyRange {
            cid,
            oid: o,
            first: key(rng),
            last: key(rng),
        },
        12 => Op::OmapSetHeader {
            cid,
            oid: o,
            header: data(rng, 20),
        },
        13 if rng.below(3) == 0 => Op::OmapClear { cid, oid: o },
        13 | 14 => {
            let dst = if cid_of(&other) == cid {
                other
            } else {
                o.clone().with_namespace("clone")
            };
            Op::Clone { cid, src: o, dst }
        }
        15 => {
            let dst = if cid_of(&other) == cid {
                other
            } else {
                o.clone()
            };
            Op::CloneRange {
                cid,
                src: o,
                dst,
                src_offset: rng.pick(&OFFSETS),
                len: rng.pick(&LENS),
                dst_offset: rng.pick(&OFFSETS),
            }
        }
        _ => {
            let dst_cid = cid_of(&other);
            Op::MoveRename {
                src_cid: cid,
                src: o,
                dst_cid,
                dst: other,
            }
        }
    }
}

/// Transaction number `step` of a workload: 1 to 4 operations, mtime fixed by the step.
pub fn random_txn(rng: &mut Rng, step: u64) -> Transaction {
    let mut t = Transaction::new();
    for _ in 0..1 + rng.below(4) {
        t.push(random_op(rng));
    }
    t.set_mtime_ns(step + 2);
    t
}

/// Everything observable about one object.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectDump {
    pub stat: ObjectStat,
    pub data: Bytes,
    pub attrs: BTreeMap<String, Bytes>,
    pub header: Bytes,
    pub omap: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Everything observable about a store: collections with their bits, and every object.
pub fn dump(store: &dyn ObjectStore) -> (Vec<(CollectionId, u32)>, BTreeMap<ObjectId, ObjectDump>) {
    let mut colls = Vec::new();
    let mut objects = BTreeMap::new();
    for cid in store.list_collections().unwrap() {
        colls.push((cid, store.collection_bits(cid).unwrap()));
        let mut cursor = ListCursor::Start;
        loop {
            let page = store.list_objects(cid, &cursor, 5).unwrap();
            for o in page.objects {
                let d = ObjectDump {
                    stat: store.stat(cid, &o).unwrap(),
                    data: store.read(cid, &o, 0, u64::MAX).unwrap(),
                    attrs: store.getattrs(cid, &o).unwrap(),
                    header: store.omap_get_header(cid, &o).unwrap(),
                    omap: omap_get_all(store, cid, &o).unwrap(),
                };
                objects.insert(o, d);
            }
            match page.next {
                Some(c) => cursor = c,
                None => break,
            }
        }
    }
    (colls, objects)
}

/// A short description of how two dumps differ (for failure messages).
pub fn diff(
    a: &(Vec<(CollectionId, u32)>, BTreeMap<ObjectId, ObjectDump>),
    b: &(Vec<(CollectionId, u32)>, BTreeMap<ObjectId, ObjectDump>),
) -> String {
    if a.0 != b.0 {
        return format!("collections {:?} vs {:?}", a.0, b.0);
    }
    for (o, da) in &a.1 {
        match b.1.get(o) {
            None => return format!("{o} only in the first"),
            Some(db) if da != db => {
                return format!(
                    "{o}: stat {:?} vs {:?}, data len {} vs {}, data equal {}, attrs equal {}, omap {:?} vs {:?}, header {:?} vs {:?}",
                    da.stat, db.stat, da.data.len(), db.data.len(), da.data == db.data,
                    da.attrs == db.attrs, da.omap, db.omap, da.header, db.header
                )
            }
            _ => {}
        }
    }
    for o in b.1.keys() {
        if !a.1.contains_key(o) {
            return format!("{o} only in the second");
        }
    }
    "no difference".into()
}

//! Model-based test of snapshots through the client API on an embedded cluster: random
//! writes, truncates, removes, xattr and omap changes, snapshot creates and removes (pool or
//! self-managed), rollbacks and reads at random snaps, each checked against an in-memory model
//! that keeps a full copy of every object at every live snapshot. Trimming of removed snaps
//! runs in the background while the case goes on.

mod common;

use common::cluster::shared;
use librados::{errno, Error, IoCtx};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

const OBJECTS: [&str; 3] = ["m0", "m1", "m2"];
const XATTRS: [&str; 2] = ["a", "b"];
const KEYS: [&[u8]; 3] = [b"k1", b"k2", b"k3"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Obj {
    data: Vec<u8>,
    xattrs: BTreeMap<String, Vec<u8>>,
    omap: BTreeMap<Vec<u8>, Vec<u8>>,
}

type State = BTreeMap<&'static str, Obj>;

#[derive(Clone, Debug)]
enum Step {
    Write {
        obj: usize,
        offset: u64,
        len: usize,
        byte: u8,
    },
    WriteFull {
        obj: usize,
        len: usize,
        byte: u8,
    },
    Truncate {
        obj: usize,
        size: u64,
    },
    Remove {
        obj: usize,
    },
    SetXattr {
        obj: usize,
        name: usize,
        byte: u8,
    },
    RmXattr {
        obj: usize,
        name: usize,
    },
    OmapSet {
        obj: usize,
        key: usize,
        byte: u8,
    },
    OmapRm {
        obj: usize,
        key: usize,
    },
    SnapCreate,
    /// Removes the live snap at this index (modulo their number).
    SnapRemove {
        idx: usize,
    },
    /// Reads at the live snap at this index; an index past them reads the head.
    ReadAt {
        obj: usize,
        idx: usize,
    },
    Rollback {
        obj: usize,
        idx: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let obj = 0..OBJECTS.len();
    prop_oneof![
        4 => (obj.clone(), 0u64..12_000, 1usize..5000, any::<u8>())
            .prop_map(|(obj, offset, len, byte)| Step::Write { obj, offset, len, byte }),
        2 => (obj.clone(), 0usize..9000, any::<u8>())
            .prop_map(|(obj, len, byte)| Step::WriteFull { obj, len, byte }),
        1 => (obj.clone(), 0u64..10_000).prop_map(|(obj, size)| Step::Truncate { obj, size }),
        1 => obj.clone().prop_map(|obj| Step::Remove { obj }),
        1 => (obj.clone(), 0..XATTRS.len(), any::<u8>())
            .prop_map(|(obj, name, byte)| Step::SetXattr { obj, name, byte }),
        1 => (obj.clone(), 0..XATTRS.len()).prop_map(|(obj, name)| Step::RmXattr { obj, name }),
        1 => (obj.clone(), 0..KEYS.len(), any::<u8>())
            .prop_map(|(obj, key, byte)| Step::OmapSet { obj, key, byte }),
        1 => (obj.clone(), 0..KEYS.len()).prop_map(|(obj, key)| Step::OmapRm { obj, key }),
        2 => Just(Step::SnapCreate),
        1 => (0usize..8).prop_map(|idx| Step::SnapRemove { idx }),
        3 => (obj.clone(), 0usize..8).prop_map(|(obj, idx)| Step::ReadAt { obj, idx }),
        1 => (obj, 0usize..8).prop_map(|(obj, idx)| Step::Rollback { obj, idx }),
    ]
}

struct Case {
    io: IoCtx,
    self_managed: bool,
    head: State,
    /// Live snaps, oldest first: id, name and the state they saw.
    snaps: Vec<(u64, String, State)>,
    next_name: usize,
}

fn errno_of<T>(r: Result<T, Error>) -> Result<T, i32> {
    r.map_err(|e| e.errno())
}

impl Case {
    fn set_context(&mut self) {
        if self.self_managed {
            let ids: Vec<u64> = self.snaps.iter().rev().map(|s| s.0).collect();
            let seq = self
                .io
                .write_snap_context()
                .seq
                .max(ids.first().copied().unwrap_or(0));
            self.io.set_write_snap_context(seq, &ids).unwrap();
        }
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Write {
                obj,
                offset,
                len,
                byte,
            } => {
                let name = OBJECTS[*obj];
                self.io.write(name, vec![*byte; *len], *offset).unwrap();
                let o = self.head.entry(name).or_default();
                let end = *offset as usize + len;
                if o.data.len() < end {
                    o.data.resize(end, 0);
                }
                o.data[*offset as usize..end].fill(*byte);
            }
            Step::WriteFull { obj, len, byte } => {
                let name = OBJECTS[*obj];
                self.io.write_full(name, vec![*byte; *len]).unwrap();
                self.head.entry(name).or_default().data = vec![*byte; *len];
            }
            Step::Truncate { obj, size } => {
                let name = OBJECTS[*obj];
                self.io.truncate(name, *size).unwrap();
                if let Some(o) = self.head.get_mut(name) {
                    o.data.resize(*size as usize, 0);
                }
            }
            Step::Remove { obj } => {
                let name = OBJECTS[*obj];
                let want = if self.head.remove(name).is_some() {
                    Ok(())
                } else {
                    Err(errno::ENOENT)
                };
                prop_assert_eq!(errno_of(self.io.remove(name)), want);
            }
            Step::SetXattr { obj, name, byte } => {
                let o = OBJECTS[*obj];
                self.io.set_xattr(o, XATTRS[*name], vec![*byte; 3]).unwrap();
                self.head
                    .entry(o)
                    .or_default()
                    .xattrs
                    .insert(XATTRS[*name].to_string(), vec![*byte; 3]);
            }
            Step::RmXattr { obj, name } => {
                let o = OBJECTS[*obj];
                let want = match self.head.get_mut(o) {
                    Some(m) => {
                        m.xattrs.remove(XATTRS[*name]);
                        Ok(())
                    }
                    None => Err(errno::ENOENT),
                };
                prop_assert_eq!(errno_of(self.io.rm_xattr(o, XATTRS[*name])), want);
            }
            Step::OmapSet { obj, key, byte } => {
                let o = OBJECTS[*obj];
                self.io.omap_set(o, [(KEYS[*key], vec![*byte; 2])]).unwrap();
                self.head
                    .entry(o)
                    .or_default()
                    .omap
                    .insert(KEYS[*key].to_vec(), vec![*byte; 2]);
            }
            Step::OmapRm { obj, key } => {
                let o = OBJECTS[*obj];
                let want = match self.head.get_mut(o) {
                    Some(m) => {
                        m.omap.remove(KEYS[*key]);
                        Ok(())
                    }
                    None => Err(errno::ENOENT),
                };
                prop_assert_eq!(errno_of(self.io.omap_rm_keys(o, [KEYS[*key]])), want);
            }
            Step::SnapCreate => {
                let name = format!("s{}", self.next_name);
                self.next_name += 1;
                let id = if self.self_managed {
                    self.io.selfmanaged_snap_create().unwrap()
                } else {
                    self.io.snap_create(&name).unwrap()
                };
                prop_assert!(self.snaps.last().is_none_or(|s| s.0 < id));
                self.snaps.push((id, name, self.head.clone()));
                self.set_context();
            }
            Step::SnapRemove { idx } => {
                if self.snaps.is_empty() {
                    return Ok(());
                }
                let (id, name, _) = self.snaps.remove(idx % self.snaps.len());
                if self.self_managed {
                    self.io.selfmanaged_snap_remove(id).unwrap();
                } else {
                    self.io.snap_remove(&name).unwrap();
                }
                self.set_context();
            }
            Step::ReadAt { obj, idx } => self.check(OBJECTS[*obj], *idx)?,
            Step::Rollback { obj, idx } => {
                if self.snaps.is_empty() {
                    return Ok(());
                }
                let name = OBJECTS[*obj];
                let (id, _, state) = &self.snaps[idx % self.snaps.len()];
                self.io.rollback(name, *id).unwrap();
                match state.get(name) {
                    Some(o) => self.head.insert(name, o.clone()),
                    None => self.head.remove(name),
                };
            }
        }
        Ok(())
    }

    /// Compares one object at the live snap `idx` (or the head) with the model.
    fn check(&self, name: &'static str, idx: usize) -> Result<(), TestCaseError> {
        let (io, want, at) = match self.snaps.get(idx) {
            Some((id, _, state)) => (self.io.at_snap(*id), state.get(name), format!("snap {id}")),
            None => (self.io.clone(), self.head.get(name), "head".to_string()),
        };
        match want {
            None => {
                prop_assert_eq!(
                    errno_of(io.read_full(name)),
                    Err(errno::ENOENT),
                    "{} at {}",
                    name,
                    at
                );
                prop_assert_eq!(errno_of(io.stat(name).map(|_| ())), Err(errno::ENOENT));
            }
            Some(o) => {
                let data = io.read_full(name).unwrap();
                prop_assert!(
                    data == o.data,
                    "{} at {}: data differs ({} vs {} bytes)",
                    name,
                    at,
                    data.len(),
                    o.data.len()
                );
                prop_assert_eq!(io.stat(name).unwrap().size, o.data.len() as u64);
                let xattrs: BTreeMap<String, Vec<u8>> = io
                    .get_xattrs(name)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k, v.to_vec()))
                    .collect();
                prop_assert_eq!(&xattrs, &o.xattrs, "{} at {}: xattrs", name, at);
                let (omap, _) = io.omap_get_vals(name, b"", b"", 100).unwrap();
                let omap: BTreeMap<Vec<u8>, Vec<u8>> = omap
                    .into_iter()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .collect();
                prop_assert_eq!(&omap, &o.omap, "{} at {}: omap", name, at);
            }
        }
        Ok(())
    }

    /// Everything, at every live snap and the head, including listings.
    fn check_all(&self) -> Result<(), TestCaseError> {
        for idx in 0..=self.snaps.len() {
            for name in OBJECTS {
                self.check(name, idx)?;
            }
            let (io, state) = match self.snaps.get(idx) {
                Some((id, _, state)) => (self.io.at_snap(*id), state),
                None => (self.io.clone(), &self.head),
            };
            let mut listed: Vec<String> = io.list_objects().map(|e| e.unwrap().name).collect();
            listed.sort();
            let want: Vec<String> = state.keys().map(|k| k.to_string()).collect();
            prop_assert_eq!(listed, want, "listing at index {}", idx);
        }
        Ok(())
    }
}

static CASES: AtomicUsize = AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn snapshots_match_the_model(self_managed in any::<bool>(), steps in proptest::collection::vec(step(), 1..45)) {
        let r = shared();
        let pool = format!("model{}", CASES.fetch_add(1, Ordering::Relaxed));
        r.create_pool_with(&pool, Some(4), None).unwrap();
        let mut case = Case {
            io: r.ioctx(&pool).unwrap(),
            self_managed,
            head: State::new(),
            snaps: Vec::new(),
            next_name: 0,
        };
        for s in &steps {
            case.run(s)?;
        }
        case.check_all()?;
        r.delete_pool(&pool).unwrap();
    }
}

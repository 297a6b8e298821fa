//! `execute` against an in-memory store: the compare-extent, omap-compare and write-same
//! steps inside whole requests (atomicity, snapshots, whiteouts, sizes for usage), and steps
//! allowed to fail.

use super::*;
use crate::store::MemStore;

struct Obj {
    store: MemStore,
    cid: CollectionId,
    oid: ObjectId,
    version: u64,
}

impl Obj {
    fn new() -> Obj {
        let store = MemStore::new();
        let cid = CollectionId::new(1, 0);
        let mut t = Transaction::new();
        t.create_collection(cid, 0);
        store.apply_transaction(t).unwrap();
        Obj {
            store,
            cid,
            oid: ObjectId::new(1, "obj", 7),
            version: 0,
        }
    }

    /// Runs `steps` under `snapc`, applying the transaction when the request succeeded.
    fn run_snapc(&mut self, steps: Vec<OpStep>, snapc: &SnapContext) -> Executed {
        self.run_env(steps, snapc, &ExecEnv::default())
    }

    /// Runs `steps`, those at `failok` allowed to fail.
    fn run_failok(&mut self, steps: Vec<OpStep>, failok: &[u32]) -> Executed {
        let env = ExecEnv {
            failok: failok.to_vec(),
            ..ExecEnv::default()
        };
        self.run_env(steps, &SnapContext::default(), &env)
    }

    fn run_env(&mut self, steps: Vec<OpStep>, snapc: &SnapContext, env: &ExecEnv) -> Executed {
        self.version += 1;
        let ex = execute(
            &self.store,
            self.cid,
            &self.oid,
            &steps,
            self.version,
            env,
            snapc,
        );
        if ex.failed.is_none() && ex.modified {
            self.store.apply_transaction(ex.txn.clone()).unwrap();
        }
        ex
    }

    fn run(&mut self, steps: Vec<OpStep>) -> Executed {
        self.run_snapc(steps, &SnapContext::default())
    }

    /// The errno the request failed with (0: it succeeded).
    fn errno(&mut self, steps: Vec<OpStep>) -> i32 {
        self.run(steps).failed.map_or(0, |(_, e)| e)
    }

    fn data(&self, oid: &ObjectId) -> Vec<u8> {
        self.store
            .read(self.cid, oid, 0, u64::MAX)
            .unwrap()
            .to_vec()
    }
}

fn write(offset: u64, data: &'static [u8]) -> OpStep {
    OpStep::Write {
        offset,
        data: Bytes::from_static(data),
    }
}

fn cmpext(offset: u64, data: &'static [u8]) -> OpStep {
    OpStep::CmpExt {
        offset,
        data: Bytes::from_static(data),
    }
}

fn writesame(offset: u64, len: u64, data: &'static [u8]) -> OpStep {
    OpStep::WriteSame {
        offset,
        len,
        data: Bytes::from_static(data),
    }
}

fn omap_cmp(key: &'static [u8], op: CmpOp, value: &'static [u8]) -> OpStep {
    OpStep::OmapCmp {
        assertions: vec![(Bytes::from_static(key), op, Bytes::from_static(value))],
    }
}

fn set_xattr() -> OpStep {
    OpStep::SetXattr {
        name: "touched".into(),
        value: Bytes::from_static(b"1"),
    }
}

#[test]
fn cmpext_matches_reports_the_first_difference_and_reads_zeros_past_the_end() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"hello")]);
    assert_eq!(o.errno(vec![cmpext(0, b"hello")]), 0);
    assert_eq!(o.errno(vec![cmpext(1, b"ell")]), 0);
    assert_eq!(o.errno(vec![cmpext(0, b"heLlo")]), errno::MAX_ERRNO + 2);
    assert_eq!(o.errno(vec![cmpext(0, b"X")]), errno::MAX_ERRNO);
    assert_eq!(o.errno(vec![cmpext(0, b"hello\0\0")]), 0);
    assert_eq!(o.errno(vec![cmpext(0, b"hello\0x")]), errno::MAX_ERRNO + 6);
    assert_eq!(o.errno(vec![cmpext(100, b"\0\0")]), 0);
    assert_eq!(o.errno(vec![cmpext(u64::MAX, b"\0")]), 0);
    assert_eq!(o.errno(vec![cmpext(0, b"")]), 0);
    // The failing step's result carries the same value, as Ceph's per-op rval.
    let ex = o.run(vec![cmpext(0, b"hex")]);
    assert_eq!(ex.failed, Some((0, errno::MAX_ERRNO + 2)));
    assert_eq!(ex.results[0].rval, -(errno::MAX_ERRNO + 2));
}

#[test]
fn cmpext_on_a_missing_object_is_enoent_in_a_read_and_zeros_in_a_write() {
    let mut o = Obj::new();
    assert_eq!(o.errno(vec![cmpext(0, b"\0\0")]), errno::ENOENT);
    assert_eq!(
        o.errno(vec![cmpext(0, b"ab"), write(0, b"x")]),
        errno::MAX_ERRNO
    );
    assert!(!o.store.exists(o.cid, &o.oid).unwrap());
    assert_eq!(o.errno(vec![cmpext(0, b"\0\0"), write(0, b"x")]), 0);
    assert_eq!(o.data(&o.oid), b"x");
}

#[test]
fn cmpext_sees_the_object_as_it_was_before_the_request() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"hello")]);
    // The request's own write is not visible to the comparison.
    assert_eq!(
        o.errno(vec![write(0, b"HE"), cmpext(0, b"HE")]),
        errno::MAX_ERRNO
    );
    // But its size is: a truncate earlier in the request cuts what is compared.
    assert_eq!(
        o.errno(vec![OpStep::Truncate { size: 2 }, cmpext(0, b"he\0\0\0")]),
        0
    );
}

#[test]
fn a_failed_cmpext_makes_the_whole_request_a_no_op() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"hello")]);
    let ex = o.run(vec![
        write(0, b"ZZ"),
        cmpext(0, b"hexlo"),
        writesame(0, 8, b"ab"),
        set_xattr(),
    ]);
    assert_eq!(ex.failed, Some((1, errno::MAX_ERRNO + 2)));
    assert_eq!(ex.results.len(), 2);
    assert_eq!(o.data(&o.oid), b"hello");
    assert!(o
        .store
        .getattr(o.cid, &o.oid, &user_attr("touched"))
        .is_err());
    // A passing guard lets the rest through.
    assert_eq!(o.errno(vec![cmpext(0, b"hello"), write(0, b"J")]), 0);
    assert_eq!(o.data(&o.oid), b"Jello");
}

#[test]
fn omap_cmp_guards_each_operator_and_treats_missing_keys_as_empty() {
    let mut o = Obj::new();
    assert_eq!(
        o.errno(vec![omap_cmp(b"k", CmpOp::Eq, b""), set_xattr()]),
        errno::ENOENT
    );
    o.run(vec![OpStep::OmapSetVals {
        entries: vec![(Bytes::from_static(b"k"), Bytes::from_static(b"b"))],
    }]);
    let cases: &[(CmpOp, &'static [u8], i32)] = &[
        (CmpOp::Eq, b"b", 0),
        (CmpOp::Eq, b"a", errno::ECANCELED),
        (CmpOp::Gt, b"a", 0),
        (CmpOp::Gt, b"b", errno::ECANCELED),
        (CmpOp::Lt, b"c", 0),
        (CmpOp::Lt, b"a", errno::ECANCELED),
        (CmpOp::Ne, b"a", errno::EINVAL),
        (CmpOp::Gte, b"b", errno::EINVAL),
        (CmpOp::Lte, b"b", errno::EINVAL),
    ];
    for &(op, value, want) in cases {
        assert_eq!(
            o.errno(vec![omap_cmp(b"k", op, value), set_xattr()]),
            want,
            "{op:?} {value:?}"
        );
    }
    assert_eq!(
        o.errno(vec![omap_cmp(b"nokey", CmpOp::Eq, b"a")]),
        errno::ECANCELED
    );
    assert_eq!(o.errno(vec![omap_cmp(b"nokey", CmpOp::Eq, b"")]), 0);
    // Several assertions in one step: all must hold.
    let both = |v: &'static [u8]| OpStep::OmapCmp {
        assertions: vec![
            (
                Bytes::from_static(b"k"),
                CmpOp::Eq,
                Bytes::from_static(b"b"),
            ),
            (Bytes::from_static(b"k"), CmpOp::Lt, Bytes::from_static(v)),
        ],
    };
    assert_eq!(o.errno(vec![both(b"c")]), 0);
    assert_eq!(o.errno(vec![both(b"b")]), errno::ECANCELED);
    assert!(o
        .store
        .getattr(o.cid, &o.oid, &user_attr("touched"))
        .is_ok());
}

#[test]
fn writesame_fills_and_counts_like_a_write() {
    let mut o = Obj::new();
    let ex = o.run(vec![writesame(1, 6, b"ab")]);
    assert_eq!(ex.failed, None);
    assert!(ex.modified && !ex.existed && ex.exists);
    assert_eq!(ex.size_after, 7);
    assert_eq!(o.data(&o.oid), b"\0ababab");
    let ex = o.run(vec![writesame(4, 6, b"xyz")]);
    assert_eq!((ex.size_before, ex.size_after), (7, 10));
    assert_eq!(o.data(&o.oid), b"\0abaxyzxyz");
}

#[test]
fn writesame_refuses_bad_lengths_and_writes_nothing_for_zero() {
    let mut o = Obj::new();
    assert_eq!(o.errno(vec![writesame(0, 5, b"ab")]), errno::EINVAL);
    assert_eq!(o.errno(vec![writesame(0, 4, b"")]), errno::EINVAL);
    assert_eq!(o.errno(vec![writesame(0, 0, b"")]), errno::EINVAL);
    assert_eq!(
        o.errno(vec![writesame(MAX_OBJECT_SIZE, 2, b"ab")]),
        errno::EFBIG
    );
    assert_eq!(o.errno(vec![writesame(u64::MAX, 2, b"ab")]), errno::EFBIG);
    let ex = o.run(vec![writesame(0, 0, b"ab")]);
    assert_eq!(ex.failed, None);
    assert!(!ex.modified);
    assert!(!o.store.exists(o.cid, &o.oid).unwrap());
}

#[test]
fn writesame_after_a_snapshot_preserves_the_old_data_in_a_clone() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"original")]);
    let snapc = SnapContext {
        seq: 4,
        snaps: vec![4],
    };
    let ex = o.run_snapc(vec![writesame(0, 4, b"N")], &snapc);
    assert_eq!(ex.failed, None);
    assert_eq!((ex.clones_before, ex.clones_after), (0, 1));
    assert_eq!(ex.clone_bytes_after, 8 - 4);
    assert_eq!(o.data(&o.oid), b"NNNNinal");
    assert_eq!(o.data(&o.oid.clone().with_snap(4)), b"original");
    // A cmpext at the snap compares the clone.
    let clone = o.oid.clone().with_snap(4);
    let ex = execute(
        &o.store,
        o.cid,
        &clone,
        &[cmpext(0, b"orig")],
        99,
        &ExecEnv::default(),
        &SnapContext::default(),
    );
    assert_eq!(ex.failed, None);
}

#[test]
fn guards_see_a_whiteout_as_no_object() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"data")]);
    let snapc = SnapContext {
        seq: 2,
        snaps: vec![2],
    };
    o.run_snapc(vec![OpStep::Remove], &snapc);
    assert!(o.store.exists(o.cid, &o.oid).unwrap(), "kept as a whiteout");
    assert_eq!(o.errno(vec![cmpext(0, b"data")]), errno::ENOENT);
    assert_eq!(
        o.errno(vec![omap_cmp(b"k", CmpOp::Eq, b""), set_xattr()]),
        errno::ENOENT
    );
    assert_eq!(
        o.errno(vec![cmpext(0, b"data"), write(0, b"x")]),
        errno::MAX_ERRNO
    );
    let ex = o.run_snapc(vec![cmpext(0, b"\0"), writesame(0, 2, b"y")], &snapc);
    assert_eq!(ex.failed, None);
    assert!(!ex.existed && ex.exists);
    assert_eq!(o.data(&o.oid), b"yy");
}

#[test]
fn a_step_allowed_to_fail_reports_its_errno_and_the_rest_applies() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"old")]);
    let ex = o.run_failok(
        vec![
            OpStep::Create { exclusive: true },
            cmpext(0, b"zzz"),
            OpStep::WriteFull {
                data: Bytes::from_static(b"new"),
            },
        ],
        &[0, 1],
    );
    assert_eq!(ex.failed, None);
    let outs: Vec<_> = ex.results.iter().map(|r| (r.rval, r.out.clone())).collect();
    let mismatch = errno::MAX_ERRNO; // byte 0 differs
    assert_eq!(
        outs,
        vec![
            (
                -errno::EEXIST,
                StepOutput::Failed {
                    errno: errno::EEXIST
                }
            ),
            (-mismatch, StepOutput::Failed { errno: mismatch }),
            (0, StepOutput::None),
        ]
    );
    assert_eq!(o.data(&o.oid.clone()), b"new");
    // Unmarked, the same failure fails the request and nothing applies.
    let ex = o.run_failok(
        vec![
            OpStep::Create { exclusive: true },
            OpStep::WriteFull {
                data: Bytes::from_static(b"newer"),
            },
        ],
        &[1],
    );
    assert_eq!(ex.failed, Some((0, errno::EEXIST)));
    assert_eq!(o.data(&o.oid.clone()), b"new");
}

#[test]
fn removing_a_missing_object_may_fail_without_creating_it() {
    let mut o = Obj::new();
    let ex = o.run_failok(vec![OpStep::Remove], &[0]);
    assert_eq!(ex.failed, None);
    assert_eq!(ex.results[0].rval, -errno::ENOENT);
    assert!(!ex.modified && !ex.exists);
}

#[test]
fn reads_may_fail_but_not_on_a_missing_object() {
    let mut o = Obj::new();
    let get = |name: &str| OpStep::GetXattr { name: name.into() };
    assert_eq!(
        o.run_failok(vec![get("a"), OpStep::Stat], &[0]).failed,
        Some((0, errno::ENOENT)),
        "a read of a missing object fails whatever its flags, as in Ceph"
    );
    o.run(vec![write(0, b"data")]);
    let ex = o.run_failok(vec![get("a"), OpStep::Stat], &[0]);
    assert_eq!(ex.failed, None);
    assert_eq!(
        ex.results[0].out,
        StepOutput::Failed {
            errno: errno::ENODATA
        }
    );
    assert!(matches!(
        ex.results[1].out,
        StepOutput::Stat { size: 4, .. }
    ));
}

#[test]
fn a_read_step_allowed_to_fail_may_find_nothing_on_an_existing_object() {
    let mut o = Obj::new();
    o.run(vec![write(0, b"data")]);
    let req = crate::class::lock::UnlockRequest {
        name: "no-such-lock".into(),
        cookie: String::new(),
        locker: String::new(),
    };
    let get_info = OpStep::Exec {
        class: "lock".into(),
        method: "get_info".into(),
        input: Bytes::from(rmp_serde::to_vec_named(&req).unwrap()),
    };
    let ex = o.run_failok(vec![get_info.clone(), OpStep::Stat], &[0]);
    assert_eq!(ex.failed, None);
    assert_eq!(
        ex.results[0].out,
        StepOutput::Failed {
            errno: errno::ENOENT
        }
    );
    assert!(matches!(
        ex.results[1].out,
        StepOutput::Stat { size: 4, .. }
    ));
    // Unmarked, it fails the request.
    assert_eq!(
        o.run(vec![get_info, OpStep::Stat]).failed,
        Some((0, errno::ENOENT))
    );
}

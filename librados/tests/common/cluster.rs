//! Helpers for tests that run an embedded cluster: a shared cluster per test binary, and a
//! direct dump of each OSD's store (taken with the cluster closed) to compare replicas.

use librados::store::{CollectionId, DiskStore, ListCursor, ObjectStore};
use librados::Rados;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// One cluster per test binary; each call returns a new client of it.
pub fn shared() -> Rados {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static FIRST: OnceLock<Rados> = OnceLock::new();
    init_tracing();
    let dir = DIR.get_or_init(|| tempfile::tempdir().unwrap());
    let first = FIRST.get_or_init(|| Rados::embedded(dir.path()).unwrap());
    // A distinct client of the same running cluster.
    let r = Rados::embedded(dir.path()).unwrap();
    assert_ne!(r.instance_id(), first.instance_id());
    r
}

/// Watch options with `timeout` whose error callback sends `(cookie, errno)` to the receiver.
pub fn watch_reporting_errors(
    timeout: std::time::Duration,
) -> (
    librados::client::WatchOptions,
    std::sync::mpsc::Receiver<(u64, i32)>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let options = librados::client::WatchOptions {
        timeout: Some(timeout),
        on_error: Some(std::sync::Arc::new(move |cookie, e: &librados::Error| {
            let _ = tx.lock().unwrap().send((cookie, e.errno()));
        })),
    };
    (options, rx)
}

/// What one replica holds of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    pub size: u64,
    pub mtime_ns: u64,
    pub data: Vec<u8>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    pub omap: Vec<(Vec<u8>, Vec<u8>)>,
    pub header: Vec<u8>,
}

/// A stored object's key in a dump: PG, namespace, name and snap (clones share the name).
pub type DumpKey = (CollectionId, String, String, u64);

/// Every client object of one OSD's store (snapshot clones included).
pub fn dump_osd(dir: &Path) -> BTreeMap<DumpKey, Copy> {
    let store = DiskStore::open(dir).unwrap();
    let mut out = BTreeMap::new();
    for cid in store.list_collections().unwrap() {
        let mut cursor = ListCursor::Start;
        loop {
            let page = store.list_objects(cid, &cursor, 1000).unwrap();
            for oid in page.objects.iter().filter(|o| !o.name.is_empty()) {
                let st = store.stat(cid, oid).unwrap();
                let data = store.read(cid, oid, 0, st.size.max(1)).unwrap().to_vec();
                let xattrs = store
                    .getattrs(cid, oid)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k, v.to_vec()))
                    .collect();
                let omap = librados::store::omap_get_all(&store, cid, oid).unwrap();
                let header = store.omap_get_header(cid, oid).unwrap().to_vec();
                out.insert(
                    (cid, oid.namespace.clone(), oid.name.clone(), oid.snap),
                    Copy {
                        size: st.size,
                        mtime_ns: st.mtime_ns,
                        data,
                        xattrs,
                        omap,
                        header,
                    },
                );
            }
            match page.next {
                Some(c) => cursor = c,
                None => break,
            }
        }
    }
    out
}

/// Asserts every OSD of a 3-OSD, size-3 cluster holds identical copies; returns one dump.
pub fn assert_replicas_identical(dir: &Path, osds: u32) -> BTreeMap<DumpKey, Copy> {
    let dumps: Vec<_> = (0..osds)
        .map(|i| dump_osd(&dir.join(format!("osd.{i}"))))
        .collect();
    for (i, d) in dumps.iter().enumerate().skip(1) {
        let keys0: Vec<_> = dumps[0].keys().collect();
        let keys: Vec<_> = d.keys().collect();
        assert_eq!(keys0, keys, "osd.0 and osd.{i} hold different objects");
        for (k, v) in d {
            let a = &dumps[0][k];
            if a != v {
                let sum = |c: &Copy| {
                    (
                        c.size,
                        c.mtime_ns,
                        crc32c::crc32c(&c.data),
                        c.xattrs.clone(),
                        c.omap.len(),
                        c.header.len(),
                    )
                };
                panic!(
                    "osd.0 and osd.{i} differ on {k:?}:\n  {:?}\n  {:?}",
                    sum(a),
                    sum(v)
                );
            }
        }
    }
    dumps.into_iter().next().unwrap_or_default()
}

/// Starts this test binary again as a child that runs only its `child_process` test, with
/// `RADOS_TEST_CHILD=mode`, `RADOS_TEST_DIR=dir` and `env`; its standard output is piped (the
/// child prints what it acknowledged, the parent reads it and may kill it).
pub fn spawn_child(mode: &str, dir: &Path, env: &[(&str, String)]) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RADOS_TEST_CHILD", mode)
        .env("RADOS_TEST_DIR", dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

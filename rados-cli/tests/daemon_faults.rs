//! OSD processes killed, restarted and frozen under a writer: every acknowledged write reads
//! back with its last acknowledged content, from the client and from the store of every OSD
//! in the object's acting set, and the cluster returns to active+clean.
//!
//! `DAEMON_FAULTS=N` sets the number of faults (default 10); `DAEMON_FAULTS_SEED=S` the seed.

mod common;

use common::daemons::{Daemons, FAST};
use librados::store::{CollectionId, DiskStore, ObjectId, ObjectStore};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OBJECTS: usize = 24;
const POOL: &str = "faults";

/// What the writer was told succeeded, per object: data and omap.
#[derive(Clone, Debug, Default, PartialEq)]
struct Expected {
    data: Vec<u8>,
    omap: BTreeMap<String, Vec<u8>>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes, overwrites, appends and omap updates with checkable contents until `stop`.
fn writer(
    io: librados::IoCtx,
    seed: u64,
    model: Arc<Mutex<HashMap<String, Expected>>>,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> Result<(), String> {
    let mut rng = Rng(seed | 1);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let obj = format!("obj{}", rng.below(OBJECTS as u64));
        let stamp = format!("[{n}:{obj}]");
        let mut exp = model.lock().unwrap().get(&obj).cloned().unwrap_or_default();
        let r = match rng.below(4) {
            0 => {
                let body = stamp.repeat(1 + rng.below(2000) as usize);
                exp.data = body.clone().into_bytes();
                io.write_full(&obj, body.into_bytes())
            }
            1 => {
                exp.data.extend_from_slice(stamp.as_bytes());
                io.append(&obj, stamp.clone().into_bytes())
            }
            2 => {
                let off = rng.below(exp.data.len() as u64 + 1);
                let end = off as usize + stamp.len();
                if exp.data.len() < end {
                    exp.data.resize(end, 0);
                }
                exp.data[off as usize..end].copy_from_slice(stamp.as_bytes());
                io.write(&obj, stamp.clone().into_bytes(), off)
            }
            _ => {
                let key = format!("k{}", rng.below(8));
                exp.omap.insert(key.clone(), stamp.clone().into_bytes());
                let mut op = librados::WriteOp::new();
                op.omap_set([(key.clone().into_bytes(), stamp.clone().into_bytes())]);
                if exp.data.is_empty() {
                    // omap on an object that may not exist yet creates it, empty.
                    op.create(false);
                }
                io.operate(&obj, &op).map(drop)
            }
        };
        match r {
            Ok(_) => {
                model.lock().unwrap().insert(obj, exp);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(format!("write {n} to {obj} failed: {e}")),
        }
    }
    Ok(())
}

#[test]
fn acknowledged_writes_survive_killed_restarted_and_frozen_osds() {
    let faults = env_u64("DAEMON_FAULTS", 10);
    let seed = env_u64("DAEMON_FAULTS_SEED", 0x5eed_0001);
    eprintln!("faults {faults}, seed {seed:#x} (DAEMON_FAULTS, DAEMON_FAULTS_SEED)");
    let mut settings = FAST.to_vec();
    let level = std::env::var("DAEMON_FAULTS_LOG").unwrap_or_else(|_| "info".into());
    let level = format!("log_level={level}");
    settings.push(&level);
    let d = Daemons::create(4, &settings);
    let r = d.client();
    r.create_pool_with(POOL, Some(16), Some(3)).unwrap();
    r.pool_set(POOL, "min_size", "2").unwrap();
    let clean = |s: &librados::client::ClusterStatus| {
        s.num_up_osds == s.num_osds && s.pgs_by_state.keys().all(|k| k == "active+clean")
    };
    d.wait_for(&r, "a clean cluster", Duration::from_secs(60), clean);
    let model = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let w = {
        let (io, model, stop, acked) = (
            r.ioctx(POOL).unwrap(),
            model.clone(),
            stop.clone(),
            acked.clone(),
        );
        std::thread::spawn(move || writer(io, seed, model, stop, acked))
    };
    let mut rng = Rng(seed.wrapping_mul(31) | 1);
    let grace = Duration::from_millis(1500);
    for i in 0..faults {
        let osd = format!("osd.{}", rng.below(4));
        let before = acked.load(Ordering::Relaxed);
        if i % 2 == 0 {
            eprintln!("fault {i}: kill -9 {osd}, then restart it");
            d.signal(&osd, libc::SIGKILL);
            std::thread::sleep(Duration::from_millis(rng.below(2500)));
            d.start(&osd);
        } else {
            eprintln!("fault {i}: SIGSTOP {osd} past the grace, then SIGCONT");
            d.signal(&osd, libc::SIGSTOP);
            std::thread::sleep(grace * 2);
            d.signal(&osd, libc::SIGCONT);
        }
        d.wait_for(&r, "every OSD up", Duration::from_secs(60), |s| {
            s.num_up_osds == s.num_osds
        });
        // Writes go on between faults.
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::Relaxed) < before + 20 {
            assert!(
                Instant::now() < deadline && !w.is_finished(),
                "writes stalled after fault {i}\n{}",
                d.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Err(e) = w.join().unwrap() {
        panic!("{e}\n{}", d.logs());
    }
    eprintln!("{} writes acknowledged", acked.load(Ordering::Relaxed));
    d.wait_for(&r, "active+clean", Duration::from_secs(120), clean);
    let model = model.lock().unwrap().clone();
    let io = r.ioctx(POOL).unwrap();
    for (obj, exp) in &model {
        let data = io.read_full(obj).unwrap();
        if data[..] != exp.data[..] {
            let kept = d.keep_logs();
            panic!(
                "{obj} as the client reads it: {} bytes ending {:?}, expected {} bytes ending {:?} (logs kept in {kept})",
                data.len(),
                String::from_utf8_lossy(&data[data.len().saturating_sub(40)..]),
                exp.data.len(),
                String::from_utf8_lossy(&exp.data[exp.data.len().saturating_sub(40)..]),
            );
        }
        let omap: BTreeMap<String, Vec<u8>> = io
            .omap_get_vals(obj, b"", b"", 100)
            .unwrap()
            .0
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k.to_vec()).unwrap(), v.to_vec()))
            .collect();
        assert_eq!(omap, exp.omap, "{obj}'s omap as the client reads it");
    }
    // Every replica: the stores of each object's acting set, once the daemons have stopped.
    let map = r.osdmap();
    let pool = map.pool_by_name(POOL).unwrap().clone();
    drop(io);
    drop(r);
    d.stop_all();
    let mut stores: HashMap<i32, DiskStore> = HashMap::new();
    for osd in 0..4 {
        let s = DiskStore::open(d.path().join(format!("osd.{osd}"))).unwrap();
        stores.insert(osd, s);
    }
    for (obj, exp) in &model {
        let hash = pool.hash_key(obj.as_bytes(), b"");
        let pgid = pool.raw_pg_to_pg(librados::osdmap::PgId::new(pool.id, hash));
        let acting = map.pg_mapping(pgid).acting;
        assert_eq!(acting.len(), 3, "{obj}: pg {pgid} acting {acting:?}");
        let cid = CollectionId::new(pgid.pool, pgid.seed);
        let oid = ObjectId::new(pool.id, obj.clone(), hash);
        for osd in acting {
            let s = &stores[&osd];
            let size = s
                .stat(cid, &oid)
                .unwrap_or_else(|e| panic!("{obj} on osd.{osd} (pg {pgid}): {e}"))
                .size;
            let data = s.read(cid, &oid, 0, size).unwrap();
            assert!(
                data[..] == exp.data[..],
                "{obj} on osd.{osd} (pg {pgid}): {} bytes, expected {}",
                data.len(),
                exp.data.len()
            );
            let omap: BTreeMap<String, Vec<u8>> = librados::store::omap_get_all(s, cid, &oid)
                .unwrap()
                .into_iter()
                .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
                .collect();
            assert_eq!(omap, exp.omap, "{obj}'s omap on osd.{osd}");
        }
    }
}

//! The disk object store: metadata, xattrs, omap and small data in the fjall key-value engine,
//! large data in fixed-size slots of one block file, every data byte under crc32c.
//!
//! Directory layout (see ARCHITECTURE.md for the record formats):
//! ```text
//! <dir>/superblock   format version, geometry, feature bits (format.rs)
//! <dir>/lock         held with flock by the process that has the store open
//! <dir>/kv/          the engine: keyspaces onode, data, omap, alloc, meta (keys.rs)
//! <dir>/block        64 KiB slots holding full chunks of large writes (alloc.rs)
//! ```
//!
//! Write path: reserve space → write full chunks into fresh slots and sync them → under the
//! writer lock, stage the transaction and commit it as one engine batch (visible to reads)
//! → the commit thread syncs the journal once for every batch committed meanwhile (group
//! commit) and resolves their [`Commit`]s → slots dropped by durable batches are freed.

mod alloc;
mod format;
mod keys;
mod read;
mod txn;
mod verify;

pub use format::{CHUNK_SIZE, CSUM_BLOCK, FORMAT_VERSION, INLINE_MAX};

use self::alloc::{Allocator, BlockFile, Run};
use self::format::{decode_record, Chunk, Onode, Superblock};
use self::keys::*;
use self::txn::{Ctx, Prewritten};
use super::commit::{Commit, CommitTracker};
use super::error::{StoreError, StoreResult};
use super::transaction::{check_member, now_ns, Op, Transaction};
use super::types::*;
use super::ObjectStore;
use bytes::Bytes;
use fjall::{Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

const META_STATS: &[u8] = b"stats";

/// Tunables of a disk store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The engine's block cache.
    pub cache_bytes: u64,
    /// Room kept free on the filesystem for deletes, recovery and the engine's compactions;
    /// `None` picks 2% of the filesystem, at least 16 MiB and at most 1 GiB.
    pub reserve_bytes: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_bytes: 64 << 20,
            reserve_bytes: None,
        }
    }
}

#[derive(Default)]
struct WriterState {
    nid_next: u64,
    nid_max: u64,
    seq: u64,
}

#[derive(Default)]
struct CommitQueue {
    committed: u64,
    frees: Vec<(u64, Vec<u64>)>,
    shutdown: bool,
}

pub(crate) struct Shared {
    dir: PathBuf,
    db: fjall::Database,
    onodes: Keyspace,
    data: Keyspace,
    omap: Keyspace,
    alloc_ks: Keyspace,
    meta: Keyspace,
    block: BlockFile,
    alloc: Mutex<Allocator>,
    /// Readers hold it shared while they may use slot references; freeing slots takes it
    /// exclusively, so a slot is never reused under a reader.
    gate: RwLock<()>,
    writer: Mutex<WriterState>,
    colls: RwLock<BTreeMap<CollectionId, u32>>,
    tracker: Arc<CommitTracker>,
    queue: Mutex<CommitQueue>,
    queue_cond: Condvar,
    failed: Mutex<Option<String>>,
    inflight_bytes: AtomicU64,
    reserve_bytes: u64,
    objects: AtomicU64,
    data_bytes: AtomicU64,
    _lock: std::fs::File,
}

/// See the module documentation.
pub struct DiskStore {
    sh: Arc<Shared>,
    committer: Option<std::thread::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

fn lock_dir(dir: &Path) -> StoreResult<std::fs::File> {
    use std::io::Write;
    let path = dir.join("lock");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    // SAFETY: flock takes a descriptor we own and integer flags.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(StoreError::Locked {
            path: dir.to_path_buf(),
            lock: path,
        });
    }
    let _ = f.set_len(0);
    let _ = writeln!(f, "{}", std::process::id());
    Ok(f)
}

fn read_superblock(dir: &Path) -> StoreResult<Superblock> {
    let path = dir.join("superblock");
    match std::fs::read(&path) {
        Ok(bytes) => Superblock::decode(&path, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("kv").exists() {
                return Err(StoreError::Format {
                    path,
                    reason: "the engine directory exists but the superblock is missing".into(),
                });
            }
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&now_ns().to_le_bytes());
            id[8..12].copy_from_slice(&std::process::id().to_le_bytes());
            let sb = Superblock::new(id);
            let tmp = dir.join("superblock.tmp");
            std::fs::write(&tmp, sb.encode()).map_err(io_err(&tmp))?;
            let f = std::fs::File::open(&tmp).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
            let d = std::fs::File::open(dir).map_err(io_err(dir))?;
            d.sync_all().map_err(io_err(dir))?;
            Ok(sb)
        }
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// `(total, available)` bytes of the filesystem holding `dir`.
fn fs_space(dir: &Path) -> StoreResult<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| StoreError::invalid("store path contains a NUL byte"))?;
    // SAFETY: statvfs writes into the zeroed struct we pass and reads the NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(StoreError::io(dir, std::io::Error::last_os_error()));
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

impl DiskStore {
    /// Opens the store in `dir`, creating it when the directory is empty or missing.
    pub fn open(dir: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(dir, StoreConfig::default())
    }

    pub fn open_with(dir: impl AsRef<Path>, cfg: StoreConfig) -> StoreResult<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_file = lock_dir(&dir)?;
        read_superblock(&dir)?;
        let db = fjall::Database::builder(dir.join("kv"))
            .cache_size(cfg.cache_bytes)
            .manual_journal_persist(true)
            .max_journaling_size(64 << 20)
            .open()?;
        let small = || KeyspaceCreateOptions::default().max_memtable_size(8 << 20);
        let onodes = db.keyspace("onode", small)?;
        let data = db.keyspace("data", || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(16 << 20)
                .with_kv_separation(Some(Default::default()))
        })?;
        let omap = db.keyspace("omap", small)?;
        let alloc_ks = db.keyspace("alloc", small)?;
        let meta = db.keyspace("meta", small)?;
        let block = BlockFile::open(dir.join("block"))?;

        let mut refs = Vec::new();
        for kv in alloc_ks.iter() {
            let (k, v) = kv.into_inner()?;
            let (Ok(k), Ok(v)) = (<[u8; 8]>::try_from(&k[..]), <[u8; 4]>::try_from(&v[..])) else {
                return Err(StoreError::Engine {
                    detail: "malformed slot reference record".into(),
                });
            };
            refs.push((u64::from_be_bytes(k), u32::from_le_bytes(v)));
        }
        let mut colls = BTreeMap::new();
        for kv in meta.prefix(coll_prefix()) {
            let (k, v) = kv.into_inner()?;
            if let (Some(cid), Ok(b)) = (decode_coll_key(&k), <[u8; 4]>::try_from(&v[..])) {
                colls.insert(cid, u32::from_le_bytes(b));
            }
        }
        let le64 = |v: Option<fjall::Slice>, at: usize| {
            v.and_then(|v| v.get(at..at + 8).and_then(|b| b.try_into().ok()))
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        };
        let nid_max = le64(meta.get(META_NID_MAX)?, 0);
        let stats = meta.get(META_STATS)?;
        let (objects, data_bytes) = (le64(stats.clone(), 0), le64(stats, 8));
        let (total, _) = fs_space(&dir)?;
        let reserve_bytes = cfg
            .reserve_bytes
            .unwrap_or_else(|| (total / 50).clamp(16 << 20, 1 << 30));
        tracing::info!(target: "store", dir = %dir.display(), slots = refs.len(), collections = colls.len(), "store opened");

        let sh = Arc::new(Shared {
            dir,
            db,
            onodes,
            data,
            omap,
            alloc_ks,
            meta,
            block,
            alloc: Mutex::new(Allocator::from_refcounts(refs)),
            gate: RwLock::new(()),
            writer: Mutex::new(WriterState {
                nid_next: nid_max,
                nid_max,
                seq: 0,
            }),
            colls: RwLock::new(colls),
            tracker: Arc::new(CommitTracker::default()),
            queue: Mutex::new(CommitQueue::default()),
            queue_cond: Condvar::new(),
            failed: Mutex::new(None),
            inflight_bytes: AtomicU64::new(0),
            reserve_bytes,
            objects: AtomicU64::new(objects),
            data_bytes: AtomicU64::new(data_bytes),
            _lock: lock_file,
        });
        let worker = Arc::clone(&sh);
        let committer = std::thread::Builder::new()
            .name("store-commit".into())
            .spawn(move || worker.commit_loop())
            .map_err(io_err(Path::new("store-commit thread")))?;
        Ok(DiskStore {
            sh,
            committer: Some(committer),
        })
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.sh.dir
    }

    /// Writes the engine's in-memory tables to its files (tests use this to reach table
    /// files with their corruption checks; normal operation never needs it).
    pub fn flush_engine(&self) -> StoreResult<()> {
        for ks in [
            &self.sh.onodes,
            &self.sh.data,
            &self.sh.omap,
            &self.sh.alloc_ks,
            &self.sh.meta,
        ] {
            ks.rotate_memtable_and_wait()?;
        }
        Ok(())
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        lock(&self.sh.queue).shutdown = true;
        self.sh.queue_cond.notify_all();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
        if let Err(e) = self.sh.db.persist(PersistMode::SyncAll) {
            tracing::warn!(target: "store", "final sync failed: {e}");
        }
    }
}

impl Shared {
    fn lock_alloc(&self) -> MutexGuard<'_, Allocator> {
        lock(&self.alloc)
    }

    fn coll_bits(&self, cid: CollectionId) -> Option<u32> {
        self.colls
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cid)
            .copied()
    }

    fn member_bits(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<u32> {
        let bits = self
            .coll_bits(cid)
            .ok_or(StoreError::CollectionNotFound { collection: cid })?;
        check_member(cid, bits, oid)?;
        Ok(bits)
    }

    fn decode_onode(oid: &ObjectId, bytes: &[u8]) -> StoreResult<Onode> {
        decode_record(bytes).map_err(|detail| StoreError::Corrupt {
            object: oid.clone().into(),
            detail: format!("onode: {detail}"),
        })
    }

    fn engine_err(oid: &ObjectId, e: fjall::Error) -> StoreError {
        StoreError::Corrupt {
            object: oid.clone().into(),
            detail: format!("engine: {e}"),
        }
    }

    fn get_onode(&self, oid: &ObjectId) -> StoreResult<Option<Onode>> {
        match self.onodes.get(onode_key(oid)) {
            Ok(Some(v)) => Self::decode_onode(oid, &v).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(Self::engine_err(oid, e)),
        }
    }

    fn get_chunk(
        &self,
        snap: Option<&fjall::Snapshot>,
        oid: &ObjectId,
        nid: u64,
        idx: u32,
    ) -> StoreResult<Option<Chunk>> {
        let key = data_key(nid, idx);
        let got = match snap {
            Some(s) => s.get(&self.data, key),
            None => self.data.get(key),
        };
        match got.map_err(|e| Self::engine_err(oid, e))? {
            None => Ok(None),
            Some(v) => decode_record(&v)
                .map(Some)
                .map_err(|detail| StoreError::Corrupt {
                    object: oid.clone().into(),
                    detail: format!("chunk {idx}: {detail}"),
                }),
        }
    }

    fn head_onode(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<Onode> {
        self.member_bits(cid, oid)?;
        self.get_onode(oid)?
            .ok_or_else(|| StoreError::ObjectNotFound {
                object: oid.clone().into(),
            })
    }

    fn check_writable(&self) -> StoreResult<()> {
        match &*lock(&self.failed) {
            Some(cause) => Err(StoreError::ReadOnly {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail(&self, cause: String) {
        tracing::error!(target: "store", "store failed, refusing writes: {cause}");
        lock(&self.failed).get_or_insert(cause.clone());
        self.tracker.mark_failed(cause);
    }

    /// Bytes the transaction may add on disk: large write data once (slots), everything else
    /// twice (engine journal, then tables), plus per-operation overhead.
    fn space_needed(txn: &Transaction) -> u64 {
        txn.ops
            .iter()
            .map(|op| match op {
                Op::Write { data, .. } if data.len() as u64 >= CHUNK_SIZE => {
                    data.len() as u64 + 4096
                }
                op if op.added_bytes() > 0 => op.added_bytes() * 2 + 512,
                _ => 0,
            })
            .sum()
    }

    fn reserve_space(&self, need: u64) -> StoreResult<()> {
        if need == 0 {
            return Ok(());
        }
        let (_, avail) = fs_space(&self.dir)?;
        let inflight = self.inflight_bytes.fetch_add(need, Ordering::SeqCst);
        let usable = avail.saturating_sub(self.reserve_bytes + inflight);
        if need > usable {
            self.inflight_bytes.fetch_sub(need, Ordering::SeqCst);
            return Err(StoreError::NoSpace {
                needed_bytes: need,
                available_bytes: usable,
            });
        }
        Ok(())
    }

    /// Writes the full chunks of every large write into fresh slots and syncs them.
    fn prewrite(&self, txn: &Transaction) -> StoreResult<Prewritten> {
        let mut pre = Prewritten::default();
        for (i, op) in txn.ops.iter().enumerate() {
            let Op::Write { offset, data, .. } = op else {
                continue;
            };
            let Some(end) = offset.checked_add(data.len() as u64) else {
                continue;
            };
            let first = offset.div_ceil(CHUNK_SIZE);
            let last = end / CHUNK_SIZE;
            if first >= last || end > super::MAX_OBJECT_SIZE {
                continue;
            }
            let runs = self.lock_alloc().allocate(last - first);
            pre.slots
                .extend(runs.iter().flat_map(|r| r.start..r.start + r.len));
            let mut chunk = first;
            let mut placed = Vec::new();
            for r in &runs {
                let from = (chunk * CHUNK_SIZE - offset) as usize;
                let bytes = &data[from..from + (r.len * CHUNK_SIZE) as usize];
                if let Err(e) = self.block.write_slots(r.start, bytes) {
                    self.release_unreferenced(&pre.slots);
                    return Err(e);
                }
                for (k, c) in bytes.chunks(CHUNK_SIZE as usize).enumerate() {
                    placed.push((
                        chunk as u32 + k as u32,
                        r.start + k as u64,
                        format::block_crcs(c),
                    ));
                }
                chunk += r.len;
            }
            pre.per_op.insert(i, placed);
        }
        if !pre.slots.is_empty() {
            if let Err(e) = self.block.sync() {
                self.fail(e.to_string());
                return Err(e);
            }
        }
        Ok(pre)
    }

    /// Frees slots that no committed record ever referenced.
    fn release_unreferenced(&self, slots: &[u64]) {
        if slots.is_empty() {
            return;
        }
        let runs = self.lock_alloc().release(slots);
        self.block.punch(&runs);
    }

    /// Frees slots whose last reference was dropped by a durable batch, once no reader can
    /// still be using the old reference.
    fn release_dropped(&self, slots: &[u64]) {
        if slots.is_empty() {
            return;
        }
        let _exclusive = self.gate.write().unwrap_or_else(|e| e.into_inner());
        let runs = runs_of(slots);
        self.block.punch(&runs);
        self.lock_alloc().release(slots);
    }

    fn apply_locked(&self, txn: &Transaction, pre: &Prewritten) -> StoreResult<u64> {
        let mut w = lock(&self.writer);
        let mut ctx = Ctx::new(self, w.nid_next, w.nid_max, pre);
        for (i, op) in txn.ops.iter().enumerate() {
            ctx.apply(i, op, pre)?;
        }
        let mut st = ctx.finish(txn.mtime_ns.unwrap_or_else(now_ns))?;
        let objects = self.objects.load(Ordering::SeqCst) as i64 + st.objects_delta;
        let data_bytes = self.data_bytes.load(Ordering::SeqCst) as i64 + st.data_bytes_delta;
        let mut stats = (objects.max(0) as u64).to_le_bytes().to_vec();
        stats.extend_from_slice(&(data_bytes.max(0) as u64).to_le_bytes());
        st.batch.insert(&self.meta, META_STATS, stats);
        if let Err(e) = st.batch.commit() {
            self.fail(e.to_string());
            return Err(e.into());
        }
        {
            let mut a = self.lock_alloc();
            for (slot, count) in &st.refcounts {
                a.set_refcount(*slot, *count);
            }
        }
        {
            let mut colls = self.colls.write().unwrap_or_else(|e| e.into_inner());
            for (cid, bits) in &st.colls {
                match bits {
                    Some(b) => colls.insert(*cid, *b),
                    None => colls.remove(cid),
                };
            }
        }
        self.objects.store(objects.max(0) as u64, Ordering::SeqCst);
        self.data_bytes
            .store(data_bytes.max(0) as u64, Ordering::SeqCst);
        w.nid_next = st.nid_next;
        w.nid_max = st.nid_max;
        w.seq += 1;
        let seq = w.seq;
        {
            let mut q = lock(&self.queue);
            q.committed = seq;
            if !st.freed.is_empty() {
                q.frees.push((seq, st.freed));
            }
        }
        self.queue_cond.notify_one();
        Ok(seq)
    }

    fn commit_loop(&self) {
        loop {
            let target = {
                let mut q = lock(&self.queue);
                loop {
                    if q.committed > self.tracker.durable() {
                        break q.committed;
                    }
                    if q.shutdown {
                        return;
                    }
                    q = self.queue_cond.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            if let Err(e) = self.db.persist(PersistMode::SyncData) {
                self.fail(format!("journal sync failed: {e}"));
                return;
            }
            self.tracker.mark_durable(target);
            let frees: Vec<u64> = {
                let mut q = lock(&self.queue);
                let (done, rest): (Vec<_>, Vec<_>) =
                    q.frees.drain(..).partition(|(s, _)| *s <= target);
                q.frees = rest;
                done.into_iter().flat_map(|(_, s)| s).collect()
            };
            self.release_dropped(&frees);
        }
    }
}

/// Bytes the filesystem has allocated to the files under `dir` (what the store really holds).
fn allocated_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.blocks() * 512,
                Err(_) => {}
            }
        }
    }
    total
}

fn runs_of(slots: &[u64]) -> Vec<Run> {
    let mut sorted = slots.to_vec();
    sorted.sort_unstable();
    let mut runs: Vec<Run> = Vec::new();
    for s in sorted {
        match runs.last_mut() {
            Some(r) if r.start + r.len == s => r.len += 1,
            _ => runs.push(Run { start: s, len: 1 }),
        }
    }
    runs
}

impl ObjectStore for DiskStore {
    fn queue_transaction(&self, txn: Transaction) -> StoreResult<Commit> {
        let sh = &self.sh;
        sh.check_writable()?;
        let need = Shared::space_needed(&txn);
        sh.reserve_space(need)?;
        let result = sh.prewrite(&txn).and_then(|pre| {
            let r = sh.apply_locked(&txn, &pre);
            if r.is_err() {
                sh.release_unreferenced(&pre.slots);
            }
            r
        });
        sh.inflight_bytes.fetch_sub(need, Ordering::SeqCst);
        let seq = result?;
        Ok(Commit::pending(seq, Arc::clone(&sh.tracker)))
    }

    fn list_collections(&self) -> StoreResult<Vec<CollectionId>> {
        let colls = self.sh.colls.read().unwrap_or_else(|e| e.into_inner());
        Ok(colls.keys().copied().collect())
    }

    fn collection_bits(&self, cid: CollectionId) -> StoreResult<u32> {
        self.sh
            .coll_bits(cid)
            .ok_or(StoreError::CollectionNotFound { collection: cid })
    }

    fn exists(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<bool> {
        self.sh.member_bits(cid, oid)?;
        Ok(self.sh.get_onode(oid)?.is_some())
    }

    fn stat(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<ObjectStat> {
        let o = self.sh.head_onode(cid, oid)?;
        Ok(ObjectStat {
            size: o.size,
            mtime_ns: o.mtime_ns,
            version: o.version,
        })
    }

    fn read(&self, cid: CollectionId, oid: &ObjectId, offset: u64, len: u64) -> StoreResult<Bytes> {
        let sh = &self.sh;
        sh.member_bits(cid, oid)?;
        let _reading = sh.gate.read().unwrap_or_else(|e| e.into_inner());
        let snap = sh.db.snapshot();
        let o = match snap.get(&sh.onodes, onode_key(oid)) {
            Ok(Some(v)) => Shared::decode_onode(oid, &v)?,
            Ok(None) => {
                return Err(StoreError::ObjectNotFound {
                    object: oid.clone().into(),
                })
            }
            Err(e) => return Err(Shared::engine_err(oid, e)),
        };
        let bytes = read::object_bytes(&sh.block, oid, &o, offset, len, |idx| {
            sh.get_chunk(Some(&snap), oid, o.nid, idx)
        })?;
        Ok(Bytes::from(bytes))
    }

    fn getattr(&self, cid: CollectionId, oid: &ObjectId, name: &str) -> StoreResult<Bytes> {
        let o = self.sh.head_onode(cid, oid)?;
        match o.attrs.get(name) {
            Some(v) => Ok(Bytes::copy_from_slice(v)),
            None => Err(StoreError::AttrNotFound {
                object: oid.clone().into(),
                name: name.to_string(),
            }),
        }
    }

    fn getattrs(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<BTreeMap<String, Bytes>> {
        let o = self.sh.head_onode(cid, oid)?;
        Ok(o.attrs
            .into_iter()
            .map(|(k, v)| (k, Bytes::from(v.into_vec())))
            .collect())
    }

    fn omap_get_header(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<Bytes> {
        let o = self.sh.head_onode(cid, oid)?;
        match self.sh.omap.get(omap_header_key(o.nid)) {
            Ok(v) => Ok(v.map(|v| Bytes::copy_from_slice(&v)).unwrap_or_default()),
            Err(e) => Err(Shared::engine_err(oid, e)),
        }
    }

    fn omap_get_values(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        keys: &[Bytes],
    ) -> StoreResult<BTreeMap<Bytes, Bytes>> {
        let o = self.sh.head_onode(cid, oid)?;
        let mut out = BTreeMap::new();
        for k in keys {
            match self.sh.omap.get(omap_entry_key(o.nid, k)) {
                Ok(Some(v)) => {
                    out.insert(k.clone(), Bytes::copy_from_slice(&v));
                }
                Ok(None) => {}
                Err(e) => return Err(Shared::engine_err(oid, e)),
            }
        }
        Ok(out)
    }

    fn omap_list(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        start_after: Option<&[u8]>,
        prefix: Option<&[u8]>,
        max: usize,
    ) -> StoreResult<OmapPage> {
        let o = self.sh.head_onode(cid, oid)?;
        let prefix = prefix.unwrap_or(&[]);
        let lower = match start_after {
            Some(sa) if sa >= prefix => Bound::Excluded(omap_entry_key(o.nid, sa)),
            _ => Bound::Included(omap_entry_key(o.nid, prefix)),
        };
        let upper = match txn::prefix_end(&omap_entry_key(o.nid, prefix)) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let skip = omap_entry_prefix(o.nid).len();
        let mut page = OmapPage::default();
        for kv in self.sh.omap.range::<Vec<u8>, _>((lower, upper)) {
            if page.entries.len() == max {
                page.more = true;
                break;
            }
            let (k, v) = kv.into_inner().map_err(|e| Shared::engine_err(oid, e))?;
            page.entries.push((k[skip..].to_vec(), v.to_vec()));
        }
        Ok(page)
    }

    fn list_objects(
        &self,
        cid: CollectionId,
        cursor: &ListCursor,
        max: usize,
    ) -> StoreResult<ListPage> {
        let bits = self.collection_bits(cid)?;
        let (start, end) = collection_range(cid, bits);
        let lower = match cursor {
            ListCursor::After(o) if onode_key(o) >= start => Bound::Excluded(onode_key(o)),
            _ => Bound::Included(start),
        };
        let mut objects = Vec::new();
        let mut more = false;
        for kv in self
            .sh
            .onodes
            .range::<Vec<u8>, _>((lower, Bound::Excluded(end)))
        {
            let key = kv.key()?;
            let oid = decode_onode_key(&key).ok_or_else(|| StoreError::Engine {
                detail: format!("undecodable object key {key:02x?} in {cid}"),
            })?;
            if objects.len() == max {
                more = true;
                break;
            }
            objects.push(oid);
        }
        let next = match (more, objects.last()) {
            (true, Some(last)) => Some(ListCursor::After(last.clone())),
            (true, None) => Some(cursor.clone()),
            (false, _) => None,
        };
        Ok(ListPage { objects, next })
    }

    fn statfs(&self) -> StoreResult<StoreStats> {
        let sh = &self.sh;
        let (total, avail) = fs_space(&sh.dir)?;
        let inflight = sh.inflight_bytes.load(Ordering::SeqCst);
        Ok(StoreStats {
            total_bytes: total,
            used_bytes: allocated_bytes(&sh.dir),
            available_bytes: avail.saturating_sub(sh.reserve_bytes + inflight),
            reserved_bytes: sh.reserve_bytes,
            data_bytes: sh.data_bytes.load(Ordering::SeqCst),
            objects: sh.objects.load(Ordering::SeqCst),
        })
    }

    fn verify(&self) -> StoreResult<VerifyReport> {
        verify::verify(&self.sh)
    }
}

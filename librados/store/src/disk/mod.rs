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
mod lookup;
mod pending;
mod read;
mod txn;
mod verify;
mod wal;
mod write;

pub use format::{CHUNK_SIZE, CSUM_BLOCK, FORMAT_VERSION, INLINE_MAX};

use self::alloc::{Allocator, BlockFile};
use self::format::{Onode, Superblock};
use self::keys::*;
use self::lookup::Val;
use self::pending::{Ks, Pending};
use self::wal::Wal;
use self::write::{ApplyState, CommitQueue, SPACE_REFRESH};
use super::commit::{Commit, CommitTracker};
use super::error::{StoreError, StoreResult};
use super::transaction::{check_member, check_read_len, now_ns, Transaction};
use super::types::*;
use super::ObjectStore;
use bytes::Bytes;
use fjall::{Keyspace, KeyspaceCreateOptions, PersistMode};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

pub(crate) const META_STATS: &[u8] = b"stats";
/// The sequence number of the last transaction group the engine holds.
pub(crate) const META_SEQ: &[u8] = b"seq";

/// Tunables of a disk store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The engine's block cache.
    pub cache_bytes: u64,
    /// Memtable size of the data keyspace (the others get half each): what the engine holds
    /// in memory before it flushes a keyspace's table to disk.
    pub memtable_bytes: u64,
    /// Room kept free on the filesystem for deletes, recovery and the engine's compactions;
    /// `None` picks 2% of the filesystem, at least 16 MiB and at most 1 GiB.
    pub reserve_bytes: Option<u64>,
    /// Segments in the write-ahead log ring (at least 2 are used).
    pub wal_segments: usize,
    /// Size of each write-ahead log segment, preallocated (64 KiB to 1 GiB).
    pub wal_segment_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_bytes: 64 << 20,
            memtable_bytes: 16 << 20,
            reserve_bytes: None,
            wal_segments: 4,
            wal_segment_bytes: 8 << 20,
        }
    }
}

#[derive(Default)]
struct WriterState {
    nid_next: u64,
    nid_max: u64,
    seq: u64,
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
    /// Writes staged by transactions and not yet in the engine (see pending.rs).
    pending: RwLock<Pending>,
    writer: Mutex<WriterState>,
    colls: RwLock<BTreeMap<CollectionId, u32>>,
    tracker: Arc<CommitTracker>,
    queue: Mutex<CommitQueue>,
    queue_cond: Condvar,
    apply: Mutex<ApplyState>,
    apply_cond: Condvar,
    failed: Mutex<Option<String>>,
    inflight_bytes: AtomicU64,
    /// Last free-space reading and the bytes requested since (see `fs_available`).
    space_cache: Mutex<(u64, u64)>,
    reserve_bytes: u64,
    objects: AtomicU64,
    data_bytes: AtomicU64,
    _lock: std::fs::File,
}

/// See the module documentation.
pub struct DiskStore {
    sh: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

fn lock_dir(dir: &Path) -> StoreResult<std::fs::File> {
    let path = dir.join("lock");
    match crate::lockfile::try_lock(&path, &std::process::id().to_string()) {
        Ok(crate::lockfile::Lock::Held(f)) => Ok(f),
        Ok(crate::lockfile::Lock::Busy { .. }) => Err(StoreError::Locked {
            path: dir.to_path_buf(),
            lock: path,
        }),
        Err(e) => Err(StoreError::io(&path, e)),
    }
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
pub(crate) fn fs_space(dir: &Path) -> StoreResult<(u64, u64)> {
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
        if cfg.wal_segment_bytes < 64 * 1024 || cfg.wal_segment_bytes > 1 << 30 {
            return Err(StoreError::invalid(format!(
                "write-ahead log segments of {} bytes: use 64 KiB to 1 GiB",
                cfg.wal_segment_bytes
            )));
        }
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_file = lock_dir(&dir)?;
        read_superblock(&dir)?;
        let db = fjall::Database::builder(dir.join("kv"))
            .cache_size(cfg.cache_bytes)
            .manual_journal_persist(true)
            .max_journaling_size(64 << 20)
            // One background worker: with more, fjall's idle workers bounce compaction requests
            // between themselves and burn a core while one of them compacts.
            .worker_threads(1)
            // Object data rarely compresses; compressing it costs the commit path dearly.
            .journal_compression(fjall::CompressionType::None)
            .open()?;
        let memtable = cfg.memtable_bytes.max(1 << 20);
        let small = || KeyspaceCreateOptions::default().max_memtable_size(memtable / 2);
        // Values above 1 KiB (onodes holding small objects' data, data chunks) go to blob files
        // that compaction does not rewrite.
        let blobs = || {
            Some(fjall::KvSeparationOptions {
                compression: fjall::CompressionType::None,
                ..Default::default()
            })
        };
        let onodes = db.keyspace("onode", || small().with_kv_separation(blobs()))?;
        let data = db.keyspace("data", || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(memtable)
                .with_kv_separation(blobs())
        })?;
        let omap = db.keyspace("omap", small)?;
        let alloc_ks = db.keyspace("alloc", small)?;
        let meta = db.keyspace("meta", small)?;
        let block = BlockFile::open(dir.join("block"))?;

        // Bring the engine up to the last durable group from the log, and sync it there.
        let wal = Wal::open(&dir.join("wal"), cfg.wal_segments, cfg.wal_segment_bytes)?;
        // The new entries (block file, log directory) must survive a power cut too.
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&dir))?;
        let applied = meta
            .get(META_SEQ)?
            .and_then(|v| v.get(..8).and_then(|b| b.try_into().ok()))
            .map(u64::from_le_bytes)
            .unwrap_or(0);
        let mut last_seq = applied;
        for r in wal.scan()? {
            if r.last <= last_seq {
                continue;
            }
            if r.first != last_seq + 1 {
                return Err(StoreError::Format {
                    path: dir.join("wal"),
                    reason: format!(
                        "the write-ahead log lacks transactions {}..{}; it is damaged",
                        last_seq + 1,
                        r.first.saturating_sub(1)
                    ),
                });
            }
            let mut batch = db.batch();
            for (ks, k, v) in &r.writes {
                let ks = match ks {
                    Ks::Onode => &onodes,
                    Ks::Data => &data,
                    Ks::Omap => &omap,
                    Ks::Alloc => &alloc_ks,
                    Ks::Meta => &meta,
                };
                match v {
                    Some(v) => batch.insert(ks, k.as_slice(), v.as_ref()),
                    None => batch.remove(ks, k.as_slice()),
                }
            }
            batch.insert(&meta, META_SEQ, r.last.to_le_bytes());
            batch.commit()?;
            last_seq = r.last;
        }
        db.persist(PersistMode::SyncAll)?;
        if last_seq > applied {
            tracing::info!(target: "store", groups_from = applied + 1, groups_to = last_seq, "replayed the write-ahead log");
        }

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
            pending: RwLock::new(Pending::default()),
            writer: Mutex::new(WriterState {
                nid_next: nid_max,
                nid_max,
                seq: last_seq,
            }),
            colls: RwLock::new(colls),
            tracker: Arc::new(CommitTracker::default()),
            queue: Mutex::new(CommitQueue::default()),
            queue_cond: Condvar::new(),
            apply: Mutex::new(ApplyState {
                applied: last_seq,
                handed: last_seq,
                synced: last_seq,
                ..Default::default()
            }),
            apply_cond: Condvar::new(),
            failed: Mutex::new(None),
            inflight_bytes: AtomicU64::new(0),
            space_cache: Mutex::new((0, SPACE_REFRESH)),
            reserve_bytes,
            objects: AtomicU64::new(objects),
            data_bytes: AtomicU64::new(data_bytes),
            _lock: lock_file,
        });
        sh.tracker.mark_durable(last_seq);
        let worker = Arc::clone(&sh);
        let committer = std::thread::Builder::new()
            .name("store-commit".into())
            .spawn(move || worker.commit_loop(wal))
            .map_err(io_err(Path::new("store-commit thread")))?;
        let worker = Arc::clone(&sh);
        let applier = std::thread::Builder::new()
            .name("store-apply".into())
            .spawn(move || worker.apply_loop())
            .map_err(io_err(Path::new("store-apply thread")))?;
        Ok(DiskStore {
            sh,
            threads: vec![committer, applier],
        })
    }

    /// Waits until everything queued so far is durable and applied to the engine.
    fn barrier(&self) -> StoreResult<()> {
        let seq = self.sh.submit(&Transaction::new())?;
        Commit::pending(seq, Arc::clone(&self.sh.tracker)).wait()?;
        self.sh.wait_applied(seq);
        Ok(())
    }

    /// [`ObjectStore::verify`], calling `progress(objects, bytes)` as the walk goes.
    pub fn verify_with_progress(
        &self,
        progress: &mut dyn FnMut(u64, u64),
    ) -> StoreResult<VerifyReport> {
        // Everything queued so far reaches the engine first; the walk reads the engine.
        if self.sh.check_writable().is_ok() {
            self.barrier()?;
        }
        verify::verify(&self.sh, progress)
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.sh.dir
    }

    /// Writes the engine's in-memory tables to its files (tests use this to reach table
    /// files with their corruption checks; normal operation never needs it).
    pub fn flush_engine(&self) -> StoreResult<()> {
        self.barrier()?;
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
        // The commit thread drains the queue, then stops the apply thread, which drains too.
        for t in self.threads.drain(..) {
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

    fn head_onode(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<Onode> {
        self.member_bits(cid, oid)?;
        self.existing_onode_in(&self.pending_read(), oid)
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
        // Writers held back by a full commit queue must see the failure.
        self.queue_cond.notify_all();
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

impl ObjectStore for DiskStore {
    fn queue_transaction(&self, txn: Transaction) -> StoreResult<Commit> {
        let seq = self.sh.submit(&txn)?;
        Ok(Commit::pending(seq, Arc::clone(&self.sh.tracker)))
    }

    fn backlogged(&self) -> bool {
        self.sh.backlogged()
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
        // Metadata under the overlay's read lock (one consistent state), data after it.
        let (mut o, chunks) = {
            let p = sh.pending_read();
            let o = sh.existing_onode_in(&p, oid)?;
            let mut chunks = BTreeMap::new();
            let end = offset.saturating_add(len).min(o.size);
            check_read_len(oid, end.saturating_sub(offset))?;
            if o.inline.is_none() && offset < end {
                for idx in (offset / CHUNK_SIZE)..=((end - 1) / CHUNK_SIZE) {
                    if let Some(c) = sh.chunk_in(&p, oid, o.nid, idx as u32)? {
                        chunks.insert(idx as u32, c);
                    }
                }
            }
            (o, chunks)
        };
        if let Some(inline) = o.inline.take() {
            // Small objects: hand out the onode's own buffer, checked, without copying.
            let bytes = inline.verified().map_err(|detail| StoreError::Corrupt {
                object: oid.clone().into(),
                detail,
            })?;
            let have = bytes.len() as u64;
            let end = offset.saturating_add(len).min(o.size);
            if offset >= end {
                return Ok(Bytes::new());
            }
            if end <= have {
                let all = Bytes::from(inline.bytes.into_vec());
                return Ok(all.slice(offset as usize..end as usize));
            }
            o.inline = Some(inline);
        }
        let bytes = read::object_bytes(&sh.block, oid, &o, offset, len, |idx| {
            Ok(chunks.get(&idx).cloned())
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
        let sh = &self.sh;
        sh.member_bits(cid, oid)?;
        let p = sh.pending_read();
        let o = sh.existing_onode_in(&p, oid)?;
        sh.get_in(&p, Ks::Omap, &omap_header_key(o.nid))
            .map(|v| v.map(Val::into_bytes).unwrap_or_default())
            .map_err(|e| Shared::engine_err(oid, e))
    }

    fn omap_get_values(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        keys: &[Bytes],
    ) -> StoreResult<BTreeMap<Bytes, Bytes>> {
        let sh = &self.sh;
        sh.member_bits(cid, oid)?;
        let p = sh.pending_read();
        let o = sh.existing_onode_in(&p, oid)?;
        let mut out = BTreeMap::new();
        for k in keys {
            let v = sh
                .get_in(&p, Ks::Omap, &omap_entry_key(o.nid, k))
                .map_err(|e| Shared::engine_err(oid, e))?;
            if let Some(v) = v {
                out.insert(k.clone(), v.into_bytes());
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
        let sh = &self.sh;
        sh.member_bits(cid, oid)?;
        let p = sh.pending_read();
        let o = sh.existing_onode_in(&p, oid)?;
        let prefix = prefix.unwrap_or(&[]);
        let (lower, skip_first) = match start_after {
            Some(sa) if sa >= prefix => (omap_entry_key(o.nid, sa), true),
            _ => (omap_entry_key(o.nid, prefix), false),
        };
        let upper = txn::prefix_end(&omap_entry_key(o.nid, prefix));
        let skip = omap_entry_prefix(o.nid).len();
        let mut page = OmapPage::default();
        sh.scan_in(&p, Ks::Omap, &lower, upper.as_deref(), |k, v| {
            if skip_first && k == lower.as_slice() {
                return true;
            }
            if page.entries.len() == max {
                page.more = true;
                return false;
            }
            page.entries.push((k[skip..].to_vec(), v.to_vec()));
            true
        })
        .map_err(|e| Shared::engine_err(oid, e))?;
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
        let (lower, after) = match cursor {
            ListCursor::After(o) if onode_key(o) >= start => (onode_key(o), true),
            _ => (start, false),
        };
        let mut objects = Vec::new();
        let mut more = false;
        let mut bad = None;
        let p = self.sh.pending_read();
        self.sh
            .scan_keys_in(&p, Ks::Onode, &lower, Some(&end), |key| {
                if after && key == lower.as_slice() {
                    return true;
                }
                let Some(oid) = decode_onode_key(key) else {
                    bad = Some(key.to_vec());
                    return false;
                };
                if objects.len() == max {
                    more = true;
                    return false;
                }
                objects.push(oid);
                true
            })?;
        if let Some(key) = bad {
            return Err(StoreError::Engine {
                detail: format!("undecodable object key {key:02x?} in {cid}"),
            });
        }
        Ok(ListPage::new(objects, more, cursor))
    }

    fn statfs(&self) -> StoreResult<StoreStats> {
        let sh = &self.sh;
        let (total, avail) = fs_space(&sh.dir)?;
        let inflight = sh.inflight_bytes.load(Ordering::SeqCst);
        Ok(StoreStats {
            total_bytes: total,
            used_bytes: allocated_bytes(&sh.dir),
            available_bytes: avail.saturating_sub(sh.reserve_bytes.saturating_add(inflight)),
            reserved_bytes: sh.reserve_bytes,
            data_bytes: sh.data_bytes.load(Ordering::SeqCst),
            objects: sh.objects.load(Ordering::SeqCst),
        })
    }

    fn verify(&self) -> StoreResult<VerifyReport> {
        self.verify_with_progress(&mut |_, _| {})
    }
}

#[cfg(test)]
mod tests {
    use super::format::Chunk;
    use super::*;
    use crate::{ObjectStore, Transaction};

    fn slot_of(s: &DiskStore, oid: &ObjectId, idx: u32) -> Option<u64> {
        let o = s.sh.get_onode(oid).unwrap().unwrap();
        match s.sh.get_chunk(oid, o.nid, idx).unwrap() {
            Some(Chunk::Slot { slot, .. }) => Some(slot),
            _ => None,
        }
    }

    /// A partial overwrite leaves its chunk inline; cloning moves it into a slot that the
    /// source and the clone then share, instead of copying it.
    #[test]
    fn clone_shares_inline_chunks_through_a_slot() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStore::open(dir.path()).unwrap();
        let c = CollectionId::new(1, 0);
        let (a, b) = (ObjectId::new(1, "a", 0), ObjectId::new(1, "b", 0));
        let mut t = Transaction::new();
        t.create_collection(c, 0)
            .write(c, &a, 0, vec![1u8; 4 * CHUNK_SIZE as usize]);
        s.apply_transaction(t).unwrap();
        let mut t = Transaction::new();
        t.write(c, &a, CHUNK_SIZE + 100, vec![2u8; 4096]);
        s.apply_transaction(t).unwrap();
        assert!(slot_of(&s, &a, 0).is_some());
        assert_eq!(slot_of(&s, &a, 1), None, "rewritten chunk is inline");
        let mut t = Transaction::new();
        t.clone_object(c, &a, &b);
        s.apply_transaction(t).unwrap();
        for idx in 0..4 {
            let (sa, sb) = (slot_of(&s, &a, idx), slot_of(&s, &b, idx));
            assert!(
                sa.is_some() && sa == sb,
                "chunk {idx} shared: {sa:?} {sb:?}"
            );
        }
        let want: Vec<u8> = (0..4 * CHUNK_SIZE as usize)
            .map(|i| {
                let o = i as u64;
                if (CHUNK_SIZE + 100..CHUNK_SIZE + 100 + 4096).contains(&o) {
                    2
                } else {
                    1
                }
            })
            .collect();
        assert!(s.read(c, &b, 0, u64::MAX).unwrap() == want);
        assert!(s.read(c, &a, 0, u64::MAX).unwrap() == want);
        drop(s);
        let s = DiskStore::open(dir.path()).unwrap();
        assert!(s.verify().unwrap().is_clean());
        assert!(s.read(c, &b, 0, u64::MAX).unwrap() == want);
    }
}

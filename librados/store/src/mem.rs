//! An in-memory object store with the same semantics as the disk store: for tests of the layers
//! above, and the model the disk store is checked against. Nothing survives the process.

use super::commit::Commit;
use super::error::{StoreError, StoreResult};
use super::transaction::{
    check_clone_range, check_extent, check_member, check_read_len, check_split, now_ns, Op,
    Transaction,
};
use super::types::*;
use super::ObjectStore;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

#[derive(Clone, Debug, Default)]
struct MemObject {
    data: Vec<u8>,
    attrs: BTreeMap<String, Bytes>,
    omap: BTreeMap<Vec<u8>, Vec<u8>>,
    header: Bytes,
    mtime_ns: u64,
    version: u64,
}

#[derive(Default)]
struct MemState {
    colls: BTreeMap<CollectionId, u32>,
    objects: BTreeMap<ObjectId, MemObject>,
}

enum Undo {
    Object(ObjectId, Option<MemObject>),
    Coll(CollectionId, Option<u32>),
}

/// See the module documentation.
#[derive(Default)]
pub struct MemStore {
    state: Mutex<MemState>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Applier<'a> {
    st: &'a mut MemState,
    undo: Vec<Undo>,
    saved: BTreeSet<ObjectId>,
    touched: BTreeSet<ObjectId>,
    /// Objects given their own modification time.
    mtimes: BTreeMap<ObjectId, u64>,
}

impl Applier<'_> {
    fn bits(&self, cid: CollectionId) -> StoreResult<u32> {
        self.st
            .colls
            .get(&cid)
            .copied()
            .ok_or(StoreError::CollectionNotFound { collection: cid })
    }

    fn save(&mut self, oid: &ObjectId) {
        if self.saved.insert(oid.clone()) {
            self.undo
                .push(Undo::Object(oid.clone(), self.st.objects.get(oid).cloned()));
        }
        self.touched.insert(oid.clone());
    }

    fn save_coll(&mut self, cid: CollectionId) {
        self.undo
            .push(Undo::Coll(cid, self.st.colls.get(&cid).copied()));
    }

    /// The object, created when `create` is set; checks collection membership.
    fn object(
        &mut self,
        cid: CollectionId,
        oid: &ObjectId,
        create: bool,
    ) -> StoreResult<&mut MemObject> {
        check_member(cid, self.bits(cid)?, oid)?;
        if !create && !self.st.objects.contains_key(oid) {
            return Err(StoreError::ObjectNotFound {
                object: oid.clone().into(),
            });
        }
        self.save(oid);
        Ok(self.st.objects.entry(oid.clone()).or_default())
    }

    fn apply(&mut self, op: &Op) -> StoreResult<()> {
        match op {
            Op::Touch { cid, oid } => {
                self.object(*cid, oid, true)?;
            }
            Op::SetMtime { cid, oid, mtime_ns } => {
                self.object(*cid, oid, false)?;
                self.mtimes.insert(oid.clone(), *mtime_ns);
            }
            Op::Write {
                cid,
                oid,
                offset,
                data,
            } => {
                let end = check_extent(oid, *offset, data.len() as u64)? as usize;
                let o = self.object(*cid, oid, true)?;
                if o.data.len() < end {
                    o.data.resize(end, 0);
                }
                o.data[*offset as usize..end].copy_from_slice(data);
            }
            Op::Zero {
                cid,
                oid,
                offset,
                len,
            } => {
                let end = check_extent(oid, *offset, *len)? as usize;
                let o = self.object(*cid, oid, true)?;
                if o.data.len() < end {
                    o.data.resize(end, 0);
                }
                o.data[*offset as usize..end].fill(0);
            }
            Op::Truncate { cid, oid, size } => {
                check_extent(oid, *size, 0)?;
                self.object(*cid, oid, true)?.data.resize(*size as usize, 0);
            }
            Op::Remove { cid, oid } => {
                self.object(*cid, oid, false)?;
                self.st.objects.remove(oid);
            }
            Op::SetAttrs { cid, oid, attrs } => {
                let o = self.object(*cid, oid, true)?;
                o.attrs.extend(attrs.iter().cloned());
            }
            Op::RmAttr { cid, oid, name } => {
                self.object(*cid, oid, false)?.attrs.remove(name);
            }
            Op::RmAttrs { cid, oid } => self.object(*cid, oid, false)?.attrs.clear(),
            Op::OmapSetKeys { cid, oid, entries } => {
                let o = self.object(*cid, oid, true)?;
                for (k, v) in entries {
                    o.omap.insert(k.to_vec(), v.to_vec());
                }
            }
            Op::OmapRmKeys { cid, oid, keys } => {
                let o = self.object(*cid, oid, false)?;
                for k in keys {
                    o.omap.remove(k.as_ref());
                }
            }
            Op::OmapRmKeyRange {
                cid,
                oid,
                first,
                last,
            } => {
                let o = self.object(*cid, oid, false)?;
                if first < last {
                    let doomed: Vec<Vec<u8>> = o
                        .omap
                        .range::<[u8], _>((Bound::Included(&first[..]), Bound::Excluded(&last[..])))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in doomed {
                        o.omap.remove(&k);
                    }
                }
            }
            Op::OmapClear { cid, oid } => {
                let o = self.object(*cid, oid, false)?;
                o.omap.clear();
                o.header = Bytes::new();
            }
            Op::OmapSetHeader { cid, oid, header } => {
                self.object(*cid, oid, true)?.header = header.clone();
            }
            Op::Clone { cid, src, dst } => {
                if src == dst {
                    return Err(StoreError::invalid(format!("clone of {src} onto itself")));
                }
                let copy = self.object(*cid, src, false)?.clone();
                let o = self.object(*cid, dst, true)?;
                *o = MemObject { version: 0, ..copy };
            }
            Op::CloneRange {
                cid,
                src,
                dst,
                src_offset,
                len,
                dst_offset,
            } => {
                let dst_end = check_clone_range(src, dst, *src_offset, *len, *dst_offset)?;
                let s = self.object(*cid, src, false)?;
                let from = (*src_offset as usize).min(s.data.len());
                let to = (src_offset + len).min(s.data.len() as u64) as usize;
                let mut bytes = s.data[from..to].to_vec();
                bytes.resize(*len as usize, 0);
                let o = self.object(*cid, dst, true)?;
                if (o.data.len() as u64) < dst_end {
                    o.data.resize(dst_end as usize, 0);
                }
                o.data[*dst_offset as usize..dst_end as usize].copy_from_slice(&bytes);
            }
            Op::CreateCollection { cid, bits } => {
                if self.st.colls.contains_key(cid) {
                    return Err(StoreError::CollectionExists { collection: *cid });
                }
                if *bits > 32 {
                    return Err(StoreError::invalid(format!("collection bits {bits} > 32")));
                }
                self.save_coll(*cid);
                self.st.colls.insert(*cid, *bits);
            }
            Op::RemoveCollection { cid } => {
                let bits = self.bits(*cid)?;
                let nonempty = self
                    .st
                    .objects
                    .keys()
                    .any(|o| in_collection(*cid, bits, o.pool, o.hash));
                if nonempty {
                    return Err(StoreError::CollectionNotEmpty { collection: *cid });
                }
                self.save_coll(*cid);
                self.st.colls.remove(cid);
            }
            Op::SplitCollection { cid, bits, dest } => {
                let old = self.bits(*cid)?;
                self.bits(*dest)?;
                check_split(*cid, old, *bits, *dest)?;
                self.save_coll(*cid);
                self.save_coll(*dest);
                self.st.colls.insert(*cid, *bits);
                self.st.colls.insert(*dest, *bits);
            }
            Op::MoveRename {
                src_cid,
                src,
                dst_cid,
                dst,
            } => {
                let obj = self.object(*src_cid, src, false)?.clone();
                check_member(*dst_cid, self.bits(*dst_cid)?, dst)?;
                if src != dst && self.st.objects.contains_key(dst) {
                    return Err(StoreError::ObjectExists {
                        object: dst.clone().into(),
                    });
                }
                self.st.objects.remove(src);
                self.save(dst);
                self.st.objects.insert(dst.clone(), obj);
            }
        }
        Ok(())
    }

    fn rollback(self) {
        for u in self.undo.into_iter().rev() {
            match u {
                Undo::Object(oid, Some(o)) => {
                    self.st.objects.insert(oid, o);
                }
                Undo::Object(oid, None) => {
                    self.st.objects.remove(&oid);
                }
                Undo::Coll(cid, Some(b)) => {
                    self.st.colls.insert(cid, b);
                }
                Undo::Coll(cid, None) => {
                    self.st.colls.remove(&cid);
                }
            }
        }
    }
}

impl MemStore {
    fn get<'a>(st: &'a MemState, cid: CollectionId, oid: &ObjectId) -> StoreResult<&'a MemObject> {
        let bits = *st
            .colls
            .get(&cid)
            .ok_or(StoreError::CollectionNotFound { collection: cid })?;
        check_member(cid, bits, oid)?;
        st.objects
            .get(oid)
            .ok_or_else(|| StoreError::ObjectNotFound {
                object: oid.clone().into(),
            })
    }
}

impl ObjectStore for MemStore {
    fn queue_transaction(&self, txn: Transaction) -> StoreResult<Commit> {
        let mut st = self.lock();
        let mut a = Applier {
            st: &mut st,
            undo: Vec::new(),
            saved: BTreeSet::new(),
            touched: BTreeSet::new(),
            mtimes: BTreeMap::new(),
        };
        for op in &txn.ops {
            if let Err(e) = a.apply(op) {
                a.rollback();
                return Err(e);
            }
        }
        let mtime = txn.mtime_ns.unwrap_or_else(now_ns);
        for oid in &a.touched {
            if let Some(o) = a.st.objects.get_mut(oid) {
                o.version += 1;
                o.mtime_ns = a.mtimes.get(oid).copied().unwrap_or(mtime);
            }
        }
        Ok(Commit::done(Ok(())))
    }

    fn list_collections(&self) -> StoreResult<Vec<CollectionId>> {
        Ok(self.lock().colls.keys().copied().collect())
    }

    fn collection_bits(&self, cid: CollectionId) -> StoreResult<u32> {
        self.lock()
            .colls
            .get(&cid)
            .copied()
            .ok_or(StoreError::CollectionNotFound { collection: cid })
    }

    fn exists(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<bool> {
        match Self::get(&self.lock(), cid, oid) {
            Ok(_) => Ok(true),
            Err(StoreError::ObjectNotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn stat(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<ObjectStat> {
        let st = self.lock();
        let o = Self::get(&st, cid, oid)?;
        Ok(ObjectStat {
            size: o.data.len() as u64,
            mtime_ns: o.mtime_ns,
            version: o.version,
        })
    }

    fn read(&self, cid: CollectionId, oid: &ObjectId, offset: u64, len: u64) -> StoreResult<Bytes> {
        let st = self.lock();
        let o = Self::get(&st, cid, oid)?;
        let size = o.data.len() as u64;
        let from = offset.min(size) as usize;
        let to = offset.saturating_add(len).min(size) as usize;
        check_read_len(oid, (to - from) as u64)?;
        Ok(Bytes::copy_from_slice(&o.data[from..to]))
    }

    fn getattr(&self, cid: CollectionId, oid: &ObjectId, name: &str) -> StoreResult<Bytes> {
        let st = self.lock();
        Self::get(&st, cid, oid)?
            .attrs
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::AttrNotFound {
                object: oid.clone().into(),
                name: name.to_string(),
            })
    }

    fn getattrs(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<BTreeMap<String, Bytes>> {
        Ok(Self::get(&self.lock(), cid, oid)?.attrs.clone())
    }

    fn omap_get_header(&self, cid: CollectionId, oid: &ObjectId) -> StoreResult<Bytes> {
        Ok(Self::get(&self.lock(), cid, oid)?.header.clone())
    }

    fn omap_get_values(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        keys: &[Bytes],
    ) -> StoreResult<BTreeMap<Bytes, Bytes>> {
        let st = self.lock();
        let o = Self::get(&st, cid, oid)?;
        Ok(keys
            .iter()
            .filter_map(|k| {
                o.omap
                    .get(k.as_ref())
                    .map(|v| (k.clone(), Bytes::copy_from_slice(v)))
            })
            .collect())
    }

    fn omap_list(
        &self,
        cid: CollectionId,
        oid: &ObjectId,
        start_after: Option<&[u8]>,
        prefix: Option<&[u8]>,
        max: usize,
    ) -> StoreResult<OmapPage> {
        let st = self.lock();
        let o = Self::get(&st, cid, oid)?;
        let lower = match start_after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let prefix = prefix.unwrap_or(&[]);
        let mut page = OmapPage::default();
        for (k, v) in o.omap.range::<[u8], _>((lower, Bound::Unbounded)) {
            if !k.starts_with(prefix) {
                if k.as_slice() > prefix {
                    break;
                }
                continue;
            }
            if page.entries.len() == max {
                page.more = true;
                break;
            }
            page.entries.push((k.clone(), v.clone()));
        }
        Ok(page)
    }

    fn list_objects(
        &self,
        cid: CollectionId,
        cursor: &ListCursor,
        max: usize,
    ) -> StoreResult<ListPage> {
        let st = self.lock();
        let bits = *st
            .colls
            .get(&cid)
            .ok_or(StoreError::CollectionNotFound { collection: cid })?;
        let lower = match cursor {
            ListCursor::Start => Bound::Unbounded,
            ListCursor::After(o) => Bound::Excluded(o),
        };
        let mut objects = Vec::new();
        let mut more = false;
        for o in st.objects.range((lower, Bound::Unbounded)).map(|(o, _)| o) {
            if !in_collection(cid, bits, o.pool, o.hash) {
                continue;
            }
            if objects.len() == max {
                more = true;
                break;
            }
            objects.push(o.clone());
        }
        Ok(ListPage::new(objects, more, cursor))
    }

    fn statfs(&self) -> StoreResult<StoreStats> {
        let st = self.lock();
        let data_bytes: u64 = st.objects.values().map(|o| o.data.len() as u64).sum();
        Ok(StoreStats {
            total_bytes: u64::MAX,
            used_bytes: data_bytes,
            available_bytes: u64::MAX - data_bytes,
            reserved_bytes: 0,
            data_bytes,
            objects: st.objects.len() as u64,
        })
    }

    fn verify(&self) -> StoreResult<VerifyReport> {
        let st = self.lock();
        Ok(VerifyReport {
            objects_checked: st.objects.len() as u64,
            bytes_checked: st.objects.values().map(|o| o.data.len() as u64).sum(),
            problems: Vec::new(),
        })
    }
}

//! Turning a [`crate::Transaction`] into one atomic list of engine writes.
//!
//! Runs under the store's writer lock, so it sees every earlier transaction. Changes are staged
//! in overlays (onodes, chunks, omap entries, collections, slot reference deltas) that later
//! operations of the same transaction read through; nothing reaches the engine unless every
//! operation succeeded. Full chunks of large writes were already written to fresh slots and
//! synced before the lock was taken ([`Prewritten`]); here they are only referenced.

use super::format::*;
use super::keys::*;
use super::pending::{Ks, Write1};
use super::read::{chunk_bytes, object_bytes};
use super::Shared;
use crate::error::{StoreError, StoreResult};
use crate::transaction::{check_extent, check_member, check_split, Op};
use crate::types::{in_collection, CollectionId, ObjectId};
use bytes::Bytes;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;

/// Full chunks of the transaction's writes already on disk: op index → (chunk, slot, crcs).
#[derive(Default)]
pub struct Prewritten {
    pub per_op: HashMap<usize, Vec<(u32, u64, Vec<u32>)>>,
    pub slots: Vec<u64>,
}

/// A prepared transaction: its engine writes and what changes in memory once they commit.
pub struct Staged {
    pub writes: Vec<Write1>,
    pub refcounts: Vec<(u64, u32)>,
    pub freed: Vec<u64>,
    pub colls: Vec<(CollectionId, Option<u32>)>,
    pub nid_next: u64,
    pub nid_max: u64,
    pub objects_delta: i64,
    pub data_bytes_delta: i64,
}

/// New reference counts `(slot, count)` and slots whose last reference went away.
type RefUpdate = (Vec<(u64, u32)>, Vec<u64>);

pub struct Ctx<'a> {
    sh: &'a Shared,
    onodes: HashMap<ObjectId, Option<Onode>>,
    /// The onode sizes as the engine holds them (None: absent), for the statistics.
    orig: HashMap<ObjectId, Option<u64>>,
    chunks: BTreeMap<(u64, u32), Option<Chunk>>,
    omap: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    colls: BTreeMap<CollectionId, Option<u32>>,
    refs: HashMap<u64, i64>,
    reserved: HashSet<u64>,
    touched: BTreeSet<ObjectId>,
    /// Slots written while applying (inline chunks moved out so a clone can share them); like
    /// prewritten slots, the block file is synced before the batch referencing them commits.
    late_slots: Vec<u64>,
    /// Objects given their own modification time.
    mtimes: HashMap<ObjectId, u64>,
    nid_next: u64,
    nid_max: u64,
}

impl<'a> Ctx<'a> {
    pub fn new(sh: &'a Shared, nid_next: u64, nid_max: u64, pre: &Prewritten) -> Self {
        Ctx {
            sh,
            onodes: HashMap::new(),
            orig: HashMap::new(),
            chunks: BTreeMap::new(),
            omap: BTreeMap::new(),
            colls: BTreeMap::new(),
            refs: HashMap::new(),
            reserved: pre.slots.iter().copied().collect(),
            touched: BTreeSet::new(),
            late_slots: Vec::new(),
            mtimes: HashMap::new(),
            nid_next,
            nid_max,
        }
    }

    fn bits(&self, cid: CollectionId) -> StoreResult<u32> {
        let b = match self.colls.get(&cid) {
            Some(b) => *b,
            None => self.sh.coll_bits(cid),
        };
        b.ok_or(StoreError::CollectionNotFound { collection: cid })
    }

    fn load(&mut self, oid: &ObjectId) -> StoreResult<Option<Onode>> {
        if let Some(o) = self.onodes.get(oid) {
            return Ok(o.clone());
        }
        let o = self.sh.get_onode(oid)?;
        self.orig.insert(oid.clone(), o.as_ref().map(|o| o.size));
        self.onodes.insert(oid.clone(), o.clone());
        Ok(o)
    }

    fn obj(&mut self, cid: CollectionId, oid: &ObjectId, create: bool) -> StoreResult<Onode> {
        check_member(cid, self.bits(cid)?, oid)?;
        let o = match self.load(oid)? {
            Some(o) => o,
            None if create => {
                self.nid_next += 1;
                Onode::new(self.nid_next)
            }
            None => {
                return Err(StoreError::ObjectNotFound {
                    object: oid.clone().into(),
                })
            }
        };
        self.touched.insert(oid.clone());
        Ok(o)
    }

    fn put(&mut self, oid: &ObjectId, o: Option<Onode>) {
        self.onodes.insert(oid.clone(), o);
    }

    fn chunk(&self, oid: &ObjectId, nid: u64, idx: u32) -> StoreResult<Option<Chunk>> {
        match self.chunks.get(&(nid, idx)) {
            Some(c) => Ok(c.clone()),
            None => self.sh.get_chunk(oid, nid, idx),
        }
    }

    fn set_chunk(
        &mut self,
        oid: &ObjectId,
        nid: u64,
        idx: u32,
        c: Option<Chunk>,
    ) -> StoreResult<()> {
        if let Some(Chunk::Slot { slot, .. }) = self.chunk(oid, nid, idx)? {
            *self.refs.entry(slot).or_default() -= 1;
        }
        if let Some(Chunk::Slot { slot, .. }) = &c {
            *self.refs.entry(*slot).or_default() += 1;
        }
        self.chunks.insert((nid, idx), c);
        Ok(())
    }

    /// Stores `content` as chunk `idx` of `nid`, inline in the engine.
    fn set_inline_chunk(
        &mut self,
        oid: &ObjectId,
        nid: u64,
        idx: u32,
        content: Vec<u8>,
    ) -> StoreResult<()> {
        self.set_chunk(oid, nid, idx, Some(Chunk::Inline(InlineData::new(content))))
    }

    /// Every chunk of `nid`, engine and overlay merged, in one scan.
    fn chunks_of(&self, oid: &ObjectId, nid: u64) -> StoreResult<BTreeMap<u32, Chunk>> {
        let mut out = BTreeMap::new();
        let mut bad = None;
        let (lo, hi) = (data_key(nid, 0), data_key(nid + 1, 0));
        self.sh
            .scan_in(
                &self.sh.pending_read(),
                Ks::Data,
                &lo,
                Some(&hi),
                |key, v| {
                    if let Some((_, idx)) = decode_data_key(key) {
                        match decode_record(v) {
                            Ok(c) => {
                                out.insert(idx, c);
                            }
                            Err(detail) => {
                                bad = Some(format!("chunk {idx}: {detail}"));
                                return false;
                            }
                        }
                    }
                    true
                },
            )
            .map_err(|e| StoreError::Engine {
                detail: e.to_string(),
            })?;
        if let Some(detail) = bad {
            return Err(corrupt(oid, detail));
        }
        for ((_, idx), c) in self.chunks.range((nid, 0)..=(nid, u32::MAX)) {
            match c {
                Some(c) => out.insert(*idx, c.clone()),
                None => out.remove(idx),
            };
        }
        Ok(out)
    }

    fn chunk_indices(&self, nid: u64) -> StoreResult<BTreeSet<u32>> {
        let mut set = BTreeSet::new();
        let (lo, hi) = (data_key(nid, 0), data_key(nid + 1, 0));
        self.sh
            .scan_keys_in(&self.sh.pending_read(), Ks::Data, &lo, Some(&hi), |key| {
                if let Some((_, idx)) = decode_data_key(key) {
                    set.insert(idx);
                }
                true
            })?;
        for ((n, idx), c) in self.chunks.range((nid, 0)..=(nid, u32::MAX)) {
            debug_assert_eq!(*n, nid);
            if c.is_some() {
                set.insert(*idx);
            } else {
                set.remove(idx);
            }
        }
        Ok(set)
    }

    /// Omap records (header and entries) of `nid` under `prefix`, engine and overlay merged.
    fn omap_records(&self, prefix: &[u8]) -> StoreResult<BTreeMap<Vec<u8>, Vec<u8>>> {
        let mut m = BTreeMap::new();
        let upper = prefix_end(prefix);
        self.sh.scan_in(
            &self.sh.pending_read(),
            Ks::Omap,
            prefix,
            upper.as_deref(),
            |k, v| {
                m.insert(k.to_vec(), v.to_vec());
                true
            },
        )?;
        let range = (
            Bound::Included(prefix.to_vec()),
            upper.map_or(Bound::Unbounded, Bound::Excluded),
        );
        for (k, v) in self.omap.range(range) {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
        Ok(m)
    }

    fn bytes_of(&self, oid: &ObjectId, o: &Onode, offset: u64, len: u64) -> StoreResult<Vec<u8>> {
        object_bytes(&self.sh.block, oid, o, offset, len, |idx| {
            self.chunk(oid, o.nid, idx)
        })
    }

    fn chunk_content(&self, oid: &ObjectId, nid: u64, idx: u32) -> StoreResult<Vec<u8>> {
        match self.chunk(oid, nid, idx)? {
            Some(c) => chunk_bytes(&self.sh.block, oid, idx, &c, 0, CHUNK_SIZE),
            None => Ok(Vec::new()),
        }
    }

    fn ensure_chunked(&mut self, oid: &ObjectId, o: &mut Onode) -> StoreResult<()> {
        if let Some(inline) = o.inline.take() {
            let bytes = inline.verified().map_err(|detail| StoreError::Corrupt {
                object: oid.clone().into(),
                detail,
            })?;
            if !bytes.is_empty() {
                let c = Chunk::Inline(InlineData::new(bytes.to_vec()));
                self.set_chunk(oid, o.nid, 0, Some(c))?;
            }
        }
        Ok(())
    }

    fn write(
        &mut self,
        oid: &ObjectId,
        o: &mut Onode,
        offset: u64,
        data: &[u8],
        pre: &[(u32, u64, Vec<u32>)],
    ) -> StoreResult<()> {
        let end = check_extent(oid, offset, data.len() as u64)?;
        if let Some(inline) = &o.inline {
            if end.max(o.size) <= INLINE_MAX {
                let mut bytes = inline.verified().map_err(|d| corrupt(oid, d))?.to_vec();
                if bytes.len() < end as usize {
                    bytes.resize(end as usize, 0);
                }
                bytes[offset as usize..end as usize].copy_from_slice(data);
                o.inline = Some(InlineData::new(bytes));
                o.size = o.size.max(end);
                return Ok(());
            }
        }
        self.ensure_chunked(oid, o)?;
        if !data.is_empty() {
            for idx in (offset / CHUNK_SIZE)..=((end - 1) / CHUNK_SIZE) {
                let idx = idx as u32;
                if let Some((_, slot, crcs)) = pre.iter().find(|(c, _, _)| *c == idx) {
                    let c = Chunk::Slot {
                        slot: *slot,
                        len: CHUNK_SIZE as u32,
                        crcs: crcs.clone(),
                    };
                    self.set_chunk(oid, o.nid, idx, Some(c))?;
                    continue;
                }
                let cstart = u64::from(idx) * CHUNK_SIZE;
                let from = offset.max(cstart);
                let to = end.min(cstart + CHUNK_SIZE);
                let mut content = self.chunk_content(oid, o.nid, idx)?;
                let need = (to - cstart) as usize;
                if content.len() < need {
                    content.resize(need, 0);
                }
                content[(from - cstart) as usize..need]
                    .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
                self.set_inline_chunk(oid, o.nid, idx, content)?;
            }
        }
        o.size = o.size.max(end);
        Ok(())
    }

    fn zero(&mut self, oid: &ObjectId, o: &mut Onode, offset: u64, len: u64) -> StoreResult<()> {
        let end = check_extent(oid, offset, len)?;
        if let Some(inline) = &o.inline {
            let mut bytes = inline.verified().map_err(|d| corrupt(oid, d))?.to_vec();
            let stop = (end as usize).min(bytes.len());
            if (offset as usize) < stop {
                bytes[offset as usize..stop].fill(0);
            }
            o.inline = Some(InlineData::new(bytes));
        } else if len > 0 {
            let first = (offset / CHUNK_SIZE) as u32;
            let last = ((end - 1) / CHUNK_SIZE) as u32;
            for idx in self
                .chunk_indices(o.nid)?
                .range(first..=last)
                .copied()
                .collect::<Vec<_>>()
            {
                let cstart = u64::from(idx) * CHUNK_SIZE;
                let from = offset.max(cstart) - cstart;
                let to = end.min(cstart + CHUNK_SIZE) - cstart;
                if from == 0 && to == CHUNK_SIZE {
                    self.set_chunk(oid, o.nid, idx, None)?;
                    continue;
                }
                let mut content = self.chunk_content(oid, o.nid, idx)?;
                let stop = (to as usize).min(content.len());
                if (from as usize) < stop {
                    content[from as usize..stop].fill(0);
                    self.set_inline_chunk(oid, o.nid, idx, content)?;
                }
            }
        }
        o.size = o.size.max(end);
        Ok(())
    }

    fn truncate(&mut self, oid: &ObjectId, o: &mut Onode, size: u64) -> StoreResult<()> {
        check_extent(oid, size, 0)?;
        if let Some(inline) = &o.inline {
            let mut bytes = inline.verified().map_err(|d| corrupt(oid, d))?.to_vec();
            bytes.truncate(size as usize);
            o.inline = Some(InlineData::new(bytes));
        } else {
            for idx in self.chunk_indices(o.nid)? {
                let cstart = u64::from(idx) * CHUNK_SIZE;
                if cstart >= size {
                    self.set_chunk(oid, o.nid, idx, None)?;
                } else if size - cstart < CHUNK_SIZE {
                    let mut content = self.chunk_content(oid, o.nid, idx)?;
                    if content.len() as u64 > size - cstart {
                        content.truncate((size - cstart) as usize);
                        self.set_inline_chunk(oid, o.nid, idx, content)?;
                    }
                }
            }
        }
        o.size = size;
        Ok(())
    }

    /// Drops an object's data and omap records (the onode is the caller's).
    fn drop_contents(&mut self, oid: &ObjectId, o: &Onode) -> StoreResult<()> {
        for idx in self.chunk_indices(o.nid)? {
            self.set_chunk(oid, o.nid, idx, None)?;
        }
        for k in self.omap_records(&o.nid.to_be_bytes())?.into_keys() {
            self.omap.insert(k, None);
        }
        Ok(())
    }

    fn clone_object(
        &mut self,
        cid: CollectionId,
        src: &ObjectId,
        dst: &ObjectId,
    ) -> StoreResult<()> {
        if src == dst {
            return Err(StoreError::invalid(format!("clone of {src} onto itself")));
        }
        let s = self.obj(cid, src, false)?;
        check_member(cid, self.bits(cid)?, dst)?;
        if let Some(old) = self.load(dst)? {
            self.drop_contents(dst, &old)?;
        }
        self.nid_next += 1;
        let d = Onode {
            nid: self.nid_next,
            version: 0,
            ..s.clone()
        };
        for (idx, c) in self.chunks_of(src, s.nid)? {
            let mut c = Some(c);
            if let Some(Chunk::Inline(data)) = &c {
                // Inline chunks cannot be shared: move the chunk into a slot that both use, so
                // a clone never copies data (and later clones share it too).
                let bytes = data.verified().map_err(|d| corrupt(src, d))?.to_vec();
                let slot = self.late_slot(&bytes)?;
                let shared = Chunk::Slot {
                    slot,
                    len: bytes.len() as u32,
                    crcs: super::format::block_crcs(&bytes),
                };
                self.set_chunk(src, s.nid, idx, Some(shared.clone()))?;
                c = Some(shared);
            }
            // `d.nid` is new: nothing to release, so no lookup of an old chunk.
            if let Some(Chunk::Slot { slot, .. }) = &c {
                *self.refs.entry(*slot).or_default() += 1;
            }
            self.chunks.insert((d.nid, idx), c);
        }
        let src_prefix = s.nid.to_be_bytes();
        for (k, v) in self.omap_records(&src_prefix)? {
            let mut nk = d.nid.to_be_bytes().to_vec();
            nk.extend_from_slice(&k[8..]);
            self.omap.insert(nk, Some(v));
        }
        self.touched.insert(dst.clone());
        self.put(dst, Some(d));
        Ok(())
    }

    /// Writes `bytes` into a fresh slot of the block file; it counts as prewritten.
    fn late_slot(&mut self, bytes: &[u8]) -> StoreResult<u64> {
        let runs = self.sh.lock_alloc().allocate(1);
        let Some(run) = runs.first().copied() else {
            return Err(StoreError::Engine {
                detail: "no free slot in the block file".into(),
            });
        };
        self.late_slots.push(run.start);
        self.reserved.insert(run.start);
        self.sh.block.write_slots(run.start, bytes)?;
        Ok(run.start)
    }

    /// The slots written while applying (see [`Ctx::late_slot`]).
    pub fn late_slots(&self) -> &[u64] {
        &self.late_slots
    }

    fn remove_collection(&mut self, cid: CollectionId) -> StoreResult<()> {
        let bits = self.bits(cid)?;
        let (start, end) = collection_range(cid, bits);
        let mut nonempty = false;
        self.sh.scan_keys_in(
            &self.sh.pending_read(),
            Ks::Onode,
            &start,
            Some(&end),
            |key| {
                let removed_here = decode_onode_key(key)
                    .is_some_and(|oid| matches!(self.onodes.get(&oid), Some(None)));
                nonempty = !removed_here;
                !nonempty
            },
        )?;
        if nonempty {
            return Err(StoreError::CollectionNotEmpty { collection: cid });
        }
        let created = self
            .onodes
            .iter()
            .any(|(o, v)| v.is_some() && in_collection(cid, bits, o.pool, o.hash));
        if created {
            return Err(StoreError::CollectionNotEmpty { collection: cid });
        }
        self.colls.insert(cid, None);
        Ok(())
    }

    fn omap_op(&mut self, op: &Op) -> StoreResult<()> {
        let (cid, oid, create) = match op {
            Op::OmapSetKeys { cid, oid, .. } | Op::OmapSetHeader { cid, oid, .. } => {
                (*cid, oid, true)
            }
            Op::OmapRmKeys { cid, oid, .. }
            | Op::OmapRmKeyRange { cid, oid, .. }
            | Op::OmapClear { cid, oid } => (*cid, oid, false),
            _ => return Err(StoreError::invalid("not an omap operation")),
        };
        let o = self.obj(cid, oid, create)?;
        let nid = o.nid;
        match op {
            Op::OmapSetKeys { entries, .. } => {
                for (k, v) in entries {
                    self.omap.insert(omap_entry_key(nid, k), Some(v.to_vec()));
                }
            }
            Op::OmapSetHeader { header, .. } => {
                self.omap
                    .insert(omap_header_key(nid), Some(header.to_vec()));
            }
            Op::OmapRmKeys { keys, .. } => {
                for k in keys {
                    self.omap.insert(omap_entry_key(nid, k), None);
                }
            }
            Op::OmapRmKeyRange { first, last, .. } => {
                if first < last {
                    let (lo, hi) = (omap_entry_key(nid, first), omap_entry_key(nid, last));
                    let doomed: Vec<Vec<u8>> = self
                        .omap_records(&omap_entry_prefix(nid))?
                        .into_keys()
                        .filter(|k| *k >= lo && *k < hi)
                        .collect();
                    for k in doomed {
                        self.omap.insert(k, None);
                    }
                }
            }
            _ => {
                for k in self.omap_records(&nid.to_be_bytes())?.into_keys() {
                    self.omap.insert(k, None);
                }
            }
        }
        self.put(oid, Some(o));
        Ok(())
    }

    pub fn apply(&mut self, index: usize, op: &Op, pre: &Prewritten) -> StoreResult<()> {
        match op {
            Op::Touch { cid, oid } => {
                let o = self.obj(*cid, oid, true)?;
                self.put(oid, Some(o));
            }
            Op::SetMtime { cid, oid, mtime_ns } => {
                let o = self.obj(*cid, oid, false)?;
                self.put(oid, Some(o));
                self.mtimes.insert(oid.clone(), *mtime_ns);
            }
            Op::Write {
                cid,
                oid,
                offset,
                data,
            } => {
                let mut o = self.obj(*cid, oid, true)?;
                let none = Vec::new();
                let p = pre.per_op.get(&index).unwrap_or(&none);
                self.write(oid, &mut o, *offset, data, p)?;
                self.put(oid, Some(o));
            }
            Op::Zero {
                cid,
                oid,
                offset,
                len,
            } => {
                let mut o = self.obj(*cid, oid, true)?;
                self.zero(oid, &mut o, *offset, *len)?;
                self.put(oid, Some(o));
            }
            Op::Truncate { cid, oid, size } => {
                let mut o = self.obj(*cid, oid, true)?;
                self.truncate(oid, &mut o, *size)?;
                self.put(oid, Some(o));
            }
            Op::Remove { cid, oid } => {
                let o = self.obj(*cid, oid, false)?;
                self.drop_contents(oid, &o)?;
                self.put(oid, None);
            }
            Op::SetAttrs { cid, oid, attrs } => {
                let mut o = self.obj(*cid, oid, true)?;
                for (k, v) in attrs {
                    o.attrs.insert(k.clone(), ByteBuf::from(v.to_vec()));
                }
                self.put(oid, Some(o));
            }
            Op::RmAttr { cid, oid, name } => {
                let mut o = self.obj(*cid, oid, false)?;
                o.attrs.remove(name);
                self.put(oid, Some(o));
            }
            Op::RmAttrs { cid, oid } => {
                let mut o = self.obj(*cid, oid, false)?;
                o.attrs.clear();
                self.put(oid, Some(o));
            }
            Op::OmapSetKeys { .. }
            | Op::OmapRmKeys { .. }
            | Op::OmapRmKeyRange { .. }
            | Op::OmapClear { .. }
            | Op::OmapSetHeader { .. } => self.omap_op(op)?,
            Op::Clone { cid, src, dst } => self.clone_object(*cid, src, dst)?,
            Op::CloneRange {
                cid,
                src,
                dst,
                src_offset,
                len,
                dst_offset,
            } => {
                // Its extents and length were checked before staging (`check_shape`).
                let s = self.obj(*cid, src, false)?;
                let mut bytes = self.bytes_of(src, &s, *src_offset, *len)?;
                bytes.resize(*len as usize, 0);
                let mut d = self.obj(*cid, dst, true)?;
                self.write(dst, &mut d, *dst_offset, &bytes, &[])?;
                self.put(dst, Some(d));
            }
            Op::CreateCollection { cid, bits } => {
                if self.bits(*cid).is_ok() {
                    return Err(StoreError::CollectionExists { collection: *cid });
                }
                if *bits > 32 {
                    return Err(StoreError::invalid(format!("collection bits {bits} > 32")));
                }
                self.colls.insert(*cid, Some(*bits));
            }
            Op::RemoveCollection { cid } => self.remove_collection(*cid)?,
            Op::SplitCollection { cid, bits, dest } => {
                let old = self.bits(*cid)?;
                self.bits(*dest)?;
                check_split(*cid, old, *bits, *dest)?;
                self.colls.insert(*cid, Some(*bits));
                self.colls.insert(*dest, Some(*bits));
            }
            Op::MoveRename {
                src_cid,
                src,
                dst_cid,
                dst,
            } => {
                let o = self.obj(*src_cid, src, false)?;
                check_member(*dst_cid, self.bits(*dst_cid)?, dst)?;
                if src != dst && self.load(dst)?.is_some() {
                    return Err(StoreError::ObjectExists {
                        object: dst.clone().into(),
                    });
                }
                self.put(src, None);
                self.touched.insert(dst.clone());
                self.put(dst, Some(o));
            }
        }
        Ok(())
    }

    /// Lists the engine writes: every staged change, reference counts, the node id high mark.
    pub fn finish(mut self, mtime_ns: u64) -> StoreResult<Staged> {
        let mut writes: Vec<Write1> = Vec::new();
        for oid in &self.touched {
            if let Some(Some(o)) = self.onodes.get_mut(oid) {
                o.version += 1;
                o.mtime_ns = self.mtimes.get(oid).copied().unwrap_or(mtime_ns);
            }
        }
        let (mut objects_delta, mut data_bytes_delta) = (0i64, 0i64);
        for (oid, o) in &self.onodes {
            let before = self.orig.get(oid).copied().flatten();
            objects_delta += i64::from(o.is_some()) - i64::from(before.is_some());
            data_bytes_delta +=
                o.as_ref().map_or(0, |o| o.size as i64) - before.unwrap_or(0) as i64;
            if o.is_some() || before.is_some() {
                writes.push((
                    Ks::Onode,
                    onode_key(oid),
                    o.as_ref().map(|o| Bytes::from(encode_record(o))),
                ));
            }
        }
        for ((nid, idx), c) in &self.chunks {
            writes.push((
                Ks::Data,
                data_key(*nid, *idx).to_vec(),
                c.as_ref().map(|c| Bytes::from(encode_record(c))),
            ));
        }
        for (k, v) in std::mem::take(&mut self.omap) {
            writes.push((Ks::Omap, k, v.map(Bytes::from)));
        }
        for (cid, bits) in &self.colls {
            writes.push((
                Ks::Meta,
                coll_key(*cid),
                bits.map(|b| Bytes::copy_from_slice(&b.to_le_bytes())),
            ));
        }
        let (refcounts, freed) = self.refcounts(&mut writes)?;
        let mut nid_max = self.nid_max;
        if self.nid_next >= nid_max {
            nid_max = self.nid_next + 1024;
            writes.push((
                Ks::Meta,
                META_NID_MAX.to_vec(),
                Some(Bytes::copy_from_slice(&nid_max.to_le_bytes())),
            ));
        }
        Ok(Staged {
            writes,
            refcounts,
            freed,
            colls: self.colls.into_iter().collect(),
            nid_next: self.nid_next,
            nid_max,
            objects_delta,
            data_bytes_delta,
        })
    }

    fn refcounts(&self, writes: &mut Vec<Write1>) -> StoreResult<RefUpdate> {
        let alloc = self.sh.lock_alloc();
        let mut counts = Vec::new();
        let mut freed: Vec<u64> = self
            .reserved
            .iter()
            .filter(|s| !self.refs.contains_key(s))
            .copied()
            .collect();
        for (&slot, &delta) in &self.refs {
            let old = if self.reserved.contains(&slot) {
                0
            } else {
                i64::from(alloc.refcount(slot))
            };
            let new = old + delta;
            if !(0..=i64::from(u32::MAX)).contains(&new) {
                return Err(StoreError::Engine {
                    detail: format!("slot {slot} reference count would become {new}"),
                });
            }
            if new == 0 {
                freed.push(slot);
                if old > 0 {
                    writes.push((Ks::Alloc, alloc_key(slot).to_vec(), None));
                }
            } else if new != old {
                writes.push((
                    Ks::Alloc,
                    alloc_key(slot).to_vec(),
                    Some(Bytes::copy_from_slice(&(new as u32).to_le_bytes())),
                ));
                counts.push((slot, new as u32));
            }
        }
        Ok((counts, freed))
    }
}

fn corrupt(oid: &ObjectId, detail: String) -> StoreError {
    StoreError::Corrupt {
        object: oid.clone().into(),
        detail,
    }
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

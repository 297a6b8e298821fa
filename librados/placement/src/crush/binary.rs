//! Ceph's binary CRUSH map encoding (what `crushtool -c` writes and `ceph osd getcrushmap` returns).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! u32 magic = 0x00010000
//! s32 max_buckets, u32 max_rules, s32 max_devices
//! max_buckets × bucket slot:
//!     u32 alg (0 = empty slot), then s32 id, u16 type, u8 alg, u8 hash, u32 weight, u32 size,
//!     size × s32 item, then by alg: uniform u32 item_weight | list size × (u32 weight, u32 sum)
//!     | tree u8 num_nodes, num_nodes × u32 | straw size × (u32 weight, u32 straw) | straw2 size × u32
//! max_rules × rule slot:
//!     u32 present; if 1: u32 len, u8 ruleset, u8 type, u8 min_size, u8 max_size,
//!     len × (u32 op, s32 arg1, s32 arg2)
//! map<s32,string> type names, item names, rule names   (u32 count, then s32 key, u32 len, bytes)
//! tunables (each optional at the end for old encodings): u32 choose_local_tries,
//!     u32 choose_local_fallback_tries, u32 choose_total_tries, u32 chooseleaf_descend_once,
//!     u8 chooseleaf_vary_r, u8 straw_calc_version, u32 allowed_bucket_algs, u8 chooseleaf_stable
//! map<s32,s32> class_map, map<s32,string> class names, map<s32,map<s32,s32>> class_bucket
//! u32 n, n × choose_args: s64 index, u32 count, count × (u32 bucket slot, u32 positions,
//!     positions × (u32 n, n × u32 weight), u32 n_ids, n_ids × s32 id)
//! ```
//!
//! Decoding never trusts a length: every count is checked against the bytes left before anything
//! is allocated, and the result is validated before it is returned.

use super::bucket::{Bucket, BucketAlg, BucketData};
use super::error::CrushError;
use super::map::{slot_of, ChooseArg, ChooseArgMap, CrushMap, MAX_BUCKETS, MAX_DEVICES};
use super::rule::{Rule, Step};
use super::tunables::LEGACY_ALLOWED_BUCKET_ALGS;
use std::collections::BTreeMap;

const CRUSH_MAGIC: u32 = 0x0001_0000;

/// Whether `bytes` look like a binary map (as opposed to text).
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == CRUSH_MAGIC
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, message: impl Into<String>) -> CrushError {
        CrushError::Decode {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CrushError> {
        if self.buf.len() - self.pos < n {
            return Err(self.err(format!(
                "need {n} more bytes, {} left",
                self.buf.len() - self.pos
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn u8(&mut self) -> Result<u8, CrushError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, CrushError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, CrushError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, CrushError> {
        Ok(self.u32()? as i32)
    }

    fn i64(&mut self) -> Result<i64, CrushError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    /// A count of elements each at least `min_elem_bytes` long; refused if the input is too short.
    fn count(&mut self, min_elem_bytes: usize) -> Result<usize, CrushError> {
        let n = self.u32()? as usize;
        self.check_room(n, min_elem_bytes)?;
        Ok(n)
    }

    fn check_room(&self, n: usize, min_elem_bytes: usize) -> Result<(), CrushError> {
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_elem_bytes) > left {
            return Err(self.err(format!("count {n} exceeds the {left} bytes left")));
        }
        Ok(())
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, CrushError> {
        self.check_room(n, 4)?;
        (0..n).map(|_| self.u32()).collect()
    }

    fn string(&mut self) -> Result<String, CrushError> {
        let n = self.count(1)?;
        let at = self.pos;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CrushError::Decode {
            offset: at,
            message: "name is not UTF-8".into(),
        })
    }

    fn string_map(&mut self) -> Result<BTreeMap<i32, String>, CrushError> {
        let n = self.count(8)?;
        (0..n).map(|_| Ok((self.i32()?, self.string()?))).collect()
    }

    fn int_map(&mut self) -> Result<BTreeMap<i32, i32>, CrushError> {
        let n = self.count(8)?;
        (0..n).map(|_| Ok((self.i32()?, self.i32()?))).collect()
    }
}

/// Decodes a binary CRUSH map.
pub fn decode(bytes: &[u8]) -> Result<CrushMap, CrushError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let magic = r.u32()?;
    if magic != CRUSH_MAGIC {
        return Err(CrushError::Decode {
            offset: 0,
            message: format!("bad magic {magic:#x}"),
        });
    }
    let max_buckets = r.i32()?;
    let max_rules = r.u32()? as usize;
    let max_devices = r.i32()?;
    let max_buckets = usize::try_from(max_buckets).map_err(|_| r.err("negative max_buckets"))?;
    if !(0..=MAX_DEVICES).contains(&max_devices) {
        return Err(r.err(format!("max_devices {max_devices} out of range")));
    }
    if max_buckets > MAX_BUCKETS {
        return Err(r.err(format!(
            "max_buckets {max_buckets} above the limit {MAX_BUCKETS}"
        )));
    }
    r.check_room(max_buckets, 4)?;
    let mut map = CrushMap {
        max_devices,
        ..CrushMap::default()
    };
    map.buckets = (0..max_buckets)
        .map(|_| decode_bucket(&mut r))
        .collect::<Result<_, _>>()?;
    r.check_room(max_rules, 4)?;
    map.rules = (0..max_rules)
        .map(|_| decode_rule(&mut r))
        .collect::<Result<_, _>>()?;
    map.type_names = r.string_map()?;
    map.names = r.string_map()?;
    map.rule_names = r.string_map()?;
    decode_tunables(&mut r, &mut map)?;
    if !r.at_end() {
        map.class_map = r.int_map()?;
        map.class_names = r.string_map()?;
        let n = r.count(8)?;
        for _ in 0..n {
            let bucket = r.i32()?;
            let inner = r.int_map()?;
            map.class_bucket.insert(bucket, inner);
        }
    }
    if !r.at_end() {
        let n = r.count(12)?;
        for _ in 0..n {
            let index = r.i64()?;
            let args = decode_choose_arg_map(&mut r, &map)?;
            map.choose_args.insert(index, args);
        }
    }
    map.finalize();
    strip_unusable_choose_args(&mut map);
    map.validate()?;
    Ok(map)
}

/// What Ceph does with choose_args after decoding: only straw2 buckets use them, so arguments
/// for other (or missing) buckets are dropped; weight sets of the usual number of positions but
/// the wrong length are padded with zeros or cut to the bucket's size.
fn strip_unusable_choose_args(map: &mut CrushMap) {
    let straw2: Vec<Option<usize>> = map
        .buckets
        .iter()
        .map(|b| {
            b.as_ref()
                .filter(|b| b.alg() == BucketAlg::Straw2)
                .map(Bucket::size)
        })
        .collect();
    for args in map.choose_args.values_mut() {
        let positions = args
            .iter()
            .map(|(_, a)| a.weight_set.len())
            .find(|&n| n > 0)
            .unwrap_or(1);
        args.retain(|id, arg| {
            let Some(size) = slot_of(id).and_then(|slot| straw2.get(slot).copied().flatten())
            else {
                return false;
            };
            if arg.weight_set.len() == positions {
                arg.weight_set.iter_mut().for_each(|ws| ws.resize(size, 0));
            }
            true
        });
    }
}

fn decode_bucket(r: &mut Reader) -> Result<Option<Bucket>, CrushError> {
    let slot_alg = r.u32()?;
    if slot_alg == 0 {
        return Ok(None);
    }
    let alg = u8::try_from(slot_alg)
        .ok()
        .and_then(BucketAlg::from_u8)
        .ok_or_else(|| r.err(format!("unsupported bucket algorithm {slot_alg}")))?;
    let id = r.i32()?;
    let type_id = r.u16()?;
    let inner_alg = r.u8()?;
    if u32::from(inner_alg) != slot_alg {
        return Err(r.err(format!(
            "bucket {id}: algorithm {inner_alg} differs from slot tag {slot_alg}"
        )));
    }
    let hash = r.u8()?;
    let weight = r.u32()?;
    let size = r.count(4)?;
    let items: Vec<i32> = (0..size).map(|_| r.i32()).collect::<Result<_, _>>()?;
    let pairs = |r: &mut Reader| -> Result<(Vec<u32>, Vec<u32>), CrushError> {
        r.check_room(size, 8)?;
        let mut a = Vec::with_capacity(size);
        let mut b = Vec::with_capacity(size);
        for _ in 0..size {
            a.push(r.u32()?);
            b.push(r.u32()?);
        }
        Ok((a, b))
    };
    let data = match alg {
        BucketAlg::Uniform => BucketData::Uniform {
            item_weight: r.u32()?,
        },
        BucketAlg::List => {
            let (item_weights, sum_weights) = pairs(r)?;
            BucketData::List {
                item_weights,
                sum_weights,
            }
        }
        BucketAlg::Tree => {
            let n = usize::from(r.u8()?);
            let mut node_weights = r.u32s(n)?;
            // Node 0 is not part of the tree; Ceph leaves it uninitialised in one-item trees.
            if let Some(w) = node_weights.first_mut() {
                *w = 0;
            }
            BucketData::Tree { node_weights }
        }
        BucketAlg::Straw => {
            let (item_weights, straws) = pairs(r)?;
            BucketData::Straw {
                item_weights,
                straws,
            }
        }
        BucketAlg::Straw2 => BucketData::Straw2 {
            item_weights: r.u32s(size)?,
        },
    };
    if id >= 0 {
        return Err(r.err(format!("bucket id {id} is not negative")));
    }
    Ok(Some(Bucket::from_parts(
        id, type_id, hash, weight, items, data,
    )))
}

fn decode_rule(r: &mut Reader) -> Result<Option<Rule>, CrushError> {
    match r.u32()? {
        0 => return Ok(None),
        1 => {}
        other => return Err(r.err(format!("rule presence flag {other}"))),
    }
    let len = r.count(12)?;
    let (ruleset, rule_type, min_size, max_size) = (r.u8()?, r.u8()?, r.u8()?, r.u8()?);
    let steps = (0..len)
        .map(|_| Ok(Step::from_raw(r.u32()?, r.i32()?, r.i32()?)))
        .collect::<Result<_, CrushError>>()?;
    Ok(Some(Rule {
        ruleset,
        rule_type,
        min_size,
        max_size,
        steps,
    }))
}

fn decode_tunables(r: &mut Reader, map: &mut CrushMap) -> Result<(), CrushError> {
    let t = &mut map.tunables;
    if r.at_end() {
        return Ok(());
    }
    t.choose_local_tries = r.u32()?;
    t.choose_local_fallback_tries = r.u32()?;
    t.choose_total_tries = r.u32()?;
    if !r.at_end() {
        t.chooseleaf_descend_once = r.u32()?;
    }
    if !r.at_end() {
        t.chooseleaf_vary_r = r.u8()?;
    }
    if !r.at_end() {
        t.straw_calc_version = r.u8()?;
    }
    t.allowed_bucket_algs = if r.at_end() {
        LEGACY_ALLOWED_BUCKET_ALGS
    } else {
        r.u32()?
    };
    if !r.at_end() {
        t.chooseleaf_stable = r.u8()?;
    }
    Ok(())
}

fn decode_choose_arg_map(r: &mut Reader, map: &CrushMap) -> Result<ChooseArgMap, CrushError> {
    let mut args = ChooseArgMap::default();
    let n = r.count(12)?;
    for _ in 0..n {
        let pos = r.u32()? as usize;
        if pos >= map.buckets.len() {
            return Err(r.err(format!("choose_args bucket slot {pos} beyond max_buckets")));
        }
        let positions = r.count(4)?;
        let mut weight_set = Vec::with_capacity(positions);
        for _ in 0..positions {
            let len = r.count(4)?;
            weight_set.push(r.u32s(len)?);
        }
        let n_ids = r.count(4)?;
        let ids = (0..n_ids).map(|_| r.i32()).collect::<Result<_, _>>()?;
        args.set(-1 - pos as i32, ChooseArg { ids, weight_set });
    }
    Ok(args)
}

/// Encodes a map in Ceph's binary format (with every feature a Pacific cluster has).
pub fn encode(map: &CrushMap) -> Vec<u8> {
    let mut w = Vec::with_capacity(4096);
    put_u32(&mut w, CRUSH_MAGIC);
    put_u32(&mut w, map.buckets.len() as u32);
    put_u32(&mut w, map.rules.len() as u32);
    put_u32(&mut w, map.max_devices as u32);
    for slot in &map.buckets {
        match slot {
            None => put_u32(&mut w, 0),
            Some(b) => encode_bucket(&mut w, b),
        }
    }
    for slot in &map.rules {
        let Some(rule) = slot else {
            put_u32(&mut w, 0);
            continue;
        };
        put_u32(&mut w, 1);
        put_u32(&mut w, rule.steps.len() as u32);
        w.extend_from_slice(&[rule.ruleset, rule.rule_type, rule.min_size, rule.max_size]);
        for step in &rule.steps {
            let (op, a1, a2) = step.to_raw();
            put_u32(&mut w, op);
            put_u32(&mut w, a1 as u32);
            put_u32(&mut w, a2 as u32);
        }
    }
    put_string_map(&mut w, &map.type_names);
    put_string_map(&mut w, &map.names);
    put_string_map(&mut w, &map.rule_names);
    let t = &map.tunables;
    for v in [
        t.choose_local_tries,
        t.choose_local_fallback_tries,
        t.choose_total_tries,
        t.chooseleaf_descend_once,
    ] {
        put_u32(&mut w, v);
    }
    w.push(t.chooseleaf_vary_r);
    w.push(t.straw_calc_version);
    put_u32(&mut w, t.allowed_bucket_algs);
    w.push(t.chooseleaf_stable);
    put_int_map(&mut w, &map.class_map);
    put_string_map(&mut w, &map.class_names);
    put_u32(&mut w, map.class_bucket.len() as u32);
    for (bucket, inner) in &map.class_bucket {
        put_u32(&mut w, *bucket as u32);
        put_int_map(&mut w, inner);
    }
    put_u32(&mut w, map.choose_args.len() as u32);
    for (index, args) in &map.choose_args {
        w.extend_from_slice(&index.to_le_bytes());
        let used: Vec<(i32, &ChooseArg)> = args.iter().collect();
        put_u32(&mut w, used.len() as u32);
        for (id, arg) in used {
            put_u32(&mut w, (-1 - id) as u32);
            put_u32(&mut w, arg.weight_set.len() as u32);
            for ws in &arg.weight_set {
                put_u32(&mut w, ws.len() as u32);
                ws.iter().for_each(|&v| put_u32(&mut w, v));
            }
            put_u32(&mut w, arg.ids.len() as u32);
            arg.ids.iter().for_each(|&v| put_u32(&mut w, v as u32));
        }
    }
    w
}

/// The encoding with everything derived recomputed: tree buckets' interior node weights (and the
/// unused node 0) from their items. Two maps that differ only in the bytes Ceph's compiler leaves
/// uninitialised (interior tree nodes beyond the item count) have the same canonical encoding.
pub fn canonical_encoding(map: &CrushMap) -> Vec<u8> {
    let mut m = map.clone();
    for b in m.buckets.iter_mut().flatten() {
        if let BucketData::Tree { node_weights } = &mut b.data {
            let leaves: Vec<u32> = (0..b.items.len())
                .map(|i| node_weights[super::bucket::tree_leaf_node(i)])
                .collect();
            if let Ok(fresh) =
                Bucket::new(b.id, BucketAlg::Tree, b.type_id, b.items.clone(), leaves, 0)
            {
                *node_weights = match fresh.data {
                    BucketData::Tree { node_weights } => node_weights,
                    _ => unreachable!("a tree bucket was built"),
                };
            }
        }
    }
    encode(&m)
}

fn encode_bucket(w: &mut Vec<u8>, b: &Bucket) {
    let alg = b.alg() as u8;
    put_u32(w, u32::from(alg));
    put_u32(w, b.id as u32);
    w.extend_from_slice(&b.type_id.to_le_bytes());
    w.push(alg);
    w.push(b.hash);
    put_u32(w, b.weight);
    put_u32(w, b.items.len() as u32);
    b.items.iter().for_each(|&i| put_u32(w, i as u32));
    match &b.data {
        BucketData::Uniform { item_weight } => put_u32(w, *item_weight),
        BucketData::List {
            item_weights: a,
            sum_weights: s,
        }
        | BucketData::Straw {
            item_weights: a,
            straws: s,
        } => {
            for (x, y) in a.iter().zip(s) {
                put_u32(w, *x);
                put_u32(w, *y);
            }
        }
        BucketData::Tree { node_weights } => {
            // Tree buckets are limited to 64 items, so the node count fits a byte.
            w.push(node_weights.len() as u8);
            node_weights.iter().for_each(|&v| put_u32(w, v));
        }
        BucketData::Straw2 { item_weights } => item_weights.iter().for_each(|&v| put_u32(w, v)),
    }
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_string_map(w: &mut Vec<u8>, m: &BTreeMap<i32, String>) {
    put_u32(w, m.len() as u32);
    for (k, v) in m {
        put_u32(w, *k as u32);
        put_u32(w, v.len() as u32);
        w.extend_from_slice(v.as_bytes());
    }
}

fn put_int_map(w: &mut Vec<u8>, m: &BTreeMap<i32, i32>) {
    put_u32(w, m.len() as u32);
    for (k, v) in m {
        put_u32(w, *k as u32);
        put_u32(w, *v as u32);
    }
}

/// A CRUSH map serialises as its Ceph binary encoding (a byte string), so every container format
/// carries it compactly and decoding always goes through [`decode`]'s validation.
impl serde::Serialize for CrushMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&encode(self))
    }
}

impl<'de> serde::Deserialize<'de> for CrushMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CrushMap, D::Error> {
        struct BytesVisitor;
        impl<'de> serde::de::Visitor<'de> for BytesVisitor {
            type Value = CrushMap;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a binary CRUSH map")
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<CrushMap, E> {
                decode(v).map_err(E::custom)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CrushMap, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                decode(&bytes).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}

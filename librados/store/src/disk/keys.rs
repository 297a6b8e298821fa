//! Key encodings of the disk store. Byte order of an onode key equals [`ObjectId`]'s order
//! (Ceph's listing order), so listing, scrub, backfill and PG split are range scans.
//!
//! ```text
//! onode key : pool (8, i64 with sign bit flipped, BE) | reversed hash (4, BE)
//!             | esc(namespace) | esc(locator-or-name) | esc(name) | snap (8, BE) | generation (8, BE)
//!   esc(s)  : every 0x00 byte of s written as 00 FF, then the terminator 00 01, so that a
//!             string sorts before all its extensions
//! data key  : nid (8, BE) | chunk index (4, BE)
//! omap key  : nid (8, BE) | 00                      -> the omap header
//!             nid (8, BE) | 01 | user key           -> one omap entry
//! alloc key : slot (8, BE)                          -> reference count (4, LE)
//! meta keys : "nid_max" -> u64 LE; "coll" | pool (8) | seed (4, BE) -> bits (4, LE)
//! ```

use crate::types::{hash_mask, CollectionId, ObjectId};

fn push_escaped(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

fn pool_bytes(pool: i64) -> [u8; 8] {
    ((pool as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn onode_key(oid: &ObjectId) -> Vec<u8> {
    let mut k = Vec::with_capacity(40 + oid.name.len() * 2 + oid.namespace.len() + oid.key.len());
    k.extend_from_slice(&pool_bytes(oid.pool));
    k.extend_from_slice(&oid.hash.reverse_bits().to_be_bytes());
    push_escaped(&mut k, &oid.namespace);
    push_escaped(&mut k, oid.effective_key());
    push_escaped(&mut k, &oid.name);
    k.extend_from_slice(&oid.snap.to_be_bytes());
    k.extend_from_slice(&oid.generation.to_be_bytes());
    k
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Some(head)
}

fn take_u64(buf: &mut &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(take(buf, 8)?.try_into().ok()?))
}

fn take_escaped(buf: &mut &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let b = *buf.get(i)?;
        if b == 0 {
            match *buf.get(i + 1)? {
                0xff => out.push(0),
                1 => {
                    *buf = &buf[i + 2..];
                    return String::from_utf8(out).ok();
                }
                _ => return None,
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
}

/// Decodes an onode key; `None` for a key that is not one (a damaged engine record).
pub fn decode_onode_key(key: &[u8]) -> Option<ObjectId> {
    let mut buf = key;
    let pool = (take_u64(&mut buf)? ^ (1 << 63)) as i64;
    let hash = u32::from_be_bytes(take(&mut buf, 4)?.try_into().ok()?).reverse_bits();
    let namespace = take_escaped(&mut buf)?;
    let effective = take_escaped(&mut buf)?;
    let name = take_escaped(&mut buf)?;
    let snap = take_u64(&mut buf)?;
    let generation = take_u64(&mut buf)?;
    if !buf.is_empty() {
        return None;
    }
    let key = if effective == name {
        String::new()
    } else {
        effective
    };
    Some(ObjectId {
        pool,
        namespace,
        key,
        name,
        hash,
        snap,
        generation,
    })
}

/// The onode key range `[start, end)` holding exactly the objects of `cid` at `bits`.
pub fn collection_range(cid: CollectionId, bits: u32) -> (Vec<u8>, Vec<u8>) {
    let bits = bits.min(32);
    let rev_start = u64::from((cid.seed & hash_mask(bits)).reverse_bits());
    let rev_end = rev_start + (1u64 << (32 - bits));
    let mut start = pool_bytes(cid.pool).to_vec();
    start.extend_from_slice(&(rev_start as u32).to_be_bytes());
    let end = if rev_end > u64::from(u32::MAX) {
        // The range runs to the end of the pool: the next pool's first key.
        match cid.pool.checked_add(1) {
            Some(next) => pool_bytes(next).to_vec(),
            None => vec![0xff; 13],
        }
    } else {
        let mut e = pool_bytes(cid.pool).to_vec();
        e.extend_from_slice(&(rev_end as u32).to_be_bytes());
        e
    };
    (start, end)
}

pub fn data_key(nid: u64, chunk: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&nid.to_be_bytes());
    k[8..].copy_from_slice(&chunk.to_be_bytes());
    k
}

pub fn decode_data_key(key: &[u8]) -> Option<(u64, u32)> {
    if key.len() != 12 {
        return None;
    }
    let nid = u64::from_be_bytes(key[..8].try_into().ok()?);
    let chunk = u32::from_be_bytes(key[8..].try_into().ok()?);
    Some((nid, chunk))
}

pub fn omap_header_key(nid: u64) -> Vec<u8> {
    let mut k = nid.to_be_bytes().to_vec();
    k.push(0);
    k
}

/// The prefix of every omap entry of `nid`; an entry's key is this plus the user key.
pub fn omap_entry_prefix(nid: u64) -> Vec<u8> {
    let mut k = nid.to_be_bytes().to_vec();
    k.push(1);
    k
}

pub fn omap_entry_key(nid: u64, user_key: &[u8]) -> Vec<u8> {
    let mut k = omap_entry_prefix(nid);
    k.extend_from_slice(user_key);
    k
}

pub fn alloc_key(slot: u64) -> [u8; 8] {
    slot.to_be_bytes()
}

pub const META_NID_MAX: &[u8] = b"nid_max";
const META_COLL_PREFIX: &[u8] = b"coll";

pub fn coll_prefix() -> &'static [u8] {
    META_COLL_PREFIX
}

pub fn coll_key(cid: CollectionId) -> Vec<u8> {
    let mut k = META_COLL_PREFIX.to_vec();
    k.extend_from_slice(&pool_bytes(cid.pool));
    k.extend_from_slice(&cid.seed.to_be_bytes());
    k
}

pub fn decode_coll_key(key: &[u8]) -> Option<CollectionId> {
    let rest = key.strip_prefix(META_COLL_PREFIX)?;
    if rest.len() != 12 {
        return None;
    }
    let pool = (u64::from_be_bytes(rest[..8].try_into().ok()?) ^ (1 << 63)) as i64;
    let seed = u32::from_be_bytes(rest[8..].try_into().ok()?);
    Some(CollectionId { pool, seed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_oid() -> impl Strategy<Value = ObjectId> {
        (
            -3i64..3,
            any::<u32>(),
            "[a\\x00b]{0,3}",
            "[a\\x00b]{0,3}",
            "[a\\x00bc]{0,4}",
            prop_oneof![Just(crate::types::SNAP_HEAD), 0u64..4],
        )
            .prop_map(|(pool, hash, ns, key, name, snap)| {
                let mut o = ObjectId::new(pool, name, hash)
                    .with_namespace(ns)
                    .with_snap(snap);
                o.key = key;
                o.normalize();
                o
            })
    }

    proptest! {
        #[test]
        fn key_order_is_object_order(a in arb_oid(), b in arb_oid()) {
            prop_assert_eq!(onode_key(&a).cmp(&onode_key(&b)), a.cmp(&b));
            prop_assert_eq!(decode_onode_key(&onode_key(&a)), Some(a));
        }

        #[test]
        fn collection_range_holds_its_members(o in arb_oid(), seed in any::<u32>(), bits in 0u32..=32) {
            let cid = CollectionId::new(o.pool, seed);
            let (start, end) = collection_range(cid, bits);
            let k = onode_key(&o);
            let inside = k >= start && k < end;
            prop_assert_eq!(inside, crate::types::in_collection(cid, bits, o.pool, o.hash));
        }
    }

    #[test]
    fn damaged_keys_do_not_decode() {
        let k = onode_key(&ObjectId::new(1, "a\0b", 5));
        for cut in 0..k.len() {
            assert_eq!(decode_onode_key(&k[..cut]), None);
        }
        assert_eq!(decode_data_key(&[1, 2, 3]), None);
        assert_eq!(decode_coll_key(b"collx"), None);
    }
}

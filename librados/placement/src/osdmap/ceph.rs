//! Reading Ceph's own binary OSD map (`ceph osd getmap -o FILE`, files written by `osdmaptool`),
//! so placements can be computed for a real cluster's map. Read-only: what the project writes is
//! its own versioned encoding.
//!
//! Layout (little-endian; `V(v, compat, len)` is Ceph's versioned-section header: u8, u8, u32):
//!
//! ```text
//! V(8, 7, len) {
//!   V(>=7, 1, len) {                                 client part (the only part read)
//!     fsid[16], u32 epoch, utime created, utime modified
//!     map<s64, pg_pool_t> pools, map<s64, string> pool names, s32 pool_max, u32 flags
//!     s32 max_osd, vector<u32> osd_state, vector<u32> osd_weight
//!     vector<entity_addrvec_t> client addresses
//!     map<pg_t, vector<s32>> pg_temp, map<pg_t, s32> primary_temp, vector<u32> primary affinity
//!     bufferlist crush, map<string, map<string, string>> erasure-code profiles
//!     map<pg_t, vector<s32>> pg_upmap, map<pg_t, vector<pair<s32, s32>>> pg_upmap_items
//!     u32 crush_version, ...
//!   }
//!   V(...) { OSD-only part }
//! }
//! ```

use super::pool::{flags, ObjectHash, Pool, PoolType};
use super::{Fsid, OsdInfo, OsdMap, OsdMapError, PgId, UTime};
use crate::crush::binary;
use std::collections::BTreeMap;

const STATE_EXISTS: u32 = 1;
const STATE_UP: u32 = 2;

/// Whether `bytes` look like Ceph's encoding of an OSD map.
pub fn is_ceph_osdmap(bytes: &[u8]) -> bool {
    bytes.len() > 12 && bytes[0] >= 7 && bytes[1] <= bytes[0] && (1..=bytes[0]).contains(&bytes[1])
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &str) -> OsdMapError {
        OsdMapError::Decode(format!("Ceph osdmap: {what} at byte {}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OsdMapError> {
        if self.buf.len() - self.pos < n {
            return Err(self.err(&format!("truncated (need {n} bytes)")));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, OsdMapError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, OsdMapError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, OsdMapError> {
        Ok(self.u32()? as i32)
    }

    fn u64(&mut self) -> Result<u64, OsdMapError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn utime(&mut self) -> Result<UTime, OsdMapError> {
        let secs = u64::from(self.u32()?);
        let nanos = self.u32()?;
        Ok(UTime { secs, nanos })
    }

    /// A count of elements at least `min` bytes each, checked against what is left.
    fn count(&mut self, min: usize) -> Result<usize, OsdMapError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min) > self.buf.len() - self.pos {
            return Err(self.err(&format!("count {n} larger than the data")));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, OsdMapError> {
        let n = self.count(1)?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn string_map(&mut self) -> Result<BTreeMap<String, String>, OsdMapError> {
        let n = self.count(8)?;
        (0..n)
            .map(|_| Ok((self.string()?, self.string()?)))
            .collect()
    }

    /// A versioned section header: returns the section's version and end offset.
    fn section(&mut self) -> Result<(u8, usize), OsdMapError> {
        let v = self.u8()?;
        let _compat = self.u8()?;
        let len = self.u32()? as usize;
        if len > self.buf.len() - self.pos {
            return Err(self.err("section longer than the data"));
        }
        Ok((v, self.pos + len))
    }

    fn skip_section(&mut self) -> Result<(), OsdMapError> {
        let (_, end) = self.section()?;
        self.pos = end;
        Ok(())
    }

    fn pg(&mut self) -> Result<PgId, OsdMapError> {
        let _v = self.u8()?;
        let pool = self.u64()? as i64;
        let seed = self.u32()?;
        let _preferred = self.i32()?;
        Ok(PgId { pool, seed })
    }

    fn i32_vec(&mut self) -> Result<Vec<i32>, OsdMapError> {
        let n = self.count(4)?;
        (0..n).map(|_| self.i32()).collect()
    }
}

/// Decodes Ceph's binary OSD map into the project's model.
pub fn decode_ceph_osdmap(bytes: &[u8]) -> Result<OsdMap, OsdMapError> {
    let mut c = Cursor { buf: bytes, pos: 0 };
    let (outer_v, _) = c.section()?;
    if outer_v < 7 {
        return Err(c.err(&format!(
            "encoding version {outer_v} is older than supported (7)"
        )));
    }
    let (v, client_end) = c.section()?;
    let mut fsid = [0u8; 16];
    fsid.copy_from_slice(c.take(16)?);
    let mut map = OsdMap::new(Fsid(fsid));
    map.epoch = c.u32()?;
    map.created = c.utime()?;
    map.modified = c.utime()?;
    let n = c.count(9)?;
    let mut pools = BTreeMap::new();
    for _ in 0..n {
        let id = c.u64()? as i64;
        pools.insert(id, decode_pool(&mut c, id)?);
    }
    let n = c.count(12)?;
    for _ in 0..n {
        let id = c.u64()? as i64;
        let name = c.string()?;
        if let Some(p) = pools.get_mut(&id) {
            p.name = name;
        }
    }
    map.pool_max = i64::from(c.i32()?);
    map.flags = c.u32()?;
    let max_osd = c.i32()?;
    let state = c.i32_vec()?;
    let weight = c.i32_vec()?;
    map.set_max_osd(max_osd)?;
    for (id, osd) in map.osds.iter_mut().enumerate() {
        let s = state.get(id).copied().unwrap_or(0) as u32;
        *osd = OsdInfo {
            exists: s & STATE_EXISTS != 0,
            up: s & STATE_EXISTS != 0 && s & STATE_UP != 0,
            weight: weight.get(id).copied().unwrap_or(0) as u32,
            ..OsdInfo::default()
        };
    }
    skip_addrs(&mut c)?;
    let n = c.count(21)?;
    for _ in 0..n {
        let pg = c.pg()?;
        let osds = c.i32_vec()?;
        map.pg_temp.insert(pg, osds);
    }
    let n = c.count(21)?;
    for _ in 0..n {
        let pg = c.pg()?;
        map.primary_temp.insert(pg, c.i32()?);
    }
    let affinity = c.i32_vec()?;
    for (osd, a) in map.osds.iter_mut().zip(affinity) {
        osd.primary_affinity = a as u32;
    }
    let crush_len = c.count(1)?;
    map.crush = binary::decode(c.take(crush_len)?)?;
    let n = c.count(8)?;
    for _ in 0..n {
        c.string()?;
        c.string_map()?;
    }
    if v >= 4 {
        let n = c.count(21)?;
        for _ in 0..n {
            let pg = c.pg()?;
            map.pg_upmap.insert(pg, c.i32_vec()?);
        }
        let n = c.count(21)?;
        for _ in 0..n {
            let pg = c.pg()?;
            let k = c.count(8)?;
            let items = (0..k)
                .map(|_| Ok((c.i32()?, c.i32()?)))
                .collect::<Result<_, OsdMapError>>()?;
            map.pg_upmap_items.insert(pg, items);
        }
    }
    if v >= 6 {
        map.crush_version = c.u32()?;
    }
    // What follows in the client part (removed snaps, last up/in change) is not needed.
    if c.pos > client_end {
        return Err(c.err("the client part runs past its section"));
    }
    for (id, pool) in pools {
        map.pools.insert(id, pool);
    }
    map.validate()?;
    map.refresh_weights();
    Ok(map)
}

/// Client addresses: per OSD an address vector (marker 2, then versioned addresses).
fn skip_addrs(c: &mut Cursor) -> Result<(), OsdMapError> {
    let n = c.count(1)?;
    for _ in 0..n {
        match c.u8()? {
            2 => {
                let k = c.count(7)?;
                for _ in 0..k {
                    let _marker = c.u8()?;
                    c.skip_section()?;
                }
            }
            1 => c.skip_section()?,
            other => return Err(c.err(&format!("address encoding {other} not supported"))),
        }
    }
    Ok(())
}

fn decode_pool(c: &mut Cursor, id: i64) -> Result<Pool, OsdMapError> {
    let (v, end) = c.section()?;
    let pool_type = match c.u8()? {
        1 => PoolType::Replicated,
        3 => PoolType::Erasure,
        other => return Err(c.err(&format!("pool type {other} not supported"))),
    };
    let size = c.u8()?;
    let crush_rule = i32::from(c.u8()?);
    let object_hash = match c.u8()? {
        1 => ObjectHash::Linux,
        _ => ObjectHash::Rjenkins,
    };
    let pg_num = c.u32()?;
    let pgp_num = c.u32()?;
    let _lpg_num = c.u32()?;
    let _lpgp_num = c.u32()?;
    let last_change = c.u32()?;
    let snap_seq = c.u64()?;
    let snap_epoch = c.u32()?;
    let mut pool = Pool::replicated(id, "", size.max(1), pg_num.max(1), crush_rule);
    pool.pool_type = pool_type;
    pool.object_hash = object_hash;
    pool.pgp_num = pgp_num.max(1);
    pool.last_change = last_change;
    pool.snap_seq = snap_seq;
    pool.snap_epoch = snap_epoch;
    let n = c.count(14)?;
    for _ in 0..n {
        let _snap = c.u64()?;
        c.skip_section()?;
    }
    let n = c.count(16)?;
    c.take(n * 16)?;
    let _auid = c.u64()?;
    pool.flags = c.u64()?;
    let _crash_replay_interval = c.u32()?;
    pool.min_size = c.u8()?.clamp(1, pool.size);
    pool.flags &= flags::NAMES.iter().fold(0, |m, (bit, _)| m | bit);
    if v >= 26 {
        pool.applications = skip_to_applications(c, v)?;
    }
    if c.pos > end {
        return Err(c.err(&format!("pool {id} runs past its section")));
    }
    c.pos = end;
    Ok(pool)
}

/// Walks the pool fields between min_size and the application metadata (format 26 and later).
fn skip_to_applications(
    c: &mut Cursor,
    v: u8,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, OsdMapError> {
    let _quota_bytes = c.u64()?;
    let _quota_objects = c.u64()?;
    let n = c.count(8)?; // tiers
    c.take(n * 8)?;
    let _tier_of = c.u64()?;
    let _cache_mode = c.u8()?;
    let _read_tier = c.u64()?;
    let _write_tier = c.u64()?;
    c.string_map()?; // properties
    c.skip_section()?; // hit_set_params
    c.take(4 + 4 + 4 + 8 + 8 + 4 + 4 + 4 + 4)?; // hit set period/count, stripe width, targets...
    c.string()?; // erasure code profile
    c.take(4 + 4 + 8)?; // last_force_op_resend_preluminous, min_read_recency, expected objects
    c.take(4 + 4 + 1 + 1 + 4 + 4)?; // v19..v23 fields
    if v >= 24 {
        c.skip_section()?; // pool options
    }
    if v >= 25 {
        c.u32()?;
    }
    let n = c.count(8)?;
    let mut apps = BTreeMap::new();
    for _ in 0..n {
        let app = c.string()?;
        apps.insert(app, c.string_map()?);
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_ceph_osdmap(&[8, 7, 0, 0, 0, 0]).is_err());
        assert!(decode_ceph_osdmap(&[8, 7, 255, 255, 255, 255, 9, 1]).is_err());
        assert!(!is_ceph_osdmap(b"\x83\xa4kind"));
    }
}

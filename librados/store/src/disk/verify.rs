//! The whole-store verify walk (fsck): every onode decodes, every data chunk's checksums hold,
//! every omap record reads; problems name the object (or the engine, when a record cannot be
//! read at all).

use super::format::{decode_record, Chunk, Onode, CHUNK_SIZE};
use super::keys::{decode_data_key, decode_onode_key};
use super::read::chunk_bytes;
use super::Shared;
use crate::error::StoreResult;
use crate::types::{in_collection, ObjectId, VerifyProblem, VerifyReport};

fn object_problem(sh: &Shared, oid: &ObjectId, detail: String) -> VerifyProblem {
    let colls = sh.colls.read().unwrap_or_else(|e| e.into_inner());
    let collection = colls
        .iter()
        .find(|(c, bits)| in_collection(**c, **bits, oid.pool, oid.hash))
        .map(|(c, _)| *c);
    VerifyProblem::Object {
        collection,
        object: oid.clone(),
        detail,
    }
}

/// Checks one object's data and omap; returns the bytes checked or the first problem.
fn check_object(sh: &Shared, oid: &ObjectId, o: &Onode) -> Result<u64, String> {
    if let Some(inline) = &o.inline {
        inline.verified()?;
        return Ok(inline.bytes.len() as u64);
    }
    let mut bytes = 0;
    for kv in sh.data.prefix(o.nid.to_be_bytes()) {
        let (k, v) = kv.into_inner().map_err(|e| format!("engine: {e}"))?;
        let (_, idx) = decode_data_key(&k).ok_or("malformed chunk key")?;
        let c: Chunk = decode_record(&v).map_err(|e| format!("chunk {idx}: {e}"))?;
        chunk_bytes(&sh.block, oid, idx, &c, 0, CHUNK_SIZE).map_err(|e| e.to_string())?;
        bytes += c.len();
    }
    for kv in sh.omap.prefix(o.nid.to_be_bytes()) {
        kv.into_inner().map_err(|e| format!("omap: engine: {e}"))?;
    }
    Ok(bytes)
}

/// Walks the store; `progress(objects, bytes)` is called every 1000 objects.
pub fn verify(sh: &Shared, progress: &mut dyn FnMut(u64, u64)) -> StoreResult<VerifyReport> {
    let mut report = VerifyReport::default();
    for kv in sh.onodes.iter() {
        let (k, v) = match kv.into_inner() {
            Ok(kv) => kv,
            Err(e) => {
                report.problems.push(VerifyProblem::Engine {
                    detail: format!("onode table unreadable: {e}"),
                });
                break;
            }
        };
        let Some(oid) = decode_onode_key(&k) else {
            report.problems.push(VerifyProblem::Engine {
                detail: format!("undecodable object key {:02x?}", &k[..]),
            });
            continue;
        };
        report.objects_checked += 1;
        if report.objects_checked % 1000 == 0 {
            progress(report.objects_checked, report.bytes_checked);
        }
        // Slots are not freed under a reader: held per object, so the store keeps committing.
        let _reading = sh.gate.read().unwrap_or_else(|e| e.into_inner());
        let onode: Onode = match decode_record(&v) {
            Ok(o) => o,
            Err(e) => {
                report
                    .problems
                    .push(object_problem(sh, &oid, format!("onode: {e}")));
                continue;
            }
        };
        match check_object(sh, &oid, &onode) {
            Ok(n) => report.bytes_checked += n,
            Err(detail) => report.problems.push(object_problem(sh, &oid, detail)),
        }
    }
    progress(report.objects_checked, report.bytes_checked);
    Ok(report)
}

//! Pool snapshot commands with Ceph's `rados` syntax and output: mksnap, rmsnap, lssnap,
//! rollback and listsnaps, and the global `-s/--snap NAME` that makes a command's reads see a
//! pool snapshot (its writes then fail with EROFS, as the library refuses them).

use crate::cli::{Format, Opts};
use crate::session::{errstr, fail, format, print};
use crate::textfmt::local_stamp;
use anyhow::Result;
use librados::client::{CloneListing, PoolSnapInfo, SNAP_HEAD};
use librados::IoCtx;
use std::fmt::Write as _;

/// Applies `-s NAME`: reads see the named pool snapshot from now on. Ceph announces the
/// choice on standard output, ahead of whatever the command prints.
pub fn select_read_snap(io: &mut IoCtx, opts: &Opts) -> Result<()> {
    let Some(name) = &opts.snap else {
        return Ok(());
    };
    let id = io
        .snap_lookup(name)
        .map_err(|e| fail(format!("error looking up snap '{name}': {}", errstr(&e)), 1))?;
    io.set_read(id);
    print(&format!("selected snap {id} '{name}'\n"))
}

pub fn mksnap(io: &IoCtx, snap: &str) -> Result<()> {
    let pool = io.pool_name();
    io.snap_create(snap).map_err(|e| {
        fail(
            format!("error creating pool {pool} snapshot {snap}: {}", errstr(&e)),
            1,
        )
    })?;
    print(&format!("created pool {pool} snap {snap}\n"))
}

pub fn rmsnap(io: &IoCtx, snap: &str) -> Result<()> {
    let pool = io.pool_name();
    io.snap_remove(snap).map_err(|e| {
        fail(
            format!("error removing pool {pool} snapshot {snap}: {}", errstr(&e)),
            1,
        )
    })?;
    print(&format!("removed pool {pool} snap {snap}\n"))
}

/// `lssnap`: `ID\tNAME\tYYYY.MM.DD HH:MM:SS` (local time) per snapshot, then the count. Ceph
/// prints this listing as text whatever --format says.
pub fn lssnap(io: &IoCtx) -> Result<()> {
    let snaps = io.snap_list().map_err(|e| {
        fail(
            format!(
                "error listing snapshots of pool {}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })?;
    let mut text = String::new();
    for s in &snaps {
        let _ = writeln!(text, "{}\t{}\t{}", s.id, s.name, local_stamp(s.created));
    }
    let _ = writeln!(text, "{} snaps", snaps.len());
    print(&text)
}

/// `rollback OBJ SNAP`. A rollback is a write at the head, so `-s` does not stop it (as in
/// Ceph); an object the snapshot did not see is removed.
pub fn rollback(io: &IoCtx, obj: &str, snap: &str) -> Result<()> {
    let pool = io.pool_name();
    io.at_snap(SNAP_HEAD)
        .snap_rollback(obj, snap)
        .map_err(|e| {
            // Ceph's words exactly, object name in the snapshot's place and no separator, so
            // scripts matching its message match ours.
            fail(
                format!(
                    "error rolling back pool {pool} to snapshot {obj}{}",
                    errstr(&e)
                ),
                1,
            )
        })?;
    print(&format!("rolled back pool {pool} to snapshot {snap}\n"))
}

/// `listsnaps OBJ`: the object's clones, each with the snaps it serves, its size and the
/// extents it shares with the next newer version, then the head.
pub fn listsnaps(io: &IoCtx, opts: &Opts, obj: &str) -> Result<()> {
    let listing = io.at_snap(SNAP_HEAD).list_snaps(obj).map_err(|e| {
        fail(
            format!(
                "error listing snap shots {}/{obj}: {}",
                io.pool_name(),
                errstr(&e)
            ),
            1,
        )
    })?;
    match format(opts) {
        Format::Plain => print(&listsnaps_text(obj, &listing.clones)),
        fmt => {
            // Names are a nicety: a listing without them is still right.
            let names = io.snap_list().unwrap_or_default();
            print(&listsnaps_json(fmt, obj, &listing.clones, &names)?)
        }
    }
}

/// The snaps a clone serves, oldest first, as Ceph prints them.
fn sorted_snaps(c: &CloneListing) -> Vec<u64> {
    let mut snaps = c.snaps.clone();
    snaps.sort_unstable();
    snaps
}

/// Ceph's table: `cloneid snaps size overlap`, the head as `head` with `-` for snaps and no
/// overlap. Without a head (removed since the last snapshot) Ceph ends with an empty line.
fn listsnaps_text(obj: &str, clones: &[CloneListing]) -> String {
    let mut text = format!("{obj}:\ncloneid\tsnaps\tsize\toverlap\n");
    for c in clones {
        if c.id == SNAP_HEAD {
            let _ = writeln!(text, "head\t-\t{}", c.size);
            continue;
        }
        let snaps: Vec<String> = sorted_snaps(c).iter().map(u64::to_string).collect();
        let snaps = if snaps.is_empty() {
            "-".to_string()
        } else {
            snaps.join(",")
        };
        let overlap: Vec<String> = c.overlap.iter().map(|(o, l)| format!("{o}~{l}")).collect();
        let _ = writeln!(
            text,
            "{}\t{snaps}\t{}\t[{}]",
            c.id,
            c.size,
            overlap.join(",")
        );
    }
    if !clones.iter().any(|c| c.id == SNAP_HEAD) {
        text.push('\n');
    }
    text
}

/// Ceph's JSON: compact without a final newline, pretty with four-space indents and one.
fn listsnaps_json(
    fmt: Format,
    obj: &str,
    clones: &[CloneListing],
    names: &[PoolSnapInfo],
) -> Result<String> {
    let list: Vec<serde_json::Value> = clones
        .iter()
        .map(|c| {
            if c.id == SNAP_HEAD {
                return serde_json::json!({"id": "head", "snapshots": [], "size": c.size});
            }
            let snaps: Vec<serde_json::Value> = sorted_snaps(c)
                .into_iter()
                .map(|id| match names.iter().find(|s| s.id == id) {
                    Some(s) => serde_json::json!({"id": id, "name": s.name}),
                    None => serde_json::json!({"id": id}),
                })
                .collect();
            let overlaps: Vec<serde_json::Value> = c
                .overlap
                .iter()
                .map(|(o, l)| serde_json::json!({"start": o, "length": l}))
                .collect();
            serde_json::json!({
                "id": c.id, "snapshots": snaps, "size": c.size, "overlaps": overlaps,
            })
        })
        .collect();
    let v = serde_json::json!({"name": obj, "clones": list});
    if fmt != Format::JsonPretty {
        return Ok(serde_json::to_string(&v)?);
    }
    let mut buf = Vec::new();
    let indent = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    serde::Serialize::serialize(
        &v,
        &mut serde_json::Serializer::with_formatter(&mut buf, indent),
    )?;
    buf.push(b'\n');
    Ok(String::from_utf8(buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clone(id: u64, snaps: &[u64], size: u64, overlap: &[(u64, u64)]) -> CloneListing {
        CloneListing {
            id,
            snaps: snaps.to_vec(),
            size,
            overlap: overlap.to_vec(),
        }
    }

    #[test]
    fn listsnaps_table_like_ceph() {
        // Seen from Ceph 16: a clone serving two snaps (the library lists them newest first),
        // a partly overwritten clone, and the head.
        let clones = [
            clone(4, &[4, 3], 8, &[]),
            clone(5, &[5], 16384, &[(0, 4096), (8192, 8192)]),
            clone(SNAP_HEAD, &[], 15, &[]),
        ];
        assert_eq!(
            listsnaps_text("a", &clones),
            "a:\ncloneid\tsnaps\tsize\toverlap\n4\t3,4\t8\t[]\n\
             5\t5\t16384\t[0~4096,8192~8192]\nhead\t-\t15\n"
        );
        // Removed since the snapshot: no head, and Ceph's trailing empty line.
        assert_eq!(
            listsnaps_text("gone", &clones[..1]),
            "gone:\ncloneid\tsnaps\tsize\toverlap\n4\t3,4\t8\t[]\n\n"
        );
    }

    #[test]
    fn listsnaps_json_like_ceph() {
        let names = [PoolSnapInfo {
            id: 5,
            name: "s3".into(),
            created: std::time::SystemTime::UNIX_EPOCH,
        }];
        let clones = [
            clone(5, &[5], 16384, &[(0, 4096)]),
            clone(SNAP_HEAD, &[], 16384, &[]),
        ];
        assert_eq!(
            listsnaps_json(Format::Json, "b", &clones, &names).expect("json"),
            "{\"name\":\"b\",\"clones\":[{\"id\":5,\"snapshots\":[{\"id\":5,\"name\":\"s3\"}],\
             \"size\":16384,\"overlaps\":[{\"start\":0,\"length\":4096}]},\
             {\"id\":\"head\",\"snapshots\":[],\"size\":16384}]}"
        );
        let pretty = listsnaps_json(Format::JsonPretty, "b", &clones[1..], &names).expect("json");
        assert_eq!(
            pretty,
            "{\n    \"name\": \"b\",\n    \"clones\": [\n        {\n            \"id\": \"head\",\n\
             \x20           \"snapshots\": [],\n            \"size\": 16384\n        }\n    ]\n}\n"
        );
    }
}

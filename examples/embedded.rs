//! The main job on the embedded default: a replicated 3-OSD cluster in a directory, no setup.
//! Stores objects (data, xattrs, omap) with one atomic compound write, takes a pool snapshot,
//! changes an object and reads it back both as it is and as the snapshot saw it, lists the
//! pool, reads everything back, stats, and shows the cluster's state.
//!
//! ```text
//! cargo run --release -p rados-examples --example embedded [DIR]
//! ```
//! DIR defaults to `./rados-data`; run it twice and the second run finds the first run's
//! objects (the cluster reopens to the same state).

use librados::{Rados, Result, WriteOp};

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "rados-data".to_string());
    let t = std::time::Instant::now();
    let cluster = Rados::embedded(&dir)?;
    println!(
        "cluster {} open in {dir} ({:.2?})",
        cluster.fsid(),
        t.elapsed()
    );

    if !cluster.pool_exists("photos") {
        cluster.create_pool("photos")?;
    }
    let io = cluster.ioctx("photos")?;
    let runs = io
        .list_objects()
        .filter(|o| o.as_ref().is_ok_and(|o| o.name.starts_with("run-")))
        .count();
    let name = format!("run-{runs}");

    // One atomic write: data, an xattr and omap entries land together or not at all.
    let mut op = WriteOp::new();
    op.write_full(format!("written by run {runs}").into_bytes())
        .set_xattr("content-type", &b"text/plain"[..])
        .omap_set([(&b"run"[..], runs.to_string().into_bytes())]);
    io.operate(&name, &op)?;
    io.write_full("cat.jpg", vec![0xffu8; 256 << 10])?;

    // An instant snapshot of the whole pool; the next write to cat.jpg preserves what it saw.
    let snap = io.snap_create(&format!("after-{name}"))?;
    io.write("cat.jpg", &b"edited"[..], 0)?;
    let now = io.read("cat.jpg", 6, 0)?;
    let then = io.at_snap(snap).read("cat.jpg", 6, 0)?;
    assert_ne!(now, then);
    println!(
        "snapshot after-{name} (id {snap}): cat.jpg starts {:?} now, {:02x?} in the snapshot",
        String::from_utf8_lossy(&now),
        &then[..]
    );
    let snaps: Vec<String> = io.snap_list()?.into_iter().map(|s| s.name).collect();
    println!(
        "pool photos has {} snapshots: {}",
        snaps.len(),
        snaps.join(", ")
    );

    let mut names: Vec<String> = io
        .list_objects()
        .map(|o| o.map(|o| o.name))
        .collect::<Result<_>>()?;
    names.sort();
    println!(
        "pool photos holds {} objects: {}",
        names.len(),
        names.join(", ")
    );
    for n in &names {
        let st = io.stat(n)?;
        let data = io.read_full(n)?;
        assert_eq!(data.len() as u64, st.size);
        println!("  {n}: {} bytes", st.size);
    }
    let back = io.read_full(&name)?;
    println!("read back {name}: {:?}", String::from_utf8_lossy(&back));
    println!(
        "  xattr content-type = {:?}",
        String::from_utf8_lossy(&io.get_xattr(&name, "content-type")?)
    );

    let s = cluster.status()?;
    println!(
        "{}: {} osds ({} up, {} in), {} pools, {} pgs {:?}",
        s.health, s.num_osds, s.num_up_osds, s.num_in_osds, s.num_pools, s.num_pgs, s.pgs_by_state
    );
    Ok(())
}

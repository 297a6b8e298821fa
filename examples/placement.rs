//! Placement, end to end: compile a CRUSH map, build an OSD map around it, see where objects go,
//! and how little moves when an OSD fails.
//!
//!     cargo run --release -p rados-examples --example placement

use librados::crush::{compile, tree};
use librados::osdmap::tool::{self, CreateSimple};
use librados::osdmap::{ObjectLocator, Pool};
use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/maps/cluster.txt"))?;
    let crush = compile(&text)?;
    println!(
        "CRUSH hierarchy (device classes get shadow trees):\n{}",
        tree(&crush)
    );

    // An OSD map with 18 OSDs, all up and in, using the compiled hierarchy.
    let mut map = tool::create_simple(&CreateSimple {
        num_osd: 18,
        ..Default::default()
    })?;
    tool::import_crush(&mut map, crush)?;
    tool::mark_up_in(&mut map, &mut Default::default())?;
    map.set_pool(Pool::replicated(1, "photos", 3, 128, 0))?;
    map.set_pool(Pool::replicated(2, "fast", 2, 64, 1))?;

    let objects: Vec<String> = (0..10_000).map(|i| format!("photo-{i:05}.jpg")).collect();
    println!("Where some objects of pool 'photos' (3 replicas, one per host) live:");
    for name in objects.iter().take(5) {
        let pg = map.object_to_pg(name.as_bytes(), &ObjectLocator::new(1))?;
        let m = map.pg_mapping(pg);
        println!(
            "  {name:>18} -> pg {pg:<6} -> osds {:?} (primary osd.{})",
            m.acting, m.acting_primary
        );
    }
    let pg = map.object_to_pg(b"thumb.png", &ObjectLocator::new(2))?;
    println!(
        "  pool 'fast' (SSDs only): thumb.png -> {:?}",
        map.pg_mapping(pg).acting
    );

    // Take osd.6 out and count how many object replicas move.
    let before = placements(&map, &objects);
    map.set_osd_weight(6, 0)?;
    let after = placements(&map, &objects);
    let moved: usize = before
        .iter()
        .zip(&after)
        .map(|(b, a)| b.iter().filter(|o| !a.contains(o)).count())
        .sum();
    let on_osd6 = before.iter().filter(|b| b.contains(&6)).count();
    println!(
        "\nosd.6 out: {moved} of {} replicas moved ({on_osd6} were on osd.6 itself)",
        objects.len() * 3
    );
    let mut per_osd: BTreeMap<i32, usize> = BTreeMap::new();
    for osds in &after {
        for &o in osds {
            *per_osd.entry(o).or_default() += 1;
        }
    }
    println!("replicas per OSD after the change: {per_osd:?}");
    Ok(())
}

fn placements(map: &librados::osdmap::OsdMap, objects: &[String]) -> Vec<Vec<i32>> {
    objects
        .iter()
        .map(|name| {
            let pg = map
                .object_to_pg(name.as_bytes(), &ObjectLocator::new(1))
                .expect("pool 1 exists");
            map.pg_mapping(pg).acting
        })
        .collect()
}

//! Inputs at and beyond the limits: each is refused with an error (or clamped where documented),
//! never a panic, a runaway allocation or a stack overflow, and a refused edit changes nothing.

use librados::crush::{binary, compile, BucketAlg, CrushError, CrushMap, Workspace, MAX_RESULT};
use std::collections::BTreeMap;

fn flat_map() -> CrushMap {
    compile(
        "device 0 osd.0\ndevice 1 osd.1\ntype 0 osd\ntype 1 host\ntype 2 root\n\
         host h {\n alg straw2\n item osd.0\n item osd.1\n}\nroot r {\n alg straw2\n item h\n}\n\
         rule any {\n id 0\n type replicated\n min_size 1\n max_size 10\n step take r\n step choose firstn 0 type osd\n step emit\n}\n",
    )
    .unwrap()
}

#[test]
fn a_device_id_at_the_integer_limit_is_refused() {
    let mut map = flat_map();
    let mut bytes = binary::encode(&map);
    // Rename device 1 to id i32::MAX in the name table: find "osd.1" preceded by its id.
    let at = bytes
        .windows(9)
        .position(|w| w == [1, 0, 0, 0, 5, 0, 0, 0, b'o'])
        .unwrap();
    bytes[at..at + 4].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(binary::decode(&bytes).is_err());
    let loc = BTreeMap::from([("host".to_string(), "h".to_string())]);
    assert!(map.insert_item(i32::MAX, 0x10000, "osd.big", &loc).is_err());
}

#[test]
fn deep_hierarchies_are_refused_not_overflowed() {
    let mut text = String::from("device 0 osd.0 class ssd\ntype 0 osd\ntype 1 b\n");
    text.push_str("b b0 {\n alg straw2\n item osd.0\n}\n");
    for i in 1..5000 {
        text.push_str(&format!("b b{i} {{\n alg straw2\n item b{}\n}}\n", i - 1));
    }
    text.push_str("rule r {\n id 0\n type replicated\n min_size 1\n max_size 10\n step take b4999\n step emit\n}\n");
    match compile(&text) {
        Err(CrushError::Invalid(m)) => assert!(m.contains("deeper than"), "{m}"),
        other => panic!("expected a depth error, got {other:?}"),
    }
}

#[test]
fn many_choose_args_sets_cost_only_what_they_hold() {
    let mut text = String::from("device 0 osd.0\ntype 0 osd\ntype 1 root\nroot r {\n id -65536\n alg straw2\n item osd.0\n}\n");
    for i in 0..2000 {
        text.push_str(&format!("choose_args {i} {{\n}}\n"));
    }
    let map = compile(&text).unwrap();
    assert_eq!(map.choose_args().len(), 2000);
    assert_eq!(map.max_buckets(), 65536);
}

#[test]
fn refused_edits_change_nothing() {
    let mut map = flat_map();
    let before = binary::encode(&map);
    let loc = BTreeMap::from([("host".to_string(), "h".to_string())]);
    // A bucket id that does not exist, a bucket that is already placed, an unknown location type.
    assert!(map.insert_item(-1000, 0x10000, "ghost", &loc).is_err());
    let h = map.item_id("h").unwrap();
    assert!(matches!(
        map.insert_item(h, 0x10000, "h", &loc),
        Err(CrushError::Refused(_))
    ));
    let bad_loc = BTreeMap::from([("rack".to_string(), "x".to_string())]);
    assert!(map.insert_item(5, 0x10000, "osd.5", &bad_loc).is_err());
    assert!(map
        .add_bucket(None, BucketAlg::Straw2, 1, "h2", &[(-77, 0x10000)])
        .is_err());
    assert!(map.remove_item(h, false).is_err(), "a non-empty bucket");
    assert!(map
        .tunables_mut()
        .set_by_name("choose_total_tries", 4_000_000_000)
        .is_err());
    assert_eq!(binary::encode(&map), before);
}

#[test]
fn huge_result_requests_are_capped() {
    let map = flat_map();
    let weights = map.all_in_weights();
    let mut out = Vec::new();
    map.do_rule(
        0,
        1,
        usize::MAX,
        &weights,
        None,
        &mut Workspace::new(),
        &mut out,
    );
    assert_eq!(
        out.len(),
        2,
        "both devices, and no more however many are asked for"
    );
    assert!(out.len() <= MAX_RESULT);
}

//! Object → PG → OSD mapping through every stage an OSD map applies: down and nonexistent OSDs,
//! pg_temp, primary_temp, primary affinity, upmaps, erasure holes, namespaces and locators.

use librados::crush::{ChooseMode, SimpleRule, CRUSH_ITEM_NONE};
use librados::hash::str_hash_rjenkins;
use librados::osdmap::tool::{self, CreateSimple};
use librados::osdmap::{Incremental, ObjectLocator, OsdMap, OsdMapError, PgId, Pool, PoolType};

/// 8 OSDs on one host, replicas spread over OSDs, all up and in; pool 1 size 3, 32 PGs.
fn cluster() -> OsdMap {
    let opts = CreateSimple {
        num_osd: 8,
        pg_bits: 2,
        pgp_bits: 2,
        chooseleaf_type: 0,
        with_default_pool: true,
        ..Default::default()
    };
    let mut map = tool::create_simple(&opts).unwrap();
    tool::mark_up_in(&mut map, &mut Default::default()).unwrap();
    map
}

#[test]
fn up_and_acting_follow_raw_when_all_is_well() {
    let map = cluster();
    for seed in 0..32 {
        let m = map.pg_mapping(PgId::new(1, seed));
        assert_eq!(m.raw.len(), 3);
        assert_eq!(m.raw, m.up);
        assert_eq!(m.up, m.acting);
        assert_eq!(m.acting_primary, m.acting[0]);
    }
    // Beyond pg_num, or in a missing pool: nothing.
    assert!(map.pg_mapping(PgId::new(1, 32)).acting.is_empty());
    assert_eq!(map.pg_mapping(PgId::new(9, 0)).acting_primary, -1);
}

#[test]
fn down_osds_leave_up_but_not_raw() {
    let mut map = cluster();
    let pg = PgId::new(1, 5);
    let before = map.pg_mapping(pg);
    let victim = before.raw[0];
    map.set_osd_state(victim, true, false).unwrap();
    let after = map.pg_mapping(pg);
    assert_eq!(after.raw, before.raw, "CRUSH does not know about down");
    assert!(!after.up.contains(&victim));
    assert_eq!(after.up.len(), 2);
    assert_eq!(
        after.up_primary, before.raw[1],
        "the next replica becomes primary"
    );
}

#[test]
fn pg_temp_and_primary_temp_override_acting() {
    let mut map = cluster();
    let pg = PgId::new(1, 7);
    let up = map.pg_mapping(pg).up;
    let temp: Vec<i32> = (0..8).filter(|o| !up.contains(o)).take(3).collect();
    map.set_pg_temp(pg, temp.clone());
    let m = map.pg_mapping(pg);
    assert_eq!(m.up, up);
    assert_eq!(m.acting, temp);
    assert_eq!(m.acting_primary, temp[0]);
    map.set_primary_temp(pg, Some(temp[2]));
    assert_eq!(map.pg_mapping(pg).acting_primary, temp[2]);
    // A down OSD drops out of pg_temp.
    map.set_osd_state(temp[0], true, false).unwrap();
    assert_eq!(map.pg_mapping(pg).acting, temp[1..].to_vec());
}

#[test]
fn zero_primary_affinity_moves_the_primary() {
    let mut map = cluster();
    let pg = PgId::new(1, 3);
    let before = map.pg_mapping(pg);
    map.set_primary_affinity(before.up[0], 0).unwrap();
    let after = map.pg_mapping(pg);
    assert_ne!(after.up_primary, before.up[0]);
    assert_eq!(
        after.up[0], after.up_primary,
        "replicated pools move the primary to the front"
    );
    let mut sorted_before = before.up.clone();
    let mut sorted_after = after.up.clone();
    sorted_before.sort();
    sorted_after.sort();
    assert_eq!(sorted_before, sorted_after, "same OSDs, new order");
}

#[test]
fn upmap_items_replace_one_osd() {
    let mut map = cluster();
    let pg = PgId::new(1, 9);
    let up = map.pg_mapping(pg).up;
    let spare = (0..8).find(|o| !up.contains(o)).unwrap();
    map.set_pg_upmap_items(pg, vec![(up[1], spare)]);
    let m = map.pg_mapping(pg);
    assert_eq!(m.up, vec![up[0], spare, up[2]]);
    // An out target is ignored.
    map.set_osd_weight(spare, 0).unwrap();
    assert_eq!(map.pg_mapping(pg).up, up);
}

#[test]
fn erasure_pools_keep_positions() {
    let mut map = cluster();
    let rule = map
        .crush_mut()
        .add_simple_rule(&SimpleRule {
            name: "ec",
            root: "default",
            failure_domain: "osd",
            device_class: None,
            mode: ChooseMode::Indep,
            id: None,
        })
        .unwrap();
    let mut pool = Pool::replicated(2, "ec", 4, 16, rule as i32);
    pool.pool_type = PoolType::Erasure;
    pool.min_size = 3;
    map.set_pool(pool).unwrap();
    let pg = PgId::new(2, 1);
    let before = map.pg_mapping(pg);
    assert_eq!(before.up.len(), 4);
    map.set_osd_state(before.up[1], true, false).unwrap();
    let after = map.pg_mapping(pg);
    assert_eq!(
        after.up,
        vec![before.up[0], CRUSH_ITEM_NONE, before.up[2], before.up[3]]
    );
}

#[test]
fn namespaces_and_locators_change_the_hash() {
    let map = cluster();
    let plain = ObjectLocator::new(1);
    assert_eq!(
        map.object_to_raw_pg(b"foo", &plain).unwrap().seed,
        str_hash_rjenkins(b"foo")
    );
    let ns = ObjectLocator {
        namespace: b"ns".to_vec(),
        ..ObjectLocator::new(1)
    };
    assert_eq!(
        map.object_to_raw_pg(b"foo", &ns).unwrap().seed,
        str_hash_rjenkins(b"ns\x1ffoo")
    );
    // A locator key places the object with the key's other objects.
    let keyed = ObjectLocator {
        key: Some(b"bar".to_vec()),
        ..ObjectLocator::new(1)
    };
    assert_eq!(
        map.object_to_pg(b"anything", &keyed).unwrap(),
        map.object_to_pg(b"bar", &plain).unwrap()
    );
    assert!(matches!(
        map.object_to_pg(b"x", &ObjectLocator::new(7)),
        Err(OsdMapError::PoolNotFound { .. })
    ));
}

#[test]
fn encoding_round_trips_and_is_versioned() {
    let mut map = cluster();
    map.set_pg_temp(PgId::new(1, 2), vec![3, 4, 5]);
    map.set_primary_temp(PgId::new(1, 2), Some(4));
    map.set_pg_upmap_items(PgId::new(1, 3), vec![(1, 6)]);
    let bytes = map.encode();
    assert_eq!(OsdMap::decode(&bytes).unwrap(), map);
    let mut inc = Incremental::next(&map);
    inc.osd(2).up = Some(false);
    inc.new_pools
        .insert(3, Pool::replicated(3, "data", 2, 8, 0));
    let inc_bytes = inc.encode();
    assert_eq!(Incremental::decode(&inc_bytes).unwrap(), inc);
    // An incremental is not a map, and garbage is an error.
    assert!(matches!(
        OsdMap::decode(&inc_bytes),
        Err(OsdMapError::Decode(_))
    ));
    assert!(OsdMap::decode(b"not a map").is_err());
    let mut applied = map.clone();
    applied.apply_incremental(&inc).unwrap();
    assert_eq!(applied.epoch(), map.epoch() + 1);
    assert!(!applied.is_up(2));
    assert_eq!(applied.pool(3).unwrap().last_change, applied.epoch());
}

#[test]
fn pool_names_are_unique() {
    let mut map = cluster();
    let err = map
        .set_pool(Pool::replicated(5, "rbd", 3, 8, 0))
        .unwrap_err();
    assert!(matches!(err, OsdMapError::PoolExists { .. }));
    assert_eq!(err.errno(), librados::errno::EEXIST);
}

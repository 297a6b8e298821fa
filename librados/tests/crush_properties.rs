//! Properties of CRUSH placement that must hold for every map, checked on generated maps.

use common::cases;
use librados::crush::{binary, compile, decompile, CrushMap, Workspace};
use proptest::prelude::*;

mod common;
use std::collections::BTreeSet;

/// A generated hierarchy: hosts with devices of given weights (16.16).
#[derive(Clone, Debug)]
struct Spec {
    hosts: Vec<Vec<u32>>,
    host_alg: &'static str,
    root_alg: &'static str,
    profile: usize,
}

const ALGS: [&str; 5] = ["uniform", "list", "tree", "straw", "straw2"];

fn weight() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(0x10000u32),
        Just(0x8000u32),
        1u32..0x40000u32
    ]
}

fn spec(host_algs: &'static [&'static str]) -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(prop::collection::vec(weight(), 1..6), 1..7),
        prop::sample::select(host_algs),
        prop::sample::select(&["straw2", "straw", "list", "tree"][..]),
        0usize..5,
    )
        .prop_map(|(hosts, host_alg, root_alg, profile)| Spec {
            hosts,
            host_alg,
            root_alg,
            profile,
        })
}

fn fixed(w: u32) -> String {
    format!("{}", f64::from(w) / 65536.0)
}

/// The text map of a spec: root `default` over hosts over devices, with a few rules.
fn text(spec: &Spec) -> String {
    let tunables = [
        "",
        "tunable choose_local_tries 0\ntunable choose_local_fallback_tries 0\ntunable choose_total_tries 50\ntunable chooseleaf_descend_once 1\n",
        "tunable choose_local_tries 0\ntunable choose_local_fallback_tries 0\ntunable choose_total_tries 50\ntunable chooseleaf_descend_once 1\ntunable chooseleaf_vary_r 1\n",
        "tunable choose_local_tries 0\ntunable choose_local_fallback_tries 0\ntunable choose_total_tries 50\ntunable chooseleaf_descend_once 1\ntunable chooseleaf_vary_r 1\ntunable chooseleaf_stable 1\ntunable straw_calc_version 1\n",
        "tunable choose_total_tries 30\ntunable straw_calc_version 1\n",
    ][spec.profile];
    let mut t = String::from(tunables);
    let mut dev = 0;
    let mut buckets = String::new();
    let mut root_items = String::new();
    for (h, weights) in spec.hosts.iter().enumerate() {
        buckets.push_str(&format!("host h{h} {{\n\talg {}\n", spec.host_alg));
        let mut total = 0u64;
        for (i, &w) in weights.iter().enumerate() {
            // Uniform buckets need equal weights: use the host's first.
            let w = if spec.host_alg == "uniform" {
                weights[0]
            } else {
                w
            };
            let _ = i;
            t.push_str(&format!("device {} osd.{}\n", dev + i, dev + i));
            buckets.push_str(&format!("\titem osd.{} weight {}\n", dev + i, fixed(w)));
            total += u64::from(w);
        }
        dev += weights.len();
        buckets.push_str("}\n");
        root_items.push_str(&format!(
            "\titem h{h} weight {}\n",
            fixed(total.min(u64::from(u32::MAX)) as u32)
        ));
    }
    t.push_str("type 0 osd\ntype 1 host\ntype 2 root\n");
    t.push_str(&buckets);
    t.push_str(&format!(
        "root default {{\n\talg {}\n{root_items}}}\n",
        spec.root_alg
    ));
    for (id, (mode, step)) in [
        ("firstn", "chooseleaf firstn 0 type host"),
        ("firstn", "choose firstn 0 type osd"),
        ("indep", "chooseleaf indep 0 type host"),
        ("indep", "choose indep 0 type osd"),
    ]
    .iter()
    .enumerate()
    {
        let kind = if *mode == "firstn" {
            "replicated"
        } else {
            "erasure"
        };
        t.push_str(&format!(
            "rule r{id} {{\n\tid {id}\n\ttype {kind}\n\tmin_size 1\n\tmax_size 10\n\tstep take default\n\tstep {step}\n\tstep emit\n}}\n"
        ));
    }
    t
}

fn map_all(
    map: &CrushMap,
    rule: usize,
    n: usize,
    weights: &[u32],
    xs: std::ops::Range<u32>,
) -> Vec<Vec<i32>> {
    let mut ws = Workspace::new();
    let mut out = Vec::new();
    xs.map(|x| {
        map.do_rule(rule, x, n, weights, None, &mut ws, &mut out);
        out.clone()
    })
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// firstn rules never place two replicas on one device.
    #[test]
    fn firstn_never_repeats(spec in spec(&ALGS), n in 1usize..6) {
        let map = compile(&text(&spec)).unwrap();
        let weights = map.all_in_weights();
        for rule in [0, 1] {
            for r in map_all(&map, rule, n, &weights, 0..200) {
                let set: BTreeSet<_> = r.iter().collect();
                prop_assert_eq!(set.len(), r.len(), "repeat in {:?}", r);
                prop_assert!(r.len() <= n);
            }
        }
    }

    /// Devices that are out (reweight 0) are never chosen; in straw2 hierarchies devices of zero
    /// CRUSH weight are never chosen either, unless legacy tunables allow the exhaustive local
    /// search (`choose_local_fallback_tries`), which ignores weights.
    #[test]
    fn zero_weight_and_out_never_chosen(spec in spec(&["straw2"]), out_mask in any::<u64>(), n in 1usize..5) {
        let mut spec = spec;
        spec.root_alg = "straw2";
        // With every weight zero, straw2 falls back to the first item: nothing to check.
        prop_assume!(spec.hosts.iter().flatten().any(|&w| w > 0));
        let map = compile(&text(&spec)).unwrap();
        let all: Vec<u32> = spec.hosts.iter().flatten().copied().collect();
        let weights: Vec<u32> = (0..all.len()).map(|d| if out_mask >> (d % 64) & 1 == 1 { 0 } else { 0x10000 }).collect();
        let legacy_search = map.tunables().choose_local_fallback_tries > 0;
        let forbidden: BTreeSet<i32> = (0..all.len())
            .filter(|&d| weights[d] == 0 || (all[d] == 0 && !legacy_search))
            .map(|d| d as i32)
            .collect();
        for rule in 0..4 {
            for r in map_all(&map, rule, n, &weights, 0..150) {
                prop_assert!(r.iter().all(|d| !forbidden.contains(d)), "rule {} chose a forbidden device: {:?}", rule, r);
            }
        }
    }

    /// In a straw2 bucket, changing one device's weight only moves data to or from that device:
    /// every draw's winner either stays or changes to or from the reweighted device.
    #[test]
    fn straw2_reweight_moves_only_that_device(
        weights in prop::collection::vec(1u32..0x40000, 2..12),
        which in any::<prop::sample::Index>(),
        new_weight in 0u32..0x40000,
    ) {
        let flat = |ws: &[u32]| {
            let mut t = String::from("tunable choose_total_tries 50\ntunable chooseleaf_descend_once 1\ntunable chooseleaf_vary_r 1\ntunable chooseleaf_stable 1\n");
            for i in 0..ws.len() { t.push_str(&format!("device {i} osd.{i}\n")); }
            t.push_str("type 0 osd\ntype 1 root\nroot default {\n\talg straw2\n");
            for (i, w) in ws.iter().enumerate() { t.push_str(&format!("\titem osd.{i} weight {}\n", fixed(*w))); }
            t.push_str("}\nrule r {\n\tid 0\n\ttype replicated\n\tmin_size 1\n\tmax_size 10\n\tstep take default\n\tstep choose firstn 0 type osd\n\tstep emit\n}\n");
            compile(&t).unwrap()
        };
        let d = which.index(weights.len()) as i32;
        let mut changed = weights.clone();
        changed[d as usize] = new_weight;
        let (a, b) = (flat(&weights), flat(&changed));
        let all = a.all_in_weights();
        let before = map_all(&a, 0, 1, &all, 0..2000);
        let after = map_all(&b, 0, 1, &all, 0..2000);
        for (x, (old, new)) in before.iter().zip(&after).enumerate() {
            prop_assert!(old == new || old == &[d] || new == &[d], "x {}: {:?} -> {:?} after reweighting osd.{}", x, old, new, d);
        }
    }

    /// indep results keep their positions: marking out a device that a mapping does not use
    /// leaves the mapping exactly as it was, and one that it uses disappears from it.
    #[test]
    fn indep_positions_stay_put(spec in spec(&["straw2", "straw", "list", "tree"]), dev in any::<prop::sample::Index>(), n in 2usize..6) {
        let map = compile(&text(&spec)).unwrap();
        let all = map.all_in_weights();
        let d = dev.index(all.len()) as i32;
        let mut out_weights = all.clone();
        out_weights[d as usize] = 0;
        for rule in [2, 3] {
            let before = map_all(&map, rule, n, &all, 0..200);
            let after = map_all(&map, rule, n, &out_weights, 0..200);
            for (old, new) in before.iter().zip(&after) {
                prop_assert_eq!(old.len(), n);
                prop_assert_eq!(new.len(), n);
                prop_assert!(!new.contains(&d));
                if !old.contains(&d) {
                    prop_assert_eq!(old, new, "osd.{} was not used but the mapping changed", d);
                }
            }
        }
    }

    /// decompile(compile(text)) is stable: after one pass through the text format (which keeps
    /// three decimals of each weight) a map survives text and binary round trips unchanged.
    #[test]
    fn text_and_binary_round_trip(spec in spec(&ALGS)) {
        let first = compile(&decompile(&compile(&text(&spec)).unwrap())).unwrap();
        let text1 = decompile(&first);
        let second = compile(&text1).unwrap();
        prop_assert_eq!(&decompile(&second), &text1);
        prop_assert_eq!(binary::encode(&second), binary::encode(&first));
        let decoded = binary::decode(&binary::encode(&first)).unwrap();
        prop_assert_eq!(decompile(&decoded), text1);
    }

    /// Weights with an exact three-decimal form survive decompile + compile bit for bit.
    #[test]
    fn exact_weights_round_trip(spec in spec(&ALGS)) {
        let mut spec = spec;
        for w in spec.hosts.iter_mut().flatten() {
            *w -= *w % 0x2000;
        }
        let map = compile(&text(&spec)).unwrap();
        prop_assert_eq!(binary::encode(&compile(&decompile(&map)).unwrap()), binary::encode(&map));
    }
}

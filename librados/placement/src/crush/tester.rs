//! `crushtool --test`: map a range of inputs through rules and report mappings, result-size
//! statistics and per-device utilization, in crushtool's exact output format.

use super::map::{CrushMap, CRUSH_ITEM_NONE};
use super::mapper::{Workspace, WEIGHT_IN};
use crate::fmt::{general, list};
use crate::hash::crush_hash32_2;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// What to test and what to print.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestOptions {
    /// One rule, or every rule when `None`.
    pub rule: Option<usize>,
    /// Replica count; when `None` each rule's `min_size..=max_size`.
    pub num_rep: Option<usize>,
    /// Inputs `x` (inclusive); `0..=1023` when `None`.
    pub x_range: Option<(i32, i32)>,
    /// Reweights (16.16, clamped to 1.0) overriding "in" for the listed devices.
    pub device_weights: BTreeMap<i32, u32>,
    /// When set, each input is hashed with the pool id first (`crush_hash32_2(x, pool)`).
    pub pool_id: Option<i64>,
    pub show_mappings: bool,
    pub show_statistics: bool,
    pub show_utilization: bool,
    pub show_utilization_all: bool,
    pub show_bad_mappings: bool,
}

/// Converts a `--weight` value as crushtool does: `(int)(w * 0x10000)` in 32-bit float, clamped
/// to `0..=0x10000`.
pub fn reweight_from_f32(w: f32) -> u32 {
    ((w * 65536.0f32) as i64).clamp(0, i64::from(WEIGHT_IN)) as u32
}

/// The reweight vector crushtool tests with: given weights, else 1.0 for devices placed in a
/// bucket and 0 for the others.
pub fn test_weights(map: &CrushMap, given: &BTreeMap<i32, u32>) -> Vec<u32> {
    let mut weights = vec![0u32; usize::try_from(map.max_devices()).unwrap_or(0)];
    for &d in map.buckets().flat_map(|b| b.items()) {
        if let Some(w) = usize::try_from(d).ok().and_then(|d| weights.get_mut(d)) {
            *w = WEIGHT_IN;
        }
    }
    for (&d, &w) in given {
        if let Some(slot) = usize::try_from(d).ok().and_then(|d| weights.get_mut(d)) {
            *slot = w;
        }
    }
    weights
}

/// Runs the test, writing what crushtool prints on stdout to `out` and on stderr to `err`.
pub fn run_test(
    map: &CrushMap,
    opts: &TestOptions,
    out_s: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    let weights = test_weights(map, &opts.device_weights);
    let show_stats = opts.show_statistics || opts.show_utilization || opts.show_utilization_all;
    if opts.show_utilization_all {
        let hex: Vec<String> = weights.iter().map(|w| format!("{w:x}")).collect();
        writeln!(err, "devices weights (hex): {}", list(&hex))?;
    }
    let total_weight: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let (min_x, max_x) = opts.x_range.unwrap_or((0, 1023));
    let (first_rule, last_rule) = match opts.rule {
        Some(r) => (r, r),
        None => (0, map.max_rules().saturating_sub(1)),
    };
    let choose_args = map.choose_args_for(0);
    let mut ws = Workspace::new();
    let mut out = Vec::new();
    for r in first_rule..=last_rule.min(map.max_rules().saturating_sub(1)) {
        let Some(rule) = map.rule(r) else {
            if show_stats {
                writeln!(out_s, "rule {r} dne")?;
            }
            continue;
        };
        let name = map.rule_name(r).unwrap_or("");
        let (min_rep, max_rep) = match opts.num_rep {
            Some(n) => (n, n),
            None => (usize::from(rule.min_size), usize::from(rule.max_size)),
        };
        if show_stats {
            writeln!(
                out_s,
                "rule {r} ({name}), x = {min_x}..{max_x}, numrep = {min_rep}..{max_rep}"
            )?;
        }
        for nr in min_rep..=max_rep {
            if total_weight == 0 {
                continue;
            }
            let mut per = vec![0u64; weights.len()];
            let mut sizes: BTreeMap<usize, u64> = BTreeMap::new();
            for x in min_x..=max_x {
                let real_x = match opts.pool_id {
                    Some(p) => crush_hash32_2(x as u32, p as u32),
                    None => x as u32,
                };
                map.do_rule(r, real_x, nr, &weights, choose_args, &mut ws, &mut out);
                if opts.show_mappings {
                    writeln!(out_s, "CRUSH rule {r} x {x} {}", list(&out))?;
                }
                if opts.show_bad_mappings && (out.len() != nr || out.contains(&CRUSH_ITEM_NONE)) {
                    writeln!(
                        out_s,
                        "bad mapping rule {r} x {x} num_rep {nr} result {}",
                        list(&out)
                    )?;
                }
                for &d in &out {
                    if let Some(c) = usize::try_from(d).ok().and_then(|d| per.get_mut(d)) {
                        *c += 1;
                    }
                }
                *sizes.entry(out.len()).or_default() += 1;
            }
            if opts.show_utilization && !show_stats {
                for (i, c) in per.iter().enumerate() {
                    writeln!(out_s, "  device {i}:\t{c}")?;
                }
            }
            if show_stats {
                let count = i64::from(max_x) - i64::from(min_x) + 1;
                for (size, n) in &sizes {
                    writeln!(
                        out_s,
                        "rule {r} ({name}) num_rep {nr} result size == {size}:\t{n}/{count}"
                    )?;
                }
            }
            if opts.show_utilization || opts.show_utilization_all {
                let affected = nr.min(max_affected_by_rule(map, r)) as f32;
                let objects = affected * (i64::from(max_x) - i64::from(min_x) + 1) as f32;
                for (i, &stored) in per.iter().enumerate() {
                    let expected = weights[i] as f32 / total_weight as f32 * objects;
                    if opts.show_utilization_all || (expected > 0.0 && stored > 0) {
                        let e = general(f64::from(expected));
                        writeln!(
                            out_s,
                            "  device {i}:\t\t stored : {stored}\t expected : {e}"
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// crushtool's upper bound on how many distinct items a rule can place: the smallest count among
/// the bucket types its steps choose (capped by each step's own count).
fn max_affected_by_rule(map: &CrushMap, rule: usize) -> usize {
    let Some(rule) = map.rule(rule) else { return 0 };
    let mut affected: Vec<i32> = Vec::new();
    let mut replicas: BTreeMap<i32, i32> = BTreeMap::new();
    for step in &rule.steps {
        let (op, arg1, arg2) = step.to_raw();
        if op >= 2 && op != 4 {
            affected.push(arg2);
            replicas.insert(arg2, arg1);
        }
    }
    let mut count_of_type: BTreeMap<i32, i64> = BTreeMap::new();
    for &t in &affected {
        let n = map
            .buckets()
            .filter(|b| i32::from(b.type_id()) == t && map.item_name(b.id()).is_some())
            .count();
        *count_of_type.entry(t).or_default() += n as i64;
    }
    for &t in &affected {
        let want = i64::from(replicas[&t]);
        let have = count_of_type.entry(t).or_default();
        if want > 0 && want < *have {
            *have = want;
        }
    }
    let mut max_affected = (map.max_buckets() as i64).max(i64::from(map.max_devices()));
    for t in &affected {
        let n = count_of_type[t];
        if n > 0 && n < max_affected {
            max_affected = n;
        }
    }
    max_affected.max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reweight_conversion_matches_crushtool() {
        assert_eq!(reweight_from_f32(0.5), 32768);
        assert_eq!(reweight_from_f32(0.3), 19660);
        assert_eq!(reweight_from_f32(0.8), 52428);
        assert_eq!(reweight_from_f32(2.0), 0x10000);
        assert_eq!(reweight_from_f32(-1.0), 0);
    }
}

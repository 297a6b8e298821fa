//! Prints a [`CrushMap`] in the text format, byte for byte as `crushtool -d` does.
//!
//! Buckets are printed children first; shadow buckets are not printed (they are rebuilt from the
//! `id N class C` lines); tunables appear only where they differ from the legacy defaults.

use crate::crush::bucket::BucketAlg;
use crate::crush::map::{ChooseArgMap, CrushMap};
use crate::crush::rule::{rule_type_name, Rule, Step};
use crate::crush::tunables::Tunables;
use std::fmt::Write;

/// A 16.16 weight as crushtool prints it: through a 32-bit float, three decimals.
pub(crate) fn fixed_point(w: u32) -> String {
    format!("{:.3}", f64::from(w as f32 / 65536.0f32))
}

/// Decompiles a map to text.
pub fn decompile(map: &CrushMap) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# begin crush map\n");
    let legacy = Tunables::default().named_values();
    for ((name, value), (_, default)) in map.tunables.named_values().into_iter().zip(legacy) {
        if value != default {
            let _ = writeln!(out, "tunable {name} {value}");
        }
    }
    out.push_str("\n# devices\n");
    for (id, name) in map.devices() {
        let _ = write!(out, "device {id} {name}");
        if let Some(class) = map.item_class(id) {
            let _ = write!(out, " class {class}");
        }
        out.push('\n');
    }
    out.push_str("\n# types\n");
    for (id, name) in map.types() {
        let _ = writeln!(out, "type {id} {name}");
    }
    out.push_str("\n# buckets\n");
    let mut done = vec![false; map.max_buckets()];
    for b in map.buckets() {
        bucket_tree(map, b.id(), &mut done, &mut out);
    }
    out.push_str("\n# rules\n");
    for (id, rule) in map.rules() {
        write_rule(map, id, rule, &mut out);
    }
    if !map.choose_args().is_empty() {
        out.push_str("\n# choose_args\n");
        for (index, args) in map.choose_args() {
            write_choose_args(*index, args, &mut out);
        }
    }
    out.push_str("\n# end crush map\n");
    out
}

fn item_name(map: &CrushMap, id: i32) -> String {
    match map.item_name(id) {
        Some(n) => n.to_string(),
        None if id >= 0 => format!("device{id}"),
        None => format!("bucket{}", -1 - id),
    }
}

fn type_name(map: &CrushMap, t: i32) -> String {
    match map.type_name(t) {
        Some(n) => n.to_string(),
        None if t == 0 => "device".into(),
        None => format!("type{t}"),
    }
}

/// Prints `id`'s child buckets, then `id` itself (a map is acyclic, so this terminates).
fn bucket_tree(map: &CrushMap, id: i32, done: &mut [bool], out: &mut String) {
    let Some(seen) = crate::crush::map::slot_of(id).and_then(|s| done.get_mut(s)) else {
        return;
    };
    if *seen || map.is_shadow(id) {
        return;
    }
    *seen = true;
    let Some(b) = map.bucket(id) else { return };
    for &child in b.items() {
        if child < 0 {
            bucket_tree(map, child, done, out);
        }
    }
    let _ = writeln!(
        out,
        "{} {} {{",
        type_name(map, i32::from(b.type_id())),
        item_name(map, id)
    );
    let _ = writeln!(out, "\tid {id}\t\t# do not change unnecessarily");
    for (class, shadow) in map.shadows_of(id) {
        let class = map.class_name(class).unwrap_or_default();
        let _ = writeln!(
            out,
            "\tid {shadow} class {class}\t\t# do not change unnecessarily"
        );
    }
    let _ = writeln!(out, "\t# weight {}", fixed_point(b.weight()));
    let _ = write!(out, "\talg {}", b.alg());
    let with_pos = match b.alg() {
        BucketAlg::Uniform => {
            let _ = write!(
                out,
                "\t# do not change bucket size ({}) unnecessarily",
                b.size()
            );
            true
        }
        BucketAlg::List => {
            out.push_str("\t# add new items at the end; do not change order unnecessarily");
            false
        }
        BucketAlg::Tree => {
            out.push_str("\t# do not change pos for existing items unnecessarily");
            true
        }
        BucketAlg::Straw | BucketAlg::Straw2 => false,
    };
    let hash_name = if b.hash() == 0 {
        "rjenkins1"
    } else {
        "unknown"
    };
    let _ = write!(out, "\n\thash {}\t# {hash_name}\n", b.hash());
    for (pos, &item) in b.items().iter().enumerate() {
        let _ = write!(
            out,
            "\titem {} weight {}",
            item_name(map, item),
            fixed_point(b.item_weight(pos))
        );
        if with_pos {
            let _ = write!(out, " pos {pos}");
        }
        out.push('\n');
    }
    out.push_str("}\n");
}

fn write_rule(map: &CrushMap, id: usize, rule: &Rule, out: &mut String) {
    let _ = writeln!(out, "rule {} {{", map.rule_name(id).unwrap_or(""));
    let _ = writeln!(out, "\tid {id}");
    if usize::from(rule.ruleset) != id {
        let _ = writeln!(
            out,
            "\t# WARNING: ruleset {} != id {id}; this will not recompile to the same map",
            rule.ruleset
        );
    }
    match rule_type_name(rule.rule_type) {
        Some(t) => {
            let _ = writeln!(out, "\ttype {t}");
        }
        None => {
            let _ = writeln!(out, "\ttype {}", rule.rule_type);
        }
    }
    let _ = writeln!(out, "\tmin_size {}", rule.min_size);
    let _ = writeln!(out, "\tmax_size {}", rule.max_size);
    for step in &rule.steps {
        let _ = writeln!(out, "\tstep {}", step_text(map, step));
    }
    out.push_str("}\n");
}

fn step_text(map: &CrushMap, step: &Step) -> String {
    match *step {
        Step::Noop => "noop".into(),
        Step::Take(item) => match map.shadow_origin(item) {
            Some((orig, class)) => {
                format!(
                    "take {} class {}",
                    item_name(map, orig),
                    map.class_name(class).unwrap_or_default()
                )
            }
            None => format!("take {}", item_name(map, item)),
        },
        Step::Choose {
            mode,
            leaf,
            count,
            type_id,
        } => {
            let verb = if leaf { "chooseleaf" } else { "choose" };
            format!(
                "{verb} {} {count} type {}",
                mode.name(),
                type_name(map, type_id)
            )
        }
        Step::Emit => "emit".into(),
        Step::SetChooseTries(v) => format!("set_choose_tries {v}"),
        Step::SetChooseleafTries(v) => format!("set_chooseleaf_tries {v}"),
        Step::SetChooseLocalTries(v) => format!("set_choose_local_tries {v}"),
        Step::SetChooseLocalFallbackTries(v) => format!("set_choose_local_fallback_tries {v}"),
        Step::SetChooseleafVaryR(v) => format!("set_chooseleaf_vary_r {v}"),
        Step::SetChooseleafStable(v) => format!("set_chooseleaf_stable {v}"),
        Step::Unknown { op, arg1, arg2 } => format!("noop\t# unknown operation {op} {arg1} {arg2}"),
    }
}

fn write_choose_args(index: i64, args: &ChooseArgMap, out: &mut String) {
    let _ = writeln!(out, "choose_args {index} {{");
    for (bucket_id, arg) in args.iter() {
        out.push_str("  {\n");
        let _ = writeln!(out, "    bucket_id {bucket_id}");
        if !arg.weight_set.is_empty() {
            out.push_str("    weight_set [\n");
            for ws in &arg.weight_set {
                out.push_str("      [ ");
                for &w in ws {
                    let _ = write!(out, "{} ", fixed_point(w));
                }
                out.push_str("]\n");
            }
            out.push_str("    ]\n");
        }
        if !arg.ids.is_empty() {
            out.push_str("    ids [ ");
            for id in &arg.ids {
                let _ = write!(out, "{id} ");
            }
            out.push_str("]\n");
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_print_like_printf_through_a_float() {
        assert_eq!(fixed_point(0x10000), "1.000");
        assert_eq!(fixed_point(0x18000), "1.500");
        // Exact ties round to even, as glibc's printf does.
        assert_eq!(fixed_point(4096), "0.062");
        assert_eq!(fixed_point(12288), "0.188");
        // Above 2^24 the float loses the low bits, and so does crushtool's output.
        assert_eq!(fixed_point(33_554_465), "512.000");
    }
}

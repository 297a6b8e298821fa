//! The map as JSON, in the layout of `crushtool --dump` / `ceph osd crush dump` (devices, types,
//! buckets, rules, tunables with the feature summary, choose_args).

use super::map::CrushMap;
use super::rule::{ChooseMode, Step};
use super::tunables::{Profile, Tunables};
use crate::fmt::general_with_precision;

/// A JSON value, printed with four-space indentation as Ceph's formatter does.
enum Json {
    Obj(Vec<(&'static str, Json)>),
    /// An object whose keys are computed (choose_args indexes).
    Map(Vec<(String, Json)>),
    Arr(Vec<Json>),
    Int(i64),
    /// A pre-formatted number.
    Num(String),
    Str(String),
}

impl Json {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| out.extend(std::iter::repeat_n(' ', n * 4));
        match self {
            Json::Int(v) => out.push_str(&v.to_string()),
            Json::Num(v) => out.push_str(v),
            Json::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push_str("[\n");
                for (i, v) in items.iter().enumerate() {
                    pad(out, indent + 1);
                    v.write(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            Json::Obj(fields) => write_fields(
                fields.iter().map(|(k, v)| (*k, v)),
                fields.len(),
                out,
                indent,
            ),
            Json::Map(fields) => write_fields(
                fields.iter().map(|(k, v)| (k.as_str(), v)),
                fields.len(),
                out,
                indent,
            ),
        }
    }
}

fn write_fields<'a>(
    fields: impl Iterator<Item = (&'a str, &'a Json)>,
    n: usize,
    out: &mut String,
    indent: usize,
) {
    if n == 0 {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    for (i, (k, v)) in fields.enumerate() {
        out.extend(std::iter::repeat_n(' ', (indent + 1) * 4));
        Json::Str(k.to_string()).write(out, indent + 1);
        out.push_str(": ");
        v.write(out, indent + 1);
        out.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    out.extend(std::iter::repeat_n(' ', indent * 4));
    out.push('}');
}

fn int(v: impl Into<i64>) -> Json {
    Json::Int(v.into())
}

fn string(s: &str) -> Json {
    Json::Str(s.to_string())
}

/// A 16.16 weight as a JSON number: through a 32-bit float, then every significant digit.
fn weight_float(w: u32) -> Json {
    Json::Num(general_with_precision(f64::from(w as f32 / 65536.0f32), 17))
}

/// The JSON dump.
pub fn dump(map: &CrushMap) -> String {
    let doc = Json::Obj(vec![
        ("devices", devices(map)),
        (
            "types",
            Json::Arr(
                map.types()
                    .map(|(id, n)| Json::Obj(vec![("type_id", int(id)), ("name", string(n))]))
                    .collect(),
            ),
        ),
        ("buckets", buckets(map)),
        ("rules", rules(map)),
        ("tunables", tunables(map)),
        ("choose_args", choose_args(map)),
    ]);
    let mut out = String::new();
    doc.write(&mut out, 0);
    out.push_str("\n\n");
    out
}

fn devices(map: &CrushMap) -> Json {
    Json::Arr(
        (0..map.max_devices())
            .map(|id| {
                let name = map
                    .item_name(id)
                    .map_or_else(|| format!("device{id}"), str::to_string);
                let mut f = vec![("id", int(id)), ("name", Json::Str(name))];
                if let Some(c) = map.item_class(id) {
                    f.push(("class", string(c)));
                }
                Json::Obj(f)
            })
            .collect(),
    )
}

fn buckets(map: &CrushMap) -> Json {
    Json::Arr(
        map.buckets()
            .map(|b| {
                let t = i32::from(b.type_id());
                let hash = if b.hash() == 0 {
                    string("rjenkins1")
                } else {
                    int(b.hash())
                };
                let items = (0..b.size())
                    .map(|p| {
                        Json::Obj(vec![
                            ("id", int(b.items()[p])),
                            ("weight", int(b.item_weight(p))),
                            ("pos", int(p as i64)),
                        ])
                    })
                    .collect();
                Json::Obj(vec![
                    ("id", int(b.id())),
                    ("name", string(map.item_name(b.id()).unwrap_or(""))),
                    ("type_id", int(t)),
                    ("type_name", string(map.type_name(t).unwrap_or(""))),
                    ("weight", int(b.weight())),
                    ("alg", string(b.alg().name())),
                    ("hash", hash),
                    ("items", Json::Arr(items)),
                ])
            })
            .collect(),
    )
}

fn step_json(map: &CrushMap, step: &Step) -> Json {
    let type_name = |t: i32| string(map.type_name(t).unwrap_or(""));
    let num = |op: &'static str, v: i32| Json::Obj(vec![("op", string(op)), ("num", int(v))]);
    match *step {
        Step::Noop => Json::Obj(vec![("op", string("noop"))]),
        Step::Take(item) => Json::Obj(vec![
            ("op", string("take")),
            ("item", int(item)),
            ("item_name", string(map.item_name(item).unwrap_or(""))),
        ]),
        Step::Choose {
            mode,
            leaf,
            count,
            type_id,
        } => {
            let op = match (leaf, mode) {
                (false, ChooseMode::FirstN) => "choose_firstn",
                (false, ChooseMode::Indep) => "choose_indep",
                (true, ChooseMode::FirstN) => "chooseleaf_firstn",
                (true, ChooseMode::Indep) => "chooseleaf_indep",
            };
            Json::Obj(vec![
                ("op", string(op)),
                ("num", int(count)),
                ("type", type_name(type_id)),
            ])
        }
        Step::Emit => Json::Obj(vec![("op", string("emit"))]),
        Step::SetChooseTries(v) => num("set_choose_tries", v),
        Step::SetChooseleafTries(v) => num("set_chooseleaf_tries", v),
        // Ceph's dump names only the steps above; the rest appear as raw operations.
        Step::SetChooseLocalTries(_)
        | Step::SetChooseLocalFallbackTries(_)
        | Step::SetChooseleafVaryR(_)
        | Step::SetChooseleafStable(_)
        | Step::Unknown { .. } => {
            let (op, arg1, arg2) = step.to_raw();
            Json::Obj(vec![
                ("opcode", int(op)),
                ("arg1", int(arg1)),
                ("arg2", int(arg2)),
            ])
        }
    }
}

fn rules(map: &CrushMap) -> Json {
    Json::Arr(
        map.rules()
            .map(|(id, r)| {
                Json::Obj(vec![
                    ("rule_id", int(id as i64)),
                    ("rule_name", string(map.rule_name(id).unwrap_or(""))),
                    ("ruleset", int(r.ruleset)),
                    ("type", int(r.rule_type)),
                    ("min_size", int(r.min_size)),
                    ("max_size", int(r.max_size)),
                    (
                        "steps",
                        Json::Arr(r.steps.iter().map(|s| step_json(map, s)).collect()),
                    ),
                ])
            })
            .collect(),
    )
}

/// Which client features a map needs (the summary Ceph prints with the tunables).
struct Features {
    tunables: bool,
    tunables2: bool,
    tunables3: bool,
    tunables5: bool,
    v2_rules: bool,
    v3_rules: bool,
    v4_buckets: bool,
    v5_rules: bool,
}

fn features(map: &CrushMap) -> Features {
    let t = map.tunables();
    let legacy = Tunables::default();
    let any_step = |f: &dyn Fn(&Step) -> bool| map.rules().any(|(_, r)| r.steps.iter().any(f));
    Features {
        tunables: t.choose_local_tries != legacy.choose_local_tries
            || t.choose_local_fallback_tries != legacy.choose_local_fallback_tries
            || t.choose_total_tries != legacy.choose_total_tries,
        tunables2: t.chooseleaf_descend_once != 0,
        tunables3: t.chooseleaf_vary_r != 0,
        tunables5: t.chooseleaf_stable != 0,
        v2_rules: any_step(&|s| {
            matches!(
                s,
                Step::Choose {
                    mode: ChooseMode::Indep,
                    ..
                } | Step::SetChooseTries(_)
                    | Step::SetChooseleafTries(_)
            )
        }),
        v3_rules: any_step(&|s| matches!(s, Step::SetChooseleafVaryR(_))),
        v4_buckets: map.buckets().any(|b| b.alg() == super::BucketAlg::Straw2),
        v5_rules: any_step(&|s| matches!(s, Step::SetChooseleafStable(_))),
    }
}

fn tunables(map: &CrushMap) -> Json {
    let t = map.tunables();
    let f = features(map);
    let profile = t.detect_profile();
    let min_version = if f.v5_rules || f.tunables5 {
        "jewel"
    } else if f.v4_buckets {
        "hammer"
    } else if f.tunables3 {
        "firefly"
    } else if f.tunables2 || f.tunables {
        "bobtail"
    } else {
        "argonaut"
    };
    let flag = |b: bool| int(i64::from(b));
    let mut fields: Vec<(&'static str, Json)> = t
        .named_values()
        .into_iter()
        .map(|(name, v)| (name, int(v)))
        .collect();
    fields.extend([
        ("profile", string(profile.map_or("unknown", Profile::name))),
        ("optimal_tunables", flag(profile == Some(Profile::Jewel))),
        ("legacy_tunables", flag(profile == Some(Profile::Argonaut))),
        ("minimum_required_version", string(min_version)),
        ("require_feature_tunables", flag(f.tunables)),
        ("require_feature_tunables2", flag(f.tunables2)),
        ("has_v2_rules", flag(f.v2_rules)),
        ("require_feature_tunables3", flag(f.tunables3)),
        ("has_v3_rules", flag(f.v3_rules)),
        ("has_v4_buckets", flag(f.v4_buckets)),
        ("require_feature_tunables5", flag(f.tunables5)),
        ("has_v5_rules", flag(f.v5_rules)),
    ]);
    Json::Obj(fields)
}

fn choose_args(map: &CrushMap) -> Json {
    Json::Map(
        map.choose_args()
            .iter()
            .map(|(index, args)| {
                let entries = args
                    .iter()
                    .map(|(id, arg)| {
                        let mut f = vec![("bucket_id", int(id))];
                        if !arg.weight_set.is_empty() {
                            let sets = arg
                                .weight_set
                                .iter()
                                .map(|ws| Json::Arr(ws.iter().map(|&w| weight_float(w)).collect()))
                                .collect();
                            f.push(("weight_set", Json::Arr(sets)));
                        }
                        if !arg.ids.is_empty() {
                            f.push(("ids", Json::Arr(arg.ids.iter().map(|&i| int(i)).collect())));
                        }
                        Json::Obj(f)
                    })
                    .collect();
                (index.to_string(), Json::Arr(entries))
            })
            .collect(),
    )
}

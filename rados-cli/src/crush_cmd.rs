//! `rados crush`: compile, decompile, test, build and edit CRUSH maps, with crushtool's flags and
//! output formats (so `rados crush ARGS` can stand in for `crushtool ARGS`).
//!
//! Subcommand spellings are accepted too: `compile IN`, `decompile IN`, `test IN`, `build`,
//! `tree IN` are `-c IN`, `-d IN`, `-i IN --test`, `--build`, `-i IN --tree`.

use crate::args::{ensure_unset, read_input, unknown, write_output, Args};
use anyhow::{anyhow, bail, Context, Result};
use librados::crush::simple::{build_layered, Layer};
use librados::crush::tester::{reweight_from_f32, run_test, TestOptions};
use librados::crush::{
    binary, compile, decompile, dump, tree, BucketAlg, ChooseMode, CrushError, CrushMap, Profile,
    SimpleRule, Tunables,
};
use std::collections::BTreeMap;
use std::io::Write;

pub const HELP: &str = "\
usage: rados crush [-i MAP | -c TEXT | -d MAP | --build --num-osds N TYPE ALG SIZE ...] [options]

Input (one of):
  -i FILE                 a CRUSH map (Ceph binary, or text)
  -c FILE                 compile a text map
  -d FILE                 decompile a map to text (stdout, or -o FILE)
  --build --num-osds N TYPE ALG SIZE [TYPE ALG SIZE ...]
                          build a layered map (SIZE 0 = one bucket for all)
Output:
  -o FILE                 write the (possibly modified) map in Ceph's binary format
  --tree                  print the hierarchy
  --dump                  print the map as JSON
Edits (applied in order):
  --set-choose-local-tries N, --set-choose-local-fallback-tries N, --set-choose-total-tries N,
  --set-chooseleaf-descend-once N, --set-chooseleaf-vary-r N, --set-chooseleaf-stable N,
  --set-straw-calc-version N, --set-allowed-bucket-algs N, --tunables PROFILE
  --add-item ID WEIGHT NAME --loc TYPE NAME [--loc TYPE NAME ...]
  --add-bucket NAME TYPE [--loc TYPE NAME ...]
  --move NAME --loc TYPE NAME [...]   --remove-item NAME   --reweight-item NAME WEIGHT
  --set-device-class NAME CLASS
  --create-replicated-rule NAME ROOT FAILURE_DOMAIN [CLASS]
  --create-simple-rule NAME ROOT FAILURE_DOMAIN firstn|indep
  --remove-rule NAME
Test (--test):
  --rule N  --num-rep N  --min-x N  --max-x N  --weight DEVICE WEIGHT  --pool-id N
  --show-mappings  --show-statistics  --show-utilization  --show-utilization-all
  --show-bad-mappings
";

enum Input {
    Binary(String),
    Compile(String),
    Decompile(String),
    Build { num_osds: u32, layers: Vec<Layer> },
}

enum Edit {
    Tunable(String, u32),
    Profile(Profile),
    AddItem {
        id: i32,
        weight: f32,
        name: String,
        loc: BTreeMap<String, String>,
    },
    AddBucket {
        name: String,
        type_name: String,
        loc: BTreeMap<String, String>,
    },
    Move {
        name: String,
        loc: BTreeMap<String, String>,
    },
    Remove(String),
    Reweight(String, f32),
    DeviceClass(String, String),
    Rule {
        name: String,
        root: String,
        domain: String,
        class: Option<String>,
        mode: ChooseMode,
    },
    RemoveRule(String),
}

struct Plan {
    input: Option<Input>,
    output: Option<String>,
    edits: Vec<Edit>,
    test: Option<TestOptions>,
    show_tree: bool,
    show_dump: bool,
    chooseleaf_type: i32,
}

pub fn run(raw: Vec<String>) -> Result<()> {
    let plan = parse(raw)?;
    let Some(input) = &plan.input else {
        bail!("no input: give -i, -c, -d or --build (see --help)")
    };
    let (mut map, source) = load(input, plan.chooseleaf_type)?;
    let modified =
        !plan.edits.is_empty() || matches!(input, Input::Compile(_) | Input::Build { .. });
    for edit in &plan.edits {
        apply_edit(&mut map, edit)?;
    }
    map.validate()?;
    if let Input::Decompile(_) = input {
        let text = decompile(&map);
        write_output(plan.output.as_deref().unwrap_or("-"), text.as_bytes())?;
    } else if let Some(out) = &plan.output {
        write_output(out, &binary::encode(&map))?;
    } else if modified && plan.test.is_none() && !plan.show_tree && !plan.show_dump {
        eprintln!("rados crush: {source} built or modified; use '-o FILE' to write it out");
    }
    if plan.show_tree {
        print!("{}", tree(&map));
    }
    if plan.show_dump {
        print!("{}", dump(&map));
    }
    if let Some(opts) = &plan.test {
        let any = opts.show_mappings
            || opts.show_statistics
            || opts.show_utilization
            || opts.show_utilization_all
            || opts.show_bad_mappings;
        if !any {
            eprintln!("WARNING: no output selected; use --show-X");
        }
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        run_test(&map, opts, &mut out, &mut std::io::stderr())?;
        out.flush()?;
    }
    Ok(())
}

/// Turns the subcommand spellings into crushtool flags.
fn desugar(mut raw: Vec<String>) -> Vec<String> {
    let Some(first) = raw.first().cloned() else {
        return raw;
    };
    let replacement: &[&str] = match first.as_str() {
        "compile" => &["-c"],
        "decompile" => &["-d"],
        "build" => &["--build"],
        "test" => &["--test", "-i"],
        "tree" => &["--tree", "-i"],
        "dump" => &["--dump", "-i"],
        _ => return raw,
    };
    raw.splice(0..1, replacement.iter().map(|s| s.to_string()));
    raw
}

fn parse(raw: Vec<String>) -> Result<Plan> {
    let mut a = Args::new(desugar(raw));
    let mut plan = Plan {
        input: None,
        output: None,
        edits: Vec::new(),
        test: None,
        show_tree: false,
        show_dump: false,
        chooseleaf_type: 1,
    };
    let mut test = TestOptions::default();
    let mut want_test = false;
    let (mut min_x, mut max_x): (Option<i32>, Option<i32>) = (None, None);
    let mut build_osds: Option<u32> = None;
    let mut build = false;
    let mut layer_words: Vec<String> = Vec::new();
    while let Some(arg) = a.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "-i" | "--infn" => {
                ensure_unset(&plan.input, "an input map")?;
                plan.input = Some(Input::Binary(a.value(&arg)?));
            }
            "-c" | "--compile" => {
                ensure_unset(&plan.input, "an input map")?;
                plan.input = Some(Input::Compile(a.value(&arg)?));
            }
            "-d" | "--decompile" => {
                ensure_unset(&plan.input, "an input map")?;
                plan.input = Some(Input::Decompile(a.value(&arg)?));
            }
            "--build" => build = true,
            "--num-osds" => build_osds = Some(a.parse(&arg)?),
            "-o" | "--outfn" => plan.output = Some(a.value(&arg)?),
            "--tree" => plan.show_tree = true,
            "--dump" => plan.show_dump = true,
            "--test" => want_test = true,
            "--rule" | "--ruleset" => test.rule = Some(a.parse(&arg)?),
            "--num-rep" => {
                let n: usize = a.parse(&arg)?;
                if n > librados::crush::MAX_RESULT {
                    bail!("--num-rep {n}: at most {}", librados::crush::MAX_RESULT);
                }
                test.num_rep = Some(n);
            }
            "--min-x" => min_x = Some(a.parse(&arg)?),
            "--max-x" => max_x = Some(a.parse(&arg)?),
            "--x" => {
                let x = a.parse(&arg)?;
                (min_x, max_x) = (Some(x), Some(x));
            }
            "--pool-id" => test.pool_id = Some(a.parse(&arg)?),
            "--weight" => {
                let dev: i32 = a.parse("--weight DEVICE")?;
                let w: f32 = a.parse("--weight WEIGHT")?;
                test.device_weights.insert(dev, reweight_from_f32(w));
            }
            "--show-mappings" => test.show_mappings = true,
            "--show-statistics" => test.show_statistics = true,
            "--show-utilization" => test.show_utilization = true,
            "--show-utilization-all" => test.show_utilization_all = true,
            "--show-bad-mappings" => test.show_bad_mappings = true,
            "--osd-crush-chooseleaf-type" => plan.chooseleaf_type = a.parse(&arg)?,
            "--tunables" => {
                let name = a.value(&arg)?;
                let p = Profile::from_name(&name)
                    .ok_or_else(|| anyhow!("unknown tunables profile '{name}'"))?;
                plan.edits.push(Edit::Profile(p));
            }
            "--add-item" => {
                let id = a.parse("--add-item ID")?;
                let weight = a.parse("--add-item WEIGHT")?;
                let name = a.value("--add-item NAME")?;
                plan.edits.push(Edit::AddItem {
                    id,
                    weight,
                    name,
                    loc: parse_loc(&mut a)?,
                });
            }
            "--add-bucket" => {
                let name = a.value("--add-bucket NAME")?;
                let type_name = a.value("--add-bucket TYPE")?;
                plan.edits.push(Edit::AddBucket {
                    name,
                    type_name,
                    loc: parse_loc(&mut a)?,
                });
            }
            "--move" => {
                let name = a.value(&arg)?;
                plan.edits.push(Edit::Move {
                    name,
                    loc: parse_loc(&mut a)?,
                });
            }
            "--remove-item" => plan.edits.push(Edit::Remove(a.value(&arg)?)),
            "--reweight-item" => {
                let name = a.value(&arg)?;
                plan.edits
                    .push(Edit::Reweight(name, a.parse("--reweight-item WEIGHT")?));
            }
            "--set-device-class" => {
                let name = a.value(&arg)?;
                plan.edits.push(Edit::DeviceClass(
                    name,
                    a.value("--set-device-class CLASS")?,
                ));
            }
            "--create-replicated-rule" | "--create-simple-rule" => {
                let name = a.value(&arg)?;
                let root = a.value(&arg)?;
                let domain = a.value(&arg)?;
                let (class, mode) = if arg == "--create-simple-rule" {
                    let mode = match a.value(&arg)?.as_str() {
                        "firstn" => ChooseMode::FirstN,
                        "indep" => ChooseMode::Indep,
                        other => bail!("{arg}: mode must be firstn or indep, not '{other}'"),
                    };
                    (None, mode)
                } else {
                    let class = a.peek().filter(|v| !v.starts_with('-')).map(str::to_string);
                    if class.is_some() {
                        a.next();
                    }
                    (class, ChooseMode::FirstN)
                };
                plan.edits.push(Edit::Rule {
                    name,
                    root,
                    domain,
                    class,
                    mode,
                });
            }
            "--remove-rule" => plan.edits.push(Edit::RemoveRule(a.value(&arg)?)),
            flag if flag.starts_with("--set-") => {
                let name = flag["--set-".len()..].replace('-', "_");
                plan.edits.push(Edit::Tunable(name, a.parse(flag)?));
            }
            word if build && !word.starts_with('-') => layer_words.push(word.to_string()),
            other => return Err(unknown(other)),
        }
    }
    if build {
        ensure_unset(&plan.input, "an input map")?;
        let num_osds = build_osds.ok_or_else(|| anyhow!("--build needs --num-osds N"))?;
        plan.input = Some(Input::Build {
            num_osds,
            layers: parse_layers(&layer_words)?,
        });
    }
    if want_test {
        // crushtool uses its default range unless both ends are given.
        if let (Some(lo), Some(hi)) = (min_x, max_x) {
            test.x_range = Some((lo, hi));
        }
        plan.test = Some(test);
    }
    Ok(plan)
}

fn parse_loc(a: &mut Args) -> Result<BTreeMap<String, String>> {
    let mut loc = BTreeMap::new();
    while a.peek() == Some("--loc") {
        a.next();
        let t = a.value("--loc TYPE")?;
        let n = a.value("--loc NAME")?;
        loc.insert(t, n);
    }
    Ok(loc)
}

fn parse_layers(words: &[String]) -> Result<Vec<Layer>> {
    if words.is_empty() || words.len() % 3 != 0 {
        bail!("--build needs layers as TYPE ALG SIZE triples (e.g. host straw2 3 root straw2 0)");
    }
    words
        .chunks(3)
        .map(|w| {
            let alg = BucketAlg::from_name(&w[1])
                .ok_or_else(|| anyhow!("unknown bucket type '{}'", w[1]))?;
            let size = w[2]
                .parse()
                .with_context(|| format!("layer {}: bad size '{}'", w[0], w[2]))?;
            Ok(Layer {
                type_name: w[0].clone(),
                alg,
                size,
            })
        })
        .collect()
}

/// Reads a map from a file: Ceph's binary encoding or, for convenience, text.
pub fn read_map(path: &str) -> Result<CrushMap> {
    let bytes = read_input(path)?;
    if binary::is_binary(&bytes) {
        return binary::decode(&bytes).with_context(|| format!("'{path}'"));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("'{path}' is neither a binary CRUSH map nor text"))?;
    compile(&text).map_err(|e| located(path, e))
}

fn located(path: &str, e: CrushError) -> anyhow::Error {
    match e {
        CrushError::Parse { line, message } => anyhow!("{path}:{line}: {message}"),
        other => anyhow!("{path}: {other}"),
    }
}

fn load(input: &Input, chooseleaf_type: i32) -> Result<(CrushMap, String)> {
    Ok(match input {
        Input::Binary(p) | Input::Decompile(p) => (read_map(p)?, p.clone()),
        Input::Compile(p) => {
            let text = String::from_utf8(read_input(p)?)
                .map_err(|_| anyhow!("'{p}' is not UTF-8 text"))?;
            (compile(&text).map_err(|e| located(p, e))?, p.clone())
        }
        Input::Build { num_osds, layers } => (
            build_layered(*num_osds, layers, chooseleaf_type)?,
            "map".into(),
        ),
    })
}

fn item(map: &CrushMap, name: &str) -> Result<i32> {
    map.item_id(name)
        .ok_or_else(|| anyhow!("item '{name}' does not exist"))
}

fn apply_edit(map: &mut CrushMap, edit: &Edit) -> Result<()> {
    match edit {
        Edit::Tunable(name, v) => {
            map.tunables_mut().set_by_name(name, *v)?;
        }
        Edit::Profile(p) => map.set_tunables(Tunables {
            straw_calc_version: map.tunables().straw_calc_version,
            ..Tunables::profile(*p)
        }),
        Edit::AddItem {
            id,
            weight,
            name,
            loc,
        } => {
            map.insert_item(*id, librados::crush::weight_to_fixed(*weight)?, name, loc)?;
        }
        Edit::AddBucket {
            name,
            type_name,
            loc,
        } => {
            let t = map
                .type_id(type_name)
                .ok_or_else(|| anyhow!("type '{type_name}' does not exist"))?;
            let alg = map.default_bucket_alg();
            let id = map.add_bucket(None, alg, t, name, &[])?;
            if !loc.is_empty() {
                map.move_bucket(id, loc)?;
            }
        }
        Edit::Move { name, loc } => map.move_bucket(item(map, name)?, loc)?,
        Edit::Remove(name) => map.remove_item(item(map, name)?, false)?,
        Edit::Reweight(name, w) => {
            map.adjust_item_weight(item(map, name)?, librados::crush::weight_to_fixed(*w)?)?;
        }
        Edit::DeviceClass(name, class) => map.set_device_class(item(map, name)?, class)?,
        Edit::Rule {
            name,
            root,
            domain,
            class,
            mode,
        } => {
            map.add_simple_rule(&SimpleRule {
                name,
                root,
                failure_domain: domain,
                device_class: class.as_deref(),
                mode: *mode,
                id: None,
            })?;
        }
        Edit::RemoveRule(name) => {
            let id = map
                .rule_id(name)
                .ok_or_else(|| anyhow!("rule '{name}' does not exist"))?;
            map.remove_rule(id)?;
        }
    }
    Ok(())
}

//! The hierarchy as a table (`crushtool --tree`): every root in id order, each bucket followed by
//! its items (sorted by device class, then devices by id and buckets by name), indented by depth;
//! with a weight column per choose_args set.

use super::map::CrushMap;
use std::fmt::Write;

struct Row {
    id: i32,
    class: String,
    weight: String,
    /// One cell per choose_args set (its first weight-set position).
    arg_weights: Vec<String>,
    type_name: String,
}

fn weight_text(w: u32) -> String {
    if w == 0 {
        "0".into()
    } else {
        format!("{:.5}", f64::from(w as f32 / 65536.0f32))
    }
}

fn display_name(map: &CrushMap, id: i32) -> String {
    if id >= 0 {
        format!("osd.{id}")
    } else {
        map.item_name(id)
            .map_or_else(|| id.to_string(), str::to_string)
    }
}

/// Renders the tree, shadow hierarchies included (as crushtool shows them).
pub fn tree(map: &CrushMap) -> String {
    let mut rows = Vec::new();
    for root in map.roots() {
        let w = map.bucket(root).map_or(0, |b| b.weight());
        walk(map, root, None, w, 0, &mut rows);
    }
    let arg_titles: Vec<String> = map
        .choose_args()
        .keys()
        .map(|&k| {
            if k < 0 {
                "(compat)".to_string()
            } else {
                k.to_string()
            }
        })
        .collect();
    let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let id_w = width(&|r| r.id.to_string().len(), "ID");
    let class_w = width(&|r| r.class.len(), "CLASS");
    let weight_w = width(&|r| r.weight.len(), "WEIGHT");
    let arg_w: Vec<usize> = arg_titles
        .iter()
        .enumerate()
        .map(|(i, t)| width(&|r| r.arg_weights[i].len(), t))
        .collect();
    let name_w = width(&|r| r.type_name.len(), "TYPE NAME");
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<id_w$}  {:<class_w$}  {:<weight_w$}  ",
        "ID", "CLASS", "WEIGHT"
    );
    for (t, w) in arg_titles.iter().zip(&arg_w) {
        let _ = write!(out, "{t:<w$}  ");
    }
    let _ = writeln!(out, "{:<name_w$}", "TYPE NAME");
    for r in rows {
        let _ = write!(
            out,
            "{:>id_w$}  {:>class_w$}  {:>weight_w$}  ",
            r.id, r.class, r.weight
        );
        for (cell, w) in r.arg_weights.iter().zip(&arg_w) {
            let _ = write!(out, "{cell:>w$}  ");
        }
        let _ = writeln!(out, "{:<name_w$}", r.type_name);
    }
    out
}

fn walk(
    map: &CrushMap,
    id: i32,
    parent: Option<(i32, usize)>,
    weight: u32,
    depth: usize,
    rows: &mut Vec<Row>,
) {
    let type_name = if id >= 0 {
        String::new()
    } else {
        let t = map.bucket(id).map_or(0, |b| i32::from(b.type_id()));
        map.type_name(t)
            .map_or_else(|| format!("type{t}"), str::to_string)
            + " "
    };
    let arg_weights = map
        .choose_args()
        .values()
        .map(|args| {
            parent
                .and_then(|(pid, pos)| args.get(pid)?.weight_set.first()?.get(pos).copied())
                .map_or_else(String::new, weight_text)
        })
        .collect();
    rows.push(Row {
        id,
        class: map.item_class(id).unwrap_or("").to_string(),
        weight: weight_text(weight),
        arg_weights,
        type_name: format!(
            "{}{type_name}{}",
            "    ".repeat(depth),
            display_name(map, id)
        ),
    });
    let Some(b) = map.bucket(id) else { return };
    let mut children: Vec<(usize, i32)> = b.items().iter().copied().enumerate().collect();
    // Devices sort by id among themselves; anything else by name. Zero-padded device ids make
    // that one total order.
    let key = |i: i32| {
        let class = map.item_class(i).unwrap_or("").to_string();
        let name = if i >= 0 {
            format!("osd.{i:010}")
        } else {
            display_name(map, i)
        };
        (class, name)
    };
    children.sort_by_cached_key(|&(_, x)| key(x));
    for (pos, child) in children {
        walk(
            map,
            child,
            Some((id, pos)),
            b.item_weight(pos),
            depth + 1,
            rows,
        );
    }
}

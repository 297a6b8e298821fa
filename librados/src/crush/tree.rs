//! The hierarchy as a table (`crushtool --tree`, `ceph osd crush tree`): every root in id order,
//! each bucket followed by its items, indented by depth.

use super::map::CrushMap;
use std::fmt::Write;

struct Row {
    id: i32,
    class: String,
    weight: String,
    type_name: String,
}

fn weight_text(w: u32) -> String {
    if w == 0 {
        "0".into()
    } else {
        format!("{:.5}", f64::from(w as f32 / 65536.0f32))
    }
}

/// Renders the tree, shadow hierarchies included (as crushtool shows them).
pub fn tree(map: &CrushMap) -> String {
    let mut rows = Vec::new();
    for root in map.roots() {
        let w = map.bucket(root).map_or(0, |b| b.weight());
        walk(map, root, w, 0, &mut rows);
    }
    let id_w = rows.iter().map(|r| r.id.to_string().len()).max().unwrap_or(0).max(2);
    let class_w = rows.iter().map(|r| r.class.len()).max().unwrap_or(0).max(5);
    let weight_w = rows.iter().map(|r| r.weight.len()).max().unwrap_or(0).max(6);
    let name_w = rows.iter().map(|r| r.type_name.len()).max().unwrap_or(0).max(9);
    let mut out = String::new();
    let _ = writeln!(out, "{:<id_w$}  {:<class_w$}  {:<weight_w$}  {:<name_w$}", "ID", "CLASS", "WEIGHT", "TYPE NAME");
    for r in rows {
        let _ = writeln!(
            out,
            "{:>id_w$}  {:>class_w$}  {:>weight_w$}  {:<name_w$}",
            r.id, r.class, r.weight, r.type_name
        );
    }
    out
}

fn walk(map: &CrushMap, id: i32, weight: u32, depth: usize, rows: &mut Vec<Row>) {
    let name = map.item_name(id).map_or_else(|| id.to_string(), str::to_string);
    let type_name = if id >= 0 {
        map.type_name(0).unwrap_or("osd").to_string()
    } else {
        let t = map.bucket(id).map_or(0, |b| i32::from(b.type_id()));
        map.type_name(t).map_or_else(|| format!("type{t}"), str::to_string)
    };
    rows.push(Row {
        id,
        class: map.item_class(id).unwrap_or("").to_string(),
        weight: weight_text(weight),
        type_name: format!("{}{type_name} {name}", "    ".repeat(depth)),
    });
    if let Some(b) = map.bucket(id) {
        for (pos, &child) in b.items().iter().enumerate() {
            walk(map, child, b.item_weight(pos), depth + 1, rows);
        }
    }
}

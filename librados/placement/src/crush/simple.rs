//! Whole maps built from a description: `crushtool --build` layers, and the default map a new
//! cluster starts with (root `default` > rack > host > OSDs, as `osdmaptool --createsimple`).

use super::bucket::{Bucket, BucketAlg};
use super::edit::is_valid_name;
use super::edit::SimpleRule;
use super::error::CrushError;
use super::map::{CrushMap, MAX_DEVICES};
use super::rule::ChooseMode;
use super::tunables::Tunables;
use std::collections::BTreeMap;

/// One level of a `crush build`: buckets of `type_name` using `alg`, each holding `size` items of
/// the level below (0 = one bucket holding everything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub type_name: String,
    pub alg: BucketAlg,
    pub size: usize,
}

/// The Ceph type hierarchy every new cluster map has.
pub const DEFAULT_TYPES: [&str; 12] = [
    "osd",
    "host",
    "chassis",
    "rack",
    "row",
    "pdu",
    "pod",
    "room",
    "datacenter",
    "zone",
    "region",
    "root",
];

/// Builds a map like `crushtool --build --num_osds N TYPE ALG SIZE ...`: devices `osd.0..N-1` of
/// weight 1, layer buckets named `TYPE0, TYPE1, ...` (or `TYPE` for a size-0 layer), optimal
/// tunables, and `replicated_rule` over the first bucket of the top layer, separating replicas
/// across buckets of type 1 (`chooseleaf_type`, 0 to choose OSDs directly).
pub fn build_layered(
    num_osds: u32,
    layers: &[Layer],
    chooseleaf_type: i32,
) -> Result<CrushMap, CrushError> {
    let mut map = CrushMap::new();
    map.tunables = Tunables::optimal();
    map.set_type_name(0, "osd")?;
    if num_osds > MAX_DEVICES as u32 {
        return Err(CrushError::Invalid(format!(
            "{num_osds} devices: at most {MAX_DEVICES}"
        )));
    }
    let mut lower: Vec<(i32, u32)> = Vec::with_capacity(num_osds as usize);
    for i in 0..num_osds {
        let id = i32::try_from(i).map_err(|_| CrushError::Invalid("too many devices".into()))?;
        // Generated names are unique: no need for add_device's lookup of each one.
        map.names.insert(id, format!("osd.{i}"));
        map.max_devices = map.max_devices.max(id + 1);
        lower.push((id, 0x10000));
    }
    for (level, layer) in layers.iter().enumerate() {
        let type_id = level as i32 + 1;
        if !is_valid_name(&layer.type_name) || layer.type_name.len() > 16 {
            return Err(CrushError::Invalid(format!(
                "bad layer name '{}'",
                layer.type_name
            )));
        }
        map.set_type_name(type_id, &layer.type_name)?;
        let mut current = Vec::new();
        let chunk = if layer.size == 0 {
            lower.len().max(1)
        } else {
            layer.size
        };
        for (index, members) in lower.chunks(chunk).enumerate() {
            let name = if layer.size == 0 {
                layer.type_name.clone()
            } else {
                format!("{}{index}", layer.type_name)
            };
            let (items, mut weights): (Vec<i32>, Vec<u32>) = members.iter().copied().unzip();
            if layer.alg == BucketAlg::Uniform {
                // A uniform bucket takes the first item's weight for all of them.
                let w = weights[0];
                weights.iter_mut().for_each(|x| *x = w);
            }
            let id = map.next_bucket_id();
            let bucket = Bucket::new(
                id,
                layer.alg,
                type_id as u16,
                items,
                weights,
                map.tunables.straw_calc_version,
            )?;
            let weight = bucket.weight();
            map.insert_bucket(bucket)?;
            map.names.insert(id, name);
            current.push((id, weight));
        }
        lower = current;
    }
    let root = match layers.last() {
        Some(l) if l.size == 0 => l.type_name.clone(),
        Some(l) => format!("{}0", l.type_name),
        None => {
            return Err(CrushError::Invalid(
                "a build needs at least one layer".into(),
            ))
        }
    };
    finish_with_replicated_rule(map, &root, chooseleaf_type)
}

/// The map of a new cluster with `num_osds` OSDs all on one host `localhost` in rack `localrack`
/// under root `default` (Ceph's `build_simple_crush_map`), with `replicated_rule` choosing leaves
/// of type `chooseleaf_type` (1 = host, 0 = OSDs).
pub fn build_single_host(num_osds: u32, chooseleaf_type: i32) -> Result<CrushMap, CrushError> {
    let hosts = vec![("localhost".to_string(), (0..num_osds).collect::<Vec<_>>())];
    build_hosts(&hosts, chooseleaf_type)
}

/// A new cluster's map: root `default` > rack `localrack` > the given hosts > their OSDs (weight
/// 1 each), default types, optimal tunables, `replicated_rule` over `chooseleaf_type`.
pub fn build_hosts(
    hosts: &[(String, Vec<u32>)],
    chooseleaf_type: i32,
) -> Result<CrushMap, CrushError> {
    let mut map = CrushMap::new();
    map.tunables = Tunables::optimal();
    for (id, name) in DEFAULT_TYPES.iter().enumerate() {
        map.set_type_name(id as i32, name)?;
    }
    let root_type = DEFAULT_TYPES.len() as i32 - 1;
    let alg = map.default_bucket_alg();
    map.add_bucket_inner(None, alg, root_type, "default", &[])?;
    for (host, osds) in hosts {
        let loc: BTreeMap<String, String> = [
            ("host", host.as_str()),
            ("rack", "localrack"),
            ("root", "default"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for &osd in osds {
            let id = i32::try_from(osd)
                .map_err(|_| CrushError::Invalid(format!("osd id {osd} too large")))?;
            map.insert_item_inner(id, 0x10000, &format!("osd.{osd}"), &loc)?;
        }
    }
    finish_with_replicated_rule(map, "default", chooseleaf_type)
}

/// Adds rule 0, `replicated_rule`: one replica per bucket of type `chooseleaf_type` under `root`.
fn finish_with_replicated_rule(
    mut map: CrushMap,
    root: &str,
    chooseleaf_type: i32,
) -> Result<CrushMap, CrushError> {
    let failure_domain = map
        .type_name(chooseleaf_type)
        .ok_or(CrushError::NotFound {
            kind: "type",
            name: chooseleaf_type.to_string(),
        })?
        .to_string();
    map.add_simple_rule(&SimpleRule {
        name: "replicated_rule",
        root,
        failure_domain: &failure_domain,
        device_class: None,
        mode: ChooseMode::FirstN,
        id: Some(0),
    })?;
    map.finalize();
    Ok(map)
}

//! Shared fixtures of the benchmarks (the benchmarks themselves are the `[[bench]]` targets).

use librados::crush::simple::{build_layered, Layer};
use librados::crush::{BucketAlg, CrushMap};

/// The benchmark map: 100 OSDs in 10 hosts of 10, straw2 everywhere, under one root, with
/// `replicated_rule` = `chooseleaf firstn 0 type host` (the same map as
/// `crushtool --build --num_osds 100 host straw2 10 root straw2 0`).
pub fn hosts_map() -> CrushMap {
    let layers = [
        Layer {
            type_name: "host".into(),
            alg: BucketAlg::Straw2,
            size: 10,
        },
        Layer {
            type_name: "root".into(),
            alg: BucketAlg::Straw2,
            size: 0,
        },
    ];
    build_layered(100, &layers, 1).expect("the benchmark map builds")
}

//! CRUSH mapping throughput on a 100-OSD, 10-host straw2 map, 3 replicas, chooseleaf firstn
//! over hosts. `benches/crush_vs_crushtool.sh` runs the same mappings through Ceph's crushtool.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use librados::crush::Workspace;
use std::hint::black_box;

const BATCH: u32 = 10_000;

fn mapping(c: &mut Criterion) {
    let map = rados_benches::hosts_map();
    let weights = map.all_in_weights();
    let mut group = c.benchmark_group("crush");
    group.throughput(Throughput::Elements(u64::from(BATCH)));
    group.bench_function("hosts100_rep3_chooseleaf", |b| {
        let mut ws = Workspace::new();
        let mut out = Vec::with_capacity(3);
        let mut x0 = 0u32;
        b.iter(|| {
            for x in x0..x0 + BATCH {
                map.do_rule(0, black_box(x), 3, &weights, None, &mut ws, &mut out);
                black_box(&out);
            }
            x0 = x0.wrapping_add(BATCH);
        })
    });
    let mut out_weights = weights.clone();
    for d in (0..100).step_by(7) {
        out_weights[d] = 0;
    }
    group.bench_function("hosts100_rep3_chooseleaf_15pct_out", |b| {
        let mut ws = Workspace::new();
        let mut out = Vec::with_capacity(3);
        let mut x0 = 0u32;
        b.iter(|| {
            for x in x0..x0 + BATCH {
                map.do_rule(0, black_box(x), 3, &out_weights, None, &mut ws, &mut out);
                black_box(&out);
            }
            x0 = x0.wrapping_add(BATCH);
        })
    });
    group.finish();
}

criterion_group!(benches, mapping);
criterion_main!(benches);

//! Property test: random transactions applied to the disk store and to the in-memory model
//! give the same results (success or the same errno) and the same observable state after every
//! transaction, including across reopening the disk store.

mod common;

use common::store_workload::*;
use librados::store::*;
use proptest::prelude::*;

fn run(seeds: &[u64], reopen_every: u64) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = Some(DiskStore::open(dir.path()).unwrap());
    let model = MemStore::new();
    disk.as_ref()
        .unwrap()
        .apply_transaction(setup_txn())
        .unwrap();
    model.apply_transaction(setup_txn()).unwrap();
    for (step, seed) in seeds.iter().enumerate() {
        let txn = random_txn(&mut Rng(*seed), step as u64);
        let d = disk.as_ref().unwrap();
        let got = d.apply_transaction(txn.clone()).map_err(|e| e.errno());
        let want = model.apply_transaction(txn.clone()).map_err(|e| e.errno());
        prop_assert_eq!(got, want, "step {} result differs for {:?}", step, txn.ops);
        if reopen_every > 0 && step as u64 % reopen_every == reopen_every - 1 {
            drop(disk.take());
            disk = Some(DiskStore::open(dir.path()).unwrap());
        }
        let (a, b) = (dump(disk.as_ref().unwrap()), dump(&model));
        prop_assert!(
            a == b,
            "step {} state differs: {}\nops: {:?}",
            step,
            diff(&a, &b),
            txn.ops
        );
    }
    let report = disk.as_ref().unwrap().verify().unwrap();
    prop_assert!(report.is_clean(), "verify: {:?}", report.problems);
    let stats = disk.as_ref().unwrap().statfs().unwrap();
    let (_, objects) = dump(&model);
    prop_assert_eq!(stats.objects, objects.len() as u64);
    prop_assert_eq!(
        stats.data_bytes,
        objects.values().map(|o| o.stat.size).sum::<u64>()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(24)))]

    #[test]
    fn disk_store_matches_the_model(seeds in prop::collection::vec(any::<u64>(), 1..40), reopen in 0u64..8) {
        run(&seeds, reopen)?;
    }
}

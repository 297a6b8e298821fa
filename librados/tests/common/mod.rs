//! Helpers shared by the integration tests.

#[allow(dead_code)]
/// Cases per property: the default keeps CI quick; `PROPTEST_CASES=100000` makes a soak run.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[allow(dead_code)]
pub mod store_workload;

#[allow(dead_code)]
pub mod cluster;

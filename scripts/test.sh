#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting and lints (when the toolchain has them), then
# every test of every crate — unit, integration, property, decoder fuzzing, the Ceph vector
# harness (../shared/vectors/crush, or $CRUSH_VECTORS_DIR), CLI tests, the daemons as processes
# on 127.0.0.1 (killed, frozen, restarted), the Python bindings' pytest suite (built into a venv
# it creates; on an embedded cluster and on daemons over TCP), the object store's crash
# (50 SIGKILLs), corruption and full-disk tests — and a smoke run of the benchmarks and examples.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

if cargo fmt --version >/dev/null 2>&1; then
  step "cargo fmt --check"
  cargo fmt --all --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  step "cargo clippy"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi
step "cargo test (all crates, all targets; benchmarks run once as smoke tests)"
cargo test --workspace --all-targets
step "Python bindings (a venv in target/py-venv with maturin and pytest; pytest on an embedded cluster)"
bash bindings/python/run-tests.sh
step "Python bindings against daemons over TCP (a 3-OSD cluster of processes on 127.0.0.1)"
daemon_dir=$(mktemp -d)
stop_daemons() { target/debug/rados cluster stop "$daemon_dir/c" --timeout 10 >/dev/null 2>&1 || true; rm -rf "$daemon_dir"; }
trap stop_daemons EXIT
target/debug/rados cluster create "$daemon_dir/c" --osds 3 >/dev/null
RADOS_TEST_CONFFILE="$daemon_dir/c/ceph.conf" bash bindings/python/run-tests.sh -q
stop_daemons
trap - EXIT
step "examples"
cargo run --quiet -p rados-examples --example placement >/dev/null
cargo run --quiet -p rados-examples --example object_store >/dev/null
example_dir=$(mktemp -d)
cargo run --quiet -p rados-examples --example embedded "$example_dir/data" >/dev/null
second_run=$(cargo run --quiet -p rados-examples --example embedded "$example_dir/data")
grep -q 'run-1' <<<"$second_run" # the second run finds the first run's objects
rm -rf "$example_dir"
step "all tests passed"

#!/usr/bin/env bash
# Runs the same CRUSH mappings through Ceph's crushtool and through `rados crush`, side by side,
# and prints the mapping rate of each and the ratio (median of several runs).
#
#   benches/crush_vs_crushtool.sh [MAPPINGS] [RUNS]
#
# Needs crushtool (apt-get install ceph-base). The map: 100 OSDs, 10 hosts, straw2, 3 replicas,
# chooseleaf firstn over hosts. Both tools do identical work: map x = 0..MAPPINGS-1 and count
# results per device (no per-mapping output).
set -euo pipefail
cd "$(dirname "$0")/.."
mappings=${1:-2000000}
runs=${2:-5}
command -v crushtool >/dev/null || { echo "crushtool not found: apt-get install -y ceph-base" >&2; exit 2; }
cargo build -q --release -p rados-cli
rados=target/release/rados
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
crushtool -o "$work/map.bin" --build --num_osds 100 host straw2 10 root straw2 0 >/dev/null 2>&1
"$rados" crush --build --num-osds 100 host straw2 10 root straw2 0 -o "$work/ours.bin"
cmp -s "$work/map.bin" "$work/ours.bin" || { echo "the two tools built different maps" >&2; exit 1; }
args=(-i "$work/map.bin" --test --rule 0 --num-rep 3 --min-x 0 --max-x $((mappings - 1)))
# Identical placements first (a sample), then timing.
diff <(crushtool "${args[@]:0:7}" --min-x 0 --max-x 9999 --show-mappings 2>/dev/null) \
     <("$rados" crush "${args[@]:0:7}" --min-x 0 --max-x 9999 --show-mappings 2>/dev/null) >/dev/null \
  || { echo "placements differ" >&2; exit 1; }

time_run() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ceph_us=$(for _ in $(seq "$runs"); do time_run crushtool "${args[@]}"; done | median)
ours_us=$(for _ in $(seq "$runs"); do time_run "$rados" crush "${args[@]}"; done | median)
awk -v n="$mappings" -v c="$ceph_us" -v o="$ours_us" 'BEGIN {
  printf "mappings: %d per run, median of runs\n", n
  printf "crushtool --test : %8.0f ms  %10.0f mappings/s\n", c/1000, n/(c/1e6)
  printf "rados crush --test: %8.0f ms  %10.0f mappings/s\n", o/1000, n/(o/1e6)
  printf "ratio (rados / crushtool): %.2fx\n", c/o
}'

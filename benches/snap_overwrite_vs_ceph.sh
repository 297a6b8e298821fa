#!/usr/bin/env bash
# "Writes right after a snapshot pay one clone": 4 KiB overwrites of 4 MiB objects without and
# right after a fresh pool snapshot, on a local Ceph cluster and on the embedded cluster, back
# to back in one run, then one table of medians.
#
# Usage: benches/snap_overwrite_vs_ceph.sh CEPH_CLUSTER_DIR [ROUNDS] [OBJECTS]
#   CEPH_CLUSTER_DIR: a running cluster from ../shared/anchors/cluster.sh start DIR --osds 3
#   (a fresh pool `snapbench`, size 3, 32 PGs, is created and deleted). Needs python3-rados.
#   Builds target/release/snap_overwrite (benches/snap_overwrite.rs) first.
# Each side prints its progress and per-round lines; the table gives per side the median IOPS
# of phase A (no snapshot) and B (fresh snapshot) at 16 in flight, the B/A cost (median of the
# per-round IOPS_A/IOPS_B), the 1-in-flight latencies and their ratio, and ours/Ceph.
set -euo pipefail
CDIR=${1:?ceph cluster dir}
ROUNDS=${2:-5}
OBJECTS=${3:-64}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
[ -f "$CDIR/ceph.conf" ] || { echo "no ceph.conf in $CDIR" >&2; exit 2; }
cargo build -q --release -p rados-benches --bin snap_overwrite
OUT="$(mktemp -d /tmp/snap-overwrite.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "ceph $(ceph --version | awk '{print $3}'), $OBJECTS objects, $ROUNDS rounds"
echo "## ceph"
/usr/bin/python3 -u benches/snap_overwrite_ceph.py --conf "$CDIR/ceph.conf" \
  --rounds "$ROUNDS" --objects "$OBJECTS" | tee "$OUT/ceph.out"
echo "## ours"
/usr/bin/time -f "maxrss_kb %M" target/release/snap_overwrite --rounds "$ROUNDS" \
  --objects "$OBJECTS" 2>&1 | tee "$OUT/ours.out"

# field NAME FILE: the value of NAME=... on the RESULT line
field() { grep -m1 '^RESULT' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
echo
printf '| side | IOPS A (16) | IOPS B (16) | B/A cost (16) | lat A (1) | lat B (1) | B/A lat (1) | mksnap | trim wait |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for side in ceph ours; do
  f="$OUT/$side.out"
  printf '| %s | %s | %s | %sx | %s ms | %s ms | %sx | %s ms | %s s |\n' "$side" \
    "$(field iops_a "$f")" "$(field iops_b "$f")" "$(field b_over_a "$f")" \
    "$(field lat_a_ms "$f")" "$(field lat_b_ms "$f")" "$(field lat_b_over_a "$f")" \
    "$(field mksnap_ms "$f")" "$(field trim_s "$f")"
done
awk -v ca="$(field iops_a "$OUT/ceph.out")" -v oa="$(field iops_a "$OUT/ours.out")" \
    -v cb="$(field iops_b "$OUT/ceph.out")" -v ob="$(field iops_b "$OUT/ours.out")" \
    -v cla="$(field lat_a_ms "$OUT/ceph.out")" -v ola="$(field lat_a_ms "$OUT/ours.out")" \
    -v clb="$(field lat_b_ms "$OUT/ceph.out")" -v olb="$(field lat_b_ms "$OUT/ours.out")" 'BEGIN {
  printf "ours/Ceph: IOPS A %.2fx, IOPS B %.2fx; 1-in-flight latency A %.2fx, B %.2fx faster\n",
    oa / ca, ob / cb, cla / ola, clb / olb
}'
echo "ours: peak resident size $(( $(awk '/maxrss_kb/{print $2}' "$OUT/ours.out") / 1024 )) MiB"

#!/usr/bin/env bash
# rados bench on the embedded 3-OSD cluster (pool size 3) beside the same commands on a local
# Ceph cluster, row by row in one run, so that both see the same machine load.
#
# Usage: benches/rados_bench_vs_ceph.sh CEPH_CLUSTER_DIR [SECONDS] [ROUNDS]
#   CEPH_CLUSTER_DIR: a running cluster from ../shared/anchors/cluster.sh start DIR --osds 3
#   (its pool `bench`, size 3, is used). The project's release `rados` must be built:
#   cargo build --release -p rados-cli
# Prints one line per row and round: case, Ceph MB/s, ours MB/s, Ceph IOPS, ours IOPS,
# Ceph and our average latency, and the peak resident size of our whole cluster process.
set -euo pipefail
CDIR=${1:?ceph cluster dir}
SECS=${2:-10}
ROUNDS=${3:-1}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OURS="$HERE/target/release/rados"
DATA="$(mktemp -d /tmp/rados-bench.XXXXXX)"
trap 'rm -rf "$DATA"' EXIT
CEPH="rados -c $CDIR/ceph.conf -p bench"
MINE="$OURS --data-dir $DATA -p data"

field() { grep -m1 "$1" "$2" | awk -F: '{gsub(/ /,"",$2); print $2}'; }
run() { # tool-cmd outfile args...
  local cmd=$1 out=$2; shift 2
  # Each measurement starts with the disk's write-back settled: the previous row's writes
  # (either side's) are not flushed on the next one's time.
  sync
  /usr/bin/time -f "maxrss_kb %M" $cmd bench "$@" >"$out" 2>&1 || true
}
row() { # name args...
  local name=$1; shift
  run "$CEPH" "$DATA/ceph.out" "$@"
  run "$MINE" "$DATA/ours.out" "$@"
  for side in ceph ours; do
    grep -q 'Bandwidth (MB/sec)' "$DATA/$side.out" ||
      { echo "$name: $side gave no result:" >&2; tail -5 "$DATA/$side.out" >&2; }
  done
  printf '%-10s | ceph %8s MB/s %7s IOPS %9s s | ours %8s MB/s %7s IOPS %9s s | ours rss %s MiB\n' "$name" \
    "$(field 'Bandwidth (MB/sec)' "$DATA/ceph.out")" "$(field 'Average IOPS' "$DATA/ceph.out")" \
    "$(field 'Average Latency' "$DATA/ceph.out")" \
    "$(field 'Bandwidth (MB/sec)' "$DATA/ours.out")" "$(field 'Average IOPS' "$DATA/ours.out")" \
    "$(field 'Average Latency' "$DATA/ours.out")" \
    "$(( $(awk '/maxrss_kb/{print $2}' "$DATA/ours.out") / 1024 ))"
}
"$OURS" --data-dir "$DATA" status >/dev/null
for r in $(seq 1 "$ROUNDS"); do
  row write4M "$SECS" write -b 4M -t 16 --no-cleanup
  row seq4M "$SECS" seq -t 16
  row rand4M "$SECS" rand -t 16
  $CEPH cleanup >/dev/null 2>&1 || true; $MINE cleanup >/dev/null 2>&1 || true
  row write4K "$SECS" write -b 4K -t 16 --no-cleanup
  row seq4K "$SECS" seq -t 16
  row rand4K "$SECS" rand -t 16
  $CEPH cleanup >/dev/null 2>&1 || true; $MINE cleanup >/dev/null 2>&1 || true
  row write4Kt1 "$SECS" write -b 4K -t 1
done
echo "ceph OSD resident sizes (MiB): $(ps -C ceph-osd -o rss= | awk '{printf "%d ", $1/1024}')"

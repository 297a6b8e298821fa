#!/usr/bin/env bash
# Recovery throughput after an OSD returns, the project's daemons beside a local Ceph: one of
# 3 OSDs (pool size 3) is stopped, 4 MiB objects are written for SECONDS while it is away
# (every one of them missing on it), then it is started again and the time until every PG is
# active+clean is taken. Throughput = data written while it was away / that time. Both sides
# in one run, ours first.
#
# Usage: benches/recovery_vs_ceph.sh CEPH_CLUSTER_DIR|- [SECONDS]
#   CEPH_CLUSTER_DIR: a running cluster from ../shared/anchors/cluster.sh start DIR --osds 3
#   --pool-size 3 (its pool `bench` is used); `-` measures the project alone. The project's
#   release `rados` must be built: cargo build --release -p rados-cli
set -euo pipefail
CDIR=${1:?ceph cluster dir, or -}
SECS=${2:-10}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OURS="$HERE/target/release/rados"
ANCHORS="$HERE/../shared/anchors"
WORK="$(mktemp -d /tmp/rados-recovery-bench.XXXXXX)"
OURDIR="$WORK/cluster"
cleanup() { "$OURS" cluster stop "$OURDIR" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

now() { date +%s.%N; }
# Waits (at most 600 s) until `pg stat` from "$@" says every PG is active+clean.
wait_clean() {
  local deadline=$(( $(date +%s) + 600 )) out
  while [ "$(date +%s)" -lt "$deadline" ]; do
    out=$("$@" pg stat 2>/dev/null || true)
    if echo "$out" | grep -Eq '^([0-9]+) pgs: \1 active\+clean;'; then return 0; fi
    sleep 0.2
  done
  echo "not clean after 600 s: $out" >&2
  return 1
}
# Waits until `osd stat`/status shows 2 OSDs up.
wait_down() {
  local deadline=$(( $(date +%s) + 120 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if "$@" 2>/dev/null | grep -Eq '3 osds: 2 up|3 OSDs, 2 up'; then return 0; fi
    sleep 0.2
  done
  echo "osd.2 not marked down" >&2
  return 1
}
written_mb() { awk '/Total writes made/{n=$NF} /Object size/{s=$NF} END{printf "%.1f", n*s/1e6}' "$1"; }

# ---- ours
"$OURS" cluster create "$OURDIR" --osds 3 >/dev/null
MINE=("$OURS" -c "$OURDIR/ceph.conf")
wait_clean "${MINE[@]}"
"$OURS" cluster stop "$OURDIR" osd.2 >/dev/null
wait_down "${MINE[@]}" status
"${MINE[@]}" -p data bench "$SECS" write -b 4M -t 16 --no-cleanup >"$WORK/ours.out" 2>&1
mb=$(written_mb "$WORK/ours.out")
t0=$(now)
"$OURS" cluster start "$OURDIR" osd.2 >/dev/null
wait_clean "${MINE[@]}"
t1=$(now)
secs=$(echo "$t1 - $t0" | bc)
printf 'ours: %s MB written while osd.2 was away; start to active+clean %.2f s: %.1f MB/s\n' \
  "$mb" "$secs" "$(echo "$mb / $secs" | bc -l)"

# ---- ceph
[ "$CDIR" = - ] && exit 0
CEPH=(ceph -c "$CDIR/ceph.conf")
wait_clean "${CEPH[@]}"
pid=$(awk '$1 == "osd.2" {print $2}' "$CDIR/pids")
"${CEPH[@]}" osd set noout >/dev/null 2>&1
kill "$pid"
wait_down "${CEPH[@]}" osd stat
rados -c "$CDIR/ceph.conf" -p bench bench "$SECS" write -b 4M -t 16 --no-cleanup >"$WORK/ceph.out" 2>&1
mb=$(written_mb "$WORK/ceph.out")
t0=$(now)
"$ANCHORS/cluster.sh" start-daemon "$CDIR" osd.2 >/dev/null
wait_clean "${CEPH[@]}"
t1=$(now)
"${CEPH[@]}" osd unset noout >/dev/null 2>&1
rados -c "$CDIR/ceph.conf" -p bench cleanup >/dev/null 2>&1 || true
secs=$(echo "$t1 - $t0" | bc)
printf 'ceph: %s MB written while osd.2 was away; start to active+clean %.2f s: %.1f MB/s\n' \
  "$mb" "$secs" "$(echo "$mb / $secs" | bc -l)"

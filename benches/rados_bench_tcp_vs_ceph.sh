#!/usr/bin/env bash
# rados bench against the project's daemons over TCP (a monitor and 3 OSD processes on
# 127.0.0.1, pool size 3) beside the same commands on a local Ceph cluster, row by row in
# one run, so that both see the same machine load. Also: the CPU time of every daemon and
# the client per MB written, each side's OSD resident sizes, and the time from start to
# every PG active.
#
# Usage: benches/rados_bench_tcp_vs_ceph.sh CEPH_CLUSTER_DIR|- [SECONDS] [ROUNDS]
#   CEPH_CLUSTER_DIR: a running cluster from ../shared/anchors/cluster.sh start DIR --osds 3
#   (its pool `bench`, size 3, is used); `-` measures the project alone. The project's
#   release `rados` must be built: cargo build --release -p rados-cli
set -euo pipefail
CDIR=${1:?ceph cluster dir, or -}
SECS=${2:-10}
ROUNDS=${3:-1}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OURS="$HERE/target/release/rados"
WORK="$(mktemp -d /tmp/rados-tcp-bench.XXXXXX)"
OURDIR="$WORK/cluster"
cleanup() { "$OURS" cluster stop "$OURDIR" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

t0=$(date +%s.%N)
"$OURS" cluster create "$OURDIR" --osds 3 >/dev/null
t1=$(date +%s.%N)
echo "ours: cluster create to every PG active: $(echo "$t1 - $t0" | bc) s"
if [ "$CDIR" != - ] && [ -f "$CDIR/start.time" ]; then
  echo "ceph: cluster start to HEALTH_OK (cluster.sh): $(cat "$CDIR/start.time") s"
fi

MINE="$OURS -c $OURDIR/ceph.conf -p data"
CEPH="rados -c ${CDIR}/ceph.conf -p bench"

# CPU seconds (user + system) of a set of pids, from /proc.
cpu_of() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$(awk -v t="$total" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", t + (f[12] + f[13]) / 100 }' "/proc/$p/stat")
  done
  echo "$total"
}
our_pids() { cat "$OURDIR"/run/*.pid 2>/dev/null; }
ceph_pids() { pgrep -x 'ceph-(osd|mon|mgr)' 2>/dev/null || true; }

field() { grep -m1 "$1" "$2" | awk -F: '{gsub(/ /,"",$2); print $2}'; }
# Runs one side: prints "MB/s IOPS latency cpu_per_MB" (cpu of the daemons and the client).
side() { # pids-fn out cmd args...
  local pids_fn=$1 out=$2 cmd=$3; shift 3
  sync
  local before after client
  before=$(cpu_of $($pids_fn))
  /usr/bin/time -f "client_cpu %U %S" $cmd bench "$@" >"$out" 2>&1 || true
  after=$(cpu_of $($pids_fn))
  client=$(awk '/client_cpu/{printf "%.2f", $2 + $3}' "$out")
  local mb
  mb=$(awk '/Total writes made|Total reads made/{n=$NF} /Object size/{s=$NF} END{printf "%.1f", n*s/1e6}' "$out")
  local cpu
  cpu=$(echo "$after - $before + ${client:-0}" | bc)
  local per="-"
  if [ "$(echo "$mb > 0" | bc)" = 1 ]; then per=$(echo "scale=2; 1000 * $cpu / $mb" | bc); fi
  printf '%s %s %s %s' "$(field 'Bandwidth (MB/sec)' "$out")" "$(field 'Average IOPS' "$out")" \
    "$(field 'Average Latency' "$out")" "$per"
}
row() { # name args...
  local name=$1; shift
  local c=(- - - -)
  if [ "$CDIR" != - ]; then read -r -a c <<<"$(side ceph_pids "$WORK/ceph.out" "$CEPH" "$@")"; fi
  local o
  read -r -a o <<<"$(side our_pids "$WORK/ours.out" "$MINE" "$@")"
  grep -q 'Bandwidth (MB/sec)' "$WORK/ours.out" ||
    { echo "$name: ours gave no result:" >&2; tail -5 "$WORK/ours.out" >&2; }
  printf '%-10s | ceph %8s MB/s %7s IOPS %9s s %7s cpu-ms/MB | ours %8s MB/s %7s IOPS %9s s %7s cpu-ms/MB\n' \
    "$name" "${c[0]}" "${c[1]}" "${c[2]}" "${c[3]}" "${o[0]}" "${o[1]}" "${o[2]}" "${o[3]}"
}
for r in $(seq 1 "$ROUNDS"); do
  row write4M "$SECS" write -b 4M -t 16 --no-cleanup
  row seq4M "$SECS" seq -t 16
  row rand4M "$SECS" rand -t 16
  [ "$CDIR" != - ] && { $CEPH cleanup >/dev/null 2>&1 || true; }
  $MINE cleanup >/dev/null 2>&1 || true
  row write4K "$SECS" write -b 4K -t 16 --no-cleanup
  row seq4K "$SECS" seq -t 16
  row rand4K "$SECS" rand -t 16
  [ "$CDIR" != - ] && { $CEPH cleanup >/dev/null 2>&1 || true; }
  $MINE cleanup >/dev/null 2>&1 || true
  row write4Kt1 "$SECS" write -b 4K -t 1
done
printf 'ours OSD resident sizes (MiB): '
for f in "$OURDIR"/run/osd.*.pid; do ps -o rss= -p "$(cat "$f")" | awk '{printf "%d ", $1/1024}'; done
echo
if [ "$CDIR" != - ]; then
  echo "ceph OSD resident sizes (MiB): $(ps -C ceph-osd -o rss= | awk '{printf "%d ", $1/1024}')"
fi

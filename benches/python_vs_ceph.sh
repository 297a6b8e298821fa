#!/usr/bin/env bash
# 4 KiB write_full/read operations per second from Python: the project's `rados` module on an
# embedded cluster beside Ceph's python3-rados on a local Ceph, back to back in one run, then
# one table of medians and the ratios; plus what the binding itself adds per call.
#
# Usage: benches/python_vs_ceph.sh CEPH_CLUSTER_DIR [ROUNDS] [SECONDS]
#   CEPH_CLUSTER_DIR: a running cluster from ../shared/anchors/cluster.sh start DIR --osds 3
#   (a pool `pybench`, size 3, 32 PGs, is created and deleted). Needs python3-rados.
#   Builds the module optimised into the venv target/bench-venv (maturin from PyPI) first.
# Both sides run benches/python_ops.py; see it for the cases.
set -euo pipefail
CDIR=${1:?ceph cluster dir}
ROUNDS=${2:-5}
SECONDS_PER_CASE=${3:-3}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
[ -f "$CDIR/ceph.conf" ] || { echo "no ceph.conf in $CDIR" >&2; exit 2; }
venv=target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
OUT="$(mktemp -d /tmp/python-ops.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.9.4,<2"
echo "building the module (release) into $venv"
(cd bindings/python && VIRTUAL_ENV="$HERE/$venv" PATH="$HERE/$venv/bin:$PATH" \
  "$HERE/$venv/bin/maturin" develop --release >"$OUT/build.log" 2>&1) ||
  { cat "$OUT/build.log" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "ceph $(ceph --version | awk '{print $3}'), python $(python3 -V | cut -d' ' -f2)," \
  "$ROUNDS rounds of ${SECONDS_PER_CASE} s per case"
echo "## ceph (python3-rados)"
/usr/bin/python3 -u benches/python_ops.py --conf "$CDIR/ceph.conf" --rounds "$ROUNDS" \
  --seconds "$SECONDS_PER_CASE" | tee "$OUT/ceph.out"
echo "## ours (embedded)"
"$venv/bin/python" -u benches/python_ops.py --embedded "$OUT/data" --rounds "$ROUNDS" \
  --seconds "$SECONDS_PER_CASE" | tee "$OUT/ours.out"

# field NAME FILE: the value of NAME=... on the RESULT line
field() { grep -m1 '^RESULT' "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
echo
printf '| case | Ceph (python3-rados) | ours (embedded) | ours/Ceph |\n| --- | --- | --- | --- |\n'
for c in w1 r1 w8 r8; do
  awk -v c="$c" -v a="$(field "$c" "$OUT/ceph.out")" -v b="$(field "$c" "$OUT/ours.out")" \
    'BEGIN { printf "| %s | %d ops/s | %d ops/s | %.2fx |\n", c, a, b, b / a }'
done
echo "binding's own cost per 4 KiB read (Python's time minus librados' time):" \
  "$(field binding_us "$OUT/ours.out") µs of $(field read_call_us "$OUT/ours.out") µs per call" \
  "(in the caller's CPU time: $(field binding_cpu_us "$OUT/ours.out") µs);" \
  "the same loop in Rust is $(field read_vs_rust_us "$OUT/ours.out") µs faster per call"

#!/usr/bin/python3
"""The snap_overwrite workload (benches/snap_overwrite.rs) on a Ceph cluster, through Ceph's
python3-rados: 4 KiB overwrites of 4 MiB objects without a snapshot (phase A) and right after
a fresh pool snapshot (phase B, each object's first write clones its head).

    /usr/bin/python3 benches/snap_overwrite_ceph.py --conf CEPH_DIR/ceph.conf \
        [--objects 64] [--rounds 5] [--depth 16] [--pg-num 32] [--seed 1]

Same passes, offsets (SplitMix64, identical to the Rust side) and RESULT line as the Rust
program. 16 in flight: aio_write with completion callbacks from one thread; 1 in flight: the
blocking write. Differences forced by the client library: python3-rados cannot list an
object's clones, so the check that phase B cloned reads the pool's clone count, and the wait
for the trimmer polls the manager's PG states and pool statistics (which lag by up to the
stats period, 5 s) instead of every object.
"""
import argparse
import json
import os
import random
import statistics
import threading
import time

import rados

OBJECT_BYTES = 4 << 20
WRITE_BYTES = 4096
POOL = "snapbench"
TRIM_WAIT_MAX_S = 600
# Pool statistics reach the manager every mgr_stats_period (5 s); twice that is fresh.
STATS_FRESH_S = 11
PASS = {"warmup": 0, "a16": 1, "a1": 2, "b16": 3, "b1": 4}
M64 = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def offset_of(seed, rnd, pass_name, obj):
    key = seed ^ (rnd << 40) ^ (PASS[pass_name] << 32) ^ obj
    return splitmix64(key) % (OBJECT_BYTES // WRITE_BYTES) * WRITE_BYTES


def object_name(i):
    return "snapbench_obj_%d" % i


def noise(length, seed):
    return random.Random(seed).randbytes(length)


def say(line):
    print(line, flush=True)


def pass_async(io, writes, data, depth):
    """Writes (object, offset) pairs with `depth` in flight; returns (IOPS, avg latency ms)."""
    cv = threading.Condition()
    state = {"in_flight": 0, "lat_sum": 0.0, "errors": []}

    def submit(obj, off):
        t0 = time.perf_counter()

        def done(c):
            lat = time.perf_counter() - t0
            with cv:
                rv = c.get_return_value()
                if rv < 0:
                    state["errors"].append((object_name(obj), off, rv))
                state["lat_sum"] += lat
                state["in_flight"] -= 1
                cv.notify()

        return io.aio_write(object_name(obj), data, off, oncomplete=done)

    keep = []  # completions stay referenced until the pass ends
    start = time.perf_counter()
    for obj, off in writes:
        with cv:
            while state["in_flight"] >= depth:
                cv.wait()
            state["in_flight"] += 1
        keep.append(submit(obj, off))
    with cv:
        while state["in_flight"] > 0:
            cv.wait()
    secs = time.perf_counter() - start
    if state["errors"]:
        raise RuntimeError("writes failed: %r" % state["errors"][:5])
    return len(writes) / secs, state["lat_sum"] / len(writes) * 1e3


def pass_sync(io, writes, data):
    start = time.perf_counter()
    for obj, off in writes:
        io.write(object_name(obj), data, off)
    secs = time.perf_counter() - start
    return len(writes) / secs, secs / len(writes) * 1e3


def mon(cluster, **cmd):
    ret, out, err = cluster.mon_command(json.dumps(cmd), b"")
    if ret != 0:
        raise RuntimeError("%s: %s" % (cmd["prefix"], err))
    return out


def trimming_pgs(cluster):
    """PGs the manager reports as trimming or waiting to trim."""
    cmd = {"prefix": "pg ls", "states": ["snaptrim", "snaptrim_wait"], "format": "json"}
    ret, out, err = cluster.mgr_command(json.dumps(cmd), b"")
    if ret != 0:
        raise RuntimeError("pg ls: %s" % err)
    return len(json.loads(out or b"{}").get("pg_stats") or [])


def wait_trimmed(cluster, io):
    """Waits until fresh statistics show no clone and no PG trimming; returns the seconds."""
    start = time.perf_counter()
    while True:
        time.sleep(1)
        el = time.perf_counter() - start
        if el >= STATS_FRESH_S:
            clones = io.get_stats()["num_object_clones"]
            if clones == 0 and trimming_pgs(cluster) == 0:
                return el
        if el > TRIM_WAIT_MAX_S:
            raise RuntimeError("clones still there %d s after removing the snapshots" % el)


def fresh_pool(cluster, pg_num):
    if cluster.pool_exists(POOL):
        cluster.delete_pool(POOL)
    mon(cluster, prefix="osd pool create", pool=POOL, pg_num=pg_num, pgp_num=pg_num,
        pool_type="replicated", autoscale_mode="off")
    mon(cluster, prefix="osd pool set", pool=POOL, var="size", val="3")
    mon(cluster, prefix="osd pool application enable", pool=POOL, app="rados",
        yes_i_really_mean_it=True)


def populate(io, objects, depth, seed):
    data = noise(OBJECT_BYTES, seed)
    cv = threading.Condition()
    state = {"in_flight": 0, "errors": []}

    def done(c):
        with cv:
            if c.get_return_value() < 0:
                state["errors"].append(c.get_return_value())
            state["in_flight"] -= 1
            cv.notify()

    keep = []
    t0 = time.perf_counter()
    for i in range(objects):
        with cv:
            while state["in_flight"] >= depth:
                cv.wait()
            state["in_flight"] += 1
        keep.append(io.aio_write_full(object_name(i), data, oncomplete=done))
    with cv:
        while state["in_flight"] > 0:
            cv.wait()
    if state["errors"]:
        raise RuntimeError("write_full failed: %r" % state["errors"][:5])
    secs = time.perf_counter() - t0
    say("populated %d objects of 4 MiB in %.1f s (%.0f MiB/s)" % (objects, secs, objects * 4 / secs))


class Bench:
    def __init__(self, args, cluster, io):
        self.args, self.cluster, self.io = args, cluster, io

    def writes(self, rnd, p):
        return [(o, offset_of(self.args.seed, rnd, p, o)) for o in range(self.args.objects)]

    def data(self, rnd, p):
        return noise(WRITE_BYTES, self.args.seed ^ (rnd << 8) ^ PASS[p])

    def run_async(self, rnd, p):
        return pass_async(self.io, self.writes(rnd, p), self.data(rnd, p), self.args.depth)

    def run_sync(self, rnd, p):
        return pass_sync(self.io, self.writes(rnd, p), self.data(rnd, p))

    def snap(self, name):
        t0 = time.perf_counter()
        self.io.create_snap(name)
        return (time.perf_counter() - t0) * 1e3

    def round(self, rnd):
        a16 = self.run_async(rnd, "a16")
        a1 = self.run_sync(rnd, "a1")
        s1, s2 = "snapbench-%d-1" % rnd, "snapbench-%d-2" % rnd
        mk1 = self.snap(s1)
        b16 = self.run_async(rnd, "b16")
        mk2 = self.snap(s2)
        b1 = self.run_sync(rnd, "b1")
        if rnd == 1:
            check_clones(self.io, self.args.objects)
        self.io.remove_snap(s1)
        self.io.remove_snap(s2)
        trim = wait_trimmed(self.cluster, self.io)
        return {"a16": a16, "a1": a1, "b16": b16, "b1": b1, "mksnap_ms": (mk1 + mk2) / 2,
                "trim_s": trim}


def print_round(rnd, x):
    say("round %d: A %.0f IOPS (16-lat %.2f ms), 1-lat %.3f ms | B %.0f IOPS (16-lat %.2f ms), "
        "1-lat %.3f ms | B/A cost %.2fx (16), %.2fx (1) | mksnap %.1f ms | trim %.1f s"
        % (rnd, x["a16"][0], x["a16"][1], x["a1"][1], x["b16"][0], x["b16"][1], x["b1"][1],
           x["a16"][0] / x["b16"][0], x["b1"][1] / x["a1"][1], x["mksnap_ms"], x["trim_s"]))


def median(v):
    # The same pick as the Rust side (upper median for an even count).
    return sorted(v)[len(v) // 2]


def summary(args, rounds):
    m = lambda f: median([f(x) for x in rounds])
    say("RESULT side=ceph objects=%d rounds=%d depth=%d iops_a=%.0f iops_b=%.0f b_over_a=%.2f "
        "lat_a_ms=%.3f lat_b_ms=%.3f lat_b_over_a=%.2f mksnap_ms=%.1f trim_s=%.1f"
        % (args.objects, len(rounds), args.depth, m(lambda x: x["a16"][0]),
           m(lambda x: x["b16"][0]), m(lambda x: x["a16"][0] / x["b16"][0]),
           m(lambda x: x["a1"][1]), m(lambda x: x["b1"][1]),
           m(lambda x: x["b1"][1] / x["a1"][1]), m(lambda x: x["mksnap_ms"]),
           m(lambda x: x["trim_s"])))


def check_clones(io, objects):
    """After B16 and B1: two clones per object (the statistics lag, so this waits first)."""
    time.sleep(STATS_FRESH_S)
    clones = io.get_stats()["num_object_clones"]
    say("check: pool reports %d clones for %d objects after B16 and B1 (expected %d)"
        % (clones, objects, 2 * objects))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conf", required=True)
    ap.add_argument("--objects", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--pg-num", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    # The Rust side's unit test asserts the same values.
    assert splitmix64(0) == 0xE220A8397B1DCDAF and offset_of(1, 3, "b16", 5) == 385024
    say("snap_overwrite_ceph: %d objects x 4 MiB, 4 KiB writes, %d in flight and 1, %d rounds"
        % (args.objects, args.depth, args.rounds))
    cluster = rados.Rados(conffile=args.conf)
    cluster.connect()
    try:
        t0 = time.perf_counter()
        fresh_pool(cluster, args.pg_num)
        io = cluster.open_ioctx(POOL)
        io.write_full(object_name(0), b"")  # returns once the PG is active
        say("ceph cluster %s, pool %s (size 3, %d PGs) ready in %.1f s"
            % (args.conf, POOL, args.pg_num, time.perf_counter() - t0))
        populate(io, args.objects, args.depth, args.seed)
        b = Bench(args, cluster, io)
        say("warm-up pass: %.0f IOPS" % b.run_async(0, "warmup")[0])
        rounds = []
        for rnd in range(1, args.rounds + 1):
            x = b.round(rnd)
            print_round(rnd, x)
            rounds.append(x)
        summary(args, rounds)
        io.close()
    finally:
        if cluster.pool_exists(POOL):
            cluster.delete_pool(POOL)
        cluster.shutdown()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""4 KiB write_full and read operations per second from Python, through whichever `rados`
module the interpreter imports: the project's (embedded cluster in a fresh directory) or
Ceph's python3-rados (a running cluster named by a conffile). The same code runs both sides.

    python benches/python_ops.py --embedded DIR   [--seconds 3] [--rounds 5] ...
    /usr/bin/python3 benches/python_ops.py --conf CEPH_DIR/ceph.conf [...]

Cases, each run for --seconds, round after round (medians are reported):
  w1  one thread, blocking write_full of 4 KiB, objects in turn
  r1  one thread, blocking read of 4 KiB
  w8  8 threads, each keeping --window aio_write_full in flight (waits on the oldest)
  r8  8 threads, each keeping --window aio_read in flight
With the project's module, also the binding's own cost per call: a blocking 4 KiB read loop
on one object timed in Python, minus what the module's clock (`rados._librados_clock`) saw
spent inside librados for those calls, in wall time and in the calling thread's CPU time; and,
for comparison, the same loop run in Rust (`rados._native_loop`), in alternating chunks. The last line is `RESULT key=value ...`.
"""
import argparse
import json
import os
import statistics
import threading
import time
from collections import deque

import rados

OURS = hasattr(rados, "embedded")
POOL = "pybench"
SIZE = 4096


def say(line):
    print(line, flush=True)


def mon(cluster, **cmd):
    ret, _out, err = cluster.mon_command(json.dumps(cmd), b"")
    if ret != 0:
        raise RuntimeError("%s: %s" % (cmd["prefix"], err))


def fresh_pool(cluster, pg_num):
    if cluster.pool_exists(POOL):
        cluster.delete_pool(POOL)
    cmd = dict(prefix="osd pool create", pool=POOL, pg_num=pg_num, pgp_num=pg_num,
               pool_type="replicated")
    if not OURS:
        cmd["autoscale_mode"] = "off"
    mon(cluster, **cmd)
    mon(cluster, prefix="osd pool set", pool=POOL, var="size", val="3")
    if not OURS:
        mon(cluster, prefix="osd pool application enable", pool=POOL, app="rados",
            yes_i_really_mean_it=True)


def name(i):
    return "pybench_%d" % i


def sync_case(io, write, objects, data, seconds):
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        obj = name(n % objects)
        if write:
            io.write_full(obj, data)
        else:
            got = io.read(obj, SIZE)
            if len(got) != SIZE:
                raise RuntimeError("short read of %s: %d bytes" % (obj, len(got)))
        n += 1
        if n % 16 == 0 and time.perf_counter() >= deadline:
            return n / (time.perf_counter() - start)


def aio_case(io, write, objects, data, seconds, threads, window):
    counts = [0] * threads
    errors = []
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def ignore(*_args):
        pass

    def worker(t):
        q = deque()
        n = 0
        i = t
        barrier.wait()
        try:
            while True:
                stop = time.perf_counter() >= deadline[0]
                while not stop and len(q) < window:
                    obj = name(i % objects)
                    i += threads
                    if write:
                        q.append(io.aio_write_full(obj, data))
                    else:
                        q.append(io.aio_read(obj, SIZE, 0, ignore))
                if not q:
                    break
                c = q.popleft()
                c.wait_for_complete()
                rv = c.get_return_value()
                if rv < 0 or (not write and rv != SIZE):
                    raise RuntimeError("aio returned %d" % rv)
                if not stop:
                    n += 1
        except Exception as e:  # reported by the main thread
            errors.append(e)
        counts[t] = n

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / seconds


def timed_reads(io, obj, chunk, cpu):
    """`chunk` blocking reads timed in Python and by the module's librados clock, in wall
    time or in this thread's CPU time: (Python's seconds, librados' seconds)."""
    now = time.thread_time if cpu else time.perf_counter
    rados._librados_clock(True, cpu)
    start = now()
    for _ in range(chunk):
        io.read(obj, SIZE)
    py = now() - start
    counted, lib = rados._librados_clock(False)
    if counted != chunk:
        raise RuntimeError("the clock counted %d calls of %d" % (counted, chunk))
    return py, lib


def overhead(io, calls, chunk=250):
    """The blocking 4 KiB read of one object, in chunks alternating between a Python loop
    timed in wall time, the same loop timed in this thread's CPU time, and the loop in Rust.
    Returns, per call in µs: the binding's own cost in wall time (Python's time minus the time
    inside librados: this counts the moments the cluster's threads take the core from the
    caller too), the same in CPU time (the work alone), Python's wall time per call, and how
    much faster the Rust loop is."""
    obj = name(0)
    py = lib = py_cpu = lib_cpu = native = 0.0
    rounds = max(1, calls // chunk)
    for _ in range(rounds):
        p, l = timed_reads(io, obj, chunk, cpu=False)
        py, lib = py + p, lib + l
        p, l = timed_reads(io, obj, chunk, cpu=True)
        py_cpu, lib_cpu = py_cpu + p, lib_cpu + l
        native += rados._native_loop(io, "read", obj, SIZE, chunk)
    us = 1e6 / (rounds * chunk)
    return (py - lib) * us, (py_cpu - lib_cpu) * us, py * us, (py - native) * us


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    side = ap.add_mutually_exclusive_group(required=True)
    side.add_argument("--conf", help="a Ceph cluster's ceph.conf (Ceph's python3-rados)")
    side.add_argument("--embedded", help="a fresh directory for the embedded cluster")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--objects", type=int, default=256)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--window", type=int, default=4, help="aio in flight per thread")
    ap.add_argument("--pg-num", type=int, default=32)
    ap.add_argument("--overhead-calls", type=int, default=10000)
    args = ap.parse_args()
    if args.embedded and not OURS:
        ap.error("--embedded needs the project's rados module")

    t0 = time.perf_counter()
    if args.embedded:
        cluster = rados.embedded(args.embedded)
    else:
        cluster = rados.Rados(conffile=args.conf)
        cluster.connect()
    fresh_pool(cluster, args.pg_num)
    io = cluster.open_ioctx(POOL)
    data = os.urandom(SIZE)
    for i in range(args.objects):
        io.write_full(name(i), data)
    say("%s: pool %s (size 3, %d PGs, %d objects of 4 KiB) ready in %.1f s" % (
        "ours (embedded)" if OURS else "ceph", POOL, args.pg_num, args.objects,
        time.perf_counter() - t0))

    cases = {
        "w1": lambda: sync_case(io, True, args.objects, data, args.seconds),
        "r1": lambda: sync_case(io, False, args.objects, data, args.seconds),
        "w8": lambda: aio_case(io, True, args.objects, data, args.seconds, args.threads,
                               args.window),
        "r8": lambda: aio_case(io, False, args.objects, data, args.seconds, args.threads,
                               args.window),
    }
    results = {k: [] for k in cases}
    over = []
    for rnd in range(1, args.rounds + 1):
        line = []
        for k, run in cases.items():
            results[k].append(run())
            line.append("%s %.0f/s" % (k, results[k][-1]))
        if OURS:
            over.append(overhead(io, args.overhead_calls))
            line.append("binding %.2f us (CPU %.2f us) of %.1f us per read (Rust loop -%.1f us)"
                        % over[-1])
        say("round %d/%d: %s" % (rnd, args.rounds, ", ".join(line)))

    fields = ["%s=%.0f" % (k, statistics.median(v)) for k, v in results.items()]
    if over:
        keys = ["binding_us", "binding_cpu_us", "read_call_us", "read_vs_rust_us"]
        for i, key in enumerate(keys):
            fields.append("%s=%.2f" % (key, statistics.median(x[i] for x in over)))
    say("RESULT " + " ".join(fields))

    for i in range(args.objects):
        io.remove_object(name(i))
    io.close()
    cluster.delete_pool(POOL)
    cluster.shutdown()


if __name__ == "__main__":
    main()

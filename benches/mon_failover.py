#!/usr/bin/env python3
"""Monitor failover under a loop of map changes, with the `rados` Python module.

Usage: mon_failover.py CONF PIDFILE RESTART_CMD

A thread creates and removes pool snapshots (pool "fomap") one after the other; after 2 s
the monitor whose pid is in PIDFILE gets SIGKILL, 5 s later RESTART_CMD starts it again,
3 s after that the loop stops. Prints how long after the kill the first change succeeded,
the longest gap between two changes, and the errors the loop saw. Runs against any cluster
the module reaches (ours: `rados cluster create DIR --mons 3`, PIDFILE DIR/run/mon.N.pid,
RESTART_CMD "rados cluster start DIR mon.N --timeout 0").
"""
import os
import signal
import subprocess
import sys
import threading
import time

import rados


def main():
    conf, pidfile, restart = sys.argv[1], sys.argv[2], sys.argv[3]
    c = rados.Rados(conffile=conf)
    c.connect()
    if not c.pool_exists("fomap"):
        c.create_pool("fomap")
    io = c.open_ioctx("fomap")
    stamps, errors, stop = [], [], threading.Event()

    def loop():
        i = 0
        while not stop.is_set():
            name = "s%d" % i
            i += 1
            try:
                io.create_snap(name)
                io.remove_snap(name)
                stamps.append(time.time())
            except Exception as e:  # noqa: BLE001 - every failure is counted
                errors.append(str(e))
                time.sleep(0.05)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    time.sleep(2)
    pid = int(open(pidfile).read())
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    time.sleep(5)
    subprocess.run(restart, shell=True, stdout=subprocess.DEVNULL, check=False)
    time.sleep(3)
    stop.set()
    t.join(timeout=30)
    after = [s for s in stamps if s > killed]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])] or [0.0]
    print("first change after the kill: %.3f s; longest gap %.3f s; %d changes; %d errors %s"
          % (after[0] - killed if after else -1.0, max(gaps), len(stamps), len(errors), errors[:1]))


if __name__ == "__main__":
    main()

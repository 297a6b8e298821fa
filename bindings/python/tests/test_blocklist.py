"""Fencing a client with the blocklist (`Rados.blocklist_add`): its requests are refused with
ConnectionShutdown (ESHUTDOWN) and its watches fail (NotConnected); other clients carry on."""

import errno
import json
import time

import pytest

import rados


def _connect(conffile):
    r = rados.Rados(conffile=conffile)
    r.connect()
    return r


def _unblocklist(cluster, addr):
    cmd = {"prefix": "osd blocklist", "blocklistop": "rm", "addr": addr}
    ret, _, outs = cluster.mon_command(json.dumps(cmd), b"")
    assert ret == 0, outs


def test_get_addrs_names_each_client(conffile, cluster):
    other = _connect(conffile)
    try:
        mine, theirs = cluster.get_addrs(), other.get_addrs()
        assert isinstance(mine, str) and mine != theirs
        # IP:PORT/NONCE, perhaps with a protocol prefix.
        assert "/" in mine and ":" in mine
    finally:
        other.shutdown()


def test_a_blocklisted_client_is_refused(conffile, cluster, pool):
    old = _connect(conffile)
    addr = old.get_addrs()
    try:
        io_old = old.open_ioctx(pool)
        io_old.write_full("bl-fenced", b"v1")
        errors = []
        w = io_old.watch("bl-fenced", lambda *a: None, lambda *a: errors.append(a), timeout=3)
        cluster.blocklist_add(addr, 600)
        # "ADDR UNTIL" lines (Ceph 16's JSON form has stray bytes after the list).
        ret, out, outs = cluster.mon_command(json.dumps({"prefix": "osd blocklist ls"}), b"")
        assert ret == 0 and outs.startswith("listed ")
        assert addr in [line.split(" ")[0] for line in out.decode().splitlines()]
        io_new = cluster.open_ioctx(pool)
        io_new.write_full("bl-fenced", b"v2")
        # Not pytest.raises: its traceback would keep the frame (and the Watch) alive.
        try:
            io_old.write_full("bl-fenced", b"stale")
        except rados.ConnectionShutdown as e:
            assert e.errno == errno.ESHUTDOWN
        else:
            pytest.fail("a fenced client's write succeeded")
        assert io_new.read("bl-fenced") == b"v2"
        deadline = time.time() + 15
        while not errors and time.time() < deadline:
            time.sleep(0.05)
        # The fence dropped the watch: it fails as a lapsed one does.
        assert errors == [(w.get_id(), -errno.ENOTCONN)]
        _unblocklist(cluster, addr)
        w.close()
        io_old.close()
    finally:
        old.shutdown()


def test_blocklist_add_refuses_a_bad_address(cluster):
    with pytest.raises(rados.InvalidArgumentError):
        cluster.blocklist_add("not an address")

"""The cluster log: `Rados.monitor_log`/`monitor_log2` follow it, the `log` monitor command adds
to it, `log last` reads its newest entries."""

import json
import queue
import time
import uuid

import pytest

import rados


@pytest.fixture
def handle(conffile):
    """A handle of its own: a subscription is per handle."""
    r = rados.Rados(conffile=conffile)
    r.connect()
    yield r
    r.shutdown()


def _log(cluster, text, level=None):
    cmd = {"prefix": "log", "logtext": text.split(" ")}
    if level:
        cmd["level"] = level
    ret, _, outs = cluster.mon_command(json.dumps(cmd), b"")
    assert ret == 0, outs


def _follow(handle, level, v2=False):
    """Subscribes at `level`; returns the queue the callback fills with its arguments."""
    got = queue.Queue()
    marker = object()

    def callback(arg, *rest):
        assert arg is marker
        got.put(rest)

    (handle.monitor_log2 if v2 else handle.monitor_log)(level, callback, marker)
    return got


def _wait_for(got, token, timeout=15):
    """The callback arguments of the entry whose message has `token`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no entry with {}".format(token)
        args = got.get(timeout=left)
        if token.encode() in args[-1]:
            return args


def test_monitor_log_delivers_lines_as_they_are_logged(handle, cluster):
    got = _follow(handle, "info")
    token = uuid.uuid4().hex
    _log(cluster, "hello from pytest " + token)
    line, who, sec, nsec, seq, level, msg = _wait_for(got, token)
    assert msg == ("hello from pytest " + token).encode()
    assert level == b"[INF]"
    # "STAMP NAME [INF] MSG"
    assert isinstance(line, bytes) and line.endswith(b" [INF] " + msg), line
    assert isinstance(who, bytes) and who.startswith(b"client.")
    assert abs(sec - time.time()) < 300 and 0 <= nsec < 10**9
    assert isinstance(seq, int) and seq >= 0
    # Delivered in the order logged.
    token2, token3 = uuid.uuid4().hex, uuid.uuid4().hex
    _log(cluster, token2)
    _log(cluster, token3)
    order = []
    while token3 not in order:
        message = got.get(timeout=15)[-1].decode()
        if message in (token2, token3):
            order.append(message)
    assert order == [token2, token3]


def test_a_subscriber_gets_only_its_level_and_above(handle, cluster):
    got = _follow(handle, "warn")
    quiet, loud, louder = (uuid.uuid4().hex for _ in range(3))
    _log(cluster, quiet, level="info")
    _log(cluster, loud, level="warn")
    _log(cluster, louder, level="error")
    assert _wait_for(got, loud)[5] == b"[WRN]"
    assert _wait_for(got, louder)[5] == b"[ERR]"
    seen = []
    while not got.empty():
        seen.append(got.get_nowait())
    assert not any(quiet.encode() in a[-1] for a in seen)


def test_monitor_log2_adds_channel_and_name(handle, cluster):
    got = _follow(handle, "debug", v2=True)
    token = uuid.uuid4().hex
    _log(cluster, token)
    line, channel, name, who, sec, nsec, seq, level, msg = _wait_for(got, token)
    assert channel == b"cluster"
    assert isinstance(name, bytes) and name.startswith(b"client.")
    assert level == b"[INF]" and msg == token.encode()


def test_bad_levels_and_callbacks_are_refused(handle):
    with pytest.raises(rados.LogicError):
        handle.monitor_log("loud", lambda *a: None)
    with pytest.raises(rados.LogicError):
        handle.monitor_log("info", "not callable")


def test_no_callback_ends_the_subscription(handle, cluster):
    got = _follow(handle, "info")
    token = uuid.uuid4().hex
    _log(cluster, token)
    _wait_for(got, token)
    handle.monitor_log("info", None)
    after = uuid.uuid4().hex
    _log(cluster, after)
    time.sleep(1)
    while not got.empty():
        assert after.encode() not in got.get_nowait()[-1]


def test_log_last_lists_the_newest_entries(cluster):
    token = uuid.uuid4().hex
    _log(cluster, "last " + token, level="warn")
    cmd = {"prefix": "log last", "num": 50, "level": "warn", "channel": "cluster"}
    ret, out, outs = cluster.mon_command(json.dumps(cmd), b"")
    assert ret == 0, outs
    lines = out.decode().splitlines()
    assert any(token in l and "[WRN]" in l for l in lines), lines
    cmd["format"] = "json"
    ret, out, outs = cluster.mon_command(json.dumps(cmd), b"")
    assert ret == 0, outs
    entries = json.loads(out)
    mine = [e for e in entries if token in e["message"]]
    assert len(mine) == 1
    assert mine[0]["channel"] == "cluster" and mine[0]["priority"] == "[WRN]"
    assert mine[0]["name"].startswith("client.") and mine[0]["addrs"]["addrvec"]
    # Filtered by level: nothing below warn.
    assert all(e["priority"] in ("[WRN]", "[ERR]") for e in entries)

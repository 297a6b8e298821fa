"""Object data, xattrs, listing, namespaces, locators and the Object wrapper."""

import asyncio
import datetime
import errno
import os
import time

import pytest

import rados

ALL_BYTES = bytes(range(256))
NAMES = [
    "plain",
    "with space",
    "slash/and\\backslash",
    "ctrl\x01\x02\x7f",
    "latin1-\u00e9\u00ff",
    "cjk-\u6f22\u5b57",
    "emoji-\U0001f600",
    "quote'\"",
    "x" * 500,
]


def test_write_read_append_return_values(ioctx):
    assert ioctx.write_full("o", b"hello") == 0
    assert ioctx.read("o") == b"hello"
    assert ioctx.write("o", b"J", 0) == 0
    assert ioctx.append("o", b" world") == 0
    assert ioctx.read("o") == b"Jello world"
    assert ioctx.read("o", 4, 1) == b"ello"
    assert ioctx.read("o", 100, 6) == b"world"
    assert ioctx.read("o", 10, 100) == b""  # past the end
    assert ioctx.write("o", b"!", 20) == 0  # a hole reads as zeros
    assert ioctx.read("o") == b"Jello world" + b"\0" * 9 + b"!"
    assert ioctx.write_full("o", b"short") == 0
    assert ioctx.read("o") == b"short"
    assert ioctx.get_last_version() > 0


def test_read_default_length_is_8192(ioctx):
    ioctx.write_full("big", b"a" * 10000)
    assert len(ioctx.read("big")) == 8192
    assert len(ioctx.read("big", 20000)) == 10000


def test_stat_trunc_remove(ioctx):
    before = time.time()
    ioctx.write_full("o", b"12345")
    size, mtime = ioctx.stat("o")
    assert size == 5
    assert isinstance(mtime, time.struct_time)
    assert abs(time.mktime(mtime) - before) < 120
    assert ioctx.trunc("o", 2) == 0
    assert ioctx.read("o") == b"12"
    assert ioctx.trunc("o", 4) == 0
    assert ioctx.read("o") == b"12\0\0"
    assert ioctx.remove_object("o") is True
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("o")
    assert ioctx.trunc("new", 3) == 0  # succeeds, and creates nothing (as Ceph 16)
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("new")


def test_writesame(ioctx):
    ioctx.writesame("ws", b"ab", 6)
    assert ioctx.read("ws") == b"ababab"


def test_binary_names_and_data(ioctx):
    for i, name in enumerate(NAMES):
        data = ALL_BYTES * (i + 1)
        ioctx.write_full(name, data)
    for i, name in enumerate(NAMES):
        assert ioctx.read(name, 1 << 20) == ALL_BYTES * (i + 1), name
        assert ioctx.stat(name)[0] == 256 * (i + 1)
    listed = {o.key for o in ioctx.list_objects()}
    assert listed == set(NAMES)
    ioctx.set_xattr(NAMES[3], "bin\x01", ALL_BYTES)
    assert ioctx.get_xattr(NAMES[3], "bin\x01") == ALL_BYTES


def test_64_mib_object(ioctx):
    data = os.urandom(1 << 20) * 64
    ioctx.write_full("huge", data)
    assert ioctx.stat("huge")[0] == len(data)
    back = ioctx.read("huge", len(data))
    assert len(back) == len(data) and back == data
    assert ioctx.read("huge", 10, (64 << 20) - 5) == data[-5:]
    ioctx.remove_object("huge")


@pytest.mark.ours_only
def test_read_buffer_is_a_read_only_view_without_a_copy(ioctx):
    data = os.urandom(1 << 20) * 64
    ioctx.write_full("huge-view", data)
    view = ioctx.read_buffer("huge-view", len(data) + 1)
    assert isinstance(view, memoryview)
    assert view.readonly and view.format == "B" and view.nbytes == len(data)
    assert view == data
    assert bytes(view[-5:]) == data[-5:]
    with pytest.raises(TypeError):
        view[0] = 0
    # Slices keep the bytes alive after the view and the owner are gone.
    tail = view[(64 << 20) - 3:]
    del view
    assert bytes(tail) == data[-3:]
    assert bytes(ioctx.read_buffer("huge-view", 4, 10)) == data[10:14]
    assert bytes(ioctx.read_buffer("huge-view", 0)) == b""
    with pytest.raises(rados.ObjectNotFound):
        ioctx.read_buffer("no-such-object")
    # The owner type exports nothing unless made by a read.
    owner_type = type(ioctx.read_buffer("huge-view", 1).obj)
    with pytest.raises(BufferError):
        memoryview(owner_type())
    ioctx.remove_object("huge-view")


@pytest.mark.ours_only
def test_benchmark_aids_count_librados_calls(ioctx):
    ioctx.write_full("clocked", b"x" * 4096)
    rados._librados_clock(True)
    for _ in range(5):
        assert ioctx.read("clocked", 4096) == b"x" * 4096
    calls, secs = rados._librados_clock(False)
    assert calls == 5 and secs > 0
    ioctx.read("clocked")
    assert rados._librados_clock(False) == (0, 0.0)
    assert rados._native_loop(ioctx, "read", "clocked", 4096, 3) > 0
    with pytest.raises(ValueError):
        rados._native_loop(ioctx, "stat", "clocked", 1, 1)
    with pytest.raises(rados.ObjectNotFound):
        rados._native_loop(ioctx, "read", "no-such-object", 1, 1)


def test_xattrs(ioctx):
    ioctx.write_full("o", b"")
    assert ioctx.set_xattr("o", "a", b"1") is True
    assert ioctx.set_xattr("o", "b", ALL_BYTES) is True
    assert ioctx.get_xattr("o", "a") == b"1"
    xs = ioctx.get_xattrs("o")
    assert dict(xs) == {"a": b"1", "b": ALL_BYTES}
    assert ioctx.rm_xattr("o", "a") is True
    assert dict(ioctx.get_xattrs("o")) == {"b": ALL_BYTES}
    with pytest.raises(rados.NoData):
        ioctx.get_xattr("o", "a")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.get_xattrs("missing")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.get_xattr("missing", "a")


def test_list_1000_objects(ioctx):
    names = {"obj-{:04d}".format(i) for i in range(1000)}
    completions = [ioctx.aio_write_full(n, n.encode()) for n in names]
    for c in completions:
        c.wait_for_complete()
        assert c.get_return_value() == 0
    objs = list(ioctx.list_objects())
    assert len(objs) == 1000
    assert {o.key for o in objs} == names
    o = objs[0]
    assert o.nspace == ioctx.get_namespace()
    assert o.locator_key is None
    assert o.read() == o.key.encode()


def test_namespaces(ioctx):
    ns = ioctx.get_namespace()
    ioctx.write_full("same", b"in-ns")
    other = ns + "-other"
    ioctx.set_namespace(other)
    assert ioctx.get_namespace() == other
    with pytest.raises(rados.ObjectNotFound):
        ioctx.read("same")
    ioctx.write_full("same", b"in-other")
    ioctx.write_full("only-other", b"x")
    assert sorted(o.key for o in ioctx.list_objects()) == ["only-other", "same"]
    ioctx.set_namespace(ns)
    assert ioctx.read("same") == b"in-ns"
    assert [o.key for o in ioctx.list_objects()] == ["same"]
    ioctx.set_namespace(rados.LIBRADOS_ALL_NSPACES)
    mine = sorted((o.nspace, o.key) for o in ioctx.list_objects() if o.nspace in (ns, other))
    assert mine == [(ns, "same"), (other, "only-other"), (other, "same")]
    ioctx.set_namespace(ns)


def test_locator_key(ioctx):
    assert ioctx.get_locator_key() == ""
    ioctx.set_locator_key("loc")
    assert ioctx.get_locator_key() == "loc"
    ioctx.write_full("placed", b"by-locator")
    assert ioctx.read("placed") == b"by-locator"
    objs = [o for o in ioctx.list_objects() if o.key == "placed"]
    assert len(objs) == 1 and objs[0].locator_key == "loc"
    ioctx.set_locator_key("")
    assert ioctx.get_locator_key() == ""
    ioctx.write_full("unplaced", b"by-name")
    assert {o.key: o.locator_key for o in ioctx.list_objects()} == {
        "placed": "loc",
        "unplaced": None,
    }


def test_object_wrapper(ioctx):
    ioctx.write_full("f", b"0123456789")
    [o] = [o for o in ioctx.list_objects() if o.key == "f"]
    assert o.state == "exists" and o.offset == 0
    assert o.read(3) == b"012" and o.offset == 3
    assert o.read(3) == b"345" and o.offset == 6
    assert o.read() == b"6789" and o.offset == 10
    o.seek(0)
    assert o.write(b"AB") == 0 and o.offset == 2
    assert ioctx.read("f") == b"AB23456789"
    size, mtime = o.stat()
    assert size == 10 and isinstance(mtime, time.struct_time)
    assert o.set_xattr("x", b"1") is True
    assert o.get_xattr("x") == b"1"
    assert dict(o.get_xattrs()) == {"x": b"1"}
    assert o.rm_xattr("x") is True
    assert "key=f" in str(o)
    o.remove()
    assert o.state == "removed"
    with pytest.raises(rados.ObjectStateError):
        o.read()
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("f")
    # Constructed directly: the default namespace unless told otherwise.
    ioctx.write_full("g", b"direct")
    assert rados.Object(ioctx, "g", nspace=ioctx.get_namespace()).read() == b"direct"
    with pytest.raises(rados.ObjectNotFound):
        rados.Object(ioctx, "g").read()


def test_execute(ioctx):
    ioctx.write_full("cls", b"")
    ret, out = ioctx.execute("cls", "hello", "say_hello", b"bob")
    assert (ret, out) == (11, b"Hello, bob!")
    with pytest.raises(rados.Error):
        ioctx.execute("cls", "no_such_class", "x", b"")


def test_locks(ioctx):
    ioctx.write_full("locked", b"")
    assert ioctx.lock_exclusive("locked", "lk", "c1", "mine", 30) is None
    with pytest.raises(rados.ObjectBusy) as ei:
        ioctx.lock_exclusive("locked", "lk", "c2")
    assert ei.value.errno == 16
    with pytest.raises(rados.ObjectExists):
        ioctx.lock_exclusive("locked", "lk", "c1")
    assert ioctx.unlock("locked", "lk", "c1") is None
    with pytest.raises(rados.ObjectNotFound):
        ioctx.unlock("locked", "lk", "c1")
    ioctx.lock_shared("locked", "sh", "c1", "tag")
    ioctx.lock_shared("locked", "sh", "c2", "tag")
    with pytest.raises(rados.ObjectBusy):
        ioctx.lock_exclusive("locked", "sh", "c3")
    ioctx.unlock("locked", "sh", "c1")
    ioctx.unlock("locked", "sh", "c2")
    ioctx.lock_exclusive("locked", "sh", "c3")


def test_lock_renew_flags(ioctx):
    ioctx.write_full("renewed", b"")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.lock_exclusive("renewed", "lk", "c", flags=2)  # must renew: not held
    ioctx.lock_exclusive("renewed", "lk", "c", "first", 30, flags=1)
    ioctx.lock_exclusive("renewed", "lk", "c", "second", 60, flags=1)
    ioctx.lock_exclusive("renewed", "lk", "c", "third", flags=2)
    with pytest.raises(rados.ObjectExists):
        ioctx.lock_exclusive("renewed", "lk", "c")
    with pytest.raises(rados.InvalidArgumentError):
        ioctx.lock_exclusive("renewed", "lk", "c", flags=3)
    ioctx.lock_shared("renewed", "sh", "c", "tag", flags=1)
    ioctx.lock_shared("renewed", "sh", "c", "tag", flags=1)
    ioctx.unlock("renewed", "sh", "c")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.unlock("renewed", "sh", "c")
    ioctx.unlock("renewed", "lk", "c")


def test_watch_notify(ioctx):
    ioctx.write_full("watched", b"")
    got = []
    w = ioctx.watch("watched", lambda *args: got.append(args))
    try:
        assert isinstance(w.get_id(), int)
        assert w.check() is not None
        assert ioctx.notify("watched", "hello") is True
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.01)
        [(notify_id, notifier_id, watch_id, data)] = got
        assert watch_id == w.get_id() and data == b"hello"
        assert isinstance(notify_id, int) and isinstance(notifier_id, int)
        assert ioctx.notify("watched") is True  # no message
    finally:
        w.close()
    n = len(got)
    ioctx.notify("watched", "after close")
    time.sleep(0.2)
    assert len(got) == n
    with pytest.raises(rados.ObjectNotFound):
        ioctx.notify("missing", "x")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.watch("missing", lambda *a: None)


def test_watch_check_and_error_callback(ioctx):
    ioctx.write_full("doomed", b"x")
    errors = []
    w = ioctx.watch("doomed", lambda *args: None, lambda *args: errors.append(args), timeout=5)
    try:
        age = w.check()
        assert isinstance(age, datetime.timedelta)
        assert datetime.timedelta(0) <= age < datetime.timedelta(seconds=5)
        ioctx.remove_object("doomed")
        deadline = time.time() + 10
        while not errors and time.time() < deadline:
            time.sleep(0.01)
        assert errors == [(w.get_id(), -errno.ENOTCONN)]
        # Not pytest.raises: its traceback would hold this frame, and python-rados 16
        # crashes when the cycle collector frees a Watch.
        try:
            w.check()
        except rados.NotConnected as e:
            assert e.errno == errno.ENOTCONN
        else:
            pytest.fail("check() of a failed watch raised nothing")
    finally:
        ioctx.write_full("doomed", b"again")
        w.close()


def test_aio_notify(ioctx):
    ioctx.write_full("aio-watched", b"")
    w = ioctx.watch("aio-watched", lambda nid, notifier, wid, data: b"reply-" + data)
    got = []
    try:
        c = ioctx.aio_notify("aio-watched", lambda *args: got.append(args), msg="hi",
                             timeout_ms=5000)
        assert c.wait_for_complete_and_cb() == 0
        [(comp, ret, acks, timeouts)] = got
        assert comp is c and ret == 0 and timeouts == []
        [(notifier_id, cookie, reply)] = acks
        assert isinstance(notifier_id, int) and isinstance(cookie, int)
        assert reply == b"reply-hi"
    finally:
        w.close()
    got.clear()
    c = ioctx.aio_notify("aio-missing", lambda *args: got.append(args))
    assert c.wait_for_complete_and_cb() == 0  # the wait's result, not the operation's
    assert c.get_return_value() == -errno.ENOENT
    assert got == [(c, -errno.ENOENT, None, None)]


@pytest.mark.ours_only
def test_aio_notify_awaited(ioctx):
    ioctx.write_full("aio-watched2", b"")
    w = ioctx.watch("aio-watched2", lambda *args: b"ok")

    async def main():
        acks, timeouts = await ioctx.aio_notify("aio-watched2", None, msg=b"x")
        assert [r for (_, _, r) in acks] == [b"ok"] and timeouts == []
        with pytest.raises(rados.ObjectNotFound):
            await ioctx.aio_notify("aio-missing2", None)

    try:
        asyncio.run(main())
    finally:
        w.close()


def test_watch_callback_may_call_the_cluster(ioctx):
    ioctx.write_full("watched", b"payload")
    seen = []
    w = ioctx.watch("watched", lambda *args: seen.append(ioctx.read("watched")))
    try:
        ioctx.notify("watched", "x")
        deadline = time.time() + 10
        while not seen and time.time() < deadline:
            time.sleep(0.01)
        assert seen == [b"payload"]
    finally:
        w.close()


def test_pool_stats(ioctx):
    ioctx.write_full("s", b"x" * 100)
    stats = ioctx.get_stats()
    for k in ["num_bytes", "num_kb", "num_objects", "num_object_clones", "num_object_copies"]:
        assert isinstance(stats[k], int)


def test_dup_is_independent(ioctx):
    d = ioctx.dup()
    d.set_namespace("dup-ns")
    assert ioctx.get_namespace() != "dup-ns"
    d.write_full("in-dup", b"1")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.read("in-dup")
    d.close()
    assert ioctx.state == "open"

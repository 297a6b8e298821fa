"""Asynchronous calls: Completion, callbacks, aio_flush, many threads, and (beyond
python-rados) awaiting completions in asyncio."""

import asyncio
import threading
import time

import pytest

import rados


def test_aio_write_read_remove(ioctx):
    events = []
    c = ioctx.aio_write(
        "a",
        b"hello",
        0,
        oncomplete=lambda comp: events.append(("complete", comp.get_return_value())),
        onsafe=lambda comp: events.append(("safe", comp.get_return_value())),
    )
    assert isinstance(c, rados.Completion)
    c.wait_for_complete_and_cb()
    assert c.is_complete() and c.is_safe()
    assert c.get_return_value() == 0
    assert sorted(events) == [("complete", 0), ("safe", 0)]
    assert c.ioctx is ioctx
    c.wait_for_safe()
    c.wait_for_safe_and_cb()

    c = ioctx.aio_write_full("a", b"HELLO")
    c.wait_for_complete()
    c = ioctx.aio_append("a", b"!!")
    c.wait_for_complete()
    assert ioctx.read("a") == b"HELLO!!"

    got = []
    c = ioctx.aio_read("a", 4, 1, lambda comp, data: got.append((comp.get_return_value(), data)))
    c.wait_for_complete_and_cb()
    assert got == [(4, b"ELLO")]
    assert c.get_return_value() == 4

    c = ioctx.aio_read("missing", 4, 0, lambda comp, data: got.append((comp.get_return_value(), data)))
    c.wait_for_complete_and_cb()
    assert got[-1] == (-2, None)
    assert c.get_return_value() == -2

    c = ioctx.aio_remove("a")
    c.wait_for_complete()
    assert c.get_return_value() == 0
    c = ioctx.aio_remove("a")
    c.wait_for_complete()
    assert c.get_return_value() == -2


def test_aio_stat_execute_xattrs(ioctx):
    ioctx.write_full("s", b"12345")
    got = []
    c = ioctx.aio_stat("s", lambda comp, size, mtime: got.append((size, mtime)))
    c.wait_for_complete_and_cb()
    assert got[0][0] == 5 and isinstance(got[0][1], time.struct_time)
    c = ioctx.aio_stat("missing", lambda comp, size, mtime: got.append((size, mtime)))
    c.wait_for_complete_and_cb()
    assert got[1] == (None, None) and c.get_return_value() == -2

    c = ioctx.aio_execute("s", "hello", "say_hello", b"aio", oncomplete=lambda comp, out: got.append(out))
    c.wait_for_complete_and_cb()
    assert got[-1] == b"Hello, aio!"

    c = ioctx.aio_setxattr("s", "x", b"1")
    c.wait_for_complete()
    assert ioctx.get_xattr("s", "x") == b"1"
    c = ioctx.aio_rmxattr("s", "x")
    c.wait_for_complete()
    with pytest.raises(rados.NoData):
        ioctx.get_xattr("s", "x")


def test_aio_flush(ioctx):
    completions = [ioctx.aio_write_full("f{}".format(i), b"x" * 4096) for i in range(200)]
    ioctx.aio_flush()
    assert all(c.is_complete() for c in completions)
    assert all(c.get_return_value() == 0 for c in completions)


def test_callback_may_call_the_cluster(ioctx):
    ioctx.write_full("src", b"data")
    seen = []
    c = ioctx.aio_read("src", 10, 0, lambda comp, data: seen.append(ioctx.read("src") == data))
    c.wait_for_complete_and_cb()
    assert seen == [True]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_callback_exception_does_not_break_the_completion(ioctx):
    def boom(comp):
        raise RuntimeError("in a callback")

    c = ioctx.aio_write_full("cb", b"x", oncomplete=boom)
    c.wait_for_complete_and_cb()
    assert c.get_return_value() == 0


def test_aio_from_many_threads(ioctx):
    errors = []

    def worker(t):
        try:
            cs = [ioctx.aio_write_full("t{}-{}".format(t, i), bytes([t, i % 256]) * 512) for i in range(100)]
            for c in cs:
                c.wait_for_complete()
                assert c.get_return_value() == 0
            for i in range(0, 100, 7):
                assert ioctx.read("t{}-{}".format(t, i), 2048) == bytes([t, i % 256]) * 512
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(list(ioctx.list_objects())) == 800


def test_blocking_calls_release_the_gil(ioctx):
    # A thread makes long blocking calls (64 MiB writes) while this one keeps ticking: were the
    # GIL held during a call, this thread would stall for the whole call.
    data = b"g" * (64 << 20)
    calls = []
    done = threading.Event()

    def writer():
        for _ in range(3):
            t = time.perf_counter()
            ioctx.write_full("gil", data)
            calls.append(time.perf_counter() - t)
        done.set()

    th = threading.Thread(target=writer)
    last, max_gap = time.perf_counter(), 0.0
    th.start()
    while not done.is_set():
        now = time.perf_counter()
        max_gap, last = max(max_gap, now - last), now
    th.join()
    assert max_gap < 0.5 * max(calls), (max_gap, calls)


@pytest.mark.ours_only
def test_await_completions(ioctx):
    async def main():
        assert await ioctx.aio_write_full("aw", b"awaited") == 0
        assert await ioctx.aio_read("aw", 100, 0) == b"awaited"
        size, mtime = await ioctx.aio_stat("aw", None)
        assert size == 7 and isinstance(mtime, time.struct_time)
        assert await ioctx.aio_execute("aw", "hello", "say_hello", b"x") == b"Hello, x!"
        with pytest.raises(rados.ObjectNotFound):
            await ioctx.aio_read("missing", 1, 0)
        # Many in flight at once.
        await asyncio.gather(*[ioctx.aio_write_full("g{}".format(i), bytes([i])) for i in range(200)])
        datas = await asyncio.gather(*[ioctx.aio_read("g{}".format(i), 1, 0) for i in range(200)])
        assert datas == [bytes([i]) for i in range(200)]
        # Awaiting a completion that already finished.
        c = ioctx.aio_write_full("done", b"x")
        c.wait_for_complete()
        assert await c == 0
        assert await ioctx.aio_remove("done") == 0

    asyncio.run(main())


@pytest.mark.ours_only
def test_await_with_callbacks_too(ioctx):
    seen = []

    async def main():
        c = ioctx.aio_write_full("both", b"x", oncomplete=lambda comp: seen.append("cb"))
        assert await c == 0
        c.wait_for_complete_and_cb()

    asyncio.run(main())
    assert seen == ["cb"]


def test_aio_operations_on_one_object_apply_in_call_order(ioctx):
    # Many appends and overwrites in flight at once, with no waiting between the calls: each
    # object ends as if they had run one after another, in the order they were made.
    comps = []
    for obj in ("o0", "o1", "o2"):
        comps.append(ioctx.aio_write_full(obj, b"start:"))
    for i in range(40):
        for obj in ("o0", "o1", "o2"):
            comps.append(ioctx.aio_append(obj, b"%d," % i))
    comps.append(ioctx.aio_write("o1", b"X", 0))
    comps.append(ioctx.aio_remove("o2"))
    for c in comps:
        c.wait_for_complete()
        assert c.get_return_value() == 0
    appended = b"".join(b"%d," % i for i in range(40))
    assert ioctx.read("o0", 1 << 20) == b"start:" + appended
    assert ioctx.read("o1", 1 << 20) == b"Xtart:" + appended
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("o2")

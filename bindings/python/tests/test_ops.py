"""Compound operations: WriteOp/WriteOpCtx, ReadOp/ReadOpCtx and the omap calls, with
python-rados' argument and return shapes."""

import time

import pytest

import rados


def omap_vals(ioctx, oid, start_after="", prefix="", max_return=100):
    with rados.ReadOpCtx() as op:
        it, ret = ioctx.get_omap_vals(op, start_after, prefix, max_return)
        assert ret == 0
        ioctx.operate_read_op(op, oid)
        return list(it)


def put_omap(ioctx, oid, entries):
    with rados.WriteOpCtx() as op:
        ioctx.set_omap(op, tuple(entries), tuple(entries.values()))
        ioctx.operate_write_op(op, oid)


def test_set_and_get_omap(ioctx):
    with rados.WriteOpCtx() as op:
        assert ioctx.set_omap(op, ("k1", "k2", "k3", "other"), (b"v1", b"v2", b"\x00\xff", b"o")) is None
        assert ioctx.operate_write_op(op, "om") is None
    assert omap_vals(ioctx, "om") == [("k1", b"v1"), ("k2", b"v2"), ("k3", b"\x00\xff"), ("other", b"o")]
    assert omap_vals(ioctx, "om", start_after="k1") == [("k2", b"v2"), ("k3", b"\x00\xff"), ("other", b"o")]
    assert omap_vals(ioctx, "om", prefix="k") == [("k1", b"v1"), ("k2", b"v2"), ("k3", b"\x00\xff")]
    assert omap_vals(ioctx, "om", prefix="k", max_return=1) == [("k1", b"v1")]
    with rados.ReadOpCtx() as op:
        it, ret = ioctx.get_omap_keys(op, "", 10)
        ioctx.operate_read_op(op, "om")
        assert (list(it), ret) == ([("k1", None), ("k2", None), ("k3", None), ("other", None)], 0)
    with rados.ReadOpCtx() as op:
        it, ret = ioctx.get_omap_vals_by_keys(op, ("k2", "missing", "other"))
        ioctx.operate_read_op(op, "om")
        assert (list(it), ret) == ([("k2", b"v2"), ("other", b"o")], 0)
    assert ioctx.read("om") == b""  # omap is beside the data


def test_two_reads_in_one_op(ioctx):
    with rados.WriteOpCtx() as op:
        ioctx.set_omap(op, ("a", "b"), (b"1", b"2"))
        ioctx.operate_write_op(op, "om")
    with rados.ReadOpCtx() as op:
        vals, _ = ioctx.get_omap_vals(op, "", "", 10)
        keys, _ = ioctx.get_omap_keys(op, "a", 10)
        ioctx.operate_read_op(op, "om")
        assert list(vals) == [("a", b"1"), ("b", b"2")]
        assert list(keys) == [("b", None)]


def test_remove_and_clear_omap(ioctx):
    with rados.WriteOpCtx() as op:
        ioctx.set_omap(op, ("a", "b", "c", "d"), (b"1", b"2", b"3", b"4"))
        ioctx.operate_write_op(op, "om")
    with rados.WriteOpCtx() as op:
        ioctx.remove_omap_keys(op, ("a",))
        ioctx.operate_write_op(op, "om")
    assert [k for k, _ in omap_vals(ioctx, "om")] == ["b", "c", "d"]
    with rados.WriteOpCtx() as op:
        ioctx.remove_omap_range2(op, "b", "d")
        ioctx.operate_write_op(op, "om")
    assert [k for k, _ in omap_vals(ioctx, "om")] == ["d"]
    with rados.WriteOpCtx() as op:
        ioctx.clear_omap(op)
        ioctx.operate_write_op(op, "om")
    assert omap_vals(ioctx, "om") == []


def test_omap_on_missing_object(ioctx):
    with rados.ReadOpCtx() as op:
        ioctx.get_omap_vals(op, "", "", 10)
        with pytest.raises(rados.ObjectNotFound):
            ioctx.operate_read_op(op, "missing")
    with rados.WriteOpCtx() as op:
        ioctx.remove_omap_keys(op, ("k",))
        with pytest.raises(rados.ObjectNotFound):
            ioctx.operate_write_op(op, "missing")


def test_write_op_steps_are_atomic(ioctx):
    with rados.WriteOpCtx() as op:
        op.write_full(b"abc")
        op.set_xattr("x", b"y")
        op.append(b"def")
        op.write(b"Z", 1)
        op.truncate(5)
        ioctx.operate_write_op(op, "w")
    assert ioctx.read("w") == b"aZcde"
    assert ioctx.get_xattr("w", "x") == b"y"
    version = ioctx.get_last_version()
    with rados.WriteOpCtx() as op:
        op.assert_version(version + 100)
        op.write_full(b"never")
        with pytest.raises(rados.OSError) as ei:
            ioctx.operate_write_op(op, "w")
        assert ei.value.errno in (34, 75)  # ERANGE / EOVERFLOW
    assert ioctx.read("w") == b"aZcde"
    with rados.WriteOpCtx() as op:
        op.rm_xattr("x")
        op.writesame(b"ab", 4, 1)
        ioctx.operate_write_op(op, "w")
    assert ioctx.read("w") == b"aabab"
    with pytest.raises(rados.NoData):
        ioctx.get_xattr("w", "x")


@pytest.mark.ours_only
def test_write_op_zero(ioctx):
    # python-rados 16 passes zero()'s arguments to librados swapped (it zeroes `offset` bytes
    # at `length`; zero(0, n) then crashes the OSD on an assert), so this follows the
    # documented meaning, not Ceph's module.
    ioctx.write_full("z", b"abcdef")
    with rados.WriteOpCtx() as op:
        op.zero(1, 2)
        ioctx.operate_write_op(op, "z")
    assert ioctx.read("z") == b"a\0\0def"


def test_write_op_create_remove_execute(ioctx):
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        ioctx.operate_write_op(op, "c")
    assert ioctx.stat("c")[0] == 0
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        with pytest.raises(rados.ObjectExists):
            ioctx.operate_write_op(op, "c")
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_IDEMPOTENT)
        ioctx.operate_write_op(op, "c")
    with rados.WriteOpCtx() as op:
        op.remove()
        ioctx.operate_write_op(op, "c")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("c")
    with rados.WriteOpCtx() as op:
        op.execute("hello", "record_hello", b"me")
        ioctx.operate_write_op(op, "h")
    assert ioctx.read("h") == b"Hello, me!"


def test_create_and_release_ops(ioctx):
    w = ioctx.create_write_op()
    ioctx.set_omap(w, ("k",), (b"v",))
    ioctx.operate_write_op(w, "ops")
    ioctx.release_write_op(w)
    r = ioctx.create_read_op()
    it, _ = ioctx.get_omap_vals(r, "", "", 10)
    ioctx.operate_read_op(r, "ops")
    assert list(it) == [("k", b"v")]
    ioctx.release_read_op(r)


def test_aio_ops(ioctx):
    done = []
    with rados.WriteOpCtx() as op:
        ioctx.set_omap(op, ("k",), (b"v",))
        c = ioctx.operate_aio_write_op(op, "aop", oncomplete=lambda c: done.append("w"))
        c.wait_for_complete_and_cb()
        assert c.get_return_value() == 0
    with rados.ReadOpCtx() as op:
        it, _ = ioctx.get_omap_vals(op, "", "", 10)
        c = ioctx.operate_aio_read_op(op, "aop", oncomplete=lambda c: done.append("r"))
        c.wait_for_complete_and_cb()
        assert list(it) == [("k", b"v")]
    assert done == ["w", "r"]


def test_write_op_mtime(ioctx):
    with rados.WriteOpCtx() as op:
        op.write_full(b"dated")
        ioctx.operate_write_op(op, "dated", mtime=1500000000)
    assert time.mktime(ioctx.stat("dated")[1]) == 1500000000
    with rados.WriteOpCtx() as op:
        op.append(b"!")
        c = ioctx.operate_aio_write_op(op, "dated", mtime=1400000000)
        c.wait_for_complete()
        assert c.get_return_value() == 0
    assert time.mktime(ioctx.stat("dated")[1]) == 1400000000


@pytest.mark.ours_only
def test_write_op_without_mtime_is_stamped_now(ioctx):
    # python-rados 16 stamps the epoch (1970) when mtime is left at 0.
    before = time.time() - 2
    with rados.WriteOpCtx() as op:
        op.write_full(b"now")
        ioctx.operate_write_op(op, "undated")
    assert time.mktime(ioctx.stat("undated")[1]) >= before


def test_op_flags(ioctx):
    ioctx.write_full("flags", b"old")
    put_omap(ioctx, "flags", {"k": b"v"})
    # EXCL makes an idempotent create exclusive.
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_IDEMPOTENT)
        op.set_flags(rados.LIBRADOS_OP_FLAG_EXCL)
        op.write_full(b"new")
        with pytest.raises(rados.ObjectExists):
            ioctx.operate_write_op(op, "flags")
    assert ioctx.read("flags") == b"old"
    # FAILOK steps may fail; the rest applies. Hints are accepted.
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK | rados.LIBRADOS_OP_FLAG_FADVISE_DONTNEED)
        op.cmpext(b"zzz", 0)
        op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK)
        op.write_full(b"new")
        ioctx.operate_write_op(op, "flags")
    assert ioctx.read("flags") == b"new"
    with rados.WriteOpCtx() as op:
        op.remove()
        op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK)
        ioctx.operate_write_op(op, "flags-missing")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("flags-missing")
    # Flags replace the step's earlier ones, exclusivity of a create included.
    with rados.WriteOpCtx() as op:
        op.remove()
        op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK)
        op.set_flags(rados.LIBRADOS_OPERATION_NOFLAG)
        with pytest.raises(rados.ObjectNotFound):
            ioctx.operate_write_op(op, "flags-missing")
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        op.set_flags(rados.LIBRADOS_OP_FLAG_FADVISE_NOCACHE)
        op.write_full(b"newest")
        ioctx.operate_write_op(op, "flags")
    assert ioctx.read("flags") == b"newest"
    with rados.ReadOpCtx() as op:
        op.cmpext(b"zzz", 0)
        op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK)
        it, _ = ioctx.get_omap_vals(op, "", "", 10)
        ioctx.operate_read_op(op, "flags")
        assert list(it) == [("k", b"v")]
    # A read of a missing object fails whatever its flags.
    with rados.ReadOpCtx() as op:
        op.cmpext(b"zzz", 0)
        op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK)
        with pytest.raises(rados.ObjectNotFound):
            ioctx.operate_read_op(op, "flags-missing")


@pytest.mark.ours_only
def test_set_flags_before_any_step_is_refused():
    # python-rados 16 aborts the process here.
    for op in (rados.WriteOpCtx(), rados.ReadOpCtx()):
        with pytest.raises(rados.InvalidArgumentError):
            op.set_flags(rados.LIBRADOS_OP_FLAG_FAILOK)

"""The exception hierarchy: python-rados' names, bases, errno values and message shapes, and
the errors real operations raise."""

import pickle

import pytest

import rados

OS_ERRORS = [
    "ConnectionShutdown",
    "IOError",
    "InterruptedOrTimeoutError",
    "NoData",
    "NoSpace",
    "NotConnected",
    "ObjectBusy",
    "ObjectExists",
    "ObjectNotFound",
    "PermissionDeniedError",
    "PermissionError",
    "TimedOut",
]
PLAIN_ERRORS = [
    "ExtendMismatch",
    "InProgress",
    "InvalidArgumentError",
    "IoctxStateError",
    "IsConnected",
    "LogicError",
    "OSError",
    "ObjectStateError",
    "RadosStateError",
]


def test_hierarchy_matches_python_rados():
    assert issubclass(rados.Error, Exception)
    for name in OS_ERRORS:
        cls = getattr(rados, name)
        assert cls.__mro__[1:3] == (rados.OSError, rados.Error), name
    for name in PLAIN_ERRORS:
        assert getattr(rados, name).__mro__[1] is rados.Error, name
    # rados.OSError and rados.IOError are the module's own, not the builtins.
    assert rados.OSError is not OSError and not issubclass(rados.OSError, OSError)
    assert rados.IOError is not IOError


def test_messages_and_errno():
    e = rados.ObjectNotFound("boom", errno=2)
    assert str(e) == "[errno 2] RADOS object not found (boom)"
    assert e.args == ("RADOS object not found (boom)",)
    assert e.errno == 2
    e = rados.Error("plain")
    assert str(e) == "plain" and e.errno is None
    assert str(rados.Error("x", 5)) == "[errno 5] x"
    e = rados.ExtendMismatch("m", 5, 10)
    assert e.offset == 10 and e.errno == 5
    assert str(e) == "[errno 5] object content does not match (m)"
    expected = {
        "ObjectExists": "RADOS object exists",
        "ObjectBusy": "RADOS object busy",
        "NoData": "RADOS no data",
        "NoSpace": "RADOS no space",
        "TimedOut": "RADOS timed out",
        "PermissionError": "RADOS permission error",
        "InvalidArgumentError": "RADOS invalid argument",
        "IOError": "RADOS I/O error",
        "RadosStateError": "RADOS rados state",
        "IoctxStateError": "RADOS Ioctx state error",
    }
    for name, prefix in expected.items():
        assert str(getattr(rados, name)("m", errno=7)) == "[errno 7] {} (m)".format(prefix)


@pytest.mark.ours_only
def test_our_extra_classes_are_oserrors():
    assert issubclass(rados.PoolNotFound, rados.ObjectNotFound)
    for name in ["ReadOnly", "OperationCanceled", "NotSupported"]:
        assert issubclass(getattr(rados, name), rados.OSError)


@pytest.mark.ours_only
def test_exceptions_pickle():
    e = pickle.loads(pickle.dumps(rados.ObjectNotFound("gone", errno=2)))
    assert type(e) is rados.ObjectNotFound and e.errno == 2 and "gone" in str(e)


def test_errors_from_operations(cluster, ioctx):
    with pytest.raises(rados.ObjectNotFound) as ei:
        ioctx.read("missing")
    assert ei.value.errno == 2
    assert str(ei.value).startswith("[errno 2] RADOS object not found (")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.stat("missing")
    with pytest.raises(rados.ObjectNotFound):
        ioctx.remove_object("missing")
    ioctx.write_full("obj", b"x")
    with pytest.raises(rados.NoData) as ei:
        ioctx.get_xattr("obj", "nope")
    assert ei.value.errno == 61
    with pytest.raises(rados.ObjectNotFound) as ei:
        cluster.open_ioctx("no-such-pool")
    assert ei.value.errno == 2
    with pytest.raises(rados.ObjectExists) as ei:
        cluster.create_pool(ioctx.get_pool_name())
    assert ei.value.errno == 17
    with pytest.raises(rados.ObjectNotFound):
        cluster.delete_pool("no-such-pool")


def test_argument_types(ioctx):
    with pytest.raises(TypeError):
        ioctx.write_full("obj", "text is not bytes")
    with pytest.raises(TypeError):
        ioctx.write_full(b"bytes-name", b"x")
    with pytest.raises(TypeError):
        ioctx.read(42)

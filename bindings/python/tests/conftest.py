"""Fixtures for the rados module's test suite.

By default the suite runs the module built from this repository against an embedded cluster in
a temporary directory (one per session, named by a conffile whose [global] section has
data_dir). With RADOS_TEST_CONFFILE=/path/to/ceph.conf it runs against that cluster instead,
with whichever `rados` module Python imports -- Ceph's own python-rados included, which is how
the suite checks that it encodes python-rados' real behaviour:

    RADOS_TEST_CONFFILE=/tmp/ceph/ceph.conf /usr/bin/python3 -m pytest bindings/python/tests

Markers: `embedded_only` (skipped against a real cluster), `ours_only` (what python-rados does
not have: awaitable completions, rados.embedded, our extra exception classes; skipped when the
module is Ceph's).
"""

import itertools
import os
import uuid

import pytest

import rados

REAL_CONFFILE = os.environ.get("RADOS_TEST_CONFFILE")
OURS = hasattr(rados, "embedded")


def pytest_configure(config):
    config.addinivalue_line("markers", "embedded_only: needs the embedded cluster")
    config.addinivalue_line("markers", "ours_only: beyond python-rados")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_CONFFILE and item.get_closest_marker("embedded_only"):
            item.add_marker(pytest.mark.skip(reason="embedded cluster only"))
        if not OURS and item.get_closest_marker("ours_only"):
            item.add_marker(pytest.mark.skip(reason="not in Ceph's python-rados"))


@pytest.fixture(scope="session")
def conffile(tmp_path_factory):
    """The conffile every test connects with."""
    if REAL_CONFFILE:
        return REAL_CONFFILE
    d = tmp_path_factory.mktemp("cluster")
    path = d / "ceph.conf"
    path.write_text(
        "[global]\n"
        "data_dir = {}\n"
        "osd_pool_default_pg_num = 8\n".format(d / "data")
    )
    return str(path)


@pytest.fixture(scope="session")
def cluster(conffile):
    """One connected handle for the session."""
    r = rados.Rados(conffile=conffile)
    r.connect()
    yield r
    r.shutdown()


_pools = itertools.count()


def _new_pool(cluster):
    name = "pytest-{}-{}".format(uuid.uuid4().hex[:8], next(_pools))
    cluster.create_pool(name)
    return name


@pytest.fixture(scope="session")
def pool(cluster):
    """A pool for the session's object tests (each test has its own namespace in it)."""
    name = _new_pool(cluster)
    yield name
    cluster.delete_pool(name)


@pytest.fixture
def fresh_pool(cluster):
    """A pool for one test (snapshots are per pool, and a pool takes one kind of them)."""
    name = _new_pool(cluster)
    yield name
    cluster.delete_pool(name)


@pytest.fixture
def ioctx(cluster, pool, request):
    """An Ioctx on the session pool in a namespace of the test's own."""
    io = cluster.open_ioctx(pool)
    io.set_namespace("ns-{}-{}".format(request.node.name[:60], uuid.uuid4().hex[:6]))
    yield io
    io.close()


@pytest.fixture
def fresh_ioctx(cluster, fresh_pool):
    """An Ioctx on a pool of the test's own."""
    io = cluster.open_ioctx(fresh_pool)
    yield io
    io.close()

"""Pool applications: Ioctx.application_* (python-rados' shapes and exceptions, the rule
that a second application needs force) and the `osd pool application ...` monitor commands;
and (embedded) pools that could never become active being refused at once."""

import json
import time

import pytest

import rados


def test_enable_list_and_force(fresh_ioctx):
    io = fresh_ioctx
    assert io.application_list() == []
    assert io.application_enable("rbd") is None
    io.application_enable("rbd")  # already enabled: no error, no force needed
    assert io.application_list() == ["rbd"]
    with pytest.raises(rados.PermissionError) as ei:
        io.application_enable("rgw")
    assert ei.value.errno == 1
    assert io.application_list() == ["rbd"]
    io.application_enable("rgw", True)
    assert sorted(io.application_list()) == ["rbd", "rgw"]
    with pytest.raises(rados.InvalidArgumentError):
        io.application_enable("", force=True)
    with pytest.raises(rados.InvalidArgumentError):
        io.application_enable("a" * 129, force=True)
    with pytest.raises(TypeError):
        io.application_enable(b"bytes")


def test_metadata(fresh_ioctx):
    io = fresh_ioctx
    io.application_enable("rgw")
    assert io.application_metadata_list("rgw") == []
    assert io.application_metadata_set("rgw", "zone", "east") is None
    io.application_metadata_set("rgw", "empty", "")
    io.application_metadata_set("rgw", "zone", "west")
    assert io.application_metadata_get("rgw", "zone") == "west"
    assert io.application_metadata_get("rgw", "empty") == ""
    listed = io.application_metadata_list("rgw")
    assert isinstance(listed, list) and all(isinstance(kv, tuple) for kv in listed)
    assert sorted(listed) == [("empty", ""), ("zone", "west")]

    assert io.application_metadata_remove("rgw", "zone") is None
    io.application_metadata_remove("rgw", "zone")  # a missing key is no error
    with pytest.raises(KeyError) as ei:
        io.application_metadata_get("rgw", "zone")
    assert ei.value.args == ("no metadata zone for application b'rgw'",)
    assert io.application_metadata_list("rgw") == [("empty", "")]
    with pytest.raises(rados.InvalidArgumentError):
        io.application_metadata_set("rgw", "", "v")
    with pytest.raises(rados.InvalidArgumentError):
        io.application_metadata_set("rgw", "k", "v" * 129)


def test_an_application_not_enabled(fresh_ioctx):
    io = fresh_ioctx
    io.application_enable("rbd")
    with pytest.raises(KeyError):
        io.application_metadata_get("nope", "k")
    with pytest.raises(rados.ObjectNotFound) as ei:
        io.application_metadata_list("nope")
    assert ei.value.errno == 2
    with pytest.raises(rados.ObjectNotFound):
        io.application_metadata_set("nope", "k", "v")
    with pytest.raises(rados.ObjectNotFound):
        io.application_metadata_remove("nope", "k")


def _mon(cluster, **cmd):
    ret, out, outs = cluster.mon_command(json.dumps(cmd), b"")
    cluster.wait_for_latest_osdmap()
    return ret, out, outs


def test_mon_commands(cluster, fresh_pool):
    pool = fresh_pool
    app = "osd pool application "
    assert _mon(cluster, prefix=app + "get", pool=pool, format="json") == (0, b"{}", "")
    ret, _, outs = _mon(cluster, prefix=app + "enable", pool=pool, app="rbd")
    assert (ret, outs) == (0, "enabled application 'rbd' on pool '{}'".format(pool))
    ret, _, outs = _mon(cluster, prefix=app + "enable", pool=pool, app="rgw")
    assert ret == -1 and "--yes-i-really-mean-it" in outs
    ret, _, _ = _mon(cluster, prefix=app + "enable", pool=pool, app="rgw", yes_i_really_mean_it=True)
    assert ret == 0
    ret, _, outs = _mon(cluster, prefix=app + "set", pool=pool, app="rgw", key="zone", value="east")
    assert (ret, outs) == (0, "set application 'rgw' key 'zone' to 'east' on pool '{}'".format(pool))
    ret, _, outs = _mon(cluster, prefix=app + "set", pool=pool, app="nope", key="k", value="v")
    assert (ret, outs) == (-2, "application 'nope' is not enabled on pool '{}'".format(pool))

    ret, out, _ = _mon(cluster, prefix=app + "get", pool=pool, format="json")
    assert ret == 0 and json.loads(out) == {"rbd": {}, "rgw": {"zone": "east"}}
    ret, out, _ = _mon(cluster, prefix=app + "get", pool=pool, app="rgw")
    assert ret == 0 and out == b'{\n    "zone": "east"\n}\n'
    assert _mon(cluster, prefix=app + "get", pool=pool, app="rgw", key="zone")[:2] == (0, b"east\n")
    ret, _, outs = _mon(cluster, prefix=app + "get", pool=pool, app="rgw", key="nope")
    assert (ret, outs) == (-2, "application 'rgw' on pool '{}' does not have key 'nope'".format(pool))
    ret, _, outs = _mon(cluster, prefix=app + "get", pool=pool, app="nope")
    assert (ret, outs) == (-2, "pool '{}' has no application 'nope'".format(pool))

    ret, _, outs = _mon(cluster, prefix=app + "rm", pool=pool, app="rgw", key="zone")
    assert (ret, outs) == (0, "removed application 'rgw' key 'zone' on pool '{}'".format(pool))
    ret, _, outs = _mon(cluster, prefix=app + "rm", pool=pool, app="rgw", key="zone")
    assert (ret, outs) == (0, "application 'rgw' on pool '{}' does not have key 'zone'".format(pool))
    ret, _, outs = _mon(cluster, prefix=app + "disable", pool=pool, app="rgw")
    assert ret == -1 and "--yes-i-really-mean-it" in outs
    ret, _, outs = _mon(cluster, prefix=app + "disable", pool=pool, app="rgw", yes_i_really_mean_it=True)
    assert (ret, outs) == (0, "disable application 'rgw' on pool '{}'".format(pool))
    ret, _, outs = _mon(cluster, prefix=app + "disable", pool=pool, app="rgw", yes_i_really_mean_it=True)
    assert (ret, outs) == (0, "application 'rgw' is not enabled on pool '{}'".format(pool))
    with cluster.open_ioctx(pool) as io:
        assert io.application_list() == ["rbd"]


@pytest.mark.embedded_only
@pytest.mark.ours_only
def test_one_osd_cluster_clamps_the_default_size(tmp_path):
    r = rados.embedded(str(tmp_path / "one"), osd_count=1)
    try:
        ret, out, _ = r.mon_command(json.dumps({"prefix": "osd pool get", "pool": "data", "var": "size", "format": "json"}), b"")
        assert ret == 0 and json.loads(out)["size"] == 1
        with r.open_ioctx("data") as io:
            io.write_full("x", b"y")
            assert io.read("x") == b"y"
        # A larger size keeps min_size 1: the pool still serves, undersized.
        cmd = {"prefix": "osd pool set", "pool": "data", "var": "size", "val": "3"}
        assert r.mon_command(json.dumps(cmd), b"")[0] == 0
        io_after = r.open_ioctx("data")
        io_after.write_full("z", b"still serving")
        io_after.close()
        cmd = {"prefix": "osd pool set", "pool": "data", "var": "min_size", "val": "2"}
        ret, _, outs = r.mon_command(json.dumps(cmd), b"")
        assert ret == -22 and "could never become active" in outs
    finally:
        r.shutdown()


@pytest.mark.embedded_only
@pytest.mark.ours_only
def test_a_pool_size_the_osds_cannot_serve_fails_promptly(tmp_path):
    start = time.monotonic()
    with pytest.raises(rados.InvalidArgumentError) as ei:
        rados.embedded(str(tmp_path / "three"), osd_count=1, osd_pool_default_size=3)
    assert "could never become active" in str(ei.value)
    assert time.monotonic() - start < 30

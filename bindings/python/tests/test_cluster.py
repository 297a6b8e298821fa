"""rados.Rados: life cycle, configuration, pools, cluster information, mon_command."""

import errno
import json
import re

import pytest

import rados
from conftest import REAL_CONFFILE


def test_life_cycle(conffile):
    r = rados.Rados(conffile=conffile)
    assert r.state == "configuring"
    with pytest.raises(rados.RadosStateError):
        r.list_pools()
    with pytest.raises(rados.RadosStateError):
        r.open_ioctx("any")
    r.connect()
    assert r.state == "connected"
    with pytest.raises(rados.RadosStateError):
        r.connect()
    assert isinstance(r.list_pools(), list)
    r.shutdown()
    assert r.state == "shutdown"
    with pytest.raises(rados.RadosStateError):
        r.list_pools()
    r.shutdown()  # idempotent


def test_context_managers(conffile, pool):
    with rados.Rados(conffile=conffile) as r:
        assert r.state == "connected"
        with r.open_ioctx(pool) as io:
            assert io.state == "open"
            assert io.name == pool and io.get_pool_name() == pool
            assert io.get_pool_id() == r.pool_lookup(pool)
        assert io.state == "closed"
        with pytest.raises(rados.IoctxStateError):
            io.read("x")
    assert r.state == "shutdown"


@pytest.mark.ours_only
def test_shutdown_closes_ioctxs(conffile, pool):
    # python-rados crashes (SIGSEGV) using an Ioctx after its Rados' shutdown(); ours raises.
    r = rados.Rados(conffile=conffile)
    r.connect()
    io = r.open_ioctx(pool)
    io.write_full("before-shutdown", b"x")
    r.shutdown()
    with pytest.raises(rados.Error):
        io.read("before-shutdown")


def test_configuration(conffile):
    r = rados.Rados(conffile=conffile, conf={"rados_osd_op_timeout": "5"})
    assert r.conf_get("rados_osd_op_timeout") == "5"
    r.conf_set("rados_osd_op_timeout", "7")
    assert r.conf_get("rados_osd_op_timeout") == "7"
    assert r.conf_get("rados osd op timeout") == "7"  # Ceph's spellings are equivalent
    r.conf_read_file(conffile)
    r.connect()
    r.shutdown()
    with pytest.raises(rados.ObjectNotFound) as ei:
        rados.Rados(conffile="/nonexistent/ceph.conf")
    assert ei.value.errno == 2
    with pytest.raises(rados.Error):
        rados.Rados(conffile=conffile, rados_id="admin", name="client.admin")
    assert rados.Rados.NO_CONF_FILE == -1 and rados.Rados.DEFAULT_CONF_FILES == -2


@pytest.mark.ours_only
def test_conf_get_unset_is_none(conffile):
    # python-rados returns None for unknown options and defaults for known ones; we keep no
    # table of Ceph's defaults, so anything unset is None.
    r = rados.Rados(conffile=conffile)
    assert r.conf_get("no_such_option_anywhere") is None


def test_cluster_information(cluster):
    fsid = cluster.get_fsid()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", fsid)
    assert cluster.get_instance_id() > 0
    stats = cluster.get_cluster_stats()
    assert set(stats) == {"kb", "kb_used", "kb_avail", "num_objects"}
    assert all(isinstance(v, int) for v in stats.values())
    assert stats["kb"] > 0
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(cluster.version()))


def test_pools(cluster):
    name = "pytest-pool-calls"
    if cluster.pool_exists(name):
        cluster.delete_pool(name)
    assert cluster.pool_lookup(name) is None
    cluster.create_pool(name)
    assert cluster.pool_exists(name)
    assert name in cluster.list_pools()
    pool_id = cluster.pool_lookup(name)
    assert isinstance(pool_id, int)
    assert cluster.pool_reverse_lookup(pool_id) == name
    assert cluster.get_pool_base_tier(pool_id) == pool_id
    with pytest.raises(rados.ObjectExists):
        cluster.create_pool(name)
    io = cluster.open_ioctx2(pool_id)
    assert io.get_pool_name() == name
    io.close()
    cluster.delete_pool(name)
    assert not cluster.pool_exists(name)
    assert name not in cluster.list_pools()
    with pytest.raises(rados.ObjectNotFound):
        cluster.delete_pool(name)
    with pytest.raises(rados.ObjectNotFound):
        cluster.open_ioctx(name)


def test_mon_command(cluster, pool):
    ret, out, outs = cluster.mon_command(json.dumps({"prefix": "osd pool ls", "format": "json"}), b"")
    assert ret == 0 and isinstance(out, bytes) and isinstance(outs, str)
    assert pool in json.loads(out)
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "osd pool ls"}), b"")
    assert ret == 0 and pool in out.decode().split("\n")
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "df", "format": "json"}), b"")
    assert ret == 0
    df = json.loads(out)
    assert pool in [p["name"] for p in df["pools"]] and "total_bytes" in df["stats"]
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "status", "format": "json"}), b"")
    assert ret == 0 and json.loads(out)["fsid"] == cluster.get_fsid()
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "fsid", "format": "json"}), b"")
    assert json.loads(out) == {"fsid": cluster.get_fsid()}
    ret, out, outs = cluster.mon_command(json.dumps({"prefix": "no such command"}), b"")
    assert ret == -22 and out == b""
    ret, _, _ = cluster.mon_command("not json", b"")
    assert ret == -22


def test_mon_command_pools(cluster):
    name = "pytest-mon-pool"
    cmd = {"prefix": "osd pool create", "pool": name}
    assert cluster.mon_command(json.dumps(cmd), b"")[0] == 0
    cluster.wait_for_latest_osdmap()
    assert cluster.pool_exists(name)
    assert cluster.mon_command(json.dumps(cmd), b"")[0] == 0  # exists: still success
    rm = {"prefix": "osd pool rm", "pool": name, "pool2": name, "yes_i_really_really_mean_it": True}
    assert cluster.mon_command(json.dumps(rm), b"")[0] == 0
    cluster.wait_for_latest_osdmap()  # Ceph's client map may lag a command's result
    assert not cluster.pool_exists(name)


@pytest.mark.embedded_only
@pytest.mark.ours_only
def test_embedded_shortcut(tmp_path):
    r = rados.embedded(str(tmp_path / "data"), osd_count=1, osd_pool_default_size=1)
    assert r.state == "connected"
    assert "data" in r.list_pools()
    with r.open_ioctx("data") as io:
        io.write_full("x", b"y")
        assert io.read("x") == b"y"
    r.shutdown()
    # The same directory opens again, with its data.
    r = rados.embedded(str(tmp_path / "data"))
    with r.open_ioctx("data") as io:
        assert io.read("x") == b"y"
    r.shutdown()


@pytest.mark.embedded_only
@pytest.mark.ours_only
def test_conffile_relative_data_dir(tmp_path):
    (tmp_path / "ceph.conf").write_text("[global]\ndata_dir = ./here\nosd_count = 1\nosd_pool_default_size = 1\n")
    with rados.Rados(conffile=str(tmp_path / "ceph.conf")) as r:
        assert r.pool_exists("data")
    assert (tmp_path / "here").is_dir()


@pytest.mark.ours_only
def test_an_unreachable_mon_host_times_out(tmp_path):
    # Nothing listens on port 1: connecting waits client_mount_timeout, then fails.
    (tmp_path / "ceph.conf").write_text(
        "[global]\nmon_host = 127.0.0.1:1\nclient_mount_timeout = 0.5\n"
    )
    r = rados.Rados(conffile=str(tmp_path / "ceph.conf"))
    with pytest.raises(rados.TimedOut) as ei:
        r.connect()
    assert ei.value.errno == 110


@pytest.mark.skipif(bool(REAL_CONFFILE), reason="needs a second embedded cluster")
@pytest.mark.ours_only
def test_default_conffile_names_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("RADOS_DATA_DIR", raising=False)
    r = rados.Rados()
    with pytest.raises(rados.InvalidArgumentError):
        r.connect()
    monkeypatch.setenv("RADOS_DATA_DIR", str(tmp_path / "env"))
    r = rados.Rados(conf={"osd_count": "1", "osd_pool_default_size": "1"})
    r.connect()
    assert r.pool_exists("data")
    r.shutdown()


def test_osd_and_pg_commands(cluster, pool):
    ret, out, outs = cluster.osd_command(0, json.dumps({"prefix": "version"}), b"")
    assert ret == 0 and "version" in json.loads(out)
    ret, out, outs = cluster.osd_command(0, json.dumps({"prefix": "status"}), b"")
    status = json.loads(out)
    assert ret == 0 and status["whoami"] == 0 and status["state"] == "active"
    assert status["cluster_fsid"] == cluster.get_fsid() and status["num_pgs"] > 0
    assert cluster.osd_command(9999, json.dumps({"prefix": "version"}), b"") == (
        -errno.ENOENT, b"", "osd dne")
    ret, _, _ = cluster.osd_command(0, json.dumps({"prefix": "no such thing"}), b"")
    assert ret == -errno.EINVAL
    assert cluster.osd_command(0, "{not json", b"")[0] == -errno.EINVAL

    pgid = "{}.0".format(cluster.pool_lookup(pool))
    ret, out, _ = cluster.pg_command(pgid, json.dumps({"prefix": "query", "pgid": pgid}), b"")
    q = json.loads(out)
    assert ret == 0 and q["info"]["pgid"] == pgid
    assert q["up"] and q["acting"] and q["epoch"] > 0
    far = "{}.fff".format(cluster.pool_lookup(pool))
    ret, _, _ = cluster.pg_command(far, json.dumps({"prefix": "query", "pgid": far}), b"")
    assert ret == -errno.ENOENT
    ret, _, _ = cluster.pg_command(pgid, json.dumps({"prefix": "no such thing"}), b"")
    assert ret == -errno.EINVAL


@pytest.mark.ours_only
def test_mgr_command_says_there_is_no_manager(cluster):
    ret, out, outs = cluster.mgr_command(json.dumps({"prefix": "pg ls"}), b"")
    assert ret == -errno.EOPNOTSUPP and out == b"" and "manager" in outs
    assert cluster.pg_command("bad", json.dumps({"prefix": "query"}), b"")[0] == -errno.EINVAL

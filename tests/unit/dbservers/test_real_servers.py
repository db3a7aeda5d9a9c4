"""Real MariaDB and PostgreSQL servers started, used and stopped, each in a state root of its own."""

import os
import shutil
import stat
import tempfile

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import Database
from oscar_dbservers import cli, servers
from oscar_dbservers.errors import DbServerError, ServerExistsError, UnknownServerError


@pytest.fixture
def state_root():
    """A state root that the servers' system users can reach (pytest's own tmp_path is root's alone)."""
    root = tempfile.mkdtemp(prefix="oscar-dbservers-test-", dir="/tmp")
    os.chmod(root, 0o711)
    yield root
    for server in servers.list_servers(root):
        server.stop()
    shutil.rmtree(root)


def process_alive(pid):
    return servers._process_alive(pid, ("mariadbd", "postgres"))


@pytest.mark.parametrize(
    ("kind", "durable"), [("mariadb", False), ("postgresql", False), ("postgresql", True)]
)
def test_a_server_starts_serves_databases_and_stops_leaving_nothing(state_root, kind, durable):
    server = servers.Server("unit", state_root=state_root)
    assert server.start(kind, durable=durable) is server
    assert server.status() == "running"
    pid = server._backend.pid()
    assert process_alive(pid)
    assert stat.S_IMODE(os.stat(server.state_file).st_mode) == 0o600
    in_memory = server.data_dir.startswith(servers.MEMORY_ROOT + "/")
    assert in_memory is not durable
    # The made user logs in over TCP with its password, and may make databases.
    access = server.access()
    assert access.url == "%s://oda@127.0.0.1:%d/oda" % (kind, server.port)
    db = Database.connect(access.url, password=access.password)
    db.execute("CREATE TABLE t (a INTEGER)")
    db.execute("INSERT INTO t (a) VALUES (?)", (1,))
    assert db.query("SELECT a FROM t") == [{"a": 1}]
    with server.fresh_database(prefix="unit") as fresh:
        assert fresh.name.startswith("unit_")
        other = Database.connect(fresh.url, password=fresh.password)
        assert not other.table_exists("t")
        # Left open on purpose: dropping must not wait for it.
    assert fresh.name not in list_databases(db)
    with pytest.raises(DbServerError, match=r"cannot create database oda on database server 'unit': .*exist"):
        server.create_database("oda")
    db.close()
    # Started again: refused by start, reused by ensure.
    with pytest.raises(ServerExistsError, match="already exists"):
        server.start(kind)
    port = server.port
    assert servers.ensure_server("unit", kind, state_root=state_root).port == port
    data_dir = server.data_dir
    server.stop()
    assert not process_alive(pid)
    assert not os.path.exists(server.directory)
    assert not os.path.exists(data_dir)
    with pytest.raises(UnknownServerError):
        server.stop()


def list_databases(db):
    if db.dialect == "mysql":
        return [row["Database"] for row in db.query("SHOW DATABASES")]
    return [row["datname"] for row in db.query("SELECT datname FROM pg_database")]


def test_the_command_line_starts_reuses_and_stops_a_server(state_root, monkeypatch, capsys):
    monkeypatch.setenv(servers.STATE_ENV, state_root)
    assert cli.main(["start", "cli", "--kind", "mariadb"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("mariadb://oda@127.0.0.1:")
    assert cli.main(["start", "cli", "--kind", "mariadb"]) == 0
    assert capsys.readouterr().out.strip() == url
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["cli", "mariadb", "running", url]
    assert cli.main(["stop", "cli"]) == 0
    assert servers.list_servers(state_root) == []


@pytest.mark.parametrize("kind", servers.KINDS)
def test_a_state_root_the_server_user_cannot_reach_is_refused_and_leaves_nothing(tmp_path, kind):
    # pytest's directories are root's alone (mode 0700): mysql and postgres cannot enter them.
    assert os.geteuid() == 0, "the servers run as their own system users only when started by root"
    server = servers.Server("unreachable", state_root=str(tmp_path))
    with pytest.raises(DbServerError, match=r"cannot reach .*: make every directory above it searchable"):
        server.start(kind)
    assert not os.path.exists(server.directory)
    assert servers.list_servers(str(tmp_path)) == []

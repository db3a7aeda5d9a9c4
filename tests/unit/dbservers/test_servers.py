"""The database servers' checks, state and prerequisites, without starting a server."""

import json
import os
import socket

import pytest
from oscar_dbservers import prerequisites, servers, testing
from oscar_dbservers.errors import DbServerError, UnknownServerError

from oscar_testbed import commands
from oscar_testbed.errors import PrerequisiteError


@pytest.mark.parametrize("name", ["", "Upper", "9lives", "with_underscore", "x" * 33, "a b"])
def test_bad_server_names_are_refused_and_named(name):
    with pytest.raises(DbServerError, match="invalid server name '%s'" % name):
        servers.Server(name)


@pytest.mark.parametrize("name", ["a", "oda-tests-mariadb", "x" * 32])
def test_good_server_names_are_taken(name, tmp_path):
    assert servers.Server(name, state_root=str(tmp_path)).name == name


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(
        DbServerError, match="unknown server kind 'oracle': expected one of mariadb, postgresql"
    ):
        servers.validate_kind("oracle")


@pytest.mark.parametrize("name", ["", "Oda", "1db", "db-1", "db;drop", "x" * 64])
def test_database_names_that_could_not_be_identifiers_are_refused(name):
    with pytest.raises(DbServerError, match="invalid database name"):
        servers.validate_database_name(name)


def test_the_state_root_comes_from_the_environment_first(monkeypatch, tmp_path):
    monkeypatch.setenv(servers.STATE_ENV, str(tmp_path))
    assert servers.default_state_root() == str(tmp_path)
    monkeypatch.delenv(servers.STATE_ENV)
    monkeypatch.setattr(servers.os, "geteuid", lambda: 0)
    assert servers.default_state_root() == "/var/lib/oscar-dbservers"


def test_a_free_port_can_be_listened_on():
    port = servers.free_port()
    with socket.socket() as listener:
        listener.bind((servers.HOST, port))
        listener.listen()


def write_state(root, name="srv", **values):
    state = {
        "name": name,
        "kind": "mariadb",
        "port": 41234,
        "user": "oda",
        "database": "oda",
        "password": "0123abcd",
        "durable": False,
        "data_dir": os.path.join(str(root), name, "data"),
    }
    state.update(values)
    os.makedirs(os.path.join(str(root), name), exist_ok=True)
    with open(os.path.join(str(root), name, "state.json"), "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    return servers.Server(name, state_root=str(root))


@pytest.mark.parametrize(
    ("kind", "database", "url"),
    [
        ("mariadb", None, "mariadb://oda@127.0.0.1:41234/oda"),
        ("postgresql", "oda_test_1", "postgresql://oda@127.0.0.1:41234/oda_test_1"),
    ],
)
def test_urls_name_the_kind_port_and_database_but_never_the_password(tmp_path, kind, database, url):
    server = write_state(tmp_path, kind=kind)
    assert server.url(database) == url
    access = server.access(database)
    assert access == servers.DatabaseAccess(url, "0123abcd", database or "oda")
    assert testing.url_with_password(access) == url.replace("oda@", "oda:0123abcd@")


def test_an_sqlite_url_stays_as_it_is_with_no_password():
    access = servers.DatabaseAccess("sqlite:/tmp/x/oda.db", None, "oda.db")
    assert testing.url_with_password(access) == "sqlite:/tmp/x/oda.db"


def test_a_server_whose_process_is_gone_is_stopped(tmp_path):
    server = write_state(tmp_path)
    os.makedirs(server.run_dir)
    with open(os.path.join(server.run_dir, "mariadb.pid"), "w", encoding="ascii") as handle:
        handle.write("%d\n" % os.getpid())  # a live process, but not a server
    assert server.status() == "stopped"
    assert [s.name for s in servers.list_servers(str(tmp_path))] == ["srv"]


def test_no_database_is_made_on_a_server_that_does_not_run(tmp_path):
    server = write_state(tmp_path)
    with pytest.raises(DbServerError, match="database server 'srv' is not running"):
        server.create_database()


def test_an_unknown_server_is_named_with_its_state_root(tmp_path):
    server = servers.Server("nothing", state_root=str(tmp_path))
    with pytest.raises(UnknownServerError, match="no database server 'nothing' in %s" % tmp_path):
        server.url()
    with pytest.raises(UnknownServerError):
        server.stop()


def test_a_server_of_another_kind_is_not_reused(tmp_path):
    write_state(tmp_path, kind="postgresql")
    with pytest.raises(DbServerError, match="exists as postgresql, not mariadb; stop it first"):
        servers.Server("srv", state_root=str(tmp_path)).ensure("mariadb")


def test_state_is_written_for_its_owner_only(tmp_path):
    server = servers.Server("srv", state_root=str(tmp_path))
    os.makedirs(server.directory)
    server._write_state({"kind": "mariadb", "password": "secret"})
    assert os.stat(server.state_file).st_mode & 0o777 == 0o600
    assert not os.path.exists(server.state_file + ".tmp")


def test_databases_of_unknown_backends_are_refused(tmp_path):
    with (
        pytest.raises(ValueError, match="unknown backend 'oracle'"),
        testing.TestDatabases().fresh("oracle", str(tmp_path)),
    ):
        pass


def test_a_backend_whose_server_cannot_start_fails_with_the_reason_every_time(monkeypatch, tmp_path):
    calls = []

    def refuse(name, kind, **_kwargs):
        calls.append(name)
        raise PrerequisiteError("required program 'mariadbd' is not installed")

    monkeypatch.setattr(servers, "ensure_server", refuse)
    databases = testing.TestDatabases()
    for _attempt in range(2):
        with pytest.raises(testing.BackendUnavailable) as raised, databases.fresh("mariadb", str(tmp_path)):
            pass
        assert "the mariadb test server cannot run: required program 'mariadbd' is not installed" in str(
            raised.value
        )
    assert calls == ["oda-tests-mariadb"]  # tried once, remembered


# --- prerequisites ---------------------------------------------------------------


def make_postgresql(root, version, programs=prerequisites.POSTGRESQL_PROGRAMS):
    bin_dir = root / str(version) / "bin"
    bin_dir.mkdir(parents=True)
    for program in programs:
        path = bin_dir / program
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return str(bin_dir)


def test_the_newest_complete_postgresql_is_chosen(tmp_path):
    assert prerequisites.postgresql_bin_dir(str(tmp_path)) is None
    make_postgresql(tmp_path, 9)
    newest = make_postgresql(tmp_path, 15)
    make_postgresql(tmp_path, 16, programs=("initdb",))  # no pg_ctl: unusable
    assert prerequisites.postgresql_bin_dir(str(tmp_path)) == newest


@pytest.mark.parametrize(
    ("absent", "postgresql", "packages"),
    [
        (set(), True, []),
        ({"mariadbd"}, True, ["mariadb-server"]),
        ({"mariadb", "mariadb-install-db"}, False, ["mariadb-server", "postgresql"]),
        (set(), False, ["postgresql"]),
    ],
)
def test_missing_packages_are_named_once_each(monkeypatch, absent, postgresql, packages):
    monkeypatch.setattr(
        commands, "which", lambda program: None if program in absent else "/usr/bin/" + program
    )
    monkeypatch.setattr(
        prerequisites, "postgresql_bin_dir", lambda: "/usr/lib/postgresql/15/bin" if postgresql else None
    )
    assert prerequisites.missing_packages() == packages


def test_without_install_missing_packages_are_an_error_naming_them(monkeypatch):
    monkeypatch.setattr(prerequisites, "missing_packages", lambda: ["mariadb-server", "postgresql"])
    with pytest.raises(
        PrerequisiteError, match="missing Debian packages for the database servers: mariadb-server postgresql"
    ):
        prerequisites.ensure_packages(install=False)


def test_packages_install_with_daemon_starts_forbidden_and_stray_daemons_stopped(monkeypatch, tmp_path):
    policy = str(tmp_path / "policy-rc.d")
    monkeypatch.setattr(prerequisites, "POLICY_RC_D", policy)
    missing = [["mariadb-server"], []]
    monkeypatch.setattr(prerequisites, "missing_packages", lambda: missing.pop(0))
    pids = [{11}, {11, 22}]  # 11 ran before; 22 started during the installation
    monkeypatch.setattr(prerequisites, "system_daemon_pids", lambda: pids.pop(0))
    installed, policies, killed, logged = [], [], [], []

    def install(packages, reason, *, who, log):
        installed.append((packages, who))
        with open(policy, encoding="ascii") as handle:
            policies.append(handle.read())
        assert os.access(policy, os.X_OK)

    monkeypatch.setattr(prerequisites.host, "install_debian_packages", install)
    monkeypatch.setattr(prerequisites.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    assert prerequisites.ensure_packages(log=logged.append) == ["mariadb-server"]
    assert installed == [(["mariadb-server"], "oscar_dbservers")]
    assert policies and policies[0].rstrip().endswith("exit 101")
    assert not os.path.exists(policy)  # put there for the installation only
    assert killed == [(22, prerequisites.signal.SIGTERM)]
    assert logged == ["stopping database server process 22, started by the package installation"]


def test_a_policy_already_there_is_left_alone(tmp_path):
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    with prerequisites.no_daemon_starts(str(policy)):
        assert policy.read_text() == "#!/bin/sh\nexit 0\n"
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"


@pytest.mark.parametrize(
    ("name", "argv", "system"),
    [
        ("mariadbd", ["/usr/sbin/mariadbd"], True),
        ("mariadbd", ["/usr/sbin/mariadbd", "--defaults-file=/var/lib/oscar-dbservers/x/my.cnf"], False),
        (
            "postgres",
            [
                "/usr/lib/postgresql/15/bin/postgres",
                "-c",
                "config_file=/etc/postgresql/15/main/postgresql.conf",
            ],
            True,
        ),
        ("postgres", ["/usr/lib/postgresql/15/bin/postgres", "-D", "/dev/shm/oscar-dbservers/x"], False),
        ("python3", ["python3"], False),
    ],
)
def test_only_the_machines_own_servers_count_as_system_daemons(name, argv, system):
    assert prerequisites.is_system_daemon(name, argv) is system

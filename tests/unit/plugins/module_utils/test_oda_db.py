"""ODA's connections: URLs, SQLite set-up, transactions that are all or nothing, typed errors."""

import socket
import types

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_db
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import (
    Database,
    mask_url,
    parse_url,
    to_format_markers,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaError,
    OdaUnavailableError,
    OdaValidationError,
)
from oscar_dbservers import servers


@pytest.fixture
def db(oda_backend):
    """A table t on each backend in turn (see conftest.py); VARCHAR, as servers index no bare TEXT."""
    database = oda_backend.connect()
    database.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b VARCHAR(50) UNIQUE)")
    yield database
    database.close()


# What each backend's own message says about a duplicate in t.b.
DUPLICATE = {
    "sqlite": "UNIQUE constraint failed: t.b",
    "mysql": "Duplicate entry 'same' for key 'b'",
    "postgresql": 'duplicate key value violates unique constraint "t_b_key"',
}


def rows(database):
    return database.query("SELECT a, b FROM t ORDER BY a")


@pytest.mark.parametrize(
    ("url", "dialect", "params"),
    [
        ("sqlite:/var/lib/oscar/oda.db", "sqlite", {"path": "/var/lib/oscar/oda.db"}),
        ("sqlite:///var/lib/oscar/oda.db", "sqlite", {"path": "/var/lib/oscar/oda.db"}),
        ("sqlite:oda.db", "sqlite", {"path": "oda.db"}),
        ("sqlite:data/oda.db", "sqlite", {"path": "data/oda.db"}),
        ("SQLite:/x.db", "sqlite", {"path": "/x.db"}),
        (
            "mysql://oscar@head:3307/oda",
            "mysql",
            {"host": "head", "port": 3307, "user": "oscar", "password": None, "database": "oda"},
        ),
        (
            "mariadb://oscar@head/oda",
            "mysql",
            {"host": "head", "port": 3306, "user": "oscar", "password": None, "database": "oda"},
        ),
        (
            "mariadb://oscar:p%40ss%2Fw@head/oda",
            "mysql",
            {"host": "head", "port": 3306, "user": "oscar", "password": "p@ss/w", "database": "oda"},
        ),
        (
            "postgresql://oscar@db.cluster:5433/oda",
            "postgresql",
            {"host": "db.cluster", "port": 5433, "user": "oscar", "password": None, "database": "oda"},
        ),
        (
            "postgresql://head/oda",
            "postgresql",
            {"host": "head", "port": 5432, "user": None, "password": None, "database": "oda"},
        ),
    ],
)
def test_urls_name_a_dialect_and_its_parameters(url, dialect, params):
    assert parse_url(url) == (dialect, params)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite:", "no file name"),
        ("sqlite://", "no file name"),
        ("sqlite://head/oda.db", "not a host 'head'"),
        ("sqlite:/x.db?mode=ro", "query strings"),
        ("mysql:///oda", "no host"),
        ("mysql://head", "one database name"),
        ("mysql://head/a/b", "one database name"),
        ("mysql://head:port/oda", "port is not a number"),
        ("postgresql://head/oda?sslmode=require", "query strings"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url, reason):
    with pytest.raises(OdaValidationError) as raised:
        parse_url(url)
    assert reason in str(raised.value)
    assert url in str(raised.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://oscar:s3cret@head/oda", "unknown scheme 'ftp'"),
        ("Oracle://oscar:s3cret@head/oda", "unknown scheme 'oracle'"),
        ("oda.db", "no scheme (such as sqlite:)"),
        ("", "no scheme"),
    ],
)
def test_an_unknown_scheme_is_named_with_the_supported_ones(url, problem):
    with pytest.raises(OdaValidationError) as raised:
        parse_url(url)
    message = str(raised.value)
    assert problem in message
    assert "supported: mariadb, mysql, postgres, postgresql, sqlite" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://oscar:s3cret@head:3306/oda", "mysql://oscar:***@head:3306/oda"),
        ("postgresql://oscar:s3cret@head/oda", "postgresql://oscar:***@head/oda"),
        # An unencoded '/' or '@' in the password must not leak the rest of it.
        ("mysql://oscar:s3/cr@t@head/oda", "mysql://oscar:***@head/oda"),
        ("mysql://oscar@head/oda", "mysql://oscar@head/oda"),
        ("sqlite:/var/lib/oscar/oda.db", "sqlite:/var/lib/oscar/oda.db"),
        # Shapes without '//' or a host, or with a scheme nobody knows.
        ("mysql:oscar:s3cret@head/oda", "mysql:oscar:***@head/oda"),
        ("postgresql:oscar:s3cret@head/oda", "postgresql:oscar:***@head/oda"),
        ("sqlite://oscar:s3cret@host/x.db", "sqlite://oscar:***@host/x.db"),
        ("oscar:s3cret@head/oda", "***@head/oda"),
        ("ftp://oscar:s3cret@head/oda", "***@head/oda"),
        ("mysql://oscar:s3cret@[::1/oda", "mysql://oscar:***@[::1/oda"),
    ],
)
def test_masked_urls_never_show_a_password(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "mysql:oscar:s3cret@head/oda",
        "postgresql:oscar:s3cret@head/oda",
        "postgresql:",
        "sqlite://oscar:s3cret@host/x.db",
        "mysql://oscar:s3cret@[::1/oda",
        "oscar:s3cret@head/oda",
        "mysql://oscar:s3cret@head",
    ],
)
def test_every_refused_url_is_a_typed_error_without_its_password(url):
    with pytest.raises(OdaValidationError) as raised:
        parse_url(url)
    assert "s3cret" not in str(raised.value)


def test_an_unclosed_ipv6_bracket_is_a_clear_error():
    with pytest.raises(OdaValidationError, match=r"invalid database URL 'mysql://u:\*\*\*@\[::1/db': .*IPv6"):
        parse_url("mysql://u:p@[::1/db")


def test_errors_about_a_url_with_a_password_show_it_masked():
    with pytest.raises(OdaValidationError) as raised:
        parse_url("mysql://oscar:s3cret@head:port/oda")
    assert "s3cret" not in str(raised.value)
    assert "mysql://oscar:***@head:port/oda" in str(raised.value)


def test_parameter_markers_become_format_style_outside_quotes_and_percent_is_doubled():
    sql = "SELECT '?', \"a?\" FROM t WHERE a = ? AND b LIKE '50%' AND c = ?"
    assert to_format_markers(sql) == ("SELECT '?', \"a?\" FROM t WHERE a = %s AND b LIKE '50%%' AND c = %s")


@pytest.mark.parametrize(
    ("url", "module"),
    [("mysql://oscar@head/oda", "pymysql"), ("postgresql://oscar@head/oda", "psycopg")],
)
def test_a_server_dialect_without_its_driver_says_which_package_it_needs(monkeypatch, url, module):
    def missing(name):
        raise ImportError("No module named %r" % name)

    monkeypatch.setattr(oda_db.importlib, "import_module", missing)
    with pytest.raises(OdaUnavailableError) as raised:
        Database.connect(url)
    assert "needs the Python package %s" % module in str(raised.value)


def test_a_failed_server_connection_names_host_and_port_but_not_the_password(monkeypatch):
    class DriverError(Exception):
        pass

    def refuse(**kwargs):
        raise DriverError("Access denied for user 'oscar' using password %s" % kwargs["password"])

    fake = types.SimpleNamespace(Error=DriverError, connect=refuse)
    monkeypatch.setattr(oda_db.importlib, "import_module", lambda name: fake)
    with pytest.raises(OdaUnavailableError) as raised:
        Database.connect("mysql://oscar@head:3307/oda", password="s3cret")
    message = str(raised.value)
    assert "head:3307" in message
    assert "Access denied" in message
    assert "s3cret" not in message
    assert raised.value.__cause__ is None


def test_sqlite_connections_enforce_foreign_keys_in_wal_mode_with_a_busy_timeout(tmp_path):
    database = Database.connect("sqlite:%s" % (tmp_path / "oda.db"), timeout=7)
    assert database.dialect == "sqlite"
    assert database.query_one("PRAGMA foreign_keys") == {"foreign_keys": 1}
    assert database.query_one("PRAGMA journal_mode") == {"journal_mode": "wal"}
    assert database.query_one("PRAGMA busy_timeout") == {"timeout": 7000}


def test_a_new_database_gets_a_parent_directory_only_its_owner_can_read(tmp_path):
    path = tmp_path / "var" / "lib" / "oscar" / "oda.db"
    Database.connect("sqlite:%s" % path).close()
    assert path.exists()
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_new_database_and_its_wal_files_only_its_owner_can_read(tmp_path):
    # They hold the cluster's variables; SQLite gives -wal and -shm the file's mode.
    path = tmp_path / "oda.db"
    database = Database.connect("sqlite:%s" % path)
    with database.transaction():
        database.execute("CREATE TABLE t (a INTEGER)")
    for name in ("oda.db", "oda.db-wal", "oda.db-shm"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    database.close()


def test_opening_without_create_never_makes_a_file(tmp_path):
    path = tmp_path / "typo" / "oda.db"
    with pytest.raises(OdaUnavailableError, match="SQLite database %s does not exist" % path):
        Database.connect("sqlite:%s" % path, create=False)
    assert not path.parent.exists()
    Database.connect("sqlite:%s" % path).close()
    Database.connect("sqlite:%s" % path, create=False).close()


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Database.connect("sqlite:relative.db").close()
    assert (tmp_path / "relative.db").exists()


@pytest.mark.parametrize("kind", ["unwritable directory", "a directory", "not a database"])
def test_an_sqlite_file_that_cannot_be_opened_is_unavailable_with_path_and_reason(tmp_path, kind):
    if kind == "unwritable directory":
        # A regular file where the parent directory should be.
        (tmp_path / "no").write_text("a file")
        path, reason = tmp_path / "no" / "such" / "oda.db", "cannot create the directory"
    elif kind == "a directory":
        path, reason = tmp_path, "unable to open"
    else:
        path, reason = tmp_path / "junk.db", "not a database"
        path.write_bytes(b"this is not an SQLite file, only some text that is long enough" * 20)
    with pytest.raises(OdaUnavailableError) as raised:
        Database.connect("sqlite:%s" % path)
    assert str(path) in str(raised.value)
    assert reason in str(raised.value)


def test_queries_return_dicts_and_execute_counts_rows(db):
    assert db.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, "one")) == 1
    db.execute("INSERT INTO t (a, b) VALUES (?, ?)", (2, "two"))
    assert db.execute("UPDATE t SET a = a + ?", (10,)) == 2
    assert rows(db) == [{"a": 11, "b": "one"}, {"a": 12, "b": "two"}]
    assert db.query_one("SELECT b FROM t WHERE a = ?", (12,)) == {"b": "two"}
    assert db.query_one("SELECT b FROM t WHERE a = ?", (3,)) is None


def test_a_literal_percent_is_kept_beside_parameters(db):
    db.execute("INSERT INTO t (a, b) VALUES (?, '50%')", (3,))
    assert db.query("SELECT a FROM t WHERE b LIKE '%0!%' ESCAPE '!' AND a = ?", (3,)) == [{"a": 3}]


def test_values_are_parameters_never_sql(db):
    hostile = "x'); DROP TABLE t; --"
    db.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, hostile))
    assert rows(db) == [{"a": 1, "b": hostile}]


def test_a_transaction_commits_when_its_block_ends_and_reads_its_own_writes_before(db, oda_backend):
    other = oda_backend.connect()
    with db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'one')")
        db.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
        assert len(rows(db)) == 2
        assert rows(other) == []
    assert len(rows(other)) == 2
    other.close()


def test_an_exception_rolls_back_everything_the_transaction_wrote(db):
    db.execute("INSERT INTO t (a, b) VALUES (1, 'kept')")
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
        db.execute("UPDATE t SET b = 'changed' WHERE a = 1")
        raise RuntimeError("boom")
    assert rows(db) == [{"a": 1, "b": "kept"}]
    assert not db.in_transaction


def test_a_duplicate_is_a_conflict_and_rolls_back_the_whole_transaction(db):
    with pytest.raises(OdaConflictError) as raised, db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'same')")
        db.execute("INSERT INTO t (a, b) VALUES (2, 'same')")
    assert DUPLICATE[db.dialect] in str(raised.value)
    assert rows(db) == []
    # The connection is usable afterwards.
    db.execute("INSERT INTO t (a, b) VALUES (3, 'three')")
    assert len(rows(db)) == 1


def test_a_failed_nested_block_is_undone_alone(db):
    with db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'outer')")
        with pytest.raises(OdaConflictError), db.transaction():
            db.execute("INSERT INTO t (a, b) VALUES (2, 'inner')")
            db.execute("INSERT INTO t (a, b) VALUES (3, 'outer')")
        with db.transaction():
            db.execute("INSERT INTO t (a, b) VALUES (4, 'second inner')")
    assert rows(db) == [{"a": 1, "b": "outer"}, {"a": 4, "b": "second inner"}]


def test_a_dry_run_computes_for_real_and_keeps_nothing(db):
    with db.transaction(dry_run=True):
        db.execute("INSERT INTO t (a, b) VALUES (1, 'one')")
        assert len(rows(db)) == 1
    assert rows(db) == []


@pytest.mark.parametrize("sql", ["SELECT nothing FROM nowhere", "SELECT nothing FROM t", "SELEC 1"])
def test_bad_sql_is_a_bug_and_is_not_disguised_as_an_oda_error(db, sql):
    driver = {"sqlite": "sqlite3", "mysql": "pymysql", "postgresql": "psycopg"}[db.dialect]
    with pytest.raises(Exception) as raised:
        db.query(sql)
    assert not isinstance(raised.value, OdaError)
    assert type(raised.value).__module__.split(".")[0] == driver
    # The connection stays usable.
    assert db.query("SELECT a FROM t") == []


def test_a_second_writer_waits_for_the_first_and_readers_are_not_blocked(db, oda_backend):
    impatient = oda_backend.connect(timeout=0.2)
    reader = oda_backend.connect()
    with db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'one')")
        # Writers take turns (BEGIN IMMEDIATE, or the servers' writer lock):
        # the second queues before writing anything, then gives up after its
        # timeout; it never half-writes.
        with pytest.raises(OdaUnavailableError) as raised, impatient.transaction():
            impatient.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
        busy = "database is locked" if db.dialect == "sqlite" else "busy: another writer held it"
        assert busy in str(raised.value)
        assert oda_backend.password is None or oda_backend.password not in str(raised.value)
        # A reader sees the last committed state meanwhile.
        assert rows(reader) == []
    assert rows(reader) == [{"a": 1, "b": "one"}]
    with impatient.transaction():
        impatient.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
    assert len(rows(reader)) == 2
    impatient.close()
    reader.close()


def test_a_writer_lock_is_given_back_when_the_transaction_fails(db, oda_backend):
    other = oda_backend.connect(timeout=2)
    with pytest.raises(OdaConflictError), db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'same')")
        db.execute("INSERT INTO t (a, b) VALUES (2, 'same')")
    with other.transaction():
        other.execute("INSERT INTO t (a, b) VALUES (3, 'three')")
    assert rows(db) == [{"a": 3, "b": "three"}]
    other.close()


def test_table_exists(db):
    assert db.table_exists("t")
    assert not db.table_exists("nodes")


# --- servers that cannot be reached --------------------------------------------

SERVER_BACKENDS = ["mariadb", "postgresql"]

# What each server's refusal says, as the message passes it on.
REFUSALS = {
    ("mariadb", "wrong port"): "Can't connect to MySQL server on '127.0.0.1'",
    ("postgresql", "wrong port"): "Connection refused",
    ("mariadb", "wrong password"): "Access denied for user 'oda'",
    ("postgresql", "wrong password"): 'password authentication failed for user "oda"',
    ("mariadb", "unknown database"): "Unknown database 'no_such_database'",
    ("postgresql", "unknown database"): 'database "no_such_database" does not exist',
}


def _assert_clear_and_secret_free(error, password):
    """One line that says what failed, no password in it, and no driver traceback behind it."""
    message = str(error)
    assert "\n" not in message
    assert password not in message
    assert error.__cause__ is None
    assert error.__suppress_context__


@pytest.mark.parametrize("oda_backend", SERVER_BACKENDS, indirect=True)
@pytest.mark.parametrize("fault", ["wrong port", "wrong password", "unknown database"])
@pytest.mark.parametrize("password_in", ["argument", "url"])
def test_an_unreachable_server_is_unavailable_with_a_clear_message(oda_backend, fault, password_in):
    dialect, params = parse_url(oda_backend.access.url)
    port, database, password = params["port"], params["database"], oda_backend.password
    if fault == "wrong port":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    elif fault == "wrong password":
        password = "not-" + password
    else:
        database = "no_such_database"
    scheme = oda_backend.name
    if password_in == "url":
        url, argument = "%s://oda:%s@127.0.0.1:%d/%s" % (scheme, password, port, database), None
    else:
        url, argument = "%s://oda@127.0.0.1:%d/%s" % (scheme, port, database), password
    with pytest.raises(OdaUnavailableError) as raised:
        Oda.open(url, password=argument, timeout=5)
    message = str(raised.value)
    assert message.startswith(
        "cannot connect to %s database '%s' at 127.0.0.1:%d: " % (dialect, database, port)
    )
    assert REFUSALS[scheme, fault] in message
    _assert_clear_and_secret_free(raised.value, password)


@pytest.mark.parametrize("kind", SERVER_BACKENDS)
def test_a_server_that_stops_makes_open_and_new_connections_unavailable(kind, tmp_path):
    server = servers.Server("oda-tests-stopping-%s" % kind)
    try:
        server.ensure(kind)
        access = server.access()
        db = Database.connect(access.url, password=access.password, timeout=5)
        db.execute("CREATE TABLE t (a INTEGER)")
        server.stop()
        with pytest.raises(OdaUnavailableError) as raised:
            db.query("SELECT a FROM t")
        assert raised.value.args[0].startswith("database %s is unavailable: " % access.url)
        _assert_clear_and_secret_free(raised.value, access.password)
        with pytest.raises(OdaUnavailableError) as raised, db.transaction():
            db.execute("INSERT INTO t (a) VALUES (1)")
        db.close()
        with pytest.raises(OdaUnavailableError) as raised:
            Database.connect(access.url, password=access.password, timeout=5)
        assert "at 127.0.0.1:%d" % server_port(access.url) in str(raised.value)
        _assert_clear_and_secret_free(raised.value, access.password)
    finally:
        if server.exists:
            server.stop()


def server_port(url):
    return parse_url(url)[1]["port"]

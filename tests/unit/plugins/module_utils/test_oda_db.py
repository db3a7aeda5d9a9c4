"""ODA's connections: URLs, SQLite set-up, transactions that are all or nothing, typed errors."""

import sqlite3
import types

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_db
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import (
    Database,
    mask_url,
    parse_url,
    to_format_markers,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaUnavailableError,
    OdaValidationError,
)


@pytest.fixture
def db(tmp_path):
    database = Database.connect("sqlite:%s" % (tmp_path / "oda.db"))
    database.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE)")
    yield database
    database.close()


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
    ],
)
def test_masked_urls_never_show_a_password(url, shown):
    assert mask_url(url) == shown


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


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Database.connect("sqlite:relative.db").close()
    assert (tmp_path / "relative.db").exists()


@pytest.mark.parametrize("kind", ["missing directory", "a directory", "not a database"])
def test_an_sqlite_file_that_cannot_be_opened_is_unavailable_with_path_and_reason(tmp_path, kind):
    if kind == "missing directory":
        path, reason = tmp_path / "no" / "such" / "oda.db", "unable to open"
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
    assert db.execute("UPDATE t SET b = b || ?", ("!",)) == 2
    assert rows(db) == [{"a": 1, "b": "one!"}, {"a": 2, "b": "two!"}]
    assert db.query_one("SELECT b FROM t WHERE a = ?", (2,)) == {"b": "two!"}
    assert db.query_one("SELECT b FROM t WHERE a = ?", (3,)) is None


def test_values_are_parameters_never_sql(db):
    hostile = "x'); DROP TABLE t; --"
    db.execute("INSERT INTO t (a, b) VALUES (?, ?)", (1, hostile))
    assert rows(db) == [{"a": 1, "b": hostile}]


def test_a_transaction_commits_when_its_block_ends(db, tmp_path):
    with db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'one')")
        db.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
    other = Database.connect("sqlite:%s" % (tmp_path / "oda.db"))
    assert len(rows(other)) == 2


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
    assert "UNIQUE constraint failed: t.b" in str(raised.value)
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


def test_bad_sql_is_a_bug_and_is_not_disguised_as_an_oda_error(db):
    with pytest.raises(sqlite3.OperationalError):
        db.query("SELECT nothing FROM nowhere")


def test_a_second_writer_waits_for_the_first_and_readers_are_not_blocked(db, tmp_path):
    path = tmp_path / "oda.db"
    impatient = Database.connect("sqlite:%s" % path, timeout=0.2)
    reader = Database.connect("sqlite:%s" % path)
    with db.transaction():
        db.execute("INSERT INTO t (a, b) VALUES (1, 'one')")
        # BEGIN IMMEDIATE: the second writer queues at BEGIN, then gives up
        # after its busy timeout; it never half-writes.
        with pytest.raises(OdaUnavailableError) as raised, impatient.transaction():
            impatient.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
        assert "database is locked" in str(raised.value)
        # WAL: a reader sees the last committed state meanwhile.
        assert rows(reader) == []
    assert rows(reader) == [{"a": 1, "b": "one"}]
    with impatient.transaction():
        impatient.execute("INSERT INTO t (a, b) VALUES (2, 'two')")
    assert len(rows(reader)) == 2


def test_table_exists(db):
    assert db.table_exists("t")
    assert not db.table_exists("nodes")

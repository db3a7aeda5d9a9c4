"""Test databases the same way on every backend ODA supports, and checks of what tests wrote.

The servers are started once and reused: by every test of a session, and by
later sessions while they run.  Each test gets a database of its own, new
and empty, dropped afterwards.  A server that cannot start is remembered
with its reason, so every test that needs it fails at once with that reason.
"""

import contextlib
import os

from oscar_dbservers import servers
from oscar_dbservers.errors import DbServerError
from oscar_testbed.errors import PrerequisiteError, TestbedError

BACKENDS = ("sqlite", "mariadb", "postgresql")
TEST_SERVERS = {"mariadb": "oda-tests-mariadb", "postgresql": "oda-tests-postgresql"}


class BackendUnavailable(Exception):
    """The server of a backend cannot be had; the message says why and what to do."""


def url_with_password(access):
    """The URL of a DatabaseAccess with its password written in, for callers that take only a URL.

    The passwords of these servers are hex, so they need no quoting.
    """
    if access.password is None:
        return access.url
    scheme, rest = access.url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{access.password}@{host}"


class TestDatabases:
    """Fresh databases on each backend, from servers started at most once."""

    __test__ = False  # not a pytest test class

    def __init__(self, state_root=None):
        self.state_root = state_root
        self._servers = {}
        self._failures = {}
        # Databases used and done with, dropped one test later: by then the
        # server has ended their connections, and PostgreSQL drops at once
        # instead of waiting a tenth of a second for them to go.
        self._finished = []
        self._servers_of = {}  # database name -> server, while in use

    def server(self, kind):
        """The running test server of a kind; BackendUnavailable with the reason when it cannot run."""
        if kind in self._failures:
            raise BackendUnavailable(self._failures[kind])
        server = self._servers.get(kind)
        if server is None or not server.is_running():
            try:
                server = servers.ensure_server(TEST_SERVERS[kind], kind, state_root=self.state_root)
            except (DbServerError, TestbedError) as exc:
                hint = ""
                if isinstance(exc, PrerequisiteError):
                    hint = " (scripts/setup installs it: python -m oscar_dbservers prerequisites)"
                self._failures[kind] = f"the {kind} test server cannot run: {exc}{hint}"
                raise BackendUnavailable(self._failures[kind]) from None
            self._servers[kind] = server
        return server

    def create(self, kind, directory, prefix="oda_test"):
        """A new empty database of a backend: a servers.DatabaseAccess; give it back with done().

        SQLite's is the file oda.db in directory; a server's is a new database on it.
        """
        if kind == "sqlite":
            return servers.DatabaseAccess("sqlite:%s" % os.path.join(directory, "oda.db"), None, "oda.db")
        if kind not in TEST_SERVERS:
            raise ValueError(f"unknown backend '{kind}': expected one of {', '.join(BACKENDS)}")
        server = self.server(kind)
        self.drop_finished()
        access = server.create_database(prefix=prefix)
        self._servers_of[access.name] = server
        return access

    def done(self, access):
        """A database of create() is no longer used: a server's is dropped soon (see drop_finished)."""
        server = self._servers_of.pop(access.name, None)
        if server is not None:
            self._finished.append((server, access.name))

    @contextlib.contextmanager
    def fresh(self, kind, directory, prefix="oda_test"):
        """create() and done() around a block."""
        access = self.create(kind, directory, prefix=prefix)
        try:
            yield access
        finally:
            self.done(access)

    def drop_finished(self):
        """Drop the databases of the blocks that have ended."""
        while self._finished:
            server, name = self._finished.pop()
            server.drop_database(name)


def table_names(db):
    """Names of the tables of an oda_db.Database, sorted."""
    if db.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    elif db.dialect == "mysql":
        sql = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()"
    else:
        sql = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()"
    return sorted(row["name"] for row in db.query(sql))


def column_names(db, table):
    """Names of a table's columns, in order."""
    if db.dialect == "sqlite":
        return [row["name"] for row in db.query("SELECT name FROM pragma_table_info(?)", (table,))]
    schema = "DATABASE()" if db.dialect == "mysql" else "current_schema()"
    rows = db.query(
        "SELECT column_name AS name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = ? ORDER BY ordinal_position" % schema,
        (table,),
    )
    return [row["name"] for row in rows]


def dump(db):
    """Every row of every table, in an order that does not depend on the backend: equal dumps, equal data."""
    return {
        name: sorted(repr(sorted(row.items())) for row in db.query("SELECT * FROM %s" % name))
        for name in table_names(db)
    }


def integrity_problems(db):
    """What the database engine itself finds wrong with the stored tables and indexes ([] when none)."""
    problems = []
    if db.dialect == "sqlite":
        result = db.query("PRAGMA integrity_check")
        if result != [{"integrity_check": "ok"}]:
            problems.append("integrity_check: %s" % result)
        problems += ["foreign key: %s" % row for row in db.query("PRAGMA foreign_key_check")]
    elif db.dialect == "mysql":
        for name in table_names(db):
            for row in db.query("CHECK TABLE %s EXTENDED" % name):
                if row["Msg_type"] in ("error", "warning") or row["Msg_text"] != "OK":
                    problems.append("%s: %s %s" % (name, row["Msg_type"], row["Msg_text"]))
    else:
        # amcheck verifies every B-tree index against its table (heapallindexed).
        db.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        indexes = db.query(
            "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam"
            " WHERE n.nspname = current_schema() AND a.amname = 'btree'"
        )
        for index in indexes:
            try:
                db.query("SELECT bt_index_check(?::regclass, true)", (index["name"],))
            except Exception as exc:  # amcheck reports corruption as an error
                problems.append("%s: %s" % (index["name"], exc))
    return problems

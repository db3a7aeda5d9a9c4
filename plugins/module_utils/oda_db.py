# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Connections and transactions of ODA, the cluster database.

One ``Database`` wraps one DB-API connection to SQLite (the default, in the
standard library), MariaDB/MySQL (PyMySQL) or PostgreSQL (psycopg 3).  SQL is
written once with ``?`` parameter markers and values are always passed as
parameters; the class rewrites the parameter markers for the drivers that want
``%s``.

URLs
    sqlite:/var/lib/oscar/oda.db          absolute path
    sqlite:///var/lib/oscar/oda.db        absolute path (empty authority)
    sqlite:oda.db                         path relative to the working directory
    mysql://oscar@head:3306/oscar         also mariadb://; port defaults to 3306
    postgresql://oscar@head:5432/oscar    port defaults to 5432

A password may be given in the URL (``mysql://oscar:secret@head/oscar``) or,
better, as the ``password`` argument, which wins.  Messages only ever show a
URL with its password replaced by ``***``.

Concurrent writers
    Writers take turns, on every backend: SQLite's BEGIN IMMEDIATE takes the
    file's write lock, PostgreSQL's transactions take an advisory lock of the
    database, and MariaDB's a named lock (GET_LOCK) held until the
    transaction ends.  ODA's writes are small and few, so one at a time
    costs nothing that matters, and it rules out what the servers would
    otherwise do to writers that read, decide, then write: deadlocks,
    duplicate inserts racing past each other's checks, and MariaDB's
    DDL-that-commits letting two processes build the same schema.  A writer
    that waits longer than the timeout gets OdaUnavailableError saying so.
    Readers never wait.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import importlib
import math
import os
import re
import sqlite3
import time

from urllib.parse import quote, unquote, urlsplit

from .oda_errors import (
    OdaConflictError,
    OdaUnavailableError,
    OdaValidationError,
)

# Where ODA lives when nothing says otherwise, and the environment variables
# through which modules, the inventory plugin, the CLI and the testbed all
# take another database: one setting for every tool.
DEFAULT_URL = "sqlite:/var/lib/oscar/oda.db"
URL_ENV = "OSCAR_ODA_URL"
PASSWORD_ENV = "OSCAR_ODA_PASSWORD"

# Seconds a connection waits: for a server to answer, or for another writer of
# the same SQLite file to finish its transaction.
DEFAULT_TIMEOUT = 30

# URL scheme -> dialect.
SCHEMES = {
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
# "scheme:" or "scheme://" at the start of a URL.
_SCHEME_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?://)?")

# A new SQLite file holds the cluster's variables: its owner alone reads it.
# SQLite gives the -wal and -shm files the mode of the database file.
_SQLITE_FILE_MODE = 0o600

# How each dialect opens a transaction that will write.  SQLite's IMMEDIATE
# takes the write lock at once: two writers then queue on the busy timeout
# instead of both reading first and one failing with "database is locked"
# when it tries to upgrade its lock.
_BEGIN_WRITE = {"sqlite": "BEGIN IMMEDIATE", "mysql": "START TRANSACTION", "postgresql": "BEGIN"}
_BEGIN_READ = {"sqlite": "BEGIN", "mysql": "START TRANSACTION", "postgresql": "BEGIN"}

# The key of the advisory lock PostgreSQL writers take; advisory locks belong
# to one database, so one constant serves every ODA database of a server.
_POSTGRESQL_WRITER_LOCK = 0x0DA0DA
# MariaDB's named locks are server-wide: the name carries the database's, and
# names are at most 64 characters.
_MYSQL_LOCK_NAME_MAX = 64

# MariaDB/MySQL error codes that mean the server or the data cannot be had
# now (PyMySQL calls bad SQL an OperationalError too, so the code decides):
# too many connections, access denied, unknown database, shutdown, aborted
# or killed connections, lock wait timeout, deadlock, idle disconnect.
_MYSQL_UNAVAILABLE = frozenset(
    (1040, 1044, 1045, 1049, 1053, 1152, 1153, 1158, 1159, 1160, 1161, 1205, 1213, 1927, 4031)
)
# 2000-2999: errors of the client library itself (cannot connect, server gone, lost connection).
_MYSQL_CLIENT_ERRORS = range(2000, 3000)

# sqlite3.OperationalError covers both "cannot reach the data" and "bad SQL";
# only the first kind is the database being unavailable, the rest are bugs.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "unable to open",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
    "file is not a database",
    "database disk image is malformed",
)


def resolve(url=None, password=None, default=DEFAULT_URL):
    """(URL, password) of the ODA a tool reaches: the one rule every tool follows.

    The URL: the one given, else $OSCAR_ODA_URL, else ``default``.  The
    password: the one given, else $OSCAR_ODA_PASSWORD, else None.  An empty
    URL given explicitly stays empty (and fails to parse): a mistake is not a
    request for the default.
    """
    if url is None:
        url = os.environ.get(URL_ENV) or default
    if password is None:
        password = os.environ.get(PASSWORD_ENV) or None
    return url, password


def mask_url(url):
    """The URL with the password, if any, replaced by ***: the only form a message may show.

    Whatever the URL's shape (with or without '//', a host or a scheme): the
    last '@' ends the user part even when an unencoded password holds '/' or
    '@', and what cannot be read as scheme:user is masked whole.  Better to
    mask too much than to show a secret.
    """
    text = str(url)
    userinfo, at, after = text.rpartition("@")
    if not at:
        return text
    scheme = _SCHEME_PREFIX.match(userinfo)
    if scheme is None or scheme.group(1).lower() not in SCHEMES:
        return "***@" + after
    prefix, userinfo = userinfo[: scheme.end()], userinfo[scheme.end() :]
    if ":" not in userinfo:
        return text
    return "%s%s:***@%s" % (prefix, userinfo.split(":", 1)[0], after)


def _scheme_of(url):
    """The lower-cased scheme of a URL, or '' when it has none."""
    scheme, separator, _rest = url.partition(":")
    return scheme.lower() if separator else ""


def _parse_sqlite(url):
    """{'path': ...} for the three SQLite forms."""
    rest = url.split(":", 1)[1]
    if rest.startswith("//"):
        authority, _slash, _path = rest[2:].partition("/")
        if authority:
            # The host alone: the authority may hold a user and a password.
            raise OdaValidationError(
                "invalid database URL '%s': an SQLite URL names a file, not a host '%s'; "
                "use sqlite:/absolute/path.db or sqlite:relative.db"
                % (mask_url(url), authority.rpartition("@")[2])
            )
        rest = rest[2:]
    if "?" in rest or "#" in rest:
        raise OdaValidationError(
            "invalid database URL '%s': query strings and fragments are not supported" % mask_url(url)
        )
    if not rest.strip():
        raise OdaValidationError("invalid database URL '%s': no file name" % mask_url(url))
    return {"path": unquote(rest)}


def _parse_server(url, dialect):
    """{'host', 'port', 'user', 'password', 'database'} for a MySQL or PostgreSQL URL."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as error:
        # An unclosed '[' of an IPv6 host, for one.
        raise OdaValidationError("invalid database URL '%s': %s" % (shown, error)) from None
    if parts.query or parts.fragment:
        raise OdaValidationError(
            "invalid database URL '%s': query strings and fragments are not supported" % shown
        )
    try:
        port = parts.port
    except ValueError:
        raise OdaValidationError("invalid database URL '%s': the port is not a number" % shown) from None
    if not parts.hostname:
        raise OdaValidationError("invalid database URL '%s': no host" % shown)
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise OdaValidationError(
            "invalid database URL '%s': expected one database name after the host" % shown
        )
    return {
        "host": parts.hostname,
        "port": port or DEFAULT_PORTS[dialect],
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "database": database,
    }


def parse_url(url):
    """(dialect, params) of a database URL; see the module docstring for the forms.

    dialect is "sqlite", "mysql" or "postgresql".  SQLite params hold ``path``;
    server params hold ``host``, ``port``, ``user``, ``password`` and ``database``.
    """
    text = str(url or "").strip()
    scheme = _scheme_of(text)
    if scheme not in SCHEMES:
        problem = "unknown scheme '%s'" % scheme if scheme else "no scheme (such as sqlite:)"
        raise OdaValidationError(
            "unsupported database URL '%s': %s; supported: %s"
            % (mask_url(text), problem, ", ".join(sorted(SCHEMES)))
        )
    dialect = SCHEMES[scheme]
    if dialect == "sqlite":
        return dialect, _parse_sqlite(text)
    return dialect, _parse_server(text, dialect)


def to_format_markers(sql):
    """Rewrite ``?`` parameter markers as ``%s`` and double every literal ``%``.

    PyMySQL and psycopg apply %-formatting to the whole statement, quoted
    parts included, so every ``%`` is doubled; a ``?`` inside quotes is text
    and stays.
    """
    out = []
    quote_char = None
    for char in sql:
        if char == "%":
            out.append("%%")
        elif quote_char:
            out.append(char)
            if char == quote_char:
                quote_char = None
        elif char in "'\"`":
            quote_char = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


def _rows_as_dicts(cursor):
    """Every remaining row of a cursor as a dict keyed by column name."""
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    # zip(strict=) needs Python 3.10; a row always has one value per column.
    return [dict(zip(names, row)) for row in cursor.fetchall()]  # noqa: B905


class Database:
    """One connection to ODA's database, with transactions that are all or nothing.

    Use ``Database.connect(url)``; the constructor takes an open DB-API
    connection already set to autocommit, so that ``transaction()`` alone
    decides where a transaction begins and ends.
    """

    def __init__(self, connection, dialect, driver, shown_url, *, timeout=DEFAULT_TIMEOUT, database=None):
        self._connection = connection
        self._dialect = dialect
        self._driver = driver
        self._shown_url = shown_url
        self._timeout = timeout
        self._writer_lock = _mysql_lock_name(database) if dialect == "mysql" else None
        self._depth = 0

    @classmethod
    def connect(cls, url, password=None, timeout=DEFAULT_TIMEOUT, create=True):
        """Open the database a URL names; OdaUnavailableError when it cannot be reached.

        create=False never makes a new SQLite file: a reader of a mistyped
        path gets an error instead of a new, empty database.
        """
        dialect, params = parse_url(url)
        shown = mask_url(str(url).strip())
        if password is not None:
            params["password"] = password
        if dialect == "sqlite":
            connection = _connect_sqlite(params["path"], mask_url(params["path"]), timeout, create)
            return cls(connection, dialect, sqlite3, shown, timeout=timeout)
        if dialect == "mysql":
            driver = _import_driver("pymysql", "mysql")
            connection = _connect_mysql(driver, params, timeout)
        else:
            driver = _import_driver("psycopg", "postgresql")
            connection = _connect_postgresql(driver, params, timeout)
        return cls(connection, dialect, driver, shown, timeout=timeout, database=params["database"])

    @property
    def dialect(self):
        """The SQL flavour of this database: "sqlite", "mysql" or "postgresql"."""
        return self._dialect

    @property
    def url(self):
        """The URL this database was opened with, password masked."""
        return self._shown_url

    @property
    def in_transaction(self):
        """True inside a ``transaction()`` block."""
        return self._depth > 0

    def close(self):
        """Close the connection; an open transaction is rolled back by the server."""
        self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @contextlib.contextmanager
    def transaction(self, write=True, dry_run=False):
        """Run a block as one transaction: commit when it ends, roll back on any exception.

        A nested ``transaction()`` becomes a savepoint, so an inner block that
        fails is undone on its own while the outer block may go on.  A nested
        read-only block simply joins the transaction around it.
        ``dry_run=True`` rolls back even on success: check mode computes
        everything for real and keeps nothing.
        """
        if self._depth and not write and not dry_run:
            yield self
            return
        if self._depth:
            savepoint = "oda_savepoint_%d" % self._depth
            begin = "SAVEPOINT " + savepoint
            commit = ["RELEASE SAVEPOINT " + savepoint]
            # ROLLBACK TO keeps the savepoint open; release it as well.
            rollback = ["ROLLBACK TO SAVEPOINT " + savepoint, "RELEASE SAVEPOINT " + savepoint]
        else:
            begin = (_BEGIN_WRITE if write else _BEGIN_READ)[self._dialect]
            commit, rollback = ["COMMIT"], ["ROLLBACK"]
        serialized = write and not self._depth
        if serialized and self._writer_lock:
            # Before the transaction begins: its snapshot must come after the
            # previous writer's commit.
            self._lock_mysql_writers()
        try:
            self._run(begin)
            if serialized and self._dialect == "postgresql":
                self._lock_postgresql_writers()
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                self._undo(rollback)
                raise
            self._depth -= 1
            if dry_run:
                self._undo(rollback)
                return
            try:
                for statement in commit:
                    self._run(statement)
            except BaseException:
                # A COMMIT that fails (a full disk, a lost server) may leave the
                # transaction open; end it so the connection stays usable.
                self._undo(rollback)
                raise
        finally:
            if serialized and self._writer_lock:
                self._release_mysql_writers()

    def _busy(self, detail):
        return OdaUnavailableError(
            "database %s is busy: another writer held it for more than %s s (%s); try again"
            % (self._shown_url, self._timeout, detail)
        )

    def _lock_mysql_writers(self):
        """Wait for MariaDB's named writer lock of this database, at most the timeout."""
        row = self.query_one("SELECT GET_LOCK(?, ?) AS locked", (self._writer_lock, self._timeout))
        if row["locked"] != 1:
            raise self._busy("waiting for lock '%s'" % self._writer_lock)

    def _release_mysql_writers(self):
        # A lost connection has released it already; the error worth reporting is elsewhere.
        with contextlib.suppress(Exception):
            self.execute("DO RELEASE_LOCK(?)", (self._writer_lock,))

    def _lock_postgresql_writers(self):
        """Take PostgreSQL's advisory writer lock for this transaction (lock_timeout bounds the wait)."""
        try:
            self.query("SELECT pg_advisory_xact_lock(?) AS locked", (_POSTGRESQL_WRITER_LOCK,))
        except OdaUnavailableError as error:
            self._undo(["ROLLBACK"])
            raise self._busy(str(error).rsplit(": ", 1)[-1]) from None

    def _undo(self, statements):
        """Roll back; a failing rollback must not hide the error that caused it."""
        try:
            for statement in statements:
                self._run(statement)
        except Exception:
            pass  # the original error is the one worth reporting

    def execute(self, sql, params=()):
        """Run one statement with ``?`` parameter markers; return the number of rows it touched."""
        cursor = self._run(sql, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def query(self, sql, params=()):
        """Rows of a query as a list of dicts keyed by column name."""
        cursor = self._run(sql, params)
        try:
            return _rows_as_dicts(cursor)
        finally:
            cursor.close()

    def query_one(self, sql, params=()):
        """The first row of a query as a dict, or None when there is none."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def table_exists(self, name):
        """True when a table of this name exists in the database (or schema) in use."""
        if self._dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
        elif self._dialect == "mysql":
            sql = (
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = ?"
            )
        else:
            sql = (
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name = ?"
            )
        return self.query_one(sql, (name,)) is not None

    def _run(self, sql, params=()):
        """Execute on a fresh cursor, turning driver errors into ODA's typed errors."""
        params = tuple(params)
        arguments = (sql, params)
        if self._dialect != "sqlite":
            # PyMySQL and psycopg only %-format a statement given parameters;
            # without them the text must go through unchanged.
            arguments = (to_format_markers(sql), params) if params else (sql,)
        cursor = None
        try:
            # Inside: psycopg refuses a cursor at once on a connection it knows is lost.
            cursor = self._connection.cursor()
            cursor.execute(*arguments)
        except self._driver.Error as error:
            if cursor is not None:
                cursor.close()
            raise self._translate(error) from None
        return cursor

    def _translate(self, error):
        """The ODA error for a driver error; programming errors come back unchanged."""
        reason = str(error).strip() or error.__class__.__name__
        if isinstance(error, self._driver.IntegrityError):
            return OdaConflictError("conflicting write to %s: %s" % (self._shown_url, reason))
        if self._dialect == "sqlite":
            if any(marker in reason.lower() for marker in _SQLITE_UNAVAILABLE):
                return OdaUnavailableError("database %s is unavailable: %s" % (self._shown_url, reason))
            return error
        if self._dialect == "mysql" and not _mysql_unavailable(error):
            return error
        if isinstance(error, (self._driver.OperationalError, self._driver.InterfaceError)):
            return OdaUnavailableError("database %s is unavailable: %s" % (self._shown_url, reason))
        return error


def _mysql_unavailable(error):
    """True for a PyMySQL error that says the server or the data cannot be had, not that the SQL is wrong."""
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    if code is None or code == 0:
        # PyMySQL's own errors without a server code: a closed or broken connection.
        return True
    return code in _MYSQL_UNAVAILABLE or code in _MYSQL_CLIENT_ERRORS


def _mysql_lock_name(database):
    """The name of MariaDB's writer lock for a database: server-wide, so it carries the database's."""
    name = "oda_writer:%s" % database
    if len(name) > _MYSQL_LOCK_NAME_MAX:
        name = "oda_writer:%s" % hashlib.sha256(database.encode("utf-8")).hexdigest()[:40]
    return name


def _import_driver(module_name, dialect):
    """The DB-API module for a server dialect, imported only when that dialect is used."""
    try:
        driver = importlib.import_module(module_name)
    except ImportError:
        raise OdaUnavailableError(
            "the %s backend needs the Python package %s" % (dialect, module_name)
        ) from None
    return driver


def _connect_sqlite(path, shown, timeout, create):
    """An SQLite connection with foreign keys, WAL and a busy timeout; Unavailable if it cannot open.

    Messages name the file as shown, masked: a path may hold what looks like a password.
    """
    target, uri = path, False
    if path == ":memory:" or path.startswith("file:"):
        pass
    elif create:
        _make_parent(path, shown)
        _create_private(path, shown)
    else:
        # mode=rw opens an existing file only, even when another process
        # removes it between a check and the open.
        target, uri = "file:%s?mode=rw" % quote(os.path.abspath(path)), True
    try:
        # isolation_level=None: no implicit transactions; Database.transaction()
        # issues BEGIN IMMEDIATE / COMMIT / ROLLBACK itself.  timeout is SQLite's
        # busy timeout: how long a writer waits for another one to finish.
        connection = sqlite3.connect(target, timeout=timeout, isolation_level=None, uri=uri)
    except sqlite3.Error as error:
        if not create and not os.path.exists(path):
            raise OdaUnavailableError(
                "SQLite database %s does not exist (create it with 'oda init')" % shown
            ) from None
        raise OdaUnavailableError("cannot open SQLite database %s: %s" % (shown, error)) from None
    try:
        # Foreign keys are off by default in SQLite, per connection.
        connection.execute("PRAGMA foreign_keys = ON")
        if create:
            # Only a writer sets the mode, stored in the file: a reader must
            # not write, and finds WAL set by whoever created the file.
            _enable_wal(connection, timeout)
        # Touch the file's header so "not a database" shows here, not later.
        connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlite3.Error as error:
        connection.close()
        raise OdaUnavailableError("cannot open SQLite database %s: %s" % (shown, error)) from None
    return connection


def _make_parent(path, shown):
    """Create the directory of a new database file, readable by its owner only.

    ODA holds the whole cluster's layout and package settings: nobody but
    the administrator needs to read it.
    """
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        try:
            os.makedirs(parent, mode=0o700)
        except OSError as error:
            raise OdaUnavailableError(
                "cannot create the directory of SQLite database %s: %s" % (shown, error.strerror)
            ) from None


def _create_private(path, shown):
    """Create a missing database file with mode 0600 before SQLite does (it would use 0644).

    O_EXCL: when several processes create it together, one makes it and
    the others open what it made.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SQLITE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError as error:
        raise OdaUnavailableError("cannot create SQLite database %s: %s" % (shown, error.strerror)) from None


def _enable_wal(connection, timeout):
    """Switch the file to WAL, so readers go on while one writer writes.

    The mode is stored in the file, so only the first connection ever changes
    it.  That switch needs the file to itself and SQLite answers "locked" at
    once instead of calling the busy handler, which happens when several
    processes create a new database together: retry until the busy timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _server_unavailable(dialect, params, error):
    """OdaUnavailableError for a failed server connection: host:port and the reason, no password."""
    # One line: libpq spreads its reasons over several, with tabs.
    reason = " ".join(str(error).split()) or error.__class__.__name__
    password = params.get("password")
    if password:
        reason = reason.replace(password, "***").replace(quote(password, safe=""), "***")
    return OdaUnavailableError(
        "cannot connect to %s database '%s' at %s:%s: %s"
        % (dialect, params["database"], params["host"], params["port"], reason)
    )


def _connect_mysql(driver, params, timeout):
    """A PyMySQL connection in autocommit mode (transactions are explicit)."""
    try:
        return driver.connect(
            host=params["host"],
            port=params["port"],
            user=params["user"],
            password=params["password"] or "",
            database=params["database"],
            connect_timeout=max(1, math.ceil(timeout)),
            charset="utf8mb4",
            autocommit=True,
        )
    except driver.Error as error:
        raise _server_unavailable("mysql", params, error) from None


def _connect_postgresql(driver, params, timeout):
    """A psycopg 3 connection in autocommit mode (transactions are explicit)."""
    try:
        return driver.connect(
            host=params["host"],
            port=params["port"],
            user=params["user"],
            password=params["password"],
            dbname=params["database"],
            # libpq takes whole seconds, and 0 would mean forever.
            connect_timeout=max(2, math.ceil(timeout)),
            # A writer waits this long for the writer lock (and any row lock).
            options="-c lock_timeout=%d" % max(1, int(timeout * 1000)),
            autocommit=True,
        )
    except driver.Error as error:
        raise _server_unavailable("postgresql", params, error) from None

"""ODA's tests run on every backend: SQLite, and real MariaDB and PostgreSQL servers.

A test that takes ``oda_backend`` (or ``oda_url``) runs three times, with the
backend's name in its id (``test_x[mariadb]``), each time on a new, empty
database.  The servers are started once (oscar_dbservers) and reused; a
backend whose server cannot start makes its tests fail with the reason,
never skip.
"""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import Database
from oscar_dbservers import testing


class OdaBackend:
    """One fresh database of one backend: its URL, and ways to open it and to read it all back."""

    def __init__(self, name, access):
        self.name = name
        self.access = access
        # The password written in: Oda.open(url) needs nothing else.
        self.url = testing.url_with_password(access)
        self.password = access.password
        self._reader = None

    def connect(self, **kwargs):
        """A new oda_db.Database on this database."""
        return Database.connect(self.url, **kwargs)

    def open(self, **kwargs):
        """A new Oda on this database (the schema and defaults made on first use)."""
        return Oda.open(self.url, **kwargs)

    def dump(self):
        """Every row of every table, read on a connection of its own: what others would see."""
        return testing.dump(self.reader())

    def integrity_problems(self):
        """What the database engine finds wrong with the stored data ([] when nothing)."""
        return testing.integrity_problems(self.reader())

    def reader(self):
        """One connection kept for reading back (opened on first use)."""
        if self._reader is None:
            self._reader = self.connect()
        return self._reader

    def close(self):
        if self._reader is not None:
            self._reader.close()
            self._reader = None


@pytest.fixture(scope="session")
def test_databases():
    databases = testing.TestDatabases()
    yield databases
    databases.drop_finished()


@pytest.fixture(params=testing.BACKENDS)
def oda_backend(request, test_databases, tmp_path):
    """A new, empty database on each backend in turn."""
    unavailable = None
    try:
        access = test_databases.create(request.param, str(tmp_path))
    except testing.BackendUnavailable as exc:
        unavailable = str(exc)
    if unavailable:
        # The reason alone, not the chain of exceptions behind it.
        pytest.fail(unavailable, pytrace=False)
    backend = OdaBackend(request.param, access)
    yield backend
    backend.close()
    test_databases.done(access)


@pytest.fixture
def oda_url(oda_backend):
    """The URL of a new, empty database on each backend in turn (password included)."""
    return oda_backend.url

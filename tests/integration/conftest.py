"""Integration tests on real testbeds: podman containers with systemd and sshd.

The tests use their own state root, so they never touch a developer's
testbeds, and names starting with ``it-`` so their podman objects are
recognisable.  Every testbed they make is removed at the end, and the
teardown is itself checked.
"""

import pytest
from oscar_dbservers import testing
from testbed_helpers import Cli, podman_objects


@pytest.fixture(scope="session")
def state_root(tmp_path_factory):
    return tmp_path_factory.mktemp("testbed-state")


@pytest.fixture(scope="session")
def cli(state_root):
    return Cli(state_root)


@pytest.fixture(scope="session")
def faults_bed(cli):
    """One head, one standby, three compute nodes, shared by the fault tests."""
    name = "it-faults"
    cli("--name", name, "up", "--nodes", "3", "--standby")
    yield name
    cli("--name", name, "down", check=False)
    assert podman_objects(name) == [], "testbed objects left behind"


@pytest.fixture(scope="session")
def test_databases():
    """ODA's test database servers, started once (oscar_dbservers) and reused."""
    databases = testing.TestDatabases()
    yield databases
    databases.drop_finished()


@pytest.fixture(params=testing.BACKENDS)
def database_access(request, test_databases, tmp_path):
    """A new database that nobody has opened yet, on each backend in turn (or those a test names).

    A server that cannot start fails the test with the reason; it is never skipped.
    """
    try:
        access = test_databases.create(request.param, str(tmp_path), prefix="oda_it")
    except testing.BackendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield access
    test_databases.done(access)


@pytest.fixture
def database_url(database_access):
    """The URL of database_access with its password written in."""
    return testing.url_with_password(database_access)

"""Integration tests on real testbeds: podman containers with systemd and sshd.

The tests use their own state root, so they never touch a developer's
testbeds, and names starting with ``it-`` so their podman objects are
recognisable.  Every testbed they make is removed at the end, and the
teardown is itself checked.
"""

import pytest
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

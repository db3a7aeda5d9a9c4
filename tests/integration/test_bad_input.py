"""Bad requests get a specific message and a non-zero exit, and change nothing."""

import os

import pytest
from testbed_helpers import podman_objects


def test_unknown_host_is_named_with_the_hosts_that_exist(cli, faults_bed):
    result = cli("--name", faults_bed, "kill", "node999", check=False)
    assert result.returncode == 6
    assert "no host 'node999'" in result.stderr
    assert "node001" in result.stderr


def test_unknown_testbed_is_reported(cli):
    result = cli("--name", "it-nosuch", "status", check=False)
    assert result.returncode == 5
    assert "no testbed named 'it-nosuch'" in result.stderr


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ("244", "do not fit the testbed's private /24 network"),
        ("-1", "must not be negative"),
    ],
)
def test_a_node_count_the_testbed_cannot_hold_is_refused_before_anything_is_made(cli, nodes, message):
    result = cli("--name", "it-toobig", "up", "--nodes", nodes, check=False)
    assert result.returncode == 4
    assert message in result.stderr
    assert podman_objects("it-toobig") == []
    assert not os.path.exists(os.path.join(cli.state_root, "it-toobig"))


def test_a_node_count_beyond_free_memory_is_refused(cli):
    # 243 hosts fit the address plan; at 96 MiB each they do not fit a machine
    # with less than about 25 GiB free, which is every machine of this kind.
    result = cli("--name", "it-toobig", "up", "--nodes", "243", check=False)
    assert result.returncode == 4
    assert "this machine holds at most" in result.stderr
    assert podman_objects("it-toobig") == []


def test_an_invalid_name_is_refused(cli):
    result = cli("--name", "Bad_Name", "up", check=False)
    assert result.returncode == 1
    assert "invalid testbed name 'Bad_Name'" in result.stderr


def test_an_existing_name_is_refused_and_left_alone(cli, faults_bed):
    result = cli("--name", faults_bed, "up", "--nodes", "1", check=False)
    assert result.returncode == 7
    assert "already exists" in result.stderr
    assert len(cli.status(faults_bed)["hosts"]) == 5


def test_a_missing_prerequisite_that_cannot_be_installed_is_named(cli, tmp_path):
    """podman is not on PATH and the package mirror refuses: say what is missing and why."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # An apt-get that fails the way it does when the mirror is unreachable.
    fake_apt = bin_dir / "apt-get"
    fake_apt.write_text(
        "#!/bin/sh\necho 'E: Unable to locate package podman' >&2\nexit 100\n", encoding="ascii"
    )
    fake_apt.chmod(0o755)
    result = cli("--name", "it-noprereq", "up", "--nodes", "1", check=False, PATH=str(bin_dir))
    assert result.returncode == 3, result.stderr
    assert "could not install" in result.stderr
    assert "podman" in result.stderr
    assert "Unable to locate package podman" in result.stderr
    assert podman_objects("it-noprereq") == []

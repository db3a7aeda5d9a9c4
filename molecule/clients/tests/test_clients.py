"""clients on a compute node: time, names and resolver from the head, and refusals that change nothing."""

import os
import time

import pytest

from oscar_testbed.molecule import converge, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "clients")


@pytest.fixture(scope="module")
def head_ip():
    return scenario_testbed(SCENARIO).plan().host("head").interface("private").ip


def test_chrony_runs_and_starts_at_boot(node):
    assert node.service("chrony").is_running
    assert node.service("chrony").is_enabled


def test_chrony_follows_the_head_alone(node, head_ip):
    assert node.file("/etc/chrony/sources.d/oscar-head.sources").contains(f"^server {head_ip} iburst$")
    main = node.file("/etc/chrony/chrony.conf").content_string.splitlines()
    assert not [line for line in main if line.startswith("pool ")], "the pool servers must be off"
    assert any(line.startswith("# oscar.cluster.clients: pool ") for line in main)
    deadline = time.monotonic() + 90
    sources = ""
    while time.monotonic() < deadline:
        sources = node.check_output("chronyc -n sources")
        if any(line.startswith("^*") for line in sources.splitlines()):
            break
        time.sleep(3)
    servers = [line for line in sources.splitlines() if line.startswith("^")]
    assert len(servers) == 1, sources
    assert servers[0].startswith("^*") and head_ip in servers[0], sources


def test_chronyd_does_not_set_the_clock_of_a_container(node):
    """The testbed's hosts lack CAP_SYS_TIME: auto chose -x, and the unit's condition is cleared."""
    assert node.file("/etc/default/chrony").contains('^DAEMON_OPTS="-F 1 -x"$')
    dropin = node.file("/etc/systemd/system/chrony.service.d/oscar-serve-only.conf")
    assert dropin.contains("^ConditionCapability=$")
    assert " -x" in node.check_output("ps -o args= -C chronyd")


def test_the_resolver_is_the_head(node, head_ip):
    resolv = node.file("/etc/resolv.conf").content_string.splitlines()
    assert resolv[1:] == ["search cluster", f"nameserver {head_ip}"]
    answer = node.run("getent ahostsv4 head.cluster")
    assert answer.rc == 0
    assert answer.stdout.split()[0] == head_ip


def test_etc_hosts_has_the_cluster_in_a_marked_block(node, head_ip):
    hosts = node.file("/etc/hosts").content_string
    block = hosts.split("# BEGIN oscar.cluster.clients")[1].split("# END oscar.cluster.clients")[0]
    assert f"{head_ip} head.cluster head" in block.splitlines()
    assert "localhost" in hosts.split("# BEGIN oscar.cluster.clients")[0], "the site's own lines stay"


@pytest.mark.parametrize(
    ("extra", "messages"),
    [
        ("clients_head=nosuchhead", ["clients_head must name the head, another host of", "nosuchhead"]),
        ("clients_network=storage", ["is not an IPv4 network in ODA; ODA has", "storage"]),
    ],
)
def test_bad_settings_stop_the_role_before_any_change(node, extra, messages):
    before = node.file("/etc/chrony/sources.d/oscar-head.sources").sha256sum
    result = converge("--limit", "node001", "-e", extra, timeout=600)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), result.stdout[-3000:]
    assert "changed=0" in result.stdout.split("PLAY RECAP")[-1]
    assert node.file("/etc/chrony/sources.d/oscar-head.sources").sha256sum == before

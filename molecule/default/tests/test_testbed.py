"""The testbed's hosts are what its plan says: checked on the hosts themselves."""

import json
import os
import subprocess
import sys

import pytest

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")


@pytest.fixture()
def planned(host, plan):
    name = host.backend.get_hostname()
    found = plan.host(name)
    assert found is not None, f"{name} is not in the testbed plan"
    return found


def test_systemd_is_running_cleanly(host):
    state = host.run("systemctl is-system-running")
    failed = host.run("systemctl --failed --plain --no-legend").stdout
    assert state.stdout.strip() == "running", failed


def test_sshd_answers_on_port_22(host):
    assert host.service("ssh").is_running
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_root_logs_in_by_key_only(host):
    config = host.run("sshd -T").stdout.lower().splitlines()
    assert "permitrootlogin without-password" in config
    assert "passwordauthentication no" in config


def test_python3_is_present(host):
    version = host.run("python3 -c 'import sys; print(sys.version_info[:2] >= (3, 11))'")
    assert version.rc == 0
    assert version.stdout.strip() == "True"


def test_hostname_is_planned(host, planned):
    assert host.check_output("hostname") == planned.name


def test_interfaces_carry_planned_addresses(host, planned, plan):
    links = json.loads(host.check_output("ip -json address show"))
    found = {
        (info["local"], info["prefixlen"], link["address"])
        for link in links
        for info in link.get("addr_info", [])
        if info.get("family") == "inet" and link["ifname"] != "lo"
    }
    wanted = {(iface.ip, plan.network(iface.network).prefixlen, iface.mac) for iface in planned.interfaces}
    assert found == wanted


def test_routes_match_the_cluster_design(host, planned, plan):
    routes = host.check_output("ip -4 route show default")
    if planned.interface("public"):
        # The head reaches the outside over the public network.
        assert f"default via {plan.network('public').gateway}" in routes
    else:
        # Compute nodes have no route out: like a real cluster's private network.
        assert routes.strip() == ""


def test_head_is_reachable_on_the_private_network(host, plan):
    head_private = plan.host("head").interface("private").ip
    assert host.run(f"ping -n -c 1 -W 2 {head_private}").rc == 0


def test_oda_describes_the_host_as_the_testbed_planned_it(host, planned):
    """The scenario's hosts come from ODA: the testbed registered each one with its NICs."""
    ephemeral = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    root = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    program = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    listing = subprocess.run(
        [program, "-i", "oscar_inventory", "--list"],
        cwd=root,
        env=dict(os.environ, OSCAR_ODA_URL=f"sqlite:{ephemeral}/oda.db"),
        capture_output=True,
        text=True,
        check=True,
    )
    # Strings from ODA come marked as never to be templated: {"__ansible_unsafe": text}.
    hostvars = json.loads(
        listing.stdout,
        object_hook=lambda obj: obj.get("__ansible_unsafe", obj) if set(obj) == {"__ansible_unsafe"} else obj,
    )["_meta"]["hostvars"][planned.name]
    macs = sorted(iface.mac for iface in planned.interfaces)
    assert sorted(hostvars["oda_macs"]) == macs
    assert hostvars["oda_state"] == "up"

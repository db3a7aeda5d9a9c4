"""server on the head and clients on the nodes, checked against the real services.

dnsmasq answers a DHCP DISCOVER sent from a compute node with its own MAC
with the address ODA gives that NIC (and nothing to an unknown MAC), and
answers DNS for every host both ways; chrony on the nodes follows the head;
/etc/hosts, the nodes' resolver and the head's /etc/c3.conf come from ODA.
"""

import json
import os
import shlex
import sqlite3
import time

import pytest
from probes import DISCOVER_SCRIPT

from oscar_cluster.c3 import conf
from oscar_testbed.molecule import connect, converge, recap

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "server")
NODES = ["node001", "node002"]
HOSTS = ["head", *NODES]
DOMAIN = "cluster"


@pytest.fixture(scope="module")
def private(plan):
    """Each host's NIC on the private network: its address and MAC."""
    return {name: plan.host(name).interface("private") for name in HOSTS}


@pytest.fixture(scope="module", params=NODES)
def node(request):
    return connect(request.param)


def discover(host, mac, timeout=5):
    """The OFFER dnsmasq makes to a DISCOVER for mac, sent from host; None when none comes."""
    result = host.run(f"python3 -c {shlex.quote(DISCOVER_SCRIPT)} {mac} {timeout}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def dig(host, server, *query):
    result = host.run(f"dig +time=2 +tries=2 @{server} {' '.join(query)}")
    assert result.rc == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------- services


@pytest.mark.parametrize("service", ["dnsmasq", "chrony"])
def test_head_services_run_and_start_at_boot(head, service):
    assert head.service(service).is_running
    assert head.service(service).is_enabled


def test_dnsmasq_configuration_passes_its_own_check(head):
    result = head.run("dnsmasq --test --conf-file=/etc/dnsmasq.d/oscar-cluster.conf")
    assert result.rc == 0, result.stderr
    assert "syntax check OK" in result.stderr


# ---------------------------------------------------------------- DHCP


@pytest.mark.parametrize("name", NODES)
def test_dhcp_offers_each_node_its_address_from_oda(head, private, name):
    """A DISCOVER with the node's MAC, sent from the other node, gets the node's fixed lease."""
    asker = connect(NODES[1] if name == NODES[0] else NODES[0])
    offer = discover(asker, private[name].mac)
    assert offer is not None, f"no DHCP offer for {name}'s MAC {private[name].mac}"
    assert offer["address"] == private[name].ip
    assert offer["server"] == [private["head"].ip]
    assert offer["netmask"] == ["255.255.255.0"]
    assert offer["dns"] == [private["head"].ip]
    assert offer["ntp"] == [private["head"].ip]
    assert offer["domain"] == DOMAIN
    assert offer["hostname"] == name


def test_dhcp_offers_nothing_to_an_unknown_mac(node):
    assert discover(node, "02:00:de:ad:be:ef", timeout=4) is None


# ---------------------------------------------------------------- DNS


@pytest.mark.parametrize("name", HOSTS)
def test_dns_answers_every_host_both_ways(head, private, name):
    server = private["head"].ip
    assert dig(head, server, "+short", f"{name}.{DOMAIN}").split() == [private[name].ip]
    assert dig(head, server, "+short", "-x", private[name].ip).split() == [f"{name}.{DOMAIN}."]


def test_dns_refuses_names_the_cluster_does_not_have(head, private):
    assert "status: NXDOMAIN" in dig(head, private["head"].ip, f"nosuchnode.{DOMAIN}")


def test_nodes_resolve_through_the_head(node, private):
    """The resolver is the head: a name only DNS knows in this form (the short name of node002, searched)."""
    resolv = node.file("/etc/resolv.conf").content_string.split("\n")
    assert f"nameserver {private['head'].ip}" in resolv
    assert f"search {DOMAIN}" in resolv
    answer = node.run("host -W 3 node002")
    assert answer.rc == 0, answer.stdout + answer.stderr
    assert f"node002.{DOMAIN} has address {private['node002'].ip}" in answer.stdout


# ---------------------------------------------------------------- time


def test_nodes_follow_the_heads_time(node, private):
    """chronyc sources lists the head, and chrony selects it (^*) within a minute."""
    deadline = time.monotonic() + 90
    sources = ""
    while time.monotonic() < deadline:
        sources = node.check_output("chronyc -n sources")
        selected = [line for line in sources.splitlines() if line.startswith("^*")]
        if selected:
            break
        time.sleep(3)
    assert any(line.startswith("^*") and private["head"].ip in line for line in sources.splitlines()), sources
    # Only the head: the pool servers a private network cannot reach are off.
    assert [line for line in sources.splitlines() if line.startswith("^")] == [
        line for line in sources.splitlines() if line.startswith("^") and private["head"].ip in line
    ]


def test_head_serves_time_to_the_private_network(head, private):
    clients = head.run("chronyc -n clients")
    assert clients.rc == 0, clients.stderr
    assert private["node001"].ip in clients.stdout or private["node002"].ip in clients.stdout, clients.stdout


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("name", HOSTS)
def test_every_host_has_the_cluster_in_etc_hosts(private, name):
    lines = connect(name).file("/etc/hosts").content_string.splitlines()
    for other in HOSTS:
        assert f"{private[other].ip} {other}.{DOMAIN} {other}" in lines


def test_c3_conf_describes_the_cluster_as_c3_reads_it(head):
    inventory = conf.parse(head.file("/etc/c3.conf").content_string, "/etc/c3.conf")
    cluster = inventory.clusters["oscar"]
    assert cluster.head == "head"
    assert cluster.nodes == [("node001", "up"), ("node002", "up")]
    assert not cluster.indirect


# ---------------------------------------------------------------- runs


def test_check_mode_on_a_converged_cluster_reports_no_change():
    result = converge("--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    counts = recap(result.stdout)
    assert sorted(counts) == sorted(HOSTS), result.stdout[-2000:]
    changed = {host: count[1] for host, count in counts.items()}
    assert changed == dict.fromkeys(HOSTS, 0), result.stdout[-3000:]


@pytest.fixture
def oda_without_a_mac(tmp_path):
    """A copy of the scenario's ODA in which node002's NIC on the private network has lost its MAC."""
    url = os.environ["OSCAR_ODA_URL"]
    assert url.startswith("sqlite:"), f"the scenario's ODA must be an SQLite file, got {url}"
    copy = tmp_path / "oda.db"
    with sqlite3.connect(url[len("sqlite:") :]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute(
            "UPDATE nics SET mac = NULL WHERE node_id = (SELECT id FROM nodes WHERE name = ?)"
            " AND network_id = (SELECT id FROM networks WHERE name = ?)",
            ("node002", "private"),
        )
    return f"sqlite:{copy}"


def test_a_node_without_a_mac_stops_the_run_before_any_change(head, oda_without_a_mac):
    before = head.file("/etc/dnsmasq.d/oscar-cluster.conf").sha256sum
    result = converge("--limit", "head", env={"OSCAR_ODA_URL": oda_without_a_mac})
    assert result.returncode != 0, result.stdout[-3000:]
    # The message as the callback prints it (on stderr): wrapped, and quoted as YAML.
    message = " ".join((result.stdout + result.stderr).split())
    assert "node node002 (NIC" in message, message[-3000:]
    assert "has no MAC address, so it cannot get a DHCP lease" in message, message[-3000:]
    assert recap(result.stdout)["head"][1:] == (0, 0, 1), result.stdout[-2000:]
    assert head.file("/etc/dnsmasq.d/oscar-cluster.conf").sha256sum == before

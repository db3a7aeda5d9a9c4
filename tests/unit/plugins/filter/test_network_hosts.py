"""The cluster's hosts on one network: the table behind DHCP, DNS, /etc/hosts and c3.conf.

Every refusal names the node (or the head) and the value at fault.
"""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.oscar.cluster.plugins.filter.network_hosts import FilterModule
from ansible_collections.oscar.cluster.plugins.module_utils.cluster_hosts import network_hosts
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError

PRIVATE = {"name": "private", "cidr": "10.211.5.0/24", "domain": "cluster"}


def nic(ip, mac=None, name="eth1", network="private"):
    return {"name": name, "mac": mac, "ip": ip, "network": network}


def head(*nics):
    return {
        "name": "head",
        "hostname": "head",
        "nics": list(nics) or [nic("10.210.5.10", "02:00:0a:d2:05:0a", "eth0", "public"), nic("10.211.5.1")],
    }


def node(number, ip=None, mac=None, **extra):
    ip = ip or "10.211.5.%d" % (10 + number)
    mac = mac or "02:00:0a:d3:05:%02x" % (10 + number)
    host = {"name": "node%03d" % number, "nics": [nic(ip, mac)]}
    host.update(extra)
    return host


def test_one_entry_per_nic_head_first_then_natural_order():
    hosts = [node(10), node(2), head(), node(1)]
    table = network_hosts(hosts, PRIVATE, "head")
    assert [entry["node"] for entry in table] == ["head", "node001", "node002", "node010"]
    assert table[0] == {
        "node": "head",
        "hostname": "head",
        "fqdn": "head.cluster",
        "nic": "eth1",
        "primary": True,
        "mac": None,
        "ip": "10.211.5.1",
        "head": True,
    }
    assert table[1] == {
        "node": "node001",
        "hostname": "node001",
        "fqdn": "node001.cluster",
        "nic": "eth1",
        "primary": True,
        "mac": "02:00:0a:d3:05:0b",
        "ip": "10.211.5.11",
        "head": False,
    }


def test_macs_come_out_in_normal_form_and_the_hostname_wins_over_the_name():
    hosts = [head(), node(1, mac="02-00-0A-D3-05-0B", hostname="Compute1")]
    entry = network_hosts(hosts, PRIVATE, "head")[1]
    assert entry["mac"] == "02:00:0a:d3:05:0b"
    assert (entry["node"], entry["hostname"], entry["fqdn"]) == ("node001", "compute1", "compute1.cluster")


def test_a_second_nic_on_the_network_gets_its_own_name():
    second = node(1)
    second["nics"].insert(0, nic("10.211.5.111", "02:00:0a:d3:05:6f", "eth2"))
    table = network_hosts([head(), second], PRIVATE, "head")
    assert [(e["hostname"], e["nic"], e["ip"], e["primary"]) for e in table[1:]] == [
        ("node001", "eth1", "10.211.5.11", True),
        ("node001-eth2", "eth2", "10.211.5.111", False),
    ]


def test_without_a_domain_the_names_are_short_unless_the_node_has_one():
    network = {"name": "private", "cidr": "10.211.5.0/24"}
    table = network_hosts([head(), node(1), node(2, domain="lab.example")], network, "head")
    assert [e["fqdn"] for e in table] == ["head", "node001", "node002.lab.example"]


def test_nics_on_other_networks_are_left_out():
    table = network_hosts([head(), node(1)], PRIVATE, "head")
    assert all(entry["ip"].startswith("10.211.5.") for entry in table)


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        (
            [head(), {"name": "node001", "nics": [nic("10.211.5.11")]}],
            "node node001 (NIC eth1 on network 'private') has no MAC",
        ),
        (
            [head(), {"name": "node001", "nics": [nic(None, "02:00:0a:d3:05:0b")]}],
            "node node001 (NIC eth1 on network 'private') has no IP",
        ),
        ([head(), {"name": "node003", "nics": []}], "node node003 has no NIC on network 'private'"),
        (
            [head(), node(3, ip="10.212.0.3")],
            "node node003 (NIC eth1 on network 'private'): address 10.212.0.3 is outside",
        ),
        ([head(), node(3, ip="10.211.5.255")], "address 10.211.5.255 is the network or broadcast address"),
        (
            [head(), node(3, mac="01:00:5e:00:00:01")],
            "node node003 (NIC eth1 on network 'private'): invalid MAC address",
        ),
        (
            [head(), node(1), node(2, ip="10.211.5.11")],
            "nodes node001 and node002 have the same address 10.211.5.11",
        ),
        (
            [head(), node(1), node(2, mac="02:00:0A:D3:05:0B")],
            "nodes node001 and node002 have the same MAC 02:00:0a:d3:05:0b",
        ),
        (
            [head(), node(1), node(2, hostname="node001")],
            "nodes node001 and node002 have the same name node001",
        ),
        ([head(), node(1, hostname="bad_name")], "node node001: invalid host name 'bad_name'"),
        ([head(), node(1), node(1)], "node node001 is listed twice"),
        ([node(1)], "the head head is not among the hosts (node001)"),
        (
            [head(nic("10.210.5.10", network="public")), node(1)],
            "network 'private' (10.211.5.0/24) does not contain the head head: it has no NIC on it",
        ),
        (
            [head(nic("10.99.0.1", network="private")), node(1)],
            "network 'private' (10.211.5.0/24) does not contain the head head: address 10.99.0.1 is outside",
        ),
    ],
)
def test_bad_data_is_refused_naming_the_node(hosts, message):
    with pytest.raises(OdaValidationError) as error:
        network_hosts(hosts, PRIVATE, "head")
    assert message in str(error.value)


def test_the_same_mac_twice_on_one_node_is_named():
    twice = node(1)
    twice["nics"].append(nic("10.211.5.111", "02:00:0a:d3:05:0b", "eth2"))
    with pytest.raises(OdaValidationError, match="node node001 has the MAC 02:00:0a:d3:05:0b twice"):
        network_hosts([head(), twice], PRIVATE, "head")


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"name": "private"}, "at least a name and a cidr"),
        ({"name": "private", "cidr": "10.211.5.1/24"}, "invalid network '10.211.5.1/24'"),
        (
            {"name": "private", "cidr": "10.211.5.0/24", "domain": "bad domain"},
            "invalid host name 'bad domain'",
        ),
    ],
)
def test_a_bad_network_is_refused_naming_it(network, message):
    with pytest.raises(OdaValidationError, match=message):
        network_hosts([head(), node(1)], network, "head")


def test_the_filter_turns_the_error_into_a_task_failure():
    network_hosts_filter = FilterModule().filters()["network_hosts"]
    with pytest.raises(AnsibleFilterError, match="node node007 has no NIC on network 'private'"):
        network_hosts_filter([head(), {"name": "node007", "nics": []}], PRIVATE, "head")


def test_the_filter_accepts_mappings_that_are_not_dicts():
    """Ansible hands hostvars over as its own mapping types."""

    class Mapping:
        def __init__(self, data):
            self.data = data

        def items(self):
            return self.data.items()

    network_hosts_filter = FilterModule().filters()["network_hosts"]
    table = network_hosts_filter([Mapping(head()), Mapping(node(1))], Mapping(PRIVATE), "head")
    assert [entry["fqdn"] for entry in table] == ["head.cluster", "node001.cluster"]


def test_host_table_reads_the_hosts_from_hostvars_and_the_network_by_name():
    host_table_filter = FilterModule().filters()["host_table"]
    hostvars = {
        "head": {"oda_hostname": "head", "oda_nics": head()["nics"]},
        "node001": {"oda_nics": node(1)["nics"], "oda_domain": "lab.example"},
        "other": {},
    }
    networks = [{"name": "public", "cidr": "10.210.5.0/24"}, PRIVATE]
    table = host_table_filter(hostvars, ["node001", "head"], networks, "private", "head")
    assert table == network_hosts([head(), node(1, domain="lab.example")], PRIVATE, "head")


@pytest.mark.parametrize(
    ("names", "network", "message"),
    [
        (["head"], "storage", "network storage is not an IPv4 network in ODA; ODA has private, v6"),
        (["head"], "v6", "network v6 is not an IPv4 network in ODA"),
        (["head", "nosuch"], "private", "host nosuch is not in the inventory"),
    ],
)
def test_host_table_names_a_missing_network_or_host(names, network, message):
    host_table_filter = FilterModule().filters()["host_table"]
    networks = [PRIVATE, {"name": "v6", "cidr": "fd00::/64"}]
    with pytest.raises(AnsibleFilterError, match=message):
        host_table_filter({"head": {"oda_nics": head()["nics"]}}, names, networks, network, "head")


def test_a_node_waiting_to_be_installed_may_have_no_mac_yet():
    waiting = {"name": "node003", "nics": [nic("10.211.5.13")], "boot_action": "install"}
    table = network_hosts([head(), node(1), waiting], PRIVATE, "head")
    assert [(entry["node"], entry["mac"]) for entry in table][1:] == [
        ("node001", "02:00:0a:d3:05:0b"),
        ("node003", None),
    ]
    # Booting from its disk, it needs its lease: no MAC is an error again.
    with pytest.raises(OdaValidationError, match=r"node003 .* has no MAC"):
        network_hosts([head(), dict(waiting, boot_action="local")], PRIVATE, "head")

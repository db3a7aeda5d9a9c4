"""oscar.cluster.oda_node, run for real on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.modules import oda_group, oda_image, oda_network, oda_node


@pytest.fixture
def cluster(run_module):
    run_module(oda_network, name="private", cidr="10.211.0.0/24", domain="cluster.lan")
    run_module(oda_image, name="debian12", distro="debian-12")
    run_module(oda_group, name="gpu")
    return run_module


def nic(name="eth0", mac="02:00:0a:d3:00:0b", ip="10.211.0.11", network="private"):
    return {"name": name, "mac": mac, "ip": ip, "network": network}


def test_a_node_is_created_with_nics_groups_and_facts_then_left_alone(cluster):
    args = {
        "name": "Node001",
        "nics": [nic(mac="02-00-0A-D3-00-0B")],
        "groups": ["oscar_clients", "gpu"],
        "image": "debian12",
        "cpus": 8,
        "memory_mb": 16384,
        "arch": "x86_64",
    }
    first = cluster(oda_node, **args)
    assert first["changed"] is True
    assert first["node"] == {
        "name": "node001",
        "hostname": "node001",
        "domain": "cluster.lan",
        "cluster": "oscar",
        "image": "debian12",
        "image_version": None,
        "image_state": None,
        "state": "defined",
        "excluded": False,
        "cpus": 8,
        "memory_mb": 16384,
        "arch": "x86_64",
        "boot_action": "local",
        "disk_layout": None,
        "install_stage": None,
        "install_attempt": None,
        "groups": ["gpu", "oscar_clients"],
        "nics": [nic()],
    }
    second = cluster(oda_node, **args)
    assert (second["changed"], second["node"]) == (False, first["node"])


def test_options_left_out_keep_their_values(cluster):
    cluster(oda_node, name="node001", nics=[nic()], groups=["gpu"])
    answer = cluster(oda_node, diff=True, name="node001", node_state="up", excluded=True)
    assert answer["changed"] is True
    assert (answer["node"]["state"], answer["node"]["excluded"]) == ("up", True)
    assert answer["node"]["groups"] == ["gpu"]
    assert answer["node"]["nics"] == [nic()]
    assert (answer["diff"]["before"]["state"], answer["diff"]["after"]["state"]) == ("defined", "up")
    assert answer["diff"]["after_header"] == "node node001"


def test_a_nic_key_left_out_keeps_its_value(cluster):
    cluster(oda_node, name="node001", nics=[nic()])
    answer = cluster(oda_node, name="node001", nics=[{"name": "eth0", "mac": "02:00:0a:d3:00:99"}])
    assert answer["node"]["nics"] == [nic(mac="02:00:0a:d3:00:99")]


def test_check_mode_reports_and_writes_nothing(cluster, dump):
    before = dump()
    answer = cluster(oda_node, check_mode=True, diff=True, name="node001", nics=[nic()])
    assert answer["changed"] is True
    assert answer["diff"]["before"] == {}
    assert answer["node"]["nics"] == [nic()]
    assert dump() == before


def test_absent_removes_the_node(cluster):
    cluster(oda_node, name="node001", nics=[nic()])
    answer = cluster(oda_node, diff=True, name="node001", state="absent")
    assert (answer["changed"], answer["node"], answer["diff"]["before"]["name"]) == (True, None, "node001")
    assert cluster(oda_node, name="node001", state="absent")["changed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"nics": [nic(mac="02:00:0a:d3:00:zz")]}, "invalid MAC address '02:00:0a:d3:00:zz'"),
        ({"nics": [nic(mac="02:00:0a:d3:00:01")]}, "MAC 02:00:0a:d3:00:01 is already used by head (eth1)"),
        (
            {"nics": [nic(ip="10.211.0.1")]},
            "address 10.211.0.1 on network 'private' is already used by head (eth1)",
        ),
        (
            {"nics": [nic(ip="10.99.0.1")]},
            "node node002 eth0 address 10.99.0.1 is outside network 10.211.0.0/24",
        ),
        ({"nics": [nic(network="ib")]}, "unknown network 'ib'"),
        ({"groups": ["nosuch"]}, "unknown group 'nosuch'"),
        ({"image": "sles"}, "unknown image 'sles'"),
        ({"cpus": 0}, "invalid CPU count 0"),
        ({"node_state": "broken"}, "value of node_state must be one of"),
        ({"nics": [{"mac": "02:00:0a:d3:00:0c"}]}, "missing required arguments: name found in nics"),
    ],
)
def test_bad_input_fails_naming_the_value_and_writes_nothing(cluster, refused, args, message):
    cluster(
        oda_node,
        name="head",
        nics=[nic(name="eth1", mac="02:00:0a:d3:00:01", ip="10.211.0.1")],
        groups=["oscar_server"],
    )
    refused(message, oda_node, name="node002", **args)


def test_a_bad_node_name_fails(cluster, refused):
    refused("invalid host name 'node_1'", oda_node, name="node_1")

"""oscar.cluster.oda_disk_layout, oda_mac_collect and oda_node's boot options, run for real on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_macs import parse_dnsmasq_log
from ansible_collections.oscar.cluster.plugins.modules import (
    oda_clients,
    oda_disk_layout,
    oda_image,
    oda_image_version,
    oda_mac_collect,
    oda_network,
    oda_node,
)

ROOT_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HEAD_MAC = "02:00:0a:d3:00:01"
PARTITIONS = [
    {"label": "efi", "size_mib": 256, "type": "efi", "mount": "/boot/efi"},
    {"label": "root", "type": "linux", "fs": "ext4", "mount": "/"},
]
LOG = """\
dnsmasq-dhcp[812]: DHCPDISCOVER(eth1) 52:54:00:00:00:03 no address available
dnsmasq-dhcp[812]: DHCPDISCOVER(eth1) 02:00:0a:d3:00:01
dnsmasq-dhcp[812]: DHCPOFFER(eth1) 10.211.0.1 02:00:0a:d3:00:01
dnsmasq-dhcp[812]: 1234 DHCPDISCOVER(eth1) 10.211.0.99 52:54:00:00:00:01 no address available
dnsmasq-dhcp[812]: DHCPDISCOVER(eth1) 52:54:00:00:00:03 no address available
dnsmasq-dhcp[812]: DHCPREQUEST(eth1) 10.211.0.50 52:54:00:00:00:07
dnsmasq-dhcp[812]: DHCPDISCOVER(eth1) 52:54:00:00:00:02 no address available
dnsmasq-dhcp[812]: DHCPDISCOVER(eth1) 52:54:00:00:00:04 no address available
"""


@pytest.fixture
def cluster(run_module):
    run_module(oda_network, name="private", cidr="10.211.0.0/24", domain="cluster.lan")
    run_module(oda_image, name="debian12")
    run_module(
        oda_node,
        name="head",
        groups=["oscar_server"],
        nics=[{"name": "eth1", "mac": HEAD_MAC, "ip": "10.211.0.1", "network": "private"}],
    )
    run_module(
        oda_clients, names="node[001-003]", network="private", start_ip="10.211.0.11", image="debian12"
    )
    return run_module


# --- oda_disk_layout ---------------------------------------------------------


def test_a_layout_is_defined_once_then_left_alone_and_removed(cluster, dump):
    checked = cluster(oda_disk_layout, check_mode=True, diff=True, name="small", partitions=PARTITIONS)
    assert (checked["changed"], checked["diff"]["before"]) == (True, {})
    assert checked["diff"]["after"]["partitions"][0]["fs"] == "vfat"
    before = dump()
    assert cluster(oda_disk_layout, check_mode=True, name="small", partitions=PARTITIONS)["changed"] is True
    assert dump() == before
    first = cluster(oda_disk_layout, name="small", partitions=PARTITIONS, min_disk_mib=2048)
    assert first["changed"] is True
    assert first["disk_layout"] == {
        "name": "small",
        "device": None,
        "min_disk_mib": 2048,
        "partitions": [
            {"label": "efi", "size_mib": 256, "type": "efi", "fs": "vfat", "mount": "/boot/efi"},
            {"label": "root", "size_mib": None, "type": "linux", "fs": "ext4", "mount": "/"},
        ],
    }
    again = cluster(oda_disk_layout, name="small", partitions=PARTITIONS, min_disk_mib=2048)
    assert (again["changed"], again["disk_layout"]) == (False, first["disk_layout"])
    assert cluster(oda_disk_layout, name="small", state="absent")["changed"] is True
    assert cluster(oda_disk_layout, name="small", state="absent")["changed"] is False


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ({"partitions": PARTITIONS, "min_disk_mib": 257}, "the layout needs 258 MiB"),
        ({"partitions": PARTITIONS[:1]}, "the layout has no root"),
        ({"partitions": [dict(PARTITIONS[0], fs="ext4"), PARTITIONS[1]]}, "needs fs vfat"),
        ({"partitions": [PARTITIONS[1], PARTITIONS[0]]}, "only the last one may"),
        ({"partitions": PARTITIONS, "device": "sda"}, "invalid device 'sda'"),
        ({}, "state is present but all of the following are missing: partitions"),
    ],
)
def test_a_bad_layout_is_refused_and_nothing_written(cluster, refused, args, text):
    refused(text, oda_disk_layout, name="bad", **args)


def test_a_layout_in_use_is_not_removed(cluster, refused):
    cluster(oda_disk_layout, name="small", partitions=PARTITIONS)
    assert cluster(oda_node, name="node001", disk_layout="small")["node"]["disk_layout"] == "small"
    refused("still used by nodes node001", oda_disk_layout, name="small", state="absent")
    refused("unknown disk layout 'nosuch'", oda_node, name="node001", disk_layout="nosuch")
    assert cluster(oda_node, name="node001", disk_layout="")["node"]["disk_layout"] is None


# --- oda_node boot_action ----------------------------------------------------


def test_boot_action_install_needs_recorded_boot_artifacts(cluster, refused):
    refused("node head has no image", oda_node, name="head", boot_action="install")
    refused("has no current version", oda_node, name="node001", boot_action="install")
    cluster(oda_image_version, image="debian12", version=1)
    cluster(oda_image, name="debian12", current_version=1)
    refused("has no boot artifacts recorded", oda_node, name="node001", boot_action="install")
    recorded = cluster(
        oda_image_version,
        image="debian12",
        version=1,
        boot_kernel="6.1.0-28-amd64",
        boot_root_sha256=ROOT_SHA,
    )
    assert recorded["image_version"]["boot_root_sha256"] == ROOT_SHA
    checked = cluster(oda_node, check_mode=True, diff=True, name="node001", boot_action="install")
    assert (checked["changed"], checked["diff"]["before"]["boot_action"]) == (True, "local")
    assert checked["diff"]["after"]["boot_action"] == "install"
    assert cluster(oda_node, name="node001")["node"]["boot_action"] == "local"
    done = cluster(oda_node, name="node001", boot_action="install")
    assert (done["changed"], done["node"]["boot_action"], done["node"]["install_stage"]) == (
        True,
        "install",
        None,
    )
    assert cluster(oda_node, name="node001", boot_action="install")["changed"] is False
    refused("value of boot_action must be one of", oda_node, name="node001", boot_action="pxe")


# --- oda_mac_collect ---------------------------------------------------------


def test_the_dnsmasq_log_gives_the_macs_first_seen_first():
    assert parse_dnsmasq_log(LOG) == [
        (None, "52:54:00:00:00:03"),
        (None, HEAD_MAC),
        (None, "52:54:00:00:00:01"),
        (None, "52:54:00:00:00:02"),
        (None, "52:54:00:00:00:04"),
    ]
    assert parse_dnsmasq_log("DHCPDISCOVER(eth1) 01:52:54:00:00:00:09 no address\nnothing here") == []


def test_macs_go_to_the_nodes_without_one_in_the_order_seen(cluster, dump):
    before = dump()
    checked = cluster(oda_mac_collect, check_mode=True, diff=True, nodes="node[001-003]", log=LOG)
    assert dump() == before
    answer = cluster(oda_mac_collect, nodes="node[001-003]", network="private", log=LOG)
    for result in (checked, answer):
        assert result["changed"] is True
        assert result["assignments"] == [
            {"node": "node001", "nic": "eth0", "mac": "52:54:00:00:00:03"},
            {"node": "node002", "nic": "eth0", "mac": "52:54:00:00:00:01"},
            {"node": "node003", "nic": "eth0", "mac": "52:54:00:00:00:02"},
        ]
        assert (result["skipped"], result["unassigned"], result["waiting"]) == (
            [HEAD_MAC],
            ["52:54:00:00:00:04"],
            [],
        )
    assert sorted(checked["diff"]["after"]) == ["node001", "node002", "node003"]
    assert [node["nics"][0]["mac"] for node in answer["nodes"]] == [
        "52:54:00:00:00:03",
        "52:54:00:00:00:01",
        "52:54:00:00:00:02",
    ]
    # Again: every node has its MAC, the new machine stays unassigned.
    again = cluster(oda_mac_collect, nodes="node[001-003]", log=LOG)
    assert (again["changed"], again["assignments"], again["unassigned"]) == (False, [], ["52:54:00:00:00:04"])


def test_nodes_with_a_mac_keep_it_and_the_rest_wait(cluster):
    cluster(oda_node, name="node002", nics=[{"name": "eth0", "mac": "52:54:00:00:00:99"}])
    answer = cluster(oda_mac_collect, nodes=["node003", "node002", "node001"], log=LOG.splitlines()[0])
    assert answer["assignments"] == [{"node": "node003", "nic": "eth0", "mac": "52:54:00:00:00:03"}]
    assert answer["waiting"] == ["node001"]
    assert answer["changed_nodes"] == ["node003"]


def test_a_mac_file_gives_named_macs_by_name(cluster, tmp_path):
    path = tmp_path / "macs.txt"
    path.write_text("52:54:00:00:00:0a\nnode003 52:54:00:00:00:0c\nother 52:54:00:00:00:0d\n")
    answer = cluster(oda_mac_collect, nodes="node[001-003]", nic="eth0", mac_file=str(path))
    assert [(a["node"], a["mac"]) for a in answer["assignments"]] == [
        ("node001", "52:54:00:00:00:0a"),
        ("node003", "52:54:00:00:00:0c"),
    ]
    assert answer["waiting"] == ["node002"]


def test_a_mac_claimed_twice_is_refused(cluster, refused, tmp_path):
    path = tmp_path / "macs.txt"
    path.write_text("node001 52:54:00:00:00:0a\nnode002 52:54:00:00:00:0a\n")
    refused(
        "MAC 52:54:00:00:00:0a is already on line 1",
        oda_mac_collect,
        nodes="node[001-002]",
        mac_file=str(path),
    )


def test_mac_collect_refusals_write_nothing(cluster, refused):
    refused("unknown nodes node[004-009]", oda_mac_collect, nodes="node[001-009]", log=LOG)
    cluster(oda_network, name="ipmi", cidr="10.1.0.0/24")
    refused(
        "node node001 has no NIC on network 'ipmi'", oda_mac_collect, nodes="node001", network="ipmi", log=LOG
    )
    refused("unknown network 'nosuch'", oda_mac_collect, nodes="node001", network="nosuch", log=LOG)
    refused(
        "parameters are mutually exclusive: nic|network",
        oda_mac_collect,
        nodes="node001",
        nic="eth0",
        network="private",
        log=LOG,
    )

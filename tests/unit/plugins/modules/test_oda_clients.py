"""oscar.cluster.oda_clients: OSCAR's "Define OSCAR Clients" in one task, run for real on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.modules import (
    oda_clients,
    oda_image,
    oda_info,
    oda_network,
    oda_node,
)

BASE = {"network": "private", "start_ip": "10.211.0.11"}


@pytest.fixture
def cluster(run_module):
    run_module(oda_network, name="private", cidr="10.211.0.0/24", domain="cluster.lan")
    run_module(oda_image, name="debian12")
    run_module(
        oda_node,
        name="head",
        groups=["oscar_server"],
        nics=[{"name": "eth1", "mac": "02:00:0a:d3:00:01", "ip": "10.211.0.1", "network": "private"}],
    )
    return run_module


def summary(answer):
    """(name, ip, mac) of every node in the answer."""
    return [(n["name"], n["nics"][0]["ip"], n["nics"][0]["mac"]) for n in answer["nodes"]]


def test_a_node_set_defines_every_node_with_consecutive_addresses_then_leaves_them(cluster):
    first = cluster(oda_clients, names="node[001-004]", image="debian12", **BASE)
    assert first["changed"] is True
    assert first["changed_nodes"] == ["node001", "node002", "node003", "node004"]
    assert summary(first) == [
        ("node001", "10.211.0.11", None),
        ("node002", "10.211.0.12", None),
        ("node003", "10.211.0.13", None),
        ("node004", "10.211.0.14", None),
    ]
    node = first["nodes"][0]
    assert (node["image"], node["groups"], node["domain"]) == ("debian12", ["oscar_clients"], "cluster.lan")
    second = cluster(oda_clients, names="node[001-004]", image="debian12", **BASE)
    assert (second["changed"], second["changed_nodes"], second["nodes"]) == (False, [], first["nodes"])


def test_a_pattern_with_a_count_names_the_nodes(cluster):
    answer = cluster(oda_clients, pattern="n{:02d}", count=3, start_index=9, **BASE)
    assert [n["name"] for n in answer["nodes"]] == ["n09", "n10", "n11"]
    hashes = cluster(oda_clients, pattern="n##", count=3, start_index=9, **BASE)
    assert hashes["changed"] is False


def test_a_list_keeps_its_order_for_addresses_and_macs(cluster):
    answer = cluster(
        oda_clients, names=["gpu2", "GPU1"], macs=["02:00:00:00:00:02", "02:00:00:00:00:01"], **BASE
    )
    assert summary(answer) == [
        ("gpu2", "10.211.0.11", "02:00:00:00:00:02"),
        ("gpu1", "10.211.0.12", "02:00:00:00:00:01"),
    ]


def test_macs_collected_later_fill_in_the_defined_nodes(cluster):
    cluster(oda_clients, names="node[1-3]", **BASE)
    answer = cluster(
        oda_clients,
        diff=True,
        names="node[1-3]",
        macs=["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"],
        **BASE,
    )
    assert answer["changed_nodes"] == ["node1", "node2", "node3"]
    assert sorted(answer["diff"]["before"]) == ["node1", "node2", "node3"]
    assert answer["diff"]["before"]["node1"]["nics"][0]["mac"] is None
    assert answer["diff"]["after"]["node1"]["nics"][0]["mac"] == "02:00:00:00:00:01"
    assert answer["diff"]["before_header"] == "nodes node[1-3]"


def test_macs_from_a_leases_file_go_by_name_and_in_order(cluster, tmp_path):
    leases = tmp_path / "dnsmasq.leases"
    leases.write_text(
        "1700000000 02:00:00:00:00:03 10.211.0.103 node3 *\n"
        "1700000001 02:00:00:00:00:aa 10.211.0.104 * *\n"
        "1700000002 02:00:00:00:00:99 10.211.0.105 laptop *\n"
    )
    answer = cluster(oda_clients, names="node[1-3]", mac_file=str(leases), **BASE)
    assert summary(answer) == [
        ("node1", "10.211.0.11", "02:00:00:00:00:aa"),
        ("node2", "10.211.0.12", None),
        ("node3", "10.211.0.13", "02:00:00:00:00:03"),
    ]
    assert cluster(oda_clients, names="node[1-3]", mac_file=str(leases), **BASE)["changed"] is False


def test_check_mode_reports_every_node_and_writes_nothing(cluster, dump):
    before = dump()
    answer = cluster(oda_clients, check_mode=True, names="node[1-64]", **BASE)
    assert answer["changed"] is True
    assert len(answer["changed_nodes"]) == 64
    assert answer["nodes"][-1]["nics"][0]["ip"] == "10.211.0.74"
    assert dump() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"names": "node[1-"}, "invalid node set 'node[1-'"),
        ({"names": "node[1-3]", "image": "sles"}, "unknown image 'sles'"),
        ({"names": "node[1-3]", "group": "nosuch"}, "unknown group 'nosuch'"),
        ({"names": "node[1-3]", "network": "ib"}, "unknown network 'ib'"),
        (
            {"names": "node[1-3]", "start_ip": "10.211.0.254"},
            "address 10.211.0.255 is the network or broadcast",
        ),
        ({"names": "node[1-3]", "start_ip": "10.211.0.300"}, "invalid IP address '10.211.0.300'"),
        (
            {"names": "node[1-3]", "start_ip": "10.211.0.1"},
            "address 10.211.0.1 on network 'private' is already used by head (eth1)",
        ),
        ({"names": "node[1-2]", "macs": ["02:00:00:00:00:01"]}, "1 MAC given for 2 nodes (node[1-2])"),
        ({"names": "node[1-2]", "macs": ["02:00:00:00:00:01", "zz"]}, "invalid MAC address 'zz'"),
        (
            {"names": "node[1-2]", "macs": ["02:00:00:00:00:05", "02:00:0a:d3:00:01"]},
            "MAC 02:00:0a:d3:00:01 is already used by head (eth1)",
        ),
        ({"names": ["node1", "node_2"]}, "invalid host name 'node_2'"),
        ({"names": {"a": 1}}, "invalid names"),
        ({"pattern": "node", "count": 2}, "invalid name pattern 'node'"),
        ({"pattern": "n{}", "count": 0}, "invalid count 0"),
        ({"pattern": "n{}"}, "parameters are required together: pattern, count"),
        ({"names": "n1", "pattern": "n{}", "count": 1}, "parameters are mutually exclusive: names|pattern"),
        ({}, "one of the following is required: names, pattern"),
    ],
)
def test_bad_input_fails_naming_the_value_and_writes_nothing(cluster, refused, args, message):
    refused(message, oda_clients, **dict(BASE, **args))


def test_a_bad_mac_file_fails_naming_the_line_and_writes_nothing(cluster, refused, tmp_path):
    macs = tmp_path / "macs.txt"
    macs.write_text("02:00:00:00:00:01\n02:00:00:00:00:0g\n")
    refused(
        "MAC file %s line 2: invalid MAC address '02:00:00:00:00:0g'" % macs,
        oda_clients,
        names="n[1-2]",
        mac_file=str(macs),
        **BASE,
    )
    refused(
        "cannot read MAC file %s/none" % tmp_path,
        oda_clients,
        names="n[1-2]",
        mac_file=str(tmp_path / "none"),
        **BASE,
    )
    macs.write_text("02:00:00:00:00:01\n02:00:00:00:00:02\n02:00:00:00:00:03\n")
    refused(
        "3 MAC addresses without a name for 2 nodes", oda_clients, names="n[1-2]", mac_file=str(macs), **BASE
    )


def test_one_refused_node_keeps_every_node_out(cluster, run_module):
    answer = run_module(
        oda_clients,
        names="node[1-8]",
        macs=["02:00:00:00:00:%02x" % n for n in range(1, 8)] + ["02:00:0a:d3:00:01"],
        **BASE,
    )
    assert answer["rc"] == 1
    assert run_module(oda_info, query="nodes", nodes="node[1-8]")["nodes"] == []

"""ODA's nodes on every backend: NICs and groups, node sets, states, define_clients."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_nodes import changed_nodes
from oda_store_helpers import HEAD_MAC, nic, refused

# --- nodes -------------------------------------------------------------------


def test_a_node_is_created_with_nics_and_groups_then_left_alone(cluster):
    changed, before, after = cluster.nodes.ensure(
        "Node001",
        image="rocky9",
        groups=["oscar_clients"],
        nics=[nic("eth0", "52-54-00-AB-CD-EF", "10.0.0.11"), nic("ib0", None, None, None)],
        cpus=64,
        memory_mb="262144",
        arch="x86_64",
    )
    assert (changed, before) == (True, None)
    assert after == {
        "name": "node001",
        "hostname": "node001",
        "domain": "cluster.lan",
        "cluster": "oscar",
        "image": "rocky9",
        "image_version": None,
        "image_state": None,
        "state": "defined",
        "excluded": False,
        "cpus": 64,
        "memory_mb": 262144,
        "arch": "x86_64",
        "boot_action": "local",
        "disk_layout": None,
        "install_stage": None,
        "install_attempt": None,
        "groups": ["oscar_clients"],
        "nics": [
            {"name": "eth0", "mac": "52:54:00:ab:cd:ef", "ip": "10.0.0.11", "network": "cluster"},
            {"name": "ib0", "mac": None, "ip": None, "network": None},
        ],
    }
    assert cluster.nodes.get("node001") == after
    again = cluster.nodes.ensure(
        "node001",
        image="rocky9",
        groups=["oscar_clients"],
        nics=[nic("eth0", "5254.00ab.cdef", "10.0.0.11"), nic("ib0", None, None, None)],
    )
    assert again == (False, after, after)
    assert cluster.nodes.ensure("node001") == (False, after, after)


def test_a_node_update_shows_the_difference(cluster):
    cluster.nodes.ensure("node1", nics=[nic("eth0", "02:00:00:00:00:11", "10.0.0.11")])
    changed, before, after = cluster.nodes.ensure(
        "node1", nics=[{"name": "eth0", "ip": "10.0.0.12"}], state="up", excluded=True
    )
    assert changed is True
    assert before["nics"] == [
        {"name": "eth0", "mac": "02:00:00:00:00:11", "ip": "10.0.0.11", "network": "cluster"}
    ]
    # A NIC key left out keeps its value: the MAC stays.
    assert after["nics"] == [
        {"name": "eth0", "mac": "02:00:00:00:00:11", "ip": "10.0.0.12", "network": "cluster"}
    ]
    assert (before["state"], after["state"]) == ("defined", "up")
    assert (before["excluded"], after["excluded"]) == (False, True)


def test_the_nic_and_group_lists_are_exact(cluster):
    cluster.groups.ensure("gpu")
    cluster.nodes.ensure(
        "node1",
        groups=["gpu", "oscar_clients"],
        nics=[nic("eth0", ip="10.0.0.11"), nic("eth1", ip="10.0.0.12")],
    )
    changed, _before, after = cluster.nodes.ensure("node1", groups=["oscar_clients"], nics=[nic("eth1")])
    assert changed is True
    assert after["groups"] == ["oscar_clients"]
    assert [n["name"] for n in after["nics"]] == ["eth1"]
    # The dropped NIC's address is free again.
    assert cluster.nodes.ensure("node2", nics=[nic("eth0", ip="10.0.0.11")])[0] is True


def test_nics_of_one_node_may_swap_addresses_in_one_write(cluster):
    mac_a, mac_b = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
    cluster.nodes.ensure("node1", nics=[nic("eth0", mac_a, "10.0.0.11"), nic("eth1", mac_b, "10.0.0.12")])
    _changed, _before, after = cluster.nodes.ensure(
        "node1", nics=[nic("eth0", mac_b, "10.0.0.12"), nic("eth1", mac_a, "10.0.0.11")]
    )
    assert [(n["mac"], n["ip"]) for n in after["nics"]] == [(mac_b, "10.0.0.12"), (mac_a, "10.0.0.11")]


def test_nodes_belong_to_a_cluster(cluster):
    cluster.clusters.ensure("lab")
    assert cluster.nodes.ensure("lab1", cluster="lab")[2]["cluster"] == "lab"


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        (
            {"nics": [nic("eth0", "52:54:00:zz:00:01")]},
            OdaValidationError,
            "invalid MAC address '52:54:00:zz:00:01'",
        ),
        (
            {"nics": [nic("eth0", HEAD_MAC)]},
            OdaConflictError,
            "MAC %s is already used by head (eth1)" % HEAD_MAC,
        ),
        (
            {"nics": [nic("eth0", "02-00-0A-00-00-01")]},
            OdaConflictError,
            "MAC %s is already used by head (eth1)" % HEAD_MAC,
        ),
        (
            {"nics": [nic("eth0", ip="10.0.0.1")]},
            OdaConflictError,
            "address 10.0.0.1 on network 'cluster' is already used by head (eth1)",
        ),
        (
            {"nics": [nic("eth0", ip="10.0.0.5"), nic("eth1", ip="10.0.0.5")]},
            OdaConflictError,
            "address 10.0.0.5 on network 'cluster' is given to both node1 (eth0) and node1 (eth1)",
        ),
        (
            {"nics": [nic("eth0", ip="10.0.1.5")]},
            OdaValidationError,
            "node node1 eth0 address 10.0.1.5 is outside network 10.0.0.0/24 (network 'cluster')",
        ),
        (
            {"nics": [nic("eth0", ip="10.0.0.5", network=None)]},
            OdaValidationError,
            "10.0.0.5 needs a network",
        ),
        ({"nics": [nic("eth0", ip="10.0.0.5", network="ib")]}, OdaNotFoundError, "unknown network 'ib'"),
        ({"nics": [nic("eth0"), nic("eth0")]}, OdaValidationError, "lists NIC 'eth0' twice"),
        ({"nics": [{"name": "eth0", "adress": "10.0.0.5"}]}, OdaValidationError, "unknown key 'adress'"),
        ({"nics": "eth0"}, OdaValidationError, "expected a list"),
        ({"groups": ["oscar_clients", "gpu"]}, OdaNotFoundError, "unknown group 'gpu'"),
        ({"groups": "oscar_clients"}, OdaValidationError, "expected a list of names"),
        ({"image": "centos5"}, OdaNotFoundError, "unknown image 'centos5'"),
        ({"cluster": "other"}, OdaNotFoundError, "unknown cluster 'other'"),
        ({"state": "running"}, OdaValidationError, "invalid node state 'running'"),
        ({"excluded": "maybe"}, OdaValidationError, "invalid excluded flag 'maybe'"),
        ({"cpus": 0}, OdaValidationError, "invalid CPU count 0"),
        ({"hostname": "bad_name"}, OdaValidationError, "invalid host name 'bad_name'"),
        ({"image_version": 0}, OdaValidationError, "invalid node image version 0: expected 1 to"),
        ({"image_version": "three"}, OdaValidationError, "invalid node image version 'three'"),
        (
            {"image_state": "synced"},
            OdaValidationError,
            "invalid node image state 'synced': expected one of updating, in-sync, update-failed",
        ),
    ],
)
def test_bad_node_values_are_refused_named_and_nothing_is_written(cluster, oda_backend, kwargs, error, text):
    refused(oda_backend, error, text, lambda: cluster.nodes.ensure("node1", **kwargs))


def test_a_node_records_the_image_version_it_runs_and_its_image_state(cluster):
    cluster.nodes.ensure("node1", image="rocky9")
    changed, before, after = cluster.nodes.ensure("node1", image_version=2, image_state="updating")
    assert changed is True
    assert (before["image_version"], before["image_state"]) == (None, None)
    assert (after["image"], after["image_version"], after["image_state"]) == ("rocky9", 2, "updating")
    # Left out keeps both; the next step of an update changes the state alone.
    assert cluster.nodes.ensure("node1", cpus=4)[2]["image_version"] == 2
    assert cluster.nodes.ensure("node1", image_state="in-sync")[2]["image_state"] == "in-sync"
    assert cluster.nodes.ensure("node1", image_version=2, image_state="in-sync")[0] is False


def test_nodes_are_updated_together_to_an_image_version(cluster, oda_backend):
    cluster.nodes.define_clients("node[1-3]", "cluster", "10.0.0.11", image="rocky9")
    outcome = cluster.nodes.update("node[1-2]", image_version=3, image_state="in-sync")
    assert changed_nodes(outcome) == (True, ["node1", "node2"])
    states = [(n["name"], n["image_version"], n["image_state"]) for n in cluster.nodes.list()]
    assert states[1:] == [("node1", 3, "in-sync"), ("node2", 3, "in-sync"), ("node3", None, None)]
    refused(
        oda_backend,
        OdaValidationError,
        "invalid node image state 'gone'",
        lambda: cluster.nodes.update("node[1-3]", image_state="gone"),
    )


def test_an_existing_node_is_not_changed_by_a_refused_update(cluster, oda_backend):
    cluster.nodes.ensure(
        "node1", nics=[nic("eth0", "02:00:00:00:00:11", "10.0.0.11")], groups=["oscar_clients"]
    )
    refused(
        oda_backend,
        OdaConflictError,
        "MAC %s is already used by head (eth1)" % HEAD_MAC,
        lambda: cluster.nodes.ensure("node1", nics=[nic("eth0", HEAD_MAC, "10.0.0.12")], groups=[]),
    )


def test_a_bad_node_name_is_refused(oda, oda_backend):
    refused(oda_backend, OdaValidationError, "invalid host name 'node_1'", lambda: oda.nodes.ensure("node_1"))


def test_check_mode_computes_the_node_exactly_and_writes_nothing(cluster, oda_backend):
    before = oda_backend.dump()
    changed, old, new = cluster.nodes.ensure(
        "node1", groups=["oscar_clients"], nics=[nic("eth0", ip="10.0.0.11")], check_mode=True
    )
    assert (changed, old) == (True, None)
    assert new["groups"] == ["oscar_clients"]
    assert new["nics"][0]["ip"] == "10.0.0.11"
    assert oda_backend.dump() == before
    # The same call for real gives the same answer.
    before_check = cluster.nodes.ensure(
        "node1", groups=["oscar_clients"], nics=[nic("eth0", ip="10.0.0.11")], check_mode=True
    )
    real = cluster.nodes.ensure("node1", groups=["oscar_clients"], nics=[nic("eth0", ip="10.0.0.11")])
    assert before_check == real


def test_nodes_are_listed_by_node_set(cluster):
    cluster.nodes.define_clients("node[01-12]", "cluster", "10.0.0.11")
    cluster.groups.ensure("gpu")
    for name in ("node03", "node11"):
        cluster.nodes.ensure(name, groups=["gpu", "oscar_clients"])
    names = [n["name"] for n in cluster.nodes.list()]
    assert names == ["head"] + ["node%02d" % i for i in range(1, 13)]
    assert [n["name"] for n in cluster.nodes.list("node[01-03,40-50]")] == ["node01", "node02", "node03"]
    assert [n["name"] for n in cluster.nodes.list("@gpu")] == ["node03", "node11"]
    assert [n["name"] for n in cluster.nodes.list("@oscar_clients!node[02-12]")] == ["node01"]
    assert cluster.nodes.list("@oscar_server")[0]["nics"][0]["mac"] == HEAD_MAC


@pytest.mark.parametrize(
    ("pattern", "error", "text"),
    [
        ("node[1-", OdaValidationError, "invalid node set 'node[1-': unmatched '['"),
        ("node[3-1]", OdaValidationError, "range '3-1' goes backwards"),
        ("@nothing", OdaNotFoundError, "unknown group 'nothing'"),
    ],
)
def test_bad_node_sets_are_refused(cluster, pattern, error, text):
    with pytest.raises(error) as raised:
        cluster.nodes.list(pattern)
    assert text in str(raised.value)


def test_a_removed_node_takes_its_nics_and_memberships_along(cluster, oda_backend):
    cluster.nodes.ensure(
        "node1", groups=["oscar_clients"], nics=[nic("eth0", "02:00:00:00:00:11", "10.0.0.11")]
    )
    before = oda_backend.dump()
    assert cluster.nodes.remove("node1", check_mode=True)[0] is True
    assert oda_backend.dump() == before
    assert cluster.nodes.remove("node1")[0] is True
    assert cluster.nodes.get("node1") is None
    assert cluster.groups.members("oscar_clients") == []
    assert cluster.nodes.remove("node1")[0] is False
    # Its MAC and address are free for another node.
    assert cluster.nodes.ensure("node2", nics=[nic("eth0", "02:00:00:00:00:11", "10.0.0.11")])[0] is True


def test_node_states_are_set_checked_and_idempotent(cluster, oda_backend):
    cluster.nodes.ensure("node1")
    changed, before, after = cluster.nodes.set_state("node1", "installing")
    assert (changed, before["state"], after["state"]) == (True, "defined", "installing")
    assert cluster.nodes.set_state("node1", "installing")[0] is False
    snapshot = oda_backend.dump()
    assert cluster.nodes.set_state("node1", "up", check_mode=True)[2]["state"] == "up"
    assert oda_backend.dump() == snapshot
    refused(
        oda_backend,
        OdaValidationError,
        "invalid node state 'booting'",
        lambda: cluster.nodes.set_state("node1", "booting"),
    )
    refused(
        oda_backend, OdaNotFoundError, "unknown node 'node9'", lambda: cluster.nodes.set_state("node9", "up")
    )


# --- define_clients ----------------------------------------------------------


def test_define_clients_defines_64_nodes_in_one_call_and_then_changes_nothing(cluster):
    changed, names = changed_nodes(
        cluster.nodes.define_clients("node[001-064]", "cluster", "10.0.0.11", image="rocky9")
    )
    assert changed is True
    assert names == ["node%03d" % i for i in range(1, 65)]
    nodes = cluster.nodes.list("@oscar_clients")
    assert len(nodes) == 64
    assert [n["nics"][0]["ip"] for n in nodes] == ["10.0.0.%d" % (10 + i) for i in range(1, 65)]
    assert {(n["image"], n["domain"], n["cluster"], n["state"]) for n in nodes} == {
        ("rocky9", "cluster.lan", "oscar", "defined")
    }
    assert changed_nodes(
        cluster.nodes.define_clients("node[001-064]", "cluster", "10.0.0.11", image="rocky9")
    ) == (False, [])


def test_define_clients_takes_macs_in_order_and_a_list_of_names(cluster):
    macs = ["02:00:0A:00:00:0B", "02:00:0a:00:00:0c"]
    changed, names = changed_nodes(
        cluster.nodes.define_clients(["n2", "n1"], "cluster", "10.0.0.11", macs=macs, nic="eth1")
    )
    assert (changed, names) == (True, ["n2", "n1"])
    assert cluster.nodes.get("n2")["nics"] == [
        {"name": "eth1", "mac": "02:00:0a:00:00:0b", "ip": "10.0.0.11", "network": "cluster"}
    ]
    assert cluster.nodes.get("n1")["nics"][0]["mac"] == "02:00:0a:00:00:0c"


def test_define_clients_updates_existing_nodes_and_keeps_the_rest_of_them(cluster):
    cluster.groups.ensure("gpu")
    cluster.nodes.ensure(
        "node2",
        groups=["gpu"],
        nics=[nic("eth0", "02:00:00:00:00:22", "10.0.0.50"), nic("ib0", None, None, None)],
    )
    cluster.nodes.define_clients("node[1-3]", "cluster", "10.0.0.11")
    node2 = cluster.nodes.get("node2")
    assert node2["groups"] == ["gpu", "oscar_clients"]
    # eth0 gets its new address but keeps the MAC collected before; ib0 stays.
    assert node2["nics"] == [
        {"name": "eth0", "mac": "02:00:00:00:00:22", "ip": "10.0.0.12", "network": "cluster"},
        {"name": "ib0", "mac": None, "ip": None, "network": None},
    ]
    # Shifting the whole range by one moves each address onto a neighbour's old one.
    changed, names = changed_nodes(cluster.nodes.define_clients("node[1-3]", "cluster", "10.0.0.12"))
    assert (changed, names) == (True, ["node1", "node2", "node3"])
    assert [n["nics"][0]["ip"] for n in cluster.nodes.list("node[1-3]")] == [
        "10.0.0.12",
        "10.0.0.13",
        "10.0.0.14",
    ]


def test_check_mode_defines_nothing(cluster, oda_backend):
    before = oda_backend.dump()
    assert changed_nodes(
        cluster.nodes.define_clients("node[1-4]", "cluster", "10.0.0.11", check_mode=True)
    ) == (
        True,
        ["node1", "node2", "node3", "node4"],
    )
    assert oda_backend.dump() == before


NODES = ("node[1-3]", "cluster", "10.0.0.11")
TWO_NODES = ("node[1-2]", "cluster", "10.0.0.11")


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("node[1-", "cluster", "10.0.0.11"), {}, (OdaValidationError, "invalid node set 'node[1-'")),
        (("node_[1-2]", "cluster", "10.0.0.11"), {}, (OdaValidationError, "invalid host name 'node_1'")),
        (
            (["n1", "n2", "n1"], "cluster", "10.0.0.11"),
            {},
            (OdaValidationError, "node name 'n1' is listed twice"),
        ),
        (NODES, {"macs": ["02:00:00:00:00:01"]}, (OdaValidationError, "1 MAC given for 3 nodes (node[1-3])")),
        (
            TWO_NODES,
            {"macs": ["02:00:00:00:00:01", "nope"]},
            (OdaValidationError, "invalid MAC address 'nope'"),
        ),
        (
            TWO_NODES,
            {"macs": ["02:00:00:00:00:01", "02-00-00-00-00-01"]},
            (OdaConflictError, "MAC 02:00:00:00:00:01 is given to both node1 (eth0) and node2 (eth0)"),
        ),
        (
            TWO_NODES,
            {"macs": ["02:00:00:00:00:01", HEAD_MAC]},
            (OdaConflictError, "MAC %s is already used by head (eth1)" % HEAD_MAC),
        ),
        (
            ("node[1-3]", "cluster", "10.0.0.253"),
            {},
            (OdaValidationError, "node node3 eth0 address 10.0.0.255 is the network or broadcast address"),
        ),
        (
            ("node[1-3]", "cluster", "10.0.1.1"),
            {},
            (OdaValidationError, "node node1 eth0 address 10.0.1.1 is outside network 10.0.0.0/24"),
        ),
        (("node[1-3]", "cluster", "255.255.255.254"), {}, (OdaValidationError, "run past the end")),
        (("node[1-3]", "cluster", "10.0.0.x"), {}, (OdaValidationError, "invalid IP address '10.0.0.x'")),
        (("node[1-3]", "ib", "10.0.0.11"), {}, (OdaNotFoundError, "unknown network 'ib'")),
        (NODES, {"image": "centos5"}, (OdaNotFoundError, "unknown image 'centos5'")),
        (NODES, {"group": "gpu"}, (OdaNotFoundError, "unknown group 'gpu'")),
    ],
)
def test_define_clients_refuses_bad_input_and_writes_nothing(cluster, oda_backend, args, kwargs, expected):
    error, text = expected
    refused(oda_backend, error, text, lambda: cluster.nodes.define_clients(*args, **kwargs))


def test_define_clients_is_all_or_nothing_when_one_address_is_taken(cluster, oda_backend):
    cluster.nodes.ensure("other", nics=[nic("eth0", ip="10.0.0.14")])
    # node1..node3 would be fine; node4 would take other's address.
    refused(
        oda_backend,
        OdaConflictError,
        "address 10.0.0.14 on network 'cluster' is already used by other (eth0)",
        lambda: cluster.nodes.define_clients("node[1-6]", "cluster", "10.0.0.11"),
    )
    assert cluster.nodes.list("node[1-6]") == []

"""ODA's API on real SQLite files: idempotent writes, check mode, refusals that name the value."""

import ipaddress
import multiprocessing
import time

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaSchemaError,
    OdaUnavailableError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_nodes import changed_nodes
from ansible_collections.oscar.cluster.plugins.module_utils.oda_schema import SCHEMA_VERSION

HEAD_MAC = "02:00:0a:00:00:01"


@pytest.fixture
def oda(oda_backend):
    database = oda_backend.open()
    yield database
    database.close()


@pytest.fixture
def cluster(oda):
    """A head node on network 'cluster' and an image: what define_clients starts from."""
    oda.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.1", domain="cluster.lan")
    oda.images.ensure("rocky9", distro="rocky-9", arch="x86_64", path="/var/lib/oscar/images/rocky9")
    oda.nodes.ensure("head", groups=["oscar_server"], nics=[nic("eth1", HEAD_MAC, "10.0.0.1")])
    return oda


def nic(name, mac=None, ip=None, network="cluster"):
    return {"name": name, "mac": mac, "ip": ip, "network": network}


def refused(backend, error, text, call):
    """call() raises error with text in its message, and the database is unchanged."""
    before = backend.dump()
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)
    assert backend.dump() == before
    return raised.value


# --- opening -------------------------------------------------------------------


def test_open_creates_the_schema_and_the_defaults_and_reopens_unchanged(oda_backend):
    first = oda_backend.open()
    assert [group["name"] for group in first.groups.list()] == ["oscar_clients", "oscar_server"]
    assert first.clusters.list() == [{"name": "oscar", "description": "the default cluster"}]
    first.close()
    before = oda_backend.dump()
    oda_backend.open().close()
    assert oda_backend.dump() == before


def test_readers_never_wait_for_a_writer(oda_backend):
    # A long import holds the write lock; opening and reading must not queue
    # behind it (opening used to take the lock to check the defaults).
    writer = oda_backend.open()
    try:
        with writer.db.transaction():
            writer.groups.ensure("importing")
            for read_only in (False, True):
                started = time.monotonic()
                reader = Oda.open(oda_backend.url, timeout=3, read_only=read_only)
                try:
                    assert "importing" not in [group["name"] for group in reader.groups.list()]
                    assert reader.nodes.list() == []
                finally:
                    reader.close()
                assert time.monotonic() - started < 1
    finally:
        writer.close()


def test_a_read_only_open_creates_nothing(tmp_path):
    path = tmp_path / "typo.db"
    with pytest.raises(OdaUnavailableError, match="does not exist"):
        Oda.open("sqlite:%s" % path, read_only=True)
    assert not path.exists()
    path.touch()
    with pytest.raises(OdaSchemaError, match="holds no ODA schema; create it with 'oda init'"):
        Oda.open("sqlite:%s" % path, read_only=True)
    assert path.stat().st_size == 0


def test_open_takes_the_sqlite_url_with_an_empty_authority_too(tmp_path):
    path = tmp_path / "oda.db"
    Oda.open("sqlite:%s" % path).close()
    oda = Oda.open("sqlite:///%s" % str(path).lstrip("/"))
    assert [cluster["name"] for cluster in oda.clusters.list()] == ["oscar"]
    oda.close()


@pytest.mark.parametrize("oda_backend", ["mariadb", "postgresql"], indirect=True)
def test_a_server_password_may_come_apart_from_the_url(oda_backend):
    assert oda_backend.password not in oda_backend.access.url
    oda = Oda.open(oda_backend.access.url, password=oda_backend.password)
    assert [cluster["name"] for cluster in oda.clusters.list()] == ["oscar"]
    assert oda.db.url == oda_backend.access.url
    oda.close()


# --- clusters and networks ---------------------------------------------------


def test_clusters_are_ensured_idempotently(oda):
    assert oda.clusters.ensure("lab", description="the lab")[0] is True
    assert oda.clusters.ensure("lab", description="the lab") == (
        False,
        {"name": "lab", "description": "the lab"},
        {"name": "lab", "description": "the lab"},
    )
    assert [c["name"] for c in oda.clusters.list()] == ["lab", "oscar"]


def test_a_network_is_created_then_left_alone(oda):
    dhcp = {"dhcp_start": "10.0.0.100", "dhcp_end": "10.0.0.200"}
    changed, before, after = oda.networks.ensure(
        "cluster", "10.0.0.0/24", gateway="10.0.0.1", domain="Cluster.LAN", mtu=9000, **dhcp
    )
    assert changed is True
    assert before is None
    assert after == {
        "name": "cluster",
        "cidr": "10.0.0.0/24",
        "gateway": "10.0.0.1",
        "domain": "cluster.lan",
        "dhcp_start": "10.0.0.100",
        "dhcp_end": "10.0.0.200",
        "mtu": 9000,
        "cluster": "oscar",
    }
    assert oda.networks.get("cluster") == after
    # Same values, or values left out: no change.
    assert oda.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.1", mtu=9000) == (
        False,
        after,
        after,
    )


def test_a_network_update_reports_before_and_after(oda):
    oda.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.1")
    changed, before, after = oda.networks.ensure("cluster", "10.0.0.0/23", mtu=1500)
    assert changed is True
    assert (before["cidr"], before["mtu"]) == ("10.0.0.0/24", None)
    assert (after["cidr"], after["mtu"], after["gateway"]) == ("10.0.0.0/23", 1500, "10.0.0.1")


def test_networks_are_listed_in_natural_order(oda):
    for name, cidr in [("net10", "10.10.0.0/16"), ("net2", "10.2.0.0/16"), ("ib", "192.168.0.0/24")]:
        oda.networks.ensure(name, cidr)
    assert [n["name"] for n in oda.networks.list()] == ["ib", "net2", "net10"]
    assert oda.networks.get("nothing") is None


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"cidr": "10.0.0.1/24"}, OdaValidationError, "invalid network '10.0.0.1/24'"),
        ({"cidr": "10.0.0.0/24", "gateway": "10.0.1.1"}, OdaValidationError, "gateway 10.0.1.1 is outside"),
        ({"cidr": "10.0.0.0/24", "gateway": "10.0.0.255"}, OdaValidationError, "broadcast"),
        ({"cidr": "10.0.0.0/24", "gateway": "fd00::1"}, OdaValidationError, "gateway fd00::1 is outside"),
        ({"cidr": "10.0.0.0/24", "gateway": "10.0.0.300"}, OdaValidationError, "'10.0.0.300'"),
        (
            {"cidr": "10.0.0.0/24", "dhcp_start": "10.0.0.200", "dhcp_end": "10.0.0.100"},
            OdaValidationError,
            "DHCP range 10.0.0.200 - 10.0.0.100 goes backwards",
        ),
        ({"cidr": "10.0.0.0/24", "dhcp_start": "10.0.0.100"}, OdaValidationError, "give both dhcp_start"),
        (
            {"cidr": "10.0.0.0/24", "dhcp_start": "10.0.0.100", "dhcp_end": "10.0.9.1"},
            OdaValidationError,
            "dhcp end 10.0.9.1 is outside network 10.0.0.0/24 (network 'cluster')",
        ),
        ({"cidr": "10.0.0.0/24", "mtu": 12}, OdaValidationError, "invalid MTU 12"),
        ({"cidr": "10.0.0.0/24", "mtu": "big"}, OdaValidationError, "invalid MTU 'big'"),
        ({"cidr": "10.0.0.0/24", "domain": "bad_domain"}, OdaValidationError, "'bad_domain'"),
        ({"cidr": "10.0.0.0/24", "cluster": "elsewhere"}, OdaNotFoundError, "unknown cluster 'elsewhere'"),
    ],
)
def test_bad_network_values_are_refused_and_named(oda, oda_backend, kwargs, error, text):
    refused(oda_backend, error, text, lambda: oda.networks.ensure("cluster", **kwargs))


@pytest.mark.parametrize(
    ("first", "second"),
    [("10.0.0.0/24", "10.0.0.0/25"), ("10.0.0.128/25", "10.0.0.0/16"), ("fd00::/64", "fd00::/48")],
)
def test_overlapping_networks_are_refused_naming_both(oda, oda_backend, first, second):
    # Else one address could belong to two networks, and two nodes share it.
    oda.networks.ensure("a", first)
    text = "network 'b' (%s) overlaps network 'a' (%s)" % (second, first)
    refused(oda_backend, OdaConflictError, text, lambda: oda.networks.ensure("b", second))
    # Changing a network's CIDR is checked the same way.
    oda.networks.ensure("b", "192.168.0.0/24")
    refused(oda_backend, OdaConflictError, text, lambda: oda.networks.ensure("b", second))


def test_two_nodes_never_share_an_address_across_networks(oda, oda_backend):
    oda.networks.ensure("a", "10.0.0.0/24")
    refused(oda_backend, OdaConflictError, "overlaps", lambda: oda.networks.ensure("b", "10.0.0.0/25"))
    oda.nodes.ensure("n1", nics=[nic("eth0", ip="10.0.0.11", network="a")])
    refused(
        oda_backend,
        OdaConflictError,
        "address 10.0.0.11 on network 'a' is already used by n1 (eth0)",
        lambda: oda.nodes.ensure("n2", nics=[nic("eth0", ip="10.0.0.11", network="a")]),
    )


def test_clients_never_take_the_gateway_address(cluster, oda_backend):
    refused(
        oda_backend,
        OdaConflictError,
        "address 10.0.0.1 of node node001 is the gateway of network 'cluster'",
        lambda: cluster.nodes.define_clients("node[001-004]", "cluster", "10.0.0.1"),
    )
    cluster.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.254")
    refused(
        oda_backend,
        OdaConflictError,
        "address 10.0.0.254 of node node004 is the gateway",
        lambda: cluster.nodes.define_clients("node[001-004]", "cluster", "10.0.0.251"),
    )


def test_a_network_cannot_shrink_away_from_its_nics(cluster, oda_backend):
    refused(
        oda_backend,
        OdaConflictError,
        "network 'cluster' cannot become 10.0.1.0/24: 1 NIC addresses would lie outside it, on head",
        lambda: cluster.networks.ensure("cluster", "10.0.1.0/24", gateway="10.0.1.1"),
    )


def test_a_network_in_use_is_not_removed_and_the_users_are_named(cluster, oda_backend):
    cluster.nodes.define_clients("node[1-2]", "cluster", "10.0.0.11")
    refused(
        oda_backend,
        OdaConflictError,
        "network 'cluster' is still used by 3 NICs, on head,node[1-2]",
        lambda: cluster.networks.remove("cluster"),
    )


def test_an_unused_network_is_removed_once(oda):
    oda.networks.ensure("spare", "10.9.0.0/16")
    assert oda.networks.remove("spare")[0] is True
    assert oda.networks.get("spare") is None
    assert oda.networks.remove("spare")[0] is False


def test_check_mode_reports_network_changes_and_keeps_nothing(oda, oda_backend):
    before = oda_backend.dump()
    assert oda.networks.ensure("spare", "10.9.0.0/16", check_mode=True)[0] is True
    assert oda_backend.dump() == before
    oda.networks.ensure("spare", "10.9.0.0/16")
    before = oda_backend.dump()
    changed, _before, after = oda.networks.ensure("spare", "10.9.0.0/16", mtu=9000, check_mode=True)
    assert (changed, after["mtu"]) == (True, 9000)
    assert oda.networks.remove("spare", check_mode=True)[0] is True
    assert oda_backend.dump() == before


# --- groups ------------------------------------------------------------------


def test_groups_are_ensured_listed_and_removed(cluster):
    assert cluster.groups.ensure("gpu", description="GPU nodes") == (
        True,
        None,
        {"name": "gpu", "description": "GPU nodes", "members": []},
    )
    assert cluster.groups.ensure("gpu")[0] is False
    assert cluster.groups.ensure("gpu", description="GPU nodes")[0] is False
    changed, before, after = cluster.groups.ensure("gpu", description="nodes with GPUs")
    assert (changed, before["description"], after["description"]) == (True, "GPU nodes", "nodes with GPUs")
    cluster.nodes.ensure("node1", groups=["gpu", "oscar_clients"])
    assert cluster.groups.members("gpu") == ["node1"]
    assert [g["name"] for g in cluster.groups.list()] == ["gpu", "oscar_clients", "oscar_server"]
    assert cluster.groups.get("oscar_server")["members"] == ["head"]
    assert cluster.groups.remove("gpu")[0] is True
    assert cluster.groups.remove("gpu")[0] is False
    # The group goes, its nodes stay.
    assert cluster.nodes.get("node1")["groups"] == ["oscar_clients"]


def test_names_that_differ_in_case_are_different_names_on_every_backend(oda):
    oda.groups.ensure("GPU", description="upper")
    oda.groups.ensure("gpu", description="lower")
    assert oda.groups.get("GPU")["description"] == "upper"
    assert oda.groups.get("gpu")["description"] == "lower"
    assert oda.groups.get("Gpu") is None


def test_members_of_an_unknown_group_are_not_found(oda):
    with pytest.raises(OdaNotFoundError, match="unknown group 'nothing'"):
        oda.groups.members("nothing")


def test_check_mode_keeps_groups_as_they_are(oda, oda_backend):
    before = oda_backend.dump()
    assert oda.groups.ensure("gpu", check_mode=True)[0] is True
    assert oda.groups.remove("oscar_server", check_mode=True)[0] is True
    assert oda_backend.dump() == before


@pytest.mark.parametrize("name", ["", "-x", "a b", "x/y"])
def test_bad_group_names_are_refused(oda, oda_backend, name):
    refused(
        oda_backend, OdaValidationError, "invalid group name '%s'" % name, lambda: oda.groups.ensure(name)
    )


# --- images ------------------------------------------------------------------


def test_images_are_ensured_and_updated(oda):
    changed, before, after = oda.images.ensure(
        "rocky9", distro="rocky-9", arch="x86_64", path="/images/rocky9/"
    )
    assert (changed, before) == (True, None)
    assert after == {
        "name": "rocky9",
        "distro": "rocky-9",
        "arch": "x86_64",
        "path": "/images/rocky9",
        "state": "defined",
    }
    assert oda.images.ensure("rocky9", path="/images/rocky9") == (False, after, after)
    assert oda.images.ensure("rocky9", arch="aarch64")[2]["arch"] == "aarch64"
    assert [i["name"] for i in oda.images.list()] == ["rocky9"]
    assert oda.images.get("other") is None


def test_an_image_path_must_be_absolute(oda, oda_backend):
    refused(
        oda_backend,
        OdaValidationError,
        "invalid image path 'images/x': expected an absolute path",
        lambda: oda.images.ensure("x", path="images/x"),
    )


def test_an_image_in_use_is_not_removed_and_its_nodes_are_named(cluster, oda_backend):
    cluster.nodes.define_clients("node[001-003]", "cluster", "10.0.0.11", image="rocky9")
    refused(
        oda_backend,
        OdaConflictError,
        "image 'rocky9' is still used by nodes node[001-003]",
        lambda: cluster.images.remove("rocky9"),
    )


def test_an_unused_image_is_removed_once_and_check_mode_keeps_it(oda, oda_backend):
    oda.images.ensure("old")
    before = oda_backend.dump()
    assert oda.images.remove("old", check_mode=True)[0] is True
    assert oda_backend.dump() == before
    assert oda.images.remove("old")[0] is True
    assert oda.images.remove("old")[0] is False


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
        "state": "defined",
        "excluded": False,
        "cpus": 64,
        "memory_mb": 262144,
        "arch": "x86_64",
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
    ],
)
def test_bad_node_values_are_refused_named_and_nothing_is_written(cluster, oda_backend, kwargs, error, text):
    refused(oda_backend, error, text, lambda: cluster.nodes.ensure("node1", **kwargs))


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


# --- packages, configuration, wizard steps -----------------------------------


def test_packages_are_registered_idempotently(oda):
    assert oda.packages.ensure("slurm", version="23.11", summary="workload manager")[0] is True
    assert oda.packages.ensure("slurm", version="23.11")[0] is False
    changed, before, after = oda.packages.ensure("slurm", version="24.05")
    assert (changed, before["version"], after["version"]) == (True, "23.11", "24.05")
    assert oda.packages.list() == [
        {
            "name": "slurm",
            "version": "24.05",
            "summary": "workload manager",
            "provides": [],
            "requires": [],
            "conflicts": [],
        }
    ]


def test_configuration_values_keep_their_type_and_are_idempotent(oda, oda_backend):
    oda.packages.ensure("slurm")
    partitions = [{"name": "batch", "nodes": "node[001-064]"}]
    assert oda.config.set("slurm", "partitions", partitions) == (True, None, partitions)
    assert oda.config.set("slurm", "partitions", partitions) == (False, partitions, partitions)
    oda.config.set("slurm", "max_time", 3600)
    oda.config.set("slurm", "accounting", False)
    assert oda.config.get("slurm") == {"partitions": partitions, "max_time": 3600, "accounting": False}
    assert oda.config.get("slurm", "max_time") == 3600
    assert oda.config.get("slurm", "unset") is None
    snapshot = oda_backend.dump()
    assert oda.config.set("slurm", "max_time", 60, check_mode=True) == (True, 3600, 60)
    assert oda_backend.dump() == snapshot
    assert oda.config.set("slurm", "max_time", None) == (True, 3600, None)
    assert "max_time" not in oda.config.get("slurm")


def test_configuration_of_an_unknown_package_or_a_bad_value_is_refused(oda, oda_backend):
    oda.packages.ensure("slurm")
    refused(oda_backend, OdaNotFoundError, "unknown package 'slurn'", lambda: oda.config.set("slurn", "x", 1))
    refused(
        oda_backend,
        OdaValidationError,
        "cannot be stored as JSON",
        lambda: oda.config.set("slurm", "x", {1j}),
    )
    refused(
        oda_backend,
        OdaValidationError,
        "invalid configuration key name 'a b'",
        lambda: oda.config.set("slurm", "a b", 1),
    )
    with pytest.raises(OdaNotFoundError, match="unknown package 'slurn'"):
        oda.config.get("slurn")


def test_wizard_steps_are_recorded_in_order_and_stamped_on_change(oda, oda_backend):
    changed, before, after = oda.steps.set("select_packages", "done")
    assert (changed, before, after["status"]) == (True, None, "done")
    assert after["updated_at"].endswith("Z")
    assert oda.steps.set("select_packages", "done") == (False, after, after)
    oda.steps.set("build_image", "running")
    snapshot = oda_backend.dump()
    assert oda.steps.set("build_image", "failed", check_mode=True)[2]["status"] == "failed"
    assert oda_backend.dump() == snapshot
    oda.steps.set("build_image", "done")
    assert [(s["name"], s["status"]) for s in oda.steps.list()] == [
        ("select_packages", "done"),
        ("build_image", "done"),
    ]
    refused(
        oda_backend, OdaValidationError, "invalid wizard step status 'ok'", lambda: oda.steps.set("x", "ok")
    )


# --- check mode everywhere ----------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda oda: oda.clusters.ensure("lab"),
        lambda oda: oda.clusters.ensure("oscar", description="changed"),
        lambda oda: oda.networks.ensure("ib", "192.168.0.0/24"),
        lambda oda: oda.networks.ensure("cluster", "10.0.0.0/24", mtu=9000),
        lambda oda: oda.networks.remove("spare"),
        lambda oda: oda.groups.ensure("gpu"),
        lambda oda: oda.groups.remove("oscar_clients"),
        lambda oda: oda.images.ensure("new"),
        lambda oda: oda.images.ensure("rocky9", arch="aarch64"),
        lambda oda: oda.images.remove("rocky9"),
        lambda oda: oda.nodes.ensure("node9", nics=[nic("eth0", "02:00:00:00:00:99", "10.0.0.99")]),
        lambda oda: oda.nodes.ensure("node1", groups=[], nics=[]),
        lambda oda: oda.nodes.remove("node1"),
        lambda oda: oda.nodes.set_state("node1", "dead"),
        lambda oda: oda.nodes.define_clients("node[1-8]", "cluster", "10.0.0.101"),
        lambda oda: oda.packages.ensure("slurm", version="24.05"),
        lambda oda: oda.config.set("slurm", "max_time", 60),
        lambda oda: oda.steps.set("build_image", "done"),
    ],
)
def test_every_write_in_check_mode_reports_a_change_and_keeps_nothing(cluster, oda_backend, write):
    cluster.networks.ensure("spare", "10.9.0.0/16")
    cluster.nodes.ensure("node1", groups=["oscar_clients"], nics=[nic("eth0", ip="10.0.0.11")])
    cluster.packages.ensure("slurm", version="23.11")
    cluster.config.set("slurm", "max_time", 3600)
    before = oda_backend.dump()
    assert write(_CheckMode(cluster)) is True
    assert oda_backend.dump() == before


class _CheckMode:
    """An Oda whose stores' methods all run with check_mode=True and return only 'changed'."""

    def __init__(self, oda):
        self._oda = oda

    def __getattr__(self, name):
        found = getattr(self._oda, name)
        if not callable(found):
            return _CheckMode(found)

        def checked(*args, **kwargs):
            return found(*args, check_mode=True, **kwargs)[0]

        return checked


# --- many writers at once ----------------------------------------------------

WORKERS = 16
NODES_PER_WORKER = 8


def _add_nodes(url, worker, start):
    """One process: open ODA (maybe creating it), then add its own 8 nodes, one transaction each."""
    start.wait()
    oda = Oda.open(url)
    try:
        oda.networks.ensure("cluster", "10.0.0.0/16")
        for index in range(NODES_PER_WORKER):
            number = worker * NODES_PER_WORKER + index + 1
            address = ipaddress.ip_address("10.0.1.0") + number
            oda.nodes.ensure(
                "node%03d" % number,
                groups=["oscar_clients"],
                nics=[nic("eth0", "02:00:%s" % address.packed.hex(":"), str(address))],
            )
    finally:
        oda.close()


def test_sixteen_processes_writing_at_once_lose_nothing(oda_backend):
    # fork starts 16 workers fast on a small machine; the parent has no open
    # connection to inherit.  tests/integration/test_oda_concurrency.py runs 64.
    context = multiprocessing.get_context("fork")
    start = context.Barrier(WORKERS)
    workers = [
        context.Process(target=_add_nodes, args=(oda_backend.url, worker, start)) for worker in range(WORKERS)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [process.exitcode for process in workers] == [0] * WORKERS
    oda = oda_backend.open()
    nodes = oda.nodes.list()
    assert len(nodes) == WORKERS * NODES_PER_WORKER
    assert len({n["nics"][0]["ip"] for n in nodes}) == WORKERS * NODES_PER_WORKER
    assert oda.groups.members("oscar_clients") == ["node%03d" % i for i in range(1, 129)]
    assert oda_backend.integrity_problems() == []
    assert oda.db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
    assert [g["name"] for g in oda.groups.list()] == ["oscar_clients", "oscar_server"]
    oda.close()

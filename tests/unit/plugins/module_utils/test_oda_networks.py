"""ODA's networks and clusters on every backend: addresses that hold together, refusals name the value."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaValidationError,
)
from oda_store_helpers import nic, refused

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

"""The address plan: names, addresses, MACs and capacity limits."""

import ipaddress

import pytest

from oscar_testbed import layout
from oscar_testbed.errors import CapacityError, TestbedError


def iface_ip(plan, host_name, network):
    return plan.host(host_name).interface(network).ip


@pytest.mark.parametrize(
    ("host_name", "network", "expected_ip"),
    [
        ("head", "public", "10.210.0.10"),
        ("head", "private", "10.211.0.1"),
        ("standby", "public", "10.210.0.11"),
        ("standby", "private", "10.211.0.2"),
        ("node001", "private", "10.211.0.11"),
        ("node002", "private", "10.211.0.12"),
        ("node010", "private", "10.211.0.20"),
        ("node100", "private", "10.211.0.110"),
    ],
)
def test_make_plan_gives_each_host_its_documented_address(host_name, network, expected_ip):
    plan = layout.make_plan("tb", 0, 100, standby=True)
    assert iface_ip(plan, host_name, network) == expected_ip


def test_compute_nodes_are_on_the_private_network_only():
    plan = layout.make_plan("tb", 0, 3, standby=True)
    for host in plan.hosts:
        if host.role == layout.COMPUTE:
            assert [i.network for i in host.interfaces] == ["private"]
        else:
            assert [i.network for i in host.interfaces] == ["public", "private"]


def test_hosts_come_in_order_head_standby_then_nodes():
    plan = layout.make_plan("tb", 0, 3, standby=True)
    assert [h.name for h in plan.hosts] == ["head", "standby", "node001", "node002", "node003"]
    assert [h.role for h in plan.hosts] == ["head", "standby", "compute", "compute", "compute"]
    assert [h.container for h in plan.hosts] == [
        "tb-head",
        "tb-standby",
        "tb-node001",
        "tb-node002",
        "tb-node003",
    ]


def test_plan_without_standby_has_no_standby_host():
    plan = layout.make_plan("tb", 0, 2)
    assert plan.host("standby") is None
    assert [h.name for h in plan.hosts] == ["head", "node001", "node002"]


@pytest.mark.parametrize("slot", [0, 1, 42, 255])
def test_slot_places_both_networks_in_their_own_subnets(slot):
    plan = layout.make_plan("tb", slot, 1, standby=True)
    assert layout.subnets_for_slot(slot) == (f"10.210.{slot}.0/24", f"10.211.{slot}.0/24")
    public, private = plan.network("public"), plan.network("private")
    assert (public.subnet, public.gateway) == (f"10.210.{slot}.0/24", f"10.210.{slot}.254")
    assert (private.subnet, private.gateway) == (f"10.211.{slot}.0/24", f"10.211.{slot}.254")
    assert public.prefixlen == private.prefixlen == 24
    assert iface_ip(plan, "head", "public") == f"10.210.{slot}.10"
    assert iface_ip(plan, "node001", "private") == f"10.211.{slot}.11"
    for host in plan.hosts:
        for iface in host.interfaces:
            subnet = ipaddress.ip_network(plan.network(iface.network).subnet)
            assert ipaddress.ip_address(iface.ip) in subnet


@pytest.mark.parametrize("slot", [-1, 256, 1000])
def test_slot_outside_the_address_space_is_refused(slot):
    with pytest.raises(CapacityError, match=str(slot)):
        layout.subnets_for_slot(slot)
    with pytest.raises(CapacityError):
        layout.make_plan("tb", slot, 1)


def test_network_names_carry_the_testbed_name():
    plan = layout.make_plan("ci-7", 3, 1)
    assert [(n.role, n.name) for n in plan.networks] == [
        ("public", "ci-7-public"),
        ("private", "ci-7-private"),
    ]


@pytest.mark.parametrize(
    ("route_out", "public_internal", "private_internal"),
    [(False, False, True), (True, False, False)],
)
def test_private_network_is_internal_unless_route_out(route_out, public_internal, private_internal):
    plan = layout.make_plan("tb", 0, 1, route_out=route_out)
    assert plan.network("public").internal is public_internal
    assert plan.network("private").internal is private_internal


def test_unknown_network_role_raises_key_error():
    plan = layout.make_plan("tb", 0, 1)
    with pytest.raises(KeyError):
        plan.network("storage")


@pytest.mark.parametrize(
    ("ip", "mac"),
    [
        ("10.211.0.11", "02:00:0a:d3:00:0b"),
        ("10.210.0.10", "02:00:0a:d2:00:0a"),
        ("10.210.255.254", "02:00:0a:d2:ff:fe"),
        ("0.0.0.0", "02:00:00:00:00:00"),
        ("255.255.255.255", "02:00:ff:ff:ff:ff"),
    ],
)
def test_mac_for_is_02_00_followed_by_the_ipv4_bytes(ip, mac):
    assert layout.mac_for(ip) == mac


def test_every_interface_mac_reads_back_to_its_own_address():
    plan = layout.make_plan("tb", 9, 5, standby=True)
    for host in plan.hosts:
        for iface in host.interfaces:
            octets = iface.mac.split(":")
            assert octets[:2] == ["02", "00"]
            assert str(ipaddress.IPv4Address(bytes(int(o, 16) for o in octets[2:]))) == iface.ip


def all_interfaces(*plans):
    return [iface for plan in plans for host in plan.hosts for iface in host.interfaces]


def test_full_plan_has_unique_addresses_and_macs_inside_the_compute_range():
    plan = layout.make_plan("tb", 0, layout.MAX_COMPUTE_NODES, standby=True)
    ifaces = all_interfaces(plan)
    assert len(ifaces) == 2 * 2 + 243
    assert len({i.ip for i in ifaces}) == len(ifaces)
    assert len({i.mac for i in ifaces}) == len(ifaces)
    compute_ips = [h.interface("private").ip for h in plan.hosts if h.role == layout.COMPUTE]
    last_octets = [int(ip.rsplit(".", 1)[1]) for ip in compute_ips]
    assert min(last_octets) == 11
    assert max(last_octets) == 253
    gateways = {n.gateway for n in plan.networks}
    assert not gateways & {i.ip for i in ifaces}


def test_two_slots_share_no_address_or_mac():
    first = all_interfaces(layout.make_plan("one", 0, 243, standby=True))
    second = all_interfaces(layout.make_plan("two", 1, 243, standby=True))
    assert not {i.ip for i in first} & {i.ip for i in second}
    assert not {i.mac for i in first} & {i.mac for i in second}


@pytest.mark.parametrize(
    ("index", "width", "name"),
    [
        (1, 3, "node001"),
        (42, 3, "node042"),
        (243, 3, "node243"),
        (7, 2, "node07"),
        (1000, 3, "node1000"),
    ],
)
def test_compute_name_pads_the_index(index, width, name):
    assert layout.compute_name(index, width=width) == name


def test_largest_plan_holds_243_compute_nodes():
    plan = layout.make_plan("tb", 0, 243)
    assert layout.MAX_COMPUTE_NODES == 243
    assert plan.compute_nodes == 243
    assert plan.hosts[-1].name == "node243"
    assert plan.hosts[-1].management_ip == "10.211.0.253"


def test_one_node_more_than_fits_raises_capacity_error_naming_the_count():
    with pytest.raises(CapacityError, match=r"244 compute nodes .*at most 243"):
        layout.make_plan("tb", 0, 244)


@pytest.mark.parametrize("count", [-1, -50])
def test_negative_node_count_raises_capacity_error(count):
    with pytest.raises(CapacityError, match=str(count)):
        layout.make_plan("tb", 0, count)


def test_zero_compute_nodes_is_a_head_only_plan():
    plan = layout.make_plan("tb", 0, 0)
    assert [h.name for h in plan.hosts] == ["head"]


@pytest.mark.parametrize(
    "name",
    ["Oscar", "oscaR", "1abc", "a_b", "a" * 25, "", None, "-abc", "a b", "a.b", "ä"],
)
def test_validate_name_rejects_names_unfit_for_podman_objects(name):
    with pytest.raises(TestbedError, match="invalid testbed name"):
        layout.validate_name(name)


@pytest.mark.parametrize("name", ["a", "oscar", "a" * 24, "ci-run-7", "x1", "node-"])
def test_validate_name_accepts_and_returns_good_names(name):
    assert layout.validate_name(name) == name


def test_make_plan_validates_the_name():
    with pytest.raises(TestbedError):
        layout.make_plan("Bad_Name", 0, 1)


@pytest.mark.parametrize("key", ["head", "tb-head", "node002", "tb-node002", "standby", "tb-standby"])
def test_plan_host_finds_a_host_by_name_or_container(key):
    plan = layout.make_plan("tb", 0, 2, standby=True)
    found = plan.host(key)
    assert found is not None
    assert key in (found.name, found.container)


@pytest.mark.parametrize("key", ["node003", "tb-node003", "other-head", ""])
def test_plan_host_returns_none_for_unknown_hosts(key):
    assert layout.make_plan("tb", 0, 2, standby=True).host(key) is None


@pytest.mark.parametrize(
    ("host_name", "expected"),
    [
        ("head", "10.210.5.10"),
        ("standby", "10.210.5.11"),
        ("node001", "10.211.5.11"),
        ("node002", "10.211.5.12"),
    ],
)
def test_management_ip_is_public_when_present_else_private(host_name, expected):
    plan = layout.make_plan("tb", 5, 2, standby=True)
    assert plan.host(host_name).management_ip == expected


def test_host_interface_is_none_for_a_network_it_is_not_on():
    plan = layout.make_plan("tb", 0, 1)
    assert plan.host("node001").interface("public") is None


def test_plan_round_trips_through_to_dict():
    plan = layout.make_plan("tb", 17, 6, standby=True, route_out=True)
    state = plan.to_dict()
    assert state == {
        "name": "tb",
        "slot": 17,
        "compute_nodes": 6,
        "standby": True,
        "route_out": True,
        "vms": 0,
        "vm_disk_size": "8G",
    }
    assert (
        layout.make_plan(
            state["name"],
            state["slot"],
            state["compute_nodes"],
            standby=state["standby"],
            route_out=state["route_out"],
        )
        == plan
    )

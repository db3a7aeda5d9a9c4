"""oscar.cluster.oda_network, run for real on SQLite."""

from ansible_collections.oscar.cluster.plugins.modules import oda_network, oda_node

PRIVATE = {"name": "private", "cidr": "10.211.0.0/24", "gateway": "10.211.0.1", "domain": "cluster.lan"}


def test_a_network_is_created_then_left_alone(run_module):
    first = run_module(oda_network, **PRIVATE)
    assert first["changed"] is True
    assert first["network"] == dict(PRIVATE, dhcp_start=None, dhcp_end=None, mtu=None, cluster="oscar")
    second = run_module(oda_network, **PRIVATE)
    assert (second["changed"], second["network"]) == (False, first["network"])


def test_options_left_out_keep_their_values_and_diff_shows_the_change(run_module):
    run_module(oda_network, **PRIVATE)
    answer = run_module(oda_network, diff=True, name="private", cidr="10.211.0.0/24", mtu=9000)
    assert answer["changed"] is True
    assert answer["network"]["gateway"] == "10.211.0.1"
    assert answer["diff"]["before"]["mtu"] is None
    assert answer["diff"]["after"]["mtu"] == 9000
    assert answer["diff"]["before_header"] == "network private"


def test_check_mode_reports_the_change_and_writes_nothing(run_module, dump, db_path):
    assert run_module(oda_network, check_mode=True, **PRIVATE)["changed"] is True
    assert not db_path.exists()
    run_module(oda_network, **PRIVATE)
    before = dump()
    answer = run_module(oda_network, check_mode=True, name="private", cidr="10.211.0.0/24", mtu=1400)
    assert (answer["changed"], answer["network"]["mtu"]) == (True, 1400)
    assert dump() == before


def test_absent_removes_the_network_once(run_module):
    run_module(oda_network, **PRIVATE)
    answer = run_module(oda_network, diff=True, name="private", state="absent")
    assert (answer["changed"], answer["network"]) == (True, None)
    assert answer["diff"]["before"]["cidr"] == "10.211.0.0/24"
    assert answer["diff"]["after"] == {}
    assert run_module(oda_network, name="private", state="absent")["changed"] is False


def test_bad_values_fail_naming_them_and_change_nothing(run_module, refused):
    run_module(oda_network, **PRIVATE)
    refused("invalid network '10.211.0.1/24'", oda_network, name="private", cidr="10.211.0.1/24")
    refused(
        "gateway 10.99.0.1 is outside network 10.211.0.0/24 (network 'private')",
        oda_network,
        name="private",
        cidr="10.211.0.0/24",
        gateway="10.99.0.1",
    )
    refused("state is present but all of the following are missing: cidr", oda_network, name="other")


def test_a_network_in_use_is_not_removed(run_module, refused):
    run_module(oda_network, **PRIVATE)
    run_module(oda_node, name="node001", nics=[{"name": "eth0", "ip": "10.211.0.11", "network": "private"}])
    refused(
        "network 'private' is still used by 1 NIC, on node001", oda_network, name="private", state="absent"
    )

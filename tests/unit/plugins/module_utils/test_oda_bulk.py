"""ODA's bulk node API (nodes.update, assign_macs, remove_many, expand) and what open() reports.

On SQLite, MariaDB and PostgreSQL: every call is one transaction, refusals name the value
and write nothing, check mode reports exactly and keeps nothing.
"""

import time

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_db
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_nodes import changed_nodes
from ansible_collections.oscar.cluster.plugins.module_utils.oda_schema import SCHEMA_VERSION
from ansible_collections.oscar.cluster.plugins.module_utils.oda_transfer import dump_text, import_data


@pytest.fixture
def url(oda_url):
    """A new, empty database of each backend in turn (oda_url comes from conftest.py)."""
    return oda_url


@pytest.fixture
def oda(url):
    database = Oda.open(url)
    yield database
    database.close()


@pytest.fixture
def cluster(oda):
    """Sixteen clients node01..node16 on network 'cluster' (10.0.0.11 up), an image and a gpu group."""
    oda.networks.ensure("cluster", "10.0.0.0/24", domain="cluster.lan")
    oda.images.ensure("rocky9")
    oda.groups.ensure("gpu")
    oda.nodes.define_clients("node[01-16]", "cluster", "10.0.0.11")
    return oda


def refused(oda, error, text, call):
    """call() raises error with text in its message, and the database is unchanged."""
    before = dump_text(oda)
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)
    assert dump_text(oda) == before


def mac(number):
    return "02:00:00:00:00:%02x" % number


# --- open ------------------------------------------------------------------------


def test_open_reports_the_schema_versions_and_whether_it_created_the_defaults(url):
    first = Oda.open(url)
    assert first.schema_versions == (0, SCHEMA_VERSION)
    assert first.created_defaults is True
    first.close()
    second = Oda.open(url)
    assert second.schema_versions == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert second.created_defaults is False
    second.close()


# --- expand_nodes ----------------------------------------------------------------


def test_expand_nodes_gives_stored_and_new_names_and_reads_groups(cluster):
    assert cluster.nodes.expand("new[1-3],node01") == ["new1", "new2", "new3", "node01"]
    cluster.nodes.update("node[01-02]", add_groups=["gpu"])
    assert cluster.nodes.expand("@gpu") == ["node01", "node02"]


@pytest.mark.parametrize(
    ("expression", "error", "text"),
    [
        ("node[1-3", OdaValidationError, "invalid node set 'node[1-3': unmatched '['"),
        ("@nosuch", OdaNotFoundError, "unknown group 'nosuch'"),
    ],
)
def test_expand_nodes_refuses_bad_sets(cluster, expression, error, text):
    with pytest.raises(error, match=text.replace("[", r"\[")):
        cluster.nodes.expand(expression)


# --- update_nodes ----------------------------------------------------------------


def test_update_nodes_changes_many_nodes_at_once_then_nothing(cluster):
    changed, names = changed_nodes(
        cluster.nodes.update(
            "node[01-08]",
            image="rocky9",
            state="up",
            excluded=True,
            add_groups=["gpu"],
            remove_groups=["oscar_clients"],
        )
    )
    assert changed is True
    assert names == ["node%02d" % number for number in range(1, 9)]
    for node in cluster.nodes.list("node[01-08]"):
        assert (node["image"], node["state"], node["excluded"]) == ("rocky9", "up", True)
        assert node["groups"] == ["gpu"]
        assert node["nics"][0]["ip"].startswith("10.0.0.")
    untouched = cluster.nodes.get("node09")
    assert (untouched["image"], untouched["state"], untouched["groups"]) == (
        None,
        "defined",
        ["oscar_clients"],
    )
    assert changed_nodes(
        cluster.nodes.update("node[01-08]", image="rocky9", state="up", add_groups=["gpu"])
    ) == (False, [])


def test_update_nodes_reports_only_the_nodes_that_changed(cluster):
    cluster.nodes.update("node[01-04]", state="up")
    assert changed_nodes(cluster.nodes.update("node[01-08]", state="up")) == (
        True,
        ["node05", "node06", "node07", "node08"],
    )


def test_update_nodes_in_check_mode_reports_and_keeps_nothing(cluster):
    before = dump_text(cluster)
    assert cluster.nodes.update("node[01-16]", state="down", check_mode=True)[0] is True
    assert dump_text(cluster) == before


@pytest.mark.parametrize(
    ("pattern", "kwargs", "error", "text"),
    [
        ("node[15-18]", {"state": "up"}, OdaNotFoundError, "unknown nodes node[17-18]"),
        ("node[16-17]", {"state": "up"}, OdaNotFoundError, "unknown node 'node17'"),
        ("node[01-04]", {"image": "nosuch"}, OdaNotFoundError, "unknown image 'nosuch'"),
        ("node[01-04]", {"add_groups": ["nosuch"]}, OdaNotFoundError, "unknown group 'nosuch'"),
        ("node[01-04]", {"remove_groups": ["nosuch"]}, OdaNotFoundError, "unknown group 'nosuch'"),
        ("node[01-04]", {"state": "asleep"}, OdaValidationError, "invalid node state 'asleep'"),
        ("node[01-04]", {"excluded": "maybe"}, OdaValidationError, "invalid excluded flag 'maybe'"),
        (
            "node[01-04]",
            {"add_groups": ["gpu"], "remove_groups": ["gpu"]},
            OdaValidationError,
            "'gpu' is both",
        ),
        ("node[01-04", {"state": "up"}, OdaValidationError, "invalid node set 'node[01-04'"),
        (["node01", "Node01"], {"state": "up"}, OdaValidationError, "'node01' is listed twice"),
    ],
)
def test_update_nodes_refuses_bad_input_and_writes_nothing(cluster, pattern, kwargs, error, text):
    refused(cluster, error, text, lambda: cluster.nodes.update(pattern, **kwargs))


# --- assign_macs -----------------------------------------------------------------


def test_assign_macs_sets_macs_keeps_addresses_and_may_swap_them(cluster):
    changed, names = changed_nodes(
        cluster.nodes.assign_macs({"node01": mac(1), "node02": "02-00-00-00-00-02"})
    )
    assert (changed, names) == (True, ["node01", "node02"])
    assert cluster.nodes.get("node01")["nics"] == [
        {"name": "eth0", "mac": mac(1), "ip": "10.0.0.11", "network": "cluster"}
    ]
    assert changed_nodes(cluster.nodes.assign_macs({"node01": mac(1), "node02": mac(2)})) == (False, [])
    assert changed_nodes(cluster.nodes.assign_macs({"node01": mac(2), "node02": mac(1)})) == (
        True,
        ["node01", "node02"],
    )
    assert cluster.nodes.get("node01")["nics"][0]["mac"] == mac(2)
    assert cluster.nodes.get("node02")["nics"][0]["mac"] == mac(1)


def test_assign_macs_adds_a_missing_nic_and_keeps_the_others(cluster):
    assert cluster.nodes.assign_macs({"node03": mac(3)}, nic="ib0")[0] is True
    nics = cluster.nodes.get("node03")["nics"]
    assert nics == [
        {"name": "eth0", "mac": None, "ip": "10.0.0.13", "network": "cluster"},
        {"name": "ib0", "mac": mac(3), "ip": None, "network": None},
    ]


def test_assign_macs_in_check_mode_keeps_nothing(cluster):
    before = dump_text(cluster)
    assert changed_nodes(cluster.nodes.assign_macs({"node01": mac(1)}, check_mode=True)) == (True, ["node01"])
    assert dump_text(cluster) == before


@pytest.mark.parametrize(
    ("macs", "error", "text"),
    [
        ({"node01": mac(1), "node99": mac(9)}, OdaNotFoundError, "unknown node 'node99'"),
        ({"node01": "02:00:00:00:00"}, OdaValidationError, "invalid MAC address '02:00:00:00:00'"),
        ({"node01": "01:00:5e:00:00:01"}, OdaValidationError, "multicast"),
        ({"node01": mac(1), "Node01": mac(2)}, OdaValidationError, "'node01' is listed twice"),
        ({"node_1": mac(1)}, OdaValidationError, "invalid host name 'node_1'"),
        ({"node01": mac(5), "node02": mac(5)}, OdaConflictError, "MAC 02:00:00:00:00:05 is given to both"),
        ({"node03": mac(4)}, OdaConflictError, "MAC 02:00:00:00:00:04 is already used by node04 (eth0)"),
        ([("node01", mac(1))], OdaValidationError, "expected node name -> MAC"),
    ],
)
def test_assign_macs_refuses_bad_input_and_writes_nothing(cluster, macs, error, text):
    cluster.nodes.assign_macs({"node04": mac(4)})
    refused(cluster, error, text, lambda: cluster.nodes.assign_macs(macs))


# --- remove_many -----------------------------------------------------------------


def test_remove_nodes_removes_stored_names_with_their_nics_and_memberships(cluster):
    assert changed_nodes(cluster.nodes.remove_many("node[13-20]", check_mode=True))[1] == [
        "node13",
        "node14",
        "node15",
        "node16",
    ]
    assert len(cluster.nodes.list()) == 16
    assert changed_nodes(cluster.nodes.remove_many("node[13-20]"))[1] == [
        "node13",
        "node14",
        "node15",
        "node16",
    ]
    assert [node["name"] for node in cluster.nodes.list()] == ["node%02d" % n for n in range(1, 13)]
    assert cluster.groups.members("oscar_clients")[-1] == "node12"
    assert cluster.db.query_one("SELECT COUNT(*) AS n FROM nics")["n"] == 12
    assert changed_nodes(cluster.nodes.remove_many("node[13-20]"))[1] == []


def test_remove_nodes_refuses_a_bad_node_set(cluster):
    refused(
        cluster,
        OdaValidationError,
        "invalid node set 'node[1-'",
        lambda: cluster.nodes.remove_many("node[1-"),
    )


# --- linear cost -------------------------------------------------------------------


def _rows_read(monkeypatch, call):
    """How many rows call() reads from the database: what a quadratic write gives away."""
    read = []
    original = oda_db._rows_as_dicts

    def counting(cursor):
        rows = original(cursor)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(oda_db, "_rows_as_dicts", counting)
    call()
    monkeypatch.setattr(oda_db, "_rows_as_dicts", original)
    return sum(read)


def _definition(count):
    return {
        "networks": [{"name": "cluster", "cidr": "10.0.0.0/16"}],
        "nodes": [
            {
                "name": "n%d" % index,
                "nics": [
                    {"name": "eth0", "ip": "10.0.%d.%d" % divmod(index + 10, 250), "network": "cluster"}
                ],
            }
            for index in range(count)
        ],
    }


def test_importing_nodes_reads_rows_in_proportion_to_the_nodes(oda, monkeypatch):
    # Each node used to read every NIC stored before it: 4 times the nodes, 16 times the rows.
    small = _rows_read(monkeypatch, lambda: import_data(oda, _definition(100)))
    oda.nodes.remove_many("n[0-99]")
    large = _rows_read(monkeypatch, lambda: import_data(oda, _definition(400)))
    assert large < 5 * small


def test_node_names_are_checked_for_repeats_in_linear_time(oda):
    oda.networks.ensure("cluster", "10.0.0.0/8")
    started = time.monotonic()
    with pytest.raises(OdaValidationError, match="node name 'n1' is listed twice"):
        oda.nodes.define_clients(["n%d" % index for index in range(1, 60001)] + ["n1"], "cluster", "10.0.0.1")
    # A list lookup per name took about ten seconds here; a dict takes a fraction of one.
    assert time.monotonic() - started < 3

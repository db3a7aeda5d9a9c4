"""oscar.cluster.oda_package: relations and per-node and per-image status, run for real on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.modules import oda_clients, oda_image, oda_network, oda_package


@pytest.fixture
def cluster(run_module):
    run_module(oda_network, name="private", cidr="10.211.0.0/24")
    run_module(oda_image, name="debian12")
    run_module(oda_clients, names="node[1-3]", network="private", start_ip="10.211.0.11")
    return run_module


def test_a_package_is_registered_with_relations_then_left_alone(run_module):
    args = {"name": "mpich", "version": "4.2", "provides": ["mpi"], "conflicts": ["openmpi"]}
    first = run_module(oda_package, **args)
    assert first["changed"] is True
    assert first["package"] == {
        "name": "mpich",
        "version": "4.2",
        "summary": None,
        "provides": ["mpi"],
        "requires": [],
        "conflicts": ["openmpi"],
    }
    assert first["statuses"] == []
    assert run_module(oda_package, **args)["changed"] is False


def test_status_goes_to_a_node_set_and_images_in_one_task(cluster):
    cluster(oda_package, name="openmpi", provides=["mpi"])
    answer = cluster(
        oda_package,
        diff=True,
        name="openmpi",
        status="should_be_installed",
        nodes="@oscar_clients",
        images=["debian12"],
    )
    assert answer["changed"] is True
    assert answer["statuses"] == [
        {"node": "node1", "image": None, "status": "should_be_installed"},
        {"node": "node2", "image": None, "status": "should_be_installed"},
        {"node": "node3", "image": None, "status": "should_be_installed"},
        {"node": None, "image": "debian12", "status": "should_be_installed"},
    ]
    assert answer["diff"]["before"]["statuses"] == {}
    assert answer["diff"]["after"]["statuses"]["node node2"] == "should_be_installed"
    again = cluster(
        oda_package, name="openmpi", status="should_be_installed", nodes="node[1-3]", images=["debian12"]
    )
    assert again["changed"] is False
    one = cluster(oda_package, name="openmpi", status="installed", nodes=["node2"])
    assert [s["status"] for s in one["statuses"]] == [
        "should_be_installed",
        "installed",
        "should_be_installed",
        "should_be_installed",
    ]


def test_check_mode_reports_and_writes_nothing(cluster, dump):
    cluster(oda_package, name="openmpi")
    before = dump()
    answer = cluster(
        oda_package, check_mode=True, name="openmpi", version="5.0", status="installed", nodes="node1"
    )
    assert answer["changed"] is True
    assert (answer["package"]["version"], answer["statuses"][0]["status"]) == ("5.0", "installed")
    assert dump() == before


def test_a_conflict_on_a_node_fails_naming_both_and_writes_nothing(cluster, refused):
    cluster(oda_package, name="openmpi", provides=["mpi"], status="installed", nodes="node[1-2]")
    cluster(oda_package, name="mpich", conflicts=["mpi"])
    refused(
        "package 'mpich' conflicts with 'mpi', which package 'openmpi' provides, on node node2",
        oda_package,
        name="mpich",
        status="should_be_installed",
        nodes="node[2-3]",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"status": "installed"}, "status 'installed' needs nodes or images to apply to"),
        ({"nodes": "node1"}, "nodes and images need a status to give them"),
        ({"status": "installed", "nodes": "node9"}, "unknown node 'node9'"),
        ({"status": "installed", "nodes": "node[1-"}, "invalid node set 'node[1-'"),
        ({"status": "installed", "images": ["sles"]}, "unknown image 'sles'"),
        ({"status": "done", "nodes": "node1"}, "value of status must be one of"),
        ({"requires": ["openmpi"]}, "package 'openmpi' cannot require itself"),
        ({"state": "absent", "status": "installed", "nodes": "node1"}, "status needs state=present"),
    ],
)
def test_bad_input_fails_naming_the_value_and_writes_nothing(cluster, refused, args, message):
    cluster(oda_package, name="openmpi")
    refused(message, oda_package, name="openmpi", **args)


def test_a_package_is_removed_only_when_nothing_wants_it(cluster, refused):
    cluster(oda_package, name="openmpi", status="installed", nodes="node1")
    refused(
        "package 'openmpi' is still installed or to be installed on nodes node1",
        oda_package,
        name="openmpi",
        state="absent",
    )
    cluster(oda_package, name="openmpi", status="uninstalled", nodes="node1")
    answer = cluster(oda_package, diff=True, name="openmpi", state="absent")
    assert (answer["changed"], answer["package"], answer["statuses"]) == (True, None, [])
    assert answer["diff"]["before"]["statuses"] == {"node node1": "uninstalled"}
    assert cluster(oda_package, name="openmpi", state="absent")["changed"] is False

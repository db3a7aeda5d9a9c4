"""ODA's package API on every backend: relations, per-node and per-image status, conflicts, removal."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_nodes import changed_nodes
from ansible_collections.oscar.cluster.plugins.module_utils.oda_packages import PACKAGE_STATUSES


@pytest.fixture
def oda(oda_url):
    """ODA on a new database of each backend in turn (oda_url comes from conftest.py)."""
    database = Oda.open(oda_url)
    yield database
    database.close()


@pytest.fixture
def cluster(oda):
    """Three nodes in oscar_clients, one image, and MPI packages that exclude each other."""
    oda.networks.ensure("cluster", "10.0.0.0/24")
    oda.images.ensure("rocky9")
    for index in (1, 2, 3):
        oda.nodes.ensure("node%d" % index, groups=["oscar_clients"])
    oda.packages.ensure("openmpi", version="4.1", provides=["mpi"])
    oda.packages.ensure("mpich", version="4.2", provides=["mpi"], conflicts=["openmpi"])
    oda.packages.ensure("lam", conflicts=["mpi"])
    oda.packages.ensure("slurm")
    return oda


def snapshot(oda):
    """Everything the package API can show: equal snapshots mean nothing was written."""
    return (
        oda.packages.list(),
        oda.packages.list_statuses(),
        [oda.config.get(p["name"]) for p in oda.packages.list()],
    )


def refused(oda, error, text, call):
    """call() raises error with text in its message, and no package data changed."""
    before = snapshot(oda)
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)
    assert snapshot(oda) == before


def status_of(oda, package, **where):
    rows = [
        row
        for row in oda.packages.list_statuses(package=package)
        if all(row[key] == value for key, value in where.items())
    ]
    assert len(rows) <= 1
    return rows[0]["status"] if rows else None


# --- packages and their relations ----------------------------------------------


def test_a_package_is_registered_with_its_relations_idempotently(oda):
    changed, before, after = oda.packages.ensure(
        "openmpi", version="4.1", summary="MPI", provides=["mpi", "mpi-3"], requires=["libfabric"]
    )
    assert (changed, before) == (True, None)
    assert after == {
        "name": "openmpi",
        "version": "4.1",
        "summary": "MPI",
        "provides": ["mpi", "mpi-3"],
        "requires": ["libfabric"],
        "conflicts": [],
    }
    assert oda.packages.ensure("openmpi", provides=["mpi-3", "mpi"], requires=["libfabric"]) == (
        False,
        after,
        after,
    )
    assert oda.packages.get("openmpi") == after


def test_a_relation_list_given_replaces_that_kind_and_one_left_out_is_kept(oda):
    oda.packages.ensure("openmpi", provides=["mpi", "mpi-3"], requires=["libfabric"])
    changed, before, after = oda.packages.ensure("openmpi", provides=["mpi"], conflicts=["mpich"])
    assert changed is True
    assert (before["provides"], after["provides"]) == (["mpi", "mpi-3"], ["mpi"])
    assert after["requires"] == ["libfabric"]
    assert after["conflicts"] == ["mpich"]
    changed, _before, after = oda.packages.ensure("openmpi", requires=[])
    assert (changed, after["requires"], after["provides"]) == (True, [], ["mpi"])


def test_version_and_summary_left_out_are_kept(oda):
    oda.packages.ensure("slurm", version="23.11", summary="workload manager")
    changed, _before, after = oda.packages.ensure("slurm", provides=["scheduler"])
    assert changed is True
    assert (after["version"], after["summary"]) == ("23.11", "workload manager")


def test_list_packages_gives_relations_in_name_order(oda):
    oda.packages.ensure("slurm", requires=["munge"])
    oda.packages.ensure("munge")
    assert [(p["name"], p["requires"]) for p in oda.packages.list()] == [("munge", []), ("slurm", ["munge"])]
    assert oda.packages.get("nosuch") is None


def test_package_changes_in_check_mode_are_reported_and_not_kept(oda):
    oda.packages.ensure("openmpi", provides=["mpi"])
    before = snapshot(oda)
    changed, old, new = oda.packages.ensure("openmpi", provides=["mpi", "mpi-3"], check_mode=True)
    assert (changed, old["provides"], new["provides"]) == (True, ["mpi"], ["mpi", "mpi-3"])
    assert oda.packages.ensure("hpl", check_mode=True)[0] is True
    assert snapshot(oda) == before


@pytest.mark.parametrize(
    ("arguments", "error", "text"),
    [
        ({"requires": ["slurm"]}, OdaValidationError, "package 'slurm' cannot require itself"),
        ({"conflicts": ["slurm"]}, OdaValidationError, "package 'slurm' cannot conflict with itself"),
        ({"provides": ["bad name"]}, OdaValidationError, "invalid package name 'bad name'"),
        ({"requires": "munge"}, OdaValidationError, "invalid package list 'munge'"),
    ],
)
def test_bad_relations_are_refused_naming_the_value(oda, arguments, error, text):
    oda.packages.ensure("slurm", requires=["munge"])
    refused(oda, error, text, lambda: oda.packages.ensure("slurm", **arguments))


# --- status on nodes and images ------------------------------------------------


def test_status_on_a_node_is_recorded_changed_and_forgotten(cluster):
    assert cluster.packages.set_status("slurm", "should_be_installed", node="node1") == (
        True,
        None,
        "should_be_installed",
    )
    assert cluster.packages.set_status("slurm", "should_be_installed", node="node1") == (
        False,
        "should_be_installed",
        "should_be_installed",
    )
    assert cluster.packages.set_status("slurm", "installed", node="NODE1") == (
        True,
        "should_be_installed",
        "installed",
    )
    assert status_of(cluster, "slurm", node="node1") == "installed"
    assert cluster.packages.set_status("slurm", None, node="node1") == (True, "installed", None)
    assert status_of(cluster, "slurm", node="node1") is None
    assert cluster.packages.set_status("slurm", None, node="node1") == (False, None, None)


def test_status_on_an_image_is_kept_apart_from_the_nodes(cluster):
    cluster.packages.set_status("slurm", "installed", image="rocky9")
    assert cluster.packages.list_statuses(package="slurm") == [
        {"package": "slurm", "node": None, "image": "rocky9", "status": "installed"}
    ]


def test_every_status_is_accepted(cluster):
    for status in PACKAGE_STATUSES:
        assert cluster.packages.set_status("slurm", status, node="node2")[2] == status


def test_status_in_check_mode_is_reported_and_not_kept(cluster):
    cluster.packages.set_status("slurm", "should_be_installed", node="node1")
    before = snapshot(cluster)
    assert cluster.packages.set_status("slurm", "installed", node="node1", check_mode=True) == (
        True,
        "should_be_installed",
        "installed",
    )
    assert cluster.packages.set_status("slurm", "installed", image="rocky9", check_mode=True)[0] is True
    assert cluster.packages.set_status("slurm", None, node="node1", check_mode=True)[0] is True
    assert snapshot(cluster) == before


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (
            lambda oda: oda.packages.set_status("slurm", "done", node="node1"),
            OdaValidationError,
            "package status 'done'",
        ),
        (
            lambda oda: oda.packages.set_status("slurn", "installed", node="node1"),
            OdaNotFoundError,
            "package 'slurn'",
        ),
        (
            lambda oda: oda.packages.set_status("slurm", "installed", node="node9"),
            OdaNotFoundError,
            "node 'node9'",
        ),
        (
            lambda oda: oda.packages.set_status("slurm", "installed", image="sles"),
            OdaNotFoundError,
            "image 'sles'",
        ),
        (
            lambda oda: oda.packages.set_status("slurm", "installed", node="no_de"),
            OdaValidationError,
            "'no_de'",
        ),
        (lambda oda: oda.packages.set_status("slurm", "installed"), OdaValidationError, "give exactly one"),
        (
            lambda oda: oda.packages.set_status("slurm", "installed", node="node1", image="rocky9"),
            OdaValidationError,
            "give exactly one",
        ),
    ],
)
def test_bad_status_writes_are_refused_naming_the_value(cluster, call, error, text):
    refused(cluster, error, text, lambda: call(cluster))


# --- conflicts -----------------------------------------------------------------


def test_conflicting_packages_cannot_both_be_wanted_on_a_node(cluster):
    cluster.packages.set_status("openmpi", "installed", node="node1")
    refused(
        cluster,
        OdaConflictError,
        "package 'mpich' conflicts with package 'openmpi' on node node1",
        lambda: cluster.packages.set_status("mpich", "should_be_installed", node="node1"),
    )


def test_a_conflict_with_a_provided_capability_names_the_provider(cluster):
    cluster.packages.set_status("mpich", "installed", image="rocky9")
    refused(
        cluster,
        OdaConflictError,
        "package 'lam' conflicts with 'mpi', which package 'mpich' provides, on image rocky9",
        lambda: cluster.packages.set_status("lam", "installed", image="rocky9"),
    )


def test_a_conflict_is_found_whichever_package_came_first(cluster):
    cluster.packages.set_status("mpich", "installed", node="node1")
    refused(
        cluster,
        OdaConflictError,
        "package 'mpich' conflicts with package 'openmpi' on node node1",
        lambda: cluster.packages.set_status("openmpi", "installed", node="node1"),
    )


def test_conflicting_packages_may_live_on_different_nodes_or_not_wanted(cluster):
    cluster.packages.set_status("openmpi", "installed", node="node1")
    cluster.packages.set_status("mpich", "installed", node="node2")
    cluster.packages.set_status("mpich", "should_be_uninstalled", node="node1")
    cluster.packages.set_status("lam", "failed", node="node1")
    assert cluster.packages.set_status("mpich", "uninstalled", node="node1")[0] is True
    assert status_of(cluster, "mpich", node="node1") == "uninstalled"


def test_a_new_relation_that_would_break_a_node_is_refused(cluster):
    cluster.packages.set_status("openmpi", "installed", node="node3")
    cluster.packages.set_status("slurm", "installed", node="node3")
    refused(
        cluster,
        OdaConflictError,
        "package 'slurm' conflicts with 'mpi', which package 'openmpi' provides, on node node3",
        lambda: cluster.packages.ensure("slurm", conflicts=["mpi"]),
    )
    cluster.packages.ensure("hwloc", conflicts=["scheduler"])
    cluster.packages.set_status("hwloc", "installed", node="node3")
    refused(
        cluster,
        OdaConflictError,
        "package 'hwloc' conflicts with 'scheduler', which package 'slurm' provides, on node node3",
        lambda: cluster.packages.ensure("slurm", provides=["scheduler"]),
    )


# --- listing statuses ----------------------------------------------------------


def test_statuses_are_filtered_by_package_node_set_group_and_image(cluster):
    cluster.groups.ensure("gpu")
    cluster.nodes.ensure("node3", groups=["oscar_clients", "gpu"])
    for node in ("node1", "node2", "node3"):
        cluster.packages.set_status("slurm", "installed", node=node)
    cluster.packages.set_status("openmpi", "should_be_installed", node="node3")
    cluster.packages.set_status("slurm", "installed", image="rocky9")

    def pairs(**filters):
        return [(r["package"], r["node"] or r["image"]) for r in cluster.packages.list_statuses(**filters)]

    assert pairs() == [
        ("openmpi", "node3"),
        ("slurm", "node1"),
        ("slurm", "node2"),
        ("slurm", "node3"),
        ("slurm", "rocky9"),
    ]
    assert pairs(package="slurm", nodes="node[2-9]") == [("slurm", "node2"), ("slurm", "node3")]
    assert pairs(nodes="@gpu") == [("openmpi", "node3"), ("slurm", "node3")]
    assert pairs(image="rocky9") == [("slurm", "rocky9")]
    assert pairs(nodes="node1", image="rocky9") == [("slurm", "node1"), ("slurm", "rocky9")]


@pytest.mark.parametrize(
    ("filters", "error", "text"),
    [
        ({"package": "slurn"}, OdaNotFoundError, "unknown package 'slurn'"),
        ({"image": "sles"}, OdaNotFoundError, "unknown image 'sles'"),
        ({"nodes": "node[1-"}, OdaValidationError, "invalid node set 'node[1-'"),
        ({"nodes": "@nosuch"}, OdaNotFoundError, "unknown group 'nosuch'"),
    ],
)
def test_listing_statuses_with_a_bad_filter_names_it(cluster, filters, error, text):
    with pytest.raises(error, match=text.replace("[", r"\[")):
        cluster.packages.list_statuses(**filters)


# --- removal -------------------------------------------------------------------


def test_a_package_still_wanted_cannot_be_removed(cluster):
    cluster.packages.set_status("slurm", "installed", node="node1")
    cluster.packages.set_status("slurm", "should_be_installed", node="node2")
    cluster.packages.set_status("slurm", "installed", image="rocky9")
    refused(
        cluster,
        OdaConflictError,
        "package 'slurm' is still installed or to be installed on images rocky9 and nodes node[1-2]",
        lambda: cluster.packages.remove("slurm"),
    )


def test_removing_a_package_takes_its_relations_statuses_and_configuration(cluster):
    cluster.packages.set_status("slurm", "uninstalled", node="node1")
    cluster.config.set("slurm", "max_time", 60)
    before = snapshot(cluster)
    assert cluster.packages.remove("slurm", check_mode=True)[0] is True
    assert snapshot(cluster) == before
    assert cluster.packages.remove("slurm")[0] is True
    assert cluster.packages.get("slurm") is None
    assert cluster.packages.list_statuses(nodes="node1") == []
    assert cluster.packages.remove("slurm")[0] is False
    cluster.packages.ensure("slurm")
    assert cluster.config.get("slurm") == {}


def test_removing_a_node_or_an_image_takes_its_statuses(cluster):
    cluster.packages.set_status("slurm", "installed", node="node1")
    cluster.packages.set_status("slurm", "installed", image="rocky9")
    cluster.nodes.remove("node1")
    cluster.images.remove("rocky9")
    assert cluster.packages.list_statuses() == []


# --- node sets for callers that need the names first ----------------------------


def test_expand_nodes_reads_groups_from_the_database_and_names_bad_sets(cluster):
    assert cluster.nodes.expand("node[1-2],login") == ["login", "node1", "node2"]
    assert cluster.nodes.expand("@oscar_clients!node2") == ["node1", "node3"]
    with pytest.raises(OdaValidationError, match=r"invalid node set 'node\[1-'"):
        cluster.nodes.expand("node[1-")
    with pytest.raises(OdaNotFoundError, match="unknown group 'gpu'"):
        cluster.nodes.expand("@gpu")


def test_define_clients_takes_none_for_a_mac_still_to_collect(cluster):
    changed, names = changed_nodes(
        cluster.nodes.define_clients(
            "node[4-6]", "cluster", "10.0.0.14", macs=["02:00:00:00:00:04", None, "02-00-00-00-00-06"]
        )
    )
    assert (changed, names) == (True, ["node4", "node5", "node6"])
    assert [node["nics"][0]["mac"] for node in cluster.nodes.list("node[4-6]")] == [
        "02:00:00:00:00:04",
        None,
        "02:00:00:00:00:06",
    ]
    # None keeps the MAC a node already has.
    cluster.nodes.define_clients("node5", "cluster", "10.0.0.15", macs=["02:00:00:00:00:05"])
    assert changed_nodes(
        cluster.nodes.define_clients("node[4-6]", "cluster", "10.0.0.14", macs=[None, None, None])
    ) == (False, [])
    assert cluster.nodes.get("node5")["nics"][0]["mac"] == "02:00:00:00:00:05"


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

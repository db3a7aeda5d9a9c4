"""oscar.cluster.oda_info answers every query, read-only, run for real on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.modules import (
    oda_clients,
    oda_config,
    oda_group,
    oda_image,
    oda_image_version,
    oda_info,
    oda_network,
    oda_node,
    oda_package,
    oda_step,
)


@pytest.fixture
def cluster(run_module):
    run_module(oda_network, name="private", cidr="10.211.0.0/24")
    run_module(oda_image, name="debian12")
    run_module(oda_group, name="gpu")
    run_module(oda_clients, names="node[1-4]", network="private", start_ip="10.211.0.11", image="debian12")
    run_module(oda_node, name="node3", groups=["oscar_clients", "gpu"])
    run_module(
        oda_package,
        name="slurm",
        requires=["munge"],
        status="installed",
        nodes="node[1-2]",
        images=["debian12"],
    )
    run_module(oda_config, package="slurm", key="max_time", value=3600)
    run_module(oda_step, name="survey", status="done")
    run_module(oda_image_version, image="debian12", version=1)
    run_module(oda_image_version, image="debian12", version=2, parent=1, packages=["slurmd"])
    run_module(oda_image, name="other")
    run_module(oda_image_version, image="other", version=1)
    return run_module


def names(rows):
    return [row["name"] for row in rows]


def test_nodes_of_a_node_set_a_group_or_both(cluster):
    assert names(cluster(oda_info)["nodes"]) == ["node1", "node2", "node3", "node4"]
    assert names(cluster(oda_info, query="nodes", nodes="node[2-9]")["nodes"]) == ["node2", "node3", "node4"]
    assert names(cluster(oda_info, query="nodes", group="gpu")["nodes"]) == ["node3"]
    assert names(cluster(oda_info, query="nodes", nodes="node[1-2]", group="gpu")["nodes"]) == []
    assert cluster(oda_info, query="nodes", nodes="node1")["nodes"][0]["nics"][0]["ip"] == "10.211.0.11"


def test_one_node_or_null(cluster):
    assert cluster(oda_info, query="node", name="node4")["node"]["image"] == "debian12"
    assert cluster(oda_info, query="node", name="node9")["node"] is None


def test_listings(cluster):
    assert names(cluster(oda_info, query="groups")["groups"]) == ["gpu", "oscar_clients", "oscar_server"]
    assert names(cluster(oda_info, query="networks")["networks"]) == ["private"]
    assert names(cluster(oda_info, query="images")["images"]) == ["debian12", "other"]
    assert cluster(oda_info, query="packages")["packages"][0]["requires"] == ["munge"]
    assert [s["status"] for s in cluster(oda_info, query="steps")["steps"]] == ["done"]
    assert names(cluster(oda_info, query="clusters")["clusters"]) == ["oscar"]


def test_image_versions_of_every_image_or_of_one(cluster):
    every = cluster(oda_info, query="image_versions")["image_versions"]
    assert [(v["image"], v["version"]) for v in every] == [("debian12", 1), ("debian12", 2), ("other", 1)]
    mine = cluster(oda_info, query="image_versions", image="debian12")["image_versions"]
    assert mine == every[:2]
    assert (mine[1]["parent"], mine[1]["packages"]) == (1, ["slurmd"])


def test_package_statuses_and_config(cluster):
    statuses = cluster(oda_info, query="package_statuses", package="slurm", nodes="node[2-4]")[
        "package_statuses"
    ]
    assert statuses == [{"package": "slurm", "node": "node2", "image": None, "status": "installed"}]
    assert len(cluster(oda_info, query="package_statuses", image="debian12")["package_statuses"]) == 1
    assert cluster(oda_info, query="config", package="slurm")["config"] == {"max_time": 3600}
    assert cluster(oda_info, query="config", package="slurm", key="max_time")["config"] == 3600


def test_queries_never_change_anything(cluster, dump):
    before = dump()
    for query in (
        "nodes",
        "groups",
        "networks",
        "images",
        "image_versions",
        "packages",
        "package_statuses",
        "steps",
        "clusters",
    ):
        answer = cluster(oda_info, query=query)
        assert (answer["rc"], answer["changed"]) == (0, False)
    assert dump() == before


def test_a_missing_database_file_answers_empty_and_is_not_created(run_module, tmp_path):
    path = tmp_path / "none" / "oda.db"
    answer = run_module(oda_info, database="sqlite:%s" % path, query="groups")
    assert names(answer["groups"]) == ["oscar_clients", "oscar_server"]
    assert not path.parent.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"query": "node"}, "query 'node' needs the name of the node"),
        ({"query": "config"}, "query 'config' needs the name of the package"),
        ({"query": "config", "package": "slurn"}, "unknown package 'slurn'"),
        ({"query": "groups", "nodes": "node1"}, "query 'groups' does not take option 'nodes'"),
        ({"query": "nodes", "name": "node1"}, "query 'nodes' does not take option 'name'"),
        ({"query": "nodes", "nodes": "node[1-"}, "invalid node set 'node[1-'"),
        ({"query": "nodes", "group": "nosuch"}, "unknown group 'nosuch'"),
        ({"query": "tables"}, "value of query must be one of"),
        ({"query": "image_versions", "image": "nosuch"}, "unknown image 'nosuch'"),
        ({"query": "image_versions", "name": "x"}, "query 'image_versions' does not take option 'name'"),
    ],
)
def test_bad_queries_fail_naming_the_value(cluster, refused, args, message):
    refused(message, oda_info, **args)

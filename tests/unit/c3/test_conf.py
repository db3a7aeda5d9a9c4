"""C3's c3.conf format."""

import pytest

from oscar_cluster.c3 import conf
from oscar_cluster.c3.model import C3Error

SAMPLE = """
# two clusters
cluster oscar {
    head.example.org:head     # external:internal
    node[01-06]
    exclude [3-4]
    dead node07
    gpu1
}
cluster far {
    :far-head.example.org
}
"""


def test_parse_clusters_positions_and_states():
    inventory = conf.parse(SAMPLE, "sample.conf")
    assert list(inventory.clusters) == ["oscar", "far"]
    oscar = inventory.default_cluster()
    assert oscar.head == "head.example.org"
    assert oscar.nodes == [
        ("node01", "up"),
        ("node02", "up"),
        ("node03", "excluded"),
        ("node04", "excluded"),
        ("node05", "up"),
        ("node06", "up"),
        ("node07", "dead"),
        ("gpu1", "up"),
    ]
    assert oscar.usable() == ["node01", "node02", "node05", "node06", "gpu1"]
    far = inventory.cluster("far")
    assert far.indirect and far.head == "far-head.example.org"
    assert inventory.hosts["node05"].address == "node05"


def test_single_name_head():
    inventory = conf.parse("cluster c {\n  head\n  n[1-2]\n}\n")
    assert inventory.cluster("c").head == "head"
    assert inventory.cluster(None).nodes == [("n1", "up"), ("n2", "up")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("node1\n", "line 1: expected 'cluster NAME {', found 'node1'"),
        ("cluster a {\n h\n", "cluster 'a' is not closed"),
        ("cluster a {\n}\n", "line 2: cluster 'a' has no head line"),
        ("cluster a {\n h\n exclude 3\n}\n", "line 3: 'exclude' must follow a line of nodes"),
        ("cluster a {\n h\n n[1-2]\n exclude 5\n}\n", "line 4: exclude 5: no node with that number"),
        ("cluster a {\n h\n n[2-1]\n}\n", "line 3: range '2-1' goes backwards"),
        ("cluster a {\n h\n frob n1\n}\n", "line 3: unknown keyword 'frob'"),
        ("cluster a {\n h\n}\ncluster a {\n h\n}\n", "line 4: cluster 'a' is defined twice"),
        ("cluster a {\n :h\n n1\n}\n", "indirect cluster 'a' lists only its head"),
        ("", "defines no cluster"),
    ],
)
def test_bad_files_name_the_line(text, message):
    with pytest.raises(C3Error, match=message):
        conf.parse(text, "x.conf")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(C3Error, match=r"cannot read the C3 configuration .*nope\.conf: No such file"):
        conf.load(str(tmp_path / "nope.conf"))


def test_unknown_cluster_lists_the_known_ones():
    with pytest.raises(C3Error, match=r"unknown cluster 'x' in c3.conf \(known: oscar, far\)"):
        conf.parse(SAMPLE).cluster("x")

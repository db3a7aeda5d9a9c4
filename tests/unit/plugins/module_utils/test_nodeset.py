"""Node sets: ClusterShell's syntax, expanded and folded back."""

import time
import tracemalloc

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import nodeset
from ansible_collections.oscar.cluster.plugins.module_utils.nodeset import (
    MAX_NODES,
    NodeSetError,
    expand,
    expand_numbers,
    fold,
    natural_key,
)

GROUPS = {
    "compute": ["node01", "node02", "node03"],
    "gpu": ["node03", "gpu1"],
    "empty": [],
    "rack1": ["r1n1", "r1n2"],
    "rack2": ["r2n1"],
}


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("node1", ["node1"]),
        ("node[1-3]", ["node1", "node2", "node3"]),
        ("node[01-03]", ["node01", "node02", "node03"]),
        ("node[001-002]", ["node001", "node002"]),
        ("node[08-11]", ["node08", "node09", "node10", "node11"]),
        ("node[98-100]", ["node98", "node99", "node100"]),
        ("node[01-99,100]", [f"node{i:02d}" for i in range(1, 101)]),
        ("node[1 - 3]", ["node1", "node2", "node3"]),
        ("node1[0-2]", ["node10", "node11", "node12"]),
        ("node[1-2]0", ["node10", "node20"]),
        ("node[0-00]", ["node0"]),
        ("node[1-3]\n", ["node1", "node2", "node3"]),
        ("@rack[1-2]", ["r1n1", "r1n2", "r2n1"]),
        ("node[1-9/4]", ["node1", "node5", "node9"]),
        ("node[1,3,5-6]", ["node1", "node3", "node5", "node6"]),
        ("node[ 1 , 3 ]", ["node1", "node3"]),
        ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
        ("n[1-2].cluster", ["n1.cluster", "n2.cluster"]),
        ("a,b,a", ["a", "b"]),
        ("node[10,2,1]", ["node1", "node2", "node10"]),
        ("node[1-8]!node3", ["node1", "node2", "node4", "node5", "node6", "node7", "node8"]),
        ("node[1-8]&node[6-12]", ["node6", "node7", "node8"]),
        ("node[1-4]^node[3-6]", ["node1", "node2", "node5", "node6"]),
        # Left to right, equal precedence: (1..8 minus 3) then intersect 2..5.
        ("node[1-8]!node3&node[2-5]", ["node2", "node4", "node5"]),
        ("@compute", ["node01", "node02", "node03"]),
        ("@compute!node02", ["node01", "node03"]),
        ("@compute&@gpu", ["node03"]),
        ("@compute,@gpu", ["gpu1", "node01", "node02", "node03"]),
        ("@empty", []),
        (" node1 , node2 ", ["node1", "node2"]),
    ],
)
def test_expand(expression, names):
    assert expand(expression, GROUPS.get) == names


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("node[1-3", "unmatched '['"),
        ("node1-3]", "unmatched ']'"),
        ("node[[1-2]]", "nested '['"),
        ("node[]", "empty brackets"),
        ("node[3-1]", "goes backwards"),
        ("node[a-b]", "'a-b' is not a number or a range"),
        ("node[1-4/0]", "step below 1"),
        ("node[1--4]", "is not a number or a range"),
        ("node[1,,2]", "'' is not a number or a range"),
        ("node1,,node2", "an empty term next to ','"),
        ("node1!", "an empty term next to '!'"),
        ("no de1", "a character a host name cannot have"),
        ("node$1", "a character a host name cannot have"),
        ("@nosuch", "unknown group 'nosuch'"),
        ("@", "'@' is not a valid group name"),
        ("@[1-2]", "is not a valid group name"),
        ("node[1-99999999]", f"more than {MAX_NODES} names"),
        ("a[1-1000]b[1-1001]", f"more than {MAX_NODES} names"),
        # The whole expression is capped, duplicates counted, before building.
        ("node[1-1000000,1-1000000]", f"more than {MAX_NODES} names"),
        ("a[1-600000],b[1-600000]", f"more than {MAX_NODES} names"),
        ("@compute,a[1-999998]", f"more than {MAX_NODES} names"),
        # Bounds of different widths, one padded: ClusterShell's "padding length mismatch".
        ("node[0-05]", "range '0-05' has bounds of different widths"),
        ("node[01-100]", "range '01-100' has bounds of different widths"),
        ("node[1,001-10]", "range '001-10' has bounds of different widths"),
        ("node[0-10]0", "range '0-10' has bounds of different widths"),
        # A newline is no name character, wherever it is.
        ("node\n[1-2]", "a character a host name cannot have"),
        ("node[1-2]\nx", "a character a host name cannot have"),
        ("no\nde1", "a character a host name cannot have"),
        ("@comp\nute", "is not a valid group name"),
        # Brackets next to each other are ambiguous; ClusterShell refuses them.
        ("n[1-11][1-11]", "brackets must be separated by text other than digits"),
        ("n[1-2]5[1-2]", "brackets must be separated by text other than digits"),
        # Where ClusterShell reads digits touching a bracket another way.
        ("node1[8-12]", "as part of each bound"),
        ("node[1-9/2]0", "cannot follow a range with a step"),
        ("node[1 -2]0", "no blanks in"),
        ("node[-1]", "is not a number or a range"),
    ],
)
def test_bad_expressions_name_the_problem(expression, reason):
    with pytest.raises(NodeSetError) as raised:
        expand(expression, GROUPS.get)
    assert reason in str(raised.value)
    assert raised.value.expression == expression


def test_a_group_without_a_resolver_is_unknown():
    with pytest.raises(NodeSetError, match="unknown group 'compute'"):
        expand("@compute")


@pytest.mark.parametrize(
    ("names", "folded"),
    [
        ([], ""),
        (["node1"], "node1"),
        (["node1", "node2", "node3"], "node[1-3]"),
        (["node01", "node02", "node03", "node05"], "node[01-03,05]"),
        ([f"node{i:03d}" for i in range(1, 65)], "node[001-064]"),
        ([f"node{i:02d}" for i in range(1, 101)], "node[01-99,100]"),
        ([f"node{i:02d}" for i in range(1, 129)], "node[01-99,100-128]"),
        (["node009", "node010", "node100", "node1000"], "node[009-010,100,1000]"),
        (["node9", "node10", "node11"], "node[9-11]"),
        (["node1", "node01"], "node[1,01]"),
        (["node1-ib0", "node2-ib0", "node3-ib0"], "node[1-3]-ib0"),
        (["head", "node1", "node2"], "head,node[1-2]"),
        (["rack1-n1", "rack1-n2", "rack2-n1"], "rack1-n[1-2],rack2-n1"),
        (["n1.cluster", "n2.cluster"], "n[1-2].cluster"),
        (["node3", "node1", "node2", "node3"], "node[1-3]"),
    ],
)
def test_fold(names, folded):
    assert fold(names) == folded


@pytest.mark.parametrize(
    "expression",
    [
        "node[001-064]",
        "node[01-99,100]",
        "node[1-3,7,9-10]",
        "head,node[1-4]",
        "n[1-2].cluster,x",
        "node[1-3]-ib0",
        "node[01-64]-ib0",
        "rack[1-2]-node[01-64]",
        "a[1,3]b[1-3],a2b[1,3]",
    ],
)
def test_fold_undoes_expand(expression):
    assert fold(expand(expression)) == expression


def test_natural_order_puts_two_before_ten():
    assert sorted(["node10", "node2", "node1"], key=natural_key) == ["node1", "node2", "node10"]


@pytest.mark.parametrize(
    "text, numbers",
    [("0", [0]), ("1,3-6", [1, 3, 4, 5, 6]), ("0-8/4", [0, 4, 8]), ("5,2", [5, 2]), ("007", [7])],
)
def test_expand_numbers(text, numbers):
    assert expand_numbers(text) == numbers


@pytest.mark.parametrize(
    "text, reason", [("", "empty"), ("3-1", "goes backwards"), ("a-2", "'a-2' is not a number")]
)
def test_expand_numbers_refuses_bad_ranges(text, reason):
    with pytest.raises(NodeSetError, match=reason):
        expand_numbers(text)


def test_a_refused_size_costs_neither_memory_nor_time():
    tracemalloc.start()
    started = time.monotonic()
    for expression in [
        "node[1-1000000,1-1000000]",
        "n[1-999999]" + ",n[1-999999]" * 80,
        "a[1-99999999]b[1-9]",
    ]:
        with pytest.raises(NodeSetError, match="more than"):
            expand(expression)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
    assert time.monotonic() - started < 1


def test_a_million_names_come_in_order_without_sorting_strings(monkeypatch):
    def no_string_sort(name):
        raise AssertionError("names are sorted as strings")

    monkeypatch.setattr(nodeset, "natural_key", no_string_sort)
    names = expand("node[1-1000000]")
    assert len(names) == MAX_NODES
    assert names[:3] == ["node1", "node2", "node3"]
    assert names[-1] == "node1000000"
    assert expand("rack[1-2]-n[01-10]!rack1-n05")[:5] == [
        "rack1-n01",
        "rack1-n02",
        "rack1-n03",
        "rack1-n04",
        "rack1-n06",
    ]


def test_names_of_several_patterns_come_in_natural_order():
    names = ["n1", "n1-ib0", "n2", "n2-ib0", "n10", "head", "gpu01"]
    assert expand(",".join(names)) == sorted(names, key=natural_key)
    assert expand("n[1-2],n[1-2]-ib0,n10") == ["n1", "n1-ib0", "n2", "n2-ib0", "n10"]


def test_fold_output_is_a_clustershell_node_set():
    node_set = pytest.importorskip("ClusterShell.NodeSet").NodeSet
    names = [f"node{i:02d}" for i in range(1, 129)] + [
        f"rack{r}-node{n:02d}" for r in (1, 2) for n in range(1, 65)
    ]
    folded = fold(names)
    assert folded == "node[01-99,100-128],rack[1-2]-node[01-64]"
    assert sorted(node_set(folded)) == sorted(names)
    assert len(fold(expand("node[01-64]-ib0"))) == len("node[01-64]-ib0")

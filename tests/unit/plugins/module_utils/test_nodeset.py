"""Node sets: ClusterShell's syntax, expanded and folded back."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.nodeset import (
    MAX_NODES,
    NodeSetError,
    expand,
    expand_numbers,
    fold,
    natural_key,
)

GROUPS = {"compute": ["node01", "node02", "node03"], "gpu": ["node03", "gpu1"], "empty": []}


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("node1", ["node1"]),
        ("node[1-3]", ["node1", "node2", "node3"]),
        ("node[01-03]", ["node01", "node02", "node03"]),
        ("node[001-002]", ["node001", "node002"]),
        ("node[08-11]", ["node08", "node09", "node10", "node11"]),
        ("node[98-100]", ["node98", "node99", "node100"]),
        ("node[01-100]", [f"node{i:02d}" for i in range(1, 101)]),
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
        ("node[1-99999999]", f"more than {MAX_NODES} names"),
        ("a[1-1000]b[1-1001]", f"more than {MAX_NODES} names"),
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
        ([f"node{i:02d}" for i in range(1, 101)], "node[01-100]"),
        (["node9", "node10", "node11"], "node[9-11]"),
        (["node1", "node01"], "node1,node01"),
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
    ["node[001-064]", "node[01-100]", "node[1-3,7,9-10]", "head,node[1-4]", "n[1-2].cluster,x"],
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

"""C3's positional machine definitions (src/oscar_cluster/c3/ranges.py)."""

import pytest

from oscar_cluster.c3 import ranges as c3_ranges
from oscar_cluster.c3.ranges import C3RangeError, MachineDefinition

NODES = [("n0", "up"), ("n1", "up"), ("n2", "dead"), ("n3", "excluded"), ("n4", "up")]


@pytest.mark.parametrize(
    "text, user, cluster, positions",
    [
        (":1-3", None, None, [1, 2, 3]),
        ("oscar:1,3-6", None, "oscar", [1, 3, 4, 5, 6]),
        ("oscar:", None, "oscar", None),
        (":", None, None, None),
        ("admin@oscar:", "admin", "oscar", None),
        ("admin@:0", "admin", None, [0]),
        (":5,1,1", None, None, [1, 5]),
        (":0-2,2", None, None, [0, 1, 2]),
    ],
)
def test_parse(text, user, cluster, positions):
    definition = c3_ranges.parse(text)
    assert (definition.user, definition.cluster, definition.positions) == (user, cluster, positions)
    assert definition == MachineDefinition(text, user, cluster, positions)


@pytest.mark.parametrize(
    "text, reason",
    [
        (":1-x", "'1-x' is not a number or a range"),
        (":3-1", "goes backwards"),
        ("hostname", r"expected \[user@\]\[cluster\]:\[positions\]"),
        ("a@b@c:", "expected"),
        ("clu$ter:1", "'clu\\$ter' is not a valid cluster name"),
        ("-bad@c:", "'-bad' is not a valid user name"),
        # "$" would match before a final newline: ":1\n" must not pass for ":1".
        (":1\n", "expected"),
        ("oscar\n:1", "expected"),
        (":0-05", "bounds of different widths"),
    ],
)
def test_bad_definitions_name_the_problem(text, reason):
    with pytest.raises(C3RangeError, match=reason) as caught:
        c3_ranges.parse(text)
    assert text in str(caught.value)


@pytest.mark.parametrize("word", [":1-3", "oscar:", "u@c:2", ":"])
def test_definitions_are_recognised(word):
    assert c3_ranges.looks_like_definition(word)


@pytest.mark.parametrize("word", ["hostname", "ls", "/tmp:1", "a b:1", "", "echo:a/b", ":1\n", "oscar:\n"])
def test_commands_are_not_definitions(word):
    assert not c3_ranges.looks_like_definition(word)


def test_dead_and_excluded_nodes_keep_positions_but_are_skipped():
    usable, skipped = c3_ranges.select(c3_ranges.parse(":1-4"), "oscar", NODES)
    assert usable == ["n1", "n4"]
    assert skipped == [("n2", "dead"), ("n3", "excluded")]


def test_whole_cluster_selection():
    usable, _skipped = c3_ranges.select(c3_ranges.parse("oscar:"), "oscar", NODES)
    assert usable == ["n0", "n1", "n4"]


def test_position_beyond_the_cluster_is_refused():
    with pytest.raises(
        C3RangeError, match=r"position 5 is beyond the last node of cluster 'oscar' \(positions 0-4\)"
    ):
        c3_ranges.select(c3_ranges.parse(":1,5"), "oscar", NODES)


def test_selection_of_only_dead_nodes_names_no_node():
    with pytest.raises(C3RangeError, match="names no usable node of cluster 'oscar' \\(n2 is dead\\)"):
        c3_ranges.select(c3_ranges.parse(":2"), "oscar", NODES)


def test_empty_cluster_is_refused():
    with pytest.raises(C3RangeError, match="has no compute nodes"):
        c3_ranges.select(c3_ranges.parse(":"), "empty", [])


def test_position_of():
    assert c3_ranges.position_of("n3", NODES) == 3
    assert c3_ranges.position_of("nope", NODES) is None

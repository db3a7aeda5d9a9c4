"""Our node-set parser against ClusterShell's NodeSet, the reference, on random input.

nodeset.py keeps its own parser (it runs on hosts without ClusterShell); these
tests prove it reads, counts and folds as ClusterShell does wherever both
accept, refuses whatever ClusterShell refuses, and refuses more only for the
reasons its docstring gives.  Seeded, so a failure replays.
"""

import random

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.nodeset import (
    NodeSetError,
    expand,
    fold,
    natural_key,
)

NodeSet = pytest.importorskip("ClusterShell.NodeSet").NodeSet
SEED = 20240614
CASES = 1500
BIG = 3000  # beyond this many names, compare counts only: ClusterShell's nD folding is slow

# Where we refuse what ClusterShell accepts, on purpose (see nodeset.py).
OUR_EXTRA_REFUSALS = (
    "as part of each bound",  # node1[8-12]: ClusterShell reads node18..node112
    "brackets must be separated",  # n[1-2]5[3-4]: the names would not split back
    "more than",  # the size cap counts duplicates
    "no blanks in",  # n[1 -2]0: ClusterShell pastes the 0 onto "1 "
)


def _number(rng):
    """A bound: mostly plain, some padded, some of another width."""
    value = rng.choice([0, 1, 2, 5, 8, 9, 10, 11, 12, 19, 20, 99, 100, 101, 128])
    if rng.random() < 0.05:
        value = rng.choice([999, 1000])
    width = rng.choice([0, 0, 0, 2, 3, 4])
    return "%0*d" % (width, value)


def _item(rng):
    low = _number(rng)
    if rng.random() < 0.3:
        return low
    high = _number(rng)
    if rng.random() < 0.5:  # usually a well-formed range of one width
        high = (
            "%0*d" % (len(low), int(low) + rng.randint(0, 40))
            if low.startswith("0")
            else str(int(low) + rng.randint(0, 40))
        )
    item = "%s-%s" % (low, high)
    if rng.random() < 0.15:
        item += "/%d" % rng.randint(1, 4)
    if rng.random() < 0.1:
        item = item.replace("-", " - ")
    return item


def _term(rng):
    text = rng.choice(["n", "node", "rack", "a", "x.", "cn-"])
    for position in range(rng.choice([1, 1, 1, 2, 2, 3])):
        if position:
            text += rng.choice(["-", "-n", ".", "b", "-ib", "-ib0-"])
        if rng.random() < 0.12:
            text += rng.choice(["0", "1", "5"])  # digits touching the bracket
        if rng.random() < 0.15:
            text += _number(rng)  # a plain number, no bracket
        else:
            text += "[%s]" % ",".join(_item(rng) for _unused in range(rng.choice([1, 1, 2, 3])))
        if rng.random() < 0.08:
            text += rng.choice(["0", "7"])
    if rng.random() < 0.2:
        text += rng.choice(["-ib0", ".cluster", "x"])
    return text


def _expression(rng):
    text = _term(rng)
    for _unused in range(rng.choice([0, 0, 1, 1, 2])):
        text += rng.choice([",", ",", "!", "&", "^"]) + _term(rng)
    return text


def _clustershell(expression):
    """ClusterShell's names (None when there are too many to compare quickly) and count, or its error."""
    try:
        reference = NodeSet(expression)
    except Exception as error:  # any refusal of ClusterShell's
        return error, None
    count = len(reference)
    return (sorted(reference, key=natural_key) if count <= BIG else None), count


def test_expansion_and_count_match_clustershell():
    rng = random.Random(SEED)
    compared = refused = 0
    for _unused in range(CASES):
        expression = _expression(rng)
        theirs, count = _clustershell(expression)
        try:
            ours = expand(expression)
        except NodeSetError as error:
            if not isinstance(theirs, Exception):
                assert any(reason in error.reason for reason in OUR_EXTRA_REFUSALS), (expression, error)
            refused += 1
            continue
        assert not isinstance(theirs, Exception), (expression, theirs)
        assert len(ours) == count, expression
        if theirs is None:
            continue
        assert ours == theirs, expression
        if ours:
            folded = fold(ours)
            assert folded == str(NodeSet.fromlist(ours)), expression
            assert expand(folded) == ours, expression
        compared += 1
    # The generator must exercise both sides.
    assert compared > CASES // 4
    assert refused > CASES // 10


def _names(rng):
    """A list of names of one to three patterns with one to three number positions."""
    names = []
    for _unused in range(rng.choice([1, 1, 2, 3])):
        texts = rng.choice(
            [["node", ""], ["n", "-ib", ""], ["rack", "-node", ""], ["r", "c", "n", ""], ["gpu", ".x"]]
        )
        widths = [rng.choice([0, 0, 2, 3]) for _unused in texts[1:]]
        for _unused in range(rng.choice([1, 2, 5, 20, 40])):
            numbers = [
                "%0*d" % (width, rng.choice([rng.randint(0, 12), rng.randint(90, 130)])) for width in widths
            ]
            names.append("".join(text + number for text, number in zip(texts, numbers)) + texts[-1])  # noqa: B905
    if rng.random() < 0.2:
        names.append(rng.choice(["head", "login", "n"]))
    return names


def test_folding_matches_clustershell():
    rng = random.Random(SEED + 1)
    for _unused in range(CASES * 2 // 3):
        names = _names(rng)
        folded = fold(names)
        assert folded == str(NodeSet.fromlist(names)), names
        assert expand(folded) == sorted(set(names), key=natural_key), names
        assert sorted(NodeSet(folded)) == sorted(set(names)), names

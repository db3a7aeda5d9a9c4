# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Node sets in ClusterShell's syntax: one parser for ODA, the inventory and C3.

Syntax
    node[01-64]            a range; zero padding is kept (node01 ... node64)
    node[1-9/2]            a range with a step (node1, node3 ... node9)
    rack[1-2]-n[1-3]       several ranges in one name: every combination
    a,b[1-2]               union of terms
    node[1-8]!node3        difference
    node[1-8]&node[4-12]   intersection
    node[1-4]^node[3-6]    symmetric difference
    @compute               a group, looked up through the caller's resolver

Operators have equal precedence and apply from left to right, as in
ClusterShell.  ``expand`` returns names in natural order without duplicates;
``fold`` turns names back into the shortest such expression.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Refuse expressions that would expand to more names than any cluster has;
# "node[1-99999999]" must be an error, not an exhausted machine.
MAX_NODES = 1000000

_OPERATORS = ",!&^"
_NAME_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
_RANGE_ITEM = re.compile(r"^(\d+)(?:-(\d+)(?:/(\d+))?)?$")
_LAST_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


class NodeSetError(ValueError):
    """An expression that does not parse, or names a group nobody knows."""

    def __init__(self, expression, reason):
        self.expression = expression
        self.reason = reason
        super(NodeSetError, self).__init__("invalid node set '%s': %s" % (expression, reason))


def natural_key(name):
    """Sort key that puts node2 before node10."""
    return [
        (0, int(part), len(part)) if part.isdigit() else (1, part, 0) for part in re.split(r"(\d+)", name)
    ]


def _split_terms(expression):
    """Yield (operator, term) pairs; brackets protect their commas."""
    operator, depth, start = ",", 0, 0
    for position, char in enumerate(expression):
        if char == "[":
            depth += 1
            if depth > 1:
                raise NodeSetError(expression, "nested '[' at position %d" % position)
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise NodeSetError(expression, "unmatched ']' at position %d" % position)
        elif depth == 0 and char in _OPERATORS:
            yield operator, expression[start:position].strip()
            operator, start = char, position + 1
    if depth:
        raise NodeSetError(expression, "unmatched '['")
    yield operator, expression[start:].strip()


def _expand_range(expression, body):
    """Expand the inside of one bracket pair into digit strings."""
    values = []
    for raw_item in body.split(","):
        item = raw_item.strip()
        match = _RANGE_ITEM.match(item)
        if not match:
            raise NodeSetError(expression, "'%s' is not a number or a range such as 1-8 or 01-64/2" % item)
        low_text, high_text, step_text = match.groups()
        low = int(low_text)
        high = int(high_text) if high_text is not None else low
        step = int(step_text) if step_text is not None else 1
        if high < low:
            raise NodeSetError(expression, "range '%s' goes backwards" % item)
        if step < 1:
            raise NodeSetError(expression, "range '%s' has a step below 1" % item)
        # "01-64" pads to two digits; "1-64" does not pad.
        width = len(low_text) if low_text.startswith("0") and len(low_text) > 1 else 0
        if (high - low) // step + 1 > MAX_NODES:
            raise NodeSetError(expression, "range '%s' has more than %d names" % (item, MAX_NODES))
        values.extend("%0*d" % (width, number) for number in range(low, high + 1, step))
    return values


def expand_numbers(text):
    """The numbers of a range list such as '1,3-6' or '0-8/2', in the order given.

    The same syntax as inside brackets; C3's positional ranges use it too.
    """
    if text is None or not str(text).strip():
        raise NodeSetError(text or "", "it is empty")
    return [int(value) for value in _expand_range(str(text), str(text))]


def _expand_pattern(expression, pattern):
    """Expand one term without operators, e.g. rack[1-2]-node[01-04]."""
    pieces = re.split(r"(\[[^\]]*\])", pattern)
    names = [""]
    for piece in pieces:
        if piece.startswith("["):
            body = piece[1:-1]
            if not body.strip():
                raise NodeSetError(expression, "empty brackets in '%s'" % pattern)
            values = _expand_range(expression, body)
            if len(names) * len(values) > MAX_NODES:
                raise NodeSetError(expression, "'%s' has more than %d names" % (pattern, MAX_NODES))
            names = [name + value for name in names for value in values]
        elif piece:
            if not _NAME_CHARS.match(piece):
                raise NodeSetError(expression, "'%s' holds a character a host name cannot have" % piece)
            names = [name + piece for name in names]
    return names


def expand(expression, resolve_group=None):
    """Names of an expression, in natural order, each once.

    ``resolve_group(name)`` returns the member names of group ``name`` (without
    the ``@``), or None when there is no such group.
    """
    if expression is None or not str(expression).strip():
        raise NodeSetError(expression or "", "it is empty")
    expression = str(expression)
    result = set()
    for operator, term in _split_terms(expression):
        if not term:
            raise NodeSetError(expression, "an empty term next to '%s'" % operator)
        if term.startswith("@"):
            group = term[1:]
            if not _GROUP_NAME.match(group):
                raise NodeSetError(expression, "'%s' is not a valid group name" % term)
            members = resolve_group(group) if resolve_group is not None else None
            if members is None:
                raise NodeSetError(expression, "unknown group '%s'" % group)
            names = set(members)
        else:
            names = set(_expand_pattern(expression, term))
        if operator == ",":
            result |= names
        elif operator == "!":
            result -= names
        elif operator == "&":
            result &= names
        else:
            result ^= names
    return sorted(result, key=natural_key)


def _ranges(numbers, width):
    """'1-3,5' for [1, 2, 3, 5], padded to width."""
    parts = []
    numbers = sorted(numbers)
    start = previous = numbers[0]
    for number in [*numbers[1:], None]:
        if number is not None and number == previous + 1:
            previous = number
            continue
        if start == previous:
            parts.append("%0*d" % (width, start))
        else:
            parts.append("%0*d-%0*d" % (width, start, width, previous))
        if number is not None:
            start = previous = number
    return ",".join(parts)


def fold(names):
    """The shortest expression for a collection of names (folding the last number)."""
    groups = {}
    plain = set()
    for name in set(names):
        match = _LAST_NUMBER.match(name)
        if not match:
            plain.add(name)
            continue
        prefix, digits, suffix = match.groups()
        padded = len(digits) > 1 and digits.startswith("0")
        groups.setdefault((prefix, suffix), []).append((int(digits), len(digits), padded))

    folded = [(natural_key(name), name) for name in plain]
    for (prefix, suffix), members in groups.items():
        # A padded width also takes the unpadded numbers it prints unchanged:
        # with node01..node09 present, node10 and node100 belong to width 2.
        widths = set(length for _number, length, padded in members if padded)
        by_width = {}
        for number, length, padded in members:
            width = length if padded else max([w for w in widths if w <= length] or [0])
            by_width.setdefault(width, set()).add(number)
        for width, numbers in by_width.items():
            if len(numbers) == 1:
                text = "%s%0*d%s" % (prefix, width, next(iter(numbers)), suffix)
            else:
                text = "%s[%s]%s" % (prefix, _ranges(list(numbers), width), suffix)
            folded.append((natural_key("%s%0*d%s" % (prefix, width, min(numbers), suffix)), text))
    return ",".join(text for _key, text in sorted(folded))

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
    @rack[1-2]             the groups rack1 and rack2 (as ClusterShell)

Operators have equal precedence and apply from left to right, as in
ClusterShell.  ``expand`` returns names in natural order without duplicates;
``fold`` writes names back as ClusterShell's ``NodeSet`` prints them, folding
every number position (``rack[1-2]-node[01-64]``), so what we print can be
pasted into ``clush`` or ``nodeset``.

Where ClusterShell's reading is unusual we follow it or refuse, never guess:

* A bound's zero padding sets the width: ``node[01-99]``.  Bounds of different
  widths where either is padded (``node[0-05]``, ``node[01-100]``) are
  refused, as ClusterShell refuses them ("padding length mismatch"); write
  ``node[01-99,100]``.  Unpadded bounds may differ (``node[9-10]``).
* Blanks around the numbers, ``-``, ``/`` and ``,`` inside brackets are ignored
  (``node[1 - 3]``), as are blanks around terms.  A blank or newline inside a
  name is refused (ClusterShell would keep it in the name).
* Brackets must be separated by text: ``n[1-2][1-2]`` and ``n[1-2]5[1-2]`` are
  refused (ClusterShell refuses a reopened bracket, and the names would not
  split back into the same numbers).
* Digits touching a bracket join its numbers, as in ClusterShell:
  ``node1[0-5]`` is node10..node15.  Where ClusterShell reads them as part of
  each range bound with another result (``node1[8-12]`` is node18..node112
  there) or refuses them (``node[1-9/2]0``), they are refused.
* Negative numbers, numbers of more than 100 digits and characters outside
  ``A-Z a-z 0-9 . _ -`` in names are refused (ClusterShell accepts some).

The whole expression may name at most ``MAX_NODES`` names, counting every
term's and group's names (duplicates too) before any is built, so a short
string cannot exhaust the machine.  ClusterShell is not needed here (this code
runs on hosts without it); the unit tests compare both on random expressions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq
import itertools
import re

# Refuse expressions that would expand to more names than any cluster has;
# "node[1-99999999]" must be an error, not an exhausted machine.
MAX_NODES = 1000000
# ClusterShell refuses indexes above 1e100; a width must also fit a code below.
MAX_DIGITS = 100

_OPERATORS = ",!&^"
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_GROUP_CHARS = re.compile(r"[A-Za-z0-9_.:-]+")
_RANGE_ITEM = re.compile(r"([0-9]+)(?:\s*-\s*([0-9]+)(?:\s*/\s*([0-9]+))?)?")
_DIGITS = re.compile(r"([0-9]+)")
_BRACKETS = re.compile(r"\[([^\]]*)\]")

# A number in a name is kept as one integer "code", value << 8 | width, so
# that sorting codes (in C, no key function) sorts by value then width, which
# is natural order; "007" is 7 << 8 | 3.


def _code(digits):
    return int(digits) << 8 | len(digits)


def _text(code):
    return "%0*d" % (code & 255, code >> 8)


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


def _padded(digits):
    return len(digits) > 1 and digits[0] == "0"


def _parse_items(expression, body, lead="", trail=""):
    """The items of one bracket as (low, high, step, width) with their count.

    ``lead`` and ``trail`` are the digits touching the bracket.  ClusterShell
    appends ``trail`` to each bound before it checks the padding, so we do too.
    """
    items, count = [], 0
    for raw_item in body.split(","):
        item = raw_item.strip()
        match = _RANGE_ITEM.fullmatch(item)
        if not match:
            raise NodeSetError(expression, "'%s' is not a number or a range such as 1-8 or 01-64/2" % item)
        low_text, high_text, step_text = match.groups()
        if len(lead) + max(len(low_text), len(high_text or "")) + len(trail) > MAX_DIGITS:
            raise NodeSetError(expression, "'%s' has a number of more than %d digits" % (item, MAX_DIGITS))
        low, step = int(low_text), int(step_text or 1)
        high = int(high_text) if high_text is not None else low
        if trail and step_text is not None:
            raise NodeSetError(expression, "digits after '[%s]' cannot follow a range with a step" % body)
        if trail and any(char.isspace() for char in raw_item):
            # ClusterShell pastes the digits onto each bound as written: [1 -2]0 reads "1 0".
            raise NodeSetError(expression, "no blanks in '[%s]' when digits follow it" % body)
        # ClusterShell's rule: a bound with a leading zero fixes the width, and
        # then both bounds must have it ("00" as the upper bound is 0, unpadded).
        low_full, high_full = low_text + trail, (high_text or low_text) + trail
        high_padded = _padded(high_full) and int(high_full) != 0
        if (_padded(low_full) or high_padded) and len(low_full) != len(high_full):
            raise NodeSetError(
                expression, "range '%s' has bounds of different widths (padding length mismatch)" % item
            )
        if high < low:
            raise NodeSetError(expression, "range '%s' goes backwards" % item)
        if step < 1:
            raise NodeSetError(expression, "range '%s' has a step below 1" % item)
        width = len(low_text) if _padded(low_text) else 0
        items.append((low, high, step, width))
        count += (high - low) // step + 1
    return items, count


def _item_codes(low, high, step, width, *, lead, trail):
    """Codes of lead + each number of one item + trail, as ranges (no per-name work).

    For a fixed digit count d the code of a number v is linear in v, so each
    run of equal width is one arithmetic progression.
    """
    scale = 10 ** len(trail)
    first = low
    while first <= high:
        digits = max(width, len(str(first)))
        last = high if width else min(high, 10**digits - 1)
        last -= (last - first) % step
        full_width = len(lead) + digits + len(trail)
        base = (int(lead or 0) * 10 ** (digits + len(trail)) + int(trail or 0)) << 8 | full_width
        yield range(base + (first << 8) * scale, base + (last << 8) * scale + 1, (step << 8) * scale)
        first = last + step


def _runs(codes):
    """ClusterShell's folding of one number position, as (first, last, pad) runs.

    A port of RangeSet._slices_padding without autostep, step for step:
    numbers come by width then value ("9" before "01"); a run goes on while
    they follow each other and a padded run keeps its width ("08-11"), an
    unpadded one stays unpadded ("9-10").  Its padding state carries over a
    gap in ways a simpler rule misses ("010,100-999,1000", not "100-1000").
    """
    by_width = {}
    for code in codes:
        by_width.setdefault(code & 255, []).append(code >> 8)
    runs = []
    start = last = step = None
    run_padded, run_width = False, 0
    for width in sorted(by_width):
        for value in sorted(by_width[width]):
            padded = width > 1 and value < 10 ** (width - 1)
            if start is None:
                start = last = value
                run_padded, run_width = padded, width
                continue
            pad_mismatch = width != run_width if run_padded else padded
            step_mismatch = not pad_mismatch and step is not None and step != value - last
            if not (pad_mismatch or step_mismatch):
                step, last = value - last, value
                continue
            pad = run_width if run_padded else 0
            if step is None or step == 1:
                runs.append((start, last, pad))
                start, run_padded, run_width = value, padded, width
            else:
                # Numbers at an equal gap above 1 print one by one; after a
                # change of gap the last of them may still begin a run.
                stop = last + 1 if pad_mismatch else last - step + 1
                runs.extend((number, number, pad) for number in range(start, stop, step))
                if pad_mismatch:
                    start, run_padded, run_width = value, padded, width
                else:
                    start = last
            step = value - last if step_mismatch else None
            last = value
    if start is not None:
        pad = run_width if run_padded else 0
        if step is None or step == 1:
            runs.append((start, last, pad))
        else:
            runs.extend((number, number, pad) for number in range(start, last + 1, step))
    return runs


def _ranges(codes):
    """'01-03,5' for the codes of one number position, as ClusterShell prints it."""
    return ",".join(
        "%0*d" % (pad, first) if first == last else "%0*d-%0*d" % (pad, first, pad, last)
        for first, last, pad in _runs(codes)
    )


class _Term:
    """One term without operators, parsed and counted but not yet built.

    ``texts`` are the literal pieces around the number positions (one more
    than the positions, digits never among them, so they key names the same
    way as ``_split_name``); each position is a list of codes (a number
    written in the text) or a bracket (items, lead digits, trail digits).
    """

    def __init__(self, expression, term, chars):
        self.expression = expression
        parts = _BRACKETS.split(term)
        tokens = []
        for index, text in enumerate(parts):
            if index % 2:
                if not text.strip():
                    raise NodeSetError(expression, "empty brackets in '%s'" % term)
                tokens.append(("bracket", text))
                continue
            if text and not chars.fullmatch(text):
                raise NodeSetError(expression, "'%s' holds a character a host name cannot have" % text)
            tokens.extend(
                ("digits" if n % 2 else "text", piece) for n, piece in enumerate(_DIGITS.split(text)) if piece
            )
        self.texts, self.slots, self.count = [""], [], 1
        position = 0
        while position < len(tokens):
            kind, value = tokens[position]
            position += 1
            if kind == "text":
                self.texts[-1] += value
                continue
            if self.slots and not self.texts[-1]:
                # n[1-2][3-4] or n[1-2]5[3-4]: ClusterShell refuses the first, and
                # the names of either would not split back into these numbers.
                raise NodeSetError(
                    expression, "'%s': brackets must be separated by text other than digits" % term
                )
            lead = ""
            if kind == "digits" and position < len(tokens) and tokens[position][0] == "bracket":
                lead, (kind, value) = value, tokens[position]
                position += 1
            if kind == "digits":
                if len(value) > MAX_DIGITS:
                    raise NodeSetError(expression, "'%s' has more than %d digits" % (value, MAX_DIGITS))
                self.slots.append([_code(value)])
            else:
                trail = ""
                if position < len(tokens) and tokens[position][0] == "digits":
                    trail = tokens[position][1]
                    position += 1
                items, count = _parse_items(expression, value, lead, trail)
                self.slots.append((items, lead, trail))
                self.count *= count
            self.texts.append("")
        self.texts = tuple(self.texts)

    def build(self):
        """The positions as sorted code lists: the names are their product, in natural order."""
        return [slot if isinstance(slot, list) else self._bracket(*slot) for slot in self.slots]

    def _bracket(self, items, lead, trail):
        ranges = [codes for item in items for codes in _item_codes(*item, lead=lead, trail=trail)]
        if all(ranges[i - 1][-1] < ranges[i][0] for i in range(1, len(ranges))):
            codes = list(itertools.chain(*ranges))  # in order already: node[1-1000000] is 7 ranges
        else:
            codes = sorted(set(itertools.chain(*ranges)))
        if lead:
            # ClusterShell puts leading digits before each bound of each run of
            # the bracket: node1[8-12] is node18..node112 there.  Refuse where
            # that differs from joining the digits (a run crossing a width).
            inner = [codes for item in items for codes in _item_codes(*item, lead="", trail="")]
            for first, last, _pad in _runs(set(itertools.chain(*inner))):
                if len(str(first)) != len(str(last)):
                    raise NodeSetError(
                        self.expression,
                        "ClusterShell reads the digits '%s' before [%d-%d] as part of each bound;"
                        " write the range in full" % (lead, first, last),
                    )
        return codes


def _budget(expression, spent, count):
    """Charge count names to the whole expression before they are built."""
    spent[0] += count
    if spent[0] > MAX_NODES:
        raise NodeSetError(expression, "it names more than %d names" % MAX_NODES)


def _split_name(name):
    """(texts, codes) of one name: the key under which its numbers are stored."""
    pieces = _DIGITS.split(name)
    if any(len(digits) > MAX_DIGITS for digits in pieces[1::2]):
        raise NodeSetError(name, "'%s' has a number of more than %d digits" % (name, MAX_DIGITS))
    return tuple(pieces[0::2]), tuple(_code(digits) for digits in pieces[1::2])


def _as_set(block):
    """A block of names is a product of code lists (a term) or a set of code tuples."""
    return block if isinstance(block, set) else set(itertools.product(*block))


def _parse_term(expression, term, spent):
    """A term parsed and its names charged to the expression, nothing built yet."""
    if not term.startswith("@"):
        parsed = _Term(expression, term, _NAME_CHARS)
    else:
        try:
            parsed = _Term(expression, term[1:], _GROUP_CHARS)
        except NodeSetError as error:
            raise NodeSetError(
                expression, "'%s' is not a valid group name: %s" % (term, error.reason)
            ) from None
        if not parsed.texts[0]:
            raise NodeSetError(expression, "'%s' is not a valid group name" % term)
    _budget(expression, spent, parsed.count)
    return parsed


def _term_blocks(expression, term, parsed, resolve_group, spent):
    """{texts: block} of one term; a group term is the union of its groups' members."""
    if not term.startswith("@"):
        return {parsed.texts: parsed.build()}
    blocks = {}
    for group in _names({parsed.texts: parsed.build()}):
        members = resolve_group(group) if resolve_group is not None else None
        if members is None:
            raise NodeSetError(expression, "unknown group '%s'" % group)
        members = list(members)
        _budget(expression, spent, len(members))
        for member in members:
            texts, codes = _split_name(member)
            blocks.setdefault(texts, set()).add(codes)
    return blocks


def _combine(result, operator, blocks):
    """Apply one operator, pattern by pattern; names of different patterns never meet."""
    if operator == "&":
        for texts in list(result):
            if texts not in blocks:
                del result[texts]
    for texts, block in blocks.items():
        if texts not in result:
            if operator in ",^":
                result[texts] = block
            continue
        if operator == ",":
            result[texts] = _as_set(result[texts]) | _as_set(block)
        elif operator == "!":
            result[texts] = _as_set(result[texts]) - _as_set(block)
        elif operator == "&":
            result[texts] = _as_set(result[texts]) & _as_set(block)
        else:
            result[texts] = _as_set(result[texts]) ^ _as_set(block)
        if not result[texts]:
            del result[texts]


def _names(result):
    """The names of {texts: block} in natural order, without sorting strings.

    Within a pattern, code tuples sort as the names do (a term's product is
    in order already); patterns are then laid end to end, or merged when
    their names interleave (node1, node1-ib0, node2...).
    """
    lists = []
    for texts, block in result.items():
        rows = sorted(block) if isinstance(block, set) else itertools.product(*block)
        template = "%s".join(text.replace("%", "%%") for text in texts)
        if len(texts) == 1:
            names = [texts[0]]
        elif isinstance(block, set):
            names = [template % tuple(map(_text, row)) for row in rows]
        else:
            names = [
                template % row for row in itertools.product(*[list(map(_text, codes)) for codes in block])
            ]
        lists.append(names)
    if len(lists) < 2:
        return lists[0] if lists else []
    lists.sort(key=lambda names: natural_key(names[0]))
    if all(natural_key(lists[i - 1][-1]) < natural_key(lists[i][0]) for i in range(1, len(lists))):
        return [name for names in lists for name in names]
    return list(heapq.merge(*lists, key=natural_key))


def expand(expression, resolve_group=None):
    """Names of an expression, in natural order, each once.

    ``resolve_group(name)`` returns the member names of group ``name`` (without
    the ``@``), or None when there is no such group.
    """
    if expression is None or not str(expression).strip():
        raise NodeSetError(expression or "", "it is empty")
    expression = str(expression)
    # Every term is parsed and counted before any is built (group members are
    # counted as they come), so a refused size never costs memory.
    terms, spent = [], [0]
    for operator, term in list(_split_terms(expression)):
        if not term:
            raise NodeSetError(expression, "an empty term next to '%s'" % operator)
        terms.append((operator, term, _parse_term(expression, term, spent)))
    result = {}
    for operator, term, parsed in terms:
        _combine(result, operator, _term_blocks(expression, term, parsed, resolve_group, spent))
    return _names(result)


def expand_numbers(text):
    """The numbers of a range list such as '1,3-6' or '0-8/2', in the order given.

    The same syntax as inside brackets; C3's positional ranges use it too.
    """
    if text is None or not str(text).strip():
        raise NodeSetError(text or "", "it is empty")
    text = str(text)
    items, count = _parse_items(text, text)
    _budget(text, [0], count)
    return [number for low, high, step, _width in items for number in range(low, high + 1, step)]


def _vector_key(vector):
    """ClusterShell's order of nD vectors: most names first, then by each position."""
    size = 1
    for codes in vector:
        size *= len(codes)
    ends = []
    for codes in vector:
        ordered = sorted(codes, key=lambda code: (code & 255, code))
        ends.append((-len(codes), _text(ordered[0]), _text(ordered[-1])))
    return -size, tuple(ends)


def _merge_vectors(vectors):
    """ClusterShell's multivariate folding (RangeSetND._fold_multivariate_merge), step for step.

    Vectors (one set of codes per position) that differ in one position are
    merged; quick passes first, then one full pass.  Following it exactly
    gives ClusterShell's text, which depends on the order of the merges.
    """
    full, changed = False, True
    while changed:
        changed = False
        vectors.sort(key=_vector_key)
        index1 = 0
        while index1 + 1 < len(vectors):
            item1 = vectors[index1]
            index2 = index1 + 1
            index1 += 1
            while index2 < len(vectors):
                item2 = vectors[index2]
                index2 += 1
                merged, differences = [], 0
                for codes1, codes2 in zip(item1, item2):  # noqa: B905 - one set per position in both
                    if codes1 == codes2:
                        merged.append(codes1)
                        continue
                    differences += 1
                    if differences > 1:
                        break
                    if codes1.isdisjoint(codes2):
                        merged.append(codes1 | codes2)
                    elif codes1 > codes2 or codes1 < codes2:
                        merged.append(codes2 if codes2 > codes1 else codes1)
                    else:
                        differences = 2
                        break
                if differences <= 1:
                    changed = True
                    item1 = vectors[index1 - 1] = merged
                    index2 -= 1
                    vectors.pop(index2)
                elif not full:
                    break
        if not changed and not full:
            changed = full = True
    return vectors


def _fold_pattern(rows):
    """The vectors of one pattern's code tuples, as ClusterShell folds them."""
    dimensions = len(rows[0])
    columns = [frozenset(row[position] for row in rows) for position in range(dimensions)]
    if len(rows) == 1 or sum(len(column) > 1 for column in columns) <= 1:
        return [columns]
    return _merge_vectors([[frozenset([code]) for code in row] for row in rows])


def fold(names):
    """The names as one expression, as ClusterShell's NodeSet prints them.

    Every number position folds (rack[1-2]-node[01-64]); patterns come in
    ClusterShell's order, and so do the numbers of a range ("node[1,01]").
    """
    patterns = {}
    for name in set(names):
        texts, codes = _split_name(name)
        patterns.setdefault(texts, []).append(codes)
    parts = []
    for texts in sorted(patterns, key="%s".join):
        if len(texts) == 1:
            parts.append(texts[0])
            continue
        for vector in _fold_pattern(patterns[texts]):
            numbers = [_ranges(codes) if len(codes) == 1 else "[%s]" % _ranges(codes) for codes in vector]
            parts.append("".join(itertools.chain(*zip(texts, numbers))) + texts[-1])  # noqa: B905 - as many as slots
    return ",".join(parts)

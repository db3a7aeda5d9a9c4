"""C3's configuration file, /etc/c3.conf: clusters, their head and their compute nodes.

    cluster oscar {             # the first cluster is the default one
        head.example.org:head   # the head: external name (used here) : internal name
        node[01-16]             # compute nodes; positions count from 0 in this order
        exclude [3-4]           # node03 and node04 (numbers of the line above) keep their
                                # positions but are skipped
        dead node17             # a dead node: holds position 16, never contacted
    }
    cluster far {
        :far-head.example.org   # indirect: only its head is known here
    }

Names and ranges use node-set syntax (zero padding kept).  ``#`` starts a comment.
"""

import re

from oscar_cluster.module_utils import nodeset

from . import ranges
from .model import C3Error, Cluster, Host, Inventory

DEFAULT_PATH = "/etc/c3.conf"
_OPEN = re.compile(r"cluster\s+(?P<name>[A-Za-z0-9_.-]+)\s*\{\s*")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_HEAD = re.compile(r"(?P<external>[A-Za-z0-9_.-]*):(?P<internal>[A-Za-z0-9_.-]*)")


def _error(path, number, message):
    return C3Error("%s line %d: %s" % (path, number, message))


def _read_head(path, number, line, cluster):
    """The first line of a cluster: 'external:internal', a single name, or ':name' (indirect)."""
    match = _HEAD.fullmatch(line)
    if match:
        external, internal = match.group("external"), match.group("internal")
        if not internal and not external:
            raise _error(path, number, "the head line ':' names no host")
        cluster.indirect = not external
        cluster.head = external or internal
    elif _NAME.fullmatch(line):
        cluster.head = line
    else:
        raise _error(path, number, "'%s' is not a head line such as external:internal" % line)


def _read_exclude(path, number, rest, cluster, last_range):
    """'exclude N' or 'exclude [a-b]': numbers of the node line above, kept in place but skipped."""
    if not last_range:
        raise _error(path, number, "'exclude' must follow a line of nodes such as node[1-8]")
    try:
        numbers = nodeset.expand_numbers(rest.strip("[]"))
    except nodeset.NodeSetError as error:
        raise _error(path, number, "exclude '%s': %s" % (rest, error.reason)) from None
    for excluded in numbers:
        if excluded not in last_range:
            raise _error(path, number, "exclude %d: no node with that number on the line above" % excluded)
        index = last_range[excluded]
        cluster.nodes[index] = (cluster.nodes[index][0], ranges.EXCLUDED)


def _read_nodes(path, number, line, cluster):
    """A line of node names or ranges; returns {number in the name: index in the cluster}."""
    keyword = line.split(" ", 1)[0]
    if " " in line:
        raise _error(path, number, "unknown keyword '%s' (expected a node, 'exclude' or 'dead')" % keyword)
    try:
        names = nodeset.expand(line)
    except nodeset.NodeSetError as error:
        raise _error(path, number, error.reason) from None
    last_range = {}
    for name in names:
        match = re.search(r"(\d+)\D*$", name)
        if match:
            last_range[int(match.group(1))] = len(cluster.nodes)
        cluster.nodes.append((name, ranges.UP))
    return last_range


def _read_body_line(path, number, line, cluster, last_range):
    """One line after the head; returns the node numbers an 'exclude' on the next line refers to."""
    if cluster.indirect:
        raise _error(
            path, number, "indirect cluster '%s' lists only its head, found '%s'" % (cluster.name, line)
        )
    keyword, _blank, rest = line.partition(" ")
    rest = rest.strip()
    if keyword == "dead":
        if not rest or not _NAME.fullmatch(rest):
            raise _error(path, number, "'dead' needs one node name, found '%s'" % rest)
        cluster.nodes.append((rest, ranges.DEAD))
        return {}
    if keyword == "exclude":
        _read_exclude(path, number, rest, cluster, last_range)
        return last_range
    return _read_nodes(path, number, line, cluster)


def parse(text, path="c3.conf"):
    """An Inventory from the text of a c3.conf."""
    clusters = {}
    current = None
    last_range = {}
    head_seen = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if current is None:
            match = _OPEN.fullmatch(line)
            if not match:
                raise _error(path, number, "expected 'cluster NAME {', found '%s'" % line)
            name = match.group("name")
            if name in clusters:
                raise _error(path, number, "cluster '%s' is defined twice" % name)
            current, head_seen, last_range = Cluster(name), False, {}
        elif line == "}":
            if not head_seen:
                raise _error(path, number, "cluster '%s' has no head line" % current.name)
            clusters[current.name] = current
            current = None
        elif not head_seen:
            head_seen = True
            _read_head(path, number, line, current)
        else:
            last_range = _read_body_line(path, number, line, current, last_range)
    if current is not None:
        raise _error(path, len(text.splitlines()), "cluster '%s' is not closed with '}'" % current.name)
    if not clusters:
        raise C3Error("%s defines no cluster" % path)
    hosts = {}
    for cluster in clusters.values():
        for name in [cluster.head] + [n for n, _state in cluster.nodes]:
            if name and name not in hosts:
                hosts[name] = Host(name=name, address=name)
    return Inventory(source=path, clusters=clusters, hosts=hosts, groups={})


def load(path):
    """The Inventory of a c3.conf file; a missing or unreadable file is a C3Error."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise C3Error("cannot read the C3 configuration %s: %s" % (path, error.strerror)) from None
    return parse(text, path)

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Slurm's node definitions for slurm.conf, from ODA and the nodes' facts.

One ``NodeName`` line describes every node of the same hardware and state
whose names and addresses both fold into ranges that Slurm expands in the
same order (``NodeName=node[001-064] NodeAddr=10.0.0.[11-74]``).  A node's
hardware comes from its facts when they were gathered; a node that could not
be reached keeps the hardware of its line in the current file, so the file
does not change because a node is down; failing that, ODA's CPU count and
memory size; failing that, none (Slurm's defaults, until a run reaches it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaValidationError

# The hardware attributes of a NodeName line, in the order they are written.
HARDWARE_KEYS = ("CPUs", "Sockets", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
# Node states written: a working node, and one Slurm knows but does not use
# (dead or excluded in ODA) until an administrator resumes it.
STATE_WORKING = "UNKNOWN"
STATE_FUTURE = "FUTURE"
# Where a node's hardware came from.
SOURCE_FACTS = "facts"
SOURCE_PREVIOUS = "previous"
SOURCE_ODA = "oda"
SOURCE_NONE = "none"

_LAST_NUMBER = re.compile(r"[0-9]+(?=[^0-9]*\Z)")
_NODE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,62})")


def _positive(value):
    """value as an int above zero, or None."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _reserve_percent(value):
    """The memory reserve, a whole percentage from 0 to 90, or OdaValidationError naming it."""
    number = None
    if not isinstance(value, (bool, float)):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
    if number is None or not 0 <= number <= 90:
        raise OdaValidationError(
            "invalid memory reserve %r: expected a whole percentage from 0 to 90" % (value,)
        )
    return number


def _real_memory(memory_mb, reserve_percent):
    """The memory Slurm may count on: the total less the reserve, so that a node never registers below it."""
    return max(1, memory_mb * (100 - reserve_percent) // 100)


def _fact(facts, name):
    """A fact by its name in ansible_facts, or by its ansible_ variable name."""
    value = facts.get(name)
    return facts.get("ansible_" + name) if value is None else value


def hardware_from_facts(facts, memory_reserve_percent=5):
    """{CPUs, [Sockets, CoresPerSocket, ThreadsPerCore,] RealMemory} from a node's facts, or None.

    The CPUs are those the node may run on (processor_nproc, which honours a
    cpuset), else every CPU it has; the topology is written only when it
    multiplies out to that count, since Slurm drains a node whose sockets,
    cores or threads fall short of its line.  None when the facts lack the
    CPUs or the memory (hardware facts not gathered).
    """
    reserve = _reserve_percent(memory_reserve_percent)
    facts = facts or {}
    if not hasattr(facts, "get"):
        return None
    cpus = _positive(_fact(facts, "processor_nproc")) or _positive(_fact(facts, "processor_vcpus"))
    memory = _positive(_fact(facts, "memtotal_mb"))
    if cpus is None or memory is None:
        return None
    hardware = {"CPUs": cpus}
    sockets = _positive(_fact(facts, "processor_count"))
    cores = _positive(_fact(facts, "processor_cores"))
    threads = _positive(_fact(facts, "processor_threads_per_core"))
    if sockets and cores and threads and sockets * cores * threads == cpus:
        hardware.update(Sockets=sockets, CoresPerSocket=cores, ThreadsPerCore=threads)
    hardware["RealMemory"] = _real_memory(memory, reserve)
    return hardware


def _split_top_level(expression):
    """Terms of a comma-separated host list; commas inside brackets stay."""
    terms, depth, start = [], 0, 0
    for position, char in enumerate(expression):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            terms.append(expression[start:position])
            start = position + 1
    terms.append(expression[start:])
    return [term.strip() for term in terms if term.strip()]


def expand_hostlist(expression):
    """Names of a Slurm host list in Slurm's order: term by term, each term's ranges ascending."""
    names = []
    for term in _split_top_level(str(expression)):
        names.extend(nodeset.expand(term))
    return names


def _fields(line):
    """{Key: value} of a slurm.conf line of Key=Value words."""
    fields = {}
    for word in line.split():
        key, separator, value = word.partition("=")
        if separator:
            fields[key] = value
    return fields


def _content_lines(text):
    """The lines of a slurm.conf without comments and blank lines, whitespace normalised."""
    lines = []
    for raw in (text or "").splitlines():
        line = " ".join(raw.split("#", 1)[0].split())
        if line:
            lines.append(line)
    return lines


def parse_nodes(text):
    """{name: {address, state, hardware}} from the NodeName lines of a slurm.conf.

    Only what this module writes needs to be read back; a line that does
    not parse is skipped (its nodes then count as having no previous line).
    """
    nodes = {}
    for line in _content_lines(text):
        fields = _fields(line)
        names_expression = fields.get("NodeName")
        if not names_expression or names_expression.upper() == "DEFAULT":
            continue
        try:
            names = expand_hostlist(names_expression)
            addresses = expand_hostlist(fields["NodeAddr"]) if fields.get("NodeAddr") else [None] * len(names)
        except nodeset.NodeSetError:
            continue
        if len(addresses) != len(names):
            addresses = [None] * len(names)
        hardware = dict((key, int(fields[key])) for key in HARDWARE_KEYS if _positive(fields.get(key)))
        for index, name in enumerate(names):
            nodes[name] = {
                "address": addresses[index],
                "state": fields.get("State", STATE_WORKING),
                "hardware": hardware,
            }
    return nodes


def _checked_node(node):
    """One node of the input, checked: (name, address, future, node)."""
    if not hasattr(node, "get"):
        raise OdaValidationError(
            "every Slurm node must be a dict with a name and an address; got %r" % (node,)
        )
    name = str(node.get("name") or "").strip()
    if not _NODE_NAME.fullmatch(name):
        raise OdaValidationError(
            "invalid Slurm node name %r: use letters, digits, '_', '.' and '-'" % (name,)
        )
    address = node.get("address")
    if not address:
        raise OdaValidationError("Slurm node %s has no address" % name)
    try:
        address = validate.ip_address(address)
    except OdaValidationError as error:
        raise OdaValidationError("Slurm node %s: %s" % (name, error)) from None
    return name, address, bool(node.get("future")), node


def _hardware(node, name, previous, reserve):
    """(hardware, source) of one node: its facts, else its previous line, else ODA, else nothing."""
    hardware = hardware_from_facts(node.get("facts"), reserve)
    if hardware:
        return hardware, SOURCE_FACTS
    if previous.get(name, {}).get("hardware"):
        return dict(previous[name]["hardware"]), SOURCE_PREVIOUS
    cpus, memory = _positive(node.get("cpus")), _positive(node.get("memory_mb"))
    if cpus or memory:
        hardware = {"CPUs": cpus} if cpus else {}
        if memory:
            hardware["RealMemory"] = _real_memory(memory, reserve)
        return hardware, SOURCE_ODA
    return {}, SOURCE_NONE


def _runs(members):
    """Split (name, address) pairs, in natural order of the names, where the addresses stop ascending.

    Within a run, folding the names and the addresses keeps them paired:
    Slurm gives the n-th address of NodeAddr to the n-th name of NodeName.
    """
    runs = []
    for name, address in members:
        if runs and nodeset.natural_key(address) > nodeset.natural_key(runs[-1][-1][1]):
            runs[-1].append((name, address))
        else:
            runs.append([(name, address)])
    return runs


def _fold_in_order(names):
    """Names folded so that Slurm reads them back in this order.

    nodeset.fold prints as ClusterShell does, larger nD blocks first; Slurm
    pairs NodeName and NodeAddr by position, so fold only consecutive names
    that differ in their last number ("10.0.0.254,10.0.1.[1-2]").
    """
    chunks = []
    for name in names:
        stem = _LAST_NUMBER.sub("#", name)
        if chunks and chunks[-1][0] == stem:
            chunks[-1][1].append(name)
        else:
            chunks.append((stem, [name]))
    return ",".join(nodeset.fold(chunk) for _stem, chunk in chunks)


def _line(names, addresses, hardware, state):
    words = ["NodeName=%s" % _fold_in_order(names), "NodeAddr=%s" % _fold_in_order(addresses)]
    words.extend("%s=%d" % (key, hardware[key]) for key in HARDWARE_KEYS if key in hardware)
    words.append("State=%s" % state)
    return " ".join(words)


def node_lines(nodes, previous_conf="", memory_reserve_percent=5):
    """The NodeName lines of slurm.conf for nodes, folded; {lines, sources, nodes}.

    nodes is a list of {name, address, future, facts, cpus, memory_mb}:
    future marks a node Slurm must know but not use (dead or excluded in
    ODA); facts are the node's Ansible facts (hardware subset), or empty
    when it could not be reached; cpus and memory_mb are ODA's.
    previous_conf is the current slurm.conf, whose lines keep the hardware
    of nodes without facts.  Returns the lines in natural order of their
    first node, where each node's hardware came from (facts, previous, oda
    or none), and every node name folded (for a partition's Nodes=).
    """
    reserve = _reserve_percent(memory_reserve_percent)
    if not isinstance(nodes, (list, tuple)):
        raise OdaValidationError("the Slurm nodes must be a list; got %r" % (nodes,))
    previous = parse_nodes(previous_conf)
    groups, sources, seen_names, seen_addresses = {}, {}, set(), {}
    for given in nodes:
        name, address, future, node = _checked_node(given)
        if name in seen_names:
            raise OdaValidationError("Slurm node %s is listed twice" % name)
        if address in seen_addresses:
            raise OdaValidationError(
                "Slurm nodes %s and %s have the same address %s" % (seen_addresses[address], name, address)
            )
        seen_names.add(name)
        seen_addresses[address] = name
        hardware, sources[name] = _hardware(node, name, previous, reserve)
        state = STATE_FUTURE if future else STATE_WORKING
        key = (tuple((k, hardware[k]) for k in HARDWARE_KEYS if k in hardware), state)
        groups.setdefault(key, []).append((name, address))
    lines = []
    for (hardware_items, state), members in groups.items():
        members.sort(key=lambda member: nodeset.natural_key(member[0]))
        for run in _runs(members):
            names = [name for name, _address in run]
            addresses = [address for _name, address in run]
            # Folding keeps the pairs when both lists are in natural order;
            # should a name set fold into terms out of that order, one line each.
            line = _line(names, addresses, dict(hardware_items), state)
            if (
                expand_hostlist(_fold_in_order(names)) == names
                and expand_hostlist(_fold_in_order(addresses)) == addresses
            ):
                lines.append((nodeset.natural_key(names[0]), line))
            else:
                lines.extend(
                    (nodeset.natural_key(name), _line([name], [address], dict(hardware_items), state))
                    for name, address in run
                )
    lines.sort()
    return {
        "lines": [line for _key, line in lines],
        "sources": sources,
        "nodes": nodeset.fold(seen_names) if seen_names else "",
    }


def restart_signature(text):
    """What of a slurm.conf needs slurmctld (and slurmd) restarted when it changes.

    Slurm's documentation asks for a restart of slurmctld and every slurmd
    when nodes are added, removed or change their hardware, and many global
    settings are read only at start; partitions change with
    ``scontrol reconfigure``.  So: every line but the comments and the
    PartitionName lines, with each node on its own (name, address, hardware,
    state), sorted, so that refolding alone changes nothing.
    """
    signature = []
    for line in _content_lines(text):
        fields = _fields(line)
        if "PartitionName" in fields:
            continue
        if fields.get("NodeName") and fields["NodeName"].upper() != "DEFAULT":
            parsed = parse_nodes(line)
            if parsed:
                for name, node in parsed.items():
                    hardware = " ".join(
                        "%s=%d" % (key, node["hardware"][key]) for key in sorted(node["hardware"])
                    )
                    signature.append("node %s %s %s %s" % (name, node["address"], node["state"], hardware))
                continue
        signature.append(line)
    return sorted(signature)

"""C3's positional machine definitions: ``:1-3``, ``cluster:1,3-6``, ``user@cluster:``.

A machine definition names a cluster (the default one when left out) and
zero-based positions in that cluster's list of compute nodes.  Dead and
excluded nodes keep their positions, so ``:4`` names the same node whether or
not an earlier node died.  The numbers use the same syntax as a node set's
brackets and are read by the one parser in ``nodeset``.
"""

import re

from oscar_cluster.module_utils import nodeset

# user@cluster:positions, every part optional but the colon.  No '/' and no
# blanks, so a command such as "ls /tmp:x" is never taken for one.
_DEFINITION = re.compile(r"(?:(?P<user>[^@:/\s]+)@)?(?P<cluster>[^@:/\s]*):(?P<positions>[^@:/\s]*)")
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_USER_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")

UP = "up"
DEAD = "dead"
EXCLUDED = "excluded"


class C3RangeError(ValueError):
    """A machine definition that does not parse, or names no node."""

    def __init__(self, definition, reason):
        self.definition = definition
        self.reason = reason
        super().__init__("invalid machine definition '%s': %s" % (definition, reason))


class MachineDefinition:
    """One parsed definition: user (or None), cluster (None: the default), positions (None: all)."""

    def __init__(self, text, user=None, cluster=None, positions=None):
        self.text = text
        self.user = user
        self.cluster = cluster
        self.positions = positions

    def __repr__(self):
        return "MachineDefinition(%r)" % self.text

    def __hash__(self):
        return hash((self.user, self.cluster, tuple(self.positions or ())))

    def __eq__(self, other):
        return isinstance(other, MachineDefinition) and (
            self.user,
            self.cluster,
            self.positions,
        ) == (other.user, other.cluster, other.positions)


def looks_like_definition(token):
    """True when a command-line word is meant as a machine definition (it has the shape user@cluster:n)."""
    return bool(_DEFINITION.fullmatch(token or ""))


def parse(text):
    """Parse one machine definition; raises C3RangeError naming what is wrong."""
    match = _DEFINITION.fullmatch(text or "")
    if not match:
        raise C3RangeError(text, "expected [user@][cluster]:[positions], for example :1-3 or oscar:0,4-6")
    user, cluster, positions = match.group("user"), match.group("cluster"), match.group("positions")
    if user is not None and not _USER_NAME.fullmatch(user):
        raise C3RangeError(text, "'%s' is not a valid user name" % user)
    if cluster and not _CLUSTER_NAME.fullmatch(cluster):
        raise C3RangeError(text, "'%s' is not a valid cluster name" % cluster)
    numbers = None
    if positions:
        try:
            numbers = sorted(set(nodeset.expand_numbers(positions)))
        except nodeset.NodeSetError as error:
            raise C3RangeError(text, error.reason) from None
    return MachineDefinition(text, user=user, cluster=cluster or None, positions=numbers)


def positions_in(definition, cluster_name, nodes):
    """The positions a definition names in a cluster of len(nodes) nodes; refuses one beyond the last."""
    positions = definition.positions if definition.positions is not None else list(range(len(nodes)))
    beyond = [position for position in positions if position >= len(nodes)]
    if beyond:
        raise C3RangeError(
            definition.text,
            "position %d is beyond the last node of cluster '%s' (positions 0-%d)"
            % (beyond[0], cluster_name, len(nodes) - 1),
        )
    return positions


def select(definition, cluster_name, nodes):
    """The nodes a definition names in one cluster, as (usable names, skipped [(name, state)]).

    ``nodes`` is the cluster's node list in position order, as (name, state)
    pairs with state ``up``, ``dead`` or ``excluded``.  Dead and excluded
    nodes are skipped, never run on, but still hold their positions.
    """
    if not nodes:
        raise C3RangeError(definition.text, "cluster '%s' has no compute nodes" % cluster_name)
    positions = positions_in(definition, cluster_name, nodes)
    usable, skipped = [], []
    for position in positions:
        name, state = nodes[position]
        if state == UP:
            usable.append(name)
        else:
            skipped.append((name, state))
    if not usable:
        raise C3RangeError(
            definition.text,
            "names no usable node of cluster '%s' (%s)"
            % (cluster_name, ", ".join("%s is %s" % pair for pair in skipped)),
        )
    return usable, skipped


def position_of(name, nodes):
    """The zero-based position of a node name in a cluster's node list, or None."""
    for position, (node_name, _state) in enumerate(nodes):
        if node_name == name:
            return position
    return None

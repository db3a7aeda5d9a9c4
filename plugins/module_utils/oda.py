# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA, the cluster database: the API that modules, the inventory plugin and the CLI call.

Conventions, the same for every object:

* Results are plain dicts and lists, without database ids.
* ``ensure_*`` and ``set_*`` return ``(changed, before, after)``: ``before``
  is None when the object did not exist.  ``remove_*`` returns ``changed``.
  ``get_*`` returns None for an object that does not exist.
* An argument left at None keeps the stored value (and takes a default when
  the object is created): a module that does not mention an attribute never
  changes it.
* Every value is checked (oda_validate) and every reference resolved before
  the first write; errors are typed (oda_errors) and name the value refused.
* Each write is one transaction.  ``check_mode=True`` runs the very same
  code and rolls back at the end, so the answer is exact and nothing is kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import json

from . import nodeset
from . import oda_validate as validate
from .oda_db import DEFAULT_TIMEOUT, Database
from .oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaSchemaError,
    OdaValidationError,
)
from .oda_schema import (
    DEFAULT_CLUSTER,
    current_version,
    ensure_schema,
    init,
)

NODE_STATES = ("defined", "installing", "up", "down", "dead")
STEP_STATUSES = ("pending", "running", "done", "failed", "skipped")
NEW_IMAGE_STATE = "defined"
NIC_KEYS = ("name", "mac", "ip", "network")
PACKAGE_RELATIONS = ("provides", "requires", "conflicts")
PACKAGE_STATUSES = ("should_be_installed", "installed", "should_be_uninstalled", "uninstalled", "failed")
# A package in these statuses is on a node or image, or about to be: where conflicts count.
PACKAGE_WANTED = ("should_be_installed", "installed")
# Where package statuses are kept: owner kind -> (table, owner column, owner table).
_STATUS_TABLES = {
    "node": ("node_packages", "node_id", "nodes"),
    "image": ("image_packages", "image_id", "images"),
}
# Variable scope -> (table, owner column, owner table).  Table names are
# constants here, never caller input.
VARIABLE_SCOPES = {
    "cluster": ("cluster_vars", "cluster_id", "clusters"),
    "group": ("group_vars", "group_id", "node_groups"),
    "node": ("node_vars", "node_id", "nodes"),
}

# Numeric columns: (what a message calls them, lowest, highest).
NUMBERS = {
    "mtu": ("MTU", 68, 65535),
    "cpus": ("CPU count", 1, 1 << 20),
    "memory_mb": ("memory size (MB)", 1, 1 << 40),
}

# Columns of a node row besides its name: what a _NodePlan carries and writes.
_NODE_COLUMNS = (
    "hostname",
    "domain",
    "cluster_id",
    "image_id",
    "state",
    "excluded",
    "cpus",
    "memory_mb",
    "arch",
)

_NODE_SELECT = (
    "SELECT n.id, n.name, n.hostname, n.domain, n.cluster_id, c.name AS cluster, n.image_id,"
    " i.name AS image, n.state, n.excluded, n.cpus, n.memory_mb, n.arch"
    " FROM nodes n JOIN clusters c ON c.id = n.cluster_id LEFT JOIN images i ON i.id = n.image_id"
)
_NIC_SELECT = (
    "SELECT x.node_id, x.name, x.mac, x.ip, x.network_id, w.name AS network"
    " FROM nics x LEFT JOIN networks w ON w.id = x.network_id"
)
_MEMBER_SELECT = "SELECT m.node_id, g.name FROM group_members m JOIN node_groups g ON g.id = m.group_id"
_NETWORK_SELECT = (
    "SELECT w.id, w.name, w.cidr, w.gateway, w.domain, w.dhcp_start, w.dhcp_end, w.mtu,"
    " w.cluster_id, c.name AS cluster FROM networks w JOIN clusters c ON c.id = w.cluster_id"
)


# --- checks on single values -------------------------------------------------


def _optional(check, value, *args):
    """check(value, *args), or None when value is None."""
    return None if value is None else check(value, *args)


def _flag(value, what):
    """A boolean as the 0/1 the database stores."""
    if value in (True, False, 0, 1) and not isinstance(value, float):
        return int(value)
    raise OdaValidationError("invalid %s '%s': expected true or false" % (what, value))


def _text(value):
    return str(value)


def _name_list(values, kind):
    """A list of object names, each once, in the order given."""
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise OdaValidationError("invalid %s list '%s': expected a list of names" % (kind, values))
    # A dict keeps the order given and finds a repeat at once.
    names = {}
    for value in values:
        names.setdefault(validate.object_name(value, kind), None)
    return list(names)


def _inside(address, network, what):
    """Refuse an address outside a network row, naming the network too."""
    try:
        validate.address_in_network(address, network["cidr"], what)
    except OdaValidationError as error:
        raise OdaValidationError("%s (network '%s')" % (error, network["name"])) from None


def check_network(name, values, networks):
    """Refuse a network whose addresses do not hold together, or that overlaps another.

    values holds cidr, gateway, dhcp_start and dhcp_end; networks are the
    stored rows (name, cidr).  Restore checks its networks here too.
    """
    network = {"name": name, "cidr": values["cidr"]}
    for key in ("gateway", "dhcp_start", "dhcp_end"):
        if values[key] is not None:
            _inside(values[key], network, key.replace("_", " "))
    start, end = values["dhcp_start"], values["dhcp_end"]
    if (start is None) != (end is None):
        raise OdaValidationError("network '%s': give both dhcp_start and dhcp_end, or neither" % name)
    if start is not None and ipaddress.ip_address(start) > ipaddress.ip_address(end):
        raise OdaValidationError("network '%s': DHCP range %s - %s goes backwards" % (name, start, end))
    net = ipaddress.ip_network(values["cidr"])
    for other in networks:
        other_net = ipaddress.ip_network(other["cidr"])
        if other["name"] != name and other_net.version == net.version and other_net.overlaps(net):
            raise OdaConflictError(
                "network '%s' (%s) overlaps network '%s' (%s): an address would belong to both"
                % (name, values["cidr"], other["name"], other["cidr"])
            )


def _nic_spec(value, node):
    """One NIC of ensure_node's nics list, checked; missing keys are None."""
    if not isinstance(value, dict):
        raise OdaValidationError("invalid NIC of node %s: expected a dict with name, mac, ip, network" % node)
    unknown = sorted(set(value) - set(NIC_KEYS))
    if unknown:
        raise OdaValidationError(
            "invalid NIC of node %s: unknown key '%s'; expected %s" % (node, unknown[0], ", ".join(NIC_KEYS))
        )
    return {
        "name": validate.object_name(value.get("name"), "NIC"),
        "mac": _optional(validate.mac_address, value.get("mac")),
        "ip": _optional(validate.ip_address, value.get("ip")),
        "network": _optional(validate.object_name, value.get("network"), "network"),
    }


def _now():
    """UTC time as ISO 8601 text: the same in every dialect and sortable."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(row):
    """A row without database ids: what callers see."""
    if row is None:
        return None
    return {key: value for key, value in row.items() if key != "id" and not key.endswith("_id")}


def _by_name(rows):
    return sorted(rows, key=lambda row: nodeset.natural_key(row["name"]))


def _plural(count, word):
    """'1 NIC', '3 NICs'."""
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def _holder(owner):
    return "%s (%s)" % owner


class Oda:
    """The cluster database: networks, groups, images, nodes and their NICs, packages, wizard steps."""

    def __init__(self, db):
        self.db = db
        # What open() found and did: (schema version before, after), and
        # whether it created the default cluster and groups.
        self.schema_versions = None
        self.created_defaults = False

    @classmethod
    def open(cls, url, password=None, timeout=DEFAULT_TIMEOUT, read_only=False):
        """Connect, create or upgrade the schema, make sure the defaults exist; return an Oda.

        read_only: for callers that only read.  They never create anything:
        a missing SQLite file is OdaUnavailableError, a database without
        ODA's schema OdaSchemaError.  An older schema is still upgraded (once,
        under the write lock); a current one costs reads only, so a reader
        never waits for a writer.
        """
        db = Database.connect(url, password=password, timeout=timeout, create=not read_only)
        try:
            if read_only and current_version(db) == 0:
                raise OdaSchemaError("database %s holds no ODA schema; create it with 'oda init'" % db.url)
            versions = ensure_schema(db)
            created = False if read_only else init(db)
        except BaseException:
            db.close()
            raise
        oda = cls(db)
        oda.schema_versions = versions
        oda.created_defaults = created
        return oda

    def close(self):
        """Close the database connection."""
        self.db.close()

    # --- shared helpers ------------------------------------------------------

    def _row(self, table, name):
        """The row of a named object with every column, or None."""
        # table is always one of this module's constants, never caller input.
        return self.db.query_one("SELECT * FROM %s WHERE name = ?" % table, (name,))

    def _id_of(self, table, kind, name):
        """The id of a named object, or OdaNotFoundError naming it."""
        row = self.db.query_one("SELECT id FROM %s WHERE name = ?" % table, (name,))
        if row is None:
            raise OdaNotFoundError("unknown %s '%s'" % (kind, name))
        return row["id"]

    def _upsert(self, table, before, name, values):
        """Insert a named row, or update the columns that differ; return its id.

        Column names come from this module, values always go as parameters.
        """
        if before is None:
            columns = ["name", *sorted(values)]
            self.db.execute(
                "INSERT INTO %s (%s) VALUES (%s)"
                % (table, ", ".join(columns), ", ".join("?" * len(columns))),
                [name] + [values[column] for column in columns[1:]],
            )
            return self._id_of(table, table, name)
        changes = sorted(column for column, value in values.items() if before.get(column) != value)
        if changes:
            self.db.execute(
                "UPDATE %s SET %s WHERE id = ?" % (table, ", ".join("%s = ?" % column for column in changes)),
                [values[column] for column in changes] + [before["id"]],
            )
        return before["id"]

    def _ensure_simple(self, table, name, given, defaults, *, load, check_mode):
        """ensure_* for an object with a name and plain columns: (changed, before, after)."""
        with self.db.transaction(dry_run=check_mode):
            before = load(name)
            values = dict(defaults) if before is None else {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            self._upsert(table, self._row(table, name), name, values)
            after = load(name)
        return before != after, before, after

    def _remove_simple(self, table, name, check_mode, refuse=None):
        """remove_* for a named object; refuse(row) raises when something still uses it."""
        with self.db.transaction(dry_run=check_mode):
            row = self._row(table, name)
            if row is None:
                return False
            if refuse is not None:
                refuse(row)
            self.db.execute("DELETE FROM %s WHERE id = ?" % table, (row["id"],))
        return True

    def _expand(self, expression):
        """Names of a node set; groups (@name) are read from the database."""
        try:
            return nodeset.expand(expression, self._group_names_of)
        except nodeset.NodeSetError as error:
            raise OdaValidationError(str(error)) from None

    def _group_names_of(self, group):
        """Member names of a group for nodeset.expand; an unknown group is an error."""
        group_id = self._id_of("node_groups", "group", group)
        rows = self.db.query(
            "SELECT n.name FROM group_members m JOIN nodes n ON n.id = m.node_id WHERE m.group_id = ?",
            (group_id,),
        )
        return [row["name"] for row in rows]

    # --- clusters ------------------------------------------------------------

    def ensure_cluster(self, name, description=None, check_mode=False):
        """Create or update a cluster; (changed, before, after)."""
        name = validate.object_name(name, "cluster")
        given = {"description": _optional(_text, description)}
        return self._ensure_simple("clusters", name, given, given, load=self._cluster, check_mode=check_mode)

    def list_clusters(self):
        """Every cluster, by name."""
        return _by_name(_public(row) for row in self.db.query("SELECT * FROM clusters"))

    def _cluster(self, name):
        return _public(self._row("clusters", name))

    # --- networks ------------------------------------------------------------

    def _network_row(self, name):
        return self.db.query_one(_NETWORK_SELECT + " WHERE w.name = ?", (name,))

    def _networks(self):
        """Every network row (with ids), by name."""
        return {row["name"]: row for row in self.db.query(_NETWORK_SELECT)}

    def get_network(self, name):
        """One network as a dict, or None."""
        return _public(self._network_row(validate.object_name(name, "network")))

    def list_networks(self):
        """Every network, by name."""
        return _by_name(_public(row) for row in self._networks().values())

    def ensure_network(
        self,
        name,
        cidr,
        *,
        gateway=None,
        domain=None,
        dhcp_start=None,
        dhcp_end=None,
        mtu=None,
        cluster=DEFAULT_CLUSTER,
        check_mode=False,
    ):
        """Create or update a network; (changed, before, after).

        The gateway and the DHCP range must lie inside the network; a new CIDR
        must still hold every address its NICs have.  Networks never overlap:
        an address then belongs to one network only, so the UNIQUE (network,
        address) of NICs keeps two nodes from sharing it.
        """
        name = validate.object_name(name, "network")
        given = {
            "cidr": validate.network(cidr),
            "gateway": _optional(validate.ip_address, gateway),
            "domain": _optional(validate.hostname, domain),
            "dhcp_start": _optional(validate.ip_address, dhcp_start),
            "dhcp_end": _optional(validate.ip_address, dhcp_end),
            "mtu": _optional(validate.number, mtu, *NUMBERS["mtu"]),
        }
        cluster = validate.object_name(cluster, "cluster")
        with self.db.transaction(dry_run=check_mode):
            before = self._network_row(name)
            values = {"gateway": None, "domain": None, "dhcp_start": None, "dhcp_end": None, "mtu": None}
            if before is not None:
                values = {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            values["cluster_id"] = self._id_of("clusters", "cluster", cluster)
            check_network(name, values, self._networks().values())
            if before is not None and values["cidr"] != before["cidr"]:
                self._check_nics_fit(before, values["cidr"])
            self._upsert("networks", before, name, values)
            after = self._network_row(name)
        return before != after, _public(before), _public(after)

    def _check_nics_fit(self, network, cidr):
        """Refuse a new CIDR that would leave addresses of existing NICs outside it."""
        rows = self.db.query(
            "SELECT n.name AS node, x.ip FROM nics x JOIN nodes n ON n.id = x.node_id"
            " WHERE x.network_id = ? AND x.ip IS NOT NULL",
            (network["id"],),
        )
        outside = [row for row in rows if ipaddress.ip_address(row["ip"]) not in ipaddress.ip_network(cidr)]
        if outside:
            raise OdaConflictError(
                "network '%s' cannot become %s: %d NIC addresses would lie outside it, on %s"
                % (network["name"], cidr, len(outside), nodeset.fold(row["node"] for row in outside))
            )

    def remove_network(self, name, check_mode=False):
        """Delete a network no NIC uses; returns changed."""

        def refuse(row):
            users = self.db.query(
                "SELECT n.name FROM nics x JOIN nodes n ON n.id = x.node_id WHERE x.network_id = ?",
                (row["id"],),
            )
            if users:
                raise OdaConflictError(
                    "network '%s' is still used by %s, on %s"
                    % (name, _plural(len(users), "NIC"), nodeset.fold(user["name"] for user in users))
                )

        name = validate.object_name(name, "network")
        return self._remove_simple("networks", name, check_mode, refuse)

    # --- groups --------------------------------------------------------------

    def _group(self, name):
        row = self._row("node_groups", name)
        if row is None:
            return None
        group = _public(row)
        group["members"] = sorted(self._group_names_of(name), key=nodeset.natural_key)
        return group

    def get_group(self, name):
        """One group with its members, or None."""
        return self._group(validate.object_name(name, "group"))

    def ensure_group(self, name, description=None, check_mode=False):
        """Create a group or update its description; (changed, before, after)."""
        name = validate.object_name(name, "group")
        given = {"description": _optional(_text, description)}
        return self._ensure_simple("node_groups", name, given, given, load=self._group, check_mode=check_mode)

    def remove_group(self, name, check_mode=False):
        """Delete a group (its nodes stay); returns changed."""
        return self._remove_simple("node_groups", validate.object_name(name, "group"), check_mode)

    def list_groups(self):
        """Every group with its members, by name."""
        with self.db.transaction(write=False):
            names = [row["name"] for row in self.db.query("SELECT name FROM node_groups")]
            return _by_name(self._group(name) for name in names)

    def group_members(self, name):
        """Names of a group's nodes, in natural order; OdaNotFoundError for an unknown group."""
        return sorted(self._group_names_of(validate.object_name(name, "group")), key=nodeset.natural_key)

    # --- images --------------------------------------------------------------

    def _image(self, name):
        return _public(self._row("images", name))

    def get_image(self, name):
        """One image, or None."""
        return self._image(validate.object_name(name, "image"))

    def list_images(self):
        """Every image, by name."""
        return _by_name(_public(row) for row in self.db.query("SELECT * FROM images"))

    def ensure_image(self, name, distro=None, arch=None, path=None, check_mode=False):
        """Create or update a node image; (changed, before, after)."""
        name = validate.object_name(name, "image")
        given = {
            "distro": _optional(validate.object_name, distro, "distribution"),
            "arch": _optional(validate.object_name, arch, "architecture"),
            "path": _optional(validate.absolute_path, path, "image path"),
        }
        defaults = dict(given, state=NEW_IMAGE_STATE)
        return self._ensure_simple("images", name, given, defaults, load=self._image, check_mode=check_mode)

    def remove_image(self, name, check_mode=False):
        """Delete an image no node uses; returns changed."""

        def refuse(row):
            users = self.db.query("SELECT name FROM nodes WHERE image_id = ?", (row["id"],))
            if users:
                raise OdaConflictError(
                    "image '%s' is still used by nodes %s" % (name, nodeset.fold(u["name"] for u in users))
                )

        name = validate.object_name(name, "image")
        return self._remove_simple("images", name, check_mode, refuse)

    # --- nodes: reading ------------------------------------------------------

    def _load_nodes(self, name=None):
        """Nodes with their NICs and groups, keyed by name; ids kept for writing.

        Three queries whatever the number of nodes: one for the nodes, one for
        every NIC, one for every membership.
        """
        if name is None:
            rows = self.db.query(_NODE_SELECT)
            nic_rows = self.db.query(_NIC_SELECT)
            member_rows = self.db.query(_MEMBER_SELECT)
        else:
            rows = self.db.query(_NODE_SELECT + " WHERE n.name = ?", (name,))
            if not rows:
                return {}
            node_id = (rows[0]["id"],)
            nic_rows = self.db.query(_NIC_SELECT + " WHERE x.node_id = ?", node_id)
            member_rows = self.db.query(_MEMBER_SELECT + " WHERE m.node_id = ?", node_id)
        nodes = {}
        by_id = {}
        for row in rows:
            node = dict(row, excluded=bool(row["excluded"]), groups=[], nics=[])
            nodes[row["name"]] = by_id[row["id"]] = node
        for nic in nic_rows:
            node = by_id.get(nic.pop("node_id"))
            if node is not None:
                node["nics"].append(nic)
        for member in member_rows:
            node = by_id.get(member["node_id"])
            if node is not None:
                node["groups"].append(member["name"])
        for node in nodes.values():
            node["groups"].sort()
            node["nics"].sort(key=lambda nic: nodeset.natural_key(nic["name"]))
        return nodes

    @staticmethod
    def _public_node(node):
        if node is None:
            return None
        public = _public(node)
        public["nics"] = [_public(nic) for nic in node["nics"]]
        public["groups"] = list(node["groups"])
        return public

    def get_node(self, name):
        """One node with its NICs and groups, or None."""
        name = validate.hostname(name)
        return self._public_node(self._load_nodes(name).get(name))

    def list_nodes(self, pattern=None):
        """Nodes in natural order; pattern is a node set such as 'node[001-064]' or '@oscar_clients'.

        Names of the pattern that are not in the database are left out.
        """
        with self.db.transaction(write=False):
            nodes = self._load_nodes()
            names = self._expand(pattern) if pattern is not None else sorted(nodes, key=nodeset.natural_key)
        return [self._public_node(nodes[name]) for name in names if name in nodes]

    # --- nodes: writing ------------------------------------------------------

    def ensure_node(
        self,
        name,
        *,
        hostname=None,
        image=None,
        groups=None,
        state=None,
        nics=None,
        cluster=DEFAULT_CLUSTER,
        excluded=None,
        domain=None,
        cpus=None,
        memory_mb=None,
        arch=None,
        check_mode=False,
    ):
        """Create or update a node; (changed, before, after) with NICs and groups in both.

        groups, when given, is the node's exact list of groups.  nics, when
        given, is its exact list of NICs, each {name, mac, ip, network}; a key
        left out keeps that NIC's stored value.  A MAC or address that another
        node holds is an OdaConflictError naming that node.  cluster is not
        None-means-keep: a node of another cluster must name it every time.
        """
        name = validate.hostname(name)
        columns = {
            "hostname": _optional(validate.hostname, hostname),
            "domain": _optional(validate.hostname, domain),
            "state": _optional(validate.choice, state, NODE_STATES, "node state"),
            "excluded": _optional(_flag, excluded, "excluded flag"),
            "cpus": _optional(validate.number, cpus, *NUMBERS["cpus"]),
            "memory_mb": _optional(validate.number, memory_mb, *NUMBERS["memory_mb"]),
            "arch": _optional(validate.object_name, arch, "architecture"),
        }
        image = _optional(validate.object_name, image, "image")
        cluster = validate.object_name(cluster, "cluster")
        groups = _optional(_name_list, groups, "group")
        nic_specs = None
        if nics is not None:
            if not isinstance(nics, (list, tuple)):
                raise OdaValidationError("invalid NIC list of node %s: expected a list" % name)
            nic_specs = [_nic_spec(nic, name) for nic in nics]
            _refuse_repeated_nic_names(name, nic_specs)

        with self.db.transaction(dry_run=check_mode):
            before = self._load_nodes(name).get(name)
            columns["cluster_id"] = self._id_of("clusters", "cluster", cluster)
            if image is not None:
                columns["image_id"] = self._id_of("images", "image", image)
            networks = self._networks()
            plan = _NodePlan(name, before)
            plan.set_columns(columns)
            if groups is not None:
                plan.group_ids = set(self._id_of("node_groups", "group", group) for group in groups)
            if nic_specs is not None:
                plan.set_nics(nic_specs, networks)
            plan.fill_defaults(networks)
            self._write_plans([plan])
            after = self._load_nodes(name).get(name)
        return before != after, self._public_node(before), self._public_node(after)

    def define_clients(
        self,
        pattern_or_names,
        network,
        start_ip,
        *,
        image=None,
        group="oscar_clients",
        macs=None,
        nic="eth0",
        check_mode=False,
    ):
        """OSCAR's "Define OSCAR Clients": many nodes on one network with consecutive addresses.

        pattern_or_names is a node set ('node[001-064]') or a list of names;
        node i gets address start_ip + i on NIC ``nic`` and, when macs is
        given (one per node, in the same order), MAC i.  Existing nodes are
        updated: they join the group and keep their other NICs and groups.
        One transaction: when any node is refused, none is written.
        Returns (changed, names of the nodes created or changed).
        """
        network = validate.object_name(network, "network")
        nic = validate.object_name(nic, "NIC")
        group = validate.object_name(group, "group")
        image = _optional(validate.object_name, image, "image")
        start = ipaddress.ip_address(validate.ip_address(start_ip))
        with self.db.transaction(dry_run=check_mode):
            names = self._client_names(pattern_or_names)
            mac_list = _client_macs(macs, names)
            addresses = _consecutive_addresses(start, names)
            networks = self._networks()
            if network not in networks:
                raise OdaNotFoundError("unknown network '%s'" % network)
            net = networks[network]
            _refuse_gateway(net, names, addresses)
            image_id = None if image is None else self._id_of("images", "image", image)
            group_id = self._id_of("node_groups", "group", group)
            before = self._load_nodes()
            plans = []
            for index, name in enumerate(names):
                plan = _NodePlan(name, before.get(name))
                if plan.before is None:
                    # A new client belongs to its network's cluster and domain.
                    plan.set_columns({"cluster_id": net["cluster_id"], "domain": net["domain"]})
                if image_id is not None:
                    plan.set_columns({"image_id": image_id})
                plan.add_group_ids.add(group_id)
                spec = {"name": nic, "mac": mac_list[index], "ip": addresses[index], "network": network}
                plan.set_nics([spec], networks, replace_all=False)
                plan.fill_defaults(networks)
                plans.append(plan)
            self._write_plans(plans)
            after = self._load_nodes()
        changed = [name for name in names if before.get(name) != after.get(name)]
        return bool(changed), changed

    def _client_names(self, pattern_or_names):
        """Node names of define_clients: a node set, or a list of names each given once."""
        if isinstance(pattern_or_names, str):
            names = self._expand(pattern_or_names)
        elif isinstance(pattern_or_names, (list, tuple)):
            names = list(pattern_or_names)
        else:
            raise OdaValidationError(
                "invalid node names '%s': expected a node set or a list" % pattern_or_names
            )
        # A dict, not a list: a lookup per name keeps a set of 50,000 names linear.
        checked = {}
        for raw in names:
            name = validate.hostname(raw)
            if name in checked:
                raise OdaValidationError("node name '%s' is listed twice" % name)
            checked[name] = None
        if not checked:
            raise OdaValidationError("no node names given")
        return list(checked)

    def _address_holders(self, macs, addresses):
        """Who holds the given MACs and (network id, address) pairs: maps to (node, NIC).

        Only those rows are read, by index, a chunk at a time: one node's
        write costs the same with 10 nodes stored or 50,000.
        """
        select = "SELECT n.name AS node, x.name AS nic, x.mac, x.ip, x.network_id FROM nics x"
        select += " JOIN nodes n ON n.id = x.node_id WHERE "
        held_macs, held_ips = {}, {}
        for chunk in _chunks(sorted(macs)):
            sql = select + "x.mac IN (%s)" % ", ".join("?" * len(chunk))
            for row in self.db.query(sql, chunk):
                held_macs[row["mac"]] = (row["node"], row["nic"])
        by_network = {}
        for network_id, ip in addresses:
            by_network.setdefault(network_id, []).append(ip)
        for network_id, ips in sorted(by_network.items()):
            for chunk in _chunks(sorted(ips)):
                sql = select + "x.network_id = ? AND x.ip IN (%s)" % ", ".join("?" * len(chunk))
                for row in self.db.query(sql, [network_id, *chunk]):
                    held_ips[(network_id, row["ip"])] = (row["node"], row["nic"])
        return held_macs, held_ips

    def _check_addresses(self, plans):
        """Refuse a MAC or address that a NIC outside this write holds, or that two NICs of it want."""
        rewritten = set((plan.name, nic) for plan in plans for nic in plan.replaced)
        wanted = [nic for plan in plans for nic in plan.nics.values()]
        held_macs, held_ips = self._address_holders(
            set(nic["mac"] for nic in wanted if nic["mac"]),
            set((nic["network_id"], nic["ip"]) for nic in wanted if nic["ip"]),
        )
        wanted_macs, wanted_ips = {}, {}
        for plan in plans:
            for nic_name, nic in sorted(plan.nics.items()):
                owner = (plan.name, nic_name)
                if nic["mac"]:
                    _claim(
                        nic["mac"],
                        "MAC %s" % nic["mac"],
                        owner,
                        held=held_macs,
                        wanted=wanted_macs,
                        rewritten=rewritten,
                    )
                if nic["ip"]:
                    what = "address %s on network '%s'" % (nic["ip"], nic["network"])
                    key = (nic["network_id"], nic["ip"])
                    _claim(key, what, owner, held=held_ips, wanted=wanted_ips, rewritten=rewritten)

    def _write_plans(self, plans):
        """Write planned nodes: free every rewritten NIC first, then write rows, groups and NICs.

        Freeing first lets nodes swap or shift addresses inside one write
        without tripping the UNIQUE constraints half-way.
        """
        self._check_addresses(plans)
        for plan in plans:
            for nic_name in plan.stale_nics():
                self.db.execute(
                    "DELETE FROM nics WHERE node_id = ? AND name = ?", (plan.before["id"], nic_name)
                )
        for plan in plans:
            node_id = self._upsert("nodes", plan.before, plan.name, plan.columns)
            self._write_groups(node_id, plan)
            for nic_name in plan.new_nics():
                nic = plan.nics[nic_name]
                self.db.execute(
                    "INSERT INTO nics (node_id, name, mac, ip, network_id) VALUES (?, ?, ?, ?, ?)",
                    (node_id, nic_name, nic["mac"], nic["ip"], nic["network_id"]),
                )

    def _write_groups(self, node_id, plan):
        current = set()
        if plan.before is not None:
            rows = self.db.query("SELECT group_id FROM group_members WHERE node_id = ?", (node_id,))
            current = set(row["group_id"] for row in rows)
        wanted = (current if plan.group_ids is None else set(plan.group_ids)) | plan.add_group_ids
        for group_id in sorted(current - wanted):
            self.db.execute(
                "DELETE FROM group_members WHERE group_id = ? AND node_id = ?", (group_id, node_id)
            )
        for group_id in sorted(wanted - current):
            self.db.execute(
                "INSERT INTO group_members (group_id, node_id) VALUES (?, ?)", (group_id, node_id)
            )

    def remove_node(self, name, check_mode=False):
        """Delete a node with its NICs, memberships and package states; returns changed."""
        return self._remove_simple("nodes", validate.hostname(name), check_mode)

    def set_node_state(self, name, state, check_mode=False):
        """Set an existing node's state; (changed, before, after) as full node dicts."""
        name = validate.hostname(name)
        state = validate.choice(state, NODE_STATES, "node state")
        with self.db.transaction(dry_run=check_mode):
            before = self._load_nodes(name).get(name)
            if before is None:
                raise OdaNotFoundError("unknown node '%s'" % name)
            if before["state"] != state:
                self.db.execute("UPDATE nodes SET state = ? WHERE id = ?", (state, before["id"]))
            after = self._load_nodes(name).get(name)
        return before != after, self._public_node(before), self._public_node(after)

    # --- nodes: bulk changes -------------------------------------------------

    def expand_nodes(self, expression):
        """Names of a node set in natural order, stored or not; @group terms read the database."""
        with self.db.transaction(write=False):
            return self._expand(expression)

    def _existing_nodes(self, pattern_or_names):
        """(names, every stored node) for a node set whose names must all be stored nodes."""
        names = self._client_names(pattern_or_names)
        nodes = self._load_nodes()
        missing = [name for name in names if name not in nodes]
        if len(missing) == 1:
            raise OdaNotFoundError("unknown node '%s'" % missing[0])
        if missing:
            raise OdaNotFoundError("unknown nodes %s" % nodeset.fold(missing))
        return names, nodes

    def _write_bulk(self, names, before, plans):
        """Write plans and return (changed, names of the nodes that changed)."""
        self._write_plans(plans)
        after = self._load_nodes()
        changed = [name for name in names if before.get(name) != after.get(name)]
        return bool(changed), changed

    def update_nodes(
        self,
        pattern_or_names,
        *,
        image=None,
        state=None,
        excluded=None,
        add_groups=(),
        remove_groups=(),
        check_mode=False,
    ):
        """Change existing nodes together: image, state, excluded flag, group memberships.

        pattern_or_names is a node set or a list of names; every name must be
        a stored node.  An argument left at None keeps each node's value.
        One transaction: (changed, names of the nodes that changed).
        """
        columns = {
            "state": _optional(validate.choice, state, NODE_STATES, "node state"),
            "excluded": _optional(_flag, excluded, "excluded flag"),
        }
        image = _optional(validate.object_name, image, "image")
        add = _name_list(add_groups, "group")
        remove = _name_list(remove_groups, "group")
        for group in add:
            if group in remove:
                raise OdaValidationError("group '%s' is both added and removed" % group)
        with self.db.transaction(dry_run=check_mode):
            names, before = self._existing_nodes(pattern_or_names)
            if image is not None:
                columns["image_id"] = self._id_of("images", "image", image)
            add_ids = set(self._id_of("node_groups", "group", group) for group in add)
            remove_ids = set(self._id_of("node_groups", "group", group) for group in remove)
            group_ids = {row["name"]: row["id"] for row in self.db.query("SELECT id, name FROM node_groups")}
            plans = []
            for name in names:
                plan = _NodePlan(name, before[name])
                plan.set_columns(columns)
                current = set(group_ids[group] for group in before[name]["groups"])
                plan.group_ids = (current | add_ids) - remove_ids
                plans.append(plan)
            return self._write_bulk(names, before, plans)

    def assign_macs(self, macs, nic="eth0", check_mode=False):
        """Give NIC ``nic`` of existing nodes their MACs; macs maps node name -> MAC.

        A node without that NIC gets it (MAC only); the NIC's address and
        network stay.  MACs may move between the nodes of one call.  One
        transaction: (changed, names of the nodes that changed).
        """
        if not isinstance(macs, dict):
            raise OdaValidationError("invalid MAC assignment '%s': expected node name -> MAC" % (macs,))
        nic = validate.object_name(nic, "NIC")
        wanted = {}
        for raw_name, mac in macs.items():
            name = validate.hostname(raw_name)
            if name in wanted:
                raise OdaValidationError("node name '%s' is listed twice" % name)
            wanted[name] = validate.mac_address(mac)
        with self.db.transaction(dry_run=check_mode):
            names, before = self._existing_nodes(sorted(wanted, key=nodeset.natural_key))
            networks = self._networks()
            plans = []
            for name in names:
                plan = _NodePlan(name, before[name])
                spec = {"name": nic, "mac": wanted[name], "ip": None, "network": None}
                plan.set_nics([spec], networks, replace_all=False)
                plans.append(plan)
            return self._write_bulk(names, before, plans)

    def remove_nodes(self, pattern_or_names, check_mode=False):
        """Delete the stored nodes of a node set, in one transaction; returns the names removed.

        Names of the set that are not stored are left out: removing twice is
        not an error.
        """
        with self.db.transaction(dry_run=check_mode):
            names = self._client_names(pattern_or_names)
            ids = {row["name"]: row["id"] for row in self.db.query("SELECT id, name FROM nodes")}
            removed = [name for name in names if name in ids]
            for name in removed:
                self.db.execute("DELETE FROM nodes WHERE id = ?", (ids[name],))
        return removed

    # --- packages and their configuration ------------------------------------

    def _relations(self, package_ids=None):
        """{package id: {kind: [targets]}}, for the given package ids or every package."""
        sql = "SELECT package_id, kind, target FROM package_relations"
        params = ()
        if package_ids is not None:
            package_ids = sorted(set(package_ids))
            if not package_ids:
                return {}
            sql += " WHERE package_id IN (%s)" % ", ".join("?" * len(package_ids))
            params = package_ids
        relations = {}
        for row in self.db.query(sql, params):
            kinds = relations.setdefault(row["package_id"], {kind: [] for kind in PACKAGE_RELATIONS})
            kinds[row["kind"]].append(row["target"])
        for kinds in relations.values():
            for targets in kinds.values():
                targets.sort(key=nodeset.natural_key)
        return relations

    @staticmethod
    def _with_relations(row, relations):
        """A package row as callers see it: its columns and one list per relation kind."""
        package = _public(row)
        kinds = relations.get(row["id"], {})
        for kind in PACKAGE_RELATIONS:
            package[kind] = list(kinds.get(kind, []))
        return package

    def _package(self, name):
        row = self._row("packages", name)
        if row is None:
            return None
        return self._with_relations(row, self._relations([row["id"]]))

    def get_package(self, name):
        """One package with its provides, requires and conflicts lists, or None."""
        return self._package(validate.object_name(name, "package"))

    def list_packages(self):
        """Every registered package with its relations, by name."""
        with self.db.transaction(write=False):
            rows = self.db.query("SELECT * FROM packages")
            relations = self._relations()
        return _by_name(self._with_relations(row, relations) for row in rows)

    def ensure_package(
        self,
        name,
        version=None,
        summary=None,
        *,
        provides=None,
        requires=None,
        conflicts=None,
        check_mode=False,
    ):
        """Register a package or update it; (changed, before, after).

        provides, requires and conflicts, when given, are the package's exact
        lists of that kind: names of packages or of capabilities that
        packages provide.  A conflict that would already hold on a node or an
        image where both packages are wanted is an OdaConflictError.
        """
        name = validate.object_name(name, "package")
        given = {"version": _optional(_text, version), "summary": _optional(_text, summary)}
        relations = {}
        for kind, targets in (("provides", provides), ("requires", requires), ("conflicts", conflicts)):
            if targets is None:
                continue
            relations[kind] = _name_list(targets, "package")
            if kind != "provides" and name in relations[kind]:
                verb = "require" if kind == "requires" else "conflict with"
                raise OdaValidationError("package '%s' cannot %s itself" % (name, verb))
        with self.db.transaction(dry_run=check_mode):
            before = self._package(name)
            values = dict.fromkeys(given) if before is None else {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            package_id = self._upsert("packages", self._row("packages", name), name, values)
            for kind, targets in sorted(relations.items()):
                self._write_relations(package_id, kind, [] if before is None else before[kind], targets)
            if "provides" in relations or "conflicts" in relations:
                self._refuse_conflicts_where_wanted(package_id)
            after = self._package(name)
        return before != after, before, after

    def _write_relations(self, package_id, kind, current, targets):
        for target in sorted(set(current) - set(targets)):
            self.db.execute(
                "DELETE FROM package_relations WHERE package_id = ? AND kind = ? AND target = ?",
                (package_id, kind, target),
            )
        for target in targets:
            if target not in current:
                self.db.execute(
                    "INSERT INTO package_relations (package_id, kind, target) VALUES (?, ?, ?)",
                    (package_id, kind, target),
                )

    def remove_package(self, name, check_mode=False):
        """Delete a package with its relations, statuses and configuration; returns changed.

        Refused while a node or an image has it installed or to be installed.
        """

        def refuse(row):
            holders = []
            for where in sorted(_STATUS_TABLES):
                names = [found["name"] for found in self._wanted_on(where, row["id"])]
                if names:
                    holders.append("%ss %s" % (where, nodeset.fold(names)))
            if holders:
                raise OdaConflictError(
                    "package '%s' is still installed or to be installed on %s" % (name, " and ".join(holders))
                )

        name = validate.object_name(name, "package")
        return self._remove_simple("packages", name, check_mode, refuse)

    def _status_target(self, node, image):
        """("node", name) or ("image", name): exactly one of the two must be given."""
        if (node is None) == (image is None):
            raise OdaValidationError("a package status belongs to a node or an image: give exactly one")
        if node is not None:
            return "node", validate.hostname(node)
        return "image", validate.object_name(image, "image")

    def set_package_status(self, package, status, *, node=None, image=None, check_mode=False):
        """Record a package's status on one node or one image; (changed, before, after) as status text.

        status is one of PACKAGE_STATUSES, or None to forget the record
        (before or after is None where there is no record).  Making a package
        wanted (should_be_installed or installed) where a package it conflicts
        with is wanted is an OdaConflictError naming both.
        """
        package = validate.object_name(package, "package")
        where, target = self._status_target(node, image)
        status = _optional(validate.choice, status, PACKAGE_STATUSES, "package status")
        table, column, owner_table = _STATUS_TABLES[where]
        with self.db.transaction(dry_run=check_mode):
            package_id = self._id_of("packages", "package", package)
            target_id = self._id_of(owner_table, where, target)
            key = (target_id, package_id)
            row = self.db.query_one(
                "SELECT status FROM %s WHERE %s = ? AND package_id = ?" % (table, column), key
            )
            before = None if row is None else row["status"]
            if before != status:
                if status is None:
                    self.db.execute("DELETE FROM %s WHERE %s = ? AND package_id = ?" % (table, column), key)
                elif before is None:
                    self.db.execute(
                        "INSERT INTO %s (%s, package_id, status) VALUES (?, ?, ?)" % (table, column),
                        (*key, status),
                    )
                else:
                    self.db.execute(
                        "UPDATE %s SET status = ? WHERE %s = ? AND package_id = ?" % (table, column),
                        (status, *key),
                    )
                if status in PACKAGE_WANTED:
                    self._refuse_conflicts_on(where, target_id, target)
        return before != status, before, status

    def package_statuses_of(self, *, node=None, image=None):
        """{package: status} of one node or one image (give exactly one), read by index."""
        where, target = self._status_target(node, image)
        table, column, owner_table = _STATUS_TABLES[where]
        rows = self.db.query(
            "SELECT p.name AS package, s.status FROM %s s JOIN packages p ON p.id = s.package_id"
            " WHERE s.%s = ?" % (table, column),
            (self._id_of(owner_table, where, target),),
        )
        return {row["package"]: row["status"] for row in rows}

    def list_package_statuses(self, package=None, nodes=None, image=None):
        """Package statuses as dicts {package, node, image, status}; one of node and image is None.

        Filters: package (a name), nodes (a node set such as 'node[001-064]'
        or '@oscar_clients'), image (a name).  nodes alone gives only node
        records, image alone only image records, both give both.  Sorted by
        package, then nodes before images, each in natural order.
        """
        package = _optional(validate.object_name, package, "package")
        image = _optional(validate.object_name, image, "image")
        kinds = [where for where, given in (("node", nodes), ("image", image)) if given is not None]
        statuses = []
        with self.db.transaction(write=False):
            if package is not None:
                self._id_of("packages", "package", package)
            if image is not None:
                self._id_of("images", "image", image)
            names = None if nodes is None else set(self._expand(nodes))
            for where in kinds or sorted(_STATUS_TABLES):
                table, column, owner_table = _STATUS_TABLES[where]
                sql = (
                    "SELECT p.name AS package, o.name AS owner, s.status FROM %s s"
                    " JOIN packages p ON p.id = s.package_id JOIN %s o ON o.id = s.%s"
                    % (table, owner_table, column)
                )
                params = ()
                if package is not None:
                    sql, params = sql + " WHERE p.name = ?", (package,)
                for row in self.db.query(sql, params):
                    if where == "node" and names is not None and row["owner"] not in names:
                        continue
                    if where == "image" and image is not None and row["owner"] != image:
                        continue
                    entry = {"package": row["package"], "node": None, "image": None, "status": row["status"]}
                    entry[where] = row["owner"]
                    statuses.append(entry)
        return sorted(
            statuses,
            key=lambda entry: (
                nodeset.natural_key(entry["package"]),
                entry["node"] is None,
                nodeset.natural_key(entry["node"] or entry["image"]),
            ),
        )

    def _wanted_on(self, where, package_id):
        """Nodes or images (where) on which a package is wanted: rows {id, name}."""
        table, column, owner_table = _STATUS_TABLES[where]
        return self.db.query(
            "SELECT o.id, o.name FROM %s s JOIN %s o ON o.id = s.%s"
            " WHERE s.package_id = ? AND s.status IN (?, ?)" % (table, owner_table, column),
            (package_id, *PACKAGE_WANTED),
        )

    def _refuse_conflicts_where_wanted(self, package_id):
        """Check every node and image on which a package is wanted, after its relations changed."""
        for where in sorted(_STATUS_TABLES):
            for owner in self._wanted_on(where, package_id):
                self._refuse_conflicts_on(where, owner["id"], owner["name"])

    def _refuse_conflicts_on(self, where, owner_id, owner):
        """OdaConflictError when two packages wanted on one node or image conflict."""
        table, column, _owner_table = _STATUS_TABLES[where]
        rows = self.db.query(
            "SELECT p.id, p.name FROM %s s JOIN packages p ON p.id = s.package_id"
            " WHERE s.%s = ? AND s.status IN (?, ?)" % (table, column),
            (owner_id, *PACKAGE_WANTED),
        )
        if len(rows) < 2:
            return
        relations = self._relations(row["id"] for row in rows)
        wanted = sorted(rows, key=lambda row: nodeset.natural_key(row["name"]))
        for package in wanted:
            refused = set(relations.get(package["id"], {}).get("conflicts", ()))
            for other in wanted:
                if other["id"] == package["id"]:
                    continue
                offered = set(relations.get(other["id"], {}).get("provides", ())) | {other["name"]}
                clash = sorted(refused & offered, key=nodeset.natural_key)
                if not clash:
                    continue
                if other["name"] in clash:
                    what = "package '%s'" % other["name"]
                else:
                    what = "'%s', which package '%s' provides," % (clash[0], other["name"])
                raise OdaConflictError(
                    "package '%s' conflicts with %s on %s %s" % (package["name"], what, where, owner)
                )

    def _config(self, package_id):
        rows = self.db.query(
            "SELECT config_key, value FROM package_config WHERE package_id = ?", (package_id,)
        )
        return {row["config_key"]: json.loads(row["value"]) for row in rows}

    def get_config(self, package, key=None):
        """A package's configuration: every key as a dict, or one key's value (None when unset)."""
        package = validate.object_name(package, "package")
        config = self._config(self._id_of("packages", "package", package))
        if key is None:
            return config
        return config.get(validate.object_name(key, "configuration key"))

    def set_config(self, package, key, value, check_mode=False):
        """Set one configuration value of a package (None removes it); (changed, before, after).

        Values are stored as JSON, so numbers, booleans, lists and dicts come
        back as they went in.
        """
        package = validate.object_name(package, "package")
        key = validate.object_name(key, "configuration key")
        try:
            encoded = None if value is None else json.dumps(value, sort_keys=True)
        except (TypeError, ValueError):
            raise OdaValidationError(
                "invalid value for %s %s: %r cannot be stored as JSON" % (package, key, value)
            ) from None
        with self.db.transaction(dry_run=check_mode):
            package_id = self._id_of("packages", "package", package)
            before = self._config(package_id).get(key)
            self.db.execute(
                "DELETE FROM package_config WHERE package_id = ? AND config_key = ?", (package_id, key)
            )
            if encoded is not None:
                self.db.execute(
                    "INSERT INTO package_config (package_id, config_key, value) VALUES (?, ?, ?)",
                    (package_id, key, encoded),
                )
            after = self._config(package_id).get(key)
        return before != after, before, after

    # --- wizard steps --------------------------------------------------------

    def _step(self, name):
        return _public(self._row("wizard_steps", name))

    def set_step(self, name, status, check_mode=False):
        """Record a wizard step's status; (changed, before, after).

        updated_at moves only when the status changes.
        """
        name = validate.object_name(name, "wizard step")
        status = validate.choice(status, STEP_STATUSES, "wizard step status")
        with self.db.transaction(dry_run=check_mode):
            before = self._step(name)
            if before is None or before["status"] != status:
                values = {"status": status, "updated_at": _now()}
                self._upsert("wizard_steps", self._row("wizard_steps", name), name, values)
            after = self._step(name)
        return before != after, before, after

    def list_steps(self):
        """Every wizard step in the order first recorded."""
        return [_public(row) for row in self.db.query("SELECT * FROM wizard_steps ORDER BY id")]

    # --- inventory variables -------------------------------------------------

    def _variable_owner(self, scope, owner):
        """(table, owner column, owner id) of a cluster, group or node; errors name what is unknown."""
        if scope not in VARIABLE_SCOPES:
            raise OdaValidationError(
                "invalid variable scope '%s': expected one of %s" % (scope, ", ".join(VARIABLE_SCOPES))
            )
        table, column, owner_table = VARIABLE_SCOPES[scope]
        check = validate.hostname if scope == "node" else validate.object_name
        name = check(owner) if scope == "node" else check(owner, scope)
        return table, column, self._id_of(owner_table, scope, name)

    def _variables_of(self, table, column, owner_id):
        rows = self.db.query("SELECT var_key, value FROM %s WHERE %s = ?" % (table, column), (owner_id,))
        return {row["var_key"]: json.loads(row["value"]) for row in rows}

    def get_variables(self, scope, owner):
        """The variables of a cluster, group or node (scope), as a dict."""
        return self._variables_of(*self._variable_owner(scope, owner))

    def set_variables(self, scope, owner, values, replace=False, check_mode=False):
        """Set variables of a cluster, group or node; (changed, before, after) as dicts.

        A value of None removes that variable; replace=True makes values the
        whole set, removing the others.  Values are stored as JSON.
        """
        if not isinstance(values, dict):
            raise OdaValidationError("invalid variables for %s %s: expected a mapping" % (scope, owner))
        encoded = {}
        for key, value in values.items():
            validate.variable_name(key)
            try:
                encoded[key] = None if value is None else json.dumps(value, sort_keys=True)
            except (TypeError, ValueError):
                raise OdaValidationError(
                    "invalid value for variable %s of %s %s: %r cannot be stored as JSON"
                    % (key, scope, owner, value)
                ) from None
        with self.db.transaction(dry_run=check_mode):
            table, column, owner_id = self._variable_owner(scope, owner)
            before = self._variables_of(table, column, owner_id)
            removed = set(before) - set(values) if replace else set()
            removed |= set(key for key, value in encoded.items() if value is None and key in before)
            for key in sorted(removed):
                self.db.execute(
                    "DELETE FROM %s WHERE %s = ? AND var_key = ?" % (table, column), (owner_id, key)
                )
            for key, value in sorted(encoded.items()):
                if value is None or (key in before and json.dumps(before[key], sort_keys=True) == value):
                    continue
                if key in before:
                    self.db.execute(
                        "UPDATE %s SET value = ? WHERE %s = ? AND var_key = ?" % (table, column),
                        (value, owner_id, key),
                    )
                else:
                    self.db.execute(
                        "INSERT INTO %s (%s, var_key, value) VALUES (?, ?, ?)" % (table, column),
                        (owner_id, key, value),
                    )
            after = self._variables_of(table, column, owner_id)
        return before != after, before, after

    def all_variables(self):
        """Every variable, one query per scope: {scope: {owner name: {key: value}}}."""
        result = {}
        with self.db.transaction(write=False):
            for scope, (table, column, owner_table) in VARIABLE_SCOPES.items():
                rows = self.db.query(
                    "SELECT o.name AS owner, v.var_key, v.value FROM %s v JOIN %s o ON o.id = v.%s"
                    % (table, owner_table, column)
                )
                found = result[scope] = {}
                for row in rows:
                    found.setdefault(row["owner"], {})[row["var_key"]] = json.loads(row["value"])
        return result


def _chunks(values, size=500):
    """values in lists of at most size: the parameters of one IN (...) stay within every driver's limit."""
    values = list(values)
    return [values[start : start + size] for start in range(0, len(values), size)]


def _refuse_repeated_nic_names(node, specs):
    seen = set()
    for spec in specs:
        if spec["name"] in seen:
            raise OdaValidationError("node %s lists NIC '%s' twice" % (node, spec["name"]))
        seen.add(spec["name"])


def _claim(key, what, owner, *, held, wanted, rewritten):
    """Take a MAC or address for owner, or raise OdaConflictError naming who has it."""
    holder = held.get(key)
    if holder is not None and holder != owner and holder not in rewritten:
        raise OdaConflictError("%s is already used by %s" % (what, _holder(holder)))
    other = wanted.setdefault(key, owner)
    if other != owner:
        raise OdaConflictError("%s is given to both %s and %s" % (what, _holder(other), _holder(owner)))


def _client_macs(macs, names):
    """One normalised MAC (or None) per node name (None each when no MACs were given)."""
    if macs is None:
        return [None] * len(names)
    if isinstance(macs, str) or not isinstance(macs, (list, tuple)):
        raise OdaValidationError("invalid MAC list '%s': expected a list, one MAC per node" % macs)
    if len(macs) != len(names):
        raise OdaValidationError(
            "%s given for %s (%s): give one per node, in the same order"
            % (_plural(len(macs), "MAC"), _plural(len(names), "node"), nodeset.fold(names))
        )
    # None leaves that node's MAC as it is: collected later.
    return [None if mac is None else validate.mac_address(mac) for mac in macs]


def _refuse_gateway(network, names, addresses):
    """Refuse a run of client addresses that takes the network's gateway.

    Only here: the head that routes for its nodes holds the gateway's
    address by design, given to it by name (ensure_node); a run of
    consecutive addresses reaching it is a mistake.
    """
    if network["gateway"] in addresses:
        index = addresses.index(network["gateway"])
        raise OdaConflictError(
            "address %s of node %s is the gateway of network '%s'; start the nodes elsewhere"
            % (network["gateway"], names[index], network["name"])
        )


def _consecutive_addresses(start, names):
    """start, start + 1, ... one address per name, as text."""
    try:
        return [str(start + index) for index in range(len(names))]
    except (ipaddress.AddressValueError, ValueError):
        raise OdaValidationError(
            "%d addresses from %s run past the end of the address space" % (len(names), start)
        ) from None


class _NodePlan:
    """What one node should look like after a write, computed before anything is written."""

    def __init__(self, name, before):
        self.name = name
        self.before = before
        self.columns = {column: before[column] for column in _NODE_COLUMNS} if before else {}
        if before:
            # Loaded as a bool for callers; the column holds 0/1 in every dialect.
            self.columns["excluded"] = int(before["excluded"])
        self.group_ids = None  # None: keep the current groups
        self.add_group_ids = set()
        self.nics = {}  # name -> {mac, ip, network, network_id}: the NICs this write rewrites
        self.replaced = set()  # names of the node's NICs this write owns (rewrites or drops)

    def set_columns(self, values):
        """Take the values that are not None."""
        self.columns.update((key, value) for key, value in values.items() if value is not None)

    def set_nics(self, specs, networks, replace_all=True):
        """Plan NICs from specs; a key left None keeps the stored value of that NIC.

        replace_all: the specs are the node's whole list, so NICs not in it go.
        """
        current = {nic["name"]: nic for nic in self.before["nics"]} if self.before else {}
        self.replaced = set(spec["name"] for spec in specs)
        if replace_all:
            self.replaced |= set(current)
        for spec in specs:
            old = current.get(spec["name"], {})
            nic = {
                key: spec[key] if spec[key] is not None else old.get(key) for key in ("mac", "ip", "network")
            }
            what = "node %s %s address" % (self.name, spec["name"])
            nic["network_id"] = None
            if nic["network"] is not None:
                if nic["network"] not in networks:
                    raise OdaNotFoundError("unknown network '%s'" % nic["network"])
                network = networks[nic["network"]]
                nic["network_id"] = network["id"]
                if nic["ip"] is not None:
                    _inside(nic["ip"], network, what)
            elif nic["ip"] is not None:
                raise OdaValidationError("%s %s needs a network" % (what, nic["ip"]))
            self.nics[spec["name"]] = nic

    def fill_defaults(self, networks):
        """Defaults of a new node: host name = name, state defined, domain of its first NIC's network."""
        self.columns.setdefault("hostname", self.name)
        self.columns.setdefault("state", "defined")
        self.columns.setdefault("excluded", 0)
        for column in ("image_id", "cpus", "memory_mb", "arch"):
            self.columns.setdefault(column, None)
        if self.columns.get("domain") is None and self.before is None:
            for nic_name in sorted(self.nics, key=nodeset.natural_key):
                network = networks.get(self.nics[nic_name]["network"])
                if network is not None and network["domain"]:
                    self.columns["domain"] = network["domain"]
                    break
        self.columns.setdefault("domain", None)

    def _unchanged(self, nic):
        wanted = self.nics.get(nic["name"])
        return wanted is not None and all(wanted[key] == nic[key] for key in ("mac", "ip", "network_id"))

    def stale_nics(self):
        """Names of stored NICs this write deletes: dropped, or rewritten with new values."""
        if self.before is None:
            return []
        return [
            nic["name"]
            for nic in self.before["nics"]
            if nic["name"] in self.replaced and not self._unchanged(nic)
        ]

    def new_nics(self):
        """Names of planned NICs to insert: new ones and the rewritten ones stale_nics deleted."""
        current = {nic["name"]: nic for nic in self.before["nics"]} if self.before else {}
        return [
            name for name in sorted(self.nics) if name not in current or not self._unchanged(current[name])
        ]

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
import os

from ansible_collections.oscar.cluster.plugins.module_utils import nodeset
from ansible_collections.oscar.cluster.plugins.module_utils import oda_validate as validate
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import DEFAULT_TIMEOUT, Database
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_schema import (
    DEFAULT_CLUSTER,
    ensure_schema,
    init,
)

NODE_STATES = ("defined", "installing", "up", "down", "dead")
STEP_STATUSES = ("pending", "running", "done", "failed", "skipped")
NEW_IMAGE_STATE = "defined"
NIC_KEYS = ("name", "mac", "ip", "network")

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


def _choice(value, choices, what):
    if value not in choices:
        raise OdaValidationError("invalid %s '%s': expected one of %s" % (what, value, ", ".join(choices)))
    return value


def _number(value, what, low, high):
    """An int within [low, high]; digit strings are accepted, booleans are not."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise OdaValidationError("invalid %s '%s': expected a whole number" % (what, value))
    try:
        number = int(value)
    except ValueError:
        raise OdaValidationError("invalid %s '%s': expected a whole number" % (what, value)) from None
    if not low <= number <= high:
        raise OdaValidationError("invalid %s %d: expected %d to %d" % (what, number, low, high))
    return number


def _flag(value, what):
    """A boolean as the 0/1 the database stores."""
    if value in (True, False, 0, 1) and not isinstance(value, float):
        return int(value)
    raise OdaValidationError("invalid %s '%s': expected true or false" % (what, value))


def _absolute_path(value, what):
    text = str(value).strip()
    if not os.path.isabs(text) or "\0" in text:
        raise OdaValidationError("invalid %s '%s': expected an absolute path" % (what, value))
    return os.path.normpath(text)


def _text(value):
    return str(value)


def _name_list(values, kind):
    """A list of object names, each once, in the order given."""
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise OdaValidationError("invalid %s list '%s': expected a list of names" % (kind, values))
    names = []
    for value in values:
        name = validate.object_name(value, kind)
        if name not in names:
            names.append(name)
    return names


def _inside(address, network, what):
    """Refuse an address outside a network row, naming the network too."""
    try:
        validate.address_in_network(address, network["cidr"], what)
    except OdaValidationError as error:
        raise OdaValidationError("%s (network '%s')" % (error, network["name"])) from None


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

    @classmethod
    def open(cls, url, password=None, timeout=DEFAULT_TIMEOUT):
        """Connect, create or upgrade the schema, make sure the defaults exist; return an Oda."""
        db = Database.connect(url, password=password, timeout=timeout)
        try:
            ensure_schema(db)
            init(db)
        except BaseException:
            db.close()
            raise
        return cls(db)

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
        must still hold every address its NICs have.
        """
        name = validate.object_name(name, "network")
        given = {
            "cidr": validate.network(cidr),
            "gateway": _optional(validate.ip_address, gateway),
            "domain": _optional(validate.hostname, domain),
            "dhcp_start": _optional(validate.ip_address, dhcp_start),
            "dhcp_end": _optional(validate.ip_address, dhcp_end),
            "mtu": _optional(_number, mtu, "MTU", 68, 65535),
        }
        cluster = validate.object_name(cluster, "cluster")
        with self.db.transaction(dry_run=check_mode):
            before = self._network_row(name)
            values = {"gateway": None, "domain": None, "dhcp_start": None, "dhcp_end": None, "mtu": None}
            if before is not None:
                values = {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            values["cluster_id"] = self._id_of("clusters", "cluster", cluster)
            self._check_network_addresses(name, values)
            if before is not None and values["cidr"] != before["cidr"]:
                self._check_nics_fit(before, values["cidr"])
            self._upsert("networks", before, name, values)
            after = self._network_row(name)
        return before != after, _public(before), _public(after)

    def _check_network_addresses(self, name, values):
        network = {"name": name, "cidr": values["cidr"]}
        for key in ("gateway", "dhcp_start", "dhcp_end"):
            if values[key] is not None:
                _inside(values[key], network, key.replace("_", " "))
        start, end = values["dhcp_start"], values["dhcp_end"]
        if (start is None) != (end is None):
            raise OdaValidationError("network '%s': give both dhcp_start and dhcp_end, or neither" % name)
        if start is not None and ipaddress.ip_address(start) > ipaddress.ip_address(end):
            raise OdaValidationError("network '%s': DHCP range %s - %s goes backwards" % (name, start, end))

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
            "path": _optional(_absolute_path, path, "image path"),
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
            "state": _optional(_choice, state, NODE_STATES, "node state"),
            "excluded": _optional(_flag, excluded, "excluded flag"),
            "cpus": _optional(_number, cpus, "CPU count", 1, 1 << 20),
            "memory_mb": _optional(_number, memory_mb, "memory size (MB)", 1, 1 << 40),
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
        checked = []
        for raw in names:
            name = validate.hostname(raw)
            if name in checked:
                raise OdaValidationError("node name '%s' is listed twice" % name)
            checked.append(name)
        if not checked:
            raise OdaValidationError("no node names given")
        return checked

    def _address_holders(self):
        """Who holds each MAC and each (network id, address): maps to (node, NIC)."""
        rows = self.db.query(
            "SELECT n.name AS node, x.name AS nic, x.mac, x.ip, x.network_id"
            " FROM nics x JOIN nodes n ON n.id = x.node_id"
        )
        macs = {row["mac"]: (row["node"], row["nic"]) for row in rows if row["mac"]}
        ips = {(row["network_id"], row["ip"]): (row["node"], row["nic"]) for row in rows if row["ip"]}
        return macs, ips

    def _check_addresses(self, plans):
        """Refuse a MAC or address that a NIC outside this write holds, or that two NICs of it want."""
        rewritten = set((plan.name, nic) for plan in plans for nic in plan.replaced)
        held_macs, held_ips = self._address_holders()
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
        state = _choice(state, NODE_STATES, "node state")
        with self.db.transaction(dry_run=check_mode):
            before = self._load_nodes(name).get(name)
            if before is None:
                raise OdaNotFoundError("unknown node '%s'" % name)
            if before["state"] != state:
                self.db.execute("UPDATE nodes SET state = ? WHERE id = ?", (state, before["id"]))
            after = self._load_nodes(name).get(name)
        return before != after, self._public_node(before), self._public_node(after)

    # --- packages and their configuration ------------------------------------

    def _package(self, name):
        return _public(self._row("packages", name))

    def ensure_package(self, name, version=None, summary=None, check_mode=False):
        """Register a package or update its version and summary; (changed, before, after)."""
        name = validate.object_name(name, "package")
        given = {"version": _optional(_text, version), "summary": _optional(_text, summary)}
        return self._ensure_simple("packages", name, given, given, load=self._package, check_mode=check_mode)

    def list_packages(self):
        """Every registered package, by name."""
        return _by_name(_public(row) for row in self.db.query("SELECT * FROM packages"))

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
        status = _choice(status, STEP_STATUSES, "wizard step status")
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
    """One normalised MAC per node name (None each when no MACs were given)."""
    if macs is None:
        return [None] * len(names)
    if isinstance(macs, str) or not isinstance(macs, (list, tuple)):
        raise OdaValidationError("invalid MAC list '%s': expected a list, one MAC per node" % macs)
    if len(macs) != len(names):
        raise OdaValidationError(
            "%s given for %s (%s): give one per node, in the same order"
            % (_plural(len(macs), "MAC"), _plural(len(names), "node"), nodeset.fold(names))
        )
    return [validate.mac_address(mac) for mac in macs]


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

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's nodes with their NICs and groups, one at a time or many in one write (conventions in oda_store).

Writes over many nodes (define_clients, update, assign_macs, remove_many)
return ``(changed, before, after)`` with dicts keyed by node name, in the
order of the write: a node that did not exist is None in ``before``, one
removed None in ``after``; ``changed_nodes(outcome)`` names the nodes
that changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from . import nodeset
from . import oda_install
from . import oda_validate as validate
from .oda_errors import OdaConflictError, OdaNotFoundError, OdaValidationError
from .oda_images import version_number
from .oda_networks import Networks
from .oda_schema import DEFAULT_CLUSTER
from .oda_store import NUMBERS, NamedStore, flag, inside, name_list, optional, plural

NODE_STATES = ("defined", "installing", "up", "down", "dead")
# Where a node stands with its image: being updated in place, matching its
# image_version, or left by an update that did not finish.
IMAGE_STATES = ("updating", "in-sync", "update-failed")
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
    "image_version",
    "image_state",
    "disk_layout_id",
)

_NODE_SELECT = (
    "SELECT n.id, n.name, n.hostname, n.domain, n.cluster_id, c.name AS cluster, n.image_id,"
    " i.name AS image, n.image_version, n.image_state, n.state, n.excluded, n.cpus, n.memory_mb, n.arch,"
    " n.boot_action, n.install_stage, n.install_attempt, n.disk_layout_id, l.name AS disk_layout"
    " FROM nodes n JOIN clusters c ON c.id = n.cluster_id LEFT JOIN images i ON i.id = n.image_id"
    " LEFT JOIN disk_layouts l ON l.id = n.disk_layout_id"
)
_NIC_SELECT = (
    "SELECT x.node_id, x.name, x.mac, x.ip, x.network_id, w.name AS network"
    " FROM nics x LEFT JOIN networks w ON w.id = x.network_id"
)
# What callers see of a node: its columns without ids (cluster and image by name), then groups and NICs.
_NODE_KEYS = ("name", "hostname", "domain", "cluster", "image", "image_version", "image_state")
_NODE_KEYS += ("state", "excluded")
_NODE_KEYS += ("cpus", "memory_mb", "arch")
# Network installation (oda_install): what the next PXE boot does, the layout, where the install stands.
_NODE_KEYS += ("boot_action", "disk_layout", "install_stage", "install_attempt")
_MEMBER_SELECT = "SELECT m.node_id, g.name FROM group_members m JOIN node_groups g ON g.id = m.group_id"


def changed_nodes(outcome):
    """(changed, names of the nodes that changed) of a write over many nodes, in the order of the write."""
    changed, before, after = outcome
    return changed, [name for name in before if before[name] != after[name]]


def _nic_spec(value, node):
    """One NIC of the nics list of Nodes.ensure, checked; missing keys are None."""
    if not isinstance(value, dict):
        raise OdaValidationError("invalid NIC of node %s: expected a dict with name, mac, ip, network" % node)
    unknown = sorted(set(value) - set(NIC_KEYS))
    if unknown:
        raise OdaValidationError(
            "invalid NIC of node %s: unknown key '%s'; expected %s" % (node, unknown[0], ", ".join(NIC_KEYS))
        )
    return {
        "name": validate.object_name(value.get("name"), "NIC"),
        "mac": optional(validate.mac_address, value.get("mac")),
        "ip": optional(validate.ip_address, value.get("ip")),
        "network": optional(validate.object_name, value.get("network"), "network"),
    }


def _holder(owner):
    return "%s (%s)" % owner


class Nodes(NamedStore):
    """Nodes, their NICs and group memberships."""

    table = "nodes"
    kind = "node"

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
            node["boot_action"] = row["boot_action"] or oda_install.DEFAULT_BOOT_ACTION
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
        """A node as callers see it.  Named keys, not public(): a write over 50,000 nodes shows them all."""
        if node is None:
            return None
        shown = {key: node[key] for key in _NODE_KEYS}
        shown["groups"] = list(node["groups"])
        shown["nics"] = [{key: nic[key] for key in NIC_KEYS} for nic in node["nics"]]
        return shown

    def _name(self, name):
        return validate.hostname(name)

    def _load(self, name):
        return self._public_node(self._load_nodes(name).get(name))

    def list(self, pattern=None):
        """Nodes in natural order; pattern is a node set such as 'node[001-064]' or '@oscar_clients'.

        Names of the pattern that are not in the database are left out.
        """
        with self.db.transaction(write=False):
            nodes = self._load_nodes()
            names = self._expand(pattern) if pattern is not None else sorted(nodes, key=nodeset.natural_key)
        return [self._public_node(nodes[name]) for name in names if name in nodes]

    def ensure(
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
        image_version=None,
        image_state=None,
        boot_action=None,
        disk_layout=None,
        check_mode=False,
    ):
        """Create or update a node; (changed, before, after) with NICs and groups in both.

        groups, when given, is the node's exact list of groups.  nics, when
        given, is its exact list of NICs, each {name, mac, ip, network}; a key
        left out keeps that NIC's stored value.  A MAC or address that another
        node holds is an OdaConflictError naming that node.  cluster is not
        None-means-keep: a node of another cluster must name it every time.
        boot_action is set after the rest, by oda_install.set_boot_action
        (whose refusals apply, to the image given here too); disk_layout
        names a stored layout, '' takes the node's away.
        """
        name = validate.hostname(name)
        columns = {
            "hostname": optional(validate.hostname, hostname),
            "domain": optional(validate.hostname, domain),
            "state": optional(validate.choice, state, NODE_STATES, "node state"),
            "excluded": optional(flag, excluded, "excluded flag"),
            "cpus": optional(validate.number, cpus, *NUMBERS["cpus"]),
            "memory_mb": optional(validate.number, memory_mb, *NUMBERS["memory_mb"]),
            "arch": optional(validate.object_name, arch, "architecture"),
        }
        columns.update(_image_columns(image_version, image_state))
        image = optional(validate.object_name, image, "image")
        cluster = validate.object_name(cluster, "cluster")
        groups = optional(name_list, groups, "group")
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
            networks = Networks(self.db).rows()
            plan = _NodePlan(name, before)
            plan.set_columns(columns)
            plan.set_layout(self.db, disk_layout)
            if groups is not None:
                plan.group_ids = set(self._id_of("node_groups", "group", group) for group in groups)
            if nic_specs is not None:
                plan.set_nics(nic_specs, networks)
            plan.fill_defaults(networks)
            self._write_plans([plan])
            if boot_action is not None:
                oda_install.set_boot_action(self.db, name, boot_action)
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
        Returns (changed, before, after) over the nodes named.
        """
        network = validate.object_name(network, "network")
        nic = validate.object_name(nic, "NIC")
        group = validate.object_name(group, "group")
        image = optional(validate.object_name, image, "image")
        start = ipaddress.ip_address(validate.ip_address(start_ip))
        with self.db.transaction(dry_run=check_mode):
            names = self._client_names(pattern_or_names)
            mac_list = _client_macs(macs, names)
            addresses = _consecutive_addresses(start, names)
            networks = Networks(self.db).rows()
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
        return self._many(names, before, after)

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

    def remove(self, name, check_mode=False):
        """Delete a node with its NICs, memberships and package states; (changed, before, None)."""
        return self._remove(name, check_mode)

    def set_state(self, name, state, check_mode=False):
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

    def expand(self, expression):
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
        """Write plans; (changed, before, after) over the nodes named."""
        self._write_plans(plans)
        return self._many(names, before, self._load_nodes())

    def _many(self, names, before, after):
        """(changed, before, after) of a write over many nodes: the nodes named, as callers see them."""
        before = {name: self._public_node(before.get(name)) for name in names}
        after = {name: self._public_node(after.get(name)) for name in names}
        return before != after, before, after

    def update(
        self,
        pattern_or_names,
        *,
        image=None,
        state=None,
        excluded=None,
        add_groups=(),
        remove_groups=(),
        image_version=None,
        image_state=None,
        boot_action=None,
        disk_layout=None,
        check_mode=False,
    ):
        """Change existing nodes together: image, image version and state, state, excluded flag, groups,
        boot action and disk layout (as in ensure).

        pattern_or_names is a node set or a list of names; every name must be
        a stored node.  An argument left at None keeps each node's value.
        One transaction: (changed, before, after) over the nodes named.
        """
        columns = {
            "state": optional(validate.choice, state, NODE_STATES, "node state"),
            "excluded": optional(flag, excluded, "excluded flag"),
        }
        columns.update(_image_columns(image_version, image_state))
        image = optional(validate.object_name, image, "image")
        add = name_list(add_groups, "group")
        remove = name_list(remove_groups, "group")
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
                plan.set_layout(self.db, disk_layout)
                plans.append(plan)
            self._write_plans(plans)
            if boot_action is not None:
                for name in names:
                    oda_install.set_boot_action(self.db, name, boot_action)
            return self._many(names, before, self._load_nodes())

    def assign_macs(self, macs, nic="eth0", check_mode=False):
        """Give NIC ``nic`` of existing nodes their MACs; macs maps node name -> MAC.

        A node without that NIC gets it (MAC only); the NIC's address and
        network stay.  MACs may move between the nodes of one call.  One
        transaction: (changed, before, after) over the nodes named.
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
            networks = Networks(self.db).rows()
            plans = []
            for name in names:
                plan = _NodePlan(name, before[name])
                spec = {"name": nic, "mac": wanted[name], "ip": None, "network": None}
                plan.set_nics([spec], networks, replace_all=False)
                plans.append(plan)
            return self._write_bulk(names, before, plans)

    def collect_macs(self, entries, pattern_or_names, *, nic=None, network=None, check_mode=False):
        """Give collected MACs to the listed nodes that have none; ((changed, before, after), report).

        entries are (name or None, MAC) pairs in the order they were seen
        (oda_macs.parse_dnsmasq_log, parse_mac_lines).  Each node's NIC is
        ``nic`` (made when missing), else its NIC on ``network``, else its
        first NIC (eth0 for a node without one); only nodes whose NIC has no
        MAC take one.  A named entry goes to the listed node of that name;
        named entries of other hosts are left out.  The MACs without a name
        go, in order, to the listed nodes still without one.  A MAC that ODA
        holds already is skipped; a MAC given to two names, or a name given
        two MACs, is an OdaConflictError.  One transaction.  report holds
        assignments [{node, nic, mac}] in the order of the nodes, skipped
        (MACs ODA holds), unassigned (MACs left over) and waiting (nodes
        still without a MAC).
        """
        if nic is not None and network is not None:
            raise OdaValidationError("give the NIC by its name or by its network, not both")
        nic = optional(validate.object_name, nic, "NIC")
        network = optional(validate.object_name, network, "network")
        named, nameless = _claims(entries)
        with self.db.transaction(dry_run=check_mode):
            names, before = self._existing_nodes(pattern_or_names)
            networks = Networks(self.db).rows()
            if network is not None and network not in networks:
                raise OdaNotFoundError("unknown network '%s'" % network)
            held, _ips = self._address_holders(set(named.values()) | set(nameless), set())
            targets = [(name, _collecting_nic(before[name], nic, network)) for name in names]
            waiting = [(name, nic_name) for name, nic_name in targets if not _mac_of(before[name], nic_name)]
            wanted = {}
            for name, _nic_name in waiting:
                if name in named and named[name] not in held:
                    wanted[name] = named[name]
            taken = set(wanted.values())
            free = [mac for mac in nameless if mac not in held and mac not in taken]
            for name, _nic_name in waiting:
                if name not in wanted and free:
                    wanted[name] = free.pop(0)
            plans = []
            assignments = []
            for name, nic_name in waiting:
                if name not in wanted:
                    continue
                plan = _NodePlan(name, before[name])
                spec = {"name": nic_name, "mac": wanted[name], "ip": None, "network": None}
                plan.set_nics([spec], networks, replace_all=False)
                plans.append(plan)
                assignments.append({"node": name, "nic": nic_name, "mac": wanted[name]})
            self._write_plans(plans)
            outcome = self._many(names, before, self._load_nodes())
        report = {
            "assignments": assignments,
            "skipped": [mac for mac in _in_order(named, nameless) if mac in held],
            "unassigned": free,
            "waiting": [name for name, _nic_name in waiting if name not in wanted],
        }
        return outcome, report

    def remove_many(self, pattern_or_names, check_mode=False):
        """Delete the stored nodes of a node set, in one transaction; (changed, before, after).

        Names of the set that are not stored are left out, of before and
        after too: removing twice is not an error.
        """
        with self.db.transaction(dry_run=check_mode):
            names = self._client_names(pattern_or_names)
            before = self._load_nodes()
            removed = [name for name in names if name in before]
            for name in removed:
                self.db.execute("DELETE FROM nodes WHERE id = ?", (before[name]["id"],))
        return self._many(removed, before, {})


def _image_columns(image_version, image_state):
    """The checked image_version and image_state columns of a write (None keeps the stored value).

    The version is the number of the image version the node runs, as the
    update recorded it; it is not checked against the image's recorded
    versions, since a node may run a version of an image ODA does not assign it.
    """
    return {
        "image_version": optional(version_number, image_version, "node image version"),
        "image_state": optional(validate.choice, image_state, IMAGE_STATES, "node image state"),
    }


def _claims(entries):
    """({name: MAC} of the named entries, [MACs without a name] first seen first) of collected entries.

    A MAC given to two names, or a name given two MACs, is an OdaConflictError:
    which one is right cannot be told.  A nameless MAC that a named entry
    gives is that name's.
    """
    if isinstance(entries, (str, dict)) or not isinstance(entries, (list, tuple)):
        raise OdaValidationError("invalid collected MACs '%s': expected (name, MAC) pairs" % (entries,))
    named, owners, nameless = {}, {}, {}
    for entry in entries:
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise OdaValidationError("invalid collected MAC '%s': expected a (name, MAC) pair" % (entry,))
        name, mac = entry[0], validate.mac_address(entry[1])
        if name is None:
            nameless.setdefault(mac, None)
            continue
        name = validate.hostname(name)
        if owners.setdefault(mac, name) != name:
            raise OdaConflictError("MAC %s is claimed twice: by %s and by %s" % (mac, owners[mac], name))
        if named.setdefault(name, mac) != mac:
            raise OdaConflictError("node %s is given two MACs: %s and %s" % (name, named[name], mac))
    return named, [mac for mac in nameless if mac not in owners]


def _in_order(named, nameless):
    return list(named.values()) + [mac for mac in nameless if mac not in named.values()]


def _collecting_nic(node, nic, network):
    """The name of the NIC of a node that collect_macs gives a MAC to."""
    if nic is not None:
        return nic
    nics = node["nics"]
    if network is not None:
        on_network = [one["name"] for one in nics if one["network"] == network]
        if not on_network:
            raise OdaNotFoundError("node %s has no NIC on network '%s'" % (node["name"], network))
        return on_network[0]
    return nics[0]["name"] if nics else "eth0"


def _mac_of(node, nic_name):
    for nic in node["nics"]:
        if nic["name"] == nic_name:
            return nic["mac"]
    return None


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
            % (plural(len(macs), "MAC"), plural(len(names), "node"), nodeset.fold(names))
        )
    # None leaves that node's MAC as it is: collected later.
    return [None if mac is None else validate.mac_address(mac) for mac in macs]


def _refuse_gateway(network, names, addresses):
    """Refuse a run of client addresses that takes the network's gateway.

    Only here: the head that routes for its nodes holds the gateway's
    address by design, given to it by name (Nodes.ensure); a run of
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

    def set_layout(self, db, name):
        """The node's disk layout: None keeps it, '' takes it away, a name must be a stored layout."""
        if name is None:
            return
        self.columns["disk_layout_id"] = None if name == "" else oda_install.layout_id(db, name)

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
                    inside(nic["ip"], network, what)
            elif nic["ip"] is not None:
                raise OdaValidationError("%s %s needs a network" % (what, nic["ip"]))
            self.nics[spec["name"]] = nic

    def fill_defaults(self, networks):
        """Defaults of a new node: host name = name, state defined, domain of its first NIC's network."""
        self.columns.setdefault("hostname", self.name)
        self.columns.setdefault("state", "defined")
        self.columns.setdefault("excluded", 0)
        for column in (
            "image_id",
            "cpus",
            "memory_mb",
            "arch",
            "image_version",
            "image_state",
            "disk_layout_id",
        ):
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

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: oda
short_description: The cluster's nodes from ODA, the OSCAR database
version_added: 0.1.0
description:
  - Reads the nodes of ODA, the cluster database, with their NICs, groups, image, state and stored
    variables, and makes Ansible's inventory a view of it.
  - Every ODA group (C(oscar_server), C(oscar_clients) and the site's own) becomes an Ansible group,
    and so does every image (C(image_<name>)), network (C(network_<name>)) and cluster
    (C(cluster_<name>)).
  - Nodes whose state is C(dead) and nodes marked excluded stay in ODA but are kept out of the working
    groups (ODA groups, images and networks); they appear only in C(oda_dead) or C(oda_excluded) and
    their cluster's group, or not at all with O(unavailable_nodes=omit).
  - Variables stored in ODA with a cluster, a group or a node become group and host variables.
  - Every value read from the database is data, never a template.
  - "The source file is named C(oscar_inventory), or ends in C(oda.yml) or C(oda.yaml), and holds
    C(plugin: oscar.cluster.oda)."
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; makes the file an ODA inventory source.
    required: true
    type: str
    choices: [oscar.cluster.oda]
  database:
    description:
      - The ODA database URL, for example C(sqlite:/var/lib/oscar/oda.db),
        C(postgresql://oscar@head/oscar) or C(mysql://oscar@head/oscar).
      - A password belongs in O(database_password), not in the URL.
    type: str
    default: sqlite:/var/lib/oscar/oda.db
    env:
      - name: OSCAR_ODA_URL
  database_password:
    description: The password of a database server's user.
    type: str
    env:
      - name: OSCAR_ODA_PASSWORD
  database_timeout:
    description: Seconds to wait for the database server, or for a writer of the SQLite file.
    type: int
    default: 30
  management_network:
    description:
      - The ODA network whose address becomes C(ansible_host) of each node.
      - A node without an address on it, or every node when this is not set, gets the address of
        its first NIC (in natural order, C(eth0) before C(eth1)) that has one.
    type: str
    env:
      - name: OSCAR_ODA_MANAGEMENT_NETWORK
  unavailable_nodes:
    description:
      - What to do with nodes whose state is C(dead) or that are marked excluded.
      - C(group) lists them in C(oda_dead) or C(oda_excluded) (and their cluster's group) only, so
        plays on working groups never reach them while ad-hoc commands still can.
      - C(omit) leaves them out of the inventory.
    type: str
    choices: [group, omit]
    default: group
"""

EXAMPLES = r"""
# oscar_inventory, at the root of the repository: everything from the defaults
# (the embedded SQLite database /var/lib/oscar/oda.db, or $OSCAR_ODA_URL).
plugin: oscar.cluster.oda

---
# prod.oda.yml: a PostgreSQL ODA, addresses from the private network, extra
# groups made from ODA's data, and the answer cached for ten minutes.
plugin: oscar.cluster.oda
database: postgresql://oscar@head.cluster/oscar
management_network: private
unavailable_nodes: omit
keyed_groups:
  - key: oda_arch
    prefix: arch
groups:
  big_memory: (oda_memory_mb | default(0)) >= 262144
compose:
  ansible_user: "'root'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/oscar-inventory
cache_timeout: 600
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible_collections.oscar.cluster.plugins.module_utils import nodeset
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaError

# Groups that hold the nodes kept out of the working groups.
DEAD_GROUP = "oda_dead"
EXCLUDED_GROUP = "oda_excluded"
SOURCE_NAMES = ("oscar_inventory",)
SOURCE_SUFFIXES = ("oda.yml", "oda.yaml")


def read_snapshot(url, password=None, timeout=30):
    """What the inventory needs from ODA, as plain JSON-able data: nodes, groups, networks, variables.

    Read-only: a long write elsewhere never makes the inventory wait, and a
    mistyped SQLite path is an error, not a new empty database.
    """
    oda = Oda.open(url, password=password, timeout=timeout, read_only=True)
    try:
        with oda.db.transaction(write=False):
            return {
                "nodes": oda.nodes.list(),
                "groups": [group["name"] for group in oda.groups.list()],
                "variables": oda.variables.all(),
            }
    finally:
        oda.close()


def management_address(node, network=None):
    """The node's address on the management network, else its first NIC's address, else None."""
    addressed = [nic for nic in node["nics"] if nic.get("ip")]
    for nic in addressed:
        if network and nic.get("network") == network:
            return nic["ip"]
    return addressed[0]["ip"] if addressed else None


def host_variables(node, network=None):
    """The host variables ODA gives one node (before its stored variables)."""
    variables = {
        "oda_hostname": node["hostname"],
        "oda_cluster": node["cluster"],
        "oda_state": node["state"],
        "oda_excluded": node["excluded"],
        "oda_groups": list(node["groups"]),
        "oda_nics": [dict(nic) for nic in node["nics"]],
        "oda_macs": [nic["mac"] for nic in node["nics"] if nic.get("mac")],
        "oda_ips": [nic["ip"] for nic in node["nics"] if nic.get("ip")],
    }
    for key in ("domain", "image", "cpus", "memory_mb", "arch"):
        if node.get(key) is not None:
            variables["oda_" + key] = node[key]
    if node.get("domain"):
        variables["oda_fqdn"] = "%s.%s" % (node["hostname"], node["domain"])
    address = management_address(node, network)
    if address:
        variables["ansible_host"] = address
    return variables


def working(node):
    """False for a node that plays must not reach: dead, or excluded by the administrator."""
    return node["state"] != "dead" and not node["excluded"]


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Ansible's inventory as a view of ODA."""

    NAME = "oscar.cluster.oda"

    def verify_file(self, path):
        """Accept oscar_inventory and *oda.yml / *oda.yaml, also through a symlink of another name."""
        if not super(InventoryModule, self).verify_file(path):
            return False
        names = set([os.path.basename(path), os.path.basename(os.path.realpath(path))])
        return any(name in SOURCE_NAMES or name.endswith(SOURCE_SUFFIXES) for name in names)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = cache and self.get_option("cache")
        snapshot = None
        if use_cache:
            try:
                snapshot = self._cache[cache_key]
            except KeyError:
                snapshot = None
        if snapshot is None:
            snapshot = self._read_database()
            if self.get_option("cache"):
                self._cache[cache_key] = snapshot
        self._populate(snapshot)

    def _read_database(self):
        try:
            return read_snapshot(
                self.get_option("database"),
                password=self.get_option("database_password"),
                timeout=self.get_option("database_timeout"),
            )
        except OdaError as error:
            raise AnsibleParserError("ODA inventory: %s" % error) from None

    def _add_group(self, name):
        return self.inventory.add_group(self._sanitize_group_name(name))

    def _populate(self, snapshot):
        network = self.get_option("management_network")
        keep_unavailable = self.get_option("unavailable_nodes") == "group"
        strict = self.get_option("strict")
        variables = snapshot["variables"]
        for group in snapshot["groups"]:
            name = self._add_group(group)
            for key, value in sorted(variables["group"].get(group, {}).items()):
                self.inventory.set_variable(name, key, value)
        for cluster, values in sorted(variables["cluster"].items()):
            name = self._add_group("cluster_" + cluster)
            for key, value in sorted(values.items()):
                self.inventory.set_variable(name, key, value)
        for node in snapshot["nodes"]:
            usable = working(node)
            if not usable and not keep_unavailable:
                continue
            host = self.inventory.add_host(node["name"])
            self.inventory.add_child(self._add_group("cluster_" + node["cluster"]), host)
            if usable:
                for group in self._working_groups(node):
                    self.inventory.add_child(self._add_group(group), host)
            else:
                unavailable = DEAD_GROUP if node["state"] == "dead" else EXCLUDED_GROUP
                self.inventory.add_child(self._add_group(unavailable), host)
            hostvars = host_variables(node, network)
            hostvars.update(variables["node"].get(node["name"], {}))
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

    @staticmethod
    def _working_groups(node):
        groups = list(node["groups"])
        if node.get("image"):
            groups.append("image_" + node["image"])
        networks = set(nic["network"] for nic in node["nics"] if nic.get("network"))
        groups.extend("network_" + name for name in sorted(networks, key=nodeset.natural_key))
        return groups

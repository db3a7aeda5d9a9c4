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
  - Each node's image, the version of that image it runs and where it stands with it become the host
    variables C(oda_image), C(oda_image_version) and C(oda_image_state) (C(updating), C(in-sync) or
    C(update-failed)); each is left unset while ODA holds no value.
  - Network installation gives every node C(oda_boot_action), what its next network boot does
    (C(local), C(install) or C(stateless)), and once set, C(oda_disk_layout) (its own disk layout),
    C(oda_install_stage) (the last stage its installer reported, or C(failed)) and
    C(oda_install_attempt) (the number of install attempts).
  - "ODA's networks become one variable of the group C(all), C(oda_networks): a list, by name, of
    each network's C(name), C(cidr), C(gateway), C(domain), C(dhcp_start), C(dhcp_end), C(mtu) and
    C(cluster) (unset ones are C(null)), as C(oscar.cluster.oda_info query=networks) returns them.
    Roles read the cluster's networks from it."
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
      - When not set, E(OSCAR_ODA_URL), else C(sqlite:/var/lib/oscar/oda.db), as for every ODA tool.
      - A password belongs in O(database_password), not in the URL.
    type: str
  database_password:
    description:
      - The password of a database server's user.
      - When not set, E(OSCAR_ODA_PASSWORD).
    type: str
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
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import resolve
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaError
from ansible_collections.oscar.cluster.plugins.module_utils.oda_inventory import (
    host_variables,
    read_snapshot,
    unavailable_group,
    working,
    working_groups,
)

SOURCE_NAMES = ("oscar_inventory",)
SOURCE_SUFFIXES = ("oda.yml", "oda.yaml")


def networks_variable(snapshot):
    """oda_networks: every network as ODA describes it (a cache written before it had none: [])."""
    return [dict(network) for network in snapshot.get("networks", [])]


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
            url, password = resolve(self.get_option("database"), self.get_option("database_password"))
            return read_snapshot(url, password=password, timeout=self.get_option("database_timeout"))
        except OdaError as error:
            raise AnsibleParserError("ODA inventory: %s" % error) from None

    def _add_group(self, name):
        return self.inventory.add_group(self._sanitize_group_name(name))

    def _populate(self, snapshot):
        network = self.get_option("management_network")
        keep_unavailable = self.get_option("unavailable_nodes") == "group"
        strict = self.get_option("strict")
        variables = snapshot["variables"]
        self.inventory.set_variable("all", "oda_networks", networks_variable(snapshot))
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
                for group in working_groups(node):
                    self.inventory.add_child(self._add_group(group), host)
            else:
                self.inventory.add_child(self._add_group(unavailable_group(node)), host)
            hostvars = host_variables(node, network)
            hostvars.update(variables["node"].get(node["name"], {}))
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)

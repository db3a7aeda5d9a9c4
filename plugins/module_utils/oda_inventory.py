# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's nodes as inventory hosts: read by the inventory plugin, and by the C3 commands without Ansible.

One reading of ODA (``read_snapshot``) and one rule for what a node becomes
(its address, its groups, the variables ODA gives it), so that ``cexec`` on
a head without ansible-core reaches the hosts a playbook would.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import nodeset

# Groups that hold the nodes kept out of the working groups.
DEAD_GROUP = "oda_dead"
EXCLUDED_GROUP = "oda_excluded"
CLUSTER_PREFIX = "cluster_"
# The inventory plugin's management_network option reads it too.
MANAGEMENT_NETWORK_ENV = "OSCAR_ODA_MANAGEMENT_NETWORK"


def read_snapshot(url, password=None, timeout=30):
    """What the inventory needs from ODA, as plain JSON-able data: nodes, groups, networks, variables.

    Read-only: a long write elsewhere never makes the inventory wait, and a
    mistyped SQLite path is an error, not a new empty database.
    """
    # Imported here: the C3 commands take this module's names on every run, and read ODA on few.
    from .oda import Oda  # noqa: PLC0415

    oda = Oda.open(url, password=password, timeout=timeout, read_only=True)
    try:
        with oda.db.transaction(write=False):
            return {
                "nodes": oda.nodes.list(),
                "groups": [group["name"] for group in oda.groups.list()],
                "networks": oda.networks.list(),
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
    # What the node's next network boot does: always set, local unless ODA says otherwise.
    variables["oda_boot_action"] = node.get("boot_action") or "local"
    optional = ("domain", "image", "image_version", "image_state", "cpus", "memory_mb", "arch")
    optional += ("disk_layout", "install_stage", "install_attempt")
    for key in optional:
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


def working_groups(node):
    """The groups of a working node: its ODA groups, its image's and its networks'."""
    groups = list(node["groups"])
    if node.get("image"):
        groups.append("image_" + node["image"])
    networks = set(nic["network"] for nic in node["nics"] if nic.get("network"))
    groups.extend("network_" + name for name in sorted(networks, key=nodeset.natural_key))
    return groups


def unavailable_group(node):
    """The one group of a node that is not working: oda_dead or oda_excluded."""
    return DEAD_GROUP if node["state"] == "dead" else EXCLUDED_GROUP


def hosts(snapshot, network=None):
    """{name: (groups, variables)} of every node, as Ansible's inventory would hold them.

    For readers without Ansible: the variables are those of the node's
    cluster and ODA groups, in Ansible's order for groups of one depth (by
    name, later wins), then the node's own; no constructed groups or
    variables, nothing templated.
    """
    stored = snapshot["variables"]
    found = {}
    for node in snapshot["nodes"]:
        cluster = CLUSTER_PREFIX + node["cluster"]
        groups = [cluster] + (working_groups(node) if working(node) else [unavailable_group(node)])
        variables = {}
        for group in sorted(groups):
            if group == cluster:
                variables.update(stored["cluster"].get(node["cluster"], {}))
            else:
                variables.update(stored["group"].get(group, {}))
        variables.update(host_variables(node, network))
        variables.update(stored["node"].get(node["name"], {}))
        found[node["name"]] = (groups, variables)
    return found

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_clients
short_description: Define many compute nodes in ODA in one task (OSCAR's "Define OSCAR Clients")
version_added: 0.1.0
description:
  - Define compute nodes in bulk in ODA, the cluster database, as OSCAR's "Define OSCAR Clients" step
    did; each node on one network with consecutive addresses from O(start_ip), an image and a group.
  - Name the nodes with a node set such as V(node[001-064]), a list, or a pattern such as
    V(node{:03d}) with a count.
  - MAC addresses are given as a list, imported from a file, or left out to be collected later (the
    nodes are defined without them, and a later run with the MACs fills them in).
  - Nodes that exist already are updated; they join the group and keep their other NICs and groups.
  - One transaction; when any node is refused (a duplicate MAC or address, an unknown image or
    group), none is written.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows every node that changes, before and after the task.
    support: full
options:
  names:
    description:
      - The nodes, as a node set in ClusterShell syntax (a string, such as V(node[001-064]) or
        V(rack[1-2]-n[01-32])), or as a list of host names.
      - Node i, in the natural order of a node set or in the order of a list, gets address
        O(start_ip) + i and the i-th MAC.
      - Exactly one of O(names) and O(pattern) is required.
    type: raw
  pattern:
    description:
      - A name pattern with one number placeholder; V({}) does not pad, V({:03d}) or V(###) pads to
        three digits. Names are made for O(count) numbers from O(start_index).
    type: str
  count:
    description: How many nodes O(pattern) makes.
    type: int
  start_index:
    description: The first number O(pattern) uses.
    type: int
    default: 1
  network:
    description: Name of the network the nodes' NIC is on (M(oscar.cluster.oda_network)).
    type: str
    required: true
  start_ip:
    description:
      - Address of the first node; the others follow one by one. Every address must lie inside
        O(network).
    type: str
    required: true
  nic:
    description: Name of the NIC that gets the address and the MAC.
    type: str
    default: eth0
  image:
    description: Image of the nodes (M(oscar.cluster.oda_image)). Left out, existing nodes keep theirs.
    type: str
  group:
    description: Group the nodes join (M(oscar.cluster.oda_group)).
    type: str
    default: oscar_clients
  macs:
    description:
      - MAC addresses, one per node, in the order of the nodes.
      - Left out together with O(mac_file), the nodes' MACs stay as they are (none for new nodes) and
        are collected later.
    type: list
    elements: str
  mac_file:
    description:
      - A file on the host the module runs on with the MACs, one per line; C(#) starts a comment.
      - A line is a MAC alone, a name and a MAC (in either order, as in C(/etc/ethers)), or a
        dnsmasq leases file line.
      - A MAC with a name goes to the node of that name; names of other hosts are left out.
        MACs without a name go in file order to the nodes no named line covers; nodes left over
        keep their MAC (none for new nodes) until it is collected.
      - A bad line is refused, naming the file and the line.
    type: path
"""

EXAMPLES = r"""
- name: Define the compute nodes
  module_defaults:
    group/oscar.cluster.oda:
      database: sqlite:/var/lib/oscar/oda.db
  block:
    - name: Sixty-four nodes from 10.211.0.11, MACs collected later
      oscar.cluster.oda_clients:
        names: node[001-064]
        network: private
        start_ip: 10.211.0.11
        image: rocky9

    - name: The same nodes named by a pattern, with MACs from the DHCP server's leases
      oscar.cluster.oda_clients:
        pattern: node{:03d}
        count: 64
        network: private
        start_ip: 10.211.0.11
        mac_file: /var/lib/misc/dnsmasq.leases

    - name: Two GPU nodes with known MACs, in their own group
      oscar.cluster.oda_clients:
        names: [gpu1, gpu2]
        network: private
        start_ip: 10.211.0.201
        group: gpu
        macs:
          - 02:00:0a:d3:00:c9
          - 02:00:0a:d3:00:ca
"""

RETURN = r"""
nodes:
  description:
    - Every node the task names, after the task, in the order of the nodes.
    - Each has the keys that M(oscar.cluster.oda_node) returns in RV(oscar.cluster.oda_node#module:node).
  returned: success
  type: list
  elements: dict
  sample:
    - name: node001
      hostname: node001
      domain: cluster.lan
      cluster: oscar
      image: rocky9
      state: defined
      excluded: false
      cpus: null
      memory_mb: null
      arch: null
      groups: [oscar_clients]
      nics:
        - {name: eth0, mac: null, ip: 10.211.0.11, network: private}
changed_nodes:
  description: Names of the nodes the task created or changed (would create or change, in check mode).
  returned: success
  type: list
  elements: str
  sample: [node001, node002]
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_macs import macs_for_nodes, read_mac_file
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import (
    names_from_pattern,
    node_names,
    nodes_result,
    run_module,
)

OPTIONS = {
    "names": {"type": "raw"},
    "pattern": {"type": "str"},
    "count": {"type": "int"},
    "start_index": {"type": "int", "default": 1},
    "network": {"type": "str", "required": True},
    "start_ip": {"type": "str", "required": True},
    "nic": {"type": "str", "default": "eth0"},
    "image": {"type": "str"},
    "group": {"type": "str", "default": "oscar_clients"},
    "macs": {"type": "list", "elements": "str"},
    "mac_file": {"type": "path"},
}


def client_names(oda, params):
    """The nodes' names in order: from names (a node set or a list), or a pattern filled in."""
    if params["names"] is None:
        return names_from_pattern(params["pattern"], params["count"], params["start_index"])
    return node_names(oda, params["names"], "names")


def act(module, oda):
    params = module.params
    names = client_names(oda, params)
    macs = params["macs"]
    if params["mac_file"] is not None:
        macs = macs_for_nodes(read_mac_file(params["mac_file"]), names)
    outcome = oda.nodes.define_clients(
        names,
        params["network"],
        params["start_ip"],
        image=params["image"],
        group=params["group"],
        macs=macs,
        nic=params["nic"],
    )
    return nodes_result(module, names, outcome)


def main():
    run_module(
        OPTIONS,
        act,
        mutually_exclusive=[("names", "pattern"), ("macs", "mac_file")],
        required_one_of=[("names", "pattern")],
        required_together=[("pattern", "count")],
    )


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_mac_collect
short_description: Give the MACs of machines that asked the head for an address to nodes without one, in ODA
version_added: 0.2.0
description:
  - OSCAR's "Setup Networking" MAC collection. Machines that are not in ODA yet ask the head's DHCP
    server for an address when they network-boot; dnsmasq, which answers only the MACs it knows,
    logs each one. This module reads those MACs, in the order they were first seen, and gives them
    to the listed nodes whose NIC has no MAC yet, in the order of the nodes. Power the machines on
    one after the other in the order of their names, and each gets its name.
  - The MACs come from dnsmasq's log (O(log); the role passes the text of
    C(journalctl -u dnsmasq -o cat)) or from a file (O(mac_file)) as
    M(oscar.cluster.oda_clients) reads one (MACs, C(name MAC) lines, a dnsmasq leases file).
  - A MAC that ODA holds already (a known node) is skipped. MACs left over once every listed node
    has one are returned in RV(unassigned), and nodes left without one in RV(waiting); run the task
    again when more machines have booted.
  - A MAC that the file gives to two names, or a name given two MACs, is refused.
  - One transaction; in check mode nothing is written and the answer says what would be.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows every node that takes a MAC, before and after the task.
    support: full
options:
  nodes:
    description:
      - The nodes that may take a MAC, as a node set (a string, such as V(node[001-064])) or a list
        of names, in the order they take the MACs; each must exist. Nodes whose NIC has a MAC keep it.
    type: raw
    required: true
  log:
    description:
      - Text of dnsmasq's log. Only its C(DHCPDISCOVER) lines count, and in each the first MAC,
        as in C(DHCPDISCOVER(eth1) 52:54:00:12:34:56 no address available).
      - Exactly one of O(log) and O(mac_file) is required.
    type: str
  mac_file:
    description:
      - A file on the host the module runs on with MACs, one per line; see
        O(oscar.cluster.oda_clients#module:mac_file) for its forms. A MAC with a name goes to the
        listed node of that name (names of other hosts are left out); MACs without a name go, in file
        order, to the listed nodes still without one.
    type: path
  nic:
    description:
      - Name of the NIC that takes the MAC; a node without it gets it.
      - Left out, the node's NIC on O(network), else its first NIC (V(eth0) for a node without any).
    type: str
  network:
    description:
      - The MAC goes to the node's NIC on this network (M(oscar.cluster.oda_network)); a listed node
        with no NIC on it is refused.
    type: str
"""

EXAMPLES = r"""
- name: Read what dnsmasq saw
  ansible.builtin.command: journalctl -u dnsmasq -o cat --no-pager
  register: dnsmasq_log
  changed_when: false

- name: Name the machines that booted, in the order they booted
  oscar.cluster.oda_mac_collect:
    nodes: node[001-064]
    network: private
    log: "{{ dnsmasq_log.stdout }}"
  delegate_to: localhost
  register: collected

- name: Show who got which MAC
  ansible.builtin.debug:
    msg: "{{ item.node }}: {{ item.mac }}"
  loop: "{{ collected.assignments }}"

- name: The same from a file of MACs
  oscar.cluster.oda_mac_collect:
    nodes: [gpu1, gpu2]
    mac_file: /root/gpu-macs.txt
"""

RETURN = r"""
assignments:
  description: The MACs given (or, in check mode, that would be given), in the order of the nodes.
  returned: success
  type: list
  elements: dict
  contains:
    node:
      description: Name of the node.
      type: str
      sample: node001
    nic:
      description: Name of its NIC that took the MAC.
      type: str
      sample: eth0
    mac:
      description: The MAC.
      type: str
      sample: 52:54:00:12:34:56
skipped:
  description: MACs seen that ODA holds already, in the order seen.
  returned: success
  type: list
  elements: str
  sample: ["02:00:0a:d3:00:01"]
unassigned:
  description: MACs without a name left over once the listed nodes had one, in the order seen.
  returned: success
  type: list
  elements: str
  sample: []
waiting:
  description: Listed nodes still without a MAC on their NIC.
  returned: success
  type: list
  elements: str
  sample: [node003, node004]
changed_nodes:
  description: Names of the nodes that took a MAC.
  returned: success
  type: list
  elements: str
  sample: [node001, node002]
nodes:
  description:
    - Every listed node after the task, in the order given; each has the keys that
      M(oscar.cluster.oda_node) returns in RV(oscar.cluster.oda_node#module:node).
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_macs import parse_dnsmasq_log, read_mac_file
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import (
    node_names,
    nodes_result,
    run_module,
)

OPTIONS = {
    "nodes": {"type": "raw", "required": True},
    "log": {"type": "str"},
    "mac_file": {"type": "path"},
    "nic": {"type": "str"},
    "network": {"type": "str"},
}


def act(module, oda):
    params = module.params
    names = node_names(oda, params["nodes"], "nodes")
    if params["mac_file"] is not None:
        entries = read_mac_file(params["mac_file"])
    else:
        entries = parse_dnsmasq_log(params["log"])
    outcome, report = oda.nodes.collect_macs(entries, names, nic=params["nic"], network=params["network"])
    return nodes_result(module, names, outcome, **report)


def main():
    run_module(
        OPTIONS,
        act,
        mutually_exclusive=[("log", "mac_file"), ("nic", "network")],
        required_one_of=[("log", "mac_file")],
    )


if __name__ == "__main__":
    main()

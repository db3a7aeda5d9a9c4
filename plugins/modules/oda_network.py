#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_network
short_description: Define a network of the cluster in ODA
version_added: 0.1.0
description:
  - Create, update or remove a network in ODA, the cluster database.
  - Nodes' NICs take their addresses on these networks; the DHCP range and the domain serve the
    roles that set up DHCP and DNS.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the network before and after the task.
    support: full
options:
  name:
    description: Name of the network.
    type: str
    required: true
  cidr:
    description:
      - The network in CIDR form, such as V(10.0.0.0/24); host bits must be zero.
      - Required with O(state=present). A new CIDR must still hold every address its NICs have.
    type: str
  gateway:
    description: Gateway address, inside the network. Left out, the stored value is kept.
    type: str
  domain:
    description: DNS domain of the nodes on this network. Left out, the stored value is kept.
    type: str
  dhcp_start:
    description: First address of the DHCP range; give O(dhcp_end) with it.
    type: str
  dhcp_end:
    description: Last address of the DHCP range; give O(dhcp_start) with it.
    type: str
  mtu:
    description: MTU of the network, 68 to 65535.
    type: int
  cluster:
    description: Cluster the network belongs to.
    type: str
    default: oscar
  state:
    description:
      - V(present) creates or updates the network, V(absent) removes it.
      - A network that NICs still use is not removed; the error names the nodes.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Describe the cluster's networks
  module_defaults:
    group/oscar.cluster.oda:
      database: sqlite:/var/lib/oscar/oda.db
  block:
    - name: Private network of the compute nodes
      oscar.cluster.oda_network:
        name: private
        cidr: 10.211.0.0/24
        gateway: 10.211.0.1
        domain: cluster.lan
        dhcp_start: 10.211.0.100
        dhcp_end: 10.211.0.200

    - name: Remove a network nobody uses
      oscar.cluster.oda_network:
        name: old
        state: absent
"""

RETURN = r"""
network:
  description: The network after the task; null once removed.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the network.
      type: str
      sample: private
    cidr:
      description: The network in CIDR form.
      type: str
      sample: 10.211.0.0/24
    gateway:
      description: Gateway address, or null.
      type: str
      sample: 10.211.0.1
    domain:
      description: DNS domain, or null.
      type: str
      sample: cluster.lan
    dhcp_start:
      description: First address of the DHCP range, or null.
      type: str
      sample: 10.211.0.100
    dhcp_end:
      description: Last address of the DHCP range, or null.
      type: str
      sample: 10.211.0.200
    mtu:
      description: MTU, or null.
      type: int
      sample: 1500
    cluster:
      description: Cluster the network belongs to.
      type: str
      sample: oscar
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import present_or_absent, run_module

OPTIONS = {
    "name": {"type": "str", "required": True},
    "cidr": {"type": "str"},
    "gateway": {"type": "str"},
    "domain": {"type": "str"},
    "dhcp_start": {"type": "str"},
    "dhcp_end": {"type": "str"},
    "mtu": {"type": "int"},
    "cluster": {"type": "str", "default": "oscar"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def act(module, oda):
    params = module.params
    values = {key: params[key] for key in ("gateway", "domain", "dhcp_start", "dhcp_end", "mtu", "cluster")}
    return present_or_absent(module, oda.networks, "network", params["name"], params["cidr"], **values)


def main():
    run_module(OPTIONS, act, required_if=[("state", "present", ["cidr"])])


if __name__ == "__main__":
    main()

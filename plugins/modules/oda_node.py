#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_node
short_description: Define one node of the cluster in ODA, with its NICs and groups
version_added: 0.1.0
description:
  - Create, update or remove one node in ODA, the cluster database, with its network interfaces,
    its groups, its image, its state and its hardware facts.
  - An option left out keeps the stored value, so a task that does not mention an attribute never
    changes it.
  - To define many compute nodes in one task, use M(oscar.cluster.oda_clients).
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the node, with its NICs and groups, before and after the task.
    support: full
options:
  name:
    description: Name of the node; a host name, stored in lower case.
    type: str
    required: true
  hostname:
    description: Host name the node answers to, when it differs from O(name). A new node takes O(name).
    type: str
  domain:
    description: DNS domain of the node. A new node takes the domain of its first NIC's network.
    type: str
  image:
    description:
      - Name of the image the node boots or is installed from; it must exist
        (M(oscar.cluster.oda_image)).
    type: str
  image_version:
    description:
      - Number of the version of its image the node runs, as an in-place update or an installation
        recorded it.
    type: int
  image_state:
    description:
      - Where the node stands with its image; V(updating) while an in-place update runs,
        V(in-sync) once the node matches O(image_version), V(update-failed) when an update did not
        finish.
    type: str
    choices: [updating, in-sync, update-failed]
  groups:
    description:
      - The node's exact list of groups; each must exist (M(oscar.cluster.oda_group)).
      - Left out, the node keeps its groups. V([]) takes it out of every group.
    type: list
    elements: str
  nics:
    description:
      - The node's exact list of network interfaces. NICs not listed are removed.
      - A key left out of a NIC keeps that NIC's stored value.
      - A MAC or an address that another node holds is refused, naming that node.
    type: list
    elements: dict
    suboptions:
      name:
        description: Interface name, such as V(eth0).
        type: str
        required: true
      mac:
        description: MAC address, in any usual form; stored as V(aa:bb:cc:dd:ee:ff).
        type: str
      ip:
        description: IP address on O(nics[].network); needs the network.
        type: str
      network:
        description: Name of the network the NIC is on (M(oscar.cluster.oda_network)).
        type: str
  node_state:
    description: Where the node is in its life. A new node starts as V(defined).
    type: str
    choices: [defined, installing, up, down, dead]
  excluded:
    description:
      - Keep the node in ODA but out of the working groups of the inventory, so plays do not reach it;
        for a node under repair, for example.
    type: bool
  cpus:
    description: Number of CPUs, as a hardware fact.
    type: int
  memory_mb:
    description: Memory in MiB, as a hardware fact.
    type: int
  arch:
    description: CPU architecture, such as V(x86_64).
    type: str
  boot_action:
    description:
      - What the node's next network (PXE) boot does. V(local) goes on to its disk; V(install)
        installs its image on the disk (the installer reports its stages to the head, and the
        last one sets V(local) again); V(stateless) boots the image into memory.
      - V(install) and V(stateless) need an image whose version (O(image_version), else the image's
        current one) has its boot artifacts recorded in ODA
        (O(oscar.cluster.oda_image_version#module:boot_root_sha256)); the error says what is missing.
      - Setting V(install) on a node that was not installing starts its install anew; where the
        last attempt stopped stays in its install history (C(oda node history)).
      - A node that never had one boots V(local).
    type: str
    choices: [local, install, stateless]
  disk_layout:
    description:
      - Name of the disk layout the node is installed with (M(oscar.cluster.oda_disk_layout)); it must
        exist. V("") takes the node's layout away, so that the layout named V(default) applies (or
        the built-in one when there is none).
    type: str
  cluster:
    description: Cluster the node belongs to.
    type: str
    default: oscar
  state:
    description:
      - V(present) creates or updates the node, V(absent) removes it with its NICs, memberships and
        package records.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Register the head node and a login node
  module_defaults:
    group/oscar.cluster.oda:
      database: sqlite:/var/lib/oscar/oda.db
  block:
    - name: The head node
      oscar.cluster.oda_node:
        name: head
        groups: [oscar_server]
        node_state: up
        cpus: 16
        memory_mb: 65536
        arch: x86_64
        nics:
          - name: eth0
            mac: 02:00:0a:d2:00:0a
            ip: 10.210.0.10
            network: public
          - name: eth1
            mac: 02:00:0a:d3:00:01
            ip: 10.211.0.1
            network: private

    - name: Keep node017 out of the cluster while it is repaired
      oscar.cluster.oda_node:
        name: node017
        excluded: true
        node_state: down

    - name: Record that node001 runs version 3 of its image
      oscar.cluster.oda_node:
        name: node001
        image_version: 3
        image_state: in-sync

    - name: Install node002 at its next network boot, on the layout named scratch
      oscar.cluster.oda_node:
        name: node002
        disk_layout: scratch
        boot_action: install

    - name: Remove a node
      oscar.cluster.oda_node:
        name: node099
        state: absent
"""

RETURN = r"""
node:
  description: The node after the task; null once removed.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the node.
      type: str
      sample: node001
    hostname:
      description: Host name.
      type: str
      sample: node001
    domain:
      description: DNS domain, or null.
      type: str
      sample: cluster.lan
    cluster:
      description: Cluster of the node.
      type: str
      sample: oscar
    image:
      description: Image of the node, or null.
      type: str
      sample: rocky9
    image_version:
      description: Version of its image the node runs, or null.
      type: int
      sample: 3
    image_state:
      description: Where the node stands with its image (V(updating), V(in-sync), V(update-failed)), or null.
      type: str
      sample: in-sync
    state:
      description: Life-cycle state of the node.
      type: str
      sample: defined
    excluded:
      description: Whether the node is kept out of the inventory's working groups.
      type: bool
      sample: false
    cpus:
      description: Number of CPUs, or null.
      type: int
      sample: 16
    memory_mb:
      description: Memory in MiB, or null.
      type: int
      sample: 65536
    arch:
      description: CPU architecture, or null.
      type: str
      sample: x86_64
    boot_action:
      description: What the node's next network boot does (V(local), V(install), V(stateless)).
      type: str
      sample: local
    disk_layout:
      description: Name of the node's own disk layout, or null.
      type: str
      sample: scratch
    install_stage:
      description:
        - The last stage its installer reported (V(booted) ... V(installed)), or V(failed), or null
          before any report of this install.
      type: str
      sample: copied
    install_attempt:
      description: Number of install attempts made (each V(booted) report starts one), or null.
      type: int
      sample: 1
    groups:
      description: Names of the node's groups, sorted.
      type: list
      elements: str
      sample: [oscar_clients]
    nics:
      description: The node's NICs, in natural order of their names.
      type: list
      elements: dict
      contains:
        name:
          description: Interface name.
          type: str
          sample: eth0
        mac:
          description: MAC address, or null until collected.
          type: str
          sample: 02:00:0a:d3:00:0b
        ip:
          description: IP address, or null.
          type: str
          sample: 10.211.0.11
        network:
          description: Network name, or null.
          type: str
          sample: private
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_install import BOOT_ACTIONS
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import present_or_absent, run_module
from ansible_collections.oscar.cluster.plugins.module_utils.oda_nodes import IMAGE_STATES, NODE_STATES

OPTIONS = {
    "name": {"type": "str", "required": True},
    "hostname": {"type": "str"},
    "domain": {"type": "str"},
    "image": {"type": "str"},
    "image_version": {"type": "int"},
    "image_state": {"type": "str", "choices": list(IMAGE_STATES)},
    "groups": {"type": "list", "elements": "str"},
    "nics": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "mac": {"type": "str"},
            "ip": {"type": "str"},
            "network": {"type": "str"},
        },
    },
    "node_state": {"type": "str", "choices": list(NODE_STATES)},
    "excluded": {"type": "bool"},
    "cpus": {"type": "int"},
    "memory_mb": {"type": "int"},
    "arch": {"type": "str"},
    "boot_action": {"type": "str", "choices": list(BOOT_ACTIONS)},
    "disk_layout": {"type": "str"},
    "cluster": {"type": "str", "default": "oscar"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}
# The options that are columns of the node, under the same name in Nodes.ensure.
_SAME_NAME = (
    "hostname",
    "image",
    "image_version",
    "image_state",
    "groups",
    "nics",
    "cluster",
    "excluded",
    "domain",
    "cpus",
    "memory_mb",
    "arch",
    "boot_action",
    "disk_layout",
)


def act(module, oda):
    params = module.params
    values = {key: params[key] for key in _SAME_NAME}
    return present_or_absent(
        module, oda.nodes, "node", params["name"], state=params["node_state"], stored_name=True, **values
    )


def main():
    run_module(OPTIONS, act)


if __name__ == "__main__":
    main()

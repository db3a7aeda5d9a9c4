#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_group
short_description: Define a group of nodes in ODA
version_added: 0.1.0
description:
  - Create, update or remove a group of nodes in ODA, the cluster database.
  - Groups become inventory groups; every new cluster has V(oscar_server) (the head node) and
    V(oscar_clients) (the compute nodes).
  - Nodes join groups through M(oscar.cluster.oda_node) and M(oscar.cluster.oda_clients).
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the group before and after the task.
    support: full
options:
  name:
    description: Name of the group.
    type: str
    required: true
  description:
    description: What the group is for. Left out, the stored description is kept.
    type: str
  state:
    description: V(present) creates or updates the group, V(absent) removes it (its nodes stay).
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: A group for the GPU nodes
  oscar.cluster.oda_group:
    database: sqlite:/var/lib/oscar/oda.db
    name: gpu
    description: nodes with GPUs

- name: Remove a group
  oscar.cluster.oda_group:
    name: old
    state: absent
"""

RETURN = r"""
group:
  description: The group after the task; null once removed.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the group.
      type: str
      sample: gpu
    description:
      description: What the group is for, or null.
      type: str
      sample: nodes with GPUs
    members:
      description: Names of the group's nodes, in natural order.
      type: list
      elements: str
      sample: [node001, node002]
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import present_or_absent, run_module

OPTIONS = {
    "name": {"type": "str", "required": True},
    "description": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def act(module, oda):
    params = module.params
    return present_or_absent(module, oda.groups, "group", params["name"], description=params["description"])


def main():
    run_module(OPTIONS, act)


if __name__ == "__main__":
    main()

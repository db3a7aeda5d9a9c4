#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_config
short_description: Set configuration values of a package in ODA
version_added: 0.1.0
description:
  - Set or remove configuration values of a package registered in ODA, the cluster database, as
    OSCAR's "Configure Selected OSCAR Packages" step did.
  - Values keep their type; numbers, booleans, lists and dicts come back as they went in.
  - The package must be registered first, with M(oscar.cluster.oda_package).
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the package's configuration before and after the task.
    support: full
options:
  package:
    description: Name of the package.
    type: str
    required: true
  key:
    description: The configuration key to set or remove. Exactly one of O(key) and O(values) is required.
    type: str
  value:
    description: The value of O(key); any type that JSON can hold. Required with O(key) and O(state=present).
    type: raw
  values:
    description:
      - Several keys and their values at once. Keys not listed are left as they are.
      - With O(state=absent), the keys listed are removed and their values are not looked at.
    type: dict
  state:
    description: V(present) sets the values, V(absent) removes the keys.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Configure Slurm
  module_defaults:
    group/oscar.cluster.oda:
      database: sqlite:/var/lib/oscar/oda.db
  block:
    - name: One value
      oscar.cluster.oda_config:
        package: slurm
        key: max_time
        value: 3600

    - name: Several values, of any type
      oscar.cluster.oda_config:
        package: slurm
        values:
          accounting: false
          partitions:
            - name: batch
              nodes: node[001-064]

    - name: Forget a value
      oscar.cluster.oda_config:
        package: slurm
        key: max_time
        state: absent
"""

RETURN = r"""
config:
  description: The package's whole configuration after the task, key by key.
  returned: success
  type: dict
  sample:
    accounting: false
    partitions:
      - name: batch
        nodes: node[001-064]
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import result, run_module

OPTIONS = {
    "package": {"type": "str", "required": True},
    "key": {"type": "str", "no_log": False},
    "value": {"type": "raw"},
    "values": {"type": "dict"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def wanted_values(params):
    """{key: value} to write; None removes a key."""
    given = {params["key"]: params["value"]} if params["key"] is not None else dict(params["values"])
    if params["state"] == "absent":
        return dict.fromkeys(given)
    return given


def act(module, oda):
    package = module.params["package"]
    before = oda.config.get(package)
    changed = False
    for key, value in sorted(wanted_values(module.params).items()):
        changed |= oda.config.set(package, key, value)[0]
    return result(module, "config", package, (changed, before, oda.config.get(package)))


def main():
    run_module(
        OPTIONS,
        act,
        mutually_exclusive=[("key", "values")],
        required_one_of=[("key", "values")],
        required_if=[("state", "present", ["value", "values"], True)],
        required_by={"value": "key"},
    )


if __name__ == "__main__":
    main()

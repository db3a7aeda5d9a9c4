#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_package
short_description: Register an OSCAR package in ODA, with its relations and its status on nodes and images
version_added: 0.1.0
description:
  - Register, update or remove a package in ODA, the cluster database, with the package names or
    capabilities it provides, requires and conflicts with.
  - Record the package's status on nodes and images (V(should_be_installed), V(installed), ...),
    as OSCAR did for its package selection.
  - Two packages that conflict (one conflicts with the other's name or with something the other
    provides) cannot both be wanted (V(should_be_installed) or V(installed)) on one node or image;
    such a write is refused, naming both packages and the node or image.
  - Configuration values of a package are set with M(oscar.cluster.oda_config).
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the package, with its statuses, before and after the task.
    support: full
options:
  name:
    description: Name of the package.
    type: str
    required: true
  version:
    description: Version of the package. Left out, the stored version is kept.
    type: str
  summary:
    description: One line about the package. Left out, the stored summary is kept.
    type: str
  provides:
    description:
      - The exact list of names (capabilities) the package provides. Left out, the stored list is
        kept.
    type: list
    elements: str
  requires:
    description:
      - The exact list of packages or capabilities the package requires. Left out, the stored list
        is kept.
    type: list
    elements: str
  conflicts:
    description:
      - The exact list of packages or capabilities the package conflicts with. Left out, the stored
        list is kept.
    type: list
    elements: str
  status:
    description:
      - Status of the package on every node of O(nodes) and every image of O(images).
      - Needs O(nodes) or O(images), and O(state=present).
    type: str
    choices: [should_be_installed, installed, should_be_uninstalled, uninstalled, failed]
  nodes:
    description:
      - Nodes that get O(status); a node set such as V(node[001-064]) or V(@oscar_clients), or a list
        of node names. Every node must exist.
    type: raw
  images:
    description: Images that get O(status); each must exist.
    type: list
    elements: str
  state:
    description:
      - V(present) registers or updates the package, V(absent) removes it with its relations,
        statuses and configuration.
      - A package that is installed or to be installed on a node or image is not removed; the error
        names them.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Register the MPI implementations and choose one for the compute nodes
  module_defaults:
    group/oscar.cluster.oda:
      database: sqlite:/var/lib/oscar/oda.db
  block:
    - name: Open MPI
      oscar.cluster.oda_package:
        name: openmpi
        version: "4.1"
        provides: [mpi]

    - name: MPICH, which cannot live beside Open MPI
      oscar.cluster.oda_package:
        name: mpich
        version: "4.2"
        provides: [mpi]
        conflicts: [openmpi]

    - name: Open MPI goes on every compute node and into the image
      oscar.cluster.oda_package:
        name: openmpi
        status: should_be_installed
        nodes: "@oscar_clients"
        images: [debian12]
"""

RETURN = r"""
package:
  description: The package after the task; null once removed.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the package.
      type: str
      sample: openmpi
    version:
      description: Version, or null.
      type: str
      sample: "4.1"
    summary:
      description: One line about the package, or null.
      type: str
      sample: an MPI implementation
    provides:
      description: Names the package provides, sorted.
      type: list
      elements: str
      sample: [mpi]
    requires:
      description: Packages or capabilities the package requires, sorted.
      type: list
      elements: str
      sample: []
    conflicts:
      description: Packages or capabilities the package conflicts with, sorted.
      type: list
      elements: str
      sample: [mpich]
statuses:
  description: The package's status on every node and image that has one, after the task; empty once removed.
  returned: success
  type: list
  elements: dict
  contains:
    node:
      description: Name of the node, or null for an image's status.
      type: str
      sample: node001
    image:
      description: Name of the image, or null for a node's status.
      type: str
      sample: null
    status:
      description: Status of the package there.
      type: str
      sample: should_be_installed
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import node_names, result, run_module
from ansible_collections.oscar.cluster.plugins.module_utils.oda_packages import PACKAGE_STATUSES

OPTIONS = {
    "name": {"type": "str", "required": True},
    "version": {"type": "str"},
    "summary": {"type": "str"},
    "provides": {"type": "list", "elements": "str"},
    "requires": {"type": "list", "elements": "str"},
    "conflicts": {"type": "list", "elements": "str"},
    "status": {"type": "str", "choices": list(PACKAGE_STATUSES)},
    "nodes": {"type": "raw"},
    "images": {"type": "list", "elements": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def _statuses(oda, name):
    """The package's statuses without the package name, or [] when it is not registered."""
    if oda.packages.get(name) is None:
        return []
    return [
        {"node": row["node"], "image": row["image"], "status": row["status"]}
        for row in oda.packages.list_statuses(package=name)
    ]


def _where(status):
    return "node %s" % status["node"] if status["node"] else "image %s" % status["image"]


def _shown(package, statuses):
    """The package and its statuses as one object, for the diff."""
    if package is None:
        return None
    shown = dict(package)
    shown["statuses"] = {_where(status): status["status"] for status in statuses}
    return shown


def check(params):
    """Refuse a status without targets, targets without a status, and a status on a removed package."""
    targets = params["nodes"] is not None or params["images"] is not None
    if params["status"] is not None and not targets:
        raise OdaValidationError("status '%s' needs nodes or images to apply to" % params["status"])
    if params["status"] is None and targets:
        raise OdaValidationError("nodes and images need a status to give them")
    if params["status"] is not None and params["state"] == "absent":
        raise OdaValidationError("status needs state=present: a removed package has no status")


def act(module, oda):
    params = module.params
    name = params["name"]
    statuses_before = _statuses(oda, name)
    if params["state"] == "absent":
        changed, before, after = oda.packages.remove(name)
    else:
        values = {key: params[key] for key in ("version", "summary", "provides", "requires", "conflicts")}
        changed, before, after = oda.packages.ensure(name, **values)
        nodes = [] if params["nodes"] is None else node_names(oda, params["nodes"], "nodes")
        for node in nodes:
            changed |= oda.packages.set_status(name, params["status"], node=node)[0]
        for image in params["images"] or []:
            changed |= oda.packages.set_status(name, params["status"], image=image)[0]
    statuses_after = _statuses(oda, name)
    answer = result(
        module, "package", name, (changed, _shown(before, statuses_before), _shown(after, statuses_after))
    )
    answer["package"] = after
    answer["statuses"] = statuses_after
    return answer


def main():
    run_module(OPTIONS, act, check=check)


if __name__ == "__main__":
    main()

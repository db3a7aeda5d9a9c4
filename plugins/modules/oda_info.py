#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_info
short_description: Query ODA, the cluster database
version_added: 0.1.0
description:
  - Answer one query about the cluster from ODA, the cluster database; nodes (all, a node set, or a
    group's), one node, groups, networks, images, the recorded versions of images, packages, package
    statuses, a package's
    configuration, the wizard's steps, or clusters.
  - Never writes; an SQLite file that does not exist yet answers as an empty database and is not
    created.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  check_mode:
    description: Runs the same in check mode; it never writes.
    support: full
  diff_mode:
    description: Changes nothing, so it has no diff.
    support: N/A
options:
  query:
    description: What to ask; the answer comes back under the key of the same name.
    type: str
    choices:
      - nodes
      - node
      - groups
      - networks
      - images
      - image_versions
      - packages
      - package_statuses
      - config
      - steps
      - clusters
    default: nodes
  nodes:
    description:
      - With O(query=nodes) or O(query=package_statuses), only the nodes of this node set, such as
        V(node[001-064]) or V(@oscar_clients!node001). Names not in the database are left out.
    type: str
  group:
    description: With O(query=nodes), only the nodes of this group.
    type: str
  name:
    description: With O(query=node), the node to show.
    type: str
  package:
    description:
      - With O(query=config), the package whose configuration to show; required there.
      - With O(query=package_statuses), only the statuses of this package.
    type: str
  key:
    description: With O(query=config), only this key's value (null when it is not set).
    type: str
  image:
    description:
      - With O(query=package_statuses), only the statuses on this image.
      - With O(query=image_versions), only the versions of this image; it must exist.
    type: str
"""

EXAMPLES = r"""
- name: Ask ODA about the cluster
  module_defaults:
    group/oscar.cluster.oda:
      database: sqlite:/var/lib/oscar/oda.db
  block:
    - name: The compute nodes of rack 1
      oscar.cluster.oda_info:
        query: nodes
        nodes: node[001-032]
        group: oscar_clients
      register: rack1

    - name: Their MACs
      ansible.builtin.debug:
        msg: "{{ rack1.nodes | map(attribute='nics') | flatten | map(attribute='mac') }}"

    - name: One node
      oscar.cluster.oda_info:
        query: node
        name: node001

    - name: Where Open MPI is, or is to be, installed
      oscar.cluster.oda_info:
        query: package_statuses
        package: openmpi

    - name: Slurm's configuration
      oscar.cluster.oda_info:
        query: config
        package: slurm

    - name: The recorded versions of image debian12
      oscar.cluster.oda_info:
        query: image_versions
        image: debian12

    - name: The wizard's progress
      oscar.cluster.oda_info:
        query: steps
"""

RETURN = r"""
nodes:
  description:
    - The nodes, in natural order of their names.
    - Each has the keys that M(oscar.cluster.oda_node) returns in RV(oscar.cluster.oda_node#module:node).
  returned: when O(query=nodes)
  type: list
  elements: dict
node:
  description:
    - The node, with the keys that M(oscar.cluster.oda_node) returns; null when there is no such
      node.
  returned: when O(query=node)
  type: dict
groups:
  description: Every group with its members, by name; the keys of RV(oscar.cluster.oda_group#module:group).
  returned: when O(query=groups)
  type: list
  elements: dict
networks:
  description: Every network, by name; the keys of RV(oscar.cluster.oda_network#module:network).
  returned: when O(query=networks)
  type: list
  elements: dict
images:
  description: Every image, by name; the keys of RV(oscar.cluster.oda_image#module:image).
  returned: when O(query=images)
  type: list
  elements: dict
image_versions:
  description:
    - The recorded versions of every image, or of O(image), by image name then version number; the keys
      of RV(oscar.cluster.oda_image_version#module:image_version).
  returned: when O(query=image_versions)
  type: list
  elements: dict
packages:
  description:
    - Every package with its relations, by name; the keys of
      RV(oscar.cluster.oda_package#module:package).
  returned: when O(query=packages)
  type: list
  elements: dict
package_statuses:
  description: Package statuses on nodes and images, by package, nodes before images.
  returned: when O(query=package_statuses)
  type: list
  elements: dict
  contains:
    package:
      description: Name of the package.
      type: str
      sample: openmpi
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
      sample: installed
config:
  description: The package's configuration as a dict, or with O(key) that key's value.
  returned: when O(query=config)
  type: raw
  sample:
    max_time: 3600
steps:
  description:
    - The wizard's steps in the order first recorded; the keys of
      RV(oscar.cluster.oda_step#module:step).
  returned: when O(query=steps)
  type: list
  elements: dict
clusters:
  description: Every cluster, by name.
  returned: when O(query=clusters)
  type: list
  elements: dict
  contains:
    name:
      description: Name of the cluster.
      type: str
      sample: oscar
    description:
      description: What the cluster is, or null.
      type: str
      sample: the default cluster
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import run_module

OPTIONS = {
    "query": {
        "type": "str",
        "default": "nodes",
        "choices": [
            "nodes",
            "node",
            "groups",
            "networks",
            "images",
            "image_versions",
            "packages",
            "package_statuses",
            "config",
            "steps",
            "clusters",
        ],
    },
    "nodes": {"type": "str"},
    "group": {"type": "str"},
    "name": {"type": "str"},
    "package": {"type": "str"},
    "key": {"type": "str", "no_log": False},
    "image": {"type": "str"},
}

# Which options each query reads: any other filter given is a mistake worth naming.
FILTERS = {
    "nodes": ("nodes", "group"),
    "node": ("name",),
    "package_statuses": ("package", "nodes", "image"),
    "image_versions": ("image",),
    "config": ("package", "key"),
}


def node_set(params):
    """The node set of query=nodes: the nodes option, narrowed to a group; None for every node."""
    expression = params["nodes"]
    if params["group"] is not None:
        group = "@%s" % params["group"]
        expression = group if expression is None else "%s&%s" % (expression, group)
    return expression


def answer(oda, params):
    """The value of the query's key."""
    query = params["query"]
    if query == "nodes":
        return oda.nodes.list(node_set(params))
    if query == "node":
        return oda.nodes.get(params["name"])
    if query == "package_statuses":
        return oda.packages.list_statuses(
            package=params["package"], nodes=params["nodes"], image=params["image"]
        )
    if query == "config":
        return oda.config.get(params["package"], params["key"])
    if query == "image_versions":
        return oda.image_versions.list(image=params["image"])
    # The other queries are listings, each named after its store.
    return getattr(oda, query).list()


def check(params):
    """Refuse a filter the query does not read, and a query without the name it needs."""
    query = params["query"]
    unused = [
        option
        for option in ("nodes", "group", "name", "package", "key", "image")
        if params[option] is not None
    ]
    unused = [option for option in unused if option not in FILTERS.get(query, ())]
    if unused:
        raise OdaValidationError("query '%s' does not take option '%s'" % (query, unused[0]))
    if query == "node" and params["name"] is None:
        raise OdaValidationError("query 'node' needs the name of the node")
    if query == "config" and params["package"] is None:
        raise OdaValidationError("query 'config' needs the name of the package")


def main():
    run_module(
        OPTIONS,
        lambda module, oda: {"changed": False, module.params["query"]: answer(oda, module.params)},
        read_only=True,
        check=check,
    )


if __name__ == "__main__":
    main()

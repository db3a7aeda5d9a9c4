#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_image
short_description: Define a node image in ODA
version_added: 0.1.0
description:
  - Create, update or remove a node image in ODA, the cluster database; the image compute nodes
    are installed from or boot.
  - This records the image; building it is the work of the image roles.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the image before and after the task.
    support: full
options:
  name:
    description: Name of the image.
    type: str
    required: true
  distro:
    description: Distribution of the image, such as V(debian-12) or V(rocky-9).
    type: str
  arch:
    description: CPU architecture of the image, such as V(x86_64).
    type: str
  path:
    description: Absolute path of the image's root directory on the head node.
    type: str
  suite:
    description: Release code name of the image's distribution, such as V(bookworm) or V(trixie).
    type: str
  current_version:
    description:
      - The version of the image that is current, the one nodes are updated to and installed from.
      - It must be recorded first with M(oscar.cluster.oda_image_version); a version ODA holds no
        record of is refused, naming the image and the version.
    type: int
  kernel:
    description:
      - Release of the kernel the image boots (the image's kernel pick), such as V(6.1.0-28-amd64).
    type: str
  state:
    description:
      - V(present) creates or updates the image, V(absent) removes it with its version records.
      - An image that nodes still use is not removed; the error names the nodes.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Record the compute nodes' image
  oscar.cluster.oda_image:
    database: sqlite:/var/lib/oscar/oda.db
    name: debian12
    distro: debian-12
    arch: x86_64
    path: /var/lib/oscar/images/debian12
    suite: bookworm

- name: Make version 3 current, booting its kernel
  oscar.cluster.oda_image:
    name: debian12
    current_version: 3
    kernel: 6.1.0-28-amd64
  delegate_to: localhost
"""

RETURN = r"""
image:
  description: The image after the task; null once removed.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the image.
      type: str
      sample: debian12
    distro:
      description: Distribution, or null.
      type: str
      sample: debian-12
    arch:
      description: CPU architecture, or null.
      type: str
      sample: x86_64
    path:
      description: Root directory of the image, or null.
      type: str
      sample: /var/lib/oscar/images/debian12
    state:
      description: Where the image is in its life; a new image is V(defined).
      type: str
      sample: defined
    current_version:
      description: The current version, or null.
      type: int
      sample: 3
    kernel:
      description: Release of the kernel the image boots, or null.
      type: str
      sample: 6.1.0-28-amd64
    suite:
      description: Release code name of the distribution, or null.
      type: str
      sample: bookworm
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import present_or_absent, run_module

OPTIONS = {
    "name": {"type": "str", "required": True},
    "distro": {"type": "str"},
    "arch": {"type": "str"},
    "path": {"type": "str"},
    "suite": {"type": "str"},
    "current_version": {"type": "int"},
    "kernel": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def act(module, oda):
    params = module.params
    values = {key: params[key] for key in ("distro", "arch", "path", "suite", "current_version", "kernel")}
    return present_or_absent(module, oda.images, "image", params["name"], **values)


def main():
    run_module(OPTIONS, act)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_image_version
short_description: Record a version of a node image in ODA
version_added: 0.2.0
description:
  - Record, update or forget one version of a node image in ODA, the cluster database, as the
    version tree built on the head describes it (its C(version.json)).
  - The image must exist (M(oscar.cluster.oda_image)). Which version is current is set on the
    image, with O(oscar.cluster.oda_image#module:current_version), once the version is recorded.
  - An option left out keeps the stored value, so a second identical task reports no change.
  - This records the version; building it is the work of M(oscar.cluster.image_build).
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the version before and after the task.
    support: full
options:
  image:
    description: Name of the image.
    type: str
    required: true
  version:
    description: Number of the version, from 1.
    type: int
    required: true
  parent:
    description: Number of the version this one was derived from; left out for a version bootstrapped afresh.
    type: int
  kernel:
    description: Release of the kernel the version holds, such as V(6.1.0-28-amd64).
    type: str
  recipe:
    description:
      - SHA-256 digest (64 hexadecimal digits) of what the version was built from, as
        M(oscar.cluster.image_build) returns it.
    type: str
  created:
    description: When the version was committed, in ISO 8601 with its zone, such as V(2026-01-31T12:00:00Z).
    type: str
  packages:
    description: The packages asked for when the version was built, in the order asked.
    type: list
    elements: str
  note:
    description: Free text about the version.
    type: str
  boot_kernel:
    description:
      - The kernel release whose boot artifacts M(oscar.cluster.image_export) exported for this
        version, RV(oscar.cluster.image_export#module:boot.kernel).
      - With O(boot_root_sha256), it records that the version can be booted over the network;
        ODA refuses to set a node's boot action to V(install) or V(stateless) until both are recorded
        for the node's version.
    type: str
  boot_root_sha256:
    description:
      - SHA-256 digest (64 hexadecimal digits) of the exported C(root.squashfs), as
        RV(oscar.cluster.image_export#module:boot.sha256) gives it under C(root.squashfs); the boot
        service passes it on the kernel line, and the node refuses a root whose digest differs.
    type: str
  state:
    description:
      - V(present) records the version or updates its record, V(absent) forgets it.
      - The image's current version is not forgotten; the error names the image and the version.
        Forgetting a version that is not recorded, or of an image that does not exist, is no change.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Record version 2 of image debian12
  oscar.cluster.oda_image_version:
    image: debian12
    version: 2
    parent: 1
    kernel: 6.1.0-28-amd64
    recipe: 4d967a3b0c6d1a0e4b8a9d3c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f
    created: "2026-01-31T12:00:00Z"
    packages: [openssh-server, slurmd]
    note: slurmd added
  delegate_to: localhost

- name: Record that version 2's boot artifacts were exported
  oscar.cluster.oda_image_version:
    image: debian12
    version: 2
    boot_kernel: "{{ exported.boot.kernel }}"
    boot_root_sha256: "{{ exported.boot.sha256['root.squashfs'] }}"
  delegate_to: localhost

- name: Forget version 1
  oscar.cluster.oda_image_version:
    image: debian12
    version: 1
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
image_version:
  description: The version's record after the task; null once forgotten.
  returned: success
  type: dict
  contains:
    image:
      description: Name of the image.
      type: str
      sample: debian12
    version:
      description: Number of the version.
      type: int
      sample: 2
    parent:
      description: Number of the version it was derived from, or null.
      type: int
      sample: 1
    kernel:
      description: Kernel release of the version, or null.
      type: str
      sample: 6.1.0-28-amd64
    recipe:
      description: SHA-256 digest of what the version was built from, or null.
      type: str
      sample: 4d967a3b0c6d1a0e4b8a9d3c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f
    created:
      description: When the version was committed, or null.
      type: str
      sample: "2026-01-31T12:00:00Z"
    packages:
      description: The packages asked for, or null.
      type: list
      elements: str
      sample: [openssh-server, slurmd]
    note:
      description: Free text about the version, or null.
      type: str
      sample: slurmd added
    boot_kernel:
      description: Kernel release of the exported boot artifacts, or null when none were recorded.
      type: str
      sample: 6.1.0-28-amd64
    boot_root_sha256:
      description: SHA-256 digest of the exported C(root.squashfs), or null.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import result, run_module

OPTIONS = {
    "image": {"type": "str", "required": True},
    "version": {"type": "int", "required": True},
    "parent": {"type": "int"},
    "kernel": {"type": "str"},
    "recipe": {"type": "str"},
    "created": {"type": "str"},
    "packages": {"type": "list", "elements": "str"},
    "note": {"type": "str"},
    "boot_kernel": {"type": "str"},
    "boot_root_sha256": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}
# The options that are columns of the version, under the same name in ImageVersions.ensure.
_SAME_NAME = ("parent", "kernel", "recipe", "created", "packages", "note", "boot_kernel", "boot_root_sha256")


def act(module, oda):
    params = module.params
    image, version = params["image"], params["version"]
    what = "%s version %s" % (image, version)
    if params["state"] == "absent":
        return result(module, "image_version", what, oda.image_versions.remove(image, version))
    values = {key: params[key] for key in _SAME_NAME}
    return result(module, "image_version", what, oda.image_versions.ensure(image, version, **values))


def main():
    run_module(OPTIONS, act)


if __name__ == "__main__":
    main()

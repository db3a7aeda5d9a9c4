#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_export
short_description: Export the boot artifacts of a node image version (kernel, initrd, compressed root)
version_added: 0.2.0
description:
  - Writes what network boot serves for a version of an image into C(IMAGE/boot/N/) under
    O(images_root) - C(vmlinuz), C(initrd.img), C(root.squashfs) (zstd, with extended
    attributes) unless O(root_format=none), C(SHA256SUMS) over them and C(boot.json) naming the
    kernel - in a staging directory renamed into place, so a half-written set is never served.
  - The kernel is the kernel picker's choice, O(kernel), or the version's own (the newest it holds).
    A version with no kernel cannot be exported, and the task says so.
  - Nothing is done when the export is there, for the same kernel and format, and its files match
    their sums; a tampered or truncated artifact is exported again.
extends_documentation_fragment:
  - oscar.cluster.image
attributes:
  check_mode:
    description: Reports whether the artifacts would be written.
    support: full
  diff_mode:
    description: Shows the exported kernel and format before and after.
    support: full
  platform:
    description: The head, with C(mksquashfs) (squashfs-tools) for a squashfs root.
    support: full
    platforms: posix
options:
  name:
    description: The image.
    type: str
    required: true
  version:
    description: The version to export; the current one when not given.
    type: int
  kernel:
    description:
      - The kernel release to boot (V(6.1.0-28-amd64)), one the version holds.
      - The version's own (the newest it holds) when not given.
    type: str
  root_format:
    description: V(squashfs) to export the root tree compressed, V(none) for the kernel and initrd only.
    type: str
    choices: [squashfs, none]
    default: squashfs
"""

EXAMPLES = r"""
- name: Export the current version of debian12 for network boot
  oscar.cluster.image_export:
    name: debian12

- name: Boot version 3 with an older kernel it holds
  oscar.cluster.image_export:
    name: debian12
    version: 3
    kernel: 6.1.0-27-amd64
"""

RETURN = r"""
boot:
  description: The exported artifacts (in check mode, what they would be).
  returned: always
  type: dict
  contains:
    dir: {description: Their directory., type: str}
    version: {description: The image version., type: int}
    kernel: {description: The kernel release., type: str}
    root_format: {description: The root's format., type: str}
    vmlinuz: {description: The kernel's path., type: str}
    initrd: {description: The initrd's path., type: str}
    root: {description: "The compressed root's path; null with O(root_format=none).", type: str}
    sha256: {description: The SHA-256 of each file by name (empty in check mode)., type: dict}
  sample:
    dir: /var/lib/oscar/images/debian12/boot/2
    version: 2
    kernel: 6.1.0-28-amd64
    root_format: squashfs
    vmlinuz: /var/lib/oscar/images/debian12/boot/2/vmlinuz
    initrd: /var/lib/oscar/images/debian12/boot/2/initrd.img
    root: /var/lib/oscar/images/debian12/boot/2/root.squashfs
    sha256: {vmlinuz: 5d41402abc4b2a76b9719d911017c592ae4e3f0f6f1b5f5d8a8c0c7e9e1f2a3b}
"""

import os

from ansible_collections.oscar.cluster.plugins.module_utils import image_export
from ansible_collections.oscar.cluster.plugins.module_utils.image_module import run_module, runner


def _summary(record):
    if not record:
        return "no export\n"
    return "version %s, kernel %s, root %s\n" % (record["version"], record["kernel"], record["root_format"])


def act(module, store):
    params = module.params
    name, root_format = params["name"], params["root_format"]
    number, kernel, boot_dir, existing, fresh = image_export.planned(
        store, name, params["version"], params["kernel"], root_format
    )
    if fresh:
        return {"changed": False, "boot": image_export.describe(boot_dir, existing)}
    wanted = {"version": number, "kernel": kernel, "root_format": root_format, "sha256": {}}
    if module.check_mode:
        boot = image_export.describe(boot_dir, wanted)
        boot["root"] = os.path.join(boot_dir, image_export.SQUASHFS) if root_format == "squashfs" else None
    else:
        mksquashfs = module.get_bin_path("mksquashfs", required=True) if root_format == "squashfs" else None
        _changed, boot = image_export.export(
            store, runner(module), mksquashfs, name, version=number, kernel=kernel, root_format=root_format
        )
    return {"changed": True, "boot": boot, "diff": {"before": _summary(existing), "after": _summary(wanted)}}


def main():
    run_module(
        {
            "name": {"type": "str", "required": True},
            "version": {"type": "int"},
            "kernel": {"type": "str"},
            "root_format": {"type": "str", "choices": list(image_export.ROOT_FORMATS), "default": "squashfs"},
        },
        act,
    )


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_disk_layout
short_description: Define a disk layout that nodes are installed with, in ODA
version_added: 0.2.0
description:
  - Define, replace or remove a named disk layout in ODA, the cluster database. The network
    installer of a node partitions its disk by it (GPT), makes the file systems and mounts them.
  - A node takes a layout by name with O(oscar.cluster.oda_node#module:disk_layout); a node without
    one is installed with the layout named V(default), and when there is none, with a built-in one
    (bios 1 MiB, efi 256 MiB vfat on C(/boot/efi), swap 512 MiB, the rest ext4 on C(/)).
  - The layout is checked as a whole; a layout given again as stored is no change.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the layout before and after the task.
    support: full
options:
  name:
    description: Name of the layout.
    type: str
    required: true
  device:
    description:
      - The disk to install on, such as V(/dev/sda) or a C(/dev/disk/by-id/...) path.
      - Left out, the installer takes the node's first disk that is not removable.
    type: str
  partitions:
    description:
      - The partitions, in disk order. Required with O(state=present).
      - Labels and mount points are unique; exactly one partition mounts V(/); at most one partition
        has no size (the rest of the disk) and it must be the last; at most one of type V(bios) and
        one of type V(efi).
    type: list
    elements: dict
    suboptions:
      label:
        description: GPT name of the partition; letters, digits, V(_), V(.) and V(-), at most 36.
        type: str
        required: true
      size_mib:
        description: Size in MiB, a positive whole number; left out for the rest of the disk.
        type: int
      type:
        description:
          - V(bios) for GRUB's BIOS boot partition and V(swap) take no file system and no mount point.
          - V(efi) is the EFI system partition, always vfat.
          - V(linux) holds a file system, or nothing when O(partitions[].fs) is left out.
        type: str
        required: true
        choices: [bios, efi, swap, linux]
      fs:
        description: File system made on the partition; V(vfat) for V(efi), which is its default.
        type: str
        choices: [ext4, vfat]
      mount:
        description: Absolute mount point; needs a file system.
        type: str
  min_disk_mib:
    description:
      - The smallest disk, in MiB, the layout must fit; the fixed sizes, 1 MiB for the GPT and at
        least 1 MiB for a rest partition must not exceed it. Left out, no disk size is checked here
        (the installer checks the real disk, and reports C(failed) when the layout does not fit).
    type: int
  state:
    description:
      - V(present) defines or replaces the layout, V(absent) removes it.
      - A layout that nodes use is not removed; the error names them. Removing a layout that does
        not exist is no change.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The layout every node without its own is installed with
  oscar.cluster.oda_disk_layout:
    name: default
    partitions:
      - {label: bios, size_mib: 1, type: bios}
      - {label: efi, size_mib: 256, type: efi, mount: /boot/efi}
      - {label: swap, size_mib: 4096, type: swap}
      - {label: root, type: linux, fs: ext4, mount: /}
  delegate_to: localhost

- name: A layout on the second disk, for nodes with a scratch file system
  oscar.cluster.oda_disk_layout:
    name: scratch
    device: /dev/sdb
    min_disk_mib: 102400
    partitions:
      - {label: bios, size_mib: 1, type: bios}
      - {label: efi, size_mib: 256, type: efi, mount: /boot/efi}
      - {label: root, size_mib: 40960, type: linux, fs: ext4, mount: /}
      - {label: scratch, type: linux, fs: ext4, mount: /scratch}

- name: Forget a layout no node uses
  oscar.cluster.oda_disk_layout:
    name: old
    state: absent
"""

RETURN = r"""
disk_layout:
  description: The layout after the task, in its normal form; null once removed.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the layout.
      type: str
      sample: default
    device:
      description: The disk, or null for the node's first disk.
      type: str
      sample: null
    partitions:
      description:
        - The partitions, each with label, size_mib (null for the rest), type, and fs and mount when
          it has them.
      type: list
      elements: dict
      sample:
        - {label: efi, size_mib: 256, type: efi, fs: vfat, mount: /boot/efi}
        - {label: root, size_mib: null, type: linux, fs: ext4, mount: /}
    min_disk_mib:
      description: The smallest disk the layout must fit, when given.
      type: int
      returned: when given
      sample: 102400
"""

from ansible_collections.oscar.cluster.plugins.module_utils import oda_install
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import result, run_module

OPTIONS = {
    "name": {"type": "str", "required": True},
    "device": {"type": "str"},
    "partitions": {
        "type": "list",
        "elements": "dict",
        "options": {
            "label": {"type": "str", "required": True},
            "size_mib": {"type": "int"},
            "type": {"type": "str", "required": True, "choices": list(oda_install.PARTITION_TYPES)},
            "fs": {"type": "str", "choices": list(oda_install.FILESYSTEMS)},
            "mount": {"type": "str"},
        },
    },
    "min_disk_mib": {"type": "int"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def _spec(params):
    """The layout as normalize_layout takes it: the options left out are not keys."""
    partitions = [
        {key: value for key, value in partition.items() if value is not None or key == "size_mib"}
        for partition in params["partitions"]
    ]
    spec = {"device": params["device"], "partitions": partitions}
    if params["min_disk_mib"] is not None:
        spec["min_disk_mib"] = params["min_disk_mib"]
    return spec


def act(module, oda):
    params = module.params
    name = params["name"]
    if params["state"] == "absent":
        return result(module, "disk_layout", name, oda_install.remove_layout(oda.db, name))
    return result(module, "disk_layout", name, oda_install.define_layout(oda.db, name, _spec(params)))


def main():
    run_module(OPTIONS, act, required_if=[("state", "present", ("partitions",))])


if __name__ == "__main__":
    main()

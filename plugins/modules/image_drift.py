#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_drift
short_description: List the files of a running node that differ from a version of its image
version_added: 0.2.0
description:
  - Compares a running node with a version of its image, from the head, and lists the paths
    missing from the node, extra on it, and changed (content, type, owner, mode, ACLs or extended
    attributes). Read-only - it is the dry run of M(oscar.cluster.image_sync), with the same
    options, so what it reports is what an update would change.
  - The paths an update never touches (the node's identity, logs, the running node's state,
    mounted file systems and the files the collection's roles write from ODA) are not drift; see
    M(oscar.cluster.image_sync) for the list.
  - Without O(checksum), a file counts as changed when its size or modification time differs, as
    rsync judges; with it, when its content differs (every file is read on both sides).
  - A directory or symbolic link whose only difference is its modification time is not drift.
  - Run it on the head, one task per node (C(delegate_to) the head). The C(cdrift) command of the
    head does the same for many nodes at once, with C3's node ranges.
extends_documentation_fragment:
  - oscar.cluster.image
  - oscar.cluster.image_node
attributes:
  check_mode:
    description: Nothing is ever changed; check mode runs the same comparison.
    support: full
  diff_mode:
    description: The differing paths, one per line, under missing, extra and changed.
    support: full
  platform:
    description: >-
      Runs on the head, which holds the images; the node needs rsync and root's SSH access from
      the head.
    support: full
    platforms: posix
options:
  checksum:
    description: Compare the content of every file (rsync C(--checksum)), not only size and time.
    type: bool
    default: false
seealso:
  - module: oscar.cluster.image_sync
"""

EXAMPLES = r"""
- name: Compare the node with its image's current version
  oscar.cluster.image_drift:
    name: debian12
    destination: "{{ ansible_host }}"
  delegate_to: "{{ groups['oscar_server'] | first }}"
  register: node_drift

- name: Compare file contents with version 2
  oscar.cluster.image_drift:
    name: debian12
    version: 2
    destination: 10.0.0.13
    checksum: true
  delegate_to: head
"""

RETURN = r"""
version:
  description: The version the node was compared with.
  returned: always
  type: int
  sample: 2
drift:
  description: The node's paths that differ from the version, sorted.
  returned: always
  type: dict
  contains:
    missing:
      description: Paths of the version that are not on the node.
      type: list
      elements: str
      sample: [/usr/bin/tree]
    extra:
      description: Paths on the node that are not in the version.
      type: list
      elements: str
      sample: [/usr/local/bin/hand-made]
    changed:
      description: Paths on both whose content, type, owner, mode, ACLs or extended attributes differ.
      type: list
      elements: str
      sample: [/etc/issue]
differs:
  description: Whether any path differs.
  returned: always
  type: bool
  sample: true
"""
from ansible_collections.oscar.cluster.plugins.module_utils.image_module import (
    SYNC_ARGUMENT_SPEC,
    run_module,
    syncer,
)
from ansible_collections.oscar.cluster.plugins.module_utils.image_sync import diff_text


def act(module, _store):
    answer = syncer(module).drift(checksum=module.params["checksum"])
    if module._diff:
        answer["diff"] = {"prepared": diff_text(answer["drift"])}
    return dict(answer, changed=False)


def main():
    run_module(dict(SYNC_ARGUMENT_SPEC, checksum={"type": "bool", "default": False}), act)


if __name__ == "__main__":
    main()

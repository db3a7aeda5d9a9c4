#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_sync
short_description: Update a running node in place to a version of its image
version_added: 0.2.0
description:
  - Pushes a version of an image from the head to a running node with rsync deltas, as OSCAR's
    C(si_updateclient) did, so that the node's files become the version's without a reinstall.
    Run it on the head, one task per node (C(delegate_to) the head).
  - Files of the node that are not in the version are deleted; hard links, ACLs, extended
    attributes and numeric owners are kept; rsync never crosses into a file system mounted on the
    node.
  - Never touched, whatever the image holds, nor deleted - the node's identity (C(/etc/machine-id),
    C(/var/lib/dbus/machine-id), C(/etc/ssh/ssh_host_*), C(/etc/hostname), C(/etc/hosts),
    C(/etc/fstab), C(/etc/resolv.conf), network configuration), its logs (C(/var/log)), the state
    of the running node (C(/proc), C(/sys), C(/dev), C(/run), C(/tmp), C(/var/tmp), C(/var/spool),
    C(/var/lib/systemd), APT's lists and cache, the NFS-mounted C(/home) and C(/opt/cluster)...) and
    the files the collection's roles write per node from ODA (the MUNGE key, slurmd's options,
    C(/root/.ssh), the cluster's SSH settings and known hosts, chrony's sources, the NFS mount
    units, the package cache's APT setting, env_switcher's files...). The list is
    C(NEVER_TOUCHED) in the collection's C(module_utils/image_sync.py), each entry with its reason.
  - Changed files land together at the end of the run (rsync C(--delay-updates), deletions with
    C(--delete-delay)); until then they wait in C(.~tmp~) directories beside their targets. An
    update interrupted halfway (rsync killed, the node down, the connection lost) leaves the
    node's existing files as they were; running the update again completes it and removes those
    directories. New directories and symbolic links are made as the run goes. A node that stops
    answering (its power cut) ends the run within about 30 seconds (SSH keepalives), as a failure.
  - The version's C(/etc/passwd) and C(/etc/group) replace the node's. When they give an account
    another id than the node had (a node not installed from the image, whose system users were made
    in another order), the owners of the node's own files (those the update leaves, above; never
    the NFS mounts) follow the account, so munged or slurmd still own their key, state and logs.
    The node's accounts are saved on it first (C(/var/lib/oscar-image)), so a rerun after an
    interruption still knows them. The node's python3 does this.
extends_documentation_fragment:
  - oscar.cluster.image
  - oscar.cluster.image_node
attributes:
  check_mode:
    description: >-
      The dry run (rsync C(--dry-run)) - lists what would be created, updated and deleted on the
      node, and changes nothing.
    support: full
  diff_mode:
    description: The paths created, updated and deleted (or that would be), one per line.
    support: full
  platform:
    description: >-
      Runs on the head, which holds the images; the node needs rsync and root's SSH access from
      the head.
    support: full
    platforms: posix
notes:
  - A second run with the same version reports C(changed=false).
  - Record the node's version in ODA after a successful run (M(oscar.cluster.oda_node)), as
    C(playbooks/image_update.yml) does.
seealso:
  - module: oscar.cluster.image_drift
"""

EXAMPLES = r"""
- name: Update the node in place to its image's current version
  oscar.cluster.image_sync:
    name: debian12
    destination: "{{ ansible_host }}"
  delegate_to: "{{ groups['oscar_server'] | first }}"

- name: Bring the node to version 3, leaving a site file alone
  oscar.cluster.image_sync:
    name: debian12
    version: 3
    destination: 10.0.0.11
    exclude:
      - /etc/ssh/sshd_config.d/site.conf
    overrides: /var/lib/oscar/overrides/debian12
  delegate_to: head
"""

RETURN = r"""
changed:
  description: Whether a file of the node was (in check mode, would be) created, updated or deleted.
  returned: always
  type: bool
  sample: true
version:
  description: The version the node was brought to (or would be).
  returned: always
  type: int
  sample: 2
files:
  description: The node's paths the run created, updated and deleted (or would), sorted.
  returned: always
  type: dict
  contains:
    created:
      description: Paths that were not on the node.
      type: list
      elements: str
      sample: [/usr/bin/tree]
    updated:
      description: Paths whose content, type, owner, mode, ACLs or extended attributes differed.
      type: list
      elements: str
      sample: [/var/lib/dpkg/status]
    deleted:
      description: Paths on the node that are not in the version.
      type: list
      elements: str
      sample: [/usr/bin/old-tool]
accounts:
  description: The accounts the version gives another id than the node had, with both ids.
  returned: always
  type: dict
  contains:
    users:
      description: User name to [node's uid, version's uid].
      type: dict
      sample: {munge: [104, 106]}
    groups:
      description: Group name to [node's gid, version's gid].
      type: dict
      sample: {munge: [107, 109]}
owners_remapped:
  description: How many of the node's own files were given the version's ids (0 in check mode).
  returned: always
  type: int
  sample: 12
bytes_sent:
  description: The bytes rsync sent to the node (its C(--stats)); in check mode, those of the comparison.
  returned: always
  type: int
  sample: 2301457
"""
from ansible_collections.oscar.cluster.plugins.module_utils.image_module import (
    SYNC_ARGUMENT_SPEC,
    run_module,
    syncer,
)
from ansible_collections.oscar.cluster.plugins.module_utils.image_sync import diff_text


def act(module, _store):
    answer = syncer(module).update(dry_run=module.check_mode)
    if module._diff:
        answer["diff"] = {"prepared": diff_text(answer["files"])}
    return answer


def main():
    run_module(SYNC_ARGUMENT_SPEC, act)


if __name__ == "__main__":
    main()

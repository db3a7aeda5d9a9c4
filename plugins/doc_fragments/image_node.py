# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What the modules that set a node against an image version share (image_sync,
    # image_drift): module_utils/image_module.py's SYNC_ARGUMENT_SPEC.
    DOCUMENTATION = r"""
options:
  name:
    description: The image.
    type: str
    required: true
  version:
    description:
      - The image's version the node is set against; by default the image's current version.
      - A version that does not exist is an error naming the image and the version.
    type: int
  destination:
    description:
      - The node's address (host name or IP address) as the head reaches it over SSH; its C(/) is
        the node's side.
      - An absolute path instead is a local directory of the head (a root tree).
    type: str
    required: true
  ssh_user:
    description: The user rsync logs in as on the node; it must be able to read and write every file.
    type: str
    default: root
  ssh_key:
    description:
      - A private key on the head for the node; by default SSH's own configuration and keys.
      - SSH runs without prompts (C(BatchMode=yes)) and accepts the key of a host it has never
        seen (C(StrictHostKeyChecking=accept-new)), but not a changed one.
    type: path
  exclude:
    description:
      - The site's own paths, added to the built-in list of paths an update never touches and
        drift never reports.
      - Absolute paths of the node, with no C(..); rsync's wildcards (C(*), C(?), C([...])) apply,
        and a directory stands for everything under it.
    type: list
    elements: str
    default: []
  overrides:
    description:
      - A directory on the head laid over the image (SystemImager's overrides) - its files win over
        the version's at the same paths, for the site's files every node shares.
      - It may not hold a path that an update never touches (identity, logs, role-managed files);
        that is an error naming the path.
    type: path
"""

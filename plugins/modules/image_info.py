#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_info
short_description: List the node images on the head, their versions, and what changed between two versions
version_added: 0.2.0
description:
  - Reads the images under O(images_root), each image's versions with what they were built from
    (parent, packages, kernel, recipe, note, time) and the kernels each holds, and which version
    is current.
  - With O(compare), compares two versions of an image file by file, giving in RV(changes) the paths
    added, removed and changed from the first to the second (type, mode, owner, link target or
    content; times alone are no change). Files the two versions share by hard link cost nothing to
    compare.
extends_documentation_fragment:
  - oscar.cluster.image
attributes:
  check_mode:
    description: Reads only; the same answer in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff; O(compare) compares two versions (RV(changes)).
    support: none
  platform:
    description: The head.
    support: full
    platforms: posix
options:
  name:
    description: The image to read; all images when not given.
    type: str
  compare:
    description: Two versions of O(name) to compare, the older first.
    type: list
    elements: int
"""

EXAMPLES = r"""
- name: List every image and its versions
  oscar.cluster.image_info:
  register: images

- name: What version 3 of debian12 changed from version 2
  oscar.cluster.image_info:
    name: debian12
    compare: [2, 3]
  register: change

- name: Show the files added
  ansible.builtin.debug:
    var: change.changes.added
"""

RETURN = r"""
images:
  description: The images, by name; one when O(name) is given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The image.
      type: str
    current:
      description: The current version, null when none is.
      type: int
    path:
      description: The image's directory.
      type: str
    versions:
      description: Its versions, oldest first, as their version.json records them.
      type: list
      elements: dict
      contains:
        version: {description: The number., type: int}
        parent: {description: "The version it shares files with; null for none.", type: int}
        created: {description: When it was committed (UTC)., type: str}
        kernel: {description: "The kernel it boots; null for none.", type: str}
        kernels: {description: Every kernel release the tree holds., type: list, elements: str}
        packages: {description: The packages asked for., type: list, elements: str}
        recipe: {description: The digest of what it was built from., type: str}
        note: {description: Words kept with it., type: str}
        path: {description: Its root tree., type: str}
  sample:
    - name: debian12
      current: 2
      path: /var/lib/oscar/images/debian12
      versions:
        - {version: 1, parent: null, kernel: 6.1.0-28-amd64, packages: [openssh-server], note: ""}
changes:
  description: The paths added, removed and changed from the first version of O(compare) to the second.
  returned: when O(compare) is given
  type: dict
  contains:
    added: {description: Paths only the second version has., type: list, elements: str}
    removed: {description: Paths only the first version has., type: list, elements: str}
    changed: {description: Paths both have that differ., type: list, elements: str}
  sample: {added: [/usr/bin/tree], removed: [], changed: [/var/lib/dpkg/status]}
"""

from ansible_collections.oscar.cluster.plugins.module_utils import image_store
from ansible_collections.oscar.cluster.plugins.module_utils.image_errors import ImageInputError
from ansible_collections.oscar.cluster.plugins.module_utils.image_module import run_module


def act(module, store):
    name, versions = module.params["name"], module.params["compare"]
    if name is not None:
        image_store.image_name(name)
    names = [name] if name is not None else store.images()
    answer = {"changed": False, "images": [store.describe(each) for each in names]}
    if versions is not None:
        if name is None or len(versions) != 2:
            raise ImageInputError("compare takes two versions of one image (name), not %r" % (versions,))
        old, new = (store.resolve(name, version) for version in versions)
        trees = (store.version_root(name, old), store.version_root(name, new))
        answer["changes"] = image_store.diff_trees(*trees)
    return answer


def main():
    run_module({"name": {"type": "str"}, "compare": {"type": "list", "elements": "int"}}, act)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_version
short_description: Roll a node image back or forward, delete a version, or copy one to a new image
version_added: 0.2.0
description:
  - With O(state=current), makes a version the image's current one, the version nodes are
    installed from and updated to by default; a rollback to an older version or a roll forward.
    The switch is one atomic rename of the C(current) link.
  - With O(state=absent), deletes a version and its boot artifacts. The current version is never
    deleted; make another current first. Files it shares with other versions stay with them.
  - With O(copy_to), makes a new image whose version 1 is this version, by hard links (no data
    copied), a start for a variant of the image.
extends_documentation_fragment:
  - oscar.cluster.image
attributes:
  check_mode:
    description: Reports what would change, changing nothing.
    support: full
  diff_mode:
    description: Shows the image's versions and current version before and after.
    support: full
  platform:
    description: The head.
    support: full
    platforms: posix
options:
  name:
    description: The image.
    type: str
    required: true
  version:
    description: The version to act on.
    type: int
    required: true
  state:
    description:
      - V(current) to make the version current, V(absent) to delete it.
      - V(present) only checks that the version exists.
      - Not used with O(copy_to), which leaves the image as it is.
    type: str
    choices: [current, absent, present]
    default: current
  copy_to:
    description:
      - A new image to make from the version.
      - When it exists as a copy of this version, nothing is done; as anything else, the task fails.
    type: str
"""

EXAMPLES = r"""
- name: Roll debian12 back to version 3
  oscar.cluster.image_version:
    name: debian12
    version: 3

- name: Delete an old version
  oscar.cluster.image_version:
    name: debian12
    version: 1
    state: absent

- name: Start a GPU image from version 4 of debian12
  oscar.cluster.image_version:
    name: debian12
    version: 4
    state: present
    copy_to: debian12-gpu
"""

RETURN = r"""
image:
  description: The image after the task, as oscar.cluster.image_info gives it (the new image with O(copy_to)).
  returned: always
  type: dict
  sample: {name: debian12, current: 3, path: /var/lib/oscar/images/debian12, versions: []}
"""

from ansible_collections.oscar.cluster.plugins.module_utils import image_store
from ansible_collections.oscar.cluster.plugins.module_utils.image_errors import ImageConflictError
from ansible_collections.oscar.cluster.plugins.module_utils.image_module import run_module


def _summary(store, name):
    if not store.exists(name):
        return "image %s: absent\n" % name
    return "image %s: versions %s, current %s\n" % (
        name,
        ", ".join(map(str, store.versions(name))) or "none",
        store.current(name),
    )


def _copied_from(store, new_name, name, version):
    """Whether an existing image is the copy this task makes (its version 1 says so)."""
    versions = store.versions(new_name)
    return bool(versions) and store.meta(new_name, versions[0]).get("note") == image_store.copy_note(
        name, version
    )


def act(module, store):
    params = module.params
    name, state, copy_to = image_store.image_name(params["name"]), params["state"], params["copy_to"]
    number = store.resolve(name, params["version"])
    shown = copy_to or name
    before = _summary(store, shown)
    changed = False
    if copy_to is not None:
        image_store.image_name(copy_to)
        if store.exists(copy_to):
            if not _copied_from(store, copy_to, name, number):
                raise ImageConflictError(
                    "image '%s' already exists and is not a copy of %s version %d" % (copy_to, name, number)
                )
        else:
            changed = True
            if not module.check_mode:
                store.copy(name, number, copy_to)
    elif state == "current":
        changed = store.current(name) != number
        if changed and not module.check_mode:
            store.set_current(name, number)
    elif state == "absent":
        if store.current(name) == number:
            raise ImageConflictError(
                "version %d of image '%s' is its current version: make another one current first"
                % (number, name)
            )
        changed = True
        if not module.check_mode:
            store.delete(name, number)
    answer = {"changed": changed, "image": store.describe(shown) if store.exists(shown) else {"name": shown}}
    if changed:
        after = (
            _summary(store, shown)
            if not module.check_mode
            else "image %s: %s\n"
            % (
                shown,
                "version %d %s" % (number, {"current": "current", "absent": "deleted"}.get(state, "copied")),
            )
        )
        answer["diff"] = {"before": before, "after": after}
    return answer


def main():
    run_module(
        {
            "name": {"type": "str", "required": True},
            "version": {"type": "int", "required": True},
            "state": {"type": "str", "choices": ["current", "absent", "present"], "default": "current"},
            "copy_to": {"type": "str"},
        },
        act,
    )


if __name__ == "__main__":
    main()

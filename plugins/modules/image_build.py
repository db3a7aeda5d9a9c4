#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: image_build
short_description: Build a version of a node image on the head from a package list
version_added: 0.2.0
description:
  - OSCAR's "Build OSCAR Client Image" step, a root tree of a compute node, built on the head, that
    nodes are installed from and updated to. Each build is a new, immutable version of the image
    under O(images_root) (C(IMAGE/versions/N/root)); its files identical to its parent version's
    are hard links to them, so versions cost little more than the files they change.
  - A new image is bootstrapped with C(mmdebstrap) from O(mirror), through O(proxy) when given.
    A version derived from O(base_version) starts from a copy of it into which the packages are
    installed in a chroot, so it keeps the base's package versions.
  - The tree is made fit for many nodes, with an empty C(/etc/machine-id), no SSH host keys (a unit of
    the image makes a node's own at its first boot if the installer wrote none), no host name,
    resolver, fstab, random seed or package lists of the builder; those are written per node from
    ODA.
  - O(overlays) are directory trees copied onto the image after its packages (SystemImager's
    overrides), then O(enable_units) are enabled and the initramfs is built again in a chroot, so that
    the initramfs hooks and boot scripts an overlay brings are in the image's C(initrd.img).
  - What a version is built from (suite, variant, components, packages, kernel package, the content
    of the overlays, the units enabled and the base version's recipe) is its I(recipe); when some
    version of the image already has the recipe asked for, nothing is built (idempotence), unless
    O(force).
  - A build that fails (an unknown package, an unreachable mirror, no kernel) leaves nothing behind;
    every committed version and the current one stay as they were.
extends_documentation_fragment:
  - oscar.cluster.image
attributes:
  check_mode:
    description: Reports whether a version would be built, and its number, without building it.
    support: full
  diff_mode:
    description: Shows the image's versions and current version before and after.
    support: full
  platform:
    description:
      - A Debian head with C(mmdebstrap) (and C(unshare) from util-linux for derived versions, overlays
        and units).
    support: full
    platforms: debian
options:
  name:
    description: The image, a name as ODA accepts it (it names a directory under O(images_root)).
    type: str
    required: true
  suite:
    description: The Debian release of the image, as the archive names it.
    type: str
    default: bookworm
  mirror:
    description: The Debian mirror the image's packages come from, and its APT sources name.
    type: str
    default: http://deb.debian.org/debian
  proxy:
    description:
      - An HTTP proxy that fetches the packages, such as the head's package cache
        (V(http://10.0.0.1:3142)). Used by the build only; nothing of it is left in the image.
    type: str
  components:
    description: The archive components the image draws on.
    type: list
    elements: str
    default: [main]
  variant:
    description:
      - mmdebstrap's package set before O(packages). V(minbase) is the essential and required
        packages and apt; O(packages) names the rest of what a node runs.
    type: str
    default: minbase
    choices: [essential, apt, required, minbase, buildd, important, debootstrap, standard]
  packages:
    description: The packages of the image, beyond the variant's; their dependencies come with them.
    type: list
    elements: str
    default: []
  kernel_package:
    description:
      - The kernel package, the kernel picker of the image (V(linux-image-amd64), V(linux-image-cloud-amd64),
        V(linux-image-rt-amd64), a versioned V(linux-image-6.1.0-28-amd64)...). The build fails if it
        installed no kernel with its modules. Empty for an image with no kernel (a container base).
    type: str
    default: linux-image-amd64
  base_version:
    description:
      - Derive the new version from this version of the image instead of bootstrapping one;
        a copy of it gets O(packages) installed. Its suite must be O(suite).
    type: int
  overlays:
    description:
      - Directory trees on the head copied onto the image, in this order, after its packages are
        installed, as root's files with their permission bits; a directory the image has keeps its own
        mode. The files the image role's network boot needs come this way.
      - Their content (paths, permissions, link targets, bytes), not their path, is part of the recipe;
        a changed file builds a new version, the same tree elsewhere does not.
      - The initramfs is built again (C(update-initramfs -u -k all) in a chroot) after them, when the
        image has a kernel and initramfs-tools.
    type: list
    elements: path
    default: []
  enable_units:
    description:
      - Systemd units to enable in the image (C(systemctl enable) in a chroot) after O(overlays), such as
        a service an overlay brings. Part of the recipe.
    type: list
    elements: str
    default: []
  make_current:
    description:
      - Make the built version (or the version already built from the same recipe) the image's
        current one, the version nodes get by default. The first version of an image is always
        current. Set to false to build a version while nodes stay on a pinned one.
    type: bool
    default: true
  note:
    description: Words kept with the version, such as why it was built.
    type: str
  force:
    description: Build a new version even if one was built from the same recipe.
    type: bool
    default: false
notes:
  - A bootstrap through the head's package cache takes a few minutes the first time, much less
    once the cache holds the packages.
"""

EXAMPLES = r"""
- name: Build the compute nodes' image through the head's package cache
  oscar.cluster.image_build:
    name: debian12
    suite: bookworm
    proxy: http://10.0.0.1:3142
    packages: [systemd-sysv, openssh-server, python3, slurmd, openmpi-bin]

- name: A Debian 13 image with the cloud kernel
  oscar.cluster.image_build:
    name: debian13
    suite: trixie
    kernel_package: linux-image-cloud-amd64
    packages: [systemd-sysv, openssh-server, python3]

- name: An image with the site's files (SystemImager's overrides) and a service they bring
  oscar.cluster.image_build:
    name: debian12
    packages: [systemd-sysv, openssh-server, python3]
    overlays: [/var/lib/oscar/image-overlays/site]
    enable_units: [site-setup.service]

- name: A second version with one more package, kept from the nodes for now
  oscar.cluster.image_build:
    name: debian12
    base_version: 1
    packages: [systemd-sysv, openssh-server, python3, slurmd, openmpi-bin, hwloc]
    make_current: false
    note: hwloc for the new partition
"""

RETURN = r"""
version:
  description:
    - The version built, or the version that already had the recipe.
    - In check mode, the number a build would take.
  returned: always
  type: int
  sample: 2
current:
  description: The image's current version after the task.
  returned: always
  type: int
  sample: 2
built:
  description: Whether a new version was built (in check mode, whether it would be).
  returned: always
  type: bool
  sample: true
root:
  description: The root tree of the version (in check mode, where it would be).
  returned: always
  type: str
  sample: /var/lib/oscar/images/debian12/versions/2/root
kernel:
  description: The kernel release the version boots (the newest it holds), null for an image with no kernel.
  returned: always
  type: str
  sample: 6.1.0-28-amd64
recipe:
  description: The SHA-256 digest of what the version is built from.
  returned: always
  type: str
  sample: 3f1c0e8d2b5a4f6e9d7c8b1a0f2e3d4c5b6a7988f0e1d2c3b4a5968778695a4b
parent:
  description:
    - The version this one shares files with (its base, or the image's current version when built).
    - Null for the first version.
  returned: always
  type: int
  sample: 1
shared_bytes:
  description: Bytes of the new version held by hard links to its parent's files rather than stored again.
  returned: when built
  type: int
  sample: 412090368
"""

import os

from ansible_collections.oscar.cluster.plugins.module_utils import image_build
from ansible_collections.oscar.cluster.plugins.module_utils.image_module import run_module, runner


def _summary(name, versions, current):
    if not versions:
        return "image %s: no versions\n" % name
    return "image %s: versions %s, current %s\n" % (name, ", ".join(map(str, versions)), current)


def _answer(store, name, version, record, *, built, moved):
    return {
        "changed": built or moved,
        "built": built,
        "version": version,
        "current": store.current(name) if store.exists(name) else version,
        "root": record["path"],
        "kernel": record.get("kernel"),
        "recipe": record.get("recipe"),
        "parent": record.get("parent"),
    }


def act(module, store):
    params = module.params
    name = image_build.image_store.image_name(params["name"])
    base = image_build.base_record(store, name, params["base_version"]) if params["base_version"] else None
    recipe = image_build.Recipe(
        params["suite"],
        variant=params["variant"],
        components=params["components"],
        packages=params["packages"],
        kernel_package=params["kernel_package"],
        base=base,
        overlays=params["overlays"],
        units=params["enable_units"],
    )
    image_build.mirror_url(params["mirror"])
    if params["proxy"]:
        image_build.mirror_url(params["proxy"], "proxy")
    digest = recipe.digest()
    before = _summary(name, store.versions(name), store.current(name))
    existing = None if params["force"] else image_build.version_with_recipe(store, name, digest)
    first = not store.versions(name)
    if existing is not None:
        moved = False
        if params["make_current"] and store.current(name) != existing:
            moved = True
            if not module.check_mode:
                store.set_current(name, existing)
        answer = _answer(store, name, existing, store.meta(name, existing), built=False, moved=moved)
        if moved and module.check_mode:
            answer["current"] = existing
    elif module.check_mode:
        version = (store.versions(name) or [0])[-1] + 1
        answer = {
            "changed": True,
            "built": True,
            "version": version,
            "current": version if params["make_current"] or first else store.current(name),
            "root": store.version_root(name, version),
            "kernel": None,
            "recipe": digest,
            "parent": base["version"] if base else store.current(name),
        }
    else:
        tools = image_build.Tools(
            runner(module),
            mmdebstrap=None if base else module.get_bin_path("mmdebstrap", required=True),
            unshare=module.get_bin_path("unshare", required=True)
            if base or recipe.overlays or recipe.units
            else None,
            cp=module.get_bin_path("cp", required=True) if base else None,
        )
        os.makedirs(store.root, mode=0o755, exist_ok=True)
        version, record = image_build.build(
            store, tools, name, recipe, mirror=params["mirror"], proxy=params["proxy"], note=params["note"]
        )
        if params["make_current"] or first:
            store.set_current(name, version)
        answer = _answer(store, name, version, record, built=True, moved=True)
        answer["shared_bytes"] = record.get("shared_bytes", 0)
    if answer["changed"]:
        versions = sorted(set(store.versions(name)) | {answer["version"]})
        answer["diff"] = {"before": before, "after": _summary(name, versions, answer["current"])}
    return answer


def main():
    run_module(
        {
            "name": {"type": "str", "required": True},
            "suite": {"type": "str", "default": "bookworm"},
            "mirror": {"type": "str", "default": image_build.DEFAULT_MIRROR},
            "proxy": {"type": "str"},
            "components": {"type": "list", "elements": "str", "default": ["main"]},
            "variant": {
                "type": "str",
                "default": image_build.DEFAULT_VARIANT,
                "choices": list(image_build.VARIANTS),
            },
            "packages": {"type": "list", "elements": "str", "default": []},
            "kernel_package": {"type": "str", "default": image_build.DEFAULT_KERNEL_PACKAGE},
            "base_version": {"type": "int"},
            "overlays": {"type": "list", "elements": "path", "default": []},
            "enable_units": {"type": "list", "elements": "str", "default": []},
            "make_current": {"type": "bool", "default": True},
            "note": {"type": "str"},
            "force": {"type": "bool", "default": False},
        },
        act,
    )


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Boot artifacts of an image version: its kernel, its initrd and its root, compressed.

What network boot serves: ``<image>/boot/<N>/`` holds ``vmlinuz``,
``initrd.img``, ``root.squashfs`` (when asked), ``SHA256SUMS`` over them and
``boot.json`` saying which kernel and format they are.  The directory is
made in the staging area and renamed into place, so a server never serves a
half-written set; an export is redone when its files no longer match their
sums (a tampered or truncated artifact) or another kernel is asked for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import tempfile

from . import image_store
from .image_errors import ImageCommandError, ImageInputError, ImageNotFoundError

BOOT_FILE = "boot.json"
SUMS_FILE = "SHA256SUMS"
ROOT_FORMATS = ("squashfs", "none")
SQUASHFS = "root.squashfs"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(path):
    sums = {}
    with open(path) as handle:
        for line in handle:
            digest, _separator, filename = line.rstrip("\n").partition("  ")
            if digest and filename:
                sums[filename] = digest
    return sums


def pick_kernel(meta, kernel=None):
    """The kernel release to export: the one asked for, which the version must hold, or the version's."""
    available = meta["kernels"]
    if kernel is not None:
        image_store.kernel_release(kernel)
        if kernel not in available:
            raise ImageNotFoundError(
                "image '%s' version %d has no kernel %s (it has: %s)"
                % (meta["image"], meta["version"], kernel, ", ".join(available) or "none")
            )
        return kernel
    chosen = meta.get("kernel") if meta.get("kernel") in available else (available[-1] if available else None)
    if chosen is None:
        raise ImageNotFoundError(
            "image '%s' version %d has no kernel to boot: build it with a kernel_package"
            % (meta["image"], meta["version"])
        )
    return chosen


def current_export(boot_dir):
    """What an existing export holds, if its files still match their sums; None otherwise."""
    try:
        record = image_store.read_json(os.path.join(boot_dir, BOOT_FILE))
        sums = read_sums(os.path.join(boot_dir, SUMS_FILE))
    except (OSError, ValueError):
        return None
    for filename, digest in sums.items():
        path = os.path.join(boot_dir, filename)
        if os.path.dirname(filename) or not os.path.isfile(path) or sha256(path) != digest:
            return None
    record["sha256"] = sums
    return record


def describe(boot_dir, record):
    """The module's ``boot`` answer from an export's record."""
    files = record["sha256"]
    return {
        "dir": boot_dir,
        "version": record["version"],
        "kernel": record["kernel"],
        "root_format": record["root_format"],
        "vmlinuz": os.path.join(boot_dir, "vmlinuz"),
        "initrd": os.path.join(boot_dir, "initrd.img"),
        "root": os.path.join(boot_dir, SQUASHFS) if SQUASHFS in files else None,
        "sha256": files,
    }


def planned(store, name, version=None, kernel=None, root_format="squashfs"):
    """(version, kernel, boot dir, existing record or None, whether it is up to date)."""
    if root_format not in ROOT_FORMATS:
        raise ImageInputError("root format %r is not one of %s" % (root_format, ", ".join(ROOT_FORMATS)))
    number = store.resolve(name, version)
    meta = store.meta(name, number)
    chosen = pick_kernel(meta, kernel)
    boot_dir = store.boot_dir(name, number)
    existing = current_export(boot_dir)
    fresh = bool(existing) and existing.get("kernel") == chosen and existing.get("root_format") == root_format
    return number, chosen, boot_dir, existing, fresh


def export(store, run, mksquashfs, name, *, version=None, kernel=None, root_format="squashfs"):
    """Export a version's boot artifacts unless they are there already; (changed, boot)."""
    number, chosen, boot_dir, existing, fresh = planned(store, name, version, kernel, root_format)
    if fresh:
        return False, describe(boot_dir, existing)
    root = store.version_root(name, number)
    with store.staging(name) as staged:
        os.chmod(staged, 0o755)
        # Copies, not links: what is served must not change with the tree.
        shutil.copy2(os.path.join(root, "boot", "vmlinuz-" + chosen), os.path.join(staged, "vmlinuz"))
        initrd = os.path.join(root, "boot", "initrd.img-" + chosen)
        if not os.path.isfile(initrd):
            raise ImageNotFoundError(
                "image '%s' version %d has kernel %s but no initrd (boot/initrd.img-%s)"
                % (name, number, chosen, chosen)
            )
        shutil.copy2(initrd, os.path.join(staged, "initrd.img"))
        if root_format == "squashfs":
            squash(run, mksquashfs, root, os.path.join(staged, SQUASHFS))
        sums = {filename: sha256(os.path.join(staged, filename)) for filename in sorted(os.listdir(staged))}
        with open(os.path.join(staged, SUMS_FILE), "w") as handle:
            handle.writelines("%s  %s\n" % (digest, filename) for filename, digest in sums.items())
        record = {"image": name, "version": number, "kernel": chosen, "root_format": root_format}
        image_store.write_json_atomic(os.path.join(staged, BOOT_FILE), record)
        for filename in os.listdir(staged):
            os.chmod(os.path.join(staged, filename), 0o644)
        _replace_dir(store, name, staged, boot_dir)
    record["sha256"] = sums
    return True, describe(boot_dir, record)


def _replace_dir(store, name, staged, boot_dir):
    os.makedirs(os.path.dirname(boot_dir), mode=0o755, exist_ok=True)
    if os.path.lexists(boot_dir):
        # The old set out of the way in one rename, then the new one in.
        old = tempfile.mkdtemp(prefix="old-boot-", dir=os.path.join(store.image_dir(name), ".staging"))
        os.rename(boot_dir, os.path.join(old, "boot"))
        os.rename(staged, boot_dir)
        image_store.remove_tree(old)
    else:
        os.rename(staged, boot_dir)


def squash(run, mksquashfs, root, target):
    """The root tree as a squashfs (zstd, with xattrs), for stateless nodes and installers."""
    # zstd's level 3: a tenth of the default level's time on two cores for
    # a root a tenth larger, and nodes decompress either as fast.
    argv = [mksquashfs, root, target, "-noappend", "-comp", "zstd", "-Xcompression-level", "3", "-xattrs"]
    argv += ["-quiet", "-no-progress"]
    rc, out, err = run(argv, {"LANG": "C", "LC_ALL": "C"})
    if rc != 0:
        raise ImageCommandError("mksquashfs failed (exit %s): %s" % (rc, (err or out).strip()), rc, out, err)

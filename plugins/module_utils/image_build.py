# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Building versions of node images: mmdebstrap for a new image, a chroot for a derived one.

A build never touches a committed version: a new image is bootstrapped into
a staging directory; a derived version starts from a copy of its base
(``cp -a``, which preserves the base's own hard links) into which packages
are installed in a chroot.  Either way the tree then loses the identity of
the machine that built it (``strip_identity``), its files identical to the
parent's become hard links to them, and it is committed by a rename.

What a version was built from is its *recipe*, a digest of the suite, the
variant, the components, the packages, the kernel package, the content of its
overlays, the units it enables and, for a derived version, its base's recipe:
asking again for a recipe some version already has builds nothing, which makes
the image role idempotent.

Overlays (SystemImager's "overrides") are directory trees copied onto the
image after its packages, before it is finished in a chroot (units enabled,
the initramfs built again so that hooks and boot scripts an overlay brings
are in it).  Their fingerprint is their content, not their path: a changed
file makes a new version, an unchanged tree does not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import shutil
import stat

from . import image_store
from .image_errors import ImageCommandError, ImageInputError, ImageNotFoundError

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_VARIANT = "minbase"
DEFAULT_KERNEL_PACKAGE = "linux-image-amd64"
# mmdebstrap's variants that give a system apt can extend (extract and custom give less).
VARIANTS = ("essential", "apt", "required", "minbase", "buildd", "important", "debootstrap", "standard")
# Debian Policy 5.6.1: lower case letters, digits, + - . ; two characters at
# least; optionally =VERSION to pin one (Policy 5.6.12's characters).
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$")
_SUITE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_MIRROR = re.compile(r"^(https?|file)://[^\s'\"]+$")
# A systemd unit name (systemd.unit(5)): the units an image enables.
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+\.(service|socket|timer|target|path|mount)$")
# How apt says a package is not to be had; the package name is group 1.
_MISSING_PACKAGE = (
    re.compile(r"E: Unable to locate package (\S+)"),
    re.compile(r"E: Package '([^']+)' has no installation candidate"),
    re.compile(r"E: Couldn't find any package by (?:glob|regex) '([^']+)'"),
)

# The unit that gives a node SSH host keys of its own at first boot when the
# installer (or an in-place update, which never touches them) has not: the
# image itself has none, so that no two nodes share a key.
HOSTKEYS_UNIT = "oscar-ssh-hostkeys.service"
HOSTKEYS_UNIT_TEXT = """\
# Written by oscar.cluster's image build: the image holds no SSH host keys, so
# that no two nodes share one; a node without keys makes its own before sshd.
[Unit]
Description=SSH host keys of this node
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""
# /etc/hosts of an image: the loopback names only; the node's own names are
# written per node from ODA.
HOSTS_TEXT = """\
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
"""


# Inputs -----------------------------------------------------------------


def package_names(packages, what="package"):
    """Sorted unique package names, each one checked against Debian's rule."""
    names = set()
    for package in packages or []:
        if not isinstance(package, str) or not _PACKAGE.match(package):
            raise ImageInputError(
                "%s %r is not a Debian package name (lower case letters, digits, '+', '-' and '.',"
                " then =VERSION to pin one)" % (what, package)
            )
        names.add(package)
    return sorted(names)


def suite_name(suite):
    if not isinstance(suite, str) or not _SUITE.match(suite):
        raise ImageInputError("suite %r is not a Debian suite name such as bookworm or trixie" % (suite,))
    return suite


def component_names(components):
    names = list(components or ["main"])
    for component in names:
        if not isinstance(component, str) or not _COMPONENT.match(component):
            raise ImageInputError("archive component %r is not a name such as main or contrib" % (component,))
    return sorted(set(names))


def variant_name(variant):
    if variant not in VARIANTS:
        raise ImageInputError("variant %r is not one of %s" % (variant, ", ".join(VARIANTS)))
    return variant


def mirror_url(mirror, what="mirror"):
    if not isinstance(mirror, str) or not _MIRROR.match(mirror):
        raise ImageInputError("%s %r is not an http://, https:// or file:// URL" % (what, mirror))
    return mirror


def unit_names(units):
    names = list(units or [])
    for unit in names:
        if not isinstance(unit, str) or not _UNIT.match(unit):
            raise ImageInputError("%r is not a systemd unit name such as oscar-install.service" % (unit,))
    return sorted(set(names))


def overlay_dirs(overlays):
    """The overlay trees, in the order they are applied, each an existing directory."""
    paths = []
    for path in overlays or []:
        if not isinstance(path, str) or not os.path.isabs(path):
            raise ImageInputError("overlay %r is not an absolute path" % (path,))
        if not os.path.isdir(path):
            raise ImageNotFoundError("overlay %s is not a directory" % path)
        paths.append(os.path.normpath(path))
    return paths


def _overlay_entries(path):
    """(relative path, lstat) of every entry under an overlay, parents first, in sorted order."""
    for directory, subdirectories, files in os.walk(path):
        # os.walk lists a link to a directory with the directories but does
        # not descend into it: it is an entry like a file.
        links = sorted(name for name in subdirectories if os.path.islink(os.path.join(directory, name)))
        subdirectories[:] = sorted(name for name in subdirectories if name not in links)
        relative = os.path.relpath(directory, path)
        if relative != ".":
            yield relative, os.lstat(directory)
        for entry in sorted(files + links):
            yield os.path.normpath(os.path.join(relative, entry)), os.lstat(os.path.join(directory, entry))


def overlay_digest(overlays):
    """The SHA-256 of the overlays' content: paths, kinds, permission bits, link targets and bytes.

    Owners and times are left out: the overlay is applied as root's files, and
    a copy of the same tree made at another time is the same overlay.
    """
    digest = hashlib.sha256()
    for index, path in enumerate(overlay_dirs(overlays)):
        digest.update(b"overlay %d\0" % index)
        for relative, info in _overlay_entries(path):
            full = os.path.join(path, relative)
            digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(b"%o\0" % stat.S_IMODE(info.st_mode))
            if stat.S_ISLNK(info.st_mode):
                digest.update(b"link\0" + os.readlink(full).encode("utf-8", "surrogateescape") + b"\0")
            elif stat.S_ISDIR(info.st_mode):
                digest.update(b"dir\0")
            elif stat.S_ISREG(info.st_mode):
                digest.update(b"file\0")
                with open(full, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                digest.update(b"\0")
            else:
                raise ImageInputError(
                    "overlay %s holds %s, which is no file, directory or link" % (path, relative)
                )
    return digest.hexdigest()


def apply_overlays(root, overlays):
    """Copy the overlay trees onto an image's tree, as root's files; the paths written.

    A directory the image has keeps its own mode; a file or link replaces
    what is there (unlinked first: a tree may share inodes with a parent).
    """
    written = []
    for path in overlay_dirs(overlays):
        for relative, info in _overlay_entries(path):
            source = os.path.join(path, relative)
            target = os.path.join(root, relative)
            _refuse_escape(root, target)
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISDIR(info.st_mode):
                if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
                    raise ImageInputError(
                        "overlay %s has a directory %s where the image has no directory" % (path, relative)
                    )
                if not os.path.isdir(target):
                    os.mkdir(target, mode)
                    os.chown(target, 0, 0)
                    os.chmod(target, mode)
                continue
            if os.path.isdir(target) and not os.path.islink(target):
                raise ImageInputError(
                    "overlay %s has a file %s where the image has a directory" % (path, relative)
                )
            if os.path.lexists(target):
                os.unlink(target)
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(source), target)
                os.lchown(target, 0, 0)
            else:
                shutil.copyfile(source, target, follow_symlinks=False)
                os.chown(target, 0, 0)
                os.chmod(target, mode)
            written.append("/" + relative)
    return written


def _refuse_escape(root, target):
    # A link the image has in a parent (/lib -> usr/lib) is followed, but
    # nothing may land outside the tree.
    parent = os.path.realpath(os.path.dirname(target))
    if parent != os.path.realpath(root) and not parent.startswith(os.path.realpath(root) + os.sep):
        raise ImageInputError("overlay path %s leads out of the image" % target)


class Recipe:
    """What a version is built from; its digest names it."""

    def __init__(
        self, suite, *, variant, components, packages, kernel_package, base=None, overlays=None, units=None
    ):
        self.suite = suite_name(suite)
        self.variant = variant_name(variant)
        self.components = component_names(components)
        self.packages = package_names(packages)
        self.kernel_package = package_names([kernel_package], "kernel package")[0] if kernel_package else None
        # The base version's record, for a derived version.
        self.base = base
        self.overlays = overlay_dirs(overlays)
        # Read once: the build applies what the digest was made of.
        self.overlay = overlay_digest(self.overlays) if self.overlays else None
        self.units = unit_names(units)

    def fields(self):
        fields = {
            "suite": self.suite,
            "variant": self.variant,
            "components": self.components,
            "packages": self.packages,
            "kernel_package": self.kernel_package,
            "base": self.base.get("recipe") if self.base else None,
        }
        # Only when used, so that a recipe without them keeps the digest it
        # had before overlays existed (no rebuild of every image).
        if self.overlay:
            fields["overlay"] = self.overlay
        if self.units:
            fields["units"] = self.units
        return fields

    def digest(self):
        text = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def install(self):
        """The packages to install: the list and the kernel package."""
        return sorted(set(self.packages) | ({self.kernel_package} if self.kernel_package else set()))


def version_with_recipe(store, name, digest):
    """The newest version of an image built from a recipe, or None."""
    if not store.exists(name):
        return None
    for number in reversed(store.versions(name)):
        if store.meta(name, number).get("recipe") == digest:
            return number
    return None


# Commands ---------------------------------------------------------------


def _environment(proxy):
    environment = {"LANG": "C", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
    if proxy:
        # apt reads the proxy from the environment: nothing of it is left in
        # the image, which nodes use with their own proxy setting.
        environment.update(http_proxy=proxy, HTTP_PROXY=proxy)
    return environment


def missing_package(output):
    """The package apt could not find, named in its output; None if another error."""
    for pattern in _MISSING_PACKAGE:
        found = pattern.search(output)
        if found:
            return found.group(1)
    return None


def _check(run, argv, environment, what, recipe):
    rc, out, err = run(argv, environment)
    if rc != 0:
        missing = missing_package(err + "\n" + out)
        if missing:
            raise ImageNotFoundError(
                "package '%s' does not exist in Debian %s (%s)"
                % (missing, recipe.suite, ", ".join(recipe.components))
            )
        tail = "\n".join((err or out).strip().splitlines()[-15:])
        raise ImageCommandError("%s failed (exit %s): %s" % (what, rc, tail), rc, out, err)
    return out


# How many times apt asks again for a file a mirror or cache failed to send.
FETCH_RETRIES = 5


def mmdebstrap_argv(mmdebstrap, recipe, mirror, target):
    """The command that bootstraps a new image's tree into ``target``."""
    argv = [
        mmdebstrap,
        "--mode=root",
        "--format=directory",
        "--variant=%s" % recipe.variant,
        "--components=%s" % ",".join(recipe.components),
    ]
    install = recipe.install()
    if install:
        argv.append("--include=%s" % ",".join(install))
    # The recommends of the kernel and of the listed packages would double
    # the image (firmware, documentation); a site names what it wants.
    # A mirror or package cache that drops a connection (a 503 from the
    # cache) is asked again, as apt does on a host, rather than failing the build.
    argv += [
        '--aptopt=APT::Install-Recommends "false"',
        '--aptopt=Acquire::Retries "%d"' % FETCH_RETRIES,
        recipe.suite,
        target,
        mirror,
    ]
    return argv


def bootstrap(run, mmdebstrap, recipe, *, mirror, proxy, target):
    """A new tree from the mirror (through the proxy, when given)."""
    _check(
        run, mmdebstrap_argv(mmdebstrap, recipe, mirror, target), _environment(proxy), "mmdebstrap", recipe
    )
    # mmdebstrap keeps its apt options in the image; they were the build's.
    _remove(os.path.join(target, "etc/apt/apt.conf.d/99mmdebstrap"))


# Installs packages into a tree in a chroot, in a mount namespace of its
# own: /proc, /sys and /dev are mounted for the maintainer scripts and vanish
# with the namespace, even if the build is killed.  No service starts
# (policy-rc.d), and the host's resolver is lent only for the install.
_CHROOT_INSTALL = r"""
set -eu
root=$1; retries=$2; shift 2
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
if [ -e /etc/resolv.conf ]; then cat /etc/resolv.conf > "$root/etc/resolv.conf"; fi
chroot "$root" apt-get -o Acquire::Retries=$retries update -q
chroot "$root" apt-get -o Acquire::Retries=$retries install -q -y --no-install-recommends "$@"
chroot "$root" apt-get clean
rm -f "$root/usr/sbin/policy-rc.d"
"""


def install_in_chroot(run, unshare, recipe, *, packages, proxy, root):
    """Install packages into an existing tree (a derived version)."""
    argv = [
        unshare,
        "--mount",
        "--fork",
        "--",
        "/bin/sh",
        "-c",
        _CHROOT_INSTALL,
        "sh",
        root,
        str(FETCH_RETRIES),
        *packages,
    ]
    _check(run, argv, _environment(proxy), "apt-get install in the image", recipe)


# Finishes a tree after its overlays, in a chroot in a mount namespace of its
# own: the units asked for are enabled (systemctl works offline in a
# chroot), and the initramfs is built again when the image has
# initramfs-tools, so that the hooks and boot scripts an overlay brings are in it.
_CHROOT_FINISH = r"""
set -eu
root=$1; initramfs=$2; shift 2
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
if [ $# -gt 0 ]; then chroot "$root" systemctl enable "$@"; fi
if [ "$initramfs" = yes ]; then chroot "$root" update-initramfs -u -k all; fi
"""


def finish_in_chroot(run, unshare, recipe, *, root):
    """Enable the recipe's units and build the initramfs again (when the tree has a kernel and the tool)."""
    initramfs = bool(image_store.kernels(root)) and os.path.exists(
        os.path.join(root, "usr/sbin/update-initramfs")
    )
    if not recipe.units and not (recipe.overlays and initramfs):
        return
    argv = [unshare, "--mount", "--fork", "--", "/bin/sh", "-c", _CHROOT_FINISH, "sh", root]
    argv += ["yes" if recipe.overlays and initramfs else "no", *recipe.units]
    _check(run, argv, _environment(None), "finishing the image in a chroot", recipe)


def copy_tree(run, cp, source, destination):
    """A full copy of a committed tree, for the build to change (reflinks where the file system has them)."""
    rc, out, err = run([cp, "-a", "--reflink=auto", source, destination], {"LANG": "C", "LC_ALL": "C"})
    if rc != 0:
        raise ImageCommandError("copying %s failed (exit %s): %s" % (source, rc, err.strip()), rc, out, err)


# Identity ---------------------------------------------------------------


def _remove(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _write(path, text, mode=0o644):
    temporary = path + ".oscar-tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def strip_identity(root):
    """Take out of a tree what makes it one machine, and what the build left; the paths touched.

    The node's own values are written at install or boot from ODA.
    """
    touched = []
    etc = os.path.join(root, "etc")
    # An empty machine-id: systemd makes the node's own at its first boot.
    machine_id = os.path.join(etc, "machine-id")
    if os.path.lexists(machine_id):
        _remove(machine_id)
    _write(machine_id, "", 0o444)
    touched.append("/etc/machine-id")
    dbus_id = os.path.join(root, "var/lib/dbus/machine-id")
    # dbus links its id to systemd's; a copy of one would be the builder's.
    if os.path.lexists(dbus_id) and not os.path.islink(dbus_id):
        _remove(dbus_id)
        touched.append("/var/lib/dbus/machine-id")
    ssh = os.path.join(etc, "ssh")
    if os.path.isdir(ssh):
        for entry in sorted(os.listdir(ssh)):
            if entry.startswith("ssh_host_"):
                _remove(os.path.join(ssh, entry))
                touched.append("/etc/ssh/" + entry)
    # The builder's name, resolver and the base system's placeholder fstab.
    for path in ("etc/hostname", "etc/resolv.conf", "etc/fstab", "var/lib/systemd/random-seed"):
        if _remove(os.path.join(root, path)):
            touched.append("/" + path)
    _write(os.path.join(etc, "hosts"), HOSTS_TEXT)
    touched.append("/etc/hosts")
    if os.path.isdir(ssh) and os.path.isdir(os.path.join(etc, "systemd/system")):
        _install_hostkeys_unit(etc)
        touched.append("/etc/systemd/system/" + HOSTKEYS_UNIT)
    # What apt fetched for the build: the node fetches its own.
    for directory in ("var/lib/apt/lists", "var/cache/apt/archives"):
        path = os.path.join(root, directory)
        if os.path.isdir(path):
            for entry in os.listdir(path):
                full = os.path.join(path, entry)
                if os.path.isfile(full) and not os.path.islink(full) and entry != "lock":
                    _remove(full)
    return touched


def _install_hostkeys_unit(etc):
    units = os.path.join(etc, "systemd/system")
    _write(os.path.join(units, HOSTKEYS_UNIT), HOSTKEYS_UNIT_TEXT)
    wants = os.path.join(units, "multi-user.target.wants")
    os.makedirs(wants, mode=0o755, exist_ok=True)
    link = os.path.join(wants, HOSTKEYS_UNIT)
    if not os.path.lexists(link):
        os.symlink("/etc/systemd/system/" + HOSTKEYS_UNIT, link)


# The build --------------------------------------------------------------


def installed_packages(root):
    """The packages dpkg says are installed in a tree, sorted."""
    status = os.path.join(root, "var/lib/dpkg/status")
    installed, package = [], None
    try:
        with open(status, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("Package:"):
                    package = line.split(":", 1)[1].strip()
                elif line.startswith("Status:") and line.split()[-1] == "installed" and package:
                    installed.append(package)
    except FileNotFoundError:
        return []
    return sorted(set(installed))


class Tools:
    """The commands a build runs: a runner and the paths of the programs."""

    def __init__(self, run, mmdebstrap=None, unshare=None, cp=None):
        self.run = run
        self.mmdebstrap = mmdebstrap
        self.unshare = unshare
        self.cp = cp


def build(store, tools, name, recipe, *, mirror, proxy=None, note=None):
    """Build and commit a new version; (version, record).

    The first version of an image is bootstrapped, later ones derive from
    ``recipe.base`` when it is set, else are bootstrapped too; the parent of
    a version is the version it derives from, or the image's current one,
    whose files it shares where they are the same.
    """
    mirror_url(mirror)
    if proxy:
        mirror_url(proxy, "proxy")
    image_store.image_name(name)
    if recipe.base and recipe.base.get("suite") not in (None, recipe.suite):
        raise ImageInputError(
            "version %s of image '%s' is Debian %s: a version derived from it cannot be %s"
            % (recipe.base["version"], name, recipe.base["suite"], recipe.suite)
        )
    parent = recipe.base["version"] if recipe.base else store.current(name) if store.exists(name) else None
    with store.staging(name) as staged:
        root = os.path.join(staged, "root")
        if recipe.base:
            copy_tree(tools.run, tools.cp, recipe.base["path"], root)
            install_in_chroot(
                tools.run, tools.unshare, recipe, packages=recipe.install(), proxy=proxy, root=root
            )
        else:
            bootstrap(tools.run, tools.mmdebstrap, recipe, mirror=mirror, proxy=proxy, target=root)
        if recipe.overlays:
            apply_overlays(root, recipe.overlays)
        finish_in_chroot(tools.run, tools.unshare, recipe, root=root)
        strip_identity(root)
        kernel = newest_kernel(root)
        if recipe.kernel_package and kernel is None:
            raise ImageNotFoundError(
                "kernel package '%s' installed no kernel in image '%s' (no /boot/vmlinuz-* with its modules)"
                % (recipe.kernel_package, name)
            )
        shared = saved = 0
        if parent is not None:
            shared, saved = image_store.share_unchanged(root, store.version_root(name, parent))
        fields = recipe.fields()
        record = {
            "parent": parent,
            "kernel": kernel,
            "packages": recipe.packages,
            "installed": len(installed_packages(root)),
            "note": note or "",
            "recipe": recipe.digest(),
            "suite": fields["suite"],
            "variant": fields["variant"],
            "components": fields["components"],
            "kernel_package": fields["kernel_package"],
            "overlays": recipe.overlays,
            "overlay": recipe.overlay,
            "units": recipe.units,
            "mirror": mirror,
            "shared_files": shared,
            "shared_bytes": saved,
        }
        version = store.commit(name, staged, record)
    return version, store.meta(name, version)


def newest_kernel(root):
    found = image_store.kernels(root)
    return found[-1] if found else None


def base_record(store, name, version):
    """The record of the version a derived build starts from."""
    if not store.exists(name):
        raise ImageNotFoundError("image '%s' has no versions to derive version %s from" % (name, version))
    return store.meta(name, store.resolve(name, version))

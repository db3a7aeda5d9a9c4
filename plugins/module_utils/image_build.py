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
variant, the components, the packages, the kernel package and, for a derived
version, its base's recipe: asking again for a recipe some version already has
builds nothing, which makes the image role idempotent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

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


class Recipe:
    """What a version is built from; its digest names it."""

    def __init__(self, suite, *, variant, components, packages, kernel_package, base=None):
        self.suite = suite_name(suite)
        self.variant = variant_name(variant)
        self.components = component_names(components)
        self.packages = package_names(packages)
        self.kernel_package = package_names([kernel_package], "kernel package")[0] if kernel_package else None
        # The base version's record, for a derived version.
        self.base = base

    def fields(self):
        return {
            "suite": self.suite,
            "variant": self.variant,
            "components": self.components,
            "packages": self.packages,
            "kernel_package": self.kernel_package,
            "base": self.base.get("recipe") if self.base else None,
        }

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

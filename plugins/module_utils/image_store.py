# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Node images on the head: versions of root trees, kept cheap by hard links.

The layout, one directory per image under the images root::

    <root>/<image>/versions/<N>/root/        the root tree of version N
    <root>/<image>/versions/<N>/version.json what N was built from (see ``commit``)
    <root>/<image>/current -> versions/<N>   the version nodes get by default
    <root>/<image>/boot/<N>/                 N's boot artifacts (image_export)
    <root>/<image>/.staging/                 work in progress, same file system

A version is never modified once committed: a new version is built in a
staging directory, its files identical to the previous version's are then
replaced by hard links to them (``share_unchanged``), and the directory is
renamed into ``versions/``, so a reader sees a version whole or not at all
and a failed build leaves every committed version as it was.  Because files
are shared, nothing may write into a committed tree; builds copy first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import filecmp
import json
import os
import re
import shutil
import stat
import tempfile

from . import oda_validate as validate
from .image_errors import ImageConflictError, ImageInputError, ImageNotFoundError
from .oda_errors import OdaValidationError
from .oda_store import now

DEFAULT_ROOT = "/var/lib/oscar/images"
VERSION_FILE = "version.json"
# A kernel release as Debian names its images (6.1.0-28-amd64).
_KERNEL = re.compile(r"^[0-9][A-Za-z0-9.+_~-]{0,63}$")


def image_name(name):
    """The name, if ODA accepts it for an image (it also names a directory); ImageInputError otherwise."""
    if not isinstance(name, str) or name != name.strip():
        raise ImageInputError("invalid image name %r: a name is text with no spaces around it" % (name,))
    try:
        return validate.object_name(name, "image")
    except OdaValidationError as error:
        raise ImageInputError(str(error)) from None


def _is_image_name(name):
    try:
        return image_name(name) == name
    except ImageInputError:
        return False


def version_number(version):
    """A version number as an int of 1 or more; ImageInputError otherwise."""
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise ImageInputError("image version %r is not a number" % (version,)) from None
    if number < 1 or str(number) != str(version).strip():
        raise ImageInputError("image version %r is not a whole number of 1 or more" % (version,))
    return number


def kernel_release(release):
    if not isinstance(release, str) or not _KERNEL.match(release):
        raise ImageInputError("kernel %r is not a kernel release such as 6.1.0-28-amd64" % (release,))
    return release


def write_json_atomic(path, data):
    """Write JSON through a temporary file renamed into place."""
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def kernels(root):
    """Kernel releases a root tree can boot: a /boot/vmlinuz-R with its /lib/modules/R."""
    found = []
    boot = os.path.join(root, "boot")
    try:
        entries = os.listdir(boot)
    except FileNotFoundError:
        return found
    for entry in entries:
        if not entry.startswith("vmlinuz-"):
            continue
        release = entry[len("vmlinuz-") :]
        for modules in ("lib/modules", "usr/lib/modules"):
            if os.path.isdir(os.path.join(root, modules, release)):
                found.append(release)
                break
    return sorted(found, key=_release_key)


def _release_key(release):
    return [int(part) if part.isdigit() else part for part in re.split(r"([0-9]+)", release)]


class ImageStore:
    """The images under one root directory."""

    def __init__(self, root=DEFAULT_ROOT):
        if not os.path.isabs(root):
            raise ImageInputError("images root %r is not an absolute path" % (root,))
        self.root = os.path.normpath(root)

    # Paths ---------------------------------------------------------------

    def image_dir(self, name):
        return os.path.join(self.root, image_name(name))

    def version_dir(self, name, version):
        return os.path.join(self.image_dir(name), "versions", str(version_number(version)))

    def version_root(self, name, version):
        return os.path.join(self.version_dir(name, version), "root")

    def boot_dir(self, name, version):
        return os.path.join(self.image_dir(name), "boot", str(version_number(version)))

    # Reading -------------------------------------------------------------

    def images(self):
        """The names of the images under the root, sorted."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(
            entry
            for entry in entries
            if _is_image_name(entry) and os.path.isdir(os.path.join(self.root, entry, "versions"))
        )

    def exists(self, name):
        return os.path.isdir(os.path.join(self.image_dir(name), "versions"))

    def versions(self, name):
        """The committed version numbers of an image, ascending; [] for an unknown image."""
        directory = os.path.join(self.image_dir(name), "versions")
        try:
            entries = os.listdir(directory)
        except FileNotFoundError:
            return []
        return sorted(
            int(entry)
            for entry in entries
            if entry.isdigit() and os.path.isfile(os.path.join(directory, entry, VERSION_FILE))
        )

    def current(self, name):
        """The current version of an image, or None when it has none."""
        try:
            target = os.readlink(os.path.join(self.image_dir(name), "current"))
        except (FileNotFoundError, OSError):
            return None
        tail = os.path.basename(target.rstrip("/"))
        return int(tail) if tail.isdigit() else None

    def resolve(self, name, version=None):
        """The version number meant: the given one, which must exist, or the current one."""
        self._require(name)
        versions = self.versions(name)
        if version is None:
            current = self.current(name)
            if current is None:
                raise ImageNotFoundError("image '%s' has no current version" % name)
            return current
        number = version_number(version)
        if number not in versions:
            raise ImageNotFoundError(
                "image '%s' has no version %d (versions: %s)"
                % (name, number, ", ".join(map(str, versions)) or "none")
            )
        return number

    def _require(self, name):
        if not self.exists(name):
            known = ", ".join(self.images()) or "none"
            raise ImageNotFoundError(
                "image '%s' does not exist under %s (images: %s)" % (name, self.root, known)
            )

    def meta(self, name, version):
        """What version.json says of a version, with its path."""
        number = self.resolve(name, version)
        data = read_json(os.path.join(self.version_dir(name, number), VERSION_FILE))
        data["path"] = self.version_root(name, number)
        data.setdefault("kernel", None)
        data["kernels"] = kernels(data["path"])
        return data

    def describe(self, name):
        """An image as modules return it: name, current and every version's record."""
        self._require(name)
        return {
            "name": name,
            "current": self.current(name),
            "path": self.image_dir(name),
            "versions": [self.meta(name, number) for number in self.versions(name)],
        }

    # Writing -------------------------------------------------------------

    @contextlib.contextmanager
    def staging(self, name):
        """A fresh directory on the images' file system, removed when the block ends.

        ``commit`` moves it away on success; whatever is left (a failed
        build) is removed, so nothing half-built remains.
        """
        area = os.path.join(self.image_dir(name), ".staging")
        os.makedirs(area, mode=0o700, exist_ok=True)
        work = tempfile.mkdtemp(prefix="build-", dir=area)
        try:
            yield work
        finally:
            if os.path.lexists(work):
                remove_tree(work)

    def commit(self, name, staged, record):
        """Make a staged directory (holding ``root/``) the image's next version; its number.

        ``record`` becomes version.json, with image, version and created
        filled in.  The rename is the commit: before it, no version exists.
        """
        if not os.path.isdir(os.path.join(staged, "root")):
            raise ImageInputError("staged directory %s holds no root tree" % staged)
        versions_dir = os.path.join(self.image_dir(name), "versions")
        os.makedirs(versions_dir, mode=0o755, exist_ok=True)
        os.chmod(staged, 0o755)
        number = (self.versions(name) or [0])[-1] + 1
        while True:
            data = dict(record, image=name, version=number)
            data.setdefault("created", now())
            data.pop("path", None)
            data.pop("kernels", None)
            write_json_atomic(os.path.join(staged, VERSION_FILE), data)
            try:
                os.rename(staged, os.path.join(versions_dir, str(number)))
                return number
            except OSError as error:
                # Another build took the number (or a stray directory holds
                # it without a record): take the next one.
                if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                number += 1

    def set_current(self, name, version):
        """Point ``current`` at a version (rollback or roll forward); whether it moved."""
        number = self.resolve(name, version)
        if self.current(name) == number:
            return False
        link = os.path.join(self.image_dir(name), "current")
        temporary = "%s.%d.tmp" % (link, os.getpid())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        os.symlink(os.path.join("versions", str(number)), temporary)
        os.replace(temporary, link)
        return True

    def delete(self, name, version):
        """Delete a version that is not the current one, with its boot artifacts."""
        number = self.resolve(name, version)
        if self.current(name) == number:
            raise ImageConflictError(
                "version %d of image '%s' is its current version: make another one current first"
                % (number, name)
            )
        # Out of versions/ in one rename, then removed at leisure.
        area = os.path.join(self.image_dir(name), ".staging")
        os.makedirs(area, mode=0o700, exist_ok=True)
        doomed = tempfile.mkdtemp(prefix="deleted-%d-" % number, dir=area)
        os.rename(self.version_dir(name, number), os.path.join(doomed, "version"))
        boot = self.boot_dir(name, number)
        if os.path.lexists(boot):
            os.rename(boot, os.path.join(doomed, "boot"))
        remove_tree(doomed)

    def copy(self, name, version, new_name):
        """A new image whose version 1 is a version of this one (hard links: no data copied)."""
        number = self.resolve(name, version)
        image_name(new_name)
        if self.exists(new_name):
            raise ImageConflictError("image '%s' already exists" % new_name)
        source = self.meta(name, number)
        with self.staging(new_name) as staged:
            link_tree(self.version_root(name, number), os.path.join(staged, "root"))
            record = {
                key: source.get(key) for key in ("kernel", "packages", "recipe", "suite") if key in source
            }
            record.update(parent=None, note=copy_note(name, number))
            created = self.commit(new_name, staged, record)
        self.set_current(new_name, created)
        return created


def copy_note(name, version):
    """What version 1 of a copied image says it was made from."""
    return "copy of %s version %d" % (name, version)


def remove_tree(path):
    """Remove a tree (as root, the image operations' user, read-only directories are no obstacle)."""
    shutil.rmtree(path)


def link_tree(source, destination):
    """Copy a tree as hard links (directories are new, files are shared)."""
    os.mkdir(destination)
    _copy_owner(source, destination)
    for entry in os.scandir(source):
        target = os.path.join(destination, entry.name)
        if entry.is_dir(follow_symlinks=False):
            link_tree(entry.path, target)
        else:
            os.link(entry.path, target, follow_symlinks=False)
    # A directory's times change as entries are made in it: set them last.
    shutil.copystat(source, destination, follow_symlinks=False)


def _copy_owner(source, destination):
    info = os.lstat(source)
    with contextlib.suppress(PermissionError):
        os.lchown(destination, info.st_uid, info.st_gid)


def _xattrs(path):
    try:
        return {
            name: os.getxattr(path, name, follow_symlinks=False)
            for name in os.listxattr(path, follow_symlinks=False)
        }
    except OSError:
        return {}


def same_file(left, right, left_stat=None, right_stat=None):
    """Whether two regular files are interchangeable: owner, mode, times, xattrs and bytes."""
    left_stat = left_stat or os.lstat(left)
    right_stat = right_stat or os.lstat(right)
    if (left_stat.st_dev, left_stat.st_ino) == (right_stat.st_dev, right_stat.st_ino):
        return True
    if not (stat.S_ISREG(left_stat.st_mode) and stat.S_ISREG(right_stat.st_mode)):
        return False
    keys = ("st_mode", "st_uid", "st_gid", "st_size", "st_mtime_ns")
    if any(getattr(left_stat, key) != getattr(right_stat, key) for key in keys):
        return False
    return _xattrs(left) == _xattrs(right) and _same_bytes(left, right, left_stat, right_stat)


def share_unchanged(tree, reference):
    """Replace the files of ``tree`` identical to those at the same path in ``reference`` by hard links.

    What makes ten versions cost little more than one.  Returns (files
    shared, bytes saved).  Only regular files are shared; a file is
    replaced by rename, so the tree is whole at every moment.
    """
    shared = saved = 0
    for directory, _dirs, files in os.walk(tree):
        relative = os.path.relpath(directory, tree)
        for filename in files:
            path = os.path.join(directory, filename)
            other = os.path.normpath(os.path.join(reference, relative, filename))
            try:
                mine, theirs = os.lstat(path), os.lstat(other)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(mine.st_mode) or (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
                continue
            if theirs.st_dev != mine.st_dev or not same_file(path, other, mine, theirs):
                continue
            temporary = path + ".oscar-link"
            os.link(other, temporary)
            os.replace(temporary, path)
            shared += 1
            saved += mine.st_size
    return shared, saved


def walk(root):
    """Every path under a root tree (as '/etc/x'), with its lstat, not following links."""
    stack = [""]
    while stack:
        relative = stack.pop()
        directory = os.path.join(root, relative.lstrip("/")) if relative else root
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            path = relative + "/" + entry.name
            info = entry.stat(follow_symlinks=False)
            yield path, info
            if stat.S_ISDIR(info.st_mode):
                stack.append(path)


def _describe_entry(root, path, info):
    kind = stat.S_IFMT(info.st_mode)
    base = (kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    if stat.S_ISLNK(info.st_mode):
        return (*base, os.readlink(os.path.join(root, path.lstrip("/"))))
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        return (*base, info.st_rdev)
    return base


def diff_trees(old, new):
    """Files added, removed and changed from tree ``old`` to tree ``new`` (sorted '/path' lists).

    A file is changed when its type, mode, owner, link target or bytes
    differ; hard links shared by both versions are unchanged at no cost.
    Times alone do not make a change.
    """
    before = dict(walk(old))
    after = dict(walk(new))
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = []
    for path in sorted(set(before) & set(after)):
        was, now = before[path], after[path]
        if (was.st_dev, was.st_ino) == (now.st_dev, now.st_ino):
            continue
        if _describe_entry(old, path, was) != _describe_entry(new, path, now) or (
            stat.S_ISREG(now.st_mode)
            and not _same_bytes(
                os.path.join(old, path.lstrip("/")), os.path.join(new, path.lstrip("/")), was, now
            )
        ):
            changed.append(path)
    return {"added": added, "removed": removed, "changed": changed}


def _same_bytes(left, right, left_stat, right_stat):
    """Whether two regular files hold the same bytes (sizes first: most changed files differ there)."""
    return left_stat.st_size == right_stat.st_size and filecmp.cmp(left, right, shallow=False)

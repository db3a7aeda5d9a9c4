# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's node images and their versions (conventions in oda_store).

An image's versions are the version trees built on the head, one row each
(image_versions), recorded after the tree is committed.  The image names the
current one (current_version) and the kernel it boots; ODA refuses a
current version it holds no row for, and the removal of the current version.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaConflictError, OdaNotFoundError, OdaValidationError
from .oda_store import NamedStore, Store, optional, public

NEW_IMAGE_STATE = "defined"
# Versions are numbered from 1; the bound only keeps the number in an INTEGER column.
VERSION_RANGE = (1, (1 << 31) - 1)
# What a version row holds besides its image and number, as callers see it.
# boot_kernel and boot_root_sha256: the version's boot artifacts were exported
# (image_export) with this kernel and this root.squashfs; network installs need both.
VERSION_KEYS = (
    "parent",
    "kernel",
    "recipe",
    "created",
    "packages",
    "note",
    "boot_kernel",
    "boot_root_sha256",
)
_VERSION_SELECT = (
    "SELECT v.id, v.image_id, i.name AS image, v.version, v.parent, v.kernel, v.recipe, v.created,"
    " v.packages, v.note, v.boot_kernel, v.boot_root_sha256 FROM image_versions v"
    " JOIN images i ON i.id = v.image_id"
)


def version_number(value, what="image version"):
    """A version number: a whole number from 1, or OdaValidationError naming it."""
    return validate.number(value, what, *VERSION_RANGE)


def package_list(value):
    """A version's package list: names as apt-get takes them, in the order given."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise OdaValidationError("invalid package list '%s': expected a list of package names" % (value,))
    return [validate.package_spec(package) for package in value]


def _no_such_version(image, version):
    return OdaNotFoundError(
        "image '%s' has no version %d in ODA; record the version first (oscar.cluster.oda_image_version)"
        % (image, version)
    )


class Images(NamedStore):
    """The images nodes boot and install from."""

    table = "images"
    kind = "image"

    def ensure(
        self,
        name,
        distro=None,
        arch=None,
        path=None,
        *,
        current_version=None,
        kernel=None,
        suite=None,
        check_mode=False,
    ):
        """Create or update a node image; (changed, before, after).

        current_version must be a version recorded for the image (ImageVersions.ensure).
        """
        name = validate.object_name(name, "image")
        given = {
            "distro": optional(validate.object_name, distro, "distribution"),
            "arch": optional(validate.object_name, arch, "architecture"),
            "path": optional(validate.absolute_path, path, "image path"),
            "current_version": optional(version_number, current_version, "current version"),
            "kernel": optional(validate.kernel_release, kernel),
            "suite": optional(validate.object_name, suite, "suite"),
        }
        defaults = dict(given, state=NEW_IMAGE_STATE)
        with self.db.transaction(dry_run=check_mode):
            if given["current_version"] is not None:
                row = self._row(self.table, name)
                if row is None or not self._has_version(row["id"], given["current_version"]):
                    raise _no_such_version(name, given["current_version"])
            return self._ensure(name, given, defaults, check_mode=False)

    def _has_version(self, image_id, version):
        found = self.db.query_one(
            "SELECT id FROM image_versions WHERE image_id = ? AND version = ?", (image_id, version)
        )
        return found is not None

    def remove(self, name, check_mode=False):
        """Delete an image no node uses, with its version records; (changed, before, None)."""
        return self._remove(name, check_mode)

    def _refuse_removal(self, row):
        users = self.db.query("SELECT name FROM nodes WHERE image_id = ?", (row["id"],))
        if users:
            raise OdaConflictError(
                "image '%s' is still used by nodes %s" % (row["name"], nodeset.fold(u["name"] for u in users))
            )


class ImageVersions(Store):
    """The recorded versions of each image: one row per committed version tree."""

    @staticmethod
    def _public(row):
        """A version as callers see it: image by name, packages as a list."""
        if row is None:
            return None
        shown = public(row)
        shown["packages"] = None if row["packages"] is None else json.loads(row["packages"])
        return shown

    def _image_row(self, image):
        row = self._row("images", image)
        if row is None:
            raise OdaNotFoundError("unknown image '%s'" % image)
        return row

    def _version_row(self, image_id, version):
        return self.db.query_one(
            _VERSION_SELECT + " WHERE v.image_id = ? AND v.version = ?", (image_id, version)
        )

    def get(self, image, version):
        """One version of an image, or None; an unknown image is OdaNotFoundError."""
        image = validate.object_name(image, "image")
        version = version_number(version)
        with self.db.transaction(write=False):
            return self._public(self._version_row(self._image_row(image)["id"], version))

    def list(self, image=None):
        """Versions by image name then number; image: only that image's (it must exist)."""
        with self.db.transaction(write=False):
            if image is None:
                rows = self.db.query(_VERSION_SELECT)
            else:
                image_id = self._image_row(validate.object_name(image, "image"))["id"]
                rows = self.db.query(_VERSION_SELECT + " WHERE v.image_id = ?", (image_id,))
        rows.sort(key=lambda row: (nodeset.natural_key(row["image"]), row["version"]))
        return [self._public(row) for row in rows]

    def ensure(
        self,
        image,
        version,
        *,
        parent=None,
        kernel=None,
        recipe=None,
        created=None,
        packages=None,
        note=None,
        boot_kernel=None,
        boot_root_sha256=None,
        check_mode=False,
    ):
        """Record a version of an image, or update its row; (changed, before, after).

        An argument left at None keeps the stored value (None for a new row).
        boot_kernel and boot_root_sha256 record an export of the version's
        boot artifacts: the kernel release exported and the SHA-256 of its
        root.squashfs, as image_export returns them.
        """
        image = validate.object_name(image, "image")
        version = version_number(version)
        given = {
            "parent": optional(version_number, parent, "parent version"),
            "kernel": optional(validate.kernel_release, kernel),
            "recipe": optional(validate.sha256_hex, recipe, "recipe"),
            "created": optional(validate.timestamp, created, "creation time"),
            "packages": None if packages is None else json.dumps(package_list(packages)),
            "note": None if note is None else str(note),
            "boot_kernel": optional(validate.kernel_release, boot_kernel),
            "boot_root_sha256": optional(validate.sha256_hex, boot_root_sha256, "root.squashfs digest"),
        }
        if given["parent"] == version:
            raise OdaValidationError("image '%s' version %d cannot be its own parent" % (image, version))
        with self.db.transaction(dry_run=check_mode):
            image_id = self._image_row(image)["id"]
            row = self._version_row(image_id, version)
            before = self._public(row)
            if row is None:
                columns = ["image_id", "version", *VERSION_KEYS]
                values = dict(given, image_id=image_id, version=version)
                self.db.execute(
                    "INSERT INTO image_versions (%s) VALUES (%s)"
                    % (", ".join(columns), ", ".join("?" * len(columns))),
                    [values[column] for column in columns],
                )
            else:
                changes = [key for key in VERSION_KEYS if given[key] is not None and given[key] != row[key]]
                if changes:
                    self.db.execute(
                        "UPDATE image_versions SET %s WHERE id = ?"
                        % ", ".join("%s = ?" % key for key in changes),
                        [given[key] for key in changes] + [row["id"]],
                    )
            after = self._public(self._version_row(image_id, version))
        return before != after, before, after

    def remove(self, image, version, check_mode=False):
        """Forget a version of an image; (changed, before, None).

        The image's current version is refused; a version (or an image)
        that is not recorded is no change.
        """
        image = validate.object_name(image, "image")
        version = version_number(version)
        with self.db.transaction(dry_run=check_mode):
            image_row = self._row("images", image)
            if image_row is None:
                return False, None, None
            row = self._version_row(image_row["id"], version)
            if row is None:
                return False, None, None
            if image_row["current_version"] == version:
                raise OdaConflictError(
                    "version %d of image '%s' is its current version; make another version current first"
                    % (version, image)
                )
            self.db.execute("DELETE FROM image_versions WHERE id = ?", (row["id"],))
        return True, self._public(row), None

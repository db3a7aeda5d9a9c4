# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's node images (conventions in oda_store)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaConflictError
from .oda_store import Store, by_name, optional, public

NEW_IMAGE_STATE = "defined"


class Images(Store):
    """The images nodes boot and install from."""

    def _load(self, name):
        return public(self._row("images", name))

    def get(self, name):
        """One image, or None."""
        return self._load(validate.object_name(name, "image"))

    def list(self):
        """Every image, by name."""
        return by_name(public(row) for row in self.db.query("SELECT * FROM images"))

    def ensure(self, name, distro=None, arch=None, path=None, check_mode=False):
        """Create or update a node image; (changed, before, after)."""
        name = validate.object_name(name, "image")
        given = {
            "distro": optional(validate.object_name, distro, "distribution"),
            "arch": optional(validate.object_name, arch, "architecture"),
            "path": optional(validate.absolute_path, path, "image path"),
        }
        defaults = dict(given, state=NEW_IMAGE_STATE)
        return self._ensure_simple("images", name, given, defaults, load=self._load, check_mode=check_mode)

    def remove(self, name, check_mode=False):
        """Delete an image no node uses; (changed, before, None)."""

        def refuse(row):
            users = self.db.query("SELECT name FROM nodes WHERE image_id = ?", (row["id"],))
            if users:
                raise OdaConflictError(
                    "image '%s' is still used by nodes %s" % (name, nodeset.fold(u["name"] for u in users))
                )

        name = validate.object_name(name, "image")
        return self._remove_simple("images", name, check_mode, load=self._load, refuse=refuse)

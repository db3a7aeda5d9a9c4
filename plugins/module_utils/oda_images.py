# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's node images (conventions in oda_store)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaConflictError
from .oda_store import NamedStore, optional

NEW_IMAGE_STATE = "defined"


class Images(NamedStore):
    """The images nodes boot and install from."""

    table = "images"
    kind = "image"

    def ensure(self, name, distro=None, arch=None, path=None, check_mode=False):
        """Create or update a node image; (changed, before, after)."""
        name = validate.object_name(name, "image")
        given = {
            "distro": optional(validate.object_name, distro, "distribution"),
            "arch": optional(validate.object_name, arch, "architecture"),
            "path": optional(validate.absolute_path, path, "image path"),
        }
        defaults = dict(given, state=NEW_IMAGE_STATE)
        return self._ensure(name, given, defaults, check_mode)

    def remove(self, name, check_mode=False):
        """Delete an image no node uses; (changed, before, None)."""
        return self._remove(name, check_mode)

    def _refuse_removal(self, row):
        users = self.db.query("SELECT name FROM nodes WHERE image_id = ?", (row["id"],))
        if users:
            raise OdaConflictError(
                "image '%s' is still used by nodes %s" % (row["name"], nodeset.fold(u["name"] for u in users))
            )

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's node groups and their members (conventions in oda_store)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import nodeset
from . import oda_validate as validate
from .oda_store import NamedStore, by_name, optional, public, text


class Groups(NamedStore):
    """Named groups of nodes; a node's groups are written with the node (oda_nodes)."""

    table = "node_groups"
    kind = "group"

    def _load(self, name):
        row = self._row("node_groups", name)
        if row is None:
            return None
        group = public(row)
        group["members"] = sorted(self._group_names_of(name), key=nodeset.natural_key)
        return group

    def ensure(self, name, description=None, check_mode=False):
        """Create a group or update its description; (changed, before, after)."""
        name = validate.object_name(name, "group")
        given = {"description": optional(text, description)}
        return self._ensure(name, given, given, check_mode)

    def remove(self, name, check_mode=False):
        """Delete a group (its nodes stay); (changed, before, None)."""
        return self._remove(name, check_mode)

    def list(self):
        """Every group with its members, by name."""
        with self.db.transaction(write=False):
            names = [row["name"] for row in self.db.query("SELECT name FROM node_groups")]
            return by_name(self._load(name) for name in names)

    def members(self, name):
        """Names of a group's nodes, in natural order; OdaNotFoundError for an unknown group."""
        return sorted(self._group_names_of(validate.object_name(name, "group")), key=nodeset.natural_key)

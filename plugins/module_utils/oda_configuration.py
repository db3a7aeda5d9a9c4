# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's configuration: clusters, inventory variables and package configuration (conventions in oda_store).

Values of variables and of package configuration are stored as JSON, so
numbers, booleans, lists and dicts come back as they went in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from . import oda_validate as validate
from .oda_errors import OdaValidationError
from .oda_store import NamedStore, Store, optional, text

# Variable scope -> (table, owner column, owner table).  Table names are
# constants here, never caller input.
VARIABLE_SCOPES = {
    "cluster": ("cluster_vars", "cluster_id", "clusters"),
    "group": ("group_vars", "group_id", "node_groups"),
    "node": ("node_vars", "node_id", "nodes"),
}


def _json(value, what):
    """value as JSON text, None for None; what names it when it cannot be stored."""
    try:
        return None if value is None else json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        raise OdaValidationError(
            "invalid value for %s: %r cannot be stored as JSON" % (what, value)
        ) from None


class Clusters(NamedStore):
    """The clusters nodes and networks belong to."""

    table = "clusters"
    kind = "cluster"

    def ensure(self, name, description=None, check_mode=False):
        """Create or update a cluster; (changed, before, after)."""
        name = validate.object_name(name, "cluster")
        given = {"description": optional(text, description)}
        return self._ensure(name, given, given, check_mode)


class Config(Store):
    """Configuration values of packages, one key at a time."""

    def _load(self, package_id):
        rows = self.db.query(
            "SELECT config_key, value FROM package_config WHERE package_id = ?", (package_id,)
        )
        return {row["config_key"]: json.loads(row["value"]) for row in rows}

    def get(self, package, key=None):
        """A package's configuration: every key as a dict, or one key's value (None when unset)."""
        package = validate.object_name(package, "package")
        config = self._load(self._id_of("packages", "package", package))
        if key is None:
            return config
        return config.get(validate.object_name(key, "configuration key"))

    def set(self, package, key, value, check_mode=False):
        """Set one configuration value of a package (None removes it); (changed, before, after)."""
        package = validate.object_name(package, "package")
        key = validate.object_name(key, "configuration key")
        encoded = _json(value, "%s %s" % (package, key))
        with self.db.transaction(dry_run=check_mode):
            package_id = self._id_of("packages", "package", package)
            before = self._load(package_id).get(key)
            self.db.execute(
                "DELETE FROM package_config WHERE package_id = ? AND config_key = ?", (package_id, key)
            )
            if encoded is not None:
                self.db.execute(
                    "INSERT INTO package_config (package_id, config_key, value) VALUES (?, ?, ?)",
                    (package_id, key, encoded),
                )
            after = self._load(package_id).get(key)
        return before != after, before, after


class Variables(Store):
    """Inventory variables of the cluster, of groups and of nodes."""

    def _variable_owner(self, scope, owner):
        """(table, owner column, owner id) of a cluster, group or node; errors name what is unknown."""
        if scope not in VARIABLE_SCOPES:
            raise OdaValidationError(
                "invalid variable scope '%s': expected one of %s" % (scope, ", ".join(VARIABLE_SCOPES))
            )
        table, column, owner_table = VARIABLE_SCOPES[scope]
        check = validate.hostname if scope == "node" else validate.object_name
        name = check(owner) if scope == "node" else check(owner, scope)
        return table, column, self._id_of(owner_table, scope, name)

    def _variables_of(self, table, column, owner_id):
        rows = self.db.query("SELECT var_key, value FROM %s WHERE %s = ?" % (table, column), (owner_id,))
        return {row["var_key"]: json.loads(row["value"]) for row in rows}

    def get(self, scope, owner):
        """The variables of a cluster, group or node (scope), as a dict."""
        return self._variables_of(*self._variable_owner(scope, owner))

    def set(self, scope, owner, values, replace=False, check_mode=False):
        """Set variables of a cluster, group or node; (changed, before, after) as dicts.

        A value of None removes that variable; replace=True makes values the
        whole set, removing the others.  Values are stored as JSON.
        """
        if not isinstance(values, dict):
            raise OdaValidationError("invalid variables for %s %s: expected a mapping" % (scope, owner))
        encoded = {}
        for key, value in values.items():
            validate.variable_name(key)
            encoded[key] = _json(value, "variable %s of %s %s" % (key, scope, owner))
        with self.db.transaction(dry_run=check_mode):
            table, column, owner_id = self._variable_owner(scope, owner)
            before = self._variables_of(table, column, owner_id)
            removed = set(before) - set(values) if replace else set()
            removed |= set(key for key, value in encoded.items() if value is None and key in before)
            for key in sorted(removed):
                self.db.execute(
                    "DELETE FROM %s WHERE %s = ? AND var_key = ?" % (table, column), (owner_id, key)
                )
            for key, value in sorted(encoded.items()):
                if value is None or (key in before and json.dumps(before[key], sort_keys=True) == value):
                    continue
                if key in before:
                    self.db.execute(
                        "UPDATE %s SET value = ? WHERE %s = ? AND var_key = ?" % (table, column),
                        (value, owner_id, key),
                    )
                else:
                    self.db.execute(
                        "INSERT INTO %s (%s, var_key, value) VALUES (?, ?, ?)" % (table, column),
                        (owner_id, key, value),
                    )
            after = self._variables_of(table, column, owner_id)
        return before != after, before, after

    def all(self):
        """Every variable, one query per scope: {scope: {owner name: {key: value}}}."""
        result = {}
        with self.db.transaction(write=False):
            for scope, (table, column, owner_table) in VARIABLE_SCOPES.items():
                rows = self.db.query(
                    "SELECT o.name AS owner, v.var_key, v.value FROM %s v JOIN %s o ON o.id = v.%s"
                    % (table, owner_table, column)
                )
                found = result[scope] = {}
                for row in rows:
                    found.setdefault(row["owner"], {})[row["var_key"]] = json.loads(row["value"])
        return result

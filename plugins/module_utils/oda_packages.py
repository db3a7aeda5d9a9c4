# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's packages: their relations and their statuses on nodes and images (conventions in oda_store)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaConflictError, OdaValidationError
from .oda_store import NamedStore, by_name, name_list, optional, public, text

PACKAGE_RELATIONS = ("provides", "requires", "conflicts")
PACKAGE_STATUSES = ("should_be_installed", "installed", "should_be_uninstalled", "uninstalled", "failed")
# A package in these statuses is on a node or image, or about to be: where conflicts count.
PACKAGE_WANTED = ("should_be_installed", "installed")
# Where package statuses are kept: owner kind -> (table, owner column, owner table).
_STATUS_TABLES = {
    "node": ("node_packages", "node_id", "nodes"),
    "image": ("image_packages", "image_id", "images"),
}


class Packages(NamedStore):
    """Registered packages, what they provide, require and conflict with, and where they are wanted."""

    table = "packages"
    kind = "package"

    def _relations(self, package_ids=None):
        """{package id: {kind: [targets]}}, for the given package ids or every package."""
        sql = "SELECT package_id, kind, target FROM package_relations"
        params = ()
        if package_ids is not None:
            package_ids = sorted(set(package_ids))
            if not package_ids:
                return {}
            sql += " WHERE package_id IN (%s)" % ", ".join("?" * len(package_ids))
            params = package_ids
        relations = {}
        for row in self.db.query(sql, params):
            kinds = relations.setdefault(row["package_id"], {kind: [] for kind in PACKAGE_RELATIONS})
            kinds[row["kind"]].append(row["target"])
        for kinds in relations.values():
            for targets in kinds.values():
                targets.sort(key=nodeset.natural_key)
        return relations

    @staticmethod
    def _with_relations(row, relations):
        """A package row as callers see it: its columns and one list per relation kind."""
        package = public(row)
        kinds = relations.get(row["id"], {})
        for kind in PACKAGE_RELATIONS:
            package[kind] = list(kinds.get(kind, []))
        return package

    def _load(self, name):
        row = self._row("packages", name)
        if row is None:
            return None
        return self._with_relations(row, self._relations([row["id"]]))

    def list(self):
        """Every registered package with its relations, by name."""
        with self.db.transaction(write=False):
            rows = self.db.query("SELECT * FROM packages")
            relations = self._relations()
        return by_name(self._with_relations(row, relations) for row in rows)

    def ensure(
        self,
        name,
        version=None,
        summary=None,
        *,
        provides=None,
        requires=None,
        conflicts=None,
        check_mode=False,
    ):
        """Register a package or update it; (changed, before, after).

        provides, requires and conflicts, when given, are the package's exact
        lists of that kind: names of packages or of capabilities that
        packages provide.  A conflict that would already hold on a node or an
        image where both packages are wanted is an OdaConflictError.
        """
        name = validate.object_name(name, "package")
        given = {"version": optional(text, version), "summary": optional(text, summary)}
        relations = {}
        for kind, targets in (("provides", provides), ("requires", requires), ("conflicts", conflicts)):
            if targets is None:
                continue
            relations[kind] = name_list(targets, "package")
            if kind != "provides" and name in relations[kind]:
                verb = "require" if kind == "requires" else "conflict with"
                raise OdaValidationError("package '%s' cannot %s itself" % (name, verb))
        with self.db.transaction(dry_run=check_mode):
            before = self._load(name)
            values = dict.fromkeys(given) if before is None else {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            package_id = self._upsert("packages", self._row("packages", name), name, values)
            for kind, targets in sorted(relations.items()):
                self._write_relations(package_id, kind, [] if before is None else before[kind], targets)
            if "provides" in relations or "conflicts" in relations:
                self._refuse_conflicts_where_wanted(package_id)
            after = self._load(name)
        return before != after, before, after

    def _write_relations(self, package_id, kind, current, targets):
        for target in sorted(set(current) - set(targets)):
            self.db.execute(
                "DELETE FROM package_relations WHERE package_id = ? AND kind = ? AND target = ?",
                (package_id, kind, target),
            )
        for target in targets:
            if target not in current:
                self.db.execute(
                    "INSERT INTO package_relations (package_id, kind, target) VALUES (?, ?, ?)",
                    (package_id, kind, target),
                )

    def remove(self, name, check_mode=False):
        """Delete a package with its relations, statuses and configuration; (changed, before, None).

        Refused while a node or an image has it installed or to be installed.
        """
        return self._remove(name, check_mode)

    def _refuse_removal(self, row):
        holders = []
        for where in sorted(_STATUS_TABLES):
            names = [found["name"] for found in self._wanted_on(where, row["id"])]
            if names:
                holders.append("%ss %s" % (where, nodeset.fold(names)))
        if holders:
            raise OdaConflictError(
                "package '%s' is still installed or to be installed on %s"
                % (row["name"], " and ".join(holders))
            )

    def _status_target(self, node, image):
        """("node", name) or ("image", name): exactly one of the two must be given."""
        if (node is None) == (image is None):
            raise OdaValidationError("a package status belongs to a node or an image: give exactly one")
        if node is not None:
            return "node", validate.hostname(node)
        return "image", validate.object_name(image, "image")

    def set_status(self, package, status, *, node=None, image=None, check_mode=False):
        """Record a package's status on one node or one image; (changed, before, after) as status text.

        status is one of PACKAGE_STATUSES, or None to forget the record
        (before or after is None where there is no record).  Making a package
        wanted (should_be_installed or installed) where a package it conflicts
        with is wanted is an OdaConflictError naming both.
        """
        package = validate.object_name(package, "package")
        where, target = self._status_target(node, image)
        status = optional(validate.choice, status, PACKAGE_STATUSES, "package status")
        table, column, owner_table = _STATUS_TABLES[where]
        with self.db.transaction(dry_run=check_mode):
            package_id = self._id_of("packages", "package", package)
            target_id = self._id_of(owner_table, where, target)
            key = (target_id, package_id)
            row = self.db.query_one(
                "SELECT status FROM %s WHERE %s = ? AND package_id = ?" % (table, column), key
            )
            before = None if row is None else row["status"]
            if before != status:
                if status is None:
                    self.db.execute("DELETE FROM %s WHERE %s = ? AND package_id = ?" % (table, column), key)
                elif before is None:
                    self.db.execute(
                        "INSERT INTO %s (%s, package_id, status) VALUES (?, ?, ?)" % (table, column),
                        (*key, status),
                    )
                else:
                    self.db.execute(
                        "UPDATE %s SET status = ? WHERE %s = ? AND package_id = ?" % (table, column),
                        (status, *key),
                    )
                if status in PACKAGE_WANTED:
                    self._refuse_conflicts_on(where, target_id, target)
        return before != status, before, status

    def statuses_of(self, *, node=None, image=None):
        """{package: status} of one node or one image (give exactly one), read by index."""
        where, target = self._status_target(node, image)
        table, column, owner_table = _STATUS_TABLES[where]
        rows = self.db.query(
            "SELECT p.name AS package, s.status FROM %s s JOIN packages p ON p.id = s.package_id"
            " WHERE s.%s = ?" % (table, column),
            (self._id_of(owner_table, where, target),),
        )
        return {row["package"]: row["status"] for row in rows}

    def list_statuses(self, package=None, nodes=None, image=None):
        """Package statuses as dicts {package, node, image, status}; one of node and image is None.

        Filters: package (a name), nodes (a node set such as 'node[001-064]'
        or '@oscar_clients'), image (a name).  nodes alone gives only node
        records, image alone only image records, both give both.  Sorted by
        package, then nodes before images, each in natural order.
        """
        package = optional(validate.object_name, package, "package")
        image = optional(validate.object_name, image, "image")
        kinds = [where for where, given in (("node", nodes), ("image", image)) if given is not None]
        statuses = []
        with self.db.transaction(write=False):
            if package is not None:
                self._id_of("packages", "package", package)
            if image is not None:
                self._id_of("images", "image", image)
            names = None if nodes is None else set(self._expand(nodes))
            for where in kinds or sorted(_STATUS_TABLES):
                table, column, owner_table = _STATUS_TABLES[where]
                sql = (
                    "SELECT p.name AS package, o.name AS owner, s.status FROM %s s"
                    " JOIN packages p ON p.id = s.package_id JOIN %s o ON o.id = s.%s"
                    % (table, owner_table, column)
                )
                params = ()
                if package is not None:
                    sql, params = sql + " WHERE p.name = ?", (package,)
                for row in self.db.query(sql, params):
                    if where == "node" and names is not None and row["owner"] not in names:
                        continue
                    if where == "image" and image is not None and row["owner"] != image:
                        continue
                    entry = {"package": row["package"], "node": None, "image": None, "status": row["status"]}
                    entry[where] = row["owner"]
                    statuses.append(entry)
        return sorted(
            statuses,
            key=lambda entry: (
                nodeset.natural_key(entry["package"]),
                entry["node"] is None,
                nodeset.natural_key(entry["node"] or entry["image"]),
            ),
        )

    def _wanted_on(self, where, package_id):
        """Nodes or images (where) on which a package is wanted: rows {id, name}."""
        table, column, owner_table = _STATUS_TABLES[where]
        return self.db.query(
            "SELECT o.id, o.name FROM %s s JOIN %s o ON o.id = s.%s"
            " WHERE s.package_id = ? AND s.status IN (?, ?)" % (table, owner_table, column),
            (package_id, *PACKAGE_WANTED),
        )

    def _refuse_conflicts_where_wanted(self, package_id):
        """Check every node and image on which a package is wanted, after its relations changed."""
        for where in sorted(_STATUS_TABLES):
            for owner in self._wanted_on(where, package_id):
                self._refuse_conflicts_on(where, owner["id"], owner["name"])

    def _refuse_conflicts_on(self, where, owner_id, owner):
        """OdaConflictError when two packages wanted on one node or image conflict."""
        table, column, _owner_table = _STATUS_TABLES[where]
        rows = self.db.query(
            "SELECT p.id, p.name FROM %s s JOIN packages p ON p.id = s.package_id"
            " WHERE s.%s = ? AND s.status IN (?, ?)" % (table, column),
            (owner_id, *PACKAGE_WANTED),
        )
        if len(rows) < 2:
            return
        relations = self._relations(row["id"] for row in rows)
        wanted = sorted(rows, key=lambda row: nodeset.natural_key(row["name"]))
        for package in wanted:
            refused = set(relations.get(package["id"], {}).get("conflicts", ()))
            for other in wanted:
                if other["id"] == package["id"]:
                    continue
                offered = set(relations.get(other["id"], {}).get("provides", ())) | {other["name"]}
                clash = sorted(refused & offered, key=nodeset.natural_key)
                if not clash:
                    continue
                if other["name"] in clash:
                    what = "package '%s'" % other["name"]
                else:
                    what = "'%s', which package '%s' provides," % (clash[0], other["name"])
                raise OdaConflictError(
                    "package '%s' conflicts with %s on %s %s" % (package["name"], what, where, owner)
                )

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every ODA store shares: the database it works in, named rows, checks on single values.

A store (oda_nodes, oda_networks, ...) holds one kind of object.  Every
store of one Oda works in the same Database, so the transactions of one
store nest in those of another: a caller that opens one transaction around
several stores gets all or nothing.

Conventions, the same for every store:

* Results are plain dicts and lists, without database ids.
* Every write, ``ensure``, ``set`` and ``remove`` alike, returns
  ``(changed, before, after)``: ``before`` is None when the object did not
  exist, ``after`` when it is gone.  Writes over many objects return dicts
  keyed by name in both.  ``get`` returns None for an object that does not
  exist.
* An argument left at None keeps the stored value (and takes a default when
  the object is created): a module that does not mention an attribute never
  changes it.
* Every value is checked (oda_validate) and every reference resolved before
  the first write; errors are typed (oda_errors) and name the value refused.
* Each write is one transaction.  ``check_mode=True`` runs the very same
  code and rolls back at the end, so the answer is exact and nothing is kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaNotFoundError, OdaValidationError

# Numeric columns: (what a message calls them, lowest, highest).
NUMBERS = {
    "mtu": ("MTU", 68, 65535),
    "cpus": ("CPU count", 1, 1 << 20),
    "memory_mb": ("memory size (MB)", 1, 1 << 40),
}


def optional(check, value, *args):
    """check(value, *args), or None when value is None."""
    return None if value is None else check(value, *args)


def flag(value, what):
    """A boolean as the 0/1 the database stores."""
    if value in (True, False, 0, 1) and not isinstance(value, float):
        return int(value)
    raise OdaValidationError("invalid %s '%s': expected true or false" % (what, value))


def text(value):
    return str(value)


def name_list(values, kind):
    """A list of object names, each once, in the order given."""
    if isinstance(values, str) or not isinstance(values, (list, tuple, set, frozenset)):
        raise OdaValidationError("invalid %s list '%s': expected a list of names" % (kind, values))
    # A dict keeps the order given and finds a repeat at once.
    names = {}
    for value in values:
        names.setdefault(validate.object_name(value, kind), None)
    return list(names)


def inside(address, network, what):
    """Refuse an address outside a network row, naming the network too."""
    try:
        validate.address_in_network(address, network["cidr"], what)
    except OdaValidationError as error:
        raise OdaValidationError("%s (network '%s')" % (error, network["name"])) from None


def now():
    """UTC time as ISO 8601 text: the same in every dialect and sortable."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def public(row):
    """A row without database ids: what callers see."""
    if row is None:
        return None
    return {key: value for key, value in row.items() if key != "id" and not key.endswith("_id")}


def by_name(rows):
    return sorted(rows, key=lambda row: nodeset.natural_key(row["name"]))


def plural(count, word):
    """'1 NIC', '3 NICs'."""
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


class Store:
    """One kind of object of ODA, in the Database every store of an Oda shares."""

    def __init__(self, db):
        self.db = db

    def _row(self, table, name):
        """The row of a named object with every column, or None."""
        # table is always one of the stores' constants, never caller input.
        return self.db.query_one("SELECT * FROM %s WHERE name = ?" % table, (name,))

    def _id_of(self, table, kind, name):
        """The id of a named object, or OdaNotFoundError naming it."""
        row = self.db.query_one("SELECT id FROM %s WHERE name = ?" % table, (name,))
        if row is None:
            raise OdaNotFoundError("unknown %s '%s'" % (kind, name))
        return row["id"]

    def _upsert(self, table, before, name, values):
        """Insert a named row, or update the columns that differ; return its id.

        Column names come from the stores, values always go as parameters.
        """
        if before is None:
            columns = ["name", *sorted(values)]
            self.db.execute(
                "INSERT INTO %s (%s) VALUES (%s)"
                % (table, ", ".join(columns), ", ".join("?" * len(columns))),
                [name] + [values[column] for column in columns[1:]],
            )
            return self._id_of(table, table, name)
        changes = sorted(column for column, value in values.items() if before.get(column) != value)
        if changes:
            self.db.execute(
                "UPDATE %s SET %s WHERE id = ?" % (table, ", ".join("%s = ?" % column for column in changes)),
                [values[column] for column in changes] + [before["id"]],
            )
        return before["id"]

    def _expand(self, expression):
        """Names of a node set; groups (@name) are read from the database."""
        try:
            return nodeset.expand(expression, self._group_names_of)
        except nodeset.NodeSetError as error:
            raise OdaValidationError(str(error)) from None

    def _group_names_of(self, group):
        """Member names of a group for nodeset.expand; an unknown group is an error."""
        group_id = self._id_of("node_groups", "group", group)
        rows = self.db.query(
            "SELECT n.name FROM group_members m JOIN nodes n ON n.id = m.node_id WHERE m.group_id = ?",
            (group_id,),
        )
        return [row["name"] for row in rows]


class NamedStore(Store):
    """A store of objects known by name, one row each in table; messages call one a kind."""

    table = None
    kind = None

    def _name(self, name):
        """A name as given, checked (and normalised)."""
        return validate.object_name(name, self.kind)

    def _load(self, name):
        """The object of a checked name as callers see it, or None."""
        return public(self._row(self.table, name))

    def get(self, name):
        """One object, or None."""
        return self._load(self._name(name))

    def list(self):
        """Every object, by name."""
        return by_name(public(row) for row in self.db.query("SELECT * FROM %s" % self.table))

    def _ensure(self, name, given, defaults, check_mode):
        """ensure for an object with plain columns: (changed, before, after).

        given: the columns asked for (None keeps the stored value); defaults: those of a new object.
        """
        with self.db.transaction(dry_run=check_mode):
            before = self._load(name)
            values = dict(defaults) if before is None else {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            self._upsert(self.table, self._row(self.table, name), name, values)
            after = self._load(name)
        return before != after, before, after

    def _remove(self, name, check_mode):
        """remove: (changed, before, None); _refuse_removal(row) raises while something uses the object."""
        name = self._name(name)
        with self.db.transaction(dry_run=check_mode):
            row = self._row(self.table, name)
            if row is None:
                return False, None, None
            self._refuse_removal(row)
            before = self._load(name)
            self.db.execute("DELETE FROM %s WHERE id = ?" % self.table, (row["id"],))
        return True, before, None

    def _refuse_removal(self, row):
        """Raise OdaConflictError while something still uses the object of row: nothing does, here."""

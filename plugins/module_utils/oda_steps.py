# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's wizard steps: how far the installation went (conventions in oda_store)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import oda_validate as validate
from .oda_store import NamedStore, now, public

STEP_STATUSES = ("pending", "running", "done", "failed", "skipped")


class Steps(NamedStore):
    """The status of each wizard step, in the order first recorded."""

    table = "wizard_steps"
    kind = "wizard step"

    def set(self, name, status, check_mode=False):
        """Record a wizard step's status; (changed, before, after).

        updated_at moves only when the status changes.
        """
        name = validate.object_name(name, "wizard step")
        status = validate.choice(status, STEP_STATUSES, "wizard step status")
        with self.db.transaction(dry_run=check_mode):
            before = self._load(name)
            if before is None or before["status"] != status:
                values = {"status": status, "updated_at": now()}
                self._upsert(self.table, self._row(self.table, name), name, values)
            after = self._load(name)
        return before != after, before, after

    def list(self):
        """Every wizard step in the order first recorded."""
        return [public(row) for row in self.db.query("SELECT * FROM wizard_steps ORDER BY id")]

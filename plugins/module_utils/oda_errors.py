# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Typed errors of ODA, the cluster database.

Library code raises these; only a module's main(), the inventory plugin or
the oda command turns them into a failure message.  Every message names the
value that was refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class OdaError(Exception):
    """Base class of every ODA error."""


class OdaValidationError(OdaError):
    """A value is malformed: a MAC, an IP address, a host name, a range..."""


class OdaNotFoundError(OdaError):
    """A referenced object (node, group, image, network) does not exist."""


class OdaConflictError(OdaError):
    """A write would break a uniqueness rule: a duplicate name, MAC or IP."""


class OdaUnavailableError(OdaError):
    """The database cannot be reached or opened."""


class OdaSchemaError(OdaError):
    """The database schema is missing, too new, or cannot be upgraded."""


class OdaInstallRefused(OdaError):
    """An installing node's request that ODA refuses: reason says why, for the boot service's answer.

    reason is one of oda_install's REFUSALS: the address is no node
    (not-a-node), the node is not being installed (not-installing), or the
    stage does not follow the current one (not-next; an OdaConflictError too).
    """

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


class OdaInstallOutOfOrder(OdaInstallRefused, OdaConflictError):
    """A report whose stage is not the next one of the node's attempt."""

    def __init__(self, message):
        super().__init__(message, "not-next")

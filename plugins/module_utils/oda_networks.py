# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA's networks: their addresses, DHCP ranges and domains (conventions in oda_store)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaConflictError, OdaValidationError
from .oda_schema import DEFAULT_CLUSTER
from .oda_store import NUMBERS, NamedStore, by_name, inside, optional, plural, public

_NETWORK_SELECT = (
    "SELECT w.id, w.name, w.cidr, w.gateway, w.domain, w.dhcp_start, w.dhcp_end, w.mtu,"
    " w.cluster_id, c.name AS cluster FROM networks w JOIN clusters c ON c.id = w.cluster_id"
)


def check_network(name, values, networks):
    """Refuse a network whose addresses do not hold together, or that overlaps another.

    values holds cidr, gateway, dhcp_start and dhcp_end; networks are the
    stored rows (name, cidr).  Restore checks its networks here too.
    """
    network = {"name": name, "cidr": values["cidr"]}
    for key in ("gateway", "dhcp_start", "dhcp_end"):
        if values[key] is not None:
            inside(values[key], network, key.replace("_", " "))
    start, end = values["dhcp_start"], values["dhcp_end"]
    if (start is None) != (end is None):
        raise OdaValidationError("network '%s': give both dhcp_start and dhcp_end, or neither" % name)
    if start is not None and ipaddress.ip_address(start) > ipaddress.ip_address(end):
        raise OdaValidationError("network '%s': DHCP range %s - %s goes backwards" % (name, start, end))
    net = ipaddress.ip_network(values["cidr"])
    for other in networks:
        other_net = ipaddress.ip_network(other["cidr"])
        if other["name"] != name and other_net.version == net.version and other_net.overlaps(net):
            raise OdaConflictError(
                "network '%s' (%s) overlaps network '%s' (%s): an address would belong to both"
                % (name, values["cidr"], other["name"], other["cidr"])
            )


class Networks(NamedStore):
    """The networks nodes' NICs sit on."""

    table = "networks"
    kind = "network"

    def _network_row(self, name):
        return self.db.query_one(_NETWORK_SELECT + " WHERE w.name = ?", (name,))

    def _load(self, name):
        return public(self._network_row(name))

    def rows(self):
        """Every network row (with ids), by name."""
        return {row["name"]: row for row in self.db.query(_NETWORK_SELECT)}

    def list(self):
        """Every network, by name."""
        return by_name(public(row) for row in self.rows().values())

    def ensure(
        self,
        name,
        cidr,
        *,
        gateway=None,
        domain=None,
        dhcp_start=None,
        dhcp_end=None,
        mtu=None,
        cluster=DEFAULT_CLUSTER,
        check_mode=False,
    ):
        """Create or update a network; (changed, before, after).

        The gateway and the DHCP range must lie inside the network; a new CIDR
        must still hold every address its NICs have.  Networks never overlap:
        an address then belongs to one network only, so the UNIQUE (network,
        address) of NICs keeps two nodes from sharing it.
        """
        name = validate.object_name(name, "network")
        given = {
            "cidr": validate.network(cidr),
            "gateway": optional(validate.ip_address, gateway),
            "domain": optional(validate.hostname, domain),
            "dhcp_start": optional(validate.ip_address, dhcp_start),
            "dhcp_end": optional(validate.ip_address, dhcp_end),
            "mtu": optional(validate.number, mtu, *NUMBERS["mtu"]),
        }
        cluster = validate.object_name(cluster, "cluster")
        with self.db.transaction(dry_run=check_mode):
            before = self._network_row(name)
            values = {"gateway": None, "domain": None, "dhcp_start": None, "dhcp_end": None, "mtu": None}
            if before is not None:
                values = {key: before[key] for key in given}
            values.update((key, value) for key, value in given.items() if value is not None)
            values["cluster_id"] = self._id_of("clusters", "cluster", cluster)
            check_network(name, values, self.rows().values())
            if before is not None and values["cidr"] != before["cidr"]:
                self._check_nics_fit(before, values["cidr"])
            self._upsert("networks", before, name, values)
            after = self._network_row(name)
        return before != after, public(before), public(after)

    def _check_nics_fit(self, network, cidr):
        """Refuse a new CIDR that would leave addresses of existing NICs outside it."""
        rows = self.db.query(
            "SELECT n.name AS node, x.ip FROM nics x JOIN nodes n ON n.id = x.node_id"
            " WHERE x.network_id = ? AND x.ip IS NOT NULL",
            (network["id"],),
        )
        outside = [row for row in rows if ipaddress.ip_address(row["ip"]) not in ipaddress.ip_network(cidr)]
        if outside:
            raise OdaConflictError(
                "network '%s' cannot become %s: %d NIC addresses would lie outside it, on %s"
                % (network["name"], cidr, len(outside), nodeset.fold(row["node"] for row in outside))
            )

    def remove(self, name, check_mode=False):
        """Delete a network no NIC uses; (changed, before, None)."""
        return self._remove(name, check_mode)

    def _refuse_removal(self, row):
        users = self.db.query(
            "SELECT n.name FROM nics x JOIN nodes n ON n.id = x.node_id WHERE x.network_id = ?", (row["id"],)
        )
        if users:
            raise OdaConflictError(
                "network '%s' is still used by %s, on %s"
                % (row["name"], plural(len(users), "NIC"), nodeset.fold(user["name"] for user in users))
            )

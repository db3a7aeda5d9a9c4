# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.oscar.cluster.plugins.module_utils.oda_macs import parse_dnsmasq_log


def dhcp_requests(text):
    """The MACs that asked dnsmasq for an address, first heard first (as oda_mac_collect reads them)."""
    return [mac for _name, mac in parse_dnsmasq_log(text or "")]


class FilterModule(object):
    def filters(self):
        return {"dhcp_requests": dhcp_requests}

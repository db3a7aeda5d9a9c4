# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.oscar.cluster.plugins.module_utils.cluster_hosts import (
    host_table,
    network_hosts,
    plain,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaError


def network_hosts_filter(hosts, network, head):
    """The checked table of the hosts' NICs on network; a bad value fails the task, naming the node."""
    try:
        return network_hosts(plain(hosts), plain(network), head)
    except OdaError as error:
        raise AnsibleFilterError(str(error)) from None


def host_table_filter(hostvars, names, networks, network, head):
    """The checked table of the inventory hosts' NICs on the network of oda_networks called network."""
    try:
        return host_table(hostvars, list(names), networks, network, head)
    except OdaError as error:
        raise AnsibleFilterError(str(error)) from None


class FilterModule(object):
    def filters(self):
        return {"network_hosts": network_hosts_filter, "host_table": host_table_filter}

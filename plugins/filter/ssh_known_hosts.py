# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display
from ansible_collections.oscar.cluster.plugins.module_utils import ssh_known_hosts as known
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaError

display = Display()


def ssh_known_hosts_filter(table, host_keys, previous=""):
    """The known_hosts lines of the cluster's hosts, as one text; warns about the hosts not read."""
    try:
        result = known.known_hosts(table, host_keys, previous)
    except OdaError as error:
        raise AnsibleFilterError(str(error)) from None
    # Display says each warning once, however often the value is templated.
    if result["kept"]:
        display.warning(
            "SSH host keys not read from %s (down or unreachable): the keys known before are kept"
            % ", ".join(result["kept"])
        )
    if result["missing"]:
        display.warning(
            "SSH host keys not read from %s (down or unreachable), and none known before: left out of the"
            " known hosts until a run reaches them" % ", ".join(result["missing"])
        )
    return "\n".join(result["lines"])


def ssh_host_names_filter(table):
    """{host: [names]}: the names and addresses by which each host is reached on the network."""
    try:
        return known.host_names(table)
    except OdaError as error:
        raise AnsibleFilterError(str(error)) from None


class FilterModule(object):
    def filters(self):
        return {
            "ssh_known_hosts": ssh_known_hosts_filter,
            "ssh_host_names": ssh_host_names_filter,
        }

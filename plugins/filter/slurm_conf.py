# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.oscar.cluster.plugins.module_utils import slurm_conf
from ansible_collections.oscar.cluster.plugins.module_utils.cluster_hosts import plain
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaError


def slurm_nodes_filter(nodes, previous_conf="", memory_reserve_percent=5):
    """slurm.conf's NodeName lines for nodes; a bad node fails the task, naming it."""
    try:
        return slurm_conf.node_lines(plain(nodes), previous_conf or "", memory_reserve_percent)
    except OdaError as error:
        raise AnsibleFilterError(str(error)) from None


def slurm_restart_signature_filter(text):
    """The part of a slurm.conf whose change needs the Slurm daemons restarted."""
    return slurm_conf.restart_signature(text or "")


def slurm_conf_nodes_filter(text):
    """The nodes of a slurm.conf's NodeName lines: {name: {address, state, hardware}}."""
    return slurm_conf.parse_nodes(text or "")


class FilterModule(object):
    def filters(self):
        return {
            "slurm_nodes": slurm_nodes_filter,
            "slurm_restart_signature": slurm_restart_signature_filter,
            "slurm_conf_nodes": slurm_conf_nodes_filter,
        }

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: oda_step
short_description: Record the status of a step of the OSCAR wizard in ODA
version_added: 0.1.0
description:
  - Record how far the cluster's set-up has gone, one wizard step at a time, in ODA, the cluster
    database; C(site.yml) marks each step as it runs, so the next run knows what is done.
  - The step's time stamp moves only when its status changes.
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  diff_mode:
    description: Shows the step before and after the task.
    support: full
options:
  name:
    description: Name of the step, such as V(survey) or V(build_image).
    type: str
    required: true
  status:
    description: Status of the step.
    type: str
    required: true
    choices: [pending, running, done, failed, skipped]
"""

EXAMPLES = r"""
- name: Mark the survey done
  oscar.cluster.oda_step:
    database: sqlite:/var/lib/oscar/oda.db
    name: survey
    status: done
"""

RETURN = r"""
step:
  description: The step after the task.
  returned: success
  type: dict
  contains:
    name:
      description: Name of the step.
      type: str
      sample: survey
    status:
      description: Status of the step.
      type: str
      sample: done
    updated_at:
      description: When the status last changed, UTC, ISO 8601.
      type: str
      sample: "2025-01-31T12:00:00Z"
"""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import result, run_module
from ansible_collections.oscar.cluster.plugins.module_utils.oda_steps import STEP_STATUSES

OPTIONS = {
    "name": {"type": "str", "required": True},
    "status": {"type": "str", "required": True, "choices": list(STEP_STATUSES)},
}


def act(module, oda):
    params = module.params
    return result(module, "step", params["name"], oda.steps.set(params["name"], params["status"]))


def main():
    run_module(OPTIONS, act)


if __name__ == "__main__":
    main()

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
author:
  - oscar.cluster developers (!UNKNOWN)
extends_documentation_fragment:
  - oscar.cluster.oda
attributes:
  check_mode:
    description: Reports what would change and writes nothing (the same transaction, rolled back).
    support: full
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.oscar.cluster.plugins.module_utils.oda import STEP_STATUSES
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaError
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import (
    argument_spec,
    connect,
    failure,
    result,
)

OPTIONS = {
    "name": {"type": "str", "required": True},
    "status": {"type": "str", "required": True, "choices": list(STEP_STATUSES)},
}


def run(module):
    """The module's answer; ODA errors go up to main()."""
    params = module.params
    with connect(module) as oda:
        outcome = oda.set_step(params["name"], params["status"], check_mode=module.check_mode)
    return result(module, "step", params["name"], outcome)


def main():
    module = AnsibleModule(argument_spec=argument_spec(OPTIONS), supports_check_mode=True)
    try:
        answer = run(module)
    except OdaError as error:
        module.fail_json(**failure(error))
    module.exit_json(**answer)


if __name__ == "__main__":
    main()

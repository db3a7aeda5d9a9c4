"""The testbed a molecule scenario runs on, named the same way by its create and
destroy playbooks (molecule/shared/vars/testbed.yml) and by its testinfra tests.

The name is ``<prefix>-<scenario>``: the prefix is ``mol`` unless
``OSCAR_MOLECULE_TESTBED_PREFIX`` names another, so that two checkouts can run
the same scenario at once, each on its own testbed.
"""

import os
import re

from oscar_testbed.testbed import Testbed

PREFIX_ENV = "OSCAR_MOLECULE_TESTBED_PREFIX"
DEFAULT_PREFIX = "mol"


def testbed_name(scenario=None):
    """The testbed name of ``scenario`` (default: $MOLECULE_SCENARIO_NAME)."""
    scenario = scenario or os.environ["MOLECULE_SCENARIO_NAME"]
    prefix = os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    return f"{prefix}-{re.sub('[^a-z0-9-]', '-', scenario.lower())}"


def scenario_testbed(scenario=None):
    """The Testbed object of ``scenario``."""
    return Testbed(testbed_name(scenario))

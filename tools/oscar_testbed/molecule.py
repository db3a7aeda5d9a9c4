"""The testbed a molecule scenario runs on, named the same way by its create and
destroy playbooks (molecule/shared/vars/testbed.yml) and by its testinfra tests.

The name is ``<prefix>-<scenario>``: the prefix is ``mol`` unless
``OSCAR_MOLECULE_TESTBED_PREFIX`` names another, so that two checkouts can run
the same scenario at once, each on its own testbed.
"""

import os
import re
import subprocess
import sys

import testinfra

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


# --- for the scenarios' testinfra tests -------------------------------------

# One line of a PLAY RECAP: host, ok, changed, unreachable, failed.
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def inventory_file():
    """Molecule's own inventory of the scenario's hosts.

    Plays read ODA through oscar_inventory; testinfra 10 cannot read the
    markers ansible-inventory 2.19 puts on database strings, so the tests
    connect through molecule's record of the same hosts.
    """
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory", "ansible_inventory.yml")


def connect(name):
    """A testinfra host for the scenario's host ``name``, over Ansible's connection."""
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory_file())


def recap(output):
    """{host: (ok, changed, unreachable, failed)} from a run's PLAY RECAP."""
    return {match[0]: tuple(int(n) for n in match[1:]) for match in RECAP.findall(output)}


def converge(*args, inventory=(), env=None, timeout=900):
    """ansible-playbook on the scenario's converge.yml as molecule runs it (its config and inventory),
    with more inventory sources if given, and plain output."""
    command = [
        # The toolchain that runs these tests runs molecule's playbooks too.
        os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        "-i",
        os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory"),
        *[part for source in inventory for part in ("-i", source)],
        os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml"),
        *args,
    ]
    # Plain output: molecule asks for colours, which the checks would have to read through.
    plain = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1"}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=dict(os.environ, **plain, **(env or {})),
        timeout=timeout,
        check=False,
    )

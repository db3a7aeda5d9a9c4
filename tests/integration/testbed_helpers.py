"""Helpers for the integration tests: run the testbed command, look at podman, ping with Ansible,
read a playbook run's recap."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class Cli:
    """Runs the testbed command the way a user does, in a separate process."""

    def __init__(self, state_root):
        self.state_root = str(state_root)

    def env(self, **extra):
        env = dict(os.environ)
        env["OSCAR_TESTBED_STATE"] = self.state_root
        env["PYTHONPATH"] = str(ROOT / "tools")
        env.update(extra)
        return env

    def __call__(self, *args, check=True, timeout=900, **env):
        result = subprocess.run(
            [sys.executable, "-m", "oscar_testbed", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(**env),
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"testbed {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def status(self, name):
        return json.loads(self("--name", name, "status", "--json").stdout)


def podman_objects(name):
    """Containers and networks carrying the testbed's label, asked of podman directly."""
    label = f"label=oscar.testbed={name}"
    found = []
    for listing, name_field in ((["ps", "--all"], "{{.Names}}"), (["network", "ls"], "{{.Name}}")):
        found += subprocess.run(
            ["podman", *listing, "--filter", label, "--format", name_field],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return found


ODA_INVENTORY = str(ROOT / "oscar_inventory")


def oda_env(oda_url):
    """The environment that points oscar_inventory at a testbed's ODA database."""
    return dict(os.environ, OSCAR_ODA_URL=oda_url)


def ansible_ping(inventory, pattern="all", forks=64, env=None):
    """Run `ansible -m ping`: (exit code, hosts that answered pong, lines about the others)."""
    result = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            pattern,
            "-i",
            inventory,
            "-m",
            "ansible.builtin.ping",
            "--forks",
            str(forks),
            "-o",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
        check=False,
    )
    answered = {
        line.split(" | ", 1)[0]
        for line in result.stdout.splitlines()
        if " | SUCCESS" in line and '"ping": "pong"' in line
    }
    problems = [line for line in result.stdout.splitlines() if " | SUCCESS" not in line]
    return result.returncode, answered, "\n".join([*problems, result.stderr])


# One host's line of a PLAY RECAP.
RECAP = re.compile(
    r"^(?P<host>\S+)\s*: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)",
    re.MULTILINE,
)


class PlaybookRun:
    """A finished ansible-playbook run: its exit status, output and per-host recap."""

    def __init__(self, result):
        self.rc = result.returncode
        self.output = result.stdout + result.stderr
        self.recap = {
            m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in RECAP.finditer(result.stdout)
        }

    def tail(self, lines=80):
        return "\n".join(self.output.splitlines()[-lines:])

    def ok(self):
        """Exit 0 and no host failed or unreachable."""
        return self.rc == 0 and all(r["failed"] == 0 and r["unreachable"] == 0 for r in self.recap.values())

    def changed(self):
        """{host: changed count} of the hosts where something changed."""
        return {host: r["changed"] for host, r in self.recap.items() if r["changed"]}

    def changed_tasks(self):
        """The 'changed:' lines, to name what changed when nothing should have."""
        return [line for line in self.output.splitlines() if line.startswith("changed:")]


def playbook_env(oda_url):
    """The environment a test's playbook runs in: its own ODA database, plain output."""
    return dict(os.environ, OSCAR_ODA_URL=oda_url, ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1")


def run_playbook(playbook, *args, oda_url, timeout):
    """ansible-playbook on the ODA inventory from the repository root, as a user runs it: a PlaybookRun."""
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), playbook, "-i", ODA_INVENTORY, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=playbook_env(oda_url),
        check=False,
    )
    return PlaybookRun(result)

"""The roles' OS values: the OS family's file, then the release's own file on top of it.

Run for real by ansible-playbook on this machine, whose facts name the release:
a role made for the test has vars/<family>.yml and, in one case,
vars/<distribution>-<major>.yml, and reads them through _common's os_vars.
The collection's own Debian-13 files are checked to hold only what differs.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_BIN = Path(sys.executable).parent


def ansible_env(work):
    return {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(work / "roles"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
    }


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    """This machine's distribution facts, as the roles see them."""
    work = tmp_path_factory.mktemp("facts")
    result = subprocess.run(
        [str(ANSIBLE_BIN / "ansible"), "localhost", "-c", "local", "-m", "setup", "-a", "gather_subset=min"],
        cwd=work,
        env=dict(ansible_env(work), ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout.split(" => ", 1)[1])["ansible_facts"]
    keys = ("distribution", "distribution_major_version", "os_family")
    return {key: found[f"ansible_{key}"] for key in keys}


def run_probe(work, files):
    """Make role 'probe' with vars files {name: values}; return the values os_vars leaves it."""
    role = work / "roles" / "probe"
    (role / "vars").mkdir(parents=True)
    (role / "tasks").mkdir()
    for name, values in files.items():
        (role / "vars" / name).write_text(yaml.safe_dump(values))
    (role / "tasks" / "main.yml").write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Load the OS values",
                    "ansible.builtin.include_role": {
                        "name": "oscar.cluster._common",
                        "tasks_from": "os_vars",
                    },
                    "vars": {"_common_role": "probe"},
                },
                {
                    "name": "Write them",
                    "ansible.builtin.copy": {
                        "content": "{{ {'kept': probe_kept, 'changed': probe_changed} | to_json }}",
                        "dest": str(work / "values.json"),
                        "mode": "0644",
                    },
                },
            ]
        )
    )
    (work / "play.yml").write_text(
        yaml.safe_dump([{"name": "Probe", "hosts": "localhost", "connection": "local", "roles": ["probe"]}])
    )
    result = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-playbook"), "-i", "localhost,", "play.yml"],
        cwd=work,
        env=ansible_env(work),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, (work / "values.json")


def test_the_release_file_overrides_only_what_it_names(tmp_path, facts):
    release = f"{facts['distribution']}-{facts['distribution_major_version']}.yml"
    result, values = run_probe(
        tmp_path,
        {
            f"{facts['os_family']}.yml": {"probe_kept": "family", "probe_changed": "family"},
            release: {"probe_changed": "release"},
        },
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(values.read_text()) == {"kept": "family", "changed": "release"}


def test_without_a_release_file_the_familys_values_are_all(tmp_path, facts):
    result, values = run_probe(
        tmp_path, {f"{facts['os_family']}.yml": {"probe_kept": "family", "probe_changed": "family"}}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert json.loads(values.read_text()) == {"kept": "family", "changed": "family"}


def test_a_release_file_alone_is_no_support_for_its_family(tmp_path, facts):
    """The family's file holds every value: without it the role stops, naming the host's OS."""
    release = f"{facts['distribution']}-{facts['distribution_major_version']}.yml"
    result, values = run_probe(tmp_path, {release: {"probe_kept": "x", "probe_changed": "x"}})
    assert result.returncode != 0
    assert f"probe supports Debian only; this host runs {facts['distribution']}" in result.stdout
    assert not values.exists()


@pytest.mark.parametrize("role", ["clients", "server", "env_switcher"])
def test_a_release_file_of_the_collection_only_overrides_values_of_the_family(role):
    """Each Debian-<major>.yml names values Debian.yml has: no value lives only in one release."""
    vars_dir = ROOT / "roles" / role / "vars"
    family = yaml.safe_load((vars_dir / "Debian.yml").read_text())
    for path in vars_dir.glob("Debian-*.yml"):
        release = yaml.safe_load(path.read_text())
        assert release, f"{path} is empty"
        assert set(release) <= set(family), f"{path} names values Debian.yml lacks"
        assert all(release[key] != family[key] for key in release), f"{path} repeats Debian.yml"

"""The two things a site installs, built and installed into empty places, then run from there.

The collection tarball (ansible-galaxy collection build) goes into an empty
collections directory; the Python package (oscar-cluster), built as a wheel
from that installed collection as the head node builds it, goes into an empty
virtual environment without ansible-core.  Nothing of the clone is on a path:
every command runs from a scratch directory.  Packages come from pip's own
configuration (its cache and indexes), as for scripts/setup.
"""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(sys.executable).parent  # the project's ansible-galaxy, ansible-doc, ansible
COMMANDS = ("oda", "cexec", "cexecs", "cpush", "cget", "crm", "ckill", "cshutdown", "clist", "cname", "cnum")


def run(command, cwd, env=None, timeout=600):
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANSIBLE_", "OSCAR_", "PYTHON", "VIRTUAL_ENV"))
    }
    environment.update(env or {})
    done = subprocess.run(
        [str(word) for word in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, "%s:\n%s\n%s" % (command, done.stdout[-3000:], done.stderr[-3000:])
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(scratch directory, collections directory, venv bin directory, the tarball's names)."""
    scratch = tmp_path_factory.mktemp("packaging")
    run([TOOLS / "ansible-galaxy", "collection", "build", "--output-path", scratch, ROOT], cwd=ROOT)
    (tarball,) = scratch.glob("oscar-cluster-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    collections = scratch / "collections"
    run([TOOLS / "ansible-galaxy", "collection", "install", "-p", collections, tarball], cwd=scratch)
    collection = collections / "ansible_collections" / "oscar" / "cluster"
    run([TOOLS / "pip", "wheel", "--quiet", "--no-deps", "-w", scratch / "dist", collection], cwd=scratch)
    (wheel,) = (scratch / "dist").glob("oscar_cluster-*.whl")
    venv = scratch / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=scratch)
    run([venv / "bin" / "pip", "install", "--quiet", wheel], cwd=scratch)
    return scratch, collections, venv / "bin", names


def test_the_tarball_carries_the_package_sources(installed):
    names = installed[3]
    for name in ("pyproject.toml", "src/oscar_cluster/oda_cli.py", "src/oscar_cluster/c3/cli.py"):
        assert name in names, name
    assert "plugins/module_utils/oda_db.py" in names
    assert not [name for name in names if name.startswith(("build/", ".venv", "tests/unit"))]


def test_the_wheel_installs_every_command_and_no_ansible(installed):
    scratch, _collections, bin_dir, _names = installed
    for command in COMMANDS:
        assert run([bin_dir / command, "--help"], cwd=scratch).startswith("usage: %s " % command)
    listed = run([bin_dir / "pip", "list", "--format", "json"], cwd=scratch)
    assert "ansible-core" not in [package["name"] for package in json.loads(listed)]


def test_ansible_doc_and_a_module_run_from_the_installed_collection(installed):
    scratch, collections, bin_dir, _names = installed
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_LOCALHOST_WARNING": "False"}
    doc = run([TOOLS / "ansible-doc", "oscar.cluster.oda_node"], cwd=scratch, env=env)
    assert "oscar.cluster.oda_node" in doc and str(collections) in doc
    url = "sqlite:%s" % (scratch / "oda.db")
    nic = {"name": "eth0", "ip": "10.9.0.1", "network": "private"}
    for module, args in (
        ("oda_network", {"name": "private", "cidr": "10.9.0.0/24"}),
        ("oda_node", {"name": "head", "groups": ["oscar_server"], "nics": [nic]}),
    ):
        command = [TOOLS / "ansible", "localhost", "-m", "oscar.cluster." + module]
        out = run([*command, "-a", json.dumps(dict(args, database=url))], cwd=scratch, env=env)
        assert "CHANGED" in out, out
    # The installed oda reads what the installed collection's modules wrote.
    listed = run([bin_dir / "oda", "--database", url, "networks", "--format", "json"], cwd=scratch)
    networks = json.loads(listed)
    assert [network["name"] for network in networks] == ["private"]
    # And the C3 commands read ODA's nodes without ansible-core.
    c3_env = {"OSCAR_ODA_URL": url, "OSCAR_C3_CACHE": str(scratch / "c3-cache"), "OSCAR_C3_PERSIST": "0"}
    assert run([bin_dir / "clist"], cwd=scratch, env=c3_env) == "cluster oscar: direct, head head, 0 nodes\n"

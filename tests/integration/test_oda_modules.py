"""The ODA modules in real Ansible runs: ansible-playbook on localhost against an SQLite file.

One playbook defines a cluster with every module through the action group
(module_defaults); it is then run again (nothing may change), a playbook of
changes runs with --check --diff (nothing may be written) and for real, and
a playbook of bad input fails task by task with the specific messages.
Every run after the first starts from a copy of the defined cluster.
"""

import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from oscar_cluster.module_utils.oda import Oda

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "tests" / "integration" / "playbooks"
ANSIBLE_PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
ANSIBLE = ROOT / ".venv" / "bin" / "ansible"

LEASES = """\
1700000000 02:00:0a:d3:00:0b 10.211.0.111 node001 *
1700000001 02:00:0a:d3:00:0d 10.211.0.113 node003 *
1700000002 02:00:0a:d3:00:99 10.211.0.150 laptop *
"""
RECAP = re.compile(r"^localhost\s+:\s+(.*)$", re.MULTILINE)
# The bad-input playbook's cases, each rescued after failing with its message.
BAD_INPUT_CASES = 8


def ansible_env(**extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), ANSIBLE_NOCOLOR="1")
    env.pop("OSCAR_ODA_URL", None)
    env.update(extra)
    return env


def playbook(name, database, leases, *options):
    """Run a playbook from the repository root (so ansible.cfg applies): (returncode, output, recap)."""
    assert ANSIBLE_PLAYBOOK.exists(), "ansible-playbook is missing from .venv: run scripts/setup"
    command = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        str(PLAYBOOKS / "inventory" / "localhost.yml"),
        "-e",
        "oda_database=sqlite:%s" % database,
        "-e",
        "oda_leases=%s" % leases,
        *options,
        str(PLAYBOOKS / name),
    ]
    done = subprocess.run(
        command, check=False, cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=600
    )
    output = done.stdout + done.stderr
    found = RECAP.findall(done.stdout)
    assert len(found) == 1, "no PLAY RECAP in:\n%s" % output
    recap = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found[0])}
    return done.returncode, output, recap


def open_oda(path):
    """ODA on a database file, through the installed package's copy of the collection's library."""
    return Oda.open("sqlite:%s" % path)


def dump(path):
    """Every row of the database as SQL text: equal dumps mean nothing was written."""
    connection = sqlite3.connect(str(path))
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def copy_database(source, target):
    """A consistent copy of an SQLite database (WAL included), through SQLite's backup."""
    with sqlite3.connect(str(source)) as src, sqlite3.connect(str(target)) as dst:
        src.backup(dst)
    return target


@pytest.fixture(scope="module")
def leases(tmp_path_factory):
    path = tmp_path_factory.mktemp("leases") / "dnsmasq.leases"
    path.write_text(LEASES)
    return path


@pytest.fixture(scope="module")
def defined(tmp_path_factory, leases):
    """The cluster oda_cluster.yml defines on a new database: (database path, first run)."""
    database = tmp_path_factory.mktemp("oda") / "oda.db"
    return database, playbook("oda_cluster.yml", database, leases)


@pytest.fixture
def cluster_copy(defined, tmp_path):
    """A private copy of the defined cluster, for a test that writes."""
    return copy_database(defined[0], tmp_path / "oda.db")


def test_every_module_defines_the_cluster_through_the_action_group(defined):
    database, (returncode, output, recap) = defined
    assert returncode == 0, output
    assert (recap["failed"], recap["changed"]) == (0, 13), output
    oda = open_oda(database)
    try:
        nodes = {node["name"]: node for node in oda.nodes.list()}
        assert sorted(nodes) == ["gpu01", "gpu02", "head"] + ["node%03d" % n for n in range(1, 9)]
        assert nodes["node001"]["nics"][0]["mac"] == "02:00:0a:d3:00:0b"
        assert nodes["node002"]["nics"][0]["mac"] is None
        assert nodes["gpu02"]["nics"][0]["ip"] == "10.211.0.202"
        assert oda.groups.members("gpu") == ["gpu01", "gpu02"]
        assert oda.packages.get("mpich")["conflicts"] == ["openmpi"]
        assert len(oda.packages.list_statuses(package="openmpi")) == 9
        assert oda.config.get("slurm", "max_time") == 3600
        assert [step["name"] for step in oda.steps.list()] == ["survey"]
    finally:
        oda.close()


def test_a_second_run_changes_nothing(cluster_copy, leases):
    before = dump(cluster_copy)
    returncode, output, recap = playbook("oda_cluster.yml", cluster_copy, leases)
    assert returncode == 0, output
    assert (recap["failed"], recap["changed"]) == (0, 0), output
    assert dump(cluster_copy) == before


def test_check_mode_with_diff_reports_every_change_and_writes_nothing(cluster_copy, leases):
    before = dump(cluster_copy)
    returncode, output, recap = playbook("oda_changes.yml", cluster_copy, leases, "--check", "--diff")
    assert returncode == 0, output
    assert (recap["failed"], recap["changed"]) == (0, 9), output
    assert dump(cluster_copy) == before
    for shown in (
        "--- before: network private",
        "-    mtu: null\n+    mtu: 9000",
        "+++ after: nodes node[009-010]",
        "+    node009:",
        "-    excluded: false\n+    excluded: true",
        "--- before: group gpu",
        "-    max_time: 3600\n+    max_time: 7200",
        "-    arch: x86_64\n+    arch: aarch64",
    ):
        assert shown in output, "%r not in the diff output:\n%s" % (shown, output)


def test_the_changes_apply_and_a_rerun_changes_nothing(cluster_copy, leases):
    returncode, output, recap = playbook("oda_changes.yml", cluster_copy, leases)
    assert returncode == 0, output
    assert (recap["failed"], recap["changed"]) == (0, 9), output
    oda = open_oda(cluster_copy)
    try:
        assert oda.networks.get("private")["mtu"] == 9000
        assert oda.nodes.get("node003")["excluded"] is True
        assert oda.nodes.get("gpu02") is None
        assert oda.groups.get("gpu") is None
        assert oda.config.get("slurm", "max_time") == 7200
    finally:
        oda.close()
    returncode, output, recap = playbook("oda_changes.yml", cluster_copy, leases)
    assert (returncode, recap["failed"], recap["changed"]) == (0, 0, 0), output


def test_bad_input_fails_with_the_specific_message_and_writes_nothing(cluster_copy, leases):
    before = dump(cluster_copy)
    returncode, output, recap = playbook("oda_bad_input.yml", cluster_copy, leases)
    assert returncode == 0, output
    assert (recap["failed"], recap["rescued"], recap["changed"]) == (0, BAD_INPUT_CASES, 0), output
    assert dump(cluster_copy) == before
    for message in (
        "invalid MAC address '02:00:0a:d3:00:zz'",
        "address 10.211.0.1 on network 'private' is already used by head (eth1)",
        "unknown image 'sles15'",
        "unknown group 'infiniband'",
        "invalid node set 'node[011-'",
        "MAC 02:00:0a:d3:00:01 is already used by head (eth1)",
        "package 'mpich' conflicts with package 'openmpi' on node node001",
    ):
        assert "fatal: [localhost]: FAILED!" in output
        assert message in output, "%r not in:\n%s" % (message, output)
    assert "Traceback" not in output


def test_an_ad_hoc_task_fails_with_the_message_and_the_database_from_the_environment(cluster_copy):
    """No database option: the module takes OSCAR_ODA_URL; a bad node set fails the run."""
    assert ANSIBLE.exists(), "ansible is missing from .venv: run scripts/setup"
    before = dump(cluster_copy)
    env = ansible_env(OSCAR_ODA_URL="sqlite:%s" % cluster_copy)
    inventory = str(PLAYBOOKS / "inventory" / "localhost.yml")
    command = [
        str(ANSIBLE),
        "localhost",
        "-i",
        inventory,
        "-m",
        "oscar.cluster.oda_info",
        "-a",
        "query=node name=head",
    ]
    done = subprocess.run(
        command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10.211.0.1" in done.stdout
    bad = [
        *command[:-2],
        "-m",
        "oscar.cluster.oda_clients",
        "-a",
        "names=node[1-x network=private start_ip=10.211.0.50",
    ]
    done = subprocess.run(bad, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid node set 'node[1-x'" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert dump(cluster_copy) == before


@pytest.mark.parametrize("database_access", ["mariadb", "postgresql"], indirect=True)
def test_every_module_works_the_same_on_a_database_server(database_access, leases):
    """The cluster playbook on a real server, the password only in OSCAR_ODA_PASSWORD; then a rerun."""
    from oscar_dbservers import testing

    access = database_access
    env = ansible_env(OSCAR_ODA_PASSWORD=access.password)
    command = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        str(PLAYBOOKS / "inventory" / "localhost.yml"),
        "-e",
        "oda_database=%s" % access.url,
        "-e",
        "oda_leases=%s" % leases,
        str(PLAYBOOKS / "oda_cluster.yml"),
    ]
    recaps = []
    for _run in range(2):
        done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert access.password not in done.stdout + done.stderr
        recaps.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", RECAP.findall(done.stdout)[0])})
    assert [(recap["failed"], recap["changed"]) for recap in recaps] == [(0, 13), (0, 0)]
    oda = Oda.open(access.url, password=access.password)
    try:
        assert oda.groups.members("gpu") == ["gpu01", "gpu02"]
        assert oda.nodes.get("node001")["nics"][0]["mac"] == "02:00:0a:d3:00:0b"
        assert oda.config.get("slurm", "max_time") == 3600
        assert testing.integrity_problems(oda.db) == []
    finally:
        oda.close()

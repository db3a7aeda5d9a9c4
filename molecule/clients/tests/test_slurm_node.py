"""clients' Slurm on a compute node: configless slurmd with the head's munge key, restarted only when it must.

A change of the head's global settings restarts slurmctld and, on the next
run of clients, the node's slurmd, which then runs with the head's new file;
a node the head's slurm.conf does not define stops the role before it
changes anything.
"""

import os
import re
import shlex
import time

import pytest

from oscar_testbed.molecule import converge, recap, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "clients")
SLURM_CONF = "/etc/slurm/slurm.conf"
CONF_CACHE = "/run/slurm/conf/slurm.conf"
MUNGE_KEY = "/etc/munge/munge.key"


@pytest.fixture(scope="module")
def head_ip():
    return scenario_testbed(SCENARIO).plan().host("head").interface("private").ip


def main_pid(host, service):
    return int(host.check_output(f"systemctl show --property MainPID --value {service}"))


def wait_until_idle(host, name="node001", timeout=120):
    """The node's state as sinfo on host sees it, once idle or at the deadline."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = host.check_output(f"sinfo --noheader --Node --nodes {name} --format %T")
        if state == "idle":
            break
        time.sleep(2)
    return state


@pytest.mark.parametrize("service", ["slurmd", "munge"])
def test_slurmd_and_munge_run_and_start_at_boot(node, service):
    assert node.service(service).is_running
    assert node.service(service).is_enabled


def test_the_node_holds_the_heads_munge_key_for_munge_alone(node, head):
    key = node.file(MUNGE_KEY)
    assert (key.user, key.group, key.mode) == ("munge", "munge", 0o400)
    assert key.sha256sum == head.file(MUNGE_KEY).sha256sum


def test_credentials_decode_both_ways(node, head):
    for encoder, decoder in ((node, head), (head, node)):
        credential = encoder.check_output("munge --no-input")
        decoded = decoder.run(f"printf %s {shlex.quote(credential)} | unmunge")
        assert decoded.rc == 0, decoded.stdout + decoded.stderr
        assert re.search(r"^STATUS:\s+Success \(0\)$", decoded.stdout, re.MULTILINE), decoded.stdout


def test_slurmd_is_configless_under_the_nodes_oda_name(node, head, head_ip):
    assert not node.file(SLURM_CONF).exists
    assert node.file("/etc/default/slurmd").contains(
        f'^SLURMD_OPTIONS="--conf-server {re.escape(head_ip)}:6817 -N node001"$'
    )
    dropin = node.file("/etc/systemd/system/slurmd.service.d/oscar-configless.conf")
    assert dropin.contains("^ConditionPathExists=$")
    assert node.file(CONF_CACHE).sha256sum == head.file(SLURM_CONF).sha256sum


def test_the_node_is_idle_and_runs_jobs(node, head):
    """sinfo on the node itself reads the configuration slurmd fetched."""
    assert wait_until_idle(node) == "idle"
    result = head.run("timeout 120 srun --nodelist=node001 hostname")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["node001"]


@pytest.mark.parametrize(("plugin", "rank_variable"), [("pmi2", "PMI_RANK"), ("pmix", "PMIX_RANK")])
def test_slurmd_starts_mpi_tasks_with_each_plugin(head, plugin, rank_variable):
    """MPICH's pmi2 and Open MPI's pmix: slurmd's plugin hands the task its rank.

    The pmix plugin fails at slurmd's start when the PMIx library is missing
    then, and every pmix step afterwards hangs in its launch.
    """
    assert wait_until_idle(head) == "idle"
    result = head.run(f"timeout 60 srun --mpi={plugin} --nodelist=node001 printenv {rank_variable}")
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["0"]


def test_a_global_setting_restarts_slurmctld_and_then_slurmd(node, head):
    """The head restarts slurmctld; clients finds the node's copy older than the head's: slurmd restarts."""
    pids = (main_pid(head, "slurmctld"), main_pid(node, "slurmd"))
    changed = converge("-e", '{"server_slurm_extra_config": ["MaxJobCount=12345"]}')
    try:
        assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-2000:]
        assert "runs with an older slurm.conf than the head's" in changed.stdout
        assert main_pid(head, "slurmctld") != pids[0]
        assert main_pid(node, "slurmd") != pids[1]
        assert re.search(r"^MaxJobCount\s+= 12345$", head.check_output("scontrol show config"), re.MULTILINE)
        assert node.file(CONF_CACHE).sha256sum == head.file(SLURM_CONF).sha256sum
        assert node.file(CONF_CACHE).contains("^MaxJobCount=12345$")
        assert wait_until_idle(head) == "idle"
    finally:
        back = converge()
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-2000:]
    assert node.file(CONF_CACHE).sha256sum == head.file(SLURM_CONF).sha256sum
    assert not node.file(CONF_CACHE).contains("MaxJobCount")
    again = converge()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert {host: counts[1] for host, counts in recap(again.stdout).items()} == {"head": 0, "node001": 0}
    assert wait_until_idle(head) == "idle"


def test_a_node_the_heads_slurm_conf_lacks_stops_the_role_before_any_change(node, head):
    """As if the node were added to ODA without the server role run since: the head's file lacks it."""
    saved = "/root/slurm.conf.oscar-test"
    head.run_test(
        f"cp -p {SLURM_CONF} {saved} && sed -i 's/^NodeName=node001 /NodeName=node009 /' {SLURM_CONF}"
    )
    before = node.file("/etc/default/slurmd").sha256sum
    try:
        result = converge("--limit", "node001")
    finally:
        head.run_test(f"mv {saved} {SLURM_CONF}")
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert "clients_slurm needs the head's Slurm controller to know node001" in output, output[-3000:]
    assert "does not define it" in output, output[-3000:]
    assert recap(result.stdout)["node001"][1:3] == (0, 0), result.stdout[-2000:]
    assert node.file("/etc/default/slurmd").sha256sum == before

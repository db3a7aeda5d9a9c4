"""Slurm with munge: the head's slurmctld, the nodes' configless slurmd, checked by running jobs.

munge credentials made on one host decode on another; sinfo lists the nodes
idle; srun and sbatch run across both nodes; slurm.conf comes from ODA and
the nodes' facts, and only the head has one.  A change of partitions alone
reconfigures slurmctld without a restart, a node that was down comes back
idle, and a node the head cannot reach keeps its line.
"""

import os
import re
import shlex
import time
import uuid

import pytest

from oscar_testbed.molecule import connect, converge, recap, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "server")
NODES = ["node001", "node002"]
HOSTS = ["head", *NODES]
SLURM_CONF = "/etc/slurm/slurm.conf"
CONF_CACHE = "/run/slurm/conf/slurm.conf"
MUNGE_KEY = "/etc/munge/munge.key"


@pytest.fixture(scope="module")
def private():
    plan = scenario_testbed(SCENARIO).plan()
    return {name: plan.host(name).interface("private") for name in HOSTS}


@pytest.fixture(scope="module", params=NODES)
def node(request):
    return connect(request.param)


def node_states(head):
    """{node: state} as sinfo on the head reports them (state with sinfo's suffixes, e.g. idle*)."""
    lines = head.check_output("sinfo --noheader --Node --format '%N %T'").splitlines()
    return dict(line.split() for line in lines)


def wait_for_states(head, expected, timeout=120):
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        states = node_states(head)
        if states == expected:
            break
        time.sleep(2)
    return states


def scontrol_fields(host, *what):
    """scontrol show <what> -o as {Key: value}."""
    output = host.check_output("scontrol -o show " + " ".join(shlex.quote(word) for word in what))
    return dict(re.findall(r"(\S+?)=(\S*)", output))


def main_pid(host, service):
    return int(host.check_output(f"systemctl show --property MainPID --value {service}"))


# ---------------------------------------------------------------- daemons and the munge key


@pytest.mark.parametrize("service", ["slurmctld", "munge"])
def test_head_runs_the_controller_and_munge_at_boot(head, service):
    assert head.service(service).is_running
    assert head.service(service).is_enabled


@pytest.mark.parametrize("service", ["slurmd", "munge"])
def test_nodes_run_slurmd_and_munge_at_boot(node, service):
    assert node.service(service).is_running
    assert node.service(service).is_enabled


def test_every_host_holds_the_heads_munge_key_for_munge_alone():
    keys = {name: connect(name).file(MUNGE_KEY) for name in HOSTS}
    for name, key in keys.items():
        assert (key.user, key.group, key.mode) == ("munge", "munge", 0o400), name
        assert key.size >= 32, f"{name}: a munge key of {key.size} bytes"
    assert len({key.sha256sum for key in keys.values()}) == 1, {
        name: key.sha256sum for name, key in keys.items()
    }


@pytest.mark.parametrize(
    ("encoder", "decoder"), [("node001", "head"), ("node002", "head"), ("head", "node002")]
)
def test_a_munge_credential_decodes_on_another_host(encoder, decoder, private):
    credential = connect(encoder).check_output("munge --no-input")
    assert credential.startswith("MUNGE:"), credential
    decoded = connect(decoder).run(f"printf %s {shlex.quote(credential)} | unmunge")
    assert decoded.rc == 0, decoded.stdout + decoded.stderr
    assert re.search(r"^STATUS:\s+Success \(0\)$", decoded.stdout, re.MULTILINE), decoded.stdout
    # The encoding host, named by its address on the private network.
    assert re.search(
        rf"^ENCODE_HOST:\s+{encoder}\.cluster \({re.escape(private[encoder].ip)}\)$",
        decoded.stdout,
        re.MULTILINE,
    ), decoded.stdout


def test_a_tampered_credential_is_refused(head, private):
    credential = connect("node001").check_output("munge --no-input --string oscar")
    # Change one character of the payload, between the MUNGE: prefix and the final colon.
    body = credential[len("MUNGE:") : -1]
    tampered = "MUNGE:" + body[:10] + ("A" if body[10] != "A" else "B") + body[11:] + ":"
    decoded = head.run(f"printf %s {shlex.quote(tampered)} | unmunge")
    assert decoded.rc != 0, decoded.stdout


# ---------------------------------------------------------------- slurm.conf: one copy, from ODA and facts


def test_slurm_conf_names_the_cluster_the_head_and_the_settings_that_work_here(head, private):
    config = dict(re.findall(r"^(\S+)\s+= (.*)$", head.check_output("scontrol show config"), re.MULTILINE))
    assert config["ClusterName"] == "oscar"
    assert config["SlurmctldHost[0]"] == f"head({private['head'].ip})"
    assert "enable_configless" in config["SlurmctldParameters"]
    assert config["ProctrackType"] == "proctrack/linuxproc"
    # The testbed's containers lack CAP_SYS_NICE: a user's tasks cannot be bound to CPUs there.
    assert config["TaskPlugin"] == "task/none"
    assert config["ReturnToService"] == "2"
    assert config["MpiDefault"] == "pmi2"
    assert config["AuthType"] == "auth/munge"


def test_nodes_are_defined_by_oda_name_address_and_facts(head, private):
    lines = [
        line for line in head.file(SLURM_CONF).content_string.splitlines() if line.startswith("NodeName=")
    ]
    first, second = private["node001"].ip, private["node002"].ip
    prefix = first.rsplit(".", 1)[0]
    assert len(lines) == 1, "two nodes of equal hardware fold into one line: %s" % lines
    assert lines[0].startswith(
        f"NodeName=node[001-002] NodeAddr={prefix}.[{first.rsplit('.', 1)[1]}-{second.rsplit('.', 1)[1]}] "
    ), lines[0]
    for name in NODES:
        fields = scontrol_fields(head, "node", name)
        host = connect(name)
        assert fields["NodeAddr"] == private[name].ip
        assert int(fields["CPUTot"]) == int(host.check_output("nproc"))
        memory_mb = int(host.check_output("awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo"))
        assert 0.9 * memory_mb <= int(fields["RealMemory"]) <= memory_mb, (fields["RealMemory"], memory_mb)


def test_the_nodes_run_configless_with_the_heads_file(head, node, private):
    assert not node.file(SLURM_CONF).exists, "a configless node keeps no slurm.conf of its own"
    assert node.file(CONF_CACHE).sha256sum == head.file(SLURM_CONF).sha256sum
    name = node.check_output("hostname")
    assert node.file("/etc/default/slurmd").contains(
        f'^SLURMD_OPTIONS="--conf-server {re.escape(private["head"].ip)}:6817 -N {name}"$'
    )
    assert f"--conf-server {private['head'].ip}:6817 -N {name}" in node.check_output("ps -o args= -C slurmd")


# ---------------------------------------------------------------- jobs


def test_sinfo_lists_both_nodes_idle(head):
    assert wait_for_states(head, dict.fromkeys(NODES, "idle")) == dict.fromkeys(NODES, "idle")
    assert head.check_output("sinfo --noheader --format '%P %a %D %t'").split() == [
        "compute*",
        "up",
        "2",
        "idle",
    ]


def test_srun_runs_on_both_nodes(head):
    result = head.run("timeout 120 srun --nodes=2 --ntasks-per-node=1 hostname")
    assert result.rc == 0, result.stderr
    assert sorted(result.stdout.split()) == NODES


def test_sbatch_wait_runs_a_two_node_job_and_writes_its_output(head):
    """The batch script runs on the job's first node: with no shared file system, its output stays there."""
    output = f"/tmp/oscar-slurm-test-{uuid.uuid4().hex}.out"
    script = "#!/bin/sh\nsrun hostname | sort\n"
    job = head.run(
        f"printf %s {shlex.quote(script)} | timeout 180 sbatch --wait --parsable --nodes=2 --output={output}"
    )
    assert job.rc == 0, job.stdout + job.stderr
    written = {name: connect(name).file(output) for name in NODES}
    holders = [name for name, file in written.items() if file.exists]
    try:
        assert holders == ["node001"], holders
        assert written["node001"].content_string.split() == NODES
    finally:
        for name in holders:
            connect(name).run(f"rm -f {output}")


def test_srun_offers_pmi2_and_pmix_to_mpi_programs(head):
    plugins = head.check_output("srun --mpi=list")
    listed = re.findall(r"^\s+(\S+)$", plugins, re.MULTILINE)
    assert "pmi2" in listed, plugins
    assert "pmix" in listed, plugins


def test_a_node_that_was_down_comes_back_idle(head):
    """ReturnToService=2: once the node's slurmd registers again, the node is idle, whatever made it down."""
    head.run_test("scontrol update nodename=node002 state=down reason=oscar-test")
    assert node_states(head)["node002"].startswith("down"), node_states(head)
    connect("node002").run_test("systemctl restart slurmd")
    assert wait_for_states(head, dict.fromkeys(NODES, "idle")) == dict.fromkeys(NODES, "idle")


# ---------------------------------------------------------------- runs: reconfigure, restart, unreachable


def handler_output(output, name):
    """What a run printed for the server role's handler name, up to the next task or handler."""
    marker = f"RUNNING HANDLER [oscar.cluster.server : {name}]"
    assert marker in output, output[-3000:]
    return re.split(r"^(?:TASK|RUNNING HANDLER) \[", output.split(marker, 1)[1], flags=re.MULTILINE)[0]


def test_a_new_partition_name_reconfigures_without_restarting(head):
    """Partitions change with scontrol reconfigure, which also brings the nodes the head's new file."""
    before = main_pid(head, "slurmctld")
    slurmd_before = {name: main_pid(connect(name), "slurmd") for name in NODES}
    try:
        result = converge("--limit", "head", "-e", "server_slurm_partition=batch")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "changed: [head]" in handler_output(result.stdout, "Reconfigure slurmctld")
        assert "skipping: [head]" in handler_output(result.stdout, "Restart slurmctld")
        assert main_pid(head, "slurmctld") == before
        assert head.check_output("sinfo --noheader --format %P").split() == ["batch*"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(
                connect(name).file(CONF_CACHE).sha256sum == head.file(SLURM_CONF).sha256sum for name in NODES
            ):
                break
            time.sleep(1)
        for name in NODES:
            assert connect(name).file(CONF_CACHE).contains("^PartitionName=batch "), name
        assert {name: main_pid(connect(name), "slurmd") for name in NODES} == slurmd_before
    finally:
        back = converge("--limit", "head")
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-2000:]
    assert head.check_output("sinfo --noheader --format %P").split() == ["compute*"]
    assert main_pid(head, "slurmctld") == before


def test_a_node_the_head_cannot_reach_keeps_its_line(head, tmp_path):
    """node002 unreachable (its SSH port closed, as Ansible sees a node that is down): nothing changes."""
    unreachable = tmp_path / "unreachable.yml"
    unreachable.write_text("all:\n  hosts:\n    node002:\n      ansible_port: 1\n")
    before = head.file(SLURM_CONF).sha256sum
    pid = main_pid(head, "slurmctld")
    result = converge("--limit", "head", inventory=[str(unreachable)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert "Slurm: no hardware facts from node002" in output, output[-3000:]
    assert recap(result.stdout)["head"][1] == 0, result.stdout[-2000:]
    assert head.file(SLURM_CONF).sha256sum == before
    assert main_pid(head, "slurmctld") == pid


@pytest.mark.parametrize(
    ("settings", "messages"),
    [
        (
            '{"server_slurm_partition": "my partition"}',
            ["server_slurm_partition a Slurm partition name", '"my partition"'],
        ),
        (
            '{"server_slurm_extra_config": ["SchedulerParameters=bf_continue", "NodeName=node009 CPUs=4"]}',
            ["that leave NodeName, SlurmctldHost, ClusterName", '["NodeName=node009 CPUs=4"]'],
        ),
        ('{"server_slurm_extra_config": ["MaxJobCount 5"]}', ['(not such lines: ["MaxJobCount 5"])']),
        ('{"server_slurm_mpi_default": "openmpi"}', ["server_slurm_mpi_default", "openmpi"]),
    ],
)
def test_bad_slurm_settings_stop_the_role_before_any_change(head, settings, messages):
    before = head.file(SLURM_CONF).sha256sum
    result = converge("--limit", "head", "-e", settings)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    assert recap(result.stdout)["head"][1:] == (0, 0, 1), result.stdout[-2000:]
    assert head.file(SLURM_CONF).sha256sum == before

"""Blank virtual machines become cluster nodes: network boot, MAC collection, install to disk, site.yml.

One testbed: the head (a container) and two QEMU virtual machines with empty
disks on the private network.  site.yml runs the wizard (all but Test Cluster
Setup, which the nodes' own checks below stand for): the head's services, the
image, "Define the clients" (two nodes without MACs), "Set up networking" (the
machines are powered on while it waits, each once the head heard the one
before, so each MAC goes to the next node in that order), the installs, then
"Complete the cluster setup" configures the installed nodes like any other.
While the wizard waits, one machine's power is cut in the middle of its
install and it is powered on again: it reinstalls cleanly, the wizard
completes, and ODA keeps where the cut attempt stopped.  Then: the nodes run
from their own disks, know each other's host keys, answer cexec and run a
Slurm job; the boot service refuses bad reports.  The tests of this module
depend on each other, in order.
"""

import itertools
import json
import re
import subprocess
import time

import pytest
from testbed_helpers import ROOT, VENV_BIN, PlaybookRun, oda_env, playbook_env, podman_objects

NAME = "it-pxe"
NODES = ["node001", "node002"]
SITE_TIMEOUT = 3600
INSTALL_TIMEOUT = 1200
STAGES = ["booted", "partitioned", "formatted", "copied", "configured", "bootloader", "installed"]
# The node whose machine loses power in the middle of its install, and the
# stages during which it is cut: its disk is partitioned, the copy under way.
CUT_NODE = "node002"
CUT_STAGES = ["formatted", "copied"]
# Source ports only root may bind, as the installer does: a new one per
# request, as a port just used towards the head is in TIME_WAIT for a while.
ROOT_PORTS = itertools.count(700)
HOST_KEYS_DIR = "/var/lib/oscar/host-keys"


class Bed:
    """The testbed, its ODA and what the tests ask of them."""

    def __init__(self, cli, url):
        self.cli = cli
        self.url = url
        self.status = cli.status(NAME)
        self.vms = {vm["name"]: vm for vm in self.status["vms"]}
        assert len(self.vms) == len(NODES), self.status
        head = next(host for host in self.status["hosts"] if host["role"] == "head")
        self.head_ip = head["interfaces"]["private"]["ip"]
        self.subnet_base = self.head_ip.rsplit(".", 1)[0]

    def vm(self, verb, name, *args, check=True, timeout=900):
        return self.cli("--name", NAME, "vm", verb, name, *args, check=check, timeout=timeout)

    def head(self, command, check=False):
        return self.cli("--name", NAME, "ssh", "head", command, check=check)

    def oda(self, *args):
        result = subprocess.run(
            [str(VENV_BIN / "oda"), *args], capture_output=True, text=True, env=oda_env(self.url), check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def node(self, name):
        return json.loads(self.oda("node", "list", name, "--format", "json"))[0]

    def history(self, name):
        """The node's accepted reports, oldest first: [{attempt, stage, detail, at}]."""
        return json.loads(self.oda("node", "history", name, "--format", "json"))["history"]

    def node_ssh(self, name, command, timeout=120):
        """A command on an installed node, over SSH with the testbed's key, from the controller."""
        return subprocess.run(
            ["ssh", "-F", self.status["ssh_config"], self.node(name)["nics"][0]["ip"], command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def wait_stage(self, name, stages, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stage = self.node(name).get("install_stage")
            if stage in stages:
                return stage
            time.sleep(2)
        pytest.fail("%s did not reach %s in %d s (at %s)" % (name, stages, timeout, stage))


@pytest.fixture(scope="module")
def bed(cli, tmp_path_factory):
    url = f"sqlite:{tmp_path_factory.mktemp('pxe-oda') / 'oda.db'}"
    cli("--name", NAME, "up", "--nodes", "0", "--vms", str(len(NODES)), "--oda", url, timeout=1200)
    yield Bed(cli, url)
    cli("--name", NAME, "down", check=False)
    assert podman_objects(NAME) == [], "testbed objects left behind"


def _wait_output(log_path, pattern, process, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, log_path.read_text(errors="replace")):
            return True
        if process.poll() is not None:
            return False
        time.sleep(3)
    return False


def _cut_mid_install(bed, machine):
    """Cut the machine's power once CUT_NODE is in the middle of its install, then power it on: ODA then."""
    stage = bed.wait_stage(CUT_NODE, CUT_STAGES, INSTALL_TIMEOUT)
    bed.cli("--name", NAME, "vm", "kill", machine)
    cut = bed.node(CUT_NODE)
    bed.cli("--name", NAME, "vm", "start", machine)
    return {"stage": stage, "node": cut}


@pytest.fixture(scope="module")
def first_run(bed, tmp_path_factory):
    """site.yml as the tests' docstring says; (its run, MAC heard per node, ODA's record of the cut node)."""
    definitions = [{"names": "node[001-002]", "start_ip": bed.subnet_base + ".11", "image": "debian12"}]
    log_path = tmp_path_factory.mktemp("pxe-site") / "site.log"
    vm_names = sorted(bed.vms)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "ansible-playbook"),
                "site.yml",
                "-i",
                "oscar_inventory",
                "--skip-tags",
                "test_cluster",
                "-e",
                json.dumps({"oscar_client_definitions": definitions}),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=playbook_env(bed.url),
        )
        started = time.monotonic()
        heard = []
        cut = None
        try:
            # Powered on only when the head listens for them (emulated
            # machines retrying PXE would slow the image build down), each
            # once the head heard the one before.
            if _wait_output(log_path, r"Wait for a DHCP request from a machine", process, SITE_TIMEOUT):
                bed.cli("--name", NAME, "vm", "start", "--in-dhcp-order", *vm_names, timeout=900)
                heard = [bed.vms[name]["mac"] for name in vm_names]
                cut = _cut_mid_install(bed, vm_names[NODES.index(CUT_NODE)])
            process.wait(timeout=SITE_TIMEOUT - (time.monotonic() - started))
        finally:
            if process.poll() is None:
                process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, log_path.read_text(), "")
    return PlaybookRun(result), dict(zip(NODES, heard, strict=False)), cut


def test_site_installs_the_blank_machines_and_configures_them(bed, first_run):
    run = first_run[0]
    assert run.rc == 0, run.tail(150)
    assert set(run.recap) >= {"head", *NODES}, run.tail()
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in run.recap.values()), run.tail(150)


def test_macs_went_to_the_nodes_in_the_order_the_machines_were_heard(bed, first_run):
    order = first_run[1]
    assert len(order) == len(NODES)
    for name, mac in order.items():
        assert [nic["mac"] for nic in bed.node(name)["nics"]] == [mac]


def test_oda_says_installed_with_every_stage_in_order(bed, first_run):
    for name in NODES:
        node = bed.node(name)
        assert (node["boot_action"], node["install_stage"]) == ("local", "installed"), node
        history = bed.history(name)
        last = [event["stage"] for event in history if event["attempt"] == history[-1]["attempt"]]
        assert last == STAGES, history
    listing = bed.oda("nodes")
    assert all(re.search(r"%s\b.*installed" % name, listing) for name in NODES), listing


def test_the_nodes_run_from_their_own_disks(bed, first_run):
    for name in NODES:
        answer = bed.node_ssh(name, "hostname; findmnt -n -o SOURCE,FSTYPE /; cat /proc/cmdline")
        assert answer.returncode == 0, answer.stderr
        hostname, root, cmdline = answer.stdout.splitlines()[:3]
        assert hostname == name
        assert re.fullmatch(r"/dev/vda\d+ ext4", root), root
        assert "boot=oscar" not in cmdline and "console=ttyS0" in cmdline, cmdline


def test_cexec_and_slurm_reach_the_installed_nodes(bed, first_run):
    cexec = bed.head("cexec hostname")
    assert cexec.returncode == 0, cexec.stdout + cexec.stderr
    assert all(name in cexec.stdout for name in NODES), cexec.stdout
    job = bed.head(f"timeout 180 srun --nodes {len(NODES)} --ntasks-per-node 1 hostname")
    assert job.returncode == 0, job.stdout + job.stderr
    assert sorted(job.stdout.split()) == NODES, job.stdout


def _post(bed, body, source="head", as_root=True):
    """A report sent from the head (no node) or from an installed node: from a port below 1024 as root."""
    source_port = next(ROOT_PORTS) if as_root and source != "head" else 0
    command = (
        "python3 -c 'import sys, http.client\n"
        'c = http.client.HTTPConnection(sys.argv[1], 80, timeout=20, source_address=("", int(sys.argv[3])))\n'
        'c.request("POST", "/oscar/api/v1/report", body=sys.argv[2].encode(),\n'
        '    headers={"Content-Type": "application/json"})\n'
        "r = c.getresponse(); print(r.status, r.read().decode())' "
        "%s '%s' %d" % (bed.head_ip, body, source_port)
    )
    if source == "head":
        answer = bed.head(command)
        text = answer.stdout
    else:
        answer = bed.node_ssh(source, command)
        text = answer.stdout
    status, _space, payload = text.strip().partition(" ")
    return int(status), payload


def test_the_report_service_refuses_bad_requests(bed, first_run):
    before = {name: bed.history(name) for name in NODES}
    # Not a node: the head itself.
    assert _post(bed, '{"stage": "booted"}')[0] == 403
    # A node, but not its root: a source port any user may bind.
    status, payload = _post(bed, '{"stage": "booted"}', source="node001", as_root=False)
    assert status == 403 and "privileged source port" in payload, payload
    # Malformed, or naming another node, from a node.
    assert _post(bed, "{not json", source="node001")[0] == 400
    status, payload = _post(bed, '{"stage": "booted", "node": "node002"}', source="node001")
    assert status == 400 and "unknown fields" in payload, payload
    # Oversized: nginx stops it before the service.
    assert _post(bed, '{"stage": "failed", "detail": "%s"}' % ("x" * 6000), source="node001")[0] == 413
    # An installed node is not being installed: nothing to report.
    assert _post(bed, '{"stage": "booted"}', source="node001")[0] == 403
    # Being installed, a stage that is not the next one.
    bed.oda("node", "modify", "node001", "--boot", "install")
    try:
        status, payload = _post(bed, '{"stage": "copied"}', source="node001")
        assert status == 409, payload
    finally:
        bed.oda("node", "modify", "node001", "--boot", "local")
    assert {name: bed.history(name) for name in NODES} == before


def test_the_machine_cut_mid_install_reinstalled_at_its_next_boot(bed, first_run):
    cut = first_run[2]
    assert cut is not None, "the machine was not cut"
    # Right after the cut: still to be installed, stopped where it was.
    assert (cut["node"]["boot_action"], cut["node"]["install_stage"]) == ("install", cut["stage"]), cut
    attempts = {}
    for event in bed.history(CUT_NODE):
        attempts.setdefault(event["attempt"], []).append(event["stage"])
    assert len(attempts) == 2, attempts
    cut_attempt, last_attempt = sorted(attempts)
    assert attempts[cut_attempt] == STAGES[: STAGES.index(cut["stage"]) + 1], attempts
    assert attempts[last_attempt] == STAGES, attempts
    # The other machine installed once.
    assert {event["attempt"] for event in bed.history("node001")} == {1}


def test_the_nodes_know_each_others_host_keys(bed, first_run):
    """Keys the head made for the nodes before they installed: the head and the nodes know them, no prompt."""
    strict = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes"
    for name in NODES:
        answer = bed.head(f"{strict} {name} hostname")
        assert (answer.returncode, answer.stdout.strip()) == (0, name), answer.stdout + answer.stderr
    answer = bed.node_ssh("node001", f"{strict} node002 hostname && {strict} head hostname")
    assert (answer.returncode, answer.stdout.split()) == (0, ["node002", "head"]), (
        answer.stdout + answer.stderr
    )


def _host_keys(bed, name):
    """{key file: public key} of the node as it serves them, and as the head keeps them for it."""
    on_node = bed.node_ssh(name, "cat /etc/ssh/ssh_host_*_key.pub")
    assert on_node.returncode == 0, on_node.stderr
    on_head = bed.head(f"cat {HOST_KEYS_DIR}/{name}/ssh_host_*_key.pub")
    assert on_head.returncode == 0, on_head.stdout + on_head.stderr
    return sorted(on_node.stdout.splitlines()), sorted(on_head.stdout.splitlines())


def test_the_nodes_host_keys_are_the_ones_the_head_keeps_for_them(bed, first_run):
    seen = set()
    for name in NODES:
        on_node, on_head = _host_keys(bed, name)
        assert on_node == on_head and len(on_node) == 3, (on_node, on_head)
        assert all(line.endswith(" root@" + name) for line in on_node), on_node
        seen.update(on_node)
    assert len(seen) == 3 * len(NODES), "two nodes share a key"
    mode = bed.head(f"stat -c %a {HOST_KEYS_DIR} {HOST_KEYS_DIR}/node001/ssh_host_ed25519_key")
    assert mode.stdout.split() == ["700", "600"], mode.stdout + mode.stderr


def test_a_reinstalled_node_keeps_its_host_keys_and_nobody_needs_to_forget_it(bed, first_run):
    """node001 reinstalled from scratch: the head's known hosts, unchanged, still trust it."""
    before, _kept = _host_keys(bed, "node001")
    known = bed.head("sha256sum /etc/ssh/ssh_known_hosts").stdout
    bed.oda("node", "modify", "node001", "--boot", "install")
    bed.node_ssh("node001", "systemctl reboot", timeout=30)
    # The new attempt's last stage, then the installed disk's sshd.
    deadline = time.monotonic() + INSTALL_TIMEOUT
    while time.monotonic() < deadline:
        history = bed.history("node001")
        if history[-1]["attempt"] == 2 and history[-1]["stage"] in ("installed", "failed"):
            break
        time.sleep(5)
    assert (history[-1]["attempt"], history[-1]["stage"]) == (2, "installed"), history
    strict = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=5"
    answer = None
    while time.monotonic() < deadline:
        answer = bed.head(f"{strict} node001 hostname")
        if answer.returncode == 0:
            break
        # Refused for a changed key would say so: no point waiting then.
        assert "HOST IDENTIFICATION HAS CHANGED" not in answer.stderr, answer.stderr
        time.sleep(5)
    assert (answer.returncode, answer.stdout.strip()) == (0, "node001"), answer.stdout + answer.stderr
    assert bed.head("sha256sum /etc/ssh/ssh_known_hosts").stdout == known
    after, _kept = _host_keys(bed, "node001")
    assert after == before

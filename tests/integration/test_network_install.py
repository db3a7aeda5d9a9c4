"""Blank virtual machines become cluster nodes: network boot, MAC collection, install to disk, site.yml.

One testbed: the head (a container) and two QEMU virtual machines with empty
disks on the private network.  site.yml runs the whole wizard: the head's
services, the image, "Define the clients" (two nodes without MACs), "Set up
networking" (the machines are powered on while it waits; each MAC goes to the
next node in the order the machines are first heard), the installs, then
"Complete the cluster setup" configures the installed nodes like any other.
Then: the nodes boot from their own disks, answer cexec and run a Slurm job;
the boot service refuses bad reports; a machine whose power is cut in the
middle of its reinstall installs cleanly at its next boot, and ODA keeps where
the cut attempt stopped.  The tests of this module depend on each other, in order.
"""

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
        return json.loads(self.oda("node", "history", name, "--format", "json"))

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


@pytest.fixture(scope="module")
def first_run(bed, tmp_path_factory):
    """site.yml, with the machines powered on one after the other once the head waits for them."""
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
        try:
            # Powered on only when the head listens for them: emulated
            # machines retrying PXE would slow the image build down.
            if _wait_output(log_path, r"Wait for a DHCP request from a machine", process, SITE_TIMEOUT):
                for name in vm_names:
                    bed.vm("start", name)
                    mac = bed.vms[name]["mac"]
                    deadline = time.monotonic() + 300
                    while (
                        time.monotonic() < deadline
                        and mac not in bed.head("journalctl -u dnsmasq -o cat --no-pager").stdout
                    ):
                        time.sleep(3)
                    heard.append(mac)
            process.wait(timeout=SITE_TIMEOUT - (time.monotonic() - started))
        finally:
            if process.poll() is None:
                process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, log_path.read_text(), "")
    return PlaybookRun(result), dict(zip(NODES, heard, strict=False))


def test_site_installs_the_blank_machines_and_configures_them(bed, first_run):
    run, _order = first_run
    assert run.rc == 0, run.tail(150)
    assert set(run.recap) >= {"head", *NODES}, run.tail()
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in run.recap.values()), run.tail(150)


def test_macs_went_to_the_nodes_in_the_order_the_machines_were_heard(bed, first_run):
    _run, order = first_run
    assert len(order) == len(NODES)
    for name, mac in order.items():
        assert [nic["mac"] for nic in bed.node(name)["nics"]] == [mac]


def test_oda_says_installed_with_every_stage_in_order(bed, first_run):
    for name in NODES:
        node = bed.node(name)
        assert (node["boot_action"], node["install_stage"]) == ("local", "installed"), node
        events = [event for event in bed.history(name) if event["attempt"] == 1]
        assert [event["stage"] for event in events] == STAGES, events
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


def _post(bed, name, body, source="head"):
    """A report sent from the head (no node) or from an installed node, with curl or python."""
    command = (
        "python3 -c 'import sys, urllib.request, urllib.error\n"
        'req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",\n'
        '    headers={"Content-Type": "application/json"})\n'
        "try:\n    r = urllib.request.urlopen(req, timeout=20); print(r.status, r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())' "
        "http://%s/oscar/api/v1/report '%s'" % (bed.head_ip, body)
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
    assert _post(bed, None, '{"stage": "booted"}')[0] == 403
    # Malformed, or naming another node, from a node.
    assert _post(bed, None, "{not json", source="node001")[0] == 400
    status, payload = _post(bed, None, '{"stage": "booted", "node": "node002"}', source="node001")
    assert status == 400 and "unknown fields" in payload, payload
    # Oversized: nginx stops it before the service.
    assert _post(bed, None, '{"stage": "failed", "detail": "%s"}' % ("x" * 6000), source="node001")[0] == 413
    # An installed node is not being installed: nothing to report.
    assert _post(bed, None, '{"stage": "booted"}', source="node001")[0] == 403
    # Being installed, a stage that is not the next one.
    bed.oda("node", "modify", "node001", "--boot", "install")
    try:
        status, payload = _post(bed, None, '{"stage": "copied"}', source="node001")
        assert status == 409, payload
    finally:
        bed.oda("node", "modify", "node001", "--boot", "local")
    assert {name: bed.history(name) for name in NODES} == before


def test_a_machine_cut_mid_install_reinstalls_at_its_next_boot(bed, first_run):
    name = "node002"
    vm_name = next(vm for vm, info in bed.vms.items() if info["mac"] == first_run[1][name])
    bed.oda("node", "modify", name, "--boot", "install")
    bed.node_ssh(name, "systemctl reboot", timeout=30)
    stage = bed.wait_stage(name, ["formatted", "copied"], INSTALL_TIMEOUT)
    bed.vm("kill", vm_name)
    cut = bed.node(name)
    assert cut["boot_action"] == "install" and cut["install_stage"] == stage, cut
    bed.vm("start", vm_name)
    bed.wait_stage(name, ["installed"], INSTALL_TIMEOUT)
    attempts = {}
    for event in bed.history(name):
        attempts.setdefault(event["attempt"], []).append(event["stage"])
    last = max(attempts)
    assert attempts[last] == STAGES, attempts
    assert attempts[last - 1][-1] == stage, attempts
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        answer = bed.node_ssh(name, "hostname; findmnt -n -o SOURCE /", timeout=30)
        if answer.returncode == 0:
            break
        time.sleep(5)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split()[0] == name and answer.stdout.split()[1].startswith("/dev/vda")

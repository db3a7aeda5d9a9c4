"""Network installation: time per node from power-on to installed, against a bare PXE boot of the same kernel.

One testbed: a head (a container) and blank QEMU machines with empty disks on
the private network (emulated, TCG, unless OSCAR_TESTBED_ACCEL=kvm).  Before
anything is measured, site.yml's server, image, "Define the clients" and "Set
up networking" steps set the head up, build the image with its boot artifacts,
define one node per machine and install them once (each machine powered on
when the head waits for it).  Then, side by side in one run, for one machine
alone and for every machine at once:

- install: ODA's boot action `install`, a new empty disk, power on; the time to
  ODA's stage `installed` (partitioned, formatted, copied, configured, boot
  loader), and the bytes nginx sent each node for it (from the head's access
  log of the network boot site);
- bare PXE boot of the same kernel, initrd and root: boot action `stateless`,
  power on to the login prompt (the install's network boot, without the install);
- boot from the installed disk: boot action `local`, power on to the login prompt.

The ratios are install (to `installed`) over the bare PXE boot.

Run: .venv/bin/python benchmarks/network_install.py [--vms 2]
Results: benchmarks/results/network-install.{json,md}
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"
NAME = "bench-pxe"
IMAGE = "debian12"
ACCESS_LOG = "/var/log/nginx/oscar-network-boot.log"
LOGIN = r"login:"
STEP_TIMEOUT = 1800
# What `testbed vm start` gives a machine unless told otherwise (tools/oscar_testbed/vm.py).
DEFAULT_MEMORY_MIB = 2048
# One line of the network boot site's access log (roles/network_boot's log_format).
ACCESS_LINE = re.compile(r'^\S+ (?P<addr>\S+) "[^"]*" (?P<status>\d{3}) (?P<bytes>\d+) \S+$')


def testbed(*args, check=True, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"))
    result = subprocess.run(
        [sys.executable, "-m", "oscar_testbed", "--name", NAME, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise SystemExit("testbed %s failed:\n%s%s" % (" ".join(args), result.stdout, result.stderr))
    return result


def oda(url, *args):
    result = subprocess.run(
        [str(VENV_BIN / "oda"), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, OSCAR_ODA_URL=url),
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit("oda %s failed:\n%s" % (" ".join(args), result.stderr))
    return result.stdout


def node_record(url, name):
    return json.loads(oda(url, "node", "list", name, "--format", "json"))[0]


def head_access_log():
    return testbed("ssh", "head", "cat " + ACCESS_LOG).stdout.splitlines()


def bytes_by_address(lines):
    sent = {}
    for line in lines:
        match = ACCESS_LINE.match(line)
        if match and match["status"] in ("200", "206"):
            sent[match["addr"]] = sent.get(match["addr"], 0) + int(match["bytes"])
    return sent


def install_once(url, machines):
    """site.yml up to "Set up networking", each machine powered on once the head listens for it."""
    definitions = [{"names": vm["name"], "start_ip": vm["expected_ip"], "image": IMAGE} for vm in machines]
    env = dict(os.environ, OSCAR_ODA_URL=url, ANSIBLE_NOCOLOR="1")
    with tempfile.NamedTemporaryFile("w+", prefix="bench-pxe-site-", suffix=".log") as log:
        process = subprocess.Popen(
            [
                str(VENV_BIN / "ansible-playbook"),
                "site.yml",
                "-i",
                "oscar_inventory",
                "--tags",
                "install_server,build_image,define_clients,setup_networking",
                "-e",
                json.dumps({"oscar_client_definitions": definitions}),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        started = time.monotonic()
        while process.poll() is None and "Wait for a DHCP request" not in Path(log.name).read_text():
            if time.monotonic() - started > STEP_TIMEOUT:
                process.kill()
            time.sleep(3)
        if process.poll() is None:
            testbed("vm", "start", "--in-dhcp-order", *[vm["name"] for vm in machines])
        process.wait(timeout=STEP_TIMEOUT)
        if process.returncode != 0:
            raise SystemExit("site.yml failed:\n" + Path(log.name).read_text()[-6000:])
        return round(time.monotonic() - started, 1)


def power_off(vm):
    testbed("vm", "kill", vm["name"], check=False)


def boot_round(url, machines, action, blank_disks=False):
    """Power the machines on at once with a boot action; seconds to installed (install) and to login."""
    for vm in machines:
        power_off(vm)
        if blank_disks:
            testbed("vm", "blank", vm["name"])
    oda(url, "node", "modify", ",".join(vm["name"] for vm in machines), "--boot", action)
    log_before = len(head_access_log())
    started = {}
    for vm in machines:
        testbed("vm", "start", vm["name"])
        started[vm["name"]] = time.monotonic()
    outcome = {vm["name"]: {} for vm in machines}
    if action == "install":
        waiting = {vm["name"] for vm in machines}
        deadline = time.monotonic() + STEP_TIMEOUT
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                stage = node_record(url, name)["install_stage"]
                if stage in ("installed", "failed"):
                    if stage == "failed":
                        history = oda(url, "node", "history", name)
                        raise SystemExit("%s failed its install:\n%s" % (name, history))
                    outcome[name]["installed_s"] = round(time.monotonic() - started[name], 1)
                    waiting.discard(name)
            time.sleep(1)
        if waiting:
            raise SystemExit("not installed in %d s: %s" % (STEP_TIMEOUT, sorted(waiting)))
    if action != "install":
        # Not after an install: the installer's own system prints a login prompt too, before the
        # machine reboots into its disk, and a console since power-on cannot tell the two apart.
        for vm in machines:
            testbed(
                "vm", "wait", vm["name"], "--pattern", LOGIN, "--since-start", "--timeout", str(STEP_TIMEOUT)
            )
            outcome[vm["name"]]["login_s"] = round(time.monotonic() - started[vm["name"]], 1)
    sent = bytes_by_address(head_access_log()[log_before:])
    for vm in machines:
        outcome[vm["name"]]["bytes_sent"] = sent.get(vm["expected_ip"], 0)
    if action != "local":
        oda(url, "node", "modify", ",".join(vm["name"] for vm in machines), "--boot", "local")
    return outcome


def measure(url, machines):
    rounds = {}
    groups = [("one machine alone", machines[:1])]
    if len(machines) > 1:
        groups.append(("%d at once" % len(machines), machines))
    for label, group in groups:
        rounds[label] = {
            "install": boot_round(url, group, "install", blank_disks=True),
            "stateless": boot_round(url, group, "stateless"),
            "local": boot_round(url, group, "local"),
        }
    return rounds


def mean(values):
    return round(sum(values) / len(values), 1)


def report(results):
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "network-install.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Network installation: power-on to installed, against a bare PXE boot of the same kernel",
        "",
        "Machine: %s. One run, made by `benchmarks/network_install.py`; QEMU %s, one vCPU and %s MiB per "
        "machine; image %s, squashfs root of %s MiB. Setup (server, image, first install of every machine "
        "through site.yml): %s s, not counted below."
        % (
            results["machine"],
            results["accel"],
            results["memory_mib"],
            IMAGE,
            results["root_mib"],
            results["setup_seconds"],
        ),
        "",
        "| machines | install: power-on to `installed` (s) "
        "| bare PXE boot, same kernel, to login (s) | boot from disk to login (s) "
        "| install / bare PXE boot | MiB sent per install |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, rounds in results["rounds"].items():
        installed = mean([node["installed_s"] for node in rounds["install"].values()])
        stateless = mean([node["login_s"] for node in rounds["stateless"].values()])
        local = mean([node["login_s"] for node in rounds["local"].values()])
        sent = mean([node["bytes_sent"] / 2**20 for node in rounds["install"].values()])
        lines.append(
            "| %s | %s | %s | %s | %.2f | %s |"
            % (label, installed, stateless, local, installed / stateless, sent)
        )
    lines += [
        "",
        "Times are per machine (the mean when several power on at once), from `vm start` to ODA's stage "
        "or to the console's login prompt. Bytes are what nginx logged as sent to the machine's address "
        "during the round: the iPXE script, kernel, initrd and squashfs root (the install copies the root "
        "from the squashfs it booted, so nothing is fetched twice).",
        "",
        *results.get("notes", []),
    ]
    (RESULTS / "network-install.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=2, help="blank machines (at most 2 on 2 cores)")
    parser.add_argument("--keep", action="store_true", help="leave the testbed up afterwards")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="oscar-bench-pxe-"))
    url = "sqlite:%s" % (workdir / "oda.db")
    started = time.monotonic()
    testbed("up", "--nodes", "0", "--vms", str(args.vms), "--oda", url, timeout=1200)
    try:
        status = json.loads(testbed("status", "--json").stdout)
        machines = sorted(status["vms"], key=lambda vm: vm["name"])
        install_once(url, machines)
        setup_seconds = round(time.monotonic() - started, 1)
        versions = json.loads(oda(url, "image", "versions", IMAGE, "--format", "json"))
        version = next(version for version in versions if version["current"])
        root_bytes = testbed(
            "ssh",
            "head",
            "stat -c %%s /var/lib/oscar/images/%s/boot/%s/root.squashfs" % (IMAGE, version["version"]),
        ).stdout.strip()
        results = {
            "machine": "%d cores, %s, kernel %s" % (os.cpu_count(), platform.machine(), platform.release()),
            "accel": os.environ.get("OSCAR_TESTBED_ACCEL", "tcg"),
            "memory_mib": DEFAULT_MEMORY_MIB,
            "root_mib": round(int(root_bytes) / 2**20),
            "setup_seconds": setup_seconds,
            "rounds": measure(url, machines),
        }
        report(results)
    finally:
        if not args.keep:
            testbed("down", check=False)


if __name__ == "__main__":
    main()

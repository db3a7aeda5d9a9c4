"""The ``testbed`` command: bring test clusters up and down, and break them.

Exit status: 0 on success, 2 for a command line that does not parse, and the
error's own code (see errors.py) when the testbed refuses or fails.
"""

import argparse
import json
import os
import sys

from oscar_testbed import host, image, testbed, vm
from oscar_testbed.errors import TestbedError

HOST_VERBS = {
    "stop": "stop a host cleanly (systemd shuts down)",
    "start": "start a stopped or killed host and wait until it is up",
    "kill": "kill a host at once (SIGKILL), as a power cut",
    "pause": "freeze every process of a host, as a hung node",
    "unpause": "thaw a paused host",
    "forget-apt-index": "make a host look just installed to APT: no package lists, their directory new",
}


def add_release_option(parser):
    parser.add_argument(
        "--release",
        choices=image.SUITES,
        default=image.DEFAULT_SUITE,
        help="Debian release of the hosts, by suite name: bookworm (Debian 12) or trixie "
        "(Debian 13) (default: %(default)s)",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="testbed",
        description=(
            "Real test hosts for oscar.cluster: podman containers running systemd and sshd, "
            "wired as an OSCAR cluster (head on a public and a private network, compute nodes "
            "on the private network), reached over SSH."
        ),
        epilog="The testbed name defaults to $OSCAR_TESTBED_NAME, else 'oscar'.",
    )
    parser.add_argument("--name", default=None, help="testbed name (default: %(default)s)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    up = verbs.add_parser("up", help="create a testbed and wait until every host is up")
    up.add_argument("--nodes", type=int, default=4, help="compute nodes (default: %(default)s)")
    up.add_argument(
        "--vms",
        type=int,
        default=0,
        help="blank QEMU machines after the compute nodes, booting from the private network "
        "(default: %(default)s; see `testbed vm --help`)",
    )
    up.add_argument(
        "--vm-disk-size",
        default=testbed.DEFAULT_VM_DISK_SIZE,
        metavar="SIZE",
        help="size of each machine's empty disk (default: %(default)s)",
    )
    up.add_argument("--standby", action="store_true", help="add a standby head node")
    up.add_argument(
        "--route-out",
        action="store_true",
        help="give the private network a route out (for roles tested on their own)",
    )
    up.add_argument(
        "--timeout",
        type=int,
        default=testbed.DEFAULT_BOOT_TIMEOUT,
        help="seconds to wait for the hosts (default: %(default)s)",
    )
    up.add_argument("--rebuild-image", action="store_true", help="rebuild the node image first")
    add_release_option(up)
    up.add_argument(
        "--oda",
        metavar="URL",
        default=None,
        help="ODA database to register the hosts in, read by oscar_inventory "
        "(default: $OSCAR_ODA_URL, else a database in the testbed's state directory)",
    )

    verbs.add_parser("down", help="remove every container, network and file of a testbed")
    verbs.add_parser("list", help="list the testbeds on this machine")
    status = verbs.add_parser("status", help="show the hosts of a testbed and their state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    verbs.add_parser("inventory", help="print the path of the testbed's Ansible inventory")
    verbs.add_parser("ssh-config", help="print the path of the testbed's ssh_config")

    ssh = verbs.add_parser("ssh", help="run a command on a host over SSH (or log in)")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)

    for verb, text in HOST_VERBS.items():
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("host")
    for verb, text in (
        ("disconnect", "cut a host off its networks (or one of them)"),
        ("reconnect", "put a host back on its networks with its planned addresses"),
    ):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("host")
        sub.add_argument("--network", choices=("public", "private"), default=None)

    add_vm_parser(verbs)
    verbs.add_parser(
        "prerequisites",
        help="install the programs the testbed needs (podman, runc, debootstrap..., "
        "and QEMU, iPXE and OVMF for its virtual machines)",
    )
    img = verbs.add_parser("image", help="build the node image if its recipe changed")
    img.add_argument("--rebuild", action="store_true", help="build it even if it exists")
    add_release_option(img)
    verbs.add_parser("clean-images", help="remove the cached node images")
    return parser


def add_vm_parser(verbs):
    machines = verbs.add_parser(
        "vm",
        help="start, stop, kill, wipe and watch the testbed's virtual machines",
        description=(
            "The testbed's blank QEMU machines (up --vms N), on its private network: they boot "
            "from the network, then from their disk.  QEMU emulates (TCG) unless "
            f"${vm.ACCEL_ENV}=kvm.  Each machine's serial console is appended to its console log."
        ),
    )
    actions = machines.add_subparsers(dest="vm_verb", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="power machines on, in the order given")
    start.add_argument("machine", nargs="+")
    start.add_argument(
        "--in-dhcp-order",
        action="store_true",
        help="after powering each machine on, wait until the head's dnsmasq has logged a DHCP request "
        "from its MAC before the next: site.yml gives collected MACs to the defined nodes in the order "
        "the head first heard them",
    )
    start.add_argument(
        "--heard-timeout",
        type=int,
        default=vm.DEFAULT_HEARD_TIMEOUT,
        metavar="SECONDS",
        help="with --in-dhcp-order, how long to wait for each machine (default: %(default)s)",
    )
    start.add_argument("--uefi", action="store_true", help="UEFI firmware (OVMF) instead of BIOS")
    start.add_argument(
        "--memory",
        type=int,
        default=vm.DEFAULT_MEMORY_MIB,
        metavar="MIB",
        help="RAM in MiB (default: %(default)s)",
    )
    stop = actions.add_parser("stop", help="press the power button (ACPI); kill after a timeout")
    stop.add_argument("machine")
    stop.add_argument(
        "--timeout",
        type=int,
        default=vm.DEFAULT_STOP_TIMEOUT,
        help="seconds before the machine is killed (default: %(default)s)",
    )
    kill = actions.add_parser("kill", help="cut the power at once (SIGKILL)")
    kill.add_argument("machine")
    blank = actions.add_parser("blank", help="give a stopped machine a fresh empty disk")
    blank.add_argument("machine")
    listing = actions.add_parser("list", help="the machines: MAC, expected address, state, console log")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    wait = actions.add_parser("wait", help="wait for a line of the serial console")
    wait.add_argument("machine")
    wait.add_argument(
        "--pattern", required=True, metavar="REGEX", help="regular expression searched per line"
    )
    wait.add_argument(
        "--timeout",
        type=int,
        default=vm.DEFAULT_WAIT_TIMEOUT,
        help="seconds (default: %(default)s); then exit non-zero with the log's last lines",
    )
    wait.add_argument(
        "--since-start",
        action="store_true",
        help="only what the console printed since the machine was last started",
    )


def run_vm(bed, args):
    if args.vm_verb == "list":
        rows = [machine.describe() for machine in bed.vms()]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'VM':<10} {'STATE':<8} {'PID':<8} {'MAC':<18} {'EXPECTED IP':<16} CONSOLE LOG")
        for row in rows:
            print(
                f"{row['name']:<10} {row['state']:<8} {row['pid'] or '-'!s:<8} {row['mac']:<18} "
                f"{row['expected_ip']:<16} {row['console_log']}"
            )
        return 0
    if args.vm_verb == "start":
        for machine in [bed.vm(name) for name in args.machine]:
            machine.start(uefi=args.uefi, memory_mib=args.memory)
            if args.in_dhcp_order:
                bed.wait_dhcp_request(machine.mac, timeout=args.heard_timeout)
                print(f"{machine.name}: the head heard its DHCP request ({machine.mac})")
        return 0
    machine = bed.vm(args.machine)
    if args.vm_verb == "stop":
        machine.stop(timeout=args.timeout)
    elif args.vm_verb == "kill":
        machine.kill()
    elif args.vm_verb == "blank":
        machine.blank()
    elif args.vm_verb == "wait":
        since = machine.started_offset() if args.since_start else None
        print(machine.wait_console(args.pattern, timeout=args.timeout, since=since))
    return 0


def run(args):
    if args.verb == "list":
        for name in testbed.list_testbeds():
            print(name)
        return 0
    if args.verb == "prerequisites":
        installed = host.ensure_programs(vms=True)
        print(f"installed {' '.join(installed)}" if installed else "every prerequisite is installed")
        return 0
    if args.verb == "image":
        print(image.ensure_image(testbed.default_state_root(), rebuild=args.rebuild, suite=args.release))
        return 0
    if args.verb == "clean-images":
        for reference in image.remove_all_images():
            print(f"removed {reference}")
        return 0

    bed = testbed.Testbed(args.name)
    if args.verb == "up":
        bed.up(
            compute_nodes=args.nodes,
            standby=args.standby,
            route_out=args.route_out,
            timeout=args.timeout,
            rebuild_image=args.rebuild_image,
            oda_url=args.oda,
            suite=args.release,
            vms=args.vms,
            vm_disk_size=args.vm_disk_size,
        )
        print_status(bed)
        return 0
    if args.verb == "down":
        bed.down()
        return 0
    if args.verb == "vm":
        return run_vm(bed, args)
    if args.verb == "status":
        print_status(bed, as_json=args.json)
        return 0
    if args.verb == "inventory":
        bed.plan()
        print(bed.inventory_file)
        return 0
    if args.verb == "ssh-config":
        bed.plan()
        print(bed.ssh_config_file)
        return 0
    if args.verb == "ssh":
        argv = bed.ssh(args.host, " ".join(args.command) or None)
        os.execv(argv[0], argv)
    if args.verb in ("disconnect", "reconnect"):
        getattr(bed, args.verb)(args.host, args.network)
        return 0
    getattr(bed, args.verb.replace("-", "_"))(args.host)
    return 0


def print_status(bed, as_json=False):
    rows = bed.status()
    if as_json:
        print(
            json.dumps(
                {
                    "name": bed.name,
                    "inventory": bed.inventory_file,
                    "oda": bed.oda_url(),
                    "release": bed.suite(),
                    "ssh_config": bed.ssh_config_file,
                    "identity_file": bed.key_file,
                    "known_hosts": bed.known_hosts_file,
                    "hosts": [
                        {
                            "host": h.name,
                            "role": h.role,
                            "container": h.container,
                            "state": state,
                            "address": h.management_ip,
                            "interfaces": {i.network: {"ip": i.ip, "mac": i.mac} for i in h.interfaces},
                        }
                        for h, state in rows
                    ],
                    "vms": [machine.describe() for machine in bed.vms()],
                },
                indent=2,
            )
        )
        return
    print(f"testbed {bed.name}: Debian {bed.suite()}")
    print(f"{'HOST':<10} {'ROLE':<8} {'STATE':<8} {'PUBLIC':<16} {'PRIVATE':<16} MAC (private)")
    for h, state in rows:
        public = h.interface("public")
        private = h.interface("private")
        print(
            f"{h.name:<10} {h.role:<8} {state:<8} {public.ip if public else '-':<16} "
            f"{private.ip:<16} {private.mac}"
        )
    for machine in bed.vms():
        row = machine.describe()
        print(
            f"{row['name']:<10} {'vm':<8} {row['state']:<8} {'-':<16} {row['expected_ip']:<16} {row['mac']}"
        )


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except TestbedError as exc:
        print(f"testbed: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("testbed: interrupted", file=sys.stderr)
        return 130

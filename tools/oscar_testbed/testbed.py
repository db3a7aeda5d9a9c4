"""Bring a testbed up and down, and do things to its hosts.

Everything the testbed makes carries the podman label ``oscar.testbed=<name>``
and lives under ``<state root>/<name>/``, so ``down`` finds and removes all
of it even after a crash halfway through ``up``.
"""

import fcntl
import ipaddress
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

import yaml

from oscar_testbed import commands, host, image, layout, registry, sshaccess, vm
from oscar_testbed.errors import (
    CapacityError,
    CommandError,
    NotReadyError,
    PrerequisiteError,
    TestbedError,
    TestbedExistsError,
    UnknownHostError,
    UnknownTestbedError,
)

# Run in a host by forget_apt_index.
FORGET_APT_INDEX = (
    "find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -delete && "
    "rm -f /var/lib/apt/periodic/update-success-stamp && touch /var/lib/apt/lists"
)

LABEL = "oscar.testbed"
DEFAULT_NAME = "oscar"
DEFAULT_BOOT_TIMEOUT = 300
DEFAULT_VM_DISK_SIZE = "8G"
# podman serialises much of `run` internally; a few at a time is the sweet spot.
START_PARALLELISM = 4
CHECK_PARALLELISM = 16
RECONNECT_TIMEOUT = 30
ROUTE_TYPES = frozenset(
    (
        "unicast",
        "unreachable",
        "blackhole",
        "prohibit",
        "local",
        "broadcast",
        "throw",
        "nat",
        "anycast",
        "multicast",
    )
)
# Beyond about 30 systemd containers, boots hang without more inotify instances.
INOTIFY_THRESHOLD = 24
# The directories the head exports over NFS.  A userspace NFS server (these
# machines' kernels have no nfsd) finds files by handle, which the container's
# overlay root cannot give: they live on the machine's own filesystem, under
# the testbed's state directory as exports/<name>.
HEAD_EXPORTS = {"home": "/home", "opt-cluster": "/opt/cluster"}
# Where the head builds and keeps node images (oscar.cluster.image_build): on
# the machine's own filesystem too, under the state directory as images/.
# Versions are hard-linked trees of tens of thousands of files, renamed into
# place.
HEAD_IMAGES = "/var/lib/oscar/images"
# Where the kernel shows network interfaces; addr_assign_type 3 is an address
# set by hand (NET_ADDR_SET), one a bridge keeps whatever its ports do.
SYS_CLASS_NET = "/sys/class/net"
ADDRESS_SET_BY_HAND = "3"


def default_state_root():
    configured = os.environ.get("OSCAR_TESTBED_STATE")
    if configured:
        return configured
    if os.geteuid() == 0:
        return "/var/lib/oscar-testbed"
    return os.path.join(
        os.environ.get("XDG_STATE_HOME", os.path.expanduser("~/.local/state")), "oscar-testbed"
    )


def default_name():
    return os.environ.get("OSCAR_TESTBED_NAME", DEFAULT_NAME)


def _log(message):
    print(f"testbed: {message}", flush=True)


class Testbed:
    """One named testbed and its files under the state root."""

    # Not a pytest test class, despite the name.
    __test__ = False

    def __init__(self, name=None, state_root=None, log=_log):
        self.name = layout.validate_name(name or default_name())
        self.state_root = state_root or default_state_root()
        self.directory = os.path.join(self.state_root, self.name)
        self.log = log

    # ---- files -------------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.directory, *parts)

    @property
    def state_file(self):
        return self.path("state.json")

    @property
    def inventory_file(self):
        return self.path("inventory.yml")

    @property
    def ssh_config_file(self):
        return self.path("ssh_config")

    @property
    def key_file(self):
        return self.path("id_ed25519")

    @property
    def known_hosts_file(self):
        return self.path("known_hosts")

    @property
    def control_dir(self):
        """Ansible's SSH master sockets for this testbed.

        Addresses repeat across testbeds (a slot is reused once free); a
        master left from an earlier testbed must never serve a new one.
        """
        return self.path("cp")

    def exists(self):
        containers, networks = self._labelled_objects()
        return os.path.exists(self.state_file) or bool(containers or networks)

    def plan(self):
        """The plan this testbed was made from, or UnknownTestbedError."""
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            raise UnknownTestbedError(f"no testbed named '{self.name}' (see `testbed list`)") from None
        return layout.make_plan(
            state["name"],
            state["slot"],
            state["compute_nodes"],
            standby=state["standby"],
            route_out=state["route_out"],
            # Testbeds made before there were virtual machines have none.
            vms=state.get("vms", 0),
            vm_disk_size=state.get("vm_disk_size", DEFAULT_VM_DISK_SIZE),
        )

    def host(self, name):
        plan = self.plan()
        found = plan.host(name)
        if found is None:
            known = ", ".join(h.name for h in plan.hosts)
            raise UnknownHostError(f"testbed '{self.name}' has no host '{name}' (hosts: {known})")
        return found

    @contextmanager
    def _global_lock(self):
        """Serialise slot allocation between testbeds started at once."""
        os.makedirs(self.state_root, mode=0o700, exist_ok=True)
        with open(os.path.join(self.state_root, ".lock"), "w", encoding="ascii") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # ---- up ----------------------------------------------------------------

    def up(
        self,
        compute_nodes=4,
        *,
        standby=False,
        route_out=False,
        timeout=DEFAULT_BOOT_TIMEOUT,
        rebuild_image=False,
        oda_url=None,
        suite=image.DEFAULT_SUITE,
        vms=0,
        vm_disk_size=DEFAULT_VM_DISK_SIZE,
    ):
        """Create the testbed, wait until every host runs systemd and sshd, and register it in ODA.

        oda_url: the ODA database to register the hosts in (default:
        registry.default_url, $OSCAR_ODA_URL or the testbed's own file).
        suite: the Debian release every host runs (image.SUITES).
        vms: blank virtual machines after the compute nodes (vm.py), each
        with an empty disk of vm_disk_size; they are not started, and not
        registered: the cluster defines them when they boot.
        """
        started = time.monotonic()
        # Check the request before touching anything.
        plan_options = {"standby": standby, "route_out": route_out, "vms": vms, "vm_disk_size": vm_disk_size}
        plan = layout.make_plan(self.name, 0, compute_nodes, **plan_options)
        image.check_suite(suite)
        host.check_memory(len(plan.hosts))
        host.ensure_programs(log=self.log, vms=bool(vms))
        self._refuse_existing()
        if len(plan.hosts) > INOTIFY_THRESHOLD:
            host.ensure_inotify_instances(log=self.log)
        reference = image.ensure_image(self.state_root, log=self.log, rebuild=rebuild_image, suite=suite)

        with self._global_lock():
            # Again under the lock: another `up` of the same name may have won.
            self._refuse_existing()
            slot = self._free_slot()
            plan = layout.make_plan(self.name, slot, compute_nodes, **plan_options)
            os.makedirs(self.directory, mode=0o700)
            oda_url = oda_url or registry.default_url(self.directory)
            self._write_json(self.state_file, dict(plan.to_dict(), oda=oda_url, suite=suite))
            try:
                for network in plan.networks:
                    self._create_network(network)
            except TestbedError:
                self.down()
                raise
        try:
            sshaccess.make_key_pair(self.directory, f"oscar-testbed-{self.name}")
            os.makedirs(self.control_dir, mode=0o700, exist_ok=True)
            self._write_files(plan, known_hosts_lines=[])
            self._start_containers(plan, reference)
            self.pin_bridge_addresses(plan)
            self._make_vms()
            self.wait_ready(plan.hosts, timeout=timeout)
            registry.register(oda_url, plan, self.access(), head_oda_url=registry.head_oda_url(oda_url))
        except BaseException:
            self.log(f"bringing testbed '{self.name}' up failed; removing what was made")
            self.down()
            raise
        elapsed = time.monotonic() - started
        self.log(
            f"testbed '{self.name}' is up: {len(plan.hosts)} hosts"
            + (f" and {len(plan.vms)} virtual machines (stopped)" if plan.vms else "")
            + f" in {elapsed:.1f} s; inventory {self.inventory_file}"
        )
        return plan

    def _refuse_existing(self):
        if self.exists():
            raise TestbedExistsError(
                f"testbed '{self.name}' already exists; `testbed down --name {self.name}` first"
            )

    def _free_slot(self):
        """The lowest slot whose subnets no podman network or host route uses."""
        used = []
        listing = commands.podman("network", "ls", "--format", "json")
        for network in json.loads(listing.stdout or "[]"):
            for subnet in network.get("subnets") or []:
                used.append(ipaddress.ip_network(subnet["subnet"], strict=False))
        routes = commands.run([commands.find_program("ip"), "-4", "route", "show"], check=False)
        for line in routes.stdout.splitlines():
            words = line.split()
            # A route may start with its type: "unreachable 10.1.0.0/16 ...".
            if words and words[0] in ROUTE_TYPES:
                words = words[1:]
            if words and words[0] != "default":
                try:
                    used.append(ipaddress.ip_network(words[0], strict=False))
                except ValueError:
                    continue
        taken_by_state = set()
        if os.path.isdir(self.state_root):
            for entry in os.listdir(self.state_root):
                try:
                    with open(os.path.join(self.state_root, entry, "state.json"), encoding="utf-8") as h:
                        taken_by_state.add(json.load(h)["slot"])
                except (OSError, ValueError, KeyError):
                    continue
        for slot in range(layout.MAX_SLOTS):
            if slot in taken_by_state:
                continue
            subnets = [ipaddress.ip_network(s) for s in layout.subnets_for_slot(slot)]
            if not any(s.overlaps(u) for s in subnets for u in used):
                return slot
        raise CapacityError(f"all {layout.MAX_SLOTS} testbed address slots are in use")

    def _create_network(self, network):
        args = [
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            network.subnet,
            "--gateway",
            network.gateway,
            # The cluster's own services (dnsmasq on the head) answer DNS.
            "--disable-dns",
            "--label",
            f"{LABEL}={self.name}",
            "--label",
            f"{LABEL}.network={network.role}",
        ]
        if network.internal:
            args.append("--internal")
        commands.podman(*args, network.name)

    def _run_args(self, plan, host_plan, reference):
        args = [
            "run",
            "--detach",
            "--name",
            host_plan.container,
            "--hostname",
            host_plan.name,
            "--label",
            f"{LABEL}={self.name}",
            "--label",
            f"{LABEL}.host={host_plan.name}",
            "--label",
            f"{LABEL}.role={host_plan.role}",
            "--systemd=always",
            # /etc/hosts stays an ordinary file that roles may rewrite.
            "--no-hosts",
            "--cap-add",
            "NET_RAW",
            *host.container_ulimits(),
            "--volume",
            f"{self.path('keys')}:{image.TESTBED_KEY_DIR}:ro",
        ]
        if host_plan.role == layout.COMPUTE and not plan.route_out:
            # As a head's DHCP would: the cluster's resolver is the head.  Until
            # a role serves DNS there, lookups fail at once instead of waiting
            # for a resolver the private network cannot reach.
            args += ["--dns", plan.host(layout.HEAD).interface("private").ip]
        if host_plan.role in (layout.HEAD, layout.STANDBY):
            # Firewall, VRRP and DHCP on the head nodes need these.
            args += ["--cap-add", "NET_ADMIN", "--cap-add", "NET_BROADCAST"]
        if host_plan.role == layout.HEAD:
            # Opening files by handle (the NFS server) needs DAC_READ_SEARCH.
            # Building an image (mmdebstrap, a chroot for a derived version)
            # mounts /proc, /sys and /dev in the new root, as on a real head:
            # without SYS_ADMIN the tree gets a plain file for /dev/null.
            args += ["--cap-add", "DAC_READ_SEARCH", "--cap-add", "SYS_ADMIN"]
            for name, path in sorted(HEAD_EXPORTS.items()):
                args += ["--volume", f"{self.path('exports', name)}:{path}"]
            args += ["--volume", f"{self.path('images')}:{HEAD_IMAGES}"]
            oda_directory = registry.sqlite_directory(self.oda_url())
            if oda_directory is not None:
                # Read-write, the whole directory: SQLite writes its journal beside the file.
                args += ["--volume", f"{oda_directory}:{registry.HEAD_ODA_DIR}"]
        if host_plan.role == layout.COMPUTE:
            # The kernel of these machines has no NFS client: nodes mount the
            # head's NFS exports through FUSE, which needs the device and the
            # right to mount.
            args += ["--device", "/dev/fuse", "--cap-add", "SYS_ADMIN"]
        for iface in host_plan.interfaces:
            network = plan.network(iface.network)
            args += ["--network", f"{network.name}:ip={iface.ip},mac={iface.mac}"]
        args.append(reference)
        return args

    def _start_containers(self, plan, reference):
        self.log(f"starting {len(plan.hosts)} hosts from {reference}")
        for name in HEAD_EXPORTS:
            os.makedirs(self.path("exports", name), mode=0o755, exist_ok=True)
        os.makedirs(self.path("images"), mode=0o755, exist_ok=True)
        oda_directory = registry.sqlite_directory(self.oda_url())
        if oda_directory is not None:
            os.makedirs(oda_directory, mode=0o700, exist_ok=True)

        def start(host_plan):
            commands.podman(*self._run_args(plan, host_plan, reference), timeout=300)

        with ThreadPoolExecutor(max_workers=START_PARALLELISM) as pool:
            for future in [pool.submit(start, h) for h in plan.hosts]:
                future.result()

    def wait_ready(self, hosts=None, timeout=DEFAULT_BOOT_TIMEOUT):
        """Wait for sshd, record host keys, then wait for systemd to finish booting."""
        plan = self.plan()
        hosts = list(hosts if hosts is not None else plan.hosts)
        deadline = time.monotonic() + timeout
        silent = sshaccess.wait_for_ports([h.management_ip for h in hosts], deadline)
        if silent:
            names = [h.name for h in hosts if h.management_ip in silent]
            raise NotReadyError(f"sshd did not answer within {timeout} s on: {', '.join(names)}")
        self._record_host_keys(plan, hosts)
        not_running = {}

        def boot_state(host_plan):
            remaining = max(5, int(deadline - time.monotonic()))
            result = commands.run(
                sshaccess.ssh_argv(
                    self.ssh_config_file,
                    host_plan.name,
                    "systemctl is-system-running --wait; systemctl --failed --plain --no-legend",
                ),
                check=False,
                timeout=remaining + 5,
            )
            lines = result.stdout.split("\n", 1)
            state = lines[0].strip() or result.stderr.strip()
            return host_plan.name, state, (lines[1].strip() if len(lines) > 1 else "")

        with ThreadPoolExecutor(max_workers=CHECK_PARALLELISM) as pool:
            for name, state, failed in pool.map(boot_state, hosts):
                if state != "running":
                    not_running[name] = f"{state} {failed}".strip()
        if not_running:
            detail = "; ".join(f"{n}: {s}" for n, s in sorted(not_running.items()))
            raise NotReadyError(f"hosts not running cleanly: {detail}")

    def _record_host_keys(self, plan, hosts):
        """Replace the known-hosts entries of ``hosts`` with their current keys."""
        names = {h.name for h in hosts}
        kept = []
        if os.path.exists(self.known_hosts_file):
            with open(self.known_hosts_file, encoding="ascii") as handle:
                kept = [line.rstrip("\n") for line in handle if line.split(",", 1)[0] not in names]
        scanned = sshaccess.scan_host_keys(hosts)
        missing = names - {line.split(",", 1)[0] for line in scanned}
        if missing:
            raise NotReadyError(f"could not read SSH host keys of: {', '.join(sorted(missing))}")
        self._write_files(plan, kept + scanned)

    def _write_files(self, plan, known_hosts_lines):
        self._write_text(self.known_hosts_file, "".join(line + "\n" for line in known_hosts_lines))
        self._write_text(
            self.ssh_config_file,
            sshaccess.ssh_config_text(
                plan.hosts,
                self.key_file,
                self.known_hosts_file,
                machines=self._machines_pattern(plan),
            ),
        )
        self._write_text(self.inventory_file, self.inventory_text(plan))

    @staticmethod
    def _machines_pattern(plan):
        """ssh_config's pattern for the virtual machines: the rest of the private network."""
        if not plan.vms:
            return None
        return plan.network("private").subnet.rsplit(".", 1)[0] + ".*"

    # ---- inventory ---------------------------------------------------------

    def inventory(self, plan):
        """An Ansible inventory of the testbed, as a dict."""
        groups = {group: {} for group in registry.GROUP_OF_ROLE.values()}
        for host_plan in plan.hosts:
            groups[registry.GROUP_OF_ROLE[host_plan.role]][host_plan.name] = {
                "ansible_host": host_plan.management_ip,
                **registry.host_variables(plan, host_plan, registry.head_oda_url(self.oda_url())),
            }
        return {
            "all": {
                "vars": registry.cluster_variables(plan, self.access()),
                "children": {group: {"hosts": members} for group, members in groups.items() if members},
            }
        }

    def inventory_text(self, plan):
        header = f"# Inventory of the oscar.cluster testbed '{self.name}', written by `testbed up`.\n"
        return header + yaml.safe_dump(self.inventory(plan), sort_keys=False, default_flow_style=False)

    # ---- down --------------------------------------------------------------

    def _labelled_objects(self):
        """Names of the containers and networks carrying this testbed's label."""
        containers = [c["Names"][0] for c in labelled_containers(self.name, check=False)]
        networks = commands.podman(
            "network",
            "ls",
            "--filter",
            f"label={LABEL}={self.name}",
            "--format",
            "{{.Name}}",
            check=False,
        ).stdout.split()
        return containers, networks

    def access(self):
        """The files through which Ansible reaches the hosts, as ODA records them."""
        access = {
            "key_file": self.key_file,
            "ssh_config_file": self.ssh_config_file,
            "control_dir": self.control_dir,
        }
        try:
            with open(self.key_file + ".pub", encoding="ascii") as public:
                access["public_key"] = public.read().strip()
        except FileNotFoundError:
            pass
        return access

    def _state(self):
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                return json.load(handle)
        except (FileNotFoundError, ValueError):
            return {}

    def oda_url(self):
        """The ODA database this testbed registered its hosts in, or None."""
        return self._state().get("oda")

    def suite(self):
        """The Debian release the hosts run; testbeds made before there was a choice run bookworm."""
        return self._state().get("suite", image.DEFAULT_SUITE)

    def _unregister(self):
        """Take the hosts out of an ODA outside the state directory (one inside goes with it)."""
        url = self.oda_url()
        if not url or url == registry.own_url(self.directory):
            return None
        try:
            registry.unregister(url, self.plan())
        except TestbedError as error:
            return error
        return None

    def down(self):
        """Remove every container, network and file of the testbed, and its hosts from ODA."""
        unregister_error = self._unregister()
        machines = self._remove_vms()
        containers, networks = self._labelled_objects()
        if containers:
            commands.podman("rm", "--force", "--time", "0", *containers, timeout=600)
        for network in networks:
            commands.podman("network", "rm", "--force", network)
        had_files = os.path.isdir(self.directory)
        shutil.rmtree(self.directory, ignore_errors=True)
        self._remove_empty_state_root()
        if not (containers or networks or had_files or machines):
            raise UnknownTestbedError(f"no testbed named '{self.name}' (see `testbed list`)")
        self.log(
            f"testbed '{self.name}' removed: {len(containers)} containers, {len(networks)} networks"
            + (f", {len(machines)} virtual machines" if machines else "")
        )
        if unregister_error is not None:
            raise unregister_error
        return containers, networks

    def _remove_empty_state_root(self):
        try:
            entries = set(os.listdir(self.state_root))
        except FileNotFoundError:
            return
        if entries <= {".lock", "image.lock"}:
            shutil.rmtree(self.state_root, ignore_errors=True)

    # ---- virtual machines --------------------------------------------------

    def vm(self, name):
        """The virtual machine ``name`` (nodeNNN), a vm.Vm: .start(), .stop(), .kill(), .wait_console()..."""
        plan = self.plan()
        machine = plan.vm(name)
        if machine is None:
            known = ", ".join(m.name for m in plan.vms) or "none"
            raise UnknownHostError(
                f"testbed '{self.name}' has no virtual machine '{name}' (machines: {known})"
            )
        return vm.Vm(self, machine, plan.network("private").name, plan.vm_disk_size, log=self.log)

    def vms(self):
        """Every virtual machine of the testbed, in plan order."""
        return [self.vm(machine.name) for machine in self.plan().vms]

    def wait_dhcp_request(self, mac, timeout=None, poll=2.0):
        """Wait until the head's dnsmasq (the server role's, logging DHCP) has logged a request from mac."""
        # The default is read here: in the class body, `vm` is the method above, not the module.
        timeout = vm.DEFAULT_HEARD_TIMEOUT if timeout is None else timeout
        head = self.host("head")
        wanted = mac.lower()
        deadline = time.monotonic() + timeout
        while True:
            journal = commands.podman(
                "exec", head.container, "journalctl", "-u", "dnsmasq", "-o", "cat", "--no-pager", check=False
            )
            if wanted in journal.stdout.lower():
                return
            if time.monotonic() >= deadline:
                raise NotReadyError(
                    f"the head's dnsmasq logged no DHCP request from {mac} in {timeout} s "
                    "(is the server role's dnsmasq running, and the machine network-booting?)"
                )
            time.sleep(poll)

    def _make_vms(self):
        """An empty disk and a tap on the private bridge for each machine (none is started)."""
        machines = self.vms()
        if not machines:
            return
        bridge = vm.bridge_of(machines[0].network_name)
        for machine in machines:
            machine.create_disk()
            vm.ensure_tap(machine.machine.tap, bridge, self.name)
        self.log(f"{len(machines)} virtual machines ready (stopped): {', '.join(m.name for m in machines)}")

    def _attach_vm_taps(self):
        """Put the machines' taps on the private bridge again (podman makes a new one after it emptied)."""
        machines = self.vms()
        if machines:
            bridge = vm.bridge_of(machines[0].network_name)
            for machine in machines:
                vm.ensure_tap(machine.machine.tap, bridge, self.name)

    def _remove_vms(self):
        """Kill every machine and remove its tap, from the plan and from what is found; names removed."""
        removed = set()
        with suppress(UnknownTestbedError, ValueError, KeyError):
            for machine in self.vms():
                if machine.running() or os.path.isdir(os.path.join(SYS_CLASS_NET, machine.machine.tap)):
                    removed.add(machine.name)
                machine.remove()
        removed.update(vm.kill_stray_machines(self.directory))
        for tap in vm.taps_of(self.name):
            vm.remove_tap(tap)
            removed.add(tap)
        return sorted(removed)

    # ---- hosts -------------------------------------------------------------

    def status(self):
        """(host, container state) for every host of the plan."""
        plan = self.plan()
        states = {c["Names"][0]: c["State"] for c in labelled_containers(self.name)}
        return [(h, states.get(h.container, "missing")) for h in plan.hosts]

    def stop(self, name):
        commands.podman("stop", "--time", "10", self.host(name).container)

    def start(self, name, timeout=DEFAULT_BOOT_TIMEOUT):
        host_plan = self.host(name)
        commands.podman("start", host_plan.container)
        # A network left with no host gets a new bridge when this one rejoins.
        self.pin_bridge_addresses()
        self._attach_vm_taps()
        # A restarted container keeps its disk, so its host keys are unchanged.
        self.wait_ready([host_plan], timeout=timeout)

    def kill(self, name):
        commands.podman("kill", "--signal", "KILL", self.host(name).container)

    def pause(self, name):
        commands.podman("pause", self.host(name).container)

    def unpause(self, name):
        commands.podman("unpause", self.host(name).container)

    def forget_apt_index(self, name):
        """Make a host look just installed to APT, whatever the age of the image it runs.

        Its package lists go, their directory is touched and the record of a
        successful refresh is removed: what a host built from an image minutes
        ago has.  A role that judged the index by the directory's age
        (cache_valid_time) would find nothing to install.
        """
        commands.podman("exec", self.host(name).container, "sh", "-c", FORGET_APT_INDEX)

    def _networks_of(self, host_plan, network_role):
        plan = self.plan()
        roles = [i.network for i in host_plan.interfaces]
        if network_role is not None:
            if network_role not in roles:
                raise UnknownHostError(
                    f"host '{host_plan.name}' is not on the {network_role} network "
                    f"(it is on: {', '.join(roles)})"
                )
            roles = [network_role]
        return [(plan.network(r), host_plan.interface(r)) for r in roles]

    def pin_bridge_addresses(self, plan=None):
        """Keep each network's bridge on the MAC address it has now.

        A Linux bridge whose address was never set takes the lowest address
        among its ports, so it changes when a host leaves the network
        (disconnect, kill, stop) and the bridge had that host's address.  The
        other hosts keep the old address in their ARP caches (the kernel
        announces no change), and their packets to this machine are lost
        until those entries expire, tens of seconds: every host's SSH stalls,
        not only the one that left.  A bridge whose address was set keeps it.
        Networks whose bridge does not exist yet (no host joined) are skipped.
        Returns the interfaces pinned now.
        """
        plan = plan or self.plan()
        pinned = []
        for network in plan.networks:
            found = commands.podman(
                "network", "inspect", "--format", "{{.NetworkInterface}}", network.name, check=False
            )
            interface = found.stdout.strip()
            if found.returncode != 0 or not interface:
                continue
            directory = os.path.join(SYS_CLASS_NET, interface)
            try:
                with open(os.path.join(directory, "addr_assign_type"), encoding="ascii") as handle:
                    assigned = handle.read().strip()
                with open(os.path.join(directory, "address"), encoding="ascii") as handle:
                    address = handle.read().strip()
            except FileNotFoundError:
                continue
            if assigned == ADDRESS_SET_BY_HAND:
                continue
            commands.run([commands.find_program("ip"), "link", "set", "dev", interface, "address", address])
            pinned.append(interface)
        return pinned

    def disconnect(self, name, network_role=None):
        """Cut a host off one network, or off all of its networks."""
        host_plan = self.host(name)
        for network, _iface in self._networks_of(host_plan, network_role):
            commands.podman("network", "disconnect", "--force", network.name, host_plan.container)

    def reconnect(self, name, network_role=None):
        """Put a host back on its networks with its planned addresses."""
        host_plan = self.host(name)
        for network, iface in self._networks_of(host_plan, network_role):
            try:
                commands.podman(
                    "network",
                    "connect",
                    "--ip",
                    iface.ip,
                    "--mac-address",
                    iface.mac,
                    network.name,
                    host_plan.container,
                )
            except CommandError as exc:
                if "already" not in exc.stderr:
                    raise
            self.pin_bridge_addresses()
            # Return once the host answers on that network again, so that a
            # test may rely on it right away.
            silent = sshaccess.wait_for_ports([iface.ip], time.monotonic() + RECONNECT_TIMEOUT)
            if silent:
                raise NotReadyError(
                    f"{host_plan.name} does not answer on {iface.ip} ({network.role} network) "
                    f"{RECONNECT_TIMEOUT} s after reconnecting"
                )

    def ssh(self, name, command=None, extra_options=()):
        """argv that runs ``command`` on a host over SSH (an interactive login without it)."""
        self.host(name)
        return sshaccess.ssh_argv(self.ssh_config_file, name, command, extra_options)

    # ---- helpers -----------------------------------------------------------

    @staticmethod
    def _write_text(path, text, mode=0o600):
        """Write a file atomically: readers see the old or the new content, never half."""
        temporary = f"{path}.tmp{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)

    def _write_json(self, path, data):
        self._write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def labelled_containers(name=None, check=True):
    """podman's description of every testbed container, or of one testbed's."""
    label = f"label={LABEL}={name}" if name else f"label={LABEL}"
    listing = commands.podman("ps", "--all", "--filter", label, "--format", "json", check=check)
    return json.loads(listing.stdout or "[]") if listing.returncode == 0 else []


def list_testbeds(state_root=None):
    """Names of the testbeds that have files or podman objects."""
    root = state_root or default_state_root()
    names = set()
    if os.path.isdir(root):
        names.update(e for e in os.listdir(root) if os.path.isfile(os.path.join(root, e, "state.json")))
    # Without podman there are no containers to add, only the state directories.
    with suppress(PrerequisiteError):
        names.update(container["Labels"][LABEL] for container in labelled_containers())
    return sorted(names)

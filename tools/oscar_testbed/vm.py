"""Blank QEMU virtual machines on a testbed's private network.

A testbed made with ``up --vms N`` has N machines with an empty disk and a
fixed MAC (layout.VirtualMachine).  They boot from the network first, then
from their disk, as a cluster's new nodes do: the head's DHCP and iPXE script
decide what they run.  What the facts of these machines dictate:

- Software emulation (TCG) unless $OSCAR_TESTBED_ACCEL says kvm: /dev/kvm
  exists here but runs no normal guest, so its presence decides nothing.
- One vCPU each, and at most about as many running machines as cores.
- Each machine's NIC is a tap device on the bridge of the testbed's private
  podman network, which has no route out: its traffic stays on that bridge.
- SeaBIOS and iPXE write to the serial port only without a graphics card
  (``graphics=off``); the serial port is appended to console.log, which
  ``wait_console`` reads.

Every file of a machine is under ``<testbed>/vms/<name>/``: disk.qcow2,
console.log, the pidfile, OVMF's variable store for UEFI starts and vm.json
(how it was last started).  Taps carry the alias ``oscar.testbed=<testbed>``
so that ``down`` finds them even without the state file.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from contextlib import suppress

from oscar_testbed import commands, host
from oscar_testbed.errors import CapacityError, NotReadyError, PrerequisiteError, VmError

ACCEL_ENV = "OSCAR_TESTBED_ACCEL"
ACCELERATORS = ("tcg", "kvm")
DEFAULT_ACCEL = "tcg"
# The installer holds the image's root squashfs in RAM.
DEFAULT_MEMORY_MIB = 2048
DEFAULT_STOP_TIMEOUT = 60
DEFAULT_WAIT_TIMEOUT = 300
# From power-on to the first DHCP request: firmware and iPXE under emulation take
# 10-30 s; the notes allow 300 s for a whole boot.
DEFAULT_HEARD_TIMEOUT = 300
# A machine that found nothing to boot (no DHCP answer yet, blank disk)
# reboots after this long and asks the network again, for ever.
REBOOT_TIMEOUT_MS = 5000
KILL_WAIT_SECONDS = 10
POLL_SECONDS = 0.5
CONSOLE_TAIL_LINES = 20
TAP_ALIAS_PREFIX = "oscar.testbed="
# Unix socket paths are limited to 108 bytes; a longer one goes to /tmp.
MAX_SOCKET_PATH = 100
# Terminal control sequences SeaBIOS, iPXE and OVMF write (colours, cursor,
# mode changes), and the backspaces of iPXE's countdown.
CONTROL_SEQUENCE = re.compile(
    r"\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[A-Za-z]|[\x00-\x08\x0e-\x1f]"
)
SYS_CLASS_NET = "/sys/class/net"


def accelerator(environ=None):
    """The accelerator QEMU uses: $OSCAR_TESTBED_ACCEL (tcg or kvm), tcg when unset."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(ACCEL_ENV, "").strip() or DEFAULT_ACCEL
    if chosen not in ACCELERATORS:
        raise VmError(f"${ACCEL_ENV} is '{chosen}': use one of {', '.join(ACCELERATORS)}")
    return chosen


def console_text(raw):
    """The console's bytes as text without terminal control sequences or carriage returns."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return CONTROL_SEQUENCE.sub("", text).replace("\r", "")


def qmp_socket_path(directory):
    """Where a machine's QMP socket is: in its directory, or in /tmp when that path is too long."""
    candidate = os.path.join(directory, "qmp.sock")
    if len(candidate) <= MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(directory.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"oscar-testbed-{digest}.qmp")


def qemu_argv(machine, paths, *, uefi=False, accel=DEFAULT_ACCEL, memory_mib=DEFAULT_MEMORY_MIB, qemu=None):
    """The QEMU command line of a machine (paths: a VmPaths)."""
    argv = [
        qemu or "qemu-system-x86_64",
        "-name",
        machine.qemu_name,
        # Only what is asked for below: no default NIC, graphics card or monitor.
        "-nodefaults",
        # Without a graphics card, SeaBIOS (and iPXE through it) writes to the serial port.
        "-machine",
        "q35,graphics=off",
        "-accel",
        accel,
        "-smp",
        "1",
        "-m",
        str(memory_mib),
        "-display",
        "none",
        "-chardev",
        f"file,id=console,path={paths.console},append=on",
        "-serial",
        "chardev:console",
        "-qmp",
        f"unix:{paths.qmp},server=on,wait=off",
        "-daemonize",
        "-pidfile",
        paths.pidfile,
        # Entropy for the guest's early boot (sshd keys, TLS).
        "-device",
        "virtio-rng-pci",
        "-drive",
        f"file={paths.disk},if=none,id=disk0,format=qcow2",
        "-netdev",
        f"tap,id=net0,ifname={machine.tap},script=no,downscript=no",
    ]
    if uefi:
        # OVMF orders its boot options by bootindex (it ignores -boot order).
        # Its own PXE clients would follow iPXE's `exit` with minutes of
        # DHCP and IPv6 attempts before the disk: iPXE does the network boot.
        argv += [
            "-fw_cfg",
            "name=opt/org.tianocore/IPv4PXESupport,string=n",
            "-fw_cfg",
            "name=opt/org.tianocore/IPv6PXESupport,string=n",
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={host.OVMF_CODE}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={paths.uefi_vars}",
            "-device",
            f"virtio-net-pci,netdev=net0,mac={machine.mac},bootindex=1",
            "-device",
            "virtio-blk-pci,drive=disk0,bootindex=2",
            "-boot",
            f"reboot-timeout={REBOOT_TIMEOUT_MS}",
        ]
    else:
        # Network first, then the disk: after an install the head's script
        # says `exit` and the firmware goes on to the disk.
        argv += [
            "-device",
            f"virtio-net-pci,netdev=net0,mac={machine.mac}",
            "-device",
            "virtio-blk-pci,drive=disk0",
            "-boot",
            f"order=nc,reboot-timeout={REBOOT_TIMEOUT_MS}",
        ]
    return argv


class VmPaths:
    """The files of one machine, under its directory."""

    def __init__(self, directory):
        self.directory = directory
        self.disk = os.path.join(directory, "disk.qcow2")
        self.console = os.path.join(directory, "console.log")
        self.pidfile = os.path.join(directory, "qemu.pid")
        self.uefi_vars = os.path.join(directory, "OVMF_VARS.fd")
        self.state = os.path.join(directory, "vm.json")
        self.qmp = qmp_socket_path(directory)


def bridge_of(network_name):
    """The Linux bridge of a podman network (it exists once a container joined)."""
    found = commands.podman(
        "network", "inspect", "--format", "{{.NetworkInterface}}", network_name, check=False
    )
    bridge = found.stdout.strip()
    if found.returncode != 0 or not bridge:
        raise VmError(f"podman network '{network_name}' has no bridge (is the head running?)")
    if not os.path.isdir(os.path.join(SYS_CLASS_NET, bridge)):
        raise VmError(
            f"the bridge {bridge} of podman network '{network_name}' does not exist (is the head running?)"
        )
    return bridge


def _read_sys(interface, name):
    try:
        with open(os.path.join(SYS_CLASS_NET, interface, name), encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def ensure_tap(tap, bridge, testbed_name):
    """Make the tap device if missing and put it on ``bridge``, up."""
    ip = commands.find_program("ip")
    if not os.path.isdir(os.path.join(SYS_CLASS_NET, tap)):
        commands.run([ip, "tuntap", "add", "dev", tap, "mode", "tap"])
        commands.run([ip, "link", "set", "dev", tap, "alias", TAP_ALIAS_PREFIX + testbed_name])
    master = os.path.basename(os.path.realpath(os.path.join(SYS_CLASS_NET, tap, "master")))
    if not os.path.exists(os.path.join(SYS_CLASS_NET, tap, "master")) or master != bridge:
        commands.run([ip, "link", "set", "dev", tap, "master", bridge])
    commands.run([ip, "link", "set", "dev", tap, "up"])


def taps_of(testbed_name):
    """The tap devices carrying a testbed's alias."""
    try:
        interfaces = sorted(os.listdir(SYS_CLASS_NET))
    except FileNotFoundError:
        return []
    return [i for i in interfaces if _read_sys(i, "ifalias") == TAP_ALIAS_PREFIX + testbed_name]


def remove_tap(tap):
    commands.run([commands.find_program("ip"), "link", "delete", "dev", tap], check=False)


def write_json(path, data):
    """Write a JSON file atomically: readers see the old or the new content, never half."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(temporary, path)


def _process_alive(pid, marker):
    """Whether pid is a live (not zombie) process whose command line holds marker."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().decode(errors="replace")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and marker in cmdline


class Vm:
    """One virtual machine of a testbed: ``Testbed.vm(name)``.

    start(uefi=False), stop(timeout), kill(), blank(), wait_console(pattern,
    timeout, since=None), console_offset(), console_tail(), state(), pid(),
    describe().
    """

    def __init__(self, bed, machine, network_name, disk_size, log=print):
        self.bed = bed
        self.machine = machine
        self.network_name = network_name
        self.disk_size = disk_size
        self.log = log
        self.paths = VmPaths(bed.path("vms", machine.name))

    @property
    def name(self):
        return self.machine.name

    @property
    def mac(self):
        return self.machine.mac

    @property
    def ip(self):
        return self.machine.ip

    @property
    def console_log(self):
        return self.paths.console

    # ---- state ---------------------------------------------------------------

    def pid(self):
        """The QEMU process's id while it runs, else None."""
        try:
            with open(self.paths.pidfile, encoding="ascii") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return None
        return pid if _process_alive(pid, self.paths.pidfile) else None

    def running(self):
        return self.pid() is not None

    def state(self):
        return "running" if self.running() else "stopped"

    def _saved(self):
        try:
            with open(self.paths.state, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def describe(self):
        """What `vm list` and `status --json` show."""
        saved = self._saved()
        return {
            "name": self.name,
            "role": self.machine.role,
            "mac": self.mac,
            "expected_ip": self.ip,
            "state": self.state(),
            "pid": self.pid(),
            "firmware": saved.get("firmware"),
            "tap": self.machine.tap,
            "disk": self.paths.disk,
            "console_log": self.paths.console,
        }

    # ---- disk ----------------------------------------------------------------

    def create_disk(self):
        """A new empty disk (and a fresh UEFI variable store): a machine straight from the factory."""
        os.makedirs(self.paths.directory, mode=0o700, exist_ok=True)
        for path in (self.paths.disk, self.paths.uefi_vars):
            if os.path.exists(path):
                os.unlink(path)
        commands.run(
            [
                commands.find_program("qemu-img"),
                "create",
                "-q",
                "-f",
                "qcow2",
                self.paths.disk,
                self.disk_size,
            ],
            timeout=60,
        )

    def blank(self):
        """Wipe the machine: a fresh empty disk; refused while it runs."""
        if self.running():
            raise VmError(f"{self.name} is running; stop or kill it before blanking its disk")
        self.create_disk()
        self.log(f"{self.name}: fresh empty {self.disk_size} disk")

    # ---- power ---------------------------------------------------------------

    def start(self, uefi=False, memory_mib=DEFAULT_MEMORY_MIB):
        """Power the machine on (BIOS, or UEFI with OVMF); returns the console offset at power-on."""
        if self.running():
            raise VmError(f"{self.name} is running already (pid {self.pid()})")
        accel = accelerator()
        missing = host.missing_programs(vms=True)
        if missing:
            raise PrerequisiteError(
                f"virtual machines need {', '.join(sorted(missing))} "
                f"(Debian packages: {' '.join(sorted(set(missing.values())))}; run scripts/setup as root)"
            )
        available = host.available_memory_mib()
        if memory_mib + host.MEMORY_RESERVED_MIB > available:
            raise CapacityError(
                f"{self.name} needs {memory_mib} MiB but only {available} MiB is available "
                f"({host.MEMORY_RESERVED_MIB} MiB kept for the machine)"
            )
        running = [m.name for m in self.bed.vms() if m.name != self.name and m.running()]
        if len(running) + 1 > (os.cpu_count() or 1):
            # Emulated machines each keep a core busy; more than the cores slow all of them down.
            self.log(
                f"warning: {self.name} makes {len(running) + 1} running machines on "
                f"{os.cpu_count()} cores (running: {', '.join(running)}); each boots slower"
            )
        if not os.path.exists(self.paths.disk):
            self.create_disk()
        if uefi and not os.path.exists(self.paths.uefi_vars):
            # Each machine has its own variable store, as real firmware has.
            shutil.copyfile(host.OVMF_VARS, self.paths.uefi_vars)
        ensure_tap(self.machine.tap, bridge_of(self.network_name), self.bed.name)
        offset = self.console_offset()
        with suppress(FileNotFoundError, ProcessLookupError):
            os.unlink(self.paths.pidfile)
        with suppress(FileNotFoundError, ProcessLookupError):
            os.unlink(self.paths.qmp)
        argv = qemu_argv(
            self.machine,
            self.paths,
            uefi=uefi,
            accel=accel,
            memory_mib=memory_mib,
            qemu=commands.find_program("qemu-system-x86_64"),
        )
        # -daemonize: QEMU returns once the machine is set up, with its errors.
        commands.run(argv, timeout=120)
        write_json(
            self.paths.state,
            {
                "firmware": "uefi" if uefi else "bios",
                "accel": accel,
                "memory_mib": memory_mib,
                "console_offset": offset,
                "started_at": time.time(),
                "argv": argv,
            },
        )
        self.log(f"{self.name}: started ({'UEFI' if uefi else 'BIOS'}, {accel}, pid {self.pid()})")
        return offset

    def started_offset(self):
        """Where the console log stood when the machine was last started (0 if never)."""
        return self._saved().get("console_offset", 0)

    def qmp(self, command, arguments=None, timeout=10):
        """Run one QMP command on the running machine and return its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            try:
                connection.connect(self.paths.qmp)
            except OSError as error:
                raise VmError(
                    f"{self.name}: cannot reach QEMU's QMP socket {self.paths.qmp}: {error}"
                ) from None
            stream = connection.makefile("rwb")
            stream.readline()  # the greeting
            answer = None
            for request in ({"execute": "qmp_capabilities"}, {"execute": command}):
                if arguments and request["execute"] == command:
                    request["arguments"] = arguments
                stream.write(json.dumps(request).encode() + b"\n")
                stream.flush()
                # Events may come before the answer.
                while True:
                    line = stream.readline()
                    if not line:
                        raise VmError(f"{self.name}: QEMU closed the QMP connection")
                    answer = json.loads(line)
                    if "return" in answer or "error" in answer:
                        break
                if "error" in answer:
                    raise VmError(f"{self.name}: QMP {request['execute']}: {answer['error'].get('desc')}")
            return answer["return"]

    def stop(self, timeout=DEFAULT_STOP_TIMEOUT):
        """Press the ACPI power button; kill the machine if it is still on after ``timeout`` s.

        Returns "powered off" or "killed".  Firmware (iPXE, an idle BIOS) does
        not listen to the button: a machine that runs no OS is killed.
        """
        pid = self.pid()
        if pid is None:
            return "stopped"
        try:
            self.qmp("system_powerdown")
        except VmError as error:
            self.log(f"{self.name}: {error}; killing it")
            self.kill()
            return "killed"
        if self._wait_gone(pid, timeout):
            self.log(f"{self.name}: powered off")
            return "powered off"
        self.log(f"{self.name}: still on {timeout} s after the power button; killing it")
        self.kill()
        return "killed"

    def kill(self):
        """Cut the power: SIGKILL to QEMU."""
        pid = self.pid()
        if pid is None:
            return False
        with suppress(FileNotFoundError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not self._wait_gone(pid, KILL_WAIT_SECONDS):
            raise VmError(f"{self.name}: QEMU (pid {pid}) survived SIGKILL for {KILL_WAIT_SECONDS} s")
        self.log(f"{self.name}: killed")
        return True

    def _wait_gone(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while _process_alive(pid, self.paths.pidfile):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS / 5)
        return True

    # ---- console -------------------------------------------------------------

    def console_offset(self):
        """The console log's size now: pass it as ``since`` to wait for what comes after."""
        try:
            return os.path.getsize(self.paths.console)
        except OSError:
            return 0

    def console_tail(self, lines=CONSOLE_TAIL_LINES):
        try:
            with open(self.paths.console, "rb") as handle:
                handle.seek(max(0, os.path.getsize(self.paths.console) - 64 * 1024))
                text = console_text(handle.read())
        except OSError:
            return []
        return [line for line in text.split("\n") if line.strip()][-lines:]

    def wait_console(self, pattern, timeout=DEFAULT_WAIT_TIMEOUT, since=None):
        """Wait for a console line matching ``pattern`` (a regular expression, searched); return the line.

        since: a console offset (console_offset(), or the value start()
        returned) to look only at what came after it; None reads the whole
        log.  A line still being written counts (a login prompt has no
        newline).  NotReadyError with the log's last lines on timeout.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        position = since or 0
        pending = b""
        while True:
            try:
                with open(self.paths.console, "rb") as handle:
                    handle.seek(position)
                    chunk = handle.read()
            except FileNotFoundError:
                chunk = b""
            position += len(chunk)
            pending += chunk
            complete, _newline, partial = pending.rpartition(b"\n")
            for line in [*console_text(complete).split("\n"), console_text(partial)]:
                if regex.search(line):
                    return line
            # Keep only the line still being written.
            pending = partial
            if time.monotonic() >= deadline:
                tail = "\n".join(self.console_tail())
                state = self.state()
                raise NotReadyError(
                    f"{self.name} ({state}): no console line matched /{pattern}/ within {timeout} s; "
                    f"last lines of {self.paths.console}:\n{tail}"
                )
            time.sleep(POLL_SECONDS)

    # ---- removal -------------------------------------------------------------

    def remove(self):
        """Kill the machine and remove its tap; its files go with the testbed's directory."""
        try:
            self.kill()
        except VmError as error:
            self.log(str(error))
        remove_tap(self.machine.tap)
        with suppress(FileNotFoundError, ProcessLookupError):
            os.unlink(self.paths.qmp)


def kill_stray_machines(directory):
    """Kill every QEMU whose pidfile is under a testbed's vms/ directory (down after a broken up)."""
    killed = []
    vms_dir = os.path.join(directory, "vms")
    if not os.path.isdir(vms_dir):
        return killed
    for name in sorted(os.listdir(vms_dir)):
        pidfile = os.path.join(vms_dir, name, "qemu.pid")
        try:
            with open(pidfile, encoding="ascii") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if _process_alive(pid, pidfile):
            with suppress(FileNotFoundError, ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(name)
    return killed

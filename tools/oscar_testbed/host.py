"""What the testbed needs from the machine it runs on, and how much it can hold.

Facts about this kind of machine (see the project's notes): podman needs
runc, not crun; containers must not ask for rlimits above the current hard
limits; more than about 30 systemd containers need a higher
fs.inotify.max_user_instances, which does not survive a reboot.
"""

import os
import resource

from oscar_testbed import commands
from oscar_testbed.errors import CapacityError, PrerequisiteError

# program -> Debian package that provides it
REQUIRED_PROGRAMS = {
    "podman": "podman",
    "runc": "runc",
    "debootstrap": "debootstrap",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ssh-keyscan": "openssh-client",
    "tar": "tar",
    # Debian's podman only recommends netavark, and a no-recommends install
    # may get the CNI plugins instead, on which the testbed's networks were
    # never tested; netavark needs iptables, which podman merely suggests.
    "netavark": "netavark",
    "iptables": "iptables",
}

# What the testbed's virtual machines need (`up --vms`, `vm start`): the
# emulator, qemu-img for their disks, the iPXE ROM QEMU loads into the virtio
# NIC (network boot), and OVMF's firmware and variable store for UEFI
# machines.  The files are the 4 MiB builds, which Debian 12 and 13 both ship.
VM_PROGRAMS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
}
IPXE_VIRTIO_ROM = "/usr/lib/ipxe/qemu/efi-virtio.rom"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
VM_FILES = {
    IPXE_VIRTIO_ROM: "ipxe-qemu",
    OVMF_CODE: "ovmf",
    OVMF_VARS: "ovmf",
}

INOTIFY_SYSCTL = "/proc/sys/fs/inotify/max_user_instances"
INOTIFY_WANTED = 8192

# Planning figure per host: an idle systemd container measured about 16 MiB,
# 24 MiB with SSH sessions open; services added by roles need headroom.
MEMORY_PER_HOST_MIB = 96
MEMORY_RESERVED_MIB = 2048


def missing_programs(vms=False):
    """{program or file: Debian package} of what is missing; vms: also what virtual machines need."""
    missing = {prog: pkg for prog, pkg in REQUIRED_PROGRAMS.items() if commands.which(prog) is None}
    if vms:
        missing.update({prog: pkg for prog, pkg in VM_PROGRAMS.items() if commands.which(prog) is None})
        missing.update({path: pkg for path, pkg in VM_FILES.items() if not os.path.exists(path)})
    return missing


def ensure_programs(install=True, log=print, vms=False):
    """Install what is missing with apt-get, or raise PrerequisiteError naming it.

    vms: also what the testbed's virtual machines need (QEMU, iPXE, OVMF).
    """
    missing = missing_programs(vms=vms)
    if not missing:
        return []
    packages = sorted(set(missing.values()))
    names = ", ".join(sorted(missing))
    if not install:
        raise PrerequisiteError(f"missing programs: {names} (Debian packages: {' '.join(packages)})")
    install_debian_packages(packages, f"missing programs: {names}", who="the testbed", log=log)
    still = missing_programs(vms=vms)
    if still:
        raise PrerequisiteError(f"still missing after apt-get install: {', '.join(sorted(still))}")
    return packages


def install_debian_packages(packages, reason, *, who, log=print):
    """apt-get install packages, non-interactively; PrerequisiteError when that cannot be done.

    reason says why they are needed ("missing programs: ..."); who names the
    tool that needs them, for the message telling a non-root user what to do.
    """
    if os.geteuid() != 0 or commands.which("apt-get") is None:
        raise PrerequisiteError(
            f"{reason}; install the Debian packages {' '.join(packages)} "
            f"as root ({who} installs them itself only when run as root on Debian)"
        )
    log(f"installing {' '.join(packages)} ({reason})")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    try:
        commands.run(["apt-get", "update", "-qq"], env=env, timeout=600)
        commands.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            env=env,
            timeout=1200,
        )
    except commands.CommandError as exc:
        raise PrerequisiteError(
            f"could not install {' '.join(packages)} with apt-get: {exc.stderr.strip()[-300:]}"
        ) from exc


def ensure_inotify_instances(wanted=INOTIFY_WANTED, log=print):
    """Raise fs.inotify.max_user_instances so many systemd containers can boot."""
    try:
        with open(INOTIFY_SYSCTL, encoding="ascii") as handle:
            current = int(handle.read().strip())
    except OSError as exc:
        raise PrerequisiteError(f"cannot read {INOTIFY_SYSCTL}: {exc}") from exc
    if current >= wanted:
        return current
    try:
        with open(INOTIFY_SYSCTL, "w", encoding="ascii") as handle:
            handle.write(str(wanted))
    except OSError as exc:
        raise PrerequisiteError(
            f"fs.inotify.max_user_instances is {current}; more than about 30 systemd "
            f"containers need {wanted} and it cannot be raised here: {exc}"
        ) from exc
    log(f"raised fs.inotify.max_user_instances from {current} to {wanted}")
    return wanted


# Upper bounds for the limits passed to containers.  Even at or below the
# caller's hard limit, a process limit near it was refused here ("setrlimit
# RLIMIT_NPROC: operation not permitted"); 32768 was accepted.  The kernel does
# not count root's processes against RLIMIT_NPROC, so a lower value costs
# nothing.
ULIMIT_CAPS = {"nofile": 1048576, "nproc": 32768}


def container_ulimits():
    """--ulimit arguments at the current hard limits or below (never above them)."""
    args = []
    for name, limit in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        _soft, hard = resource.getrlimit(limit)
        if hard == resource.RLIM_INFINITY:
            hard = ULIMIT_CAPS[name]
        value = min(hard, ULIMIT_CAPS[name])
        args += ["--ulimit", f"{name}={value}:{value}"]
    return args


def available_memory_mib():
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    raise PrerequisiteError("cannot read MemAvailable from /proc/meminfo")


def check_memory(host_count, available_mib=None):
    """Refuse a testbed the machine's free memory cannot hold."""
    available = available_memory_mib() if available_mib is None else available_mib
    needed = host_count * MEMORY_PER_HOST_MIB
    if needed > available - MEMORY_RESERVED_MIB:
        fits = max(0, (available - MEMORY_RESERVED_MIB) // MEMORY_PER_HOST_MIB)
        raise CapacityError(
            f"{host_count} hosts need about {needed} MiB at {MEMORY_PER_HOST_MIB} MiB each, but "
            f"only {available} MiB is available ({MEMORY_RESERVED_MIB} MiB kept for the "
            f"machine): this machine holds at most {fits} hosts now"
        )
    return needed

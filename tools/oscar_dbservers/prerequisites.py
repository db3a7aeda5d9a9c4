"""What the database servers need from the machine: Debian's server packages.

Installing mariadb-server or postgresql normally starts a system-wide daemon
(or tries to, and fails on a machine without systemd as PID 1).  Only the
private servers of this tool are wanted, so the packages are installed with
a policy-rc.d that forbids every daemon start, and a daemon that starts all
the same is stopped again.
"""

import contextlib
import glob
import os
import signal

from oscar_testbed import commands, host
from oscar_testbed.errors import PrerequisiteError

# program -> Debian package that provides it (mariadb-server brings the client too).
MARIADB_PROGRAMS = {
    "mariadb-install-db": "mariadb-server",
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-server",
}
POSTGRESQL_PROGRAMS = ("initdb", "pg_ctl")
POSTGRESQL_PACKAGE = "postgresql"
POSTGRESQL_ROOT = "/usr/lib/postgresql"

# Debian's hook that invoke-rc.d asks before starting a daemon; exit 101 means "no".
POLICY_RC_D = "/usr/sbin/policy-rc.d"


def postgresql_bin_dir(root=POSTGRESQL_ROOT):
    """The bin directory of the newest PostgreSQL installed (initdb and pg_ctl live there), or None."""
    versions = []
    for initdb in glob.glob(os.path.join(root, "*", "bin", "initdb")):
        version = initdb.split(os.sep)[-3]
        bin_dir = os.path.dirname(initdb)
        if version.isdigit() and all(
            os.access(os.path.join(bin_dir, p), os.X_OK) for p in POSTGRESQL_PROGRAMS
        ):
            versions.append((int(version), bin_dir))
    return max(versions)[1] if versions else None


def missing_packages():
    """Debian packages to install, each once, sorted."""
    missing = {package for program, package in MARIADB_PROGRAMS.items() if commands.which(program) is None}
    if postgresql_bin_dir() is None:
        missing.add(POSTGRESQL_PACKAGE)
    return sorted(missing)


def system_daemon_pids():
    """Process ids of the machine's own MariaDB and PostgreSQL servers (not this tool's).

    Debian starts them from /etc/mysql and /etc/postgresql; this tool's
    servers always run with a --defaults-file or a data directory of their own.
    """
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", encoding="utf-8") as handle:
                name = handle.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().decode(errors="replace").split("\0")
        except OSError:
            continue  # the process ended meanwhile
        if is_system_daemon(name, argv):
            pids.add(int(entry))
    return pids


def is_system_daemon(name, argv):
    """True for the main process of a server Debian's packages start."""
    if name in ("mariadbd", "mysqld"):
        return not any(arg.startswith("--defaults-file=") for arg in argv)
    if name == "postgres":
        return any("/etc/postgresql/" in arg for arg in argv)
    return False


@contextlib.contextmanager
def no_daemon_starts(policy=None):
    """Forbid daemon starts by package scripts for the block; a policy already there is left as it is."""
    policy = policy or POLICY_RC_D
    if os.path.lexists(policy):
        yield
        return
    with open(policy, "w", encoding="ascii") as handle:
        handle.write("#!/bin/sh\n# oscar_dbservers: no daemon starts while its packages install.\nexit 101\n")
    os.chmod(policy, 0o755)
    try:
        yield
    finally:
        os.remove(policy)


def ensure_packages(install=True, log=print):
    """Install the server packages that are missing; return their names ([] when none was)."""
    missing = missing_packages()
    if not missing:
        return []
    if not install:
        raise PrerequisiteError(f"missing Debian packages for the database servers: {' '.join(missing)}")
    running_before = system_daemon_pids()
    reason = "the private MariaDB and PostgreSQL servers of the tests need them"
    with no_daemon_starts():
        host.install_debian_packages(missing, reason, who="oscar_dbservers", log=log)
    for pid in sorted(system_daemon_pids() - running_before):
        # A system-wide server that a package script started anyway: not ours to keep.
        log(f"stopping database server process {pid}, started by the package installation")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    still = missing_packages()
    if still:
        raise PrerequisiteError(f"still missing after apt-get install: {' '.join(still)}")
    return missing

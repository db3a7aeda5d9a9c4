"""SSH access to test hosts: key pair, known hosts, client configuration.

Ansible and the tests reach the hosts with the plain OpenSSH client, exactly
as they reach real nodes.  The known-hosts file is filled by ssh-keyscan once
the hosts are up, so host keys are checked strictly and no prompt appears.
"""

import os
import socket
import time

from oscar_testbed import commands

# OpenSSH 9's default key exchange costs about 90 ms of client CPU per
# connection; curve25519 about 10 ms, which matters when fanning out.
KEX = "curve25519-sha256"


def make_key_pair(directory, comment):
    """Create an ed25519 key pair and the authorized_keys file the hosts read."""
    key = os.path.join(directory, "id_ed25519")
    commands.run(
        [commands.find_program("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key]
    )
    os.chmod(key, 0o600)
    keys_dir = os.path.join(directory, "keys")
    os.makedirs(keys_dir, mode=0o755, exist_ok=True)
    with open(key + ".pub", encoding="ascii") as public:
        public_key = public.read()
    authorized = os.path.join(keys_dir, "authorized_keys")
    with open(authorized, "w", encoding="ascii") as handle:
        handle.write(public_key)
    os.chmod(authorized, 0o600)
    return key


def ssh_config_text(hosts, key, known_hosts, machines=None):
    """An ssh_config for ``ssh -F``: one entry per host, by name and by address.

    No connection sharing here: every ``ssh -F`` opens its own connection, so
    a fault done to a host (paused, cut off) shows at once instead of hiding
    behind a master connection that has not noticed yet.  Ansible shares
    connections through its own per-testbed control directory (see the
    inventory).
    """
    lines = ["# Written by the oscar.cluster testbed; `ssh -F <this file> <host>`."]
    for host in hosts:
        lines += [
            f"Host {host.name} {host.management_ip}",
            f"  HostName {host.management_ip}",
            "  User root",
            f"  IdentityFile {key}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {known_hosts}",
            "  StrictHostKeyChecking yes",
            f"  KexAlgorithms {KEX}",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "  LogLevel ERROR",
            "",
        ]
    if machines:
        # The blank virtual machines: the cluster gives them their addresses
        # (anywhere in the private network) and every install makes them new
        # host keys, so no key can be known ahead; they are this testbed's own
        # machines on a network with no way out.
        lines += [
            f"Host {machines}",
            "  User root",
            f"  IdentityFile {key}",
            "  IdentitiesOnly yes",
            "  UserKnownHostsFile /dev/null",
            "  StrictHostKeyChecking no",
            f"  KexAlgorithms {KEX}",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "  LogLevel ERROR",
            "",
        ]
    return "\n".join(lines)


def port_open(address, port=22, timeout=1.0):
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            return conn.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_ports(addresses, deadline, port=22):
    """Addresses whose sshd has not answered by the deadline."""
    waiting = set(addresses)
    while waiting and time.monotonic() < deadline:
        for address in sorted(waiting):
            if port_open(address, port):
                waiting.discard(address)
        if waiting:
            time.sleep(0.5)
    return waiting


def scan_host_keys(hosts, timeout=10):
    """known_hosts lines for the hosts, each listed under its name and address."""
    by_address = {host.management_ip: host for host in hosts}
    result = commands.run(
        [commands.find_program("ssh-keyscan"), "-T", str(timeout), "-t", "ed25519", *by_address],
        check=False,
        timeout=timeout * 4 + 30,
    )
    lines = []
    for line in result.stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        address, keytype, key = line.split(None, 2)
        host = by_address.get(address)
        if host is not None:
            lines.append(f"{host.name},{address} {keytype} {key}")
    return lines


def ssh_argv(config_path, host_name, command=None, extra_options=()):
    argv = [commands.find_program("ssh"), "-F", config_path, *extra_options, host_name]
    if command:
        argv.append(command)
    return argv

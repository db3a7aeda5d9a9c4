"""SSH client configuration, host key scanning and the sshd banner probe."""

import contextlib
import socket
import subprocess
import threading
import time

import pytest

from oscar_testbed import commands, layout, sshaccess

KEY = "/state/tb/id_ed25519"
KNOWN_HOSTS = "/state/tb/known_hosts"


@pytest.fixture
def plan():
    return layout.make_plan("tb", 0, 2, standby=True)


def config_blocks(text):
    """{host line: [option lines]} of an ssh_config."""
    blocks = {}
    current = None
    for line in text.splitlines():
        if line.startswith("Host "):
            current = blocks.setdefault(line, [])
        elif line.strip() and not line.startswith("#"):
            assert current is not None, f"option outside a Host block: {line!r}"
            current.append(line.strip())
    return blocks


def test_ssh_config_has_one_host_block_per_host_by_name_and_address(plan):
    blocks = config_blocks(sshaccess.ssh_config_text(plan.hosts, KEY, KNOWN_HOSTS))
    assert list(blocks) == [
        "Host head 10.210.0.10",
        "Host standby 10.210.0.11",
        "Host node001 10.211.0.11",
        "Host node002 10.211.0.12",
    ]


def test_every_host_block_checks_host_keys_strictly_with_the_testbed_key(plan):
    blocks = config_blocks(sshaccess.ssh_config_text(plan.hosts, KEY, KNOWN_HOSTS))
    for host in plan.hosts:
        options = blocks[f"Host {host.name} {host.management_ip}"]
        assert f"HostName {host.management_ip}" in options
        assert "User root" in options
        assert f"IdentityFile {KEY}" in options
        assert "IdentitiesOnly yes" in options
        assert f"UserKnownHostsFile {KNOWN_HOSTS}" in options
        assert "StrictHostKeyChecking yes" in options
        assert "KexAlgorithms curve25519-sha256" in options
        assert "BatchMode yes" in options


def test_every_ssh_opens_its_own_connection_so_faults_show_at_once(plan):
    text = sshaccess.ssh_config_text(plan.hosts, KEY, KNOWN_HOSTS)
    assert "ControlMaster" not in text
    assert "ControlPath" not in text


def test_ssh_config_for_no_hosts_is_only_the_header():
    text = sshaccess.ssh_config_text([], KEY, KNOWN_HOSTS)
    assert text.startswith("#")
    assert "Host " not in text


KEYSCAN_OUTPUT = (
    "# 10.210.0.10:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n"
    "10.210.0.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIhead\n"
    "\n"
    "# 10.211.0.11:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n"
    "10.211.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAInode001\n"
    "10.99.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIstranger\n"
)


@pytest.fixture
def keyscan(monkeypatch):
    calls = []

    def fake_run(argv, **kwargs):
        calls.append((list(argv), kwargs))
        return subprocess.CompletedProcess(argv, 1, stdout=KEYSCAN_OUTPUT, stderr="")

    monkeypatch.setattr(commands, "find_program", lambda name: f"/fake/bin/{name}")
    monkeypatch.setattr(commands, "run", fake_run)
    return calls


def test_scan_host_keys_lists_each_key_under_name_and_address(plan, keyscan):
    assert sshaccess.scan_host_keys(plan.hosts) == [
        "head,10.210.0.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIhead",
        "node001,10.211.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAInode001",
    ]


def test_scan_host_keys_asks_ssh_keyscan_for_every_address_without_failing_on_silence(plan, keyscan):
    sshaccess.scan_host_keys(plan.hosts, timeout=7)
    [(argv, kwargs)] = keyscan
    assert argv == [
        "/fake/bin/ssh-keyscan",
        "-T",
        "7",
        "-t",
        "ed25519",
        "10.210.0.10",
        "10.210.0.11",
        "10.211.0.11",
        "10.211.0.12",
    ]
    assert kwargs["check"] is False
    assert kwargs["timeout"] > 7


def test_scan_host_keys_drops_addresses_of_hosts_not_asked_for(keyscan):
    only_head = [layout.make_plan("tb", 0, 2).host("head")]
    assert sshaccess.scan_host_keys(only_head) == [
        "head,10.210.0.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIhead",
    ]


def serve_once(banner):
    """A one-shot TCP server on 127.0.0.1 that sends ``banner``.

    Returns (port, thread, accepted): ``accepted`` gets one entry once a client
    connected.  The client may close with unread data (a reset), so errors after
    the accept are expected and ignored.
    """
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = []

    def answer():
        with server:
            server.settimeout(5)
            conn, addr = server.accept()
            accepted.append(addr)
            with conn, contextlib.suppress(OSError):
                conn.sendall(banner)
                conn.shutdown(socket.SHUT_WR)
                # Keep the connection open until the client has read the banner.
                conn.settimeout(5)
                conn.recv(1)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return port, thread, accepted


@pytest.mark.parametrize(
    ("banner", "expected"),
    [
        (b"SSH-2.0-test\r\n", True),
        (b"SSH-", True),
        (b"HTTP/1.1 400 Bad Request\r\n", False),
        (b"", False),
    ],
)
def test_port_open_is_true_only_for_a_server_that_speaks_ssh(banner, expected):
    port, thread, accepted = serve_once(banner)
    assert sshaccess.port_open("127.0.0.1", port, timeout=2) is expected
    thread.join(5)
    assert not thread.is_alive()
    assert len(accepted) == 1


def closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_port_open_is_false_for_a_closed_port():
    assert sshaccess.port_open("127.0.0.1", closed_port(), timeout=0.5) is False


def test_wait_for_ports_returns_nothing_when_every_port_answers(monkeypatch):
    probed = []
    monkeypatch.setattr(sshaccess, "port_open", lambda address, port: probed.append(address) or True)
    assert sshaccess.wait_for_ports(["10.0.0.2", "10.0.0.1"], time.monotonic() + 5) == set()
    assert sorted(probed) == ["10.0.0.1", "10.0.0.2"]


def test_wait_for_ports_returns_the_silent_addresses_at_the_deadline(monkeypatch):
    monkeypatch.setattr(sshaccess, "port_open", lambda address, port: address == "10.0.0.1")
    monkeypatch.setattr(sshaccess.time, "sleep", lambda _seconds: None)
    ticks = iter([0.0, 1.0, 2.0, 100.0])
    monkeypatch.setattr(sshaccess.time, "monotonic", lambda: next(ticks))
    assert sshaccess.wait_for_ports(["10.0.0.1", "10.0.0.2"], deadline=50.0) == {"10.0.0.2"}


@pytest.mark.parametrize(
    ("command", "extra", "tail"),
    [
        (None, (), ["node001"]),
        ("hostname", (), ["node001", "hostname"]),
        ("true", ("-o", "ConnectTimeout=3"), ["-o", "ConnectTimeout=3", "node001", "true"]),
    ],
)
def test_ssh_argv_uses_the_testbed_config(monkeypatch, command, extra, tail):
    monkeypatch.setattr(commands, "find_program", lambda name: f"/fake/bin/{name}")
    argv = sshaccess.ssh_argv("/state/tb/ssh_config", "node001", command, extra)
    assert argv == ["/fake/bin/ssh", "-F", "/state/tb/ssh_config", *tail]

"""The head's firewall (nftables, table inet oscar), checked with real connections.

This machine, the testbed's host, sits on the public network (as its gateway)
and stands for the outside world: SSH and ping get in, a port the head listens
on everywhere but does not open stays silent from here while the compute
nodes reach it on the cluster's network, and a port the site opens becomes
reachable.  The firewall loads at boot, leaves other tables alone, and goes
away when it is switched off.
"""

import json
import os
import re
import shlex
import socket
import struct
import time

import pytest
from runs import probe_from, probe_here

from oscar_testbed.molecule import connect, converge, recap, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "server")
RULES = "/etc/oscar-firewall.nft"
# A throw-away service on the head, listening on every address: it answers a
# TCP connection with a line and echoes UDP datagrams.
TCP_PORT = 18080
UDP_PORT = 18081
LISTENER_UNITS = {"tcp": "oscar-test-listener-tcp", "udp": "oscar-test-listener-udp"}
LISTENER_SCRIPT = r"""
import socket, sys
proto, port = sys.argv[1], int(sys.argv[2])
kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
server = socket.socket(socket.AF_INET, kind)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", port))
if proto == "tcp":
    server.listen()
    while True:
        connection, _ = server.accept()
        connection.sendall(b"oscar-listener\n")
        connection.close()
while True:
    data, peer = server.recvfrom(512)
    server.sendto(b"oscar-listener\n", peer)
"""
ANSWERED = "answered oscar-listener"


@pytest.fixture(scope="module")
def public_ip(plan):
    return plan.host("head").interface("public").ip


@pytest.fixture(scope="module")
def private_ip(plan):
    return plan.host("head").interface("private").ip


def start_listeners(head):
    for proto, unit in LISTENER_UNITS.items():
        head.run(f"systemctl stop {unit}")
        port = TCP_PORT if proto == "tcp" else UDP_PORT
        script = shlex.quote(LISTENER_SCRIPT)
        started = head.run(f"systemd-run --quiet --collect --unit={unit} python3 -c {script} {proto} {port}")
        assert started.rc == 0, started.stderr
    # Listening: the head reaches its own public address over loopback.
    deadline = time.monotonic() + 15
    while probe_from(head, "tcp", "127.0.0.1", TCP_PORT) != ANSWERED and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.fixture(scope="module")
def listeners(head):
    """The throw-away TCP and UDP listeners, on every address of the head."""
    start_listeners(head)
    yield
    for unit in LISTENER_UNITS.values():
        head.run(f"systemctl stop {unit}")


def ping(address, timeout=3):
    """True when address answers an ICMP echo request sent from this machine (a raw socket: root)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.settimeout(timeout)
    ident = os.getpid() & 0xFFFF
    payload = b"oscar-firewall-tests"  # an even length, for the checksum's 16-bit words
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    checksum_data = header + payload
    total = sum(struct.unpack(f"!{len(checksum_data) // 2}H", checksum_data))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    sock.sendto(struct.pack("!BBHHH", 8, 0, checksum, ident, 1) + payload, (address, 0))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data, (source, _port) = sock.recvfrom(1024)
            icmp = data[(data[0] & 0x0F) * 4 :]
            if source == address and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                return True
    except TimeoutError:
        return False
    finally:
        sock.close()
    return False


def ssh_banner(address):
    with socket.create_connection((address, 22), timeout=5) as sock:
        return sock.recv(64)


def converge_head(*extra_vars):
    """The firewall part of converge on the head alone, with extra variables (JSON)."""
    args = ["--limit", "head", "--tags", "server_firewall"]
    for extra in extra_vars:
        args += ["-e", json.dumps(extra)]
    return converge(*args)


def assert_converged(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert recap(result.stdout)["head"][2:] == (0, 0), result.stdout[-2000:]


# ---------------------------------------------------------------- in place


def test_the_ruleset_is_loaded_and_loads_at_boot(head):
    table = head.run("nft list table inet oscar")
    assert table.rc == 0, table.stderr
    assert head.service("oscar-firewall").is_enabled
    assert head.service("oscar-firewall").is_running


def test_the_rules_pass_nfts_own_check(head):
    check = head.run(f"nft -c -f {RULES}")
    assert check.rc == 0, check.stderr


def test_ssh_gets_in_from_the_public_network(public_ip):
    assert ssh_banner(public_ip).startswith(b"SSH-2.0-")


def test_ping_gets_in_from_the_public_network(public_ip):
    assert ping(public_ip), f"no ICMP echo reply from {public_ip}"


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize(("proto", "port"), [("tcp", TCP_PORT), ("udp", UDP_PORT)])
def test_a_port_not_opened_is_silent_from_the_public_network(head, public_ip, proto, port):
    # The head itself reaches the listener on its public address: it listens there.
    assert probe_from(head, proto, public_ip, port) == ANSWERED
    assert probe_here(proto, public_ip, port) == "silent"


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize(("proto", "port"), [("tcp", TCP_PORT), ("udp", UDP_PORT)])
def test_the_cluster_network_is_trusted(node, private_ip, proto, port):
    assert probe_from(node, proto, private_ip, port) == ANSWERED


def test_the_head_does_not_forward_from_outside_into_the_cluster(head, private_ip):
    """The forward chain drops what another interface sends out of the cluster's one, unless it answers."""
    private_interface = head.check_output(f"ip -o -4 addr show to {private_ip}").split()[1]
    chain = json.loads(head.check_output("nft -j list chain inet oscar forward"))
    rules = [item["rule"]["expr"] for item in chain["nftables"] if "rule" in item]

    def matches(rule, key, op):
        return any(
            "match" in expr
            and expr["match"]["left"] == {"meta": {"key": key}}
            and expr["match"]["op"] == op
            and expr["match"]["right"] == private_interface
            for expr in rule
        )

    into_cluster = [
        rule
        for rule in rules
        if {"drop": None} in rule and matches(rule, "oifname", "==") and matches(rule, "iifname", "!=")
    ]
    assert len(into_cluster) == 1, rules


# ---------------------------------------------------------------- changes


@pytest.mark.usefixtures("listeners")
def test_ports_the_site_opens_become_reachable_and_close_again(public_ip):
    opened = converge_head(
        {"server_firewall_public_tcp_ports": [TCP_PORT], "server_firewall_public_udp_ports": [UDP_PORT]}
    )
    try:
        assert_converged(opened)
        # The play went on after the new rules were in place, over a new connection.
        reached = r"Check that Ansible still reaches the head through the firewall\] \**\s+ok: \[head\]"
        assert re.search(reached, opened.stdout), opened.stdout[-3000:]
        assert probe_here("tcp", public_ip, TCP_PORT) == ANSWERED
        assert probe_here("udp", public_ip, UDP_PORT) == ANSWERED
    finally:
        restored = converge_head()
    assert_converged(restored)
    assert probe_here("tcp", public_ip, TCP_PORT) == "silent"
    assert probe_here("udp", public_ip, UDP_PORT) == "silent"


def test_reloading_leaves_other_tables_alone(head):
    """A table of the site's (or Docker's) survives the firewall's reload."""
    head.run("nft delete table inet oscar_test_site")
    created = head.run("nft add table inet oscar_test_site && nft add chain inet oscar_test_site keep")
    assert created.rc == 0, created.stderr
    try:
        reloaded = head.run("systemctl reload oscar-firewall")
        assert reloaded.rc == 0, reloaded.stderr
        assert head.run("nft list chain inet oscar_test_site keep").rc == 0
        assert head.run("nft list table inet oscar").rc == 0
    finally:
        head.run("nft delete table inet oscar_test_site")


def test_a_bad_port_stops_the_run_before_any_change(head):
    before = head.file(RULES).sha256sum
    result = converge_head({"server_firewall_public_tcp_ports": [8080, 70000]})
    assert result.returncode != 0, result.stdout[-3000:]
    message = " ".join((result.stdout + result.stderr).split())
    expected = "server_firewall_public_tcp_ports has 70000, not a TCP or UDP port (1-65535)"
    assert expected in message, message[-3000:]
    assert recap(result.stdout)["head"][1:] == (0, 0, 1), result.stdout[-2000:]
    assert head.file(RULES).sha256sum == before


@pytest.mark.usefixtures("listeners")
def test_switched_off_the_firewall_goes_away_and_comes_back(head, public_ip):
    off = converge_head({"server_firewall": False})
    try:
        assert_converged(off)
        assert head.run("nft list table inet oscar").rc != 0
        assert not head.file(RULES).exists
        assert not head.file("/etc/systemd/system/oscar-firewall.service").exists
        assert probe_here("tcp", public_ip, TCP_PORT) == ANSWERED
    finally:
        on = converge_head()
    assert_converged(on)
    assert head.run("nft list table inet oscar").rc == 0
    assert probe_here("tcp", public_ip, TCP_PORT) == "silent"


def test_the_firewall_is_back_after_the_head_restarts(head, public_ip):
    testbed = scenario_testbed(SCENARIO)
    testbed.stop("head")
    testbed.start("head")
    restarted = connect("head")
    try:
        assert restarted.run("nft list table inet oscar").rc == 0
        assert restarted.service("oscar-firewall").is_running
        start_listeners(restarted)
        assert probe_from(restarted, "tcp", public_ip, TCP_PORT) == ANSWERED
        assert probe_here("tcp", public_ip, TCP_PORT) == "silent"
        assert ssh_banner(public_ip).startswith(b"SSH-2.0-")
    finally:
        for unit in LISTENER_UNITS.values():
            restarted.run(f"systemctl stop {unit}")
        # The cluster as the other tests find it: the nodes' chronyd asks the
        # restarted head again at once rather than at its next poll.
        for name in ("node001", "node002"):
            connect(name).run("systemctl restart chrony")

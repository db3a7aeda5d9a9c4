"""clients: apt on the node goes through the head's package cache, the node having no route out.

The node reaches no mirror itself, yet the role installed chrony through the
head (the cache logged it) and a package it did not have installs the same
way.  A cache that does not answer, or a bad port, stops the role before it
changes anything; switched off, the node is left to its own mirrors (here:
none it can reach).
"""

import os
import shlex

import pytest

from oscar_testbed.molecule import converge

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "clients")
DROPIN = "/etc/apt/apt.conf.d/99oscar-package-cache"
LOG = "/var/log/apt-cacher-ng/apt-cacher.log"
PORT = 3142
MIRROR = "deb.debian.org"
# A small package (about 50 kB) with no dependency the node lacks, installed by nothing else.
PACKAGE = "hello"
# argv: ADDRESS PORT.  Prints "connected" or why not.
CONNECT_SCRIPT = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    print("connected")
except OSError as error:
    print("failed", error.strerror or error)
"""


@pytest.fixture(scope="module")
def head_ip(plan):
    return plan.host("head").interface("private").ip


@pytest.fixture(scope="module")
def node_ip(plan):
    return plan.host("node001").interface("private").ip


def converge_node(*args):
    """converge.yml on node001 alone, as molecule runs it, with plain output."""
    return converge("--limit", "node001", *args, timeout=600)


def reach(host, address, port):
    result = host.run(f"python3 -c {shlex.quote(CONNECT_SCRIPT)} {address} {port}")
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def download(node):
    """apt-get download of PACKAGE into a scratch directory: (rc, output)."""
    result = node.run(f'cd "$(mktemp -d)" && apt-get download -q -o Acquire::Retries=0 {PACKAGE}')
    return result.rc, result.stdout + result.stderr


def test_apt_is_pointed_at_the_head(node, head_ip):
    dropin = node.file(DROPIN)
    assert dropin.user == "root"
    assert dropin.mode == 0o644
    config = node.check_output("apt-config dump Acquire").splitlines()
    assert f'Acquire::http::Proxy "http://{head_ip}:{PORT}/";' in config
    assert f'Acquire::https::Proxy "http://{head_ip}:{PORT}/";' in config


def test_the_node_has_no_route_to_the_mirror(head, node):
    mirror_ip = head.check_output(f"getent ahostsv4 {MIRROR}").split()[0]
    assert reach(head, mirror_ip, 80) == "connected"
    assert reach(node, mirror_ip, 80) == "failed Network is unreachable"


def test_the_roles_own_packages_came_through_the_head(head, node, node_ip):
    """chrony, installed by the role after apt was pointed at the head, is in the head's log for this node."""
    assert node.package("chrony").is_installed
    served = [line for line in head.file(LOG).content_string.splitlines() if f"|{node_ip}|" in line]
    assert any("/chrony_" in line for line in served), served[-20:]


@pytest.fixture
def package_absent(node):
    removed = node.run(f"apt-get purge -y -q {PACKAGE} && apt-get clean")
    assert removed.rc == 0, removed.stdout + removed.stderr
    assert not node.package(PACKAGE).is_installed
    yield
    node.run(f"apt-get purge -y -q {PACKAGE}")


@pytest.mark.usefixtures("package_absent")
def test_a_package_installs_through_the_head(head, node, node_ip):
    log_lines = len(head.file(LOG).content_string.splitlines())
    installed = node.run(f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {PACKAGE}")
    assert installed.rc == 0, installed.stdout + installed.stderr
    assert node.check_output(PACKAGE) == "Hello, world!"
    new_lines = head.file(LOG).content_string.splitlines()[log_lines:]
    assert [line for line in new_lines if f"|{node_ip}|" in line and f"/{PACKAGE}_" in line], new_lines


@pytest.mark.parametrize(
    ("extra", "messages"),
    [
        ("clients_package_cache_port=3143", ["package cache does not answer at", ":3143 from node001"]),
        ("clients_package_cache_port=70000", ["clients_package_cache_port must be a TCP port", "got 70000"]),
    ],
)
def test_a_cache_that_cannot_answer_stops_the_role_before_any_change(node, extra, messages):
    before = node.file(DROPIN).sha256sum
    result = converge_node("-e", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    assert "changed=0" in result.stdout.split("PLAY RECAP")[-1]
    assert node.file(DROPIN).sha256sum == before


def test_switched_off_the_node_is_left_to_its_own_route(node):
    off = converge_node("-e", "clients_package_cache=false")
    try:
        assert off.returncode == 0, off.stdout[-3000:] + off.stderr[-2000:]
        assert not node.file(DROPIN).exists
        # Without the head, apt finds no way to the mirror: the node has no route out.
        rc, output = download(node)
        assert rc != 0, output
        assert "unreachable" in output, output
    finally:
        on = converge_node()
    assert on.returncode == 0, on.stdout[-3000:] + on.stderr[-2000:]
    assert node.file(DROPIN).exists
    rc, output = download(node)
    assert rc == 0, output

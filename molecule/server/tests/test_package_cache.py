"""The head's package cache (apt-cacher-ng), through which the compute nodes install everything.

The private network has no route out: a node cannot reach Debian's mirror
itself, yet installs a package it did not have, through the head, which logs
the download and keeps the file.  https sources get a tunnel to Debian's
mirrors, and to nowhere else.
"""

import os
import shlex

import pytest
from runs import probe_from

from oscar_testbed.molecule import connect

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "server")
NODES = ["node001", "node002"]
PORT = 3142
MIRROR = "deb.debian.org"
LOG = "/var/log/apt-cacher-ng/apt-cacher.log"
CACHE_DIR = "/var/cache/apt-cacher-ng"
# A small package (about 50 kB) with no dependency the nodes lack, installed
# by nothing else.
PACKAGE = "hello"

# argv: HOST [PROXY_ADDRESS PROXY_PORT].  Opens a TLS connection to HOST:443,
# through a tunnel (CONNECT) that the proxy opens when one is named, and asks
# for Debian's Release file.  Prints the proxy's status line (when asked
# through one), then the SHA-256 of the certificate the other end showed, and
# the HTTP status line.  The certificate is compared, not verified: trusting
# it is apt's business at the ends, the tunnel's is to carry the conversation
# untouched, so the certificate seen through it must be the one seen directly.
TLS_SCRIPT = r"""
import hashlib, socket, ssl, sys
host = sys.argv[1]
if len(sys.argv) > 2:
    sock = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=20)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    status = reply.split(b"\r\n")[0].decode()
    print(status)
    if " 200" not in status:
        sys.exit(0)
else:
    sock = socket.create_connection((host, 443), timeout=20)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
tls = context.wrap_socket(sock, server_hostname=host)
print(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())
request = f"HEAD /debian/dists/bookworm/Release HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
tls.sendall(request.encode())
print(tls.recv(4096).split(b"\r\n")[0].decode())
"""


@pytest.fixture(scope="module")
def private_ip(plan):
    return plan.host("head").interface("private").ip


@pytest.fixture(scope="module", params=NODES)
def node_name(request):
    return request.param


@pytest.fixture(scope="module")
def node(node_name):
    return connect(node_name)


def test_the_cache_runs_and_starts_at_boot(head):
    assert head.service("apt-cacher-ng").is_running
    assert head.service("apt-cacher-ng").is_enabled


def test_the_cache_listens_on_the_cluster_network_only(head, plan, private_ip):
    assert head.socket(f"tcp://{private_ip}:{PORT}").is_listening
    assert not head.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    assert not head.socket(f"tcp://:::{PORT}").is_listening
    # The head's public address is not served, even from the head itself.
    assert probe_from(head, "tcp", plan.host("head").interface("public").ip, PORT) == "refused"


def test_the_nodes_apt_goes_through_the_head(node, private_ip):
    config = node.check_output("apt-config dump Acquire")
    assert f'Acquire::http::Proxy "http://{private_ip}:{PORT}/";' in config.splitlines()
    assert f'Acquire::https::Proxy "http://{private_ip}:{PORT}/";' in config.splitlines()


def test_a_node_has_no_route_to_the_mirror(head, node):
    """The mirror's address, which the head reaches, is out of a node's reach."""
    addresses = head.check_output(f"getent ahostsv4 {MIRROR}").split()
    assert addresses, f"the head cannot resolve {MIRROR}"
    mirror_ip = addresses[0]
    assert probe_from(head, "connect", mirror_ip, 80, timeout=10) == "connected"
    assert probe_from(node, "tcp", mirror_ip, 80, timeout=5) == "failed Network is unreachable"


@pytest.fixture
def package_absent(node):
    """The node without PACKAGE, nor its .deb in apt's own cache; removed again afterwards."""
    removed = node.run(f"apt-get purge -y -q {PACKAGE} && apt-get clean")
    assert removed.rc == 0, removed.stdout + removed.stderr
    assert not node.package(PACKAGE).is_installed
    yield
    node.run(f"apt-get purge -y -q {PACKAGE}")


@pytest.mark.usefixtures("package_absent")
def test_a_node_installs_a_package_through_the_head(head, node, node_name, plan):
    node_ip = plan.host(node_name).interface("private").ip
    log_lines = len(head.file(LOG).content_string.splitlines())
    installed = node.run(f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {PACKAGE}")
    assert installed.rc == 0, installed.stdout + installed.stderr
    assert node.check_output(PACKAGE) == "Hello, world!"
    # The head served it: its log has the download for this node, and its cache the file.
    new_lines = head.file(LOG).content_string.splitlines()[log_lines:]
    served = [line for line in new_lines if f"|{node_ip}|" in line and f"/{PACKAGE}_" in line]
    assert served, new_lines
    cached = head.check_output(f"find {CACHE_DIR} -name {shlex.quote(PACKAGE + '_*.deb')}")
    assert cached.strip(), f"no {PACKAGE} .deb under {CACHE_DIR}"


def tls(host, *args):
    result = host.run(f"python3 -c {shlex.quote(TLS_SCRIPT)} {' '.join(args)}")
    assert result.rc == 0, result.stderr
    return result.stdout.splitlines()


def test_https_sources_tunnel_to_debians_mirrors(head, node, private_ip):
    direct_certificate, direct_status = tls(head, MIRROR)
    assert direct_status.startswith("HTTP/1.1 200"), direct_status
    tunnel, certificate, status = tls(node, MIRROR, private_ip, str(PORT))
    assert " 200" in tunnel, tunnel
    assert certificate == direct_certificate
    assert status.startswith("HTTP/1.1 200"), status


def test_the_cache_is_no_tunnel_to_anywhere_else(node, private_ip):
    (refused,) = tls(node, "www.example.org", private_ip, str(PORT))
    assert refused.split()[1] == "403", refused

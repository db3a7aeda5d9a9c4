"""The node's side of the cluster's SSH: the head's key pair, its known hosts block, no prompt either way.

Checked with the real ssh and sshd: root goes from the head to the node by
short name, FQDN and address and back with no password, prompt or warning;
the node's copies are the head's; a key of the site's own in root's
authorized_keys survives a rerun; and what the role cannot do stops it,
named, before anything changes.
"""

import os
import re
import shlex
import subprocess
import sys

import pytest
import testinfra

from oscar_testbed.molecule import scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "clients")
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
INVENTORY = os.path.join(EPHEMERAL, "inventory", "ansible_inventory.yml")
SCENARIO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = ["head", "node001"]
KEY = "/root/.ssh/id_oscar_cluster"
KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
BEGIN = "# BEGIN oscar.cluster: the cluster's SSH host keys, read from each host"
END = "# END oscar.cluster: the cluster's SSH host keys, read from each host"
SITE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMguKKFxIHeN4mVFYvISRHWQ4hwbgGeoJsNw8SHABXvj admin@site"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def connect(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY)


@pytest.fixture(scope="module")
def node():
    return connect("node001")


@pytest.fixture(scope="module")
def head():
    return connect("head")


@pytest.fixture(scope="module")
def ips():
    plan = scenario_testbed(SCENARIO).plan()
    return {name: plan.host(name).interface("private").ip for name in HOSTS}


def converge(*args):
    """ansible-playbook on the scenario's converge.yml with molecule's inventory; (result, recap by host)."""
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            *("-i", os.path.join(EPHEMERAL, "inventory"), os.path.join(SCENARIO_DIR, "converge.yml")),
            *args,
        ],
        capture_output=True,
        text=True,
        # Plain output (molecule asks for colours); failures are printed on stderr.
        env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", NO_COLOR="1"),
        timeout=600,
        check=False,
    )
    counts = {match[0]: tuple(int(n) for n in match[1:]) for match in RECAP.findall(result.stdout)}
    return result, counts


def block(host):
    text = host.file(KNOWN_HOSTS).content_string
    assert BEGIN in text and END in text, text
    return text.split(BEGIN + "\n", 1)[1].split(END, 1)[0]


def test_the_node_has_the_heads_key_pair_roots_alone(node, head):
    private = node.file(KEY)
    assert (private.user, private.group, private.mode) == ("root", "root", 0o600)
    assert private.sha256sum == head.file(KEY).sha256sum
    public = node.file(KEY + ".pub")
    assert (public.user, public.mode) == ("root", 0o644)
    assert public.content_string.split()[:2] == node.check_output(f"ssh-keygen -y -f {KEY}").split()[:2]
    directory = node.file("/root/.ssh")
    assert (directory.user, directory.mode) == ("root", 0o700)


def test_the_node_authorizes_the_cluster_key(node):
    public = " ".join(node.file(KEY + ".pub").content_string.split()[:2])
    authorized = node.file("/root/.ssh/authorized_keys")
    assert (authorized.user, authorized.mode) == ("root", 0o600)
    assert f"{public} oscar.cluster-root" in authorized.content_string.splitlines()


def test_the_node_uses_the_heads_ssh_config_drop_in(node, head):
    dropin = "/etc/ssh/ssh_config.d/oscar-cluster.conf"
    assert node.file(dropin).content_string == head.file(dropin).content_string
    assert node.file(dropin).mode == 0o644


@pytest.mark.parametrize(("source", "target"), [("head", "node001"), ("node001", "head")])
def test_root_goes_both_ways_with_no_password_prompt_or_warning(ips, source, target):
    host = connect(source)
    for name in (target, f"{target}.cluster", ips[target]):
        answer = host.run(f"ssh -o BatchMode=yes {shlex.quote(name)} hostname")
        assert (answer.rc, answer.stdout.strip(), answer.stderr) == (0, target, ""), f"{source} -> {name}"


def test_the_nodes_known_hosts_block_is_the_heads(node, head):
    assert block(node) == block(head)
    assert node.file(KNOWN_HOSTS).mode == 0o644


@pytest.mark.parametrize("name", HOSTS)
def test_the_node_knows_each_hosts_real_keys(node, ips, name):
    own = connect(name).check_output("cat /etc/ssh/ssh_host_*_key.pub")
    keys = {tuple(line.split()[:2]) for line in own.splitlines() if line.strip()}
    for target in (name, f"{name}.cluster", ips[name]):
        found = node.check_output(f"ssh-keygen -F {target} -f {KNOWN_HOSTS}")
        assert {tuple(line.split()[1:3]) for line in found.splitlines() if line and line[0] != "#"} == keys


@pytest.fixture
def site_key(node):
    """A key of the site's own in root's authorized_keys on the node, removed afterwards."""
    node.run(f"echo {shlex.quote(SITE_KEY)} >> /root/.ssh/authorized_keys")
    yield SITE_KEY
    node.run("sed -i '/ admin@site$/d' /root/.ssh/authorized_keys")


def test_a_rerun_keeps_the_sites_own_authorized_key_and_changes_nothing(node, site_key):
    result, counts = converge("--limit", "node001", "--tags", "clients_ssh")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert counts["node001"][1] == 0, result.stdout[-3000:]
    authorized = node.file("/root/.ssh/authorized_keys").content_string.splitlines()
    assert site_key in authorized
    assert len([line for line in authorized if line.endswith(" oscar.cluster-root")]) == 1


@pytest.mark.parametrize(
    ("extra", "messages"),
    [
        ("clients_ssh_known_hosts=maybe", ["clients_ssh_known_hosts", "maybe"]),
        # What the head lacks (here: a key pair by another name) is named, with what to do.
        (
            "__clients_ssh_key=/root/.ssh/id_nosuch",
            [
                "The head head lacks /root/.ssh/id_nosuch, /root/.ssh/id_nosuch.pub,",
                "run oscar.cluster.server",
            ],
        ),
    ],
)
def test_what_the_role_cannot_do_stops_it_before_any_change(node, extra, messages):
    before = (node.file(KEY).sha256sum, node.file(KNOWN_HOSTS).sha256sum)
    result, counts = converge("--limit", "node001", "--tags", "clients_ssh", "-e", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    assert counts["node001"][1:] == (0, 0, 1), result.stdout[-2000:]
    assert (node.file(KEY).sha256sum, node.file(KNOWN_HOSTS).sha256sum) == before

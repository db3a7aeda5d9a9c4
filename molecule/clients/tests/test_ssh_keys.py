"""The node's side of the cluster's SSH: the head's key pair, its known hosts block, no prompt either way.

Checked with the real ssh and sshd: root goes from the head to the node by
short name, FQDN and address and back with no password, prompt or warning;
the node's copies are the head's; a key of the site's own in root's
authorized_keys survives a rerun; and what the role cannot do stops it,
named, before anything changes.
"""

import os
import shlex

import pytest

from oscar_testbed.molecule import connect, converge, recap, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "clients")
HOSTS = ["head", "node001"]
KEY = "/root/.ssh/id_oscar_cluster"
KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
BEGIN = "# BEGIN oscar.cluster: the cluster's SSH host keys, read from each host"
END = "# END oscar.cluster: the cluster's SSH host keys, read from each host"
SITE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMguKKFxIHeN4mVFYvISRHWQ4hwbgGeoJsNw8SHABXvj admin@site"


@pytest.fixture(scope="module")
def ips():
    plan = scenario_testbed(SCENARIO).plan()
    return {name: plan.host(name).interface("private").ip for name in HOSTS}


def converge_with_recap(*args):
    """converge.yml with molecule's inventory; (result, recap by host)."""
    result = converge(*args, timeout=600)
    return result, recap(result.stdout)


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
    result, counts = converge_with_recap("--limit", "node001", "--tags", "clients_ssh")
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
    result, counts = converge_with_recap("--limit", "node001", "--tags", "clients_ssh", "-e", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    assert counts["node001"][1:] == (0, 0, 1), result.stdout[-2000:]
    assert (node.file(KEY).sha256sum, node.file(KNOWN_HOSTS).sha256sum) == before

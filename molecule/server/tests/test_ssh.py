"""Passwordless SSH for root across the cluster, every host key known, checked with the real ssh and sshd.

From the head root reaches each node by short name, FQDN and address, the
nodes reach each other and the head, with no password, no prompt and no
warning; each host's real host keys are in /etc/ssh/ssh_known_hosts, the same
block on every host; host keys are still checked; and a node that is down
when the role runs keeps its keys, with a warning, and nothing changes.
"""

import os
import shlex

import pytest

from oscar_testbed.molecule import connect, converge, recap, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "server")
NODES = ["node001", "node002"]
HOSTS = ["head", *NODES]
DOMAIN = "cluster"
KEY = "/root/.ssh/id_oscar_cluster"
KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
BEGIN = "# BEGIN oscar.cluster: the cluster's SSH host keys, read from each host"
END = "# END oscar.cluster: the cluster's SSH host keys, read from each host"
# A key of the site's own in root's authorized_keys, which the roles must keep.
SITE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMguKKFxIHeN4mVFYvISRHWQ4hwbgGeoJsNw8SHABXvj admin@site"


@pytest.fixture(scope="module")
def ips():
    plan = scenario_testbed(SCENARIO).plan()
    return {name: plan.host(name).interface("private").ip for name in HOSTS}


def names_of(name, ips):
    return [name, f"{name}.{DOMAIN}", ips[name]]


def ssh(host, target, command="hostname"):
    """root's ssh from host to target, as a user types it: no option but BatchMode (never ask)."""
    return host.run(f"ssh -o BatchMode=yes {shlex.quote(target)} {command}")


def host_keys(name):
    """{(type, key)} of a host's own /etc/ssh/ssh_host_*_key.pub."""
    text = connect(name).check_output("cat /etc/ssh/ssh_host_*_key.pub")
    return {tuple(line.split()[:2]) for line in text.splitlines() if line.strip()}


def known_keys(host, name):
    """{(type, key)} ssh finds for name in host's global known hosts (ssh-keygen -F reads it as ssh does)."""
    found = host.run(f"ssh-keygen -F {shlex.quote(name)} -f {KNOWN_HOSTS}")
    return {
        tuple(line.split()[1:3]) for line in found.stdout.splitlines() if line and not line.startswith("#")
    }


def block(host):
    text = host.file(KNOWN_HOSTS).content_string
    assert BEGIN in text and END in text, text
    return text.split(BEGIN + "\n", 1)[1].split(END, 1)[0]


# ---------------------------------------------------------------- passwordless, no prompt


@pytest.mark.parametrize("node", NODES)
def test_root_on_the_head_reaches_each_node_by_name_fqdn_and_address(ips, node):
    head = connect("head")
    for target in names_of(node, ips):
        answer = ssh(head, target)
        assert answer.rc == 0, f"head -> {target}: {answer.stderr}"
        assert answer.stdout.strip() == node
        # No prompt, no "Permanently added ... to the list of known hosts", nothing at all.
        assert answer.stderr == "", f"head -> {target}: {answer.stderr}"


@pytest.mark.parametrize(("source", "target"), [("node001", "node002"), ("node002", "node001")])
def test_nodes_reach_each_other(ips, source, target):
    for name in names_of(target, ips):
        answer = ssh(connect(source), name)
        assert (answer.rc, answer.stdout.strip(), answer.stderr) == (0, target, ""), f"{source} -> {name}"


@pytest.mark.parametrize("node", NODES)
def test_nodes_reach_the_head(ips, node):
    for name in names_of("head", ips):
        answer = ssh(connect(node), name)
        assert (answer.rc, answer.stdout.strip(), answer.stderr) == (0, "head", ""), f"{node} -> {name}"


@pytest.mark.parametrize("name", HOSTS)
def test_root_learns_no_host_key_of_its_own(name, ips):
    """ssh found every key in the global file: root's own known_hosts holds none of the cluster's."""
    host = connect(name)
    for other in HOSTS:
        ssh(host, other, "true")
    personal = host.file("/root/.ssh/known_hosts")
    if personal.exists:
        for other in HOSTS:
            for target in names_of(other, ips):
                assert host.run(f"ssh-keygen -F {target} -f /root/.ssh/known_hosts").rc == 1, target


@pytest.mark.parametrize("name", HOSTS)
def test_host_keys_are_still_checked(name):
    """A host key that no name of the file vouches for is refused: StrictHostKeyChecking stays on."""
    host = connect(name)
    target = "node002" if name == "node001" else "node001"
    # ssh's own failures exit 255, which testinfra takes for a lost connection: report it in the output.
    refused = host.check_output(
        f"ssh -o BatchMode=yes -o HostKeyAlias=not-a-cluster-host {target} true 2>&1; echo exit=$?"
    )
    assert refused.splitlines()[-2:] == ["Host key verification failed.", "exit=255"], refused
    options = host.check_output(f"ssh -G {target}").splitlines()
    assert {"stricthostkeychecking ask", "stricthostkeychecking true"} & set(options), options
    assert host.run("grep -riE 'StrictHostKeyChecking[ =]+(no|off)' /etc/ssh /root/.ssh").rc == 1


# ---------------------------------------------------------------- known hosts


@pytest.mark.parametrize("name", HOSTS)
def test_the_head_knows_every_hosts_real_keys_under_all_its_names(ips, name):
    head = connect("head")
    keys = host_keys(name)
    assert {key[0] for key in keys} >= {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"}
    for target in names_of(name, ips):
        assert known_keys(head, target) == keys, target


@pytest.mark.parametrize("node", NODES)
def test_every_node_has_the_heads_block(node):
    head_block = block(connect("head"))
    assert len(head_block.splitlines()) == 9  # three hosts, three key types each
    assert block(connect(node)) == head_block


# ---------------------------------------------------------------- key pair


@pytest.mark.parametrize("name", HOSTS)
def test_the_cluster_key_pair_is_roots_alone_and_authorized(name):
    host = connect(name)
    directory = host.file("/root/.ssh")
    assert (directory.user, directory.group, directory.mode) == ("root", "root", 0o700)
    private = host.file(KEY)
    assert (private.user, private.group, private.mode) == ("root", "root", 0o600)
    public = host.file(KEY + ".pub")
    assert (public.user, public.group, public.mode) == ("root", "root", 0o644)
    # The public key is the private key's, and it is an ed25519 key.
    derived = host.check_output(f"ssh-keygen -y -f {KEY}").split()[:2]
    assert public.content_string.split()[:2] == derived
    assert derived[0] == "ssh-ed25519"
    authorized = host.file("/root/.ssh/authorized_keys")
    assert (authorized.user, authorized.mode) == ("root", 0o600)
    assert f"{' '.join(derived)} oscar.cluster-root" in authorized.content_string.splitlines()


@pytest.mark.parametrize("node", NODES)
def test_every_node_has_the_heads_key_pair(node):
    assert connect(node).file(KEY).sha256sum == connect("head").file(KEY).sha256sum


@pytest.mark.parametrize("name", HOSTS)
def test_root_uses_the_cluster_key_for_the_cluster_only(ips, name):
    host = connect(name)
    for target in names_of("node001", ips):
        assert f"identityfile {KEY}" in host.check_output(f"ssh -G {target}").splitlines(), target
    outside = host.check_output("ssh -G gateway.example").splitlines()
    assert f"identityfile {KEY}" not in outside
    assert "identityfile ~/.ssh/id_ed25519" in outside, "root's own keys stay its default elsewhere"


@pytest.mark.parametrize("name", HOSTS)
def test_sshd_runs_and_starts_at_boot(name):
    host = connect(name)
    assert host.service("ssh").is_running
    assert host.service("ssh").is_enabled


# ---------------------------------------------------------------- runs


@pytest.fixture
def node002_down(tmp_path):
    """An inventory in which node002's sshd cannot be reached, as when the node is down."""
    override = tmp_path / "node002-down.yml"
    override.write_text("all:\n  hosts:\n    node002:\n      ansible_port: 9\n")
    return str(override)


@pytest.fixture
def site_key_on_the_head():
    """A key of the site's own in root's authorized_keys on the head, removed afterwards."""
    head = connect("head")
    head.run(f"echo {shlex.quote(SITE_KEY)} >> /root/.ssh/authorized_keys")
    yield head
    head.run("sed -i '/ admin@site$/d' /root/.ssh/authorized_keys")


def test_a_node_down_keeps_its_keys_with_a_warning_and_nothing_changes(node002_down, site_key_on_the_head):
    head = site_key_on_the_head
    before = head.file(KNOWN_HOSTS).sha256sum
    result = converge("-i", node002_down, "--limit", "head", "--tags", "server_ssh")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert (
        "SSH host keys not read from node002 (down or unreachable): the keys known before are kept" in output
    )
    assert recap(result.stdout)["head"][1] == 0, result.stdout[-2000:]
    assert head.file(KNOWN_HOSTS).sha256sum == before
    authorized = head.file("/root/.ssh/authorized_keys").content_string.splitlines()
    assert SITE_KEY in authorized, "the site's own key stays"
    assert [line for line in authorized if line.endswith(" oscar.cluster-root")], "the cluster's key stays"


@pytest.mark.parametrize(
    ("extra", "messages"),
    [
        ("server_ssh_root_key_type=dsa", ["server_ssh_root_key_type", "dsa"]),
        (
            "server_ssh_root_key_type=rsa",
            [f"{KEY} is a ssh-ed25519 key, but server_ssh_root_key_type is rsa", "is never replaced"],
        ),
        ("server_ssh_known_hosts=maybe", ["server_ssh_known_hosts", "maybe"]),
    ],
)
def test_bad_ssh_settings_stop_the_role_before_any_change(extra, messages):
    head = connect("head")
    before = (head.file(KEY).sha256sum, head.file(KNOWN_HOSTS).sha256sum)
    result = converge("--limit", "head", "--tags", "server_ssh", "-e", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    assert recap(result.stdout)["head"][1:] == (0, 0, 1), result.stdout[-2000:]
    assert (head.file(KEY).sha256sum, head.file(KNOWN_HOSTS).sha256sum) == before

"""NFS on a compute node: /home and /opt/cluster mounted from the head, used by real users.

The node's kernel decides the client (the role's auto): the kernel's NFS
client when it has one, else oscar-nfs-fuse.  Either way the mount table
shows the head's exports, files cross both ways, a user's file written on
the node is that user's on the head, modes and root squashing hold, and a
restart of the mount's unit keeps it all.
"""

import json
import os
import shlex
import uuid

import pytest

from oscar_testbed.molecule import converge

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "clients")
MOUNTS = ["/home", "/opt/cluster"]
# Ordinary users, with the same uid on the head and the node (as a cluster's user database gives them).
OWNER = ("nfsowner", 3101)
OTHER = ("nfsother", 3102)


@pytest.fixture(scope="module")
def kernel_client(node):
    """Whether the node's kernel has an NFS client (else the role chose oscar-nfs-fuse)."""
    filesystems = node.file("/proc/filesystems").content_string.split()
    release = node.check_output("uname -r")
    return (
        "nfs" in filesystems
        or "nfs4" in filesystems
        or node.file(f"/lib/modules/{release}/kernel/fs/nfs").exists
    )


def unit_of(path, kernel_client):
    name = path.strip("/").replace("-", "\\x2d").replace("/", "-")
    return f"{name}.mount" if kernel_client else f"oscar-nfs-{name}.service"


def mount_table(host):
    """{mount point: (type, source)} of the host's mount table; the last mount at a point wins."""
    table = {}
    for line in host.file("/proc/self/mountinfo").content_string.splitlines():
        fields = line.split()
        separator = fields.index("-", 6)
        table[fields[4]] = (fields[separator + 1], fields[separator + 2])
    return table


def run_as(host, user, command):
    return host.run(f"runuser -u {user} -- sh -c {shlex.quote(command)}")


@pytest.fixture(scope="module")
def users(head, node):
    """OWNER with a home made on the head (the NFS server), and OTHER; both known on the node too."""
    for name, uid in (OWNER, OTHER):
        for host, home in ((head, "--create-home"), (node, "--no-create-home")):
            # On the node, /home is the head's: the home is there already.
            if host.run(f"id -u {name}").rc != 0:
                host.check_output(f"groupadd --gid {uid} {name}")
                host.check_output(f"useradd {home} --uid {uid} --gid {uid} --shell /bin/sh {name}")
    return dict((OWNER, OTHER))


@pytest.mark.parametrize("path", MOUNTS)
def test_the_heads_exports_are_mounted_on_the_node(node, kernel_client, path):
    kind, source = mount_table(node)[path]
    assert source == f"head:{path}"
    assert kind in (("nfs", "nfs4") if kernel_client else ("fuse.nfs",)), kind


@pytest.mark.parametrize("path", MOUNTS)
def test_each_mount_has_a_unit_that_runs_and_starts_at_boot(node, kernel_client, path):
    unit = node.service(unit_of(path, kernel_client))
    assert unit.is_running
    assert unit.is_enabled


def test_the_mount_serves_every_user_with_the_kernel_checking_modes(node, kernel_client):
    """A kernel mount waits for the network (_netdev); a FUSE one is for every user, modes checked."""
    if kernel_client:
        assert "Options=_netdev," in node.file("/etc/systemd/system/home.mount").content_string
    else:
        lines = node.file("/proc/self/mountinfo").content_string.splitlines()
        options = [line.split()[-1] for line in lines if line.split()[4] == "/home"][-1].split(",")
        assert "allow_other" in options
        assert "default_permissions" in options


@pytest.mark.parametrize("path", MOUNTS)
def test_a_file_written_on_the_head_appears_on_the_node(head, node, path):
    name = f"{path}/from-head-{uuid.uuid4().hex[:8]}"
    head.check_output(f"echo written-on-the-head > {name}")
    try:
        assert node.file(name).content_string == "written-on-the-head\n"
    finally:
        head.run(f"rm -f {name}")


@pytest.mark.usefixtures("users")
def test_a_users_file_written_on_the_node_is_that_users_on_the_head(head, node):
    owner, uid = OWNER
    name = f"/home/{owner}/from-node-{uuid.uuid4().hex[:8]}"
    result = run_as(node, owner, f"echo written-by-{owner} > {name} && chmod 640 {name}")
    assert result.rc == 0, result.stderr
    on_head = head.file(name)
    assert on_head.content_string == f"written-by-{owner}\n"
    assert (on_head.uid, on_head.gid, on_head.mode) == (uid, uid, 0o640)


@pytest.mark.usefixtures("users")
def test_another_user_cannot_write_in_that_home(head, node):
    owner, other = OWNER[0], OTHER[0]
    name = f"/home/{owner}/intruder-{uuid.uuid4().hex[:8]}"
    result = run_as(node, other, f"echo intruder > {name}")
    assert result.rc != 0
    assert "Permission denied" in result.stderr
    assert not head.file(name).exists


@pytest.mark.usefixtures("users")
def test_the_nodes_root_is_nobody_to_the_head(head, node):
    """root_squash: the node's kernel lets root through, the head does not."""
    owner = OWNER[0]
    name = f"/home/{owner}/from-root-{uuid.uuid4().hex[:8]}"
    result = node.run(f"touch {name}")
    assert result.rc != 0
    assert "Permission denied" in result.stderr
    assert not head.file(name).exists


@pytest.mark.usefixtures("users")
def test_directories_renames_links_and_large_files_cross_intact(head, node):
    owner, uid = OWNER
    base = f"/home/{owner}/tree-{uuid.uuid4().hex[:8]}"
    script = (
        f"mkdir -p {base}/sub && head -c 3000000 /dev/urandom > {base}/sub/data"
        f" && mv {base}/sub/data {base}/sub/moved && ln -s sub/moved {base}/link"
        f" && sha256sum < {base}/link"
    )
    result = run_as(node, owner, script)
    assert result.rc == 0, result.stderr
    assert head.check_output(f"sha256sum < {base}/sub/moved") == result.stdout.strip()
    assert head.file(f"{base}/link").linked_to == f"{base}/sub/moved"
    assert head.file(f"{base}/sub").uid == uid
    removed = run_as(node, owner, f"rm -r {base}")
    assert removed.rc == 0, removed.stderr
    assert not head.file(base).exists


@pytest.mark.usefixtures("users")
def test_the_mounts_survive_a_restart_of_their_unit(head, node, kernel_client):
    owner = OWNER[0]
    name = f"/home/{owner}/before-restart-{uuid.uuid4().hex[:8]}"
    assert run_as(node, owner, f"echo kept > {name}").rc == 0
    node.check_output(f"systemctl restart {unit_of('/home', kernel_client)}")
    assert node.service(unit_of("/home", kernel_client)).is_running
    assert mount_table(node)["/home"][1] == "head:/home"
    assert node.file(name).content_string == "kept\n"
    after = run_as(node, owner, f"echo again >> {name}")
    assert after.rc == 0, after.stderr
    assert head.file(name).content_string == "kept\nagain\n"


@pytest.mark.usefixtures("users")
def test_a_file_created_while_the_head_restarts_its_nfs_server_waits_for_it(head, node):
    """A restarted server is in its grace period and says "try later": the client waits, as a kernel does."""
    owner, uid = OWNER
    server = "nfs-server" if head.service("nfs-server").is_running else "nfs-ganesha"
    head.check_output(f"systemctl restart {server}")
    name = f"/home/{owner}/after-server-restart-{uuid.uuid4().hex[:8]}"
    result = run_as(node, owner, f"echo waited > {name}")
    assert result.rc == 0, result.stderr
    assert head.file(name).content_string == "waited\n"
    assert head.file(name).uid == uid


@pytest.mark.parametrize(
    ("settings", "messages"),
    [
        # The role's argument spec refuses it before its own checks.
        (
            {"clients_nfs_client": "nfs3"},
            ["value of clients_nfs_client must be one of: auto, kernel, fuse, got: nfs3"],
        ),
        (
            {
                "clients_nfs_mounts": [
                    {"export": "home"},
                    {"export": "/opt/cluster"},
                    {"export": "/scratch", "path": "/opt/cluster"},
                ]
            },
            ['export "home" is not an absolute', "mount point /opt/cluster is mounted twice"],
        ),
    ],
)
def test_bad_nfs_settings_stop_the_role_before_any_change(node, kernel_client, settings, messages):
    unit = f"/etc/systemd/system/{unit_of('/home', kernel_client)}"
    before = node.file(unit).sha256sum
    result = converge("--limit", "node001", "-e", json.dumps(settings), timeout=600)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    assert "changed=0" in result.stdout.split("PLAY RECAP")[-1]
    assert node.file(unit).sha256sum == before

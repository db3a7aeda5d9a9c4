"""NFS on the head: the server its kernel allows, exporting /home and /opt/cluster to the private network.

The role's auto choice is the kernel's server when the head's kernel has
nfsd, else NFS-Ganesha; either way rpcbind answers MOUNT, so `showmount -e`
from a node lists both exports for the private network and nothing else.
"""

import json
import os

import pytest

from oscar_testbed.molecule import connect, converge, scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "server")
NODES = ["node001", "node002"]
EXPORTS = ["/home", "/opt/cluster"]


@pytest.fixture(scope="module")
def private_cidr():
    plan = scenario_testbed(SCENARIO).plan()
    return plan.network("private").subnet


@pytest.fixture(scope="module")
def kernel_server(head):
    """Whether the head's kernel has nfsd (else the role chose NFS-Ganesha)."""
    release = head.check_output("uname -r")
    filesystems = head.file("/proc/filesystems").content_string.split()
    return "nfsd" in filesystems or head.file(f"/lib/modules/{release}/kernel/fs/nfsd").exists


def test_the_nfs_server_runs_and_starts_at_boot(head, kernel_server):
    for name in ["nfs-server" if kernel_server else "nfs-ganesha", "rpcbind"]:
        assert head.service(name).is_running, name
        assert head.service(name).is_enabled, name


def test_the_head_is_not_left_degraded(head):
    """nfs-common's RPC pipe filesystem is skipped where the kernel has none, not left failed."""
    failed = head.check_output("systemctl --failed --plain --no-legend")
    assert failed == "", failed


def test_the_export_configuration_names_both_directories_for_the_private_network_only(
    head, kernel_server, private_cidr
):
    if kernel_server:
        lines = [
            line
            for line in head.file("/etc/exports.d/oscar.exports").content_string.splitlines()
            if line[:1] == "/"
        ]
        assert [line.split()[0] for line in lines] == EXPORTS
        assert all(line.split()[1].startswith(f"{private_cidr}(") for line in lines), lines
    else:
        config = head.file("/etc/ganesha/ganesha.conf").content_string
        assert [
            line.split('"')[1] for line in config.splitlines() if line.strip().startswith("Path =")
        ] == EXPORTS
        assert config.count(f"Clients = {private_cidr};") == len(EXPORTS)
        assert config.count("Squash = Root_Squash;") == len(EXPORTS)


@pytest.mark.parametrize("name", NODES)
def test_showmount_from_a_node_lists_both_exports_for_the_private_network(name, private_cidr):
    listing = connect(name).check_output("showmount -e head")
    exports = dict(line.split() for line in listing.splitlines()[1:])
    assert exports == dict.fromkeys(EXPORTS, private_cidr), listing


def test_the_shared_software_tree_exists_on_the_head(head):
    tree = head.file("/opt/cluster")
    assert tree.is_directory
    assert (tree.user, tree.group) == ("root", "root")


@pytest.mark.parametrize(
    ("settings", "messages"),
    [
        (
            {"server_nfs_exports": [{"path": "home"}, {"path": "/srv"}, "/srv"]},
            ['path "home" is not an absolute', "path /srv is exported twice"],
        ),
        (
            {"server_nfs_exports": [{"path": "/srv", "squash": "root_squash"}]},
            ["squash of /srv must be root"],
        ),
        # The role's argument spec refuses it before its own checks.
        (
            {"server_nfs_server": "nfsd"},
            ["value of server_nfs_server must be one of: auto, kernel, ganesha, got: nfsd"],
        ),
    ],
)
def test_bad_nfs_settings_stop_the_role_before_any_change(head, kernel_server, settings, messages):
    config = "/etc/exports.d/oscar.exports" if kernel_server else "/etc/ganesha/ganesha.conf"
    before = head.file(config).sha256sum
    result = converge("--limit", "head", "-e", json.dumps(settings), timeout=600)
    assert result.returncode != 0, result.stdout[-3000:]
    output = " ".join((result.stdout + result.stderr).split())
    assert all(message in output for message in messages), output[-3000:]
    # The first play installs the tests' DNS tools (no change on a converged head); the role's play stops.
    assert "changed=0" in result.stdout.split("PLAY RECAP")[-1]
    assert head.file(config).sha256sum == before

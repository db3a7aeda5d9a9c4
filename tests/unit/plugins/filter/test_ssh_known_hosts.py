"""The cluster's SSH host keys as known_hosts lines: real keys, checked by OpenSSH's own parser.

Keys are made with ssh-keygen; the lines written are looked up with
`ssh-keygen -F`, as ssh itself reads the file.  The molecule scenarios
server and clients check the same lines against real sshd's.
"""

import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.oscar.cluster.plugins.filter import ssh_known_hosts as known_hosts_filter
from ansible_collections.oscar.cluster.plugins.filter.ssh_known_hosts import FilterModule
from ansible_collections.oscar.cluster.plugins.module_utils.cluster_hosts import network_hosts
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError
from ansible_collections.oscar.cluster.plugins.module_utils.ssh_known_hosts import (
    host_names,
    known_hosts,
    public_key,
)

PRIVATE = {"name": "private", "cidr": "10.211.5.0/24", "domain": "cluster"}
FILTERS = FilterModule().filters()


def nic(ip, mac=None, name="eth1"):
    return {"name": name, "mac": mac, "ip": ip, "network": "private"}


@pytest.fixture(scope="module")
def table():
    """head, node001 with a second NIC on the network, node002: as the roles build it from ODA."""
    hosts = [
        {"name": "head", "hostname": "head", "nics": [nic("10.211.5.1")]},
        {
            "name": "node001",
            "nics": [
                nic("10.211.5.11", "02:00:0a:d3:05:0b"),
                nic("10.211.5.111", "02:00:0a:d3:05:6f", "eth2"),
            ],
        },
        {"name": "node002", "nics": [nic("10.211.5.12", "02:00:0a:d3:05:0c")]},
    ]
    return network_hosts(hosts, PRIVATE, "head")


def make_key(directory, name, key_type="ed25519"):
    """A real host key made by ssh-keygen: its public line."""
    path = directory / ("%s_%s" % (name, key_type))
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "root@" + name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return (directory / (path.name + ".pub")).read_text().strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Each host's real keys: ed25519 and ecdsa, and rsa for the head."""
    directory = tmp_path_factory.mktemp("hostkeys")
    found = {
        name: [make_key(directory, name), make_key(directory, name, "ecdsa")]
        for name in ("head", "node001", "node002")
    }
    found["head"].append(make_key(directory, "head", "rsa"))
    return found


def lookup(path, name):
    """The key types ssh-keygen -F finds for name in a known_hosts file, as ssh reads it."""
    result = subprocess.run(
        ["ssh-keygen", "-F", name, "-f", str(path)], capture_output=True, text=True, check=False
    )
    return sorted(line.split()[1] for line in result.stdout.splitlines() if line and not line.startswith("#"))


def key_fields(line):
    return tuple(line.split()[:2])


def test_every_key_under_every_name_and_address_head_first(table, keys, tmp_path):
    result = known_hosts(table, keys)
    assert result["kept"] == [] and result["missing"] == []
    assert [line.split()[-1] for line in result["lines"]] == ["oscar.cluster:head"] * 3 + [
        "oscar.cluster:node001"
    ] * 2 + ["oscar.cluster:node002"] * 2
    first = result["lines"][0].split()
    assert first[0] == "head.cluster,head,10.211.5.1"
    # Key types sorted, so that the file never changes for the order the files are read in.
    assert [line.split()[1] for line in result["lines"][:3]] == [
        "ecdsa-sha2-nistp256",
        "ssh-ed25519",
        "ssh-rsa",
    ]
    path = tmp_path / "ssh_known_hosts"
    path.write_text("\n".join(result["lines"]) + "\n")
    for name in (
        "node001",
        "node001.cluster",
        "10.211.5.11",
        "node001-eth2",
        "node001-eth2.cluster",
        "10.211.5.111",
    ):
        assert lookup(path, name) == ["ecdsa-sha2-nistp256", "ssh-ed25519"], name
    assert lookup(path, "head") == ["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]
    assert lookup(path, "10.211.5.12") == ["ecdsa-sha2-nistp256", "ssh-ed25519"]
    assert lookup(path, "node003") == []
    # The keys are the hosts' own.
    node002 = [line for line in result["lines"] if line.endswith(":node002")]
    assert sorted(key_fields(line.split(None, 1)[1]) for line in node002) == sorted(
        key_fields(line) for line in keys["node002"]
    )


def test_the_names_of_a_host_per_nic_fqdn_short_name_inventory_name_address(table):
    assert host_names(table) == {
        "head": ["head.cluster", "head", "10.211.5.1"],
        "node001": [
            "node001.cluster",
            "node001",
            "10.211.5.11",
            "node001-eth2.cluster",
            "node001-eth2",
            "10.211.5.111",
        ],
        "node002": ["node002.cluster", "node002", "10.211.5.12"],
    }


def test_an_inventory_name_other_than_the_host_name_is_a_name_too():
    table = network_hosts(
        [
            {"name": "head", "nics": [nic("10.211.5.1")]},
            {"name": "rack1-n1", "hostname": "Compute1", "nics": [nic("10.211.5.11", "02:00:0a:d3:05:0b")]},
        ],
        {"name": "private", "cidr": "10.211.5.0/24"},
        "head",
    )
    assert host_names(table)["rack1-n1"] == ["compute1", "rack1-n1", "10.211.5.11"]


def test_a_rerun_with_the_same_keys_writes_the_same_lines(table, keys):
    first = known_hosts(table, keys)["lines"]
    reordered = {name: list(reversed(lines)) + lines[:1] for name, lines in reversed(list(keys.items()))}
    assert known_hosts(table, reordered, "\n".join(first))["lines"] == first


def test_a_host_not_read_keeps_its_keys_under_its_current_names(table, keys, tmp_path):
    before = known_hosts(table, keys)["lines"]
    admin_line = (
        "gateway.example " + keys["node002"][0].split(None, 2)[0] + " " + keys["node002"][0].split()[1]
    )
    previous = "\n".join(["# the site's own", admin_line, *before])
    read_now = {"head": keys["head"], "node001": keys["node001"]}
    result = known_hosts(table, read_now, previous)
    assert result["kept"] == ["node002"] and result["missing"] == []
    assert result["lines"] == before

    # node002 renamed in ODA while down: its known keys follow it to its new names.
    renamed = [
        dict(entry, hostname="compute2", fqdn="compute2.cluster") if entry["node"] == "node002" else entry
        for entry in table
    ]
    moved = known_hosts(renamed, read_now, previous)["lines"]
    assert [line.split()[0] for line in moved if line.endswith(":node002")] == [
        "compute2.cluster,compute2,node002,10.211.5.12"
    ] * 2
    path = tmp_path / "known"
    path.write_text("\n".join(moved) + "\n")
    assert lookup(path, "compute2") == ["ecdsa-sha2-nistp256", "ssh-ed25519"]


def test_fresh_keys_replace_the_ones_known_before(table, keys, tmp_path_factory):
    before = known_hosts(table, keys)["lines"]
    reinstalled = [make_key(tmp_path_factory.mktemp("reinstalled"), "node002")]
    lines = known_hosts(table, dict(keys, node002=reinstalled), "\n".join(before))["lines"]
    assert [key_fields(line.split(None, 1)[1]) for line in lines if line.endswith(":node002")] == [
        key_fields(reinstalled[0])
    ]


def test_a_host_never_read_is_left_out_and_named(table, keys):
    result = known_hosts(table, {"head": keys["head"], "node001": keys["node001"], "node002": []})
    assert result["missing"] == ["node002"] and result["kept"] == []
    assert not [line for line in result["lines"] if "node002" in line]


def test_hosts_that_left_the_cluster_lose_their_lines(table, keys):
    previous = known_hosts(table, keys)["lines"]
    smaller = [entry for entry in table if entry["node"] != "node002"]
    lines = known_hosts(smaller, {"head": keys["head"]}, "\n".join(previous))["lines"]
    assert {line.split()[-1] for line in lines} == {"oscar.cluster:head", "oscar.cluster:node001"}


def test_damaged_lines_of_ours_are_dropped_not_kept(table, keys):
    previous = "node002 ssh-ed25519 bm90IGEga2V5 oscar.cluster:node002"
    result = known_hosts(table, {"head": keys["head"], "node001": keys["node001"]}, previous)
    assert result["missing"] == ["node002"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "node node001: not an SSH public key: ''"),
        ("ssh-ed25519", "node node001: not an SSH public key: 'ssh-ed25519'"),
        ("ssh-ed25519 not*base64", "node node001: the ssh-ed25519 key is not valid base64 key data"),
        (
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "the key data is of type 'ssh-ed25519', but the line says 'ssh-rsa'",
        ),
        ("ssh-ed25519-cert-v01@openssh.com AAAA", "node node001: not an SSH public key"),
    ],
)
def test_a_bad_key_is_refused_naming_the_host(line, message):
    with pytest.raises(OdaValidationError, match=message.replace("*", r"\*")):
        public_key(line, "node001")


def test_keys_from_a_host_outside_the_table_are_refused(table, keys):
    with pytest.raises(
        OdaValidationError, match="keys were read from node099, which is not among"
    ) as refused:
        known_hosts(table, {"node099": keys["node001"]})
    assert str(refused.value).endswith("the cluster's hosts (head, node001, node002)")


def test_a_bad_table_is_refused():
    with pytest.raises(OdaValidationError, match="every entry of the table of hosts needs a node and an ip"):
        host_names([{"node": "node001"}])


def test_keys_as_cat_prints_a_hosts_key_files(table, keys, tmp_path):
    """The role reads `cat /etc/ssh/ssh_host_*_key.pub` on each host: its output lines are the keys."""
    for number, line in enumerate(keys["node001"]):
        (tmp_path / ("ssh_host_%d_key.pub" % number)).write_text(line + "\n\n")
    printed = subprocess.run(
        "cat %s/ssh_host_*_key.pub" % tmp_path, shell=True, capture_output=True, text=True, check=True
    )
    lines = known_hosts(table, {"node001": printed.stdout.splitlines()})["lines"]
    assert sorted(key_fields(line.split(None, 1)[1]) for line in lines) == sorted(
        key_fields(line) for line in keys["node001"]
    )


def test_the_filter_warns_about_the_hosts_not_read(table, keys, monkeypatch):
    warnings = []
    monkeypatch.setattr(known_hosts_filter.display, "warning", warnings.append)
    text = FILTERS["ssh_known_hosts"](table, {"head": keys["head"], "node001": keys["node001"]})
    assert text.splitlines()[0].startswith("head.cluster,head,10.211.5.1 ecdsa-sha2-nistp256 ")
    assert warnings == [
        "SSH host keys not read from node002 (down or unreachable), and none known before:"
        " left out of the known hosts until a run reaches them"
    ]
    warnings.clear()
    FILTERS["ssh_known_hosts"](table, {"head": keys["head"]}, text)
    assert (
        warnings[0]
        == "SSH host keys not read from node001 (down or unreachable): the keys known before are kept"
    )
    assert warnings[1].startswith(
        "SSH host keys not read from node002 (down or unreachable), and none known before"
    )


def test_the_filters_turn_errors_into_task_failures(table):
    with pytest.raises(AnsibleFilterError, match="node node001: not an SSH public key: 'garbage'"):
        FILTERS["ssh_known_hosts"](table, {"node001": ["garbage"]})
    with pytest.raises(AnsibleFilterError, match="the table of hosts must be a list"):
        FILTERS["ssh_host_names"]("head")

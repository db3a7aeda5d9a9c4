"""The oda command: main(argv) in-process on every backend, and the installed oda as a real program.

Every refusal must exit 1 with ``oda: error:`` naming the bad value and leave
the database unchanged (compared through a dump before and after); usage
errors exit 2, an unreachable database exits 3, and nothing prints a traceback.
"""

import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from oscar_cluster.module_utils import oda_transfer as transfer
from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_schema import SCHEMA_VERSION

from oscar_cluster.oda_cli import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    build_parser,
    main,
)

# The command installed with the package, beside this interpreter.
ODA = Path(sys.executable).with_name("oda")
# A server port nothing listens on: connecting is refused at once.
UNREACHABLE = "postgresql://oscar@127.0.0.1:9/oda"


class Result:
    def __init__(self, code, out, err):
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self):
        return "Result(%r, out=%r, err=%r)" % (self.code, self.out, self.err)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No database or password from the developer's environment."""
    monkeypatch.delenv("OSCAR_ODA_URL", raising=False)
    monkeypatch.delenv("OSCAR_ODA_PASSWORD", raising=False)


@pytest.fixture
def url(oda_url):
    """A new, empty database of each backend in turn (oda_url comes from conftest.py)."""
    return oda_url


@pytest.fixture
def sqlite_url(tmp_path):
    """An SQLite database besides the backend's: a second database for copies."""
    return "sqlite:%s" % (tmp_path / "other.db")


@pytest.fixture
def run(capsys, monkeypatch, url):
    """oda(*argv) on the test's database, in-process: a Result with exit code, stdout and stderr."""

    def oda(*argv, stdin=None, database=url):
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        prefix = [] if database is None else ["--database", database]
        code = main([*prefix, *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return Result(code, out, err)

    return oda


@pytest.fixture
def cluster(run):
    """Network 'cluster' 10.0.0.0/24, image rocky9, group gpu, and clients node[01-08] from 10.0.0.11."""
    assert run("network", "add", "cluster", "--cidr", "10.0.0.0/24", "--domain", "cluster.lan").code == 0
    assert run("image", "add", "rocky9", "--distro", "rocky-9", "--path", "/images/rocky9").code == 0
    assert run("group", "add", "gpu", "--description", "GPU nodes").code == 0
    assert run("node", "add", "node[01-08]", "--network", "cluster", "--start-ip", "10.0.0.11").code == 0
    return run


def snapshot(url):
    """Every row of the database, as a dump: equal snapshots mean nothing was written."""
    oda = Oda.open(url)
    try:
        return transfer.dump_text(oda)
    finally:
        oda.close()


def nodes_of(url, pattern=None):
    oda = Oda.open(url)
    try:
        return dict((node["name"], node) for node in oda.nodes.list(pattern))
    finally:
        oda.close()


def refused(run, url, text, *argv, stdin=None):
    """oda *argv exits 1 with 'oda: error:' and text on stderr, and writes nothing."""
    before = snapshot(url)
    result = run(*argv, stdin=stdin)
    assert result.code == EXIT_ERROR, result
    assert result.err.startswith("oda: error: "), result
    assert text in result.err, result
    assert snapshot(url) == before
    return result


def mac(number):
    return "02:00:0a:00:00:%02x" % number


# --- help --------------------------------------------------------------------------


def _verb_parsers(parser, prefix=()):
    """(words, parser) of every verb and action, such as (('node', 'add'), parser)."""
    for action in parser._actions:
        if isinstance(action, type(parser._subparsers._group_actions[0])) and action.choices:
            for name, child in action.choices.items():
                yield (*prefix, name), child
                if child._subparsers is not None:
                    yield from _verb_parsers(child, (*prefix, name))


def test_help_lists_every_verb_with_examples_and_the_exit_codes(run):
    result = run("--help", database=None)
    assert result.code == EXIT_OK
    for verb in ("init", "upgrade", "tables", "fields", "dump", "restore", "export", "import", "nodes"):
        assert "\n    %s " % verb in result.out
    for verb in ("group-nodes", "macs", "node-packages", "node", "network", "group", "image", "steps"):
        assert "\n    %s" % verb in result.out
    assert "examples:" in result.out
    assert "OSCAR_ODA_URL" in result.out
    assert "OSCAR_ODA_PASSWORD" in result.out
    assert "3 database unavailable" in result.out


def test_every_verb_has_help_with_an_example_and_documents_every_option(run):
    verbs = list(_verb_parsers(build_parser()))
    assert len(verbs) >= 30
    for words, parser in verbs:
        result = run(*words, "--help", database=None)
        assert result.code == EXIT_OK, words
        assert "example" in result.out, words
        for action in parser._actions:
            assert action.help, (words, action.dest)
            for option in action.option_strings:
                assert option in result.out, (words, option)


def test_a_password_cannot_be_given_on_the_command_line(run):
    result = run("nodes", "--password", "hunter2", database=None)
    assert result.code == EXIT_USAGE
    assert "unrecognized arguments: --password" in result.err
    abbreviated = run("--pass", "hunter2", "nodes", database=None)
    assert abbreviated.code == EXIT_USAGE


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: VERB"),
        (["node"], "the following arguments are required: ACTION"),
        (
            ["node", "add", "n[1-2]", "--start-ip", "10.0.0.1"],
            "the following arguments are required: --network",
        ),
        (["node", "modify", "node01"], "nothing to modify"),
        (["node", "modify", "node01", "--exclude", "--include"], "not allowed with argument"),
        (["--format", "xml", "nodes"], "invalid choice: 'xml'"),
        (["macs", "node01", "extra"], "unexpected argument 'extra'"),
        (["macs", "--nodes", "node01"], "--nodes belongs to 'oda macs import'"),
        (["macs", "import"], "'oda macs import' needs a FILE"),
        (["macs", "--check"], "--check belongs to 'oda macs import'"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(run, url, argv, text):
    before = snapshot(url)
    result = run(*argv)
    assert result.code == EXIT_USAGE, result
    assert text in result.err
    assert snapshot(url) == before


@pytest.mark.parametrize(
    "argv", [["macs", "import"], ["macs", "--nic", "eth1"], ["node", "modify", "node01"], ["frobnicate"]]
)
def test_a_usage_error_does_not_create_the_database(run, tmp_path, argv):
    database = tmp_path / "never.db"
    assert run(*argv, database="sqlite:%s" % database).code == EXIT_USAGE
    assert not database.exists()


# --- the database --------------------------------------------------------------------


def test_init_creates_then_finds_the_database_and_upgrade_reports_versions(run, sqlite_url):
    first = run("init", database=sqlite_url)
    assert first.code == EXIT_OK
    assert "created ODA in %s: schema version %d" % (sqlite_url, SCHEMA_VERSION) in first.out
    again = run("init", database=sqlite_url)
    assert "is initialised already: schema version %d" % SCHEMA_VERSION in again.out
    upgrade = run("upgrade", "--format", "json", database=sqlite_url)
    assert json.loads(upgrade.out) == {
        "database": sqlite_url,
        "before": SCHEMA_VERSION,
        "after": SCHEMA_VERSION,
        "changed": False,
    }


def test_upgrade_of_an_empty_database_reports_version_0_to_current(run, sqlite_url):
    result = run("upgrade", database=sqlite_url)
    assert result.out == "%s: schema version 0 -> %d\n" % (sqlite_url, SCHEMA_VERSION)


def test_the_database_comes_from_the_environment_when_not_given(run, monkeypatch, sqlite_url):
    monkeypatch.setenv("OSCAR_ODA_URL", sqlite_url)
    assert run("init", database=None).code == EXIT_OK
    assert Path(sqlite_url.split(":", 1)[1]).exists()


def test_tables_and_fields_describe_the_schema(cluster):
    tables = json.loads(cluster("tables", "--format", "json").out)
    counts = dict((row["table"], row["rows"]) for row in tables)
    assert counts["nodes"] == 8
    assert counts["nics"] == 8
    assert "node_vars" in counts
    fields = cluster("fields", "nics").out.splitlines()
    assert fields[0].split() == ["COLUMN", "TYPE", "NULL", "KEY", "REFERENCES"]
    assert "mac         string  yes   unique" in "\n".join(fields)
    assert any(line.split()[0] == "node_id" and line.endswith("nodes") for line in fields)


def test_fields_of_an_unknown_table_names_it(run):
    result = run("fields", "racks")
    assert result.code == EXIT_ERROR
    assert "unknown table 'racks'" in result.err


# --- shortcuts ---------------------------------------------------------------------


def test_nodes_lists_a_node_set_in_every_format(cluster):
    table = cluster("nodes", "node[01-02]").out.splitlines()
    assert table[0].split()[:10] == [
        "NAME",
        "STATE",
        "EXCLUDED",
        "IMAGE",
        "VERSION",
        "IMAGE",
        "STATE",
        "BOOT",
        "INSTALL",
        "GROUPS",
    ]
    assert table[1].split() == [
        "node01",
        "defined",
        "no",
        "-",
        "-",
        "-",
        "local",
        "-",
        "oscar_clients",
        "eth0",
        "10.0.0.11",
        "-",
    ]
    assert len(table) == 3
    as_json = json.loads(cluster("nodes", "node[01-02]", "--format", "json").out)
    as_yaml = yaml.safe_load(cluster("--format", "yaml", "node", "list", "node[01-02]").out)
    assert as_json == as_yaml
    assert [node["name"] for node in as_json] == ["node01", "node02"]
    assert as_json[1]["nics"] == [{"name": "eth0", "mac": None, "ip": "10.0.0.12", "network": "cluster"}]


def test_shortcuts_list_what_the_api_holds(cluster, url):
    oda = Oda.open(url)
    try:
        oda.packages.ensure("slurm", version="23.11", summary="batch")
        oda.packages.set_status("slurm", "installed", node="node02")
        oda.packages.set_status("slurm", "should_be_installed", image="rocky9")
        oda.steps.set("survey", "done")
    finally:
        oda.close()
    assert cluster("group-nodes", "oscar_clients").out.split() == ["node%02d" % n for n in range(1, 9)]
    assert "node[01-08]" in cluster("groups").out
    assert cluster("images").out.splitlines()[1].split()[:3] == ["rocky9", "defined", "rocky-9"]
    assert cluster("networks").out.splitlines()[1].split()[:4] == [
        "cluster",
        "10.0.0.0/24",
        "-",
        "cluster.lan",
    ]
    assert cluster("clusters").out.splitlines()[1].split()[0] == "oscar"
    assert cluster("packages").out.splitlines()[1].split()[:2] == ["slurm", "23.11"]
    assert cluster("steps").out.splitlines()[1].split()[:2] == ["survey", "done"]
    assert cluster("node-packages", "node[01-04]").out.splitlines()[1].split() == [
        "node02",
        "slurm",
        "installed",
    ]
    image = json.loads(cluster("image-packages", "rocky9", "--format", "json").out)
    assert image == [{"image": "rocky9", "package": "slurm", "status": "should_be_installed"}]
    macs = json.loads(cluster("macs", "node0[1-2]", "--format", "json").out)
    assert macs[0] == {"node": "node01", "nic": "eth0", "mac": None, "ip": "10.0.0.11", "network": "cluster"}


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["group-nodes", "nosuch"], "unknown group 'nosuch'"),
        (["node-packages", "ghost"], "no stored node matches 'ghost'"),
        (["image-packages", "nosuch"], "unknown image 'nosuch'"),
        (["nodes", "node[1-"], "invalid node set 'node[1-'"),
        (["macs", "@nosuch"], "unknown group 'nosuch'"),
    ],
)
def test_shortcuts_name_what_they_cannot_find(cluster, url, argv, text):
    refused(cluster, url, text, *argv)


# --- nodes -------------------------------------------------------------------------


def test_node_add_defines_nodes_in_one_command_and_is_idempotent(cluster, url):
    result = cluster("node", "add", "cn[001-100]", "--network", "cluster", "--start-ip", "10.0.0.101")
    assert result.code == EXIT_OK
    assert result.out == "defined 100 nodes: cn[001-100]\n"
    nodes = nodes_of(url, "cn[001-100]")
    assert len(nodes) == 100
    assert nodes["cn100"]["nics"][0]["ip"] == "10.0.0.200"
    assert nodes["cn001"]["groups"] == ["oscar_clients"]
    again = cluster("node", "add", "cn[001-100]", "--network", "cluster", "--start-ip", "10.0.0.101")
    assert again.out == "nothing to change: cn[001-100] defined as asked already\n"


def test_node_add_takes_image_group_nic_and_check_mode(cluster, url):
    before = snapshot(url)
    argv = [
        "node",
        "add",
        "gpu[1-2]",
        "--network",
        "cluster",
        "--start-ip",
        "10.0.0.201",
        "--image",
        "rocky9",
    ]
    argv += ["--group", "gpu", "--nic", "ib0"]
    checked = cluster(*argv, "--check")
    assert checked.out == "would define 2 nodes: gpu[1-2]\n"
    assert snapshot(url) == before
    assert cluster(*argv).code == EXIT_OK
    gpu2 = nodes_of(url)["gpu2"]
    assert (gpu2["image"], gpu2["groups"]) == ("rocky9", ["gpu"])
    assert gpu2["nics"] == [{"name": "ib0", "mac": None, "ip": "10.0.0.202", "network": "cluster"}]


def test_node_add_takes_macs_from_a_file_by_name_and_in_order(cluster, url, tmp_path):
    macs = tmp_path / "macs.txt"
    macs.write_text("# collected at boot\nnew3 %s\n%s\n%s\n" % (mac(0x33), mac(0x31), mac(0x32)))
    argv = [
        "node",
        "add",
        "new[1-3]",
        "--network",
        "cluster",
        "--start-ip",
        "10.0.0.31",
        "--macs-file",
        str(macs),
    ]
    assert cluster(*argv).code == EXIT_OK
    nodes = nodes_of(url, "new[1-3]")
    assert [nodes["new%d" % n]["nics"][0]["mac"] for n in (1, 2, 3)] == [mac(0x31), mac(0x32), mac(0x33)]


def test_node_modify_changes_many_nodes_and_groups_with_plus_and_minus(cluster, url):
    result = cluster(
        "node", "modify", "node[01-04]", "--image", "rocky9", "--state", "down", "--exclude",
        "--group", "+gpu", "--group", "-oscar_clients",
    )  # fmt: skip
    assert result.out == "changed 4 nodes: node[01-04]\n"
    nodes = nodes_of(url)
    assert (nodes["node04"]["image"], nodes["node04"]["state"], nodes["node04"]["excluded"]) == (
        "rocky9",
        "down",
        True,
    )
    assert nodes["node04"]["groups"] == ["gpu"]
    assert nodes["node05"]["groups"] == ["oscar_clients"]
    assert cluster("node", "modify", "@gpu", "--include", "--group=oscar_clients").code == EXIT_OK
    assert nodes_of(url)["node01"]["groups"] == ["gpu", "oscar_clients"]
    assert nodes_of(url)["node01"]["excluded"] is False
    again = cluster("node", "modify", "@gpu", "--include")
    assert again.out == "nothing to change: @gpu is as asked already\n"


def test_node_remove_needs_yes_and_removes_in_one_command(cluster, url):
    before = snapshot(url)
    asked = cluster("node", "remove", "node[05-12]")
    assert asked.code == EXIT_ERROR
    assert "this would remove 4 nodes: node[05-08]; add --yes to remove them" in asked.err
    assert snapshot(url) == before
    assert cluster("node", "remove", "node[05-12]", "--check").out == "would remove 4 nodes: node[05-08]\n"
    assert snapshot(url) == before
    assert cluster("node", "remove", "node[05-12]", "--yes").out == "removed 4 nodes: node[05-08]\n"
    assert sorted(nodes_of(url)) == ["node01", "node02", "node03", "node04"]
    assert "nothing to remove" in cluster("node", "remove", "node[05-12]", "--yes").out


BAD_NODE_COMMANDS = [
    (["node", "add", "n[1-3", "--network", "cluster", "--start-ip", "10.0.0.50"], "invalid node set 'n[1-3'"),
    (
        ["node", "add", "n_[1-3]", "--network", "cluster", "--start-ip", "10.0.0.50"],
        "invalid host name 'n_1'",
    ),
    (
        ["node", "add", "n[1-3]", "--network", "cluster", "--start-ip", "10.0.0.500"],
        "invalid IP address '10.0.0.500'",
    ),
    (
        ["node", "add", "n[1-3]", "--network", "cluster", "--start-ip", "10.0.1.5"],
        "10.0.1.5 is outside network",
    ),
    (
        ["node", "add", "n[1-3]", "--network", "cluster", "--start-ip", "10.0.0.254"],
        "10.0.0.255 is the network or",
    ),
    (
        ["node", "add", "n[1-3]", "--network", "cluster", "--start-ip", "10.0.0.17"],
        "address 10.0.0.17 on network 'cluster' is already used by node07 (eth0)",
    ),
    (["node", "add", "n[1-3]", "--network", "nosuch", "--start-ip", "10.0.0.50"], "unknown network 'nosuch'"),
    (
        ["node", "add", "n[1-3]", "--network", "cluster", "--start-ip", "10.0.0.50", "--image", "x"],
        "unknown image 'x'",
    ),
    (
        ["node", "add", "n[1-3]", "--network", "cluster", "--start-ip", "10.0.0.50", "--group", "x"],
        "unknown group 'x'",
    ),
    (["node", "modify", "node[07-09]", "--state", "up"], "unknown node 'node09'"),
    (["node", "modify", "node01", "--state", "asleep"], "invalid node state 'asleep'"),
    (["node", "modify", "node01", "--group", "+nosuch"], "unknown group 'nosuch'"),
    (["node", "modify", "node01", "--image", "nosuch"], "unknown image 'nosuch'"),
    (["node", "remove", "node[1-", "--yes"], "invalid node set 'node[1-'"),
]


@pytest.mark.parametrize(("argv", "text"), BAD_NODE_COMMANDS)
def test_bad_node_commands_name_the_value_and_write_nothing(cluster, url, argv, text):
    refused(cluster, url, text, *argv)


def test_node_add_of_1000_nodes_is_all_or_nothing(run, url):
    assert run("network", "add", "big", "--cidr", "10.8.0.0/16").code == EXIT_OK
    assert run("node", "add", "taken", "--network", "big", "--start-ip", "10.8.3.232").code == EXIT_OK
    # node1000 would get 10.8.3.232, which 'taken' holds: none of the 1,000 may be written.
    refused(
        run,
        url,
        "address 10.8.3.232 on network 'big' is already used by taken (eth0)",
        *["node", "add", "node[0001-1000]", "--network", "big", "--start-ip", "10.8.0.1"],
    )
    result = run("node", "add", "node[0001-1000]", "--network", "big", "--start-ip", "10.8.4.1")
    assert result.out == "defined 1000 nodes: node[0001-1000]\n"
    nodes = nodes_of(url, "node[0001-1000]")
    assert len(set(node["nics"][0]["ip"] for node in nodes.values())) == 1000


# --- MAC import ----------------------------------------------------------------------


def test_macs_import_assigns_named_macs(cluster, url, tmp_path):
    macs = tmp_path / "ethers"
    macs.write_text("%s node01\nnode02 %s\n" % (mac(1), mac(2).upper()))
    result = cluster("macs", "import", str(macs))
    assert result.out == "changed MAC of eth0 on node[01-02]\n"
    nodes = nodes_of(url)
    assert [nodes[name]["nics"][0]["mac"] for name in ("node01", "node02")] == [mac(1), mac(2)]
    assert "nothing to change" in cluster("macs", "import", str(macs)).out


def test_macs_import_reads_a_dnsmasq_leases_file_for_a_node_set(cluster, url, tmp_path):
    leases = tmp_path / "dnsmasq.leases"
    leases.write_text(
        "1700000000 %s 10.0.0.201 node03 01:%s\n"
        "1700000001 %s 10.0.0.202 * *\n"
        "1700000002 %s 10.0.0.203 laptop *\n"
        "1700000003 %s 10.0.0.204 * *\n"
        "duid 00:01:00:01:2c:5f:aa:bb:52:54:00:00:00:01\n" % (mac(3), mac(3), mac(4), mac(0x99), mac(5))
    )
    result = cluster("macs", "import", str(leases), "--nodes", "node[03-06]", "--nic", "eth0")
    assert result.code == EXIT_OK, result
    assert result.out == "changed MAC of eth0 on node[03-05]\nno MAC in %s for node06\n" % leases
    nodes = nodes_of(url)
    assert [nodes["node%02d" % n]["nics"][0]["mac"] for n in (3, 4, 5, 6)] == [mac(3), mac(4), mac(5), None]


def test_macs_import_reads_standard_input_and_check_mode_writes_nothing(cluster, url):
    before = snapshot(url)
    result = cluster("macs", "import", "-", "--nodes", "node01", "--check", stdin="%s\n" % mac(1))
    assert result.out == "would change MAC of eth0 on node01\n"
    assert snapshot(url) == before


@pytest.mark.parametrize(
    ("content", "extra", "text"),
    [
        (
            "node01 02:00:0a:00:00:zz\n",
            [],
            "line 1: neither 'node01' nor '02:00:0a:00:00:zz' is a MAC address",
        ),
        ("%s\n" % mac(1), [], "standard input holds 1 MAC addresses without a node name (first %s)" % mac(1)),
        ("ghost %s\n" % mac(1), [], "unknown node 'ghost'"),
        ("node01 %s\nnode02 %s\n" % (mac(1), mac(1)), [], "line 2: MAC %s is already on line 1" % mac(1)),
        ("node02 %s\n" % mac(0x50), [], "MAC %s is already used by node05 (eth0)" % mac(0x50)),
        ("%s\n%s\n" % (mac(1), mac(2)), ["--nodes", "node01"], "2 MAC addresses without a name for 1 nodes"),
        ("%s\n" % mac(1), ["--nodes", "node[1-"], "invalid node set 'node[1-'"),
        ("# nothing yet\n", [], "standard input holds no MAC address"),
        (
            "laptop %s\n" % mac(1),
            ["--nodes", "node0[1-2]"],
            "standard input holds no MAC address for node[01-02]",
        ),
        ("%s\n" % mac(1), ["--nodes", "node01", "--nic", "eth 0"], "invalid NIC name 'eth 0'"),
    ],
)
def test_macs_import_refuses_bad_files_naming_the_value_and_writes_nothing(
    cluster, url, content, extra, text
):
    assert cluster("macs", "import", "-", "--nodes", "node05", stdin=mac(0x50)).code == EXIT_OK
    refused(cluster, url, text, "macs", "import", "-", *extra, stdin=content)


def test_macs_import_names_a_file_it_cannot_read(cluster, url, tmp_path):
    refused(
        cluster,
        url,
        "cannot read MAC file %s" % (tmp_path / "none"),
        "macs",
        "import",
        str(tmp_path / "none"),
    )


# --- networks, groups, images --------------------------------------------------------


def test_network_add_modify_remove(run, url):
    created = run("network", "add", "ipmi", "--cidr", "10.1.0.0/24", "--gateway", "10.1.0.1", "--mtu", "1500")
    assert created.out == "created network ipmi: 10.1.0.0/24\n"
    changed = run("network", "modify", "ipmi", "--dhcp-start", "10.1.0.100", "--dhcp-end", "10.1.0.199")
    assert changed.out == "changed network ipmi: dhcp_start: - -> 10.1.0.100; dhcp_end: - -> 10.1.0.199\n"
    listed = json.loads(run("network", "list", "--format", "json").out)
    assert listed == [
        {
            "name": "ipmi",
            "cidr": "10.1.0.0/24",
            "gateway": "10.1.0.1",
            "domain": None,
            "dhcp_start": "10.1.0.100",
            "dhcp_end": "10.1.0.199",
            "mtu": 1500,
            "cluster": "oscar",
        }
    ]
    assert run("network", "remove", "ipmi").out == "removed network ipmi\n"
    assert run("network", "remove", "ipmi").out == "nothing to remove: there is no network ipmi\n"


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["network", "add", "cluster", "--cidr", "10.5.0.0/24"], "network 'cluster' exists already"),
        (["network", "add", "n2", "--cidr", "10.5.0.1/24"], "invalid network '10.5.0.1/24'"),
        (
            ["network", "add", "n2", "--cidr", "10.5.0.0/24", "--gateway", "10.6.0.1"],
            "gateway 10.6.0.1 is outside",
        ),
        (["network", "add", "n2", "--cidr", "10.5.0.0/24", "--mtu", "big"], "invalid MTU 'big'"),
        (["network", "add", "n2", "--cidr", "10.5.0.0/24", "--cluster", "x"], "unknown cluster 'x'"),
        (["network", "modify", "nosuch", "--mtu", "9000"], "unknown network 'nosuch'"),
        (["network", "modify", "cluster", "--cidr", "10.0.0.0/29"], "NIC addresses would lie outside it"),
        (["network", "remove", "cluster"], "network 'cluster' is still used by 8 NICs, on node[01-08]"),
        (["group", "add", "gpu"], "group 'gpu' exists already"),
        (["group", "add", "bad group"], "invalid group name 'bad group'"),
        (["image", "add", "rocky9"], "image 'rocky9' exists already"),
        (["image", "add", "new", "--path", "relative/path"], "invalid image path 'relative/path'"),
    ],
)
def test_bad_network_group_and_image_commands_name_the_value(cluster, url, argv, text):
    refused(cluster, url, text, *argv)


def test_groups_and_images_are_added_and_removed(cluster, url):
    assert cluster("group", "add", "login", "--check").out == "would create group login\n"
    assert cluster("group", "add", "login").out == "created group login\n"
    assert "login" in cluster("group", "list").out
    assert cluster("group", "remove", "login").out == "removed group login\n"
    assert cluster("image", "add", "alma9", "--arch", "x86_64").out == "created image alma9\n"
    assert json.loads(cluster("image", "list", "--format", "json").out)[0]["name"] == "alma9"
    assert cluster("image", "remove", "alma9").out == "removed image alma9\n"
    cluster("node", "modify", "node01", "--image", "rocky9")
    refused(cluster, url, "image 'rocky9' is still used by nodes node01", "image", "remove", "rocky9")


def test_image_versions_show_and_listings_mark_the_current_version(cluster, url):
    oda = Oda.open(url)
    try:
        oda.image_versions.ensure("rocky9", 1, created="2026-01-31T12:00:00Z", note="first")
        oda.image_versions.ensure("rocky9", 2, parent=1, kernel="6.1.0-28-amd64", packages=["slurmd"])
        oda.images.ensure("rocky9", current_version=2, kernel="6.1.0-28-amd64", suite="bookworm")
    finally:
        oda.close()
    lines = cluster("image", "versions", "rocky9").out.splitlines()
    assert lines[0].split() == ["CURRENT", "VERSION", "PARENT", "CREATED", "KERNEL", "PACKAGES", "NOTE"]
    assert lines[1].split() == ["1", "-", "2026-01-31T12:00:00Z", "-", "-", "first"]
    assert lines[2].split() == ["*", "2", "1", "-", "6.1.0-28-amd64", "1", "-"]
    listed = json.loads(cluster("image", "versions", "rocky9", "--format", "json").out)
    assert [(v["version"], v["current"]) for v in listed] == [(1, False), (2, True)]
    shown = cluster("image", "show", "rocky9").out.splitlines()
    assert "current_version: 2" in shown
    assert "kernel: 6.1.0-28-amd64" in shown
    assert "versions: 1,2" in shown
    images = cluster("images").out.splitlines()
    assert "CURRENT" in images[0].split() and "KERNEL" in images[0].split()
    assert images[1].split()[:6] == ["rocky9", "defined", "rocky-9", "bookworm", "-", "2"]
    refused(cluster, url, "unknown image 'nosuch'", "image", "versions", "nosuch")


def test_node_modify_records_the_image_version_and_state(cluster, url):
    result = cluster("node", "modify", "node[01-02]", "--image-version", "2", "--image-state", "in-sync")
    assert result.out == "changed 2 nodes: node[01-02]\n"
    nodes = nodes_of(url)
    assert (nodes["node01"]["image_version"], nodes["node01"]["image_state"]) == (2, "in-sync")
    assert nodes["node03"]["image_version"] is None
    header, first = cluster("nodes", "node01").out.splitlines()
    assert "VERSION" in header and "IMAGE STATE" in header
    assert " 2 " in first and "in-sync" in first
    refused(
        cluster,
        url,
        "invalid node image state 'done'",
        "node",
        "modify",
        "node01",
        "--image-state",
        "done",
    )
    refused(cluster, url, "invalid node image version 0", "node", "modify", "node01", "--image-version", "0")


# --- dump, restore, export, import ---------------------------------------------------


def test_dump_restore_dump_is_identical_across_databases(cluster, url, tmp_path, sqlite_url):
    cluster("macs", "import", "-", "--nodes", "node[01-03]", stdin="%s\n%s\n%s\n" % (mac(1), mac(2), mac(3)))
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    result = cluster("dump", str(first))
    assert result.out.startswith("dumped ")
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    restored = cluster("restore", str(first), database=sqlite_url)
    assert restored.code == EXIT_OK, restored
    assert restored.out.startswith("restored ")
    assert cluster("dump", str(second), database=sqlite_url).code == EXIT_OK
    assert first.read_text() == second.read_text()
    assert cluster("dump").out == first.read_text()


def test_restore_refuses_a_database_with_data_and_bad_dumps(cluster, url, tmp_path):
    dump = tmp_path / "oda.jsonl"
    cluster("dump", str(dump))
    refused(cluster, url, "is not empty", "restore", str(dump))
    dump.write_text('{"format": "oscar-oda-dump", "schema_version": 99}\n{broken\n')
    refused(cluster, url, "schema version 99", "restore", str(dump))
    refused(cluster, url, "cannot read %s" % (tmp_path / "none"), "restore", str(tmp_path / "none"))


def test_export_import_export_is_identical_and_import_is_idempotent(cluster, url, tmp_path, sqlite_url):
    cluster("node", "modify", "node[01-02]", "--group", "+gpu", "--state", "up")
    exported = tmp_path / "cluster.yml"
    assert cluster("export", str(exported)).code == EXIT_OK
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    imported = cluster("import", str(exported), database=sqlite_url)
    assert imported.code == EXIT_OK, imported
    assert "created network: cluster" in imported.out
    assert "created nodes: node[01-08]" in imported.out
    assert cluster("import", str(exported), database=sqlite_url).out == "nothing to change\n"
    assert cluster("export", database=sqlite_url).out == exported.read_text()
    data = yaml.safe_load(exported.read_text())
    assert json.loads(cluster("export", "--format", "json").out) == data


def test_import_reports_changes_check_mode_writes_nothing(cluster, url, tmp_path):
    data = yaml.safe_load(cluster("export").out)
    data["nodes"][2]["state"] = "down"
    data["groups"].append({"name": "login"})
    path = tmp_path / "cluster.yml"
    path.write_text(yaml.safe_dump(data))
    before = snapshot(url)
    checked = cluster("import", str(path), "--check")
    assert checked.out == "would create group: login\nwould change node: node03\n"
    assert snapshot(url) == before
    assert (
        cluster("import", "-", stdin=path.read_text()).out == "created group: login\nchanged node: node03\n"
    )
    assert nodes_of(url)["node03"]["state"] == "down"


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (
            lambda d: d["nodes"][0]["nics"][0].update(mac="zz:00:00:00:00:01"),
            "invalid MAC address 'zz:00:00:00:00:01'",
        ),
        (lambda d: d["nodes"][0]["nics"][0].update(ip="10.0.9.1"), "10.0.9.1 is outside network 10.0.0.0/24"),
        (lambda d: d["nodes"][0]["nics"][0].update(ip="10.0.0.12"), "address 10.0.0.12 on network 'cluster'"),
        (lambda d: d["nodes"][0].update(name="bad_name"), "invalid host name 'bad_name'"),
        (lambda d: d["nodes"][0].update(groups=["nosuch"]), "unknown group 'nosuch'"),
        (lambda d: d["nodes"][0].update(image="nosuch"), "unknown image 'nosuch'"),
        (
            lambda d: d["nodes"][1]["nics"][0].update(mac=d["nodes"][0]["nics"][0]["mac"]),
            "MAC 02:00:0a:00:00:01",
        ),
        (lambda d: d.update(nodez=[]), "unknown key 'nodez'"),
    ],
)
def test_import_refuses_bad_definitions_naming_the_value(cluster, url, tmp_path, change, text):
    cluster("macs", "import", "-", "--nodes", "node01", stdin=mac(1))
    data = yaml.safe_load(cluster("export").out)
    data["groups"].append({"name": "written-first"})
    change(data)
    path = tmp_path / "cluster.yml"
    path.write_text(yaml.safe_dump(data))
    refused(cluster, url, text, "import", str(path))


def test_import_refuses_what_is_not_yaml(cluster, url, tmp_path):
    path = tmp_path / "cluster.yml"
    path.write_text("nodes: [unclosed\n")
    refused(cluster, url, "%s is not valid YAML" % path, "import", str(path))


# --- passwords and unreachable databases ---------------------------------------------


def test_an_unreachable_server_exits_3_with_a_clear_message(run):
    result = run("nodes", database=UNREACHABLE)
    assert result.code == EXIT_UNAVAILABLE
    assert result.err.startswith("oda: error: cannot connect to postgresql database 'oda' at 127.0.0.1:9")


def test_the_password_file_is_read_and_never_shown(run, tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret-Value\n")
    result = run("--password-file", str(secret), "nodes", database="mysql://oscar@127.0.0.1:9/oda")
    assert result.code == EXIT_UNAVAILABLE
    assert "s3cret-Value" not in result.err + result.out
    secret.write_text("")
    empty = run("--password-file", str(secret), "nodes", database=UNREACHABLE)
    assert empty.code == EXIT_ERROR
    assert "password file %s is empty" % secret in empty.err


def test_a_password_in_the_url_is_masked_in_messages(run):
    result = run("nodes", database="postgresql://oscar:hunter2@127.0.0.1:9/oda")
    assert result.code == EXIT_UNAVAILABLE
    assert "hunter2" not in result.err


def test_a_bad_database_url_is_named(run):
    result = run("nodes", database="oracle://db/oda")
    assert result.code == EXIT_ERROR
    assert "unsupported database URL 'oracle://db/oda'" in result.err


@pytest.mark.parametrize(
    "database",
    [
        "mysql:oscar:hunter2@127.0.0.1/oda",
        "postgresql:oscar:hunter2@127.0.0.1/oda",
        "sqlite://oscar:hunter2@host/x.db",
        "mysql://oscar:hunter2@[::1/oda",
        "oscar:hunter2@127.0.0.1/oda",
    ],
)
def test_a_password_never_shows_whatever_the_urls_shape(run, database):
    result = run("nodes", database=database)
    assert result.code == EXIT_ERROR
    assert result.err.startswith("oda: error: ")
    assert "hunter2" not in result.err + result.out


def test_an_unclosed_ipv6_bracket_is_a_message_not_a_traceback(run):
    result = run("nodes", database="mysql://u:p@[::1/db")
    assert result.code == EXIT_ERROR
    assert "oda: error: invalid database URL 'mysql://u:***@[::1/db'" in result.err


def test_an_empty_database_option_is_refused_not_the_default(run, monkeypatch, tmp_path):
    monkeypatch.setenv("OSCAR_ODA_URL", "sqlite:%s" % (tmp_path / "env.db"))
    result = run("init", database="")
    assert result.code == EXIT_ERROR
    assert "oda: error: unsupported database URL ''" in result.err
    assert not (tmp_path / "env.db").exists()


@pytest.mark.parametrize("argv", [["nodes"], ["tables"], ["dump"], ["export"], ["macs"], ["node", "list"]])
def test_a_read_never_creates_a_database(run, tmp_path, argv):
    # A mistyped path must not look like an empty cluster.
    missing = tmp_path / "typo" / "oda.db"
    result = run(*argv, database="sqlite:%s" % missing)
    assert result.code == EXIT_UNAVAILABLE, result
    assert "oda: error: SQLite database %s does not exist" % missing in result.err
    assert not missing.parent.exists()


def test_a_new_database_file_is_readable_by_its_owner_only(run, tmp_path):
    path = tmp_path / "oda.db"
    assert run("init", database="sqlite:%s" % path).code == EXIT_OK
    for name in ("oda.db", "oda.db-wal", "oda.db-shm"):
        if (tmp_path / name).exists():
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_reading_commands_do_not_wait_for_a_writer(cluster, url):
    # A long import holds the write lock; 'oda nodes' used to wait for it, then fail.
    writer = Oda.open(url)
    try:
        with writer.db.transaction():
            writer.groups.ensure("importing")
            started = time.monotonic()
            result = cluster("nodes", "node[01-02]")
            assert time.monotonic() - started < 2
    finally:
        writer.close()
    assert result.code == EXIT_OK, result
    assert "node01" in result.out


def test_an_empty_macs_file_is_refused(cluster, url, tmp_path):
    empty = tmp_path / "macs.txt"
    empty.write_text("# nothing yet\n")
    argv = ["node", "add", "node[09-10]", "--network", "cluster", "--start-ip", "10.0.0.30"]
    refused(cluster, url, "%s holds no MAC address" % empty, *argv, "--macs-file", str(empty))


def test_import_refuses_yaml_aliases_at_once(cluster, url, tmp_path):
    # A 1 KB file of nested aliases would expand to billions of values.
    lines = ['nodes:\n- name: node01\n  variables:\n    a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [
        "    a%d: &a%d [%s]" % (level, level, ", ".join(["*a%d" % (level - 1)] * 8)) for level in range(1, 12)
    ]
    bomb = tmp_path / "bomb.yml"
    bomb.write_text("\n".join(lines) + "\n")
    assert len(bomb.read_bytes()) < 1024
    started = time.monotonic()
    refused(cluster, url, "aliases (*name) are not allowed in a cluster definition", "import", str(bomb))
    assert time.monotonic() - started < 2


# --- oda as a real program -----------------------------------------------------------


def oda_program(*argv, cwd, executable=ODA):
    """oda as a program, without the caller's database settings or import path."""
    environment = dict(os.environ)
    environment.pop("OSCAR_ODA_URL", None)
    environment.pop("OSCAR_ODA_PASSWORD", None)
    environment.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(executable), *argv], cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )


def test_oda_command_runs_from_anywhere_and_through_a_symlink(tmp_path):
    help_text = oda_program("--help", cwd="/")
    assert help_text.returncode == EXIT_OK, help_text.stderr
    assert help_text.stdout.startswith("usage: oda ")
    link = tmp_path / "oda"
    link.symlink_to(ODA)
    database = "sqlite:%s" % (tmp_path / "oda.db")
    created = oda_program("--database", database, "init", cwd=tmp_path, executable=link)
    assert created.returncode == EXIT_OK, created.stderr
    assert created.stdout.startswith("created ODA in ")


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (
            ["node", "add", "n[1-", "--network", "x", "--start-ip", "10.0.0.1"],
            EXIT_ERROR,
            "invalid node set 'n[1-'",
        ),
        (["network", "add", "n", "--cidr", "10.0.0.0/33"], EXIT_ERROR, "invalid network '10.0.0.0/33'"),
        (["restore", "missing.jsonl"], EXIT_ERROR, "cannot read missing.jsonl"),
        (["frobnicate"], EXIT_USAGE, "invalid choice: 'frobnicate'"),
        (["--database", UNREACHABLE, "nodes"], EXIT_UNAVAILABLE, "cannot connect to postgresql database"),
        (
            ["--database", "sqlite:/proc/1/none/oda.db", "nodes"],
            EXIT_UNAVAILABLE,
            "SQLite database /proc/1/none",
        ),
    ],
)
def test_oda_command_exits_with_the_documented_codes_and_no_traceback(tmp_path, argv, code, text):
    database = [] if "--database" in argv else ["--database", "sqlite:%s" % (tmp_path / "oda.db")]
    result = oda_program(*database, *argv, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_oda_command_takes_the_database_and_password_from_the_environment(tmp_path):
    database = "sqlite:%s" % (tmp_path / "env.db")
    environment = dict(os.environ, OSCAR_ODA_URL=database, OSCAR_ODA_PASSWORD="unused-by-sqlite")
    result = subprocess.run(
        [str(ODA), "init", "--format", "json"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["database"] == database


# --- network installation ------------------------------------------------------

ROOT_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LAYOUT = """\
partitions:
  - {label: efi, size_mib: 256, type: efi, mount: /boot/efi}
  - {label: root, type: linux, fs: ext4, mount: /}
"""


def _bootable(url):
    """rocky9 version 1 current, with its boot artifacts recorded, and the image of node01."""
    oda = Oda.open(url)
    try:
        oda.image_versions.ensure("rocky9", 1, boot_kernel="6.1.0-28-amd64", boot_root_sha256=ROOT_SHA)
        oda.images.ensure("rocky9", current_version=1)
        oda.nodes.update("node01", image="rocky9")
    finally:
        oda.close()


def test_boot_actions_and_install_history(cluster, url):
    header, first = cluster("nodes", "node01").out.splitlines()[:2]
    assert header.split()[7:9] == ["BOOT", "INSTALL"]
    assert first.split()[6:8] == ["local", "-"]
    refused(cluster, url, "node node01 has no image", "node", "modify", "node01", "--boot", "install")
    refused(cluster, url, "invalid boot action 'pxe'", "node", "modify", "node01", "--boot", "pxe")
    _bootable(url)
    assert cluster("node", "modify", "node01", "--boot", "install", "--check").out.startswith("would change")
    assert nodes_of(url)["node01"]["boot_action"] == "local"
    assert cluster("node", "modify", "node01", "--boot", "install").out == "changed 1 nodes: node01\n"
    oda = Oda.open(url)
    try:
        from oscar_cluster.module_utils import oda_install

        oda_install.record_report(oda.db, "node01", "booted")
        oda_install.record_report(oda.db, "node01", "failed", detail="no disk")
        oda_install.record_report(oda.db, "node01", "booted")
    finally:
        oda.close()
    assert cluster("nodes", "node01").out.splitlines()[1].split()[6:8] == ["install", "booted"]
    history = cluster("node", "history", "node01").out.splitlines()
    assert history[0] == "node node01: boot install, install stage booted, attempt 2"
    assert history[1].split() == ["ATTEMPT", "STAGE", "AT", "DETAIL"]
    assert [line.split()[:2] for line in history[2:]] == [["1", "booted"], ["1", "failed"], ["2", "booted"]]
    assert history[3].endswith("no disk")
    data = json.loads(cluster("node", "history", "node01", "--format", "json").out)
    assert (data["install_attempt"], len(data["history"])) == (2, 3)
    assert cluster("node", "history", "node02").out.splitlines()[1] == "no install reports"
    refused(cluster, url, "unknown node 'node99'", "node", "history", "node99")


def test_layouts_are_defined_shown_listed_used_and_removed(cluster, url):
    assert cluster("layout", "define", "small", "-", "--check", stdin=LAYOUT).out.startswith("would create")
    assert cluster("layout", "list").out.splitlines()[1:] == []
    created = cluster("layout", "define", "small", "-", stdin=LAYOUT)
    assert created.out == "created layout small: efi:vfat:/boot/efi=256 root:ext4:/=rest\n"
    again = cluster("layout", "define", "small", "-", stdin=LAYOUT)
    assert again.out == "nothing to change: layout small is as asked already\n"
    assert cluster("node", "modify", "node0[1-2]", "--disk-layout", "small").code == EXIT_OK
    listed = cluster("layout", "list").out.splitlines()
    assert listed[1].split() == [
        "small",
        "first",
        "disk",
        "efi:vfat:/boot/efi=256",
        "root:ext4:/=rest",
        "node[01-02]",
    ]
    shown = cluster("layout", "show", "small").out
    assert "smallest disk: 258 MiB" in shown
    assert (
        json.loads(cluster("layout", "show", "small", "--format", "json").out)["partitions"][1]["fs"]
        == "ext4"
    )
    assert "(built in)" in cluster("layout", "show", "default").out
    refused(cluster, url, "unknown disk layout 'nosuch'", "layout", "show", "nosuch")
    refused(cluster, url, "still used by nodes node[01-02]", "layout", "remove", "small")
    refused(
        cluster,
        url,
        "the layout needs 258 MiB",
        "layout",
        "define",
        "tiny",
        "-",
        stdin=LAYOUT + "min_disk_mib: 100\n",
    )
    refused(
        cluster,
        url,
        "no root",
        "layout",
        "define",
        "bad",
        "-",
        stdin="partitions: [{label: a, type: swap, size_mib: 1}]\n",
    )
    refused(
        cluster, url, "unknown disk layout 'nosuch'", "node", "modify", "node01", "--disk-layout", "nosuch"
    )
    assert cluster("node", "modify", "node0[1-2]", "--disk-layout", "").code == EXIT_OK
    assert cluster("layout", "remove", "small").out == "removed layout small\n"
    assert cluster("layout", "remove", "small").out == "nothing to remove: there is no layout small\n"

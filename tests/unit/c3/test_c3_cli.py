"""The commands' arguments, node selection and sources, run as a user runs them (the installed commands).

Nothing here needs a host: dry runs (-n) and the refusals happen before any
connection.  The ODA cases use a real SQLite ODA read through oscar_inventory.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda

from oscar_cluster.c3 import cli, inventory
from oscar_cluster.c3.model import C3Error

ROOT = Path(__file__).resolve().parents[3]
# The commands installed with the package, beside this interpreter.
BIN = Path(sys.executable).parent
COMMANDS = cli.COMMANDS

C3CONF = """
cluster lab {
    lab-head:head
    n[0-5]
    exclude 2
    dead n9
}
cluster other {
    other-head
    m[1-2]
}
"""


@pytest.fixture()
def env(tmp_path):
    values = dict(os.environ)
    values["OSCAR_C3_CACHE"] = str(tmp_path / "cache")
    values["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    values["OSCAR_C3_PERSIST"] = "0"
    values.pop("OSCAR_C3_INVENTORY", None)
    return values


@pytest.fixture()
def c3conf(tmp_path):
    path = tmp_path / "c3.conf"
    path.write_text(C3CONF)
    return str(path)


@pytest.fixture()
def oda_url(tmp_path):
    """An ODA with a head, five compute nodes (node003 dead, node004 excluded) and SSH settings."""
    url = "sqlite:%s" % (tmp_path / "oda.db")
    oda = Oda.open(url)
    try:
        with oda.db.transaction():
            oda.networks.ensure("private", "10.9.0.0/24")
            oda.groups.ensure("oscar_server")
            oda.groups.ensure("oscar_clients")
            oda.nodes.ensure(
                "head",
                groups=["oscar_server"],
                nics=[{"name": "eth0", "ip": "10.9.0.1", "network": "private"}],
                state="up",
            )
            for number in range(1, 6):
                oda.nodes.ensure(
                    "node%03d" % number,
                    groups=["oscar_clients"],
                    nics=[{"name": "eth0", "ip": "10.9.0.%d" % (10 + number), "network": "private"}],
                    state="dead" if number == 3 else "up",
                    excluded=number == 4,
                )
            oda.variables.set(
                "cluster",
                "oscar",
                {
                    "ansible_user": "admin",
                    "ansible_ssh_private_key_file": "/keys/id_ed25519",
                    "ansible_ssh_common_args": "-F /keys/ssh_config -o StrictHostKeyChecking=yes",
                },
            )
    finally:
        oda.close()
    return url


def c3(command, *args, env, stdin=None, cwd=ROOT):
    """A command run from the clone (its oscar_inventory the default source), or from cwd."""
    return subprocess.run(
        [str(BIN / command), *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
        cwd=cwd,
    )


# ---- --help ------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_documents_every_option_with_examples(command, env):
    result = c3(command, "--help", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: %s" % command)
    assert "examples:" in result.stdout
    parser = cli.build_parser(command)
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in result.stdout, "%s --help does not mention %s" % (command, flag)
        if action.option_strings and action.dest != "help":
            assert action.help, "%s: option %s has no help text" % (command, action.option_strings)


def test_launcher_without_command_is_a_usage_error(env):
    result = subprocess.run([str(BIN / "c3")], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 2
    assert "usage: c3 {cexec," in result.stderr


# ---- c3.conf source ----------------------------------------------------------


def test_clist_cname_cnum_from_c3conf(c3conf, env):
    assert c3("clist", "--conf", c3conf, env=env).stdout == (
        "cluster lab: direct, head lab-head, 7 nodes (5 up, 1 dead, 1 excluded)\n"
        "cluster other: direct, head other-head, 2 nodes (2 up)\n"
    )
    assert (
        c3("cname", "-f", c3conf, ":1-2", "other:0", env=env).stdout
        == "lab:1 n1\nlab:2 n2 (excluded)\nother:0 m1\n"
    )
    assert c3("cname", "--file", c3conf, "--all", env=env).stdout.splitlines()[-1] == "other:1 m2"
    result = c3("cnum", "--conf", c3conf, "n[3-4]", "n9", "zz", env=env)
    assert result.stdout == "lab:3 n3\nlab:4 n4\nlab:6 n9\n"
    assert "zz is not a node of lab" in result.stderr and result.returncode == 1
    assert c3("cnum", "--conf", c3conf, "other:", "m2", env=env).stdout == "other:1 m2\n"


def test_dry_run_shows_nodes_and_skips_dead_and_excluded(c3conf, env):
    result = c3("cexec", "--conf", c3conf, "-n", ":1-3,6", "uptime", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cexec: would run on n[1,3] (2): uptime"
    assert "  n2: skipped, excluded" in lines and "  n9: skipped, dead" in lines


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "--head", "date"],
        ["-n", "--all", "date"],
        ["-n", "-l", "bob", "date"],
        ["-n", "bob@lab:0", "date"],
        ["-n", "-w", "n[0-5]!n1", "-x", "n4", "date"],
    ],
)
def test_selection_options(args, c3conf, env):
    result = c3("cexec", "--conf", c3conf, *args, env=env)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    expected = {
        "--head": "on lab-head (1)",
        "--all": "on m[1-2],n[0-1,3-5] (7)",
        "-l": "on n[0-1,3-5] (5)",
        "bob@lab:0": "on n0 (1)",
        "-w": "on n[0,2-3,5] (4)",
    }
    key = next(k for k in expected if k in args)
    assert expected[key] in first
    if key in ("-l", "bob@lab:0"):
        assert "  n0: bob@n0" in result.stdout


def test_head_of_every_cluster_with_all(c3conf, env):
    assert (
        "on lab-head,other-head (2)"
        in c3("cexec", "--conf", c3conf, "-n", "--head", "--all", "x", env=env).stdout
    )


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("cexec", [":1-x", "date"], "invalid machine definition ':1-x': '1-x' is not a number"),
        ("cexec", [":9", "date"], "position 9 is beyond the last node of cluster 'lab' (positions 0-6)"),
        ("cexec", [":2", "date"], "names no usable node of cluster 'lab' (n2 is excluded)"),
        ("cexec", ["nope:", "date"], "unknown cluster 'nope'"),
        ("cexec", [":1"], "no command given"),
        ("cexec", ["-w", "n[1-", "date"], "invalid node set 'n[1-': unmatched '['"),
        ("cexec", ["-w", "zz1", "date"], "unknown node 'zz1'"),
        ("cexec", ["-g", "nogroup", "date"], "unknown group 'nogroup'"),
        ("cexec", ["-w", "n1", "-x", "n1", "date"], "the selection names no node"),
        ("cpush", ["/no/such/file"], "source file /no/such/file does not exist"),
        ("cpush", [], "no source file given"),
        ("cpush", ["-l", "/no/list"], "cannot read the list file /no/list"),
        ("cpush", ["a", "b", "c"], "expected SOURCE [TARGET], found 3 words"),
        ("cget", ["/etc/hosts", "/no/dir"], "target directory /no/dir does not exist"),
        ("cget", [], "expected SOURCE [TARGET_DIRECTORY]"),
        ("crm", [], "no file given"),
        ("ckill", ["-s", "BOGUS", "x"], "signal 'BOGUS' does not exist"),
        ("ckill", ["-s", "99", "x"], "signal 99 does not exist"),
        ("ckill", ["a", "b"], "expected one process name, found 2 words"),
        ("ckill", ["-u", "b@d", "x"], "'b@d' is not a valid user name"),
        ("cshutdown", ["t", "soon"], "'soon' is not a shutdown time"),
        ("cnum", [":1", "n1"], "cnum takes clusters (cluster:), not positions"),
        ("cname", ["extra"], "unexpected words after the machine definitions: extra"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(command, args, message, c3conf, env):
    result = c3(command, "--conf", c3conf, *args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "%s: error: " % command in result.stderr
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fanout", "0", "x"], "argument --fanout: '0' is not a whole number of hosts of at least 1"),
        (["-t", "-1", "x"], "argument -t/--timeout: '-1' must be above 0"),
        (["--connect-timeout", "soon", "x"], "'soon' is not a number of seconds"),
        (["--persist", "x", "x"], "'x' is not a whole number of seconds"),
        (["-l", "b d", "x"], "'b d' is not a valid user name"),
    ],
)
def test_bad_option_values(args, message, c3conf, env):
    result = c3("cexec", "--conf", c3conf, *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_c3conf_is_a_clear_error(tmp_path, env):
    result = c3("cexec", "--conf", str(tmp_path / "none.conf"), "date", env=env)
    assert result.returncode == 2
    assert (
        "cannot read the C3 configuration %s: No such file or directory" % (tmp_path / "none.conf")
        in result.stderr
    )


def test_conf_and_inventory_together_are_refused(c3conf, env):
    result = c3("clist", "--conf", c3conf, "--inventory", "x", env=env)
    assert result.returncode == 2 and "two sources; give one" in result.stderr


def test_interactive_answer_no_runs_nothing(c3conf, env):
    # Without a terminal the question is read from stdin.
    result = subprocess.run(
        ["setsid", str(BIN / "cexec"), "--conf", c3conf, "-i", ":0", "date"],
        capture_output=True,
        text=True,
        env=env,
        input="n\n",
        timeout=60,
        check=False,
    )
    assert "cexec: date on n0 (1 node)? [y/N]" in result.stderr
    assert "cancelled, nothing ran" in result.stderr
    assert result.returncode == 1


def test_cshutdown_cpush_crm_ckill_dry_runs(c3conf, tmp_path, env):
    source = tmp_path / "f.txt"
    source.write_text("x")
    listing = tmp_path / "list.txt"
    listing.write_text("# files\n%s /tmp/a.txt\n%s\n" % (source, source))
    cases = [
        ("cshutdown", ["-r", "+5", "kernel", "update"], "shutdown -r +5 'kernel update'"),
        ("cshutdown", ["--halt"], "shutdown -H now"),
        ("cshutdown", ["t", "10:30"], "shutdown -P 10:30"),
        ("cpush", [str(source), "/tmp/"], "push %s -> /tmp/" % source),
        ("cpush", ["-b", "-l", str(listing)], "push %s -> /tmp/a.txt, %s -> %s" % (source, source, source)),
        ("crm", ["-r", "-v", "/tmp/a b", "/tmp/*.core"], "rm -frv -- '/tmp/a b' /tmp/*.core"),
        ("ckill", ["-s", "9", "-u", "ALL", "a.out"], "send KILL to processes named a.out of every user"),
        ("ckill", ["-l", "bob", "a.out"], "send TERM to processes named a.out of bob"),
        ("cget", ["/etc/hosts", str(tmp_path)], "fetch /etc/hosts into %s" % tmp_path),
        ("cexecs", [":0-1", "date"], "on n[0-1] (2): date"),
    ]
    for command, args, expected in cases:
        result = c3(command, "--conf", c3conf, "-n", *args, env=env)
        assert result.returncode == 0, (command, result.stderr)
        assert expected in result.stdout.splitlines()[0], (command, result.stdout)


# ---- the Ansible inventory (ODA) source ---------------------------------------


def test_oda_clusters_positions_and_connection_settings(oda_url, env):
    env["OSCAR_ODA_URL"] = oda_url
    assert (
        c3("clist", env=env).stdout
        == "cluster oscar: direct, head head, 5 nodes (3 up, 1 dead, 1 excluded)\n"
    )
    assert c3("cname", env=env).stdout.splitlines() == [
        "oscar:0 node001",
        "oscar:1 node002",
        "oscar:2 node003 (dead)",
        "oscar:3 node004 (excluded)",
        "oscar:4 node005",
    ]
    result = c3("cexec", "-n", "oscar:1-4", "date", env=env)
    assert result.stdout.splitlines()[:3] == [
        "cexec: would run on node[002,005] (2): date",
        "  node002: admin@10.9.0.12",
        "  node005: admin@10.9.0.15",
    ]
    assert "node003: skipped, dead" in result.stdout
    assert "on head (1)" in c3("cexec", "-n", "--head", "date", env=env).stdout
    assert "on node[001-002,005] (3)" in c3("cexec", "-n", "-g", "oscar_clients", "date", env=env).stdout


def test_without_an_inventory_source_oda_is_read_directly_with_the_same_answer(oda_url, env, tmp_path):
    env["OSCAR_ODA_URL"] = oda_url
    from_ansible = [c3(command, env=env).stdout for command in ("clist", "cname")]
    from_ansible.append(c3("cexec", "-n", "oscar:1-4", "date", env=env).stdout)
    env["OSCAR_C3_CACHE"] = str(tmp_path / "direct-cache")
    direct = [c3(command, env=env, cwd=tmp_path).stdout for command in ("clist", "cname")]
    direct.append(c3("cexec", "-n", "oscar:1-4", "date", env=env, cwd=tmp_path).stdout)
    assert direct == from_ansible
    # The answer is cached, and a change in ODA makes it stale.
    assert len(list((tmp_path / "direct-cache").glob("inventory-*.json"))) == 1
    oda = Oda.open(oda_url)
    try:
        oda.nodes.set_state("node003", "up")
    finally:
        oda.close()
    assert "oscar:2 node003\n" in c3("cname", env=env, cwd=tmp_path).stdout


def test_without_an_inventory_source_a_missing_oda_is_a_clear_error_and_stays_missing(tmp_path, env):
    missing = tmp_path / "none" / "oda.db"
    env["OSCAR_ODA_URL"] = "sqlite:%s" % missing
    result = c3("cexec", "date", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot read the nodes from ODA (sqlite:%s)" % missing in result.stderr
    assert not missing.parent.exists()


LOAD_SCRIPT = """
import json
from oscar_cluster.c3 import inventory
loaded = inventory.load()
print(json.dumps(loaded.to_dict()))
"""


def load_in_subprocess(env):
    # Ansible's collection loader takes over ansible_collections.* in the
    # process that loads an inventory; keep that out of the test process.
    result = subprocess.run(
        [os.sys.executable, "-c", LOAD_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_inventory_settings_and_cache(oda_url, env, tmp_path):
    env["OSCAR_ODA_URL"] = oda_url
    loaded = load_in_subprocess(env)
    host = loaded["hosts"]["node001"]
    assert (host["address"], host["user"], host["keys"], host["config"]) == (
        "10.9.0.11",
        "admin",
        ["/keys/id_ed25519"],
        ["/keys/ssh_config"],
    )
    assert host["kex"] == "curve25519-sha256"  # from ansible.cfg's ssh_args
    assert loaded["groups"]["oda_dead"] == ["node003"]
    cache_files = list((tmp_path / "cache").glob("inventory-*.json"))
    assert len(cache_files) == 1
    # A change in ODA makes the cache stale: the next load sees it.
    oda = Oda.open(oda_url)
    try:
        oda.nodes.set_state("node003", "up")
    finally:
        oda.close()
    assert load_in_subprocess(env)["clusters"][0]["nodes"][2] == ["node003", "up"]


def test_the_oda_database_of_a_source_is_read_without_yaml_unless_the_source_names_one(tmp_path, env):
    plain = tmp_path / "plain_oda.yml"
    plain.write_text("plugin: oscar.cluster.oda\n")
    named = tmp_path / "named_oda.yml"
    named.write_text("plugin: oscar.cluster.oda\ndatabase: sqlite:/srv/oda.db\n")
    other = tmp_path / "hosts.yml"
    other.write_text("all:\n  hosts:\n    database:\n")
    script = (
        "import sys; from oscar_cluster.c3 import inventory; "
        "print([inventory._oda_url_of(p) for p in sys.argv[1:2]], 'yaml' in sys.modules); "
        "print([inventory._oda_url_of(p) for p in sys.argv[2:]])"
    )
    env["OSCAR_ODA_URL"] = "sqlite:/from/env.db"
    result = subprocess.run(
        [sys.executable, "-c", script, str(plain), str(named), str(other)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout.splitlines() == ["['sqlite:/from/env.db'] False", "['sqlite:/srv/oda.db', None]"]


def test_missing_inventory_source_is_a_clear_error(tmp_path, env):
    result = c3("cexec", "--inventory", str(tmp_path / "none.yml"), "date", env=env)
    assert result.returncode == 2
    assert "inventory source %s does not exist" % (tmp_path / "none.yml") in result.stderr


@pytest.mark.parametrize(
    "hostvars, expected",
    [
        ({}, {"address": "h", "port": None, "user": None}),
        (
            {"ansible_host": "10.0.0.1", "ansible_port": 2222, "ansible_user": "u"},
            {"address": "10.0.0.1", "port": 2222, "user": "u"},
        ),
        (
            {"ansible_ssh_common_args": "-p 23 -l x -i ~/k -o UserKnownHostsFile=/kh"},
            {"port": 23, "user": "x", "known_hosts": ["/kh"]},
        ),
        (
            {"ansible_ssh_extra_args": "-o StrictHostKeyChecking=no -o ConnectTimeout=4"},
            {"check_host_keys": False, "connect_timeout": 4.0},
        ),
        ({"ansible_ssh_args": "-o KexAlgorithms=a,b"}, {"kex": "a,b"}),
        ({"ansible_ssh_args": "-o Ciphers=+aes128-cbc"}, {"ciphers": "+aes128-cbc"}),
        ({"ansible_ssh_args": "-F/c"}, {"config": ["/c"], "kex": None, "ciphers": None}),
    ],
)
def test_host_from_vars(hostvars, expected):
    host = inventory.host_from_vars("h", hostvars, "-o KexAlgorithms=default-kex")
    for key, value in expected.items():
        assert getattr(host, key) == value, key


def test_host_from_vars_refuses_other_connections():
    with pytest.raises(
        C3Error, match="host 'h' uses ansible_connection=local; the C3 commands reach hosts over SSH only"
    ):
        inventory.host_from_vars("h", {"ansible_connection": "local"})
    with pytest.raises(C3Error, match="ssh option -F has no value"):
        inventory.host_from_vars("h", {"ansible_ssh_args": "-F"})


def test_clusters_without_cluster_groups_make_one_default_cluster():
    groups = {"all": ["b", "a", "h"], "oscar_server": ["h"], "oda_dead": ["b"]}
    clusters = inventory.clusters_from_groups(groups, {})
    assert clusters["default"].head == "h"
    assert clusters["default"].nodes == [("a", "up"), ("b", "dead")]

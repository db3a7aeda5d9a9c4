"""The C3 commands on a real testbed (one head, four compute nodes) registered in its own ODA.

Every command reads the nodes through oscar_inventory, as ansible-playbook
would, and reaches them over SSH with the settings ODA holds.  The faults the
issue lists (a node paused, killed or cut off mid-command) are done to real
containers while a command runs.  The testbed is shared by the whole module,
torn down at the end, and the teardown is checked.
"""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testbed_helpers import ROOT, podman_objects

BED = "it-c3"
NODES = ["node001", "node002", "node003", "node004"]
# The commands installed with the package, beside this interpreter.
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def bed(cli, state_root):
    oda_url = "sqlite:%s" % (Path(state_root) / "c3-oda.db")
    cli("--name", BED, "up", "--nodes", "4", "--oda", oda_url)
    yield cli.status(BED)
    cli("--name", BED, "down", check=False)
    assert podman_objects(BED) == [], "testbed objects left behind"


@pytest.fixture(scope="module")
def c3env(bed, tmp_path_factory):
    base = tmp_path_factory.mktemp("c3")
    env = dict(os.environ)
    env.update(
        OSCAR_ODA_URL=bed["oda"],
        OSCAR_C3_CACHE=str(base / "cache"),
        XDG_RUNTIME_DIR=str(base / "run"),
        OSCAR_C3_PERSIST="120",
    )
    env.pop("OSCAR_C3_INVENTORY", None)
    yield env
    stop = subprocess.run([str(BIN / "c3"), "mux", "--stop"], env=env, capture_output=True, check=False)
    assert stop.returncode == 0, "the connection daemon was not running at the end"


def c3(env, command, *args, timeout=120, stdin=None):
    return subprocess.run(
        [str(BIN / command), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        input=stdin,
        timeout=timeout,
        check=False,
        # No controlling terminal: -i reads its answer from stdin.
        start_new_session=True,
    )


def ok(result):
    assert result.returncode == 0, "exit %d\n%s\n%s" % (result.returncode, result.stdout, result.stderr)
    return result


def test_cexec_on_every_node_gathers_output(c3env):
    result = ok(c3(c3env, "cexec", "hostname"))
    for node in NODES:
        assert "%s (1)\n---------------\n%s\n" % (node, node) in result.stdout
    assert "cexec: 4 nodes: 4 ok, 0 failed, 0 timed out, 0 unreachable" in result.stderr
    gathered = ok(c3(c3env, "cexec", "echo same"))
    assert gathered.stdout == "-----------------\nnode[001-004] (4)\n-----------------\nsame\n"
    # The first run started the per-user daemon that keeps the connections.
    assert any((Path(c3env["XDG_RUNTIME_DIR"]) / "oscar-c3").glob("mux-*.sock"))


def test_selection_options_on_the_testbed(c3env):
    assert ok(c3(c3env, "cexec", "-q", ":1-2", "hostname")).stdout.count(" (1)\n") == 2
    assert "node003" in ok(c3(c3env, "cexec", "-q", "oscar:2", "hostname")).stdout
    assert ok(c3(c3env, "cexec", "-q", "--head", "hostname")).stdout.endswith("head\n")
    assert "\nnode[001-004] (4)\n" in ok(c3(c3env, "cexec", "-q", "--all", "echo x")).stdout
    assert "(2)\n" in ok(c3(c3env, "cexec", "-q", "-w", "node[001-003]!node002", "echo x")).stdout
    assert (
        "node[001-004] (4)"
        in ok(c3(c3env, "cexec", "-q", "-g", "oscar_clients", "-x", "head", "echo x")).stdout
    )
    assert ok(c3(c3env, "cexec", "-q", "-l", "root", ":0", "id -un")).stdout.endswith("root\n")
    assert ok(c3(c3env, "cexec", "-q", "root@oscar:0", "id -un")).stdout.endswith("root\n")
    nobody = c3(c3env, "cexec", "-l", "nobody", ":0", "true")
    assert nobody.returncode == 255 and "unreachable: node001 (permission denied" in nobody.stderr


def test_pipe_serial_fanout_and_in_process_runs(c3env):
    piped = ok(c3(c3env, "cexec", "-q", "--pipe", "printf 'a\\nb\\n'"))
    assert sorted(piped.stdout.splitlines()) == sorted("%s: %s" % (n, x) for n in NODES for x in "ab")
    serial = ok(c3(c3env, "cexecs", "-q", "hostname"))
    assert serial.stdout == "".join("--------- %s ---------\n%s\n" % (n, n) for n in NODES)
    started = time.monotonic()
    ok(c3(c3env, "cexec", "-q", "--fanout", "1", "sleep 0.5"))
    assert time.monotonic() - started >= 2.0, "a fanout of 1 must run the nodes one at a time"
    alone = ok(c3(c3env, "cexec", "--persist", "0", "--connect-timeout", "5", "hostname"))
    assert "4 ok" in alone.stderr


def test_exit_status_is_the_worst_nodes_and_summary_names_them(c3env):
    result = c3(c3env, "cexec", "case $(hostname) in node002) exit 3;; node004) exit 7;; esac")
    assert result.returncode == 7
    assert "cexec: failed: node002 (exit status 3)" in result.stderr
    assert "cexec: failed: node004 (exit status 7)" in result.stderr


def test_command_timeout_per_node(c3env):
    started = time.monotonic()
    result = c3(c3env, "cexec", "-t", "2", '[ "$(hostname)" = node003 ] && sleep 30; echo done')
    assert time.monotonic() - started < 10
    assert result.returncode == 124
    assert "cexec: timed out: node003 (no answer within 2 s)" in result.stderr
    assert "node[001-002,004] (3)" in result.stdout


def test_dry_run_and_interactive(c3env):
    ok(c3(c3env, "cexec", "-n", "touch /tmp/c3-dry"))
    ok(c3(c3env, "cexec", "-i", ":0", "touch /tmp/c3-asked", stdin="y\n"))
    check = ok(c3(c3env, "cexec", "-q", "--pipe", "ls /tmp/c3-dry /tmp/c3-asked 2>/dev/null; true"))
    assert "c3-dry" not in check.stdout
    assert check.stdout.strip() == "node001: /tmp/c3-asked"


def test_bad_input_is_refused_before_anything_runs(c3env, tmp_path):
    for args, message in (
        ([":0,9", "touch /tmp/c3-bad"], "position 9 is beyond the last node of cluster 'oscar'"),
        ([":x", "touch /tmp/c3-bad"], "invalid machine definition ':x'"),
        (["nowhere:", "touch /tmp/c3-bad"], "unknown cluster 'nowhere'"),
    ):
        result = c3(c3env, "cexec", *args)
        assert result.returncode == 2 and message in result.stderr
    missing = c3(c3env, "cpush", str(tmp_path / "absent"), "/tmp/")
    assert (
        missing.returncode == 2 and "source file %s does not exist" % (tmp_path / "absent") in missing.stderr
    )
    assert ok(c3(c3env, "cexec", "-q", "ls /tmp/c3-bad 2>/dev/null; true")).stdout == ""


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_cpush_sends_changes_only_and_blind_sends_all(c3env, tmp_path):
    payload = os.urandom(1 << 20)
    source = tmp_path / "blob.bin"
    source.write_bytes(payload)
    source.chmod(0o640)
    first = ok(c3(c3env, "cpush", str(source), "/tmp/"))
    assert first.stdout.endswith("node[001-004] (4)\n-----------------\n1 sent, 0 unchanged\n")
    assert "cpush: 4 nodes: 4 ok" in first.stderr
    again = ok(c3(c3env, "cpush", "-q", str(source), "/tmp/"))
    assert again.stdout.endswith("node[001-004] (4)\n-----------------\n0 sent, 1 unchanged\n")
    blind = ok(c3(c3env, "cpush", "-q", "-b", ":0-1", str(source), "/tmp/"))
    assert blind.stdout.endswith("node[001-002] (2)\n-----------------\n1 sent, 0 unchanged\n")
    check = ok(c3(c3env, "cexec", "-q", "sha256sum /tmp/blob.bin; stat -c %a /tmp/blob.bin"))
    assert "(4)\n-----------------\n%s  /tmp/blob.bin\n640\n" % sha256(payload) in check.stdout


def test_cpush_list_file_directory_and_login(c3env, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A\n")
    (tree / "sub" / "b.txt").write_text("B\n")
    listing = tmp_path / "files.list"
    listing.write_text("# one per line\n%s /tmp/c3-a.txt\n%s /tmp/c3-tree\n" % (tree / "a.txt", tree))
    ok(c3(c3env, "cpush", "-q", "--login", "root", "-l", str(listing)))
    check = ok(c3(c3env, "cexec", "-q", "cat /tmp/c3-a.txt /tmp/c3-tree/a.txt /tmp/c3-tree/sub/b.txt"))
    assert check.stdout.endswith("(4)\n-----------------\nA\nA\nB\n")


def test_cget_renames_by_cluster_and_node(c3env, tmp_path):
    ok(c3(c3env, "cexec", "-q", "hostname > /tmp/c3-name.txt"))
    ok(c3(c3env, "cget", ":1,3", "/tmp/c3-name.txt", str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c3-name.txt_oscar_node002",
        "c3-name.txt_oscar_node004",
    ]
    assert (tmp_path / "c3-name.txt_oscar_node004").read_text() == "node004\n"
    missing = c3(c3env, "cget", ":0", "/tmp/c3-absent", str(tmp_path))
    assert missing.returncode == 1
    assert "cget: failed: node001 (cat: /tmp/c3-absent: No such file or directory)" in missing.stderr


def test_crm_removes_files_and_trees(c3env):
    ok(c3(c3env, "cexec", "-q", "mkdir -p /tmp/c3-rm/d && touch /tmp/c3-rm/f1 /tmp/c3-rm/f2 /tmp/c3-rm/d/x"))
    assert "removed '/tmp/c3-rm/f1'" in ok(c3(c3env, "crm", "-v", "/tmp/c3-rm/f1")).stdout
    ok(c3(c3env, "crm", "-i", "-r", "/tmp/c3-rm", stdin="yes\n"))
    assert ok(c3(c3env, "cexec", "-q", "ls /tmp/c3-rm 2>&1; true")).stdout.count("No such file") == 1


def count_sleepers(env):
    result = ok(c3(env, "cexec", "-q", "--pipe", "grep -lx c3sleeper /proc/[0-9]*/comm 2>/dev/null | wc -l"))
    return {line.split(": ")[0]: int(line.split(": ")[1]) for line in result.stdout.splitlines()}


def test_ckill_by_name_signal_and_user(c3env):
    start = "cp /bin/sleep /tmp/c3sleeper && (setsid /tmp/c3sleeper 300 </dev/null >/dev/null 2>&1 &)"
    ok(c3(c3env, "cexec", "-q", start))
    assert set(count_sleepers(c3env).values()) == {1}
    result = ok(c3(c3env, "ckill", "-q", "-u", "nobody", "c3sleeper"))
    assert result.stdout.count("no process named c3sleeper of nobody") == 1  # gathered: one block for all
    ok(c3(c3env, "ckill", "-q", "-s", "KILL", ":0-1", "c3sleeper"))
    assert count_sleepers(c3env) == {"node001": 0, "node002": 0, "node003": 1, "node004": 1}
    ok(c3(c3env, "ckill", "-q", "-s", "9", "-u", "ALL", "c3sleeper"))
    assert set(count_sleepers(c3env).values()) == {0}


def test_clist_cname_cnum_from_oda(c3env):
    assert ok(c3(c3env, "clist")).stdout == "cluster oscar: direct, head head, 4 nodes (4 up)\n"
    assert ok(c3(c3env, "cname", ":1-2")).stdout == "oscar:1 node002\noscar:2 node003\n"
    assert ok(c3(c3env, "cnum", "node004")).stdout == "oscar:3 node004\n"


def run_with_fault(env, fault, *args):
    """Start a cexec, do the fault one second in, and return (result, seconds it took)."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(BIN / "cexec"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(ROOT),
    )
    time.sleep(1)
    fault()
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr), time.monotonic() - started


# The margins are wide on purpose: on a loaded 2-core CI machine a healthy
# node may take seconds to answer; the per-node timeout (-t) must still only
# ever catch the node that the fault hit.


def test_node_paused_mid_command_times_out_alone(c3env, cli):
    try:
        result, took = run_with_fault(
            c3env, lambda: cli("--name", BED, "pause", "node002"), "-t", "12", "sleep 3; hostname"
        )
    finally:
        cli("--name", BED, "unpause", "node002", check=False)
    assert took < 30
    assert result.returncode == 124
    assert "cexec: timed out: node002 (no answer within 12 s)" in result.stderr
    assert "3 ok" in result.stderr
    assert "node001 (1)" in result.stdout and "node004 (1)" in result.stdout


def test_node_killed_mid_command_fails_alone_and_comes_back(c3env, cli):
    try:
        result, took = run_with_fault(
            c3env, lambda: cli("--name", BED, "kill", "node003"), "-t", "20", "sleep 3; hostname"
        )
        assert took < 40
        assert result.returncode != 0
        assert "3 ok" in result.stderr
        assert any(
            line.startswith(("cexec: failed: node003", "cexec: timed out: node003"))
            for line in result.stderr.splitlines()
        ), result.stderr
        down = c3(c3env, "cexec", "--connect-timeout", "3", ":2", "true")
        assert down.returncode == 255 and "unreachable: node003" in down.stderr
    finally:
        cli("--name", BED, "start", "node003", check=False)
    # The daemon's old connection is gone; a new one is made.
    assert "4 ok" in ok(c3(c3env, "cexec", "hostname")).stderr


def test_node_cut_off_mid_command_times_out_alone(c3env, cli):
    try:
        result, took = run_with_fault(
            c3env,
            lambda: cli("--name", BED, "disconnect", "node001", "--network", "private"),
            "-t",
            "12",
            "sleep 3; hostname",
        )
    finally:
        cli("--name", BED, "reconnect", "node001", "--network", "private", check=False)
    assert took < 30
    assert result.returncode == 124
    assert "cexec: timed out: node001 (no answer within 12 s)" in result.stderr
    assert "3 ok" in result.stderr
    assert "4 ok" in ok(c3(c3env, "cexec", "--connect-timeout", "5", "hostname")).stderr


def test_cshutdown_schedules_and_powers_off(c3env):
    ok(c3(c3env, "cshutdown", "-r", ":0", "+30", "c3 test"))
    scheduled = ok(c3(c3env, "cexec", "-q", ":0", "cat /run/systemd/shutdown/scheduled"))
    assert "MODE=reboot" in scheduled.stdout
    ok(c3(c3env, "cexec", "-q", ":0", "shutdown -c"))
    halted = c3(c3env, "cshutdown", "--halt", ":3", "now")
    # The node may drop the connection before it reports the command's end.
    assert halted.returncode in (0, 255), halted.stderr
    time.sleep(3)
    after = c3(c3env, "cexec", "--connect-timeout", "3", "-t", "5", ":3", "true")
    assert after.returncode in (124, 255) and "node004" in after.stderr

"""The connection daemon's cold start: started ahead, forked, handed TCP connections opened early.

Real sockets throughout: a local TCP listener stands for a node's sshd where
only the TCP connection matters, and a real SSH server (asyncssh, in a thread
of this process) for the runs of the cexec command, which fork a real daemon.
"""

import asyncio
import ctypes.util
import fcntl
import getpass
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncssh
import pytest

from oscar_cluster.c3 import mux, runner
from oscar_cluster.c3.model import Host

# The commands installed with the package, beside this interpreter.
BIN = Path(sys.executable).parent


# ---- which command lines start the daemon ahead ------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["cexec", "hostname"],
        ["cexec", "df", "-h"],
        ["cexec", ":1-3", "uname", "-n"],
        ["cexec", "-w", "node[1-3]", "-t", "30", "hostname"],
        ["cpush", "-l", "files.txt"],
        ["cexec", "--", "-n"],
        ["cget", "/var/log/messages"],
    ],
)
def test_plain_runs_start_the_daemon_ahead(argv):
    assert mux.runs_ahead(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["clist"],
        ["cname", ":1"],
        ["mux", "--persist", "9"],
        ["cexec", "-n", "hostname"],
        ["cexec", "-qn", "hostname"],
        ["cexec", "--dry-run", "hostname"],
        ["cexec", "--help"],
        ["cexec", "-h"],
        ["cexec", "-i", "reboot"],
        ["cexec", "-t", "30", "--interactive", "reboot"],
        ["cexec", "--persist", "0", "hostname"],
        ["cexec", "--persist=0", "hostname"],
        ["cexec", "--pers", "0", "hostname"],
    ],
)
def test_runs_that_may_reach_no_node_or_want_no_daemon_do_not(argv):
    assert not mux.runs_ahead(argv)


# ---- importing asyncssh ------------------------------------------------------------


def test_library_lookup_answers_as_find_library_for_what_the_linker_knows():
    for name in ("c", "ssl", "no-such-library-for-c3"):
        assert runner._linker_lookup(name) == ctypes.util.find_library(name)


def test_library_lookup_runs_no_program_for_a_library_the_linker_cache_lacks(tmp_path, monkeypatch):
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(b"glibc-ld.so.cache1.1\0libc.so.6\0/lib/x86_64-linux-gnu/libc.so.6\0")
    asked = []
    monkeypatch.setattr(runner, "LINKER_CACHE", str(cache))
    monkeypatch.setattr(ctypes.util, "_findSoname_ldconfig", lambda name: asked.append(name) or "x")
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert runner._linker_lookup("oqs") is None
    assert runner._linker_lookup("c") == "x"
    assert asked == ["c"]
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "liboqs.so.8").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nowhere:%s" % (tmp_path / "lib"))
    assert runner._linker_lookup("oqs") == str(tmp_path / "lib" / "liboqs.so.8")


def _python(code):
    """Run code in a new interpreter, as the daemon starts: nothing imported yet."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_asyncssh_is_imported_without_tls_or_x509_and_both_stay_importable():
    answer = _python(
        "import sys\n"
        "from oscar_cluster.c3 import runner\n"
        "print('ssl' in sys.modules, 'cryptography.x509' in sys.modules)\n"
        "print(runner.asyncssh.public_key._x509_available)\n"
        "import ssl, cryptography.x509\n"
        "print(ssl.OPENSSL_VERSION_NUMBER > 0 and cryptography.x509.Name is not None)\n"
    )
    assert answer == ["False", "False", "False", "True"]


def test_modules_already_imported_are_left_alone():
    answer = _python(
        "import ssl, sys\n"
        "from oscar_cluster.c3 import runner\n"
        "print(sys.modules['ssl'] is ssl, runner.asyncio.base_events.ssl is ssl)\n"
    )
    assert answer == ["True", "True"]


# ---- connection options ------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, ciphers",
    [
        ({}, runner.PREFERRED_CIPHERS),
        ({"ciphers": "-aes128-gcm@openssh.com"}, "-aes128-gcm@openssh.com"),
        ({"config": ["/etc/ssh/site_config"], "resolved": True}, runner.PREFERRED_CIPHERS),
        # A file asyncssh reads at connection time may name Ciphers: nothing overrides it.
        ({"config": ["/etc/ssh/site_config"]}, None),
    ],
)
def test_the_cipher_preference_yields_to_what_the_ssh_settings_say(settings, ciphers):
    options = runner.Pool()._options(Host("n1", "10.0.0.1", **settings), 10)
    assert options.get("encryption_algs") == ciphers


def test_host_keys_are_looked_up_where_openssh_looks(tmp_path, monkeypatch):
    """Without UserKnownHostsFile: the user's and the system-wide files, as OpenSSH reads them."""
    user, system = tmp_path / "known_hosts", tmp_path / "ssh_known_hosts"
    monkeypatch.setattr(runner, "DEFAULT_KNOWN_HOSTS", (str(user), str(tmp_path / "absent"), str(system)))
    assert "known_hosts" not in runner.Pool()._options(Host("n1", "10.0.0.1"), 10)
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    system.write_text("n1,10.0.0.1 " + key)
    options = runner.Pool()._options(Host("n1", "10.0.0.1"), 10)
    trusted, _ca, _revoked, *_rest = options["known_hosts"].match("n1", "10.0.0.1", None)
    assert {k.export_public_key().decode() for k in trusted} == {key}
    # What the settings name wins; a file asyncssh reads itself decides for itself.
    named = Host("n1", "10.0.0.1", known_hosts=[str(user)])
    user.write_text("")
    assert runner.Pool()._options(named, 10)["known_hosts"].match("n1", "10.0.0.1", None)[0] == []
    assert "known_hosts" not in runner.Pool()._options(Host("n1", "10.0.0.1", config=["/x"]), 10)


def test_without_f_the_user_and_system_ssh_configs_are_read_as_openssh_reads_them(tmp_path, monkeypatch):
    user, system = tmp_path / "config", tmp_path / "ssh_config"
    system.write_text("Host *\n    IdentityFile /k\n")
    monkeypatch.setattr(runner, "DEFAULT_CONFIGS", (str(user), str(system)))
    assert runner.Pool()._options(Host("n1", "10.0.0.1"), 10)["config"] == [str(system)]
    given = runner.Pool()._options(Host("n1", "10.0.0.1", config=["/site"]), 10)
    assert given["config"] == ["/site"]


# ---- TCP connections opened before asyncssh ---------------------------------------


@pytest.fixture()
def tcp_listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    yield server
    server.close()


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A home without ~/.ssh/config, unless a test writes one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def target(name, address, port, **settings):
    return {"host": Host(name=name, address=address, port=port, **settings).to_dict(), "cluster": "lab"}


def accepted(server, count):
    peers = [server.accept()[0] for _unused in range(count)]
    server.settimeout(0.3)
    with pytest.raises(TimeoutError):
        peers.append(server.accept()[0])  # and no more
    return peers


def test_open_early_connects_once_per_connection_and_only_to_numeric_direct_addresses(tcp_listener, home):
    port = tcp_listener.getsockname()[1]
    targets = [
        target("n1", "127.0.0.1", port, user="a"),
        target("n2", "127.0.0.1", port, user="b"),
        target("n1-again", "127.0.0.1", port, user="a"),  # the same connection as n1
        target("named", "localhost", port),  # a name: asyncssh looks it up
        target("via-config", "127.0.0.1", port, config=["/etc/x/ssh_config"]),  # read at connect time
        target("resolved", "127.0.0.1", port, user="c", config=["/etc/x/ssh_config"], resolved=True),
    ]
    early = mux.open_early(targets, limit=64)
    try:
        assert sorted(early) == [0, 1, 5]
        assert len(accepted(tcp_listener, 3)) == 3
    finally:
        mux.close_early(early)
    assert early == {}


def test_open_early_stops_at_the_fanout_and_respects_a_users_ssh_config(tcp_listener, home):
    port = tcp_listener.getsockname()[1]
    targets = [target("n%d" % i, "127.0.0.1", port, user="u%d" % i) for i in range(4)]
    early = mux.open_early(targets, limit=2)
    assert sorted(early) == [0, 1]
    mux.close_early(early)
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text("Host *\n  ProxyJump gateway\n")
    assert mux.open_early(targets, limit=64) == {}


def test_a_refused_early_connection_is_reported_as_a_plain_connect_would(home):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    early = mux.open_early([target("n1", "127.0.0.1", port)], limit=64)
    try:
        if early:  # else refused at once, and left to asyncssh
            with pytest.raises(ConnectionRefusedError):
                asyncio.run(runner._connected(early[0]))
    finally:
        mux.close_early(early)


def test_the_first_request_brings_the_early_connections_with_it(tcp_listener, home, tmp_path):
    port = tcp_listener.getsockname()[1]
    targets = [target("n1", "127.0.0.1", port, user="a"), target("n2", "127.0.0.1", port, user="b")]
    request = {"targets": targets, "job": {"kind": "exec", "command": "x" * 200000}, "fanout": 64}
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "mux.sock"))
    unix.listen(4)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(tmp_path / "mux.sock"))
    early = mux.open_early(targets, limit=64)
    peers = accepted(tcp_listener, 2)
    # Sent from a thread: a request larger than the socket's buffer needs the reader going.
    sender = threading.Thread(target=mux._send_request, args=(client, request, early))
    sender.start()
    connection, received, passed = mux._first_request(unix)
    sender.join()
    mux.close_early(early)  # the client's copies; the daemon's stay open
    try:
        assert received == request  # the "early" list is the daemon's business only
        assert sorted(passed) == [0, 1]
        by_port = {peer.getpeername()[1]: peer for peer in peers}
        for sock in passed.values():
            sock.sendall(b"through the passed descriptor")
            assert by_port[sock.getsockname()[1]].recv(100) == b"through the passed descriptor"
    finally:
        mux.close_early(passed)
        for sock in (connection, client, unix, *peers):
            sock.close()


def test_a_first_request_without_descriptors_is_served_as_any_other(tmp_path):
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "mux.sock"))
    unix.listen(1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(tmp_path / "mux.sock"))
        client.sendall(b'{"stop": true}\n')
        connection, request, passed = mux._first_request(unix)
    connection.close()
    unix.close()
    assert request == {"stop": True} and passed == {}


def test_the_first_request_is_not_a_connection_that_only_checked_for_a_daemon(tmp_path):
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "mux.sock"))
    unix.listen(4)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.connect(str(tmp_path / "mux.sock"))
    probe.close()
    garbled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    garbled.connect(str(tmp_path / "mux.sock"))
    garbled.sendall(b"not json\n")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(tmp_path / "mux.sock"))
        client.sendall(b'{"targets": [], "early": [0, "x"]}\n')
        connection, request, passed = mux._first_request(unix)
    for sock in (connection, garbled, unix):
        sock.close()
    assert request == {"targets": []} and passed == {}


# ---- cold runs of cexec against a real SSH server ----------------------------


class Nodes:
    """SSH servers on 127.0.0.1, one port per node, that count the TCP connections they accept."""

    def __init__(self, directory, count):
        self.directory = directory
        self.loop = asyncio.new_event_loop()
        self.accepted = {}
        self.sftp_calls = []
        self.ciphers = []  # the cipher each command's connection negotiated
        self.servers = []
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.key_file = directory / "id_ed25519"
        client_key.write_private_key(str(self.key_file))
        self.key_file.chmod(0o600)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ports = asyncio.run_coroutine_threadsafe(
            self._listen(count, host_key, client_key), self.loop
        ).result(10)
        self.known_hosts = directory / "known_hosts"
        public = host_key.export_public_key().decode().strip()
        self.known_hosts.write_text("".join("[127.0.0.1]:%d %s\n" % (port, public) for port in self.ports))

    async def _listen(self, count, host_key, client_key):
        nodes = self
        authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

        class Counting(asyncssh.SSHServer):
            def connection_made(self, conn):
                port = conn.get_extra_info("sockname")[1]
                nodes.accepted[port] = nodes.accepted.get(port, 0) + 1

        class CountingSFTP(asyncssh.SFTPServer):
            """The local file system, and the name of every request in order."""

        requests = ("stat", "lstat", "open", "write", "fsetstat", "setstat", "close", "posix_rename", "mkdir")
        for name in requests:

            def counted(self, *args, _name=name):
                nodes.sftp_calls.append(_name)
                return getattr(asyncssh.SFTPServer, _name)(self, *args)

            setattr(CountingSFTP, name, counted)

        async def answer(process):
            nodes.ciphers.append(process.get_extra_info("recv_cipher"))
            process.stdout.write("node on %d\n" % process.get_extra_info("sockname")[1])
            process.exit(0)

        ports = []
        for _unused in range(count):
            server = await asyncssh.listen(
                "127.0.0.1",
                0,
                server_factory=Counting,
                server_host_keys=[host_key],
                authorized_client_keys=authorized,
                process_factory=answer,
                sftp_factory=CountingSFTP,
            )
            self.servers.append(server)
            ports.append(server.sockets[0].getsockname()[1])
        return ports

    def inventory(self, ssh_options=""):
        path = self.directory / "inventory.yml"
        lines = ["all:", "  children:", "    cluster_lab:", "      hosts:"]
        for number, port in enumerate(self.ports, 1):
            lines.append("        n%d: {ansible_host: 127.0.0.1, ansible_port: %d}" % (number, port))
        lines += [
            "  vars:",
            "    ansible_user: %s" % getpass.getuser(),
            "    ansible_ssh_private_key_file: %s" % self.key_file,
            "    ansible_ssh_common_args: -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes %s"
            % (self.known_hosts, ssh_options),
        ]
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def close(self):
        async def stop():
            for server in self.servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture()
def nodes(tmp_path):
    found = Nodes(tmp_path, 3)
    yield found
    found.close()


@pytest.fixture()
def c3env(tmp_path):
    env = dict(os.environ)
    env.update(
        HOME=str(tmp_path / "home"),  # no ~/.ssh/config
        OSCAR_C3_CACHE=str(tmp_path / "cache"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        OSCAR_C3_PERSIST="60",
    )
    (tmp_path / "home").mkdir()
    env.pop("OSCAR_C3_INVENTORY", None)
    yield env
    subprocess.run([str(BIN / "c3"), "mux", "--stop"], env=env, capture_output=True, check=False)


def cexec(env, inventory, *args):
    return subprocess.run(
        [str(BIN / "cexec"), "--inventory", inventory, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def daemon_running(env):
    return any((Path(env["XDG_RUNTIME_DIR"]) / "oscar-c3").glob("mux-*.sock"))


def test_cold_run_goes_over_the_early_connections_and_warm_runs_reuse_them(nodes, c3env):
    inventory = nodes.inventory()
    cold = cexec(c3env, inventory, "-q", "true")  # reads the inventory with Ansible, then runs
    assert cold.returncode == 0, cold.stderr
    assert daemon_running(c3env)
    # One TCP connection per node: the one the client opened before the daemon had asyncssh.
    assert nodes.accepted == {port: 1 for port in nodes.ports}
    warm = cexec(c3env, inventory, "hostname")
    assert warm.returncode == 0, warm.stderr
    for number, port in enumerate(nodes.ports, 1):
        assert "n%d (1)\n---------------\nnode on %d\n" % (number, port) in warm.stdout
    assert nodes.accepted == {port: 1 for port in nodes.ports}, "the warm run opened new connections"
    stop = subprocess.run([str(BIN / "c3"), "mux", "--stop"], env=c3env, check=False)
    assert stop.returncode == 0 and not daemon_running(c3env)
    again = cexec(c3env, inventory, "-q", "-w", "n[1-2]", "true")  # cold again, the inventory cached
    assert again.returncode == 0, again.stderr
    assert nodes.accepted == {nodes.ports[0]: 2, nodes.ports[1]: 2, nodes.ports[2]: 1}


def test_a_run_in_its_own_process_also_uses_early_connections(nodes, c3env):
    result = cexec(c3env, nodes.inventory(), "--persist", "0", "-q", "hostname")
    assert result.returncode == 0, result.stderr
    assert nodes.accepted == {port: 1 for port in nodes.ports}
    assert not daemon_running(c3env)


def test_aes_gcm_is_preferred_unless_the_ssh_options_name_ciphers(nodes, c3env):
    preferred = cexec(c3env, nodes.inventory(), "--persist", "0", "-q", "true")
    assert preferred.returncode == 0, preferred.stderr
    assert nodes.ciphers == ["aes128-gcm@openssh.com"] * 3
    nodes.ciphers.clear()
    chosen = nodes.inventory("-o Ciphers=^chacha20-poly1305@openssh.com")  # OpenSSH's "put first"
    named = cexec(c3env, chosen, "--persist", "0", "--refresh", "-q", "true")
    assert named.returncode == 0, named.stderr
    assert nodes.ciphers == ["chacha20-poly1305@openssh.com"] * 3


def test_a_daemon_of_another_version_is_left_alone_then_stopped_with_the_others(nodes, c3env):
    """After an update, the daemon started by the old code may not understand new requests."""
    mux_dir = Path(c3env["XDG_RUNTIME_DIR"]) / "oscar-c3"
    mux_dir.mkdir(parents=True, mode=0o700)
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old.bind(str(mux_dir / "mux-0badc0de.sock"))
    old.listen(4)
    heard = []

    def serve():
        while True:
            try:
                connection, _address = old.accept()
            except OSError:
                return
            with connection, connection.makefile("rwb") as stream:
                heard.append(json.loads(stream.readline()))
                stream.write(b'{"error": "TypeError: a request this version does not know"}\n')

    threading.Thread(target=serve, daemon=True).start()
    try:
        result = cexec(c3env, nodes.inventory(), "-q", "hostname")
        assert result.returncode == 0, result.stderr
        assert heard == []
        assert len(list(mux_dir.glob("mux-*.sock"))) == 2  # its own daemon beside the old one
        stop = subprocess.run([str(BIN / "c3"), "mux", "--stop"], env=c3env, check=False)
        assert stop.returncode == 0
        assert heard == [{"stop": True}]
        assert not (set(mux_dir.glob("mux-*.sock")) - {mux_dir / "mux-0badc0de.sock"})
    finally:
        old.close()


def test_a_command_that_fails_before_its_request_stops_the_daemon_it_started(nodes, c3env):
    inventory = nodes.inventory()
    assert cexec(c3env, inventory, "-n", "true").returncode == 0  # caches the inventory; no daemon
    assert not daemon_running(c3env)
    failed = cexec(c3env, inventory, ":7", "true")
    assert failed.returncode == 2 and "position 7 is beyond the last node" in failed.stderr
    mux_dir = Path(c3env["XDG_RUNTIME_DIR"]) / "oscar-c3"
    for _attempt in range(100):  # the daemon reads the stop once asyncssh is imported
        if not daemon_running(c3env):
            break
        time.sleep(0.1)
    assert not daemon_running(c3env), (mux_dir / "mux.log").read_text()
    assert nodes.accepted == {}


def test_two_cold_runs_at_once_share_one_new_daemon(nodes, c3env):
    inventory = nodes.inventory()
    assert cexec(c3env, inventory, "-n", "true").returncode == 0  # caches the inventory; no daemon
    runs = [
        subprocess.Popen(
            [str(BIN / "cexec"), "--inventory", inventory, "hostname"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=c3env,
        )
        for _unused in range(2)
    ]
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
        assert "3 ok" in err and "n3 (1)" in out
    assert all(count in (1, 2) for count in nodes.accepted.values()), nodes.accepted
    # One daemon: once it is stopped, none holds the lock (a daemon holds it all its life).
    stop = subprocess.run([str(BIN / "c3"), "mux", "--stop"], env=c3env, check=False)
    assert stop.returncode == 0
    (lock_path,) = (Path(c3env["XDG_RUNTIME_DIR"]) / "oscar-c3").glob("mux-*.lock")
    for _attempt in range(50):
        with open(lock_path) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                time.sleep(0.1)  # the stopped daemon closing its connections
    else:
        pytest.fail("a daemon still holds %s" % lock_path)


def test_the_daemon_keeps_none_of_the_callers_files_open(nodes, c3env):
    """A caller reading the command's output, or any pipe it passed down, sees the end of it."""
    inventory = nodes.inventory()
    assert cexec(c3env, inventory, "-n", "true").returncode == 0  # caches the inventory; no daemon
    read_end, write_end = os.pipe()
    run = subprocess.Popen(
        [str(BIN / "cexec"), "--inventory", inventory, "-q", "true"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=c3env,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    _out, err = run.communicate(timeout=60)  # would wait for the daemon if it held stdout or stderr
    assert run.returncode == 0, err
    assert daemon_running(c3env)
    with os.fdopen(read_end, "rb") as passed_down:
        os.set_blocking(passed_down.fileno(), False)
        assert passed_down.read() == b""  # end of file: no process holds the write end any more


def test_cpush_sends_a_file_in_few_round_trips_and_only_when_changed(nodes, c3env, tmp_path):
    inventory = nodes.inventory()
    payload = os.urandom(300000)
    source = tmp_path / "blob.bin"
    source.write_bytes(payload)
    source.chmod(0o640)
    os.utime(source, (1700000000, 1700000000))
    into = tmp_path / "into"
    into.mkdir()

    def cpush(*args):
        result = subprocess.run(
            [str(BIN / "cpush"), "--inventory", inventory, "-q", "-w", "n1", *args],
            capture_output=True,
            text=True,
            env=c3env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        calls = []  # the SFTP requests, parallel writes of one file counted once
        for name in nodes.sftp_calls:
            if not (name == "write" and calls and calls[-1] == "write"):
                calls.append(name)
        del nodes.sftp_calls[:]
        return result.stdout.splitlines()[-1], calls

    # Into a directory: both names looked at in one go, then the file written beside the target and renamed.
    assert cpush(str(source), "%s/" % into) == (
        "1 sent, 0 unchanged",
        ["stat", "stat", "open", "write", "fsetstat", "close", "posix_rename"],
    )
    sent = into / "blob.bin"
    assert sent.read_bytes() == payload
    assert (sent.stat().st_mode & 0o7777, int(sent.stat().st_mtime)) == (0o640, 1700000000)
    assert sorted(p.name for p in into.iterdir()) == ["blob.bin"]  # no temporary file left
    assert cpush(str(source), str(into)) == ("0 sent, 1 unchanged", ["stat", "stat"])
    assert cpush("-b", str(source), str(into))[0] == "1 sent, 0 unchanged"
    # A missing parent directory is made once the file cannot be created.
    deeper = into / "new" / "deeper" / "copy.bin"
    line, calls = cpush(str(source), str(deeper))
    assert line == "1 sent, 0 unchanged" and "mkdir" in calls
    assert deeper.read_bytes() == payload

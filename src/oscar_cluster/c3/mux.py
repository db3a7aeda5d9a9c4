"""Connection reuse between runs: a per-user daemon holding asyncssh connections.

Like OpenSSH's ControlPersist, the first command starts it and later commands
reuse its open connections, so a warm run costs one round trip per node and no
key exchange.  It listens on a Unix socket named for the version of its code
(code_stamp) in a directory only its user can enter, checks the peer's uid,
and exits after ``persist`` idle seconds (default DEFAULT_PERSIST,
``--persist`` or $OSCAR_C3_PERSIST; 0 runs every command in its own process,
holding no connection afterwards).

The client side here imports neither asyncssh nor ansible (nor, at the top,
anything but the standard library): a warm run is a small Python process that
talks JSON lines to the daemon.
Request: {"targets": [...], "job": {...}, "fanout", "connect_timeout", "timeout", "persist",
"early": [target index of each passed socket]}.
Answer: one {"result": {...}} line per host as it ends, then {"done": true}.

A cold run pays for importing asyncssh and for the SSH handshakes; the daemon
is started so that both overlap the client's own work:

- it is forked from the client process (no second interpreter to start, no
  module to import twice), as soon as the command line shows a run that will
  reach nodes (``prestart``, before the client imports its own modules and
  reads the inventory), else when the request is ready;
- the forked child imports asyncssh while the client reads the inventory,
  then waits for the first request;
- the client opens the TCP connections to the first ``fanout`` nodes itself,
  without waiting for them, and passes them with the first request
  (SCM_RIGHTS): the nodes' sshd accept them and get ready while asyncssh is
  still being imported.
"""

import array
import atexit
import contextlib
import fcntl
import functools
import gc
import json
import os
import socket
import struct
import sys
import time
import zlib

from .paths import runtime_dir

DEFAULT_PERSIST = 300
PERSIST_ENV = "OSCAR_C3_PERSIST"
START_SECONDS = 10
# A daemon started ahead of its request waits this long for it, then exits
# (the command failed, or had nothing to run after all).
FIRST_REQUEST_SECONDS = 60
BACKLOG = 64
# The commands that reach nodes, so that start the daemon when none runs.
NODE_COMMANDS = ("cexec", "cexecs", "cpush", "cget", "crm", "ckill", "cshutdown")
# Jobs whose programs run on this host and open their own SSH connections (cdrift's
# rsync): the fan-out runs them in process, with no connection of its own.
LOCAL_JOBS = ("drift",)
# Options with which a command may run nothing (help, dry run), ask first (-i), or
# choose no daemon (--persist 0): with them no daemon is started ahead.
_NOT_AHEAD_LETTERS = set("hni")
_NOT_AHEAD_NAMES = ("--help", "--dryrun", "--dry-run", "--interactive", "--persist")
_MAX_FDS = 250  # SCM_RIGHTS carries at most 253 descriptors in one message
# What prestart did: started a daemon that waits for this process's request,
# or found one running and kept the connection to it for the request.
_prestarted = False
_connection = None


@functools.cache
def code_stamp():
    """A short name for this version of the package: its modules' names, sizes and times.

    The daemon's socket and lock carry it, so a command talks only to a
    daemon running its own code: after an update, a daemon started before
    it (which may not understand the new requests) is left to idle out,
    and the first command starts a new one.
    """
    package = os.path.dirname(os.path.abspath(__file__))
    with os.scandir(package) as entries:
        modules = sorted(
            (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
            for entry in entries
            if entry.name.endswith(".py")
        )
    return "%08x" % (zlib.crc32(repr(modules).encode()) & 0xFFFFFFFF)


def socket_path():
    return _daemon_file("sock")


def log_path():
    return os.path.join(runtime_dir(), "mux.log")


def lock_path():
    return _daemon_file("lock")


def _daemon_file(kind):
    return os.path.join(runtime_dir(), "mux-%s.%s" % (code_stamp(), kind))


def persist_from_environment():
    """Seconds from $OSCAR_C3_PERSIST, else DEFAULT_PERSIST; ValueError naming a bad value."""
    value = os.environ.get(PERSIST_ENV, "")
    if not value:
        return DEFAULT_PERSIST
    if not value.isdigit():
        raise ValueError("%s='%s' is not a whole number of seconds" % (PERSIST_ENV, value))
    return int(value)


# ---- TCP connections opened before asyncssh is imported ------------------------


def _direct_address(host):
    """(family, sockaddr) when the host is reached straight at its numeric address, else None.

    Only then is the TCP connection opened here: a name would need a DNS
    lookup (asyncssh makes it without blocking), and an ssh_config read at
    connection time (a -F file not resolved when the inventory was loaded, or
    ~/.ssh/config for a host without -F) may send the connection elsewhere,
    through a ProxyJump or to another port.
    """
    if host.config and not host.resolved:
        return None
    if not host.config and os.path.exists(os.path.expanduser("~/.ssh/config")):
        return None
    try:
        found = socket.getaddrinfo(
            host.address, host.port or 22, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )
    except (OSError, UnicodeError):
        return None
    family, _type, _proto, _name, sockaddr = found[0]
    return family, sockaddr


def open_early(targets, limit):
    """{target index: socket} of TCP connections started (not awaited) to the first ``limit`` hosts.

    The kernel connects while this process goes on; Pool.get waits for each
    connect to complete before the SSH handshake.  Hosts sharing a connection
    get one.
    """
    from .model import Host  # noqa: PLC0415

    early, keys = {}, set()
    for index, target in enumerate(targets[: min(limit, _MAX_FDS)]):
        host = Host.from_dict(target["host"])
        where = _direct_address(host)
        if where is None or host.pool_key() in keys:
            continue
        sock = socket.socket(where[0], socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.connect(where[1])
        except BlockingIOError:
            pass
        except OSError:
            sock.close()  # asyncssh tries again and reports the reason
            continue
        keys.add(host.pool_key())
        early[index] = sock
    return early


def close_early(early):
    for sock in early.values():
        sock.close()
    early.clear()


# ---- starting the daemon ---------------------------------------------------------


def _connect(path=None):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path or socket_path())
    except OSError:
        client.close()
        return None
    return client


def _claim():
    """(lock file, listening socket) of a new daemon, or None when another one holds the lock.

    The lock makes one daemon per user.  The socket is bound and listening
    before the daemon runs, so a client can connect (and wait in the
    backlog) at once.
    """
    lock_file = open(lock_path(), "w")  # noqa: SIM115 (held by the daemon)
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        return None
    path = socket_path()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by a daemon that died
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(path)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        lock_file.close()
        raise
    finally:
        os.umask(old_umask)
    return lock_file, listener


def _fork_daemon(lock_file, listener, persist):
    """Fork the daemon; in this process, close what it holds.  The child never returns."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()  # or the child would write the same buffered text again
    try:
        pid = os.fork()
    except OSError:
        listener.close()
        lock_file.close()
        raise
    if pid == 0:
        _daemon_child(lock_file, listener, persist)
    os.waitpid(pid, 0)
    listener.close()
    lock_file.close()  # the daemon holds the lock through its own descriptor


def _daemon_child(lock_file, listener, persist):
    """The forked child: leave the client's session and files, become the daemon, and exit."""
    status = 1
    try:
        os.setsid()
        if os.fork() > 0:
            os._exit(0)  # the daemon, a grandchild, belongs to init: never a zombie of the client
        _detach(keep={lock_file.fileno(), listener.fileno()})
        with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
            comm.write("oscar-c3-mux")  # what ps -e and top show
        status = _serve_claimed(lock_file, listener, persist, first_request=True)
    except BaseException:  # whatever happens, never return into the client's code
        with contextlib.suppress(Exception):
            import traceback  # noqa: PLC0415

            traceback.print_exc()
            sys.stderr.flush()
    finally:
        os._exit(status)


def _detach(keep):
    """Standard streams to the log, and the descriptors inherited from the client's caller closed.

    A caller waiting for the end of the client's output (a pipe, a
    terminal) must not wait for the daemon.  Descriptors Python opened itself
    are not inheritable (PEP 446) and may belong to live objects, so only
    inheritable ones, which came from outside, are closed.
    """
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        with contextlib.suppress(OSError):
            if os.get_inheritable(fd):
                os.close(fd)


def prestart(argv):
    """Fork the daemon now when this command line will reach nodes and none runs.

    Called first thing, before the client imports its modules and reads the
    inventory, so that the daemon's import of asyncssh overlaps them.  Only a
    plain run qualifies: no --persist (it may say 0), no dry run, help or
    question first.  A command that then fails before its request leaves a
    daemon that exits after FIRST_REQUEST_SECONDS.
    """
    global _prestarted, _connection  # noqa: PLW0603 (one daemon per process, started once)
    if not runs_ahead(argv):
        return
    try:
        persist = persist_from_environment()
        if persist == 0:
            return
        _connection = _connect()
        if _connection is not None:
            return  # a warm run: kept for the request (and the daemon sees a client waiting)
        claim = _claim()
    except (OSError, ValueError):
        return  # the run proper reports it
    if claim is not None:
        _fork_daemon(*claim, persist)
        _prestarted = True
        atexit.register(_abandon)


def runs_ahead(argv):
    """Whether a command line (command first) is a plain run that will reach nodes: see prestart.

    Its options come before the first word that is neither an option nor
    maybe an option's value; the command's own words (``cexec df -h``) do
    not count.  Any doubt answers False: the daemon then starts later.
    """
    if not argv or argv[0] not in NODE_COMMANDS:
        return False
    words = argv[1:]
    position = 0
    while position < len(words):
        word = words[position]
        if word == "--" or not word.startswith("-"):
            return True
        name = word.split("=", 1)[0]
        if name.startswith("--"):
            # argparse also takes an unambiguous abbreviation (--pers 0).
            if len(name) > 3 and any(full.startswith(name) for full in _NOT_AHEAD_NAMES):
                return False
        elif _NOT_AHEAD_LETTERS & set(name[1:]):
            return False  # -n, -i, -h, also among grouped letters (-qn)
        position += 1 if "=" in word else 2  # the next word may be this option's value
    return True


def _abandon():
    """At the exit of a command that started a daemon ahead and never sent it a request: stop it."""
    global _prestarted  # noqa: PLW0603
    if not _prestarted:
        return
    _prestarted = False
    client = _connect()
    if client is not None:
        with client, contextlib.suppress(OSError):
            client.sendall(b'{"stop": true}\n')  # read once the daemon is up; not waited for


def _start_daemon(persist):
    """(connection to the daemon, True when it is a new one waiting for its first request)."""
    global _prestarted  # noqa: PLW0603
    if _prestarted:
        _prestarted = False
        client = _connect()
        if client is not None:
            return client, True
    deadline = time.monotonic() + START_SECONDS
    while True:
        client = _connect()
        if client is not None:
            return client, False
        claim = _claim()
        if claim is not None:
            _fork_daemon(*claim, persist)
            client = _connect()
            if client is None:
                raise OSError("the C3 connection daemon did not start; see %s" % log_path())
            return client, True
        if time.monotonic() > deadline:
            raise OSError("the C3 connection daemon did not start; see %s" % log_path())
        time.sleep(0.005)  # another client is starting it


# ---- client ------------------------------------------------------------------


def _send_request(client, request, early):
    """The request line, with the early sockets' descriptors attached to its first byte."""
    data = json.dumps(dict(request, early=list(early))).encode() + b"\n"
    sent = 0
    if early:
        fds = array.array("i", [sock.fileno() for sock in early.values()])
        sent = client.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    client.sendall(data[sent:])


def run_through_daemon(request, on_result):
    """Send a request to the daemon (starting it when needed); returns the Results."""
    from .gather import Result  # noqa: PLC0415

    global _connection
    client, new, _connection = _connection, False, None
    if client is None and not _prestarted:
        client = _connect()
    if client is None:
        client, new = _start_daemon(request["persist"])
    results = []
    with client:
        early = open_early(request["targets"], request["fanout"]) if new else {}
        try:
            _send_request(client, request, early)
        finally:
            close_early(early)  # the daemon has its own copies
        with client.makefile("rb") as stream:
            for line in stream:
                message = json.loads(line)
                if message.get("done"):
                    return results
                if "error" in message:
                    raise OSError("the C3 connection daemon failed: %s" % message["error"])
                result = Result.from_dict(message["result"])
                results.append(result)
                if on_result is not None:
                    on_result(result)
    raise OSError("the C3 connection daemon closed the connection; see %s" % log_path())


def run_in_process(request, on_result):
    # Connecting while asyncssh is imported; a job run from this host (drift's
    # rsync) makes its own connections.
    early = {} if request["job"]["kind"] in LOCAL_JOBS else open_early(request["targets"], request["fanout"])
    try:
        from . import runner  # noqa: PLC0415 (first: it imports asyncio its own way)
    except BaseException:
        close_early(early)
        raise

    async def main():
        pool = runner.Pool(runner.early_by_key(request["targets"], early))
        try:
            return await runner.run_all(
                pool,
                request["targets"],
                request["job"],
                fanout=request["fanout"],
                connect_timeout=request["connect_timeout"],
                timeout=request["timeout"],
                on_result=on_result,
            )
        finally:
            pool.close()

    import asyncio  # noqa: PLC0415 (imported by runner by now)

    return asyncio.run(main())


def run(request, on_result=None):
    if request["persist"] > 0:
        return run_through_daemon(request, on_result)
    return run_in_process(request, on_result)


def stop():
    """Stop the user's daemons, of this version and of any other (their connections close).

    True when one was running.  Returns once each has gone (it held its lock
    until then), so that the next command starts a new one at once.
    """
    directory = runtime_dir()
    stopped = False
    for name in sorted(os.listdir(directory)):
        if name.startswith("mux") and name.endswith(".sock"):
            base = os.path.join(directory, name[: -len(".sock")])
            stopped = _stop_one(base + ".sock", base + ".lock") or stopped
    return stopped


def _stop_one(path, lock):
    client = _connect(path)
    if client is None:
        return False
    with client, client.makefile("rwb") as stream:
        stream.write(b'{"stop": true}\n')
        stream.flush()
        stream.readline()
    with open(lock, "a") as lock_file:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                time.sleep(0.005)
            else:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
                break
    return True


# ---- daemon ------------------------------------------------------------------


def _peer_is_me(sock):
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _first_request(listener):
    """(connection, request, {target index: socket}) of the first client, waited for before serving.

    Read here, without asyncio, because its descriptors (SCM_RIGHTS) come
    with it.  A connection that brings no request (another client checking
    whether a daemon runs) is passed over.  None when no request came within
    FIRST_REQUEST_SECONDS.
    """
    deadline = time.monotonic() + FIRST_REQUEST_SECONDS
    while True:
        listener.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            connection, _address = listener.accept()
        except TimeoutError:
            return None
        if not _peer_is_me(connection):
            connection.close()
            continue
        first = _read_first(connection, deadline)
        if first is not None:
            return first
        connection.close()


def _read_first(connection, deadline):
    """(connection, request, {target index: socket}), or None when no well-formed request came."""
    connection.settimeout(max(0.01, deadline - time.monotonic()))
    fds = []
    try:
        data, fds, _flags, _address = socket.recv_fds(connection, 1 << 16, _MAX_FDS)
        while data and not data.endswith(b"\n"):
            more = connection.recv(1 << 16)
            if not more:
                break
            data += more
        request = json.loads(data)
        indexes = request.pop("early", None) or []
        count = len(request.get("targets") or ())
    except (OSError, ValueError, AttributeError):
        for fd in fds:
            os.close(fd)
        return None
    early = {}
    for index, fd in zip(indexes, fds, strict=False):
        if isinstance(index, int) and 0 <= index < count and index not in early:
            early[index] = socket.socket(fileno=fd)
        else:
            os.close(fd)
    for fd in fds[len(indexes) :]:
        os.close(fd)
    connection.settimeout(None)
    return connection, request, early


class Daemon:
    """Serves requests from its user's commands over the socket, with one pool of connections."""

    def __init__(self, listener, persist):
        # asyncssh: only the daemon pays for it.  The import makes many objects
        # and none to collect: without the collector it takes a tenth less time,
        # and frozen after it, the collector never walks them again.
        gc.disable()
        try:
            from . import runner  # noqa: PLC0415
        finally:
            gc.enable()
        gc.freeze()
        self.runner = runner
        self.pool = runner.Pool()
        self.listener = listener
        self.path = listener.getsockname()
        self.persist = persist
        self.active = 0
        self.last = time.monotonic()
        self.stopping = None
        self.first_task = None

    async def handle(self, reader, writer):
        if not _peer_is_me(writer.get_extra_info("socket")):
            writer.close()
            return
        self.active += 1
        try:
            line = await reader.readline()
            if line:
                request = json.loads(line)
                request.pop("early", None)  # descriptors only come with a new daemon's first request
                await self.answer(request, writer)
        except (ConnectionError, ValueError):
            pass
        finally:
            self.active -= 1
            self.last = time.monotonic()
            writer.close()

    async def handle_first(self, connection, request, early):
        """The first request, read by _first_request; counted as active by run()."""
        import asyncio  # noqa: PLC0415

        try:
            self.pool.early.update(self.runner.early_by_key(request.get("targets") or [], early))
            _reader, writer = await asyncio.open_unix_connection(sock=connection)
            try:
                await self.answer(request, writer)
            finally:
                writer.close()
        except ConnectionError:
            pass
        finally:
            self.pool.close_early()
            self.active -= 1
            self.last = time.monotonic()

    async def answer(self, request, writer):
        if request.get("stop"):
            self.stopping.set()
            writer.write(b'{"done": true}\n')
            await writer.drain()
            return
        self.persist = max(self.persist, request.get("persist") or 0)

        def send(result):
            writer.write(json.dumps({"result": result.to_dict()}).encode() + b"\n")

        try:
            await self.runner.run_all(
                self.pool,
                request["targets"],
                request["job"],
                fanout=request["fanout"],
                connect_timeout=request["connect_timeout"],
                timeout=request["timeout"],
                on_result=send,
            )
            writer.write(b'{"done": true}\n')
        except Exception as error:  # reported to the client; the daemon stays up for the others
            writer.write(json.dumps({"error": "%s: %s" % (type(error).__name__, error)}).encode() + b"\n")
        await writer.drain()

    async def run(self, first=None):
        import asyncio  # noqa: PLC0415

        self.stopping = asyncio.Event()
        server = await asyncio.start_unix_server(self.handle, sock=self.listener)
        async with server:
            if first is not None:
                self.active += 1
                self.first_task = asyncio.get_running_loop().create_task(self.handle_first(*first))
            while not self.stopping.is_set():
                if self.active == 0 and time.monotonic() - self.last >= self.persist:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 1)
        self.pool.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _serve_claimed(lock_file, listener, persist, first_request=False):
    """Run the daemon on a claimed socket; with first_request, after waiting for a first client."""
    with lock_file:
        daemon = Daemon(listener, persist)  # imports runner, which imports asyncio its own way
        first = None
        if first_request:
            first = _first_request(listener)
            if first is None:
                with contextlib.suppress(OSError):
                    os.unlink(daemon.path)
                return 0
        import asyncio  # noqa: PLC0415 (imported by runner by now)

        asyncio.run(daemon.run(first))
    return 0


def serve(persist):
    """Run the daemon in this process until it has been idle for ``persist`` seconds (or is stopped)."""
    claim = _claim()
    if claim is None:
        return 0  # another daemon serves this user
    return _serve_claimed(*claim, persist)

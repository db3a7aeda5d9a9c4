"""Connection reuse between runs: a per-user daemon holding asyncssh connections.

Like OpenSSH's ControlPersist, the first command starts it and later commands
reuse its open connections, so a warm run costs one round trip per node and no
key exchange.  It listens on a Unix socket in a directory only its user can
enter, checks the peer's uid, and exits after ``persist`` idle seconds
(default DEFAULT_PERSIST, ``--persist`` or $OSCAR_C3_PERSIST; 0 runs every
command in its own process, holding no connection afterwards).

The client side here imports neither asyncssh nor ansible: a warm run is a
small Python process that talks JSON lines to the daemon.
Request: {"targets": [...], "job": {...}, "fanout", "connect_timeout", "timeout", "persist"}.
Answer: one {"result": {...}} line per host as it ends, then {"done": true}.
"""

import contextlib
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import time

from .gather import Result
from .inventory import ROOT, cache_dir

DEFAULT_PERSIST = 300
PERSIST_ENV = "OSCAR_C3_PERSIST"
START_SECONDS = 10


def runtime_dir():
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "oscar-c3") if base else cache_dir()
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def socket_path():
    return os.path.join(runtime_dir(), "mux.sock")


# ---- client ------------------------------------------------------------------


def _connect():
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(socket_path())
    except OSError:
        client.close()
        return None
    return client


def _start_daemon(persist):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.join(ROOT, "c3"), env.get("PYTHONPATH")) if p)
    with open(os.path.join(runtime_dir(), "mux.log"), "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "oscar_c3", "mux", "--persist", str(persist)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        client = _connect()
        if client is not None:
            return client
        time.sleep(0.02)
    raise OSError("the C3 connection daemon did not start; see %s" % os.path.join(runtime_dir(), "mux.log"))


def run_through_daemon(request, on_result):
    """Send a request to the daemon (starting it when needed); returns the Results."""
    client = _connect() or _start_daemon(request["persist"])
    results = []
    with client, client.makefile("rwb") as stream:
        stream.write(json.dumps(request).encode() + b"\n")
        stream.flush()
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
    raise OSError(
        "the C3 connection daemon closed the connection; see %s" % os.path.join(runtime_dir(), "mux.log")
    )


def run_in_process(request, on_result):
    import asyncio  # noqa: PLC0415

    from . import runner  # noqa: PLC0415

    async def main():
        pool = runner.Pool()
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

    return asyncio.run(main())


def run(request, on_result=None):
    if request["persist"] > 0:
        return run_through_daemon(request, on_result)
    return run_in_process(request, on_result)


def stop():
    """Stop a running daemon (its connections close); True when one was running."""
    client = _connect()
    if client is None:
        return False
    with client, client.makefile("rwb") as stream:
        stream.write(b'{"stop": true}\n')
        stream.flush()
        stream.readline()
    return True


# ---- daemon ------------------------------------------------------------------


class Daemon:
    """Serves requests from its user's commands over the socket, with one pool of connections."""

    def __init__(self, path, persist):
        from . import runner  # noqa: PLC0415 (asyncssh: only the daemon pays for it)

        self.runner = runner
        self.pool = runner.Pool()
        self.path = path
        self.persist = persist
        self.active = 0
        self.last = time.monotonic()
        self.stopping = None

    async def handle(self, reader, writer):
        sock = writer.get_extra_info("socket")
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            writer.close()
            return
        self.active += 1
        try:
            line = await reader.readline()
            if line:
                await self.answer(json.loads(line), writer)
        except (ConnectionError, ValueError):
            pass
        finally:
            self.active -= 1
            self.last = time.monotonic()
            writer.close()

    async def answer(self, request, writer):
        if request.get("stop"):
            writer.write(b'{"done": true}\n')
            await writer.drain()
            self.stopping.set()
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

    async def run(self):
        import asyncio  # noqa: PLC0415

        self.stopping = asyncio.Event()
        old_umask = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self.handle, path=self.path)
        finally:
            os.umask(old_umask)
        async with server:
            while not self.stopping.is_set():
                if self.active == 0 and time.monotonic() - self.last >= self.persist:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 1)
        self.pool.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def serve(persist):
    """Run the daemon until it has been idle for ``persist`` seconds (or is stopped)."""
    import asyncio  # noqa: PLC0415

    with open(os.path.join(runtime_dir(), "mux.lock"), "w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another daemon serves this user
        path = socket_path()
        if os.path.exists(path):
            os.unlink(path)
        asyncio.run(Daemon(path, persist).run())
    return 0

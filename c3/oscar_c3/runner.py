"""The SSH transport: one process holding its own asyncssh connections, fanned out in a sliding window.

A job is plain data (so the connection-holding daemon in ``mux`` can run it
for a client): ``{"kind": "exec", "command": ...}``, ``{"kind": "push",
"files": [...], "blind": bool}`` or ``{"kind": "get", "source": ...,
"directory": ...}``.  A target is ``{"host": Host dict, "cluster": name}``.
Every host gets its own connect timeout and command timeout; a host that
fails never holds up the others.
"""

import asyncio
import contextlib
import os
import posixpath
import shlex
import tempfile

import asyncssh

from .gather import FAILED, OK, TIMEOUT, UNREACHABLE, Result
from .model import Host

KEEPALIVE_SECONDS = 15
KEEPALIVE_COUNT = 3
CHUNK = 256 * 1024


class Pool:
    """Open SSH connections by host settings, reused across jobs (and across runs in the daemon)."""

    def __init__(self):
        self.connections = {}
        self.locks = {}
        self.sftp = {}

    def _options(self, host, connect_timeout):
        options = {
            "host": host.address,
            "connect_timeout": connect_timeout,
            "keepalive_interval": KEEPALIVE_SECONDS,
            "keepalive_count_max": KEEPALIVE_COUNT,
        }
        if host.port:
            options["port"] = host.port
        if host.user:
            options["username"] = host.user
        if host.config and not host.resolved:
            options["config"] = list(host.config)
        if host.keys:
            options["client_keys"] = list(host.keys)
        if not host.check_host_keys:
            options["known_hosts"] = None
        elif host.known_hosts:
            options["known_hosts"] = list(host.known_hosts)
        if host.kex:
            options["kex_algs"] = host.kex.split(",")
        return options

    async def get(self, host, connect_timeout):
        """(connection, reused) for a host; raises OSError, asyncssh.Error or TimeoutError."""
        key = host.pool_key()
        connection = self.connections.get(key)
        if connection is not None and not connection.is_closed():
            return connection, True
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            connection = self.connections.get(key)
            if connection is not None and not connection.is_closed():
                return connection, True
            timeout = host.connect_timeout or connect_timeout
            connection = await asyncio.wait_for(asyncssh.connect(**self._options(host, timeout)), timeout)
            self.connections[key] = connection
            return connection, False

    async def sftp_client(self, host, connection):
        """The host's SFTP session, opened once per connection (one sftp-server on the node)."""
        key = host.pool_key()
        client = self.sftp.get(key)
        if client is None or client[0] is not connection:
            client = (connection, await connection.start_sftp_client())
            self.sftp[key] = client
        return client[1]

    def drop(self, host):
        self.sftp.pop(host.pool_key(), None)
        connection = self.connections.pop(host.pool_key(), None)
        if connection is not None:
            connection.abort()

    def close(self):
        for connection in self.connections.values():
            connection.abort()
        self.connections.clear()
        self.sftp.clear()

    def size(self):
        return sum(1 for c in self.connections.values() if not c.is_closed())


def _unreachable_reason(error):
    if isinstance(error, asyncio.TimeoutError):
        return "no SSH connection within the connect timeout"
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return "host key not verified: %s" % error
    if isinstance(error, asyncssh.PermissionDenied):
        return "permission denied (key or user)"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error) or type(error).__name__


async def _with_connection(pool, host, connect_timeout, work):
    """Run work(connection) on the host's connection, reconnecting once if a reused one went stale."""
    for attempt in (1, 2):
        try:
            connection, reused = await pool.get(host, connect_timeout)
        except (TimeoutError, OSError, asyncssh.Error) as error:
            return Result(host.name, UNREACHABLE, reason=_unreachable_reason(error))
        try:
            return await work(connection)
        except (
            asyncssh.ChannelOpenError,
            asyncssh.ConnectionLost,
            asyncssh.DisconnectError,
            BrokenPipeError,
        ) as error:
            pool.drop(host)
            if reused and attempt == 1 and isinstance(error, asyncssh.ChannelOpenError):
                continue
            return Result(
                host.name,
                FAILED,
                reason="connection lost: %s" % (error.reason if hasattr(error, "reason") else error),
            )
    return Result(host.name, FAILED, reason="connection lost")


async def _read_all(stream, parts):
    while True:
        chunk = await stream.read(CHUNK)
        if not chunk:
            return
        parts.append(chunk)


def _finish(host, process, output, what="command"):
    """A Result from a finished process."""
    status = process.exit_status
    if status is None or status < 0:
        signal = process.exit_signal[0] if process.exit_signal else None
        if signal:
            return Result(host.name, FAILED, None, output, "%s killed by signal %s" % (what, signal))
        return Result(host.name, FAILED, None, output, "connection lost before the %s ended" % what)
    if status == 0:
        return Result(host.name, OK, 0, output)
    return Result(host.name, FAILED, status, output, "exit status %d" % status)


async def _timed(pool, host, process, reading, *, timeout, output_parts=()):
    """Wait for a process within the timeout; on expiry stop it and drop the (maybe hung) connection."""
    try:
        await asyncio.wait_for(reading, timeout)
        await asyncio.wait_for(process.wait_closed(), timeout or 30)
        return None
    except TimeoutError:
        with contextlib.suppress(OSError, asyncssh.Error):
            process.terminate()
        process.close()
        pool.drop(host)
        text = "".join(output_parts) if output_parts and isinstance(output_parts[0], str) else ""
        return Result(host.name, TIMEOUT, None, text, "no answer within %g s" % timeout)


async def run_exec(pool, host, job, connect_timeout, timeout):
    async def work(connection):
        process = await connection.create_process(
            job["command"],
            stdin=asyncssh.DEVNULL if not job.get("stdin") else asyncssh.PIPE,
            stderr=asyncssh.STDOUT,
            encoding="utf-8",
            errors="replace",
        )
        if job.get("stdin"):
            process.stdin.write(job["stdin"])
            process.stdin.write_eof()
        parts = []
        expired = await _timed(
            pool, host, process, _read_all(process.stdout, parts), timeout=timeout, output_parts=parts
        )
        return expired or _finish(host, process, "".join(parts))

    return await _with_connection(pool, host, connect_timeout, work)


async def _push_file(sftp, spec, blind):
    """Send one file unless the node's copy has its size and mtime (rsync's quick check); True if sent.

    The file goes to a temporary name beside the target, gets the source's
    mode and times, and is renamed over the target: never half-written.
    """
    target = spec["target"]
    if await sftp.isdir(target):
        target = posixpath.join(target, os.path.basename(spec["source"]))
    if not blind:
        try:
            current = await sftp.stat(target)
        except asyncssh.SFTPNoSuchFile:
            current = None
        if current is not None and current.size == spec["size"] and int(current.mtime or -1) == spec["mtime"]:
            return False
    directory = posixpath.dirname(target) or "/"
    await sftp.makedirs(directory, exist_ok=True)
    temporary = posixpath.join(directory, ".cpush.%s.%s" % (os.path.basename(target), os.urandom(4).hex()))
    try:
        await sftp.put(spec["source"], temporary)
        await sftp.chmod(temporary, spec["mode"])
        await sftp.utime(temporary, (spec["mtime"], spec["mtime"]))
        await sftp.posix_rename(temporary, target)
    except BaseException:
        with contextlib.suppress(asyncssh.Error, OSError):
            await sftp.remove(temporary)
        raise
    return True


async def run_push(pool, host, job, connect_timeout, timeout):
    async def work(connection):
        sftp = await asyncio.wait_for(pool.sftp_client(host, connection), timeout)
        sent = unchanged = 0
        for spec in job["files"]:
            try:
                was_sent = await asyncio.wait_for(_push_file(sftp, spec, job.get("blind")), timeout)
            except TimeoutError:
                pool.drop(host)
                return Result(
                    host.name,
                    TIMEOUT,
                    None,
                    "",
                    "no answer within %g s pushing %s" % (timeout, spec["source"]),
                )
            except asyncssh.SFTPError as error:
                return Result(host.name, FAILED, None, "", "%s: %s" % (spec["target"], error.reason))
            sent += was_sent
            unchanged += not was_sent
        summary = "%d sent, %d unchanged" % (sent, unchanged)
        return Result(host.name, OK, 0, summary + "\n", summary)

    return await _with_connection(pool, host, connect_timeout, work)


async def run_get(pool, host, job, connect_timeout, timeout, *, cluster):
    destination = os.path.join(
        job["directory"], "%s_%s_%s" % (os.path.basename(job["source"].rstrip("/")), cluster, host.name)
    )

    async def work(connection):
        process = await connection.create_process(
            "cat -- %s" % shlex.quote(job["source"]),
            encoding=None,
            stdin=asyncssh.DEVNULL,
            stderr=asyncssh.PIPE,
        )
        errors = []
        # Written beside the destination and renamed into place once complete.
        with tempfile.NamedTemporaryFile(dir=job["directory"], prefix=".cget-", delete=False) as handle:

            async def copy():
                while True:
                    chunk = await process.stdout.read(CHUNK)
                    if not chunk:
                        break
                    handle.write(chunk)
                await _read_all(process.stderr, errors)

            try:
                expired = await _timed(pool, host, process, copy(), timeout=timeout)
            except BaseException:
                os.unlink(handle.name)
                raise
        result = expired or _finish(host, process, "", "transfer")
        if result.status == OK:
            os.replace(handle.name, destination)
            result.reason = destination
            return result
        os.unlink(handle.name)
        if expired is None:
            result.reason = b"".join(errors).decode(errors="replace").strip() or result.reason
        return result

    return await _with_connection(pool, host, connect_timeout, work)


async def run_one(pool, target, job, connect_timeout, timeout):
    host = Host.from_dict(target["host"])
    if job["kind"] == "exec":
        return await run_exec(pool, host, job, connect_timeout, timeout)
    if job["kind"] == "push":
        return await run_push(pool, host, job, connect_timeout, timeout)
    if job["kind"] == "get":
        return await run_get(pool, host, job, connect_timeout, timeout, cluster=target["cluster"])
    raise ValueError("unknown job kind %r" % job["kind"])


async def run_all(pool, targets, job, *, fanout=64, connect_timeout=10, timeout=None, on_result=None):
    """Results for every target, at most ``fanout`` hosts at a time; on_result sees each as it ends."""
    window = asyncio.Semaphore(max(1, fanout))

    async def one(target):
        async with window:
            try:
                result = await run_one(pool, target, job, connect_timeout, timeout)
            except OSError as error:
                result = Result(target["host"]["name"], FAILED, reason=str(error))
        if on_result is not None:
            on_result(result)
        return result

    if fanout == 1:
        return [await one(target) for target in targets]
    return list(await asyncio.gather(*(one(target) for target in targets)))

"""The SSH transport: one process holding its own asyncssh connections, fanned out in a sliding window.

A job is plain data (so the connection-holding daemon in ``mux`` can run it
for a client): ``{"kind": "exec", "command": ...}``, ``{"kind": "push",
"files": [...], "blind": bool}`` or ``{"kind": "get", "source": ...,
"directory": ...}``, or ``{"kind": "drift", "images_root": ..., "images":
{node: [image, version]}, "checksum": bool, "exclude": [path]}``, which runs rsync on this
host against each node (image_sync's dry run).  A target is ``{"host": Host dict, "cluster": name}``.
Every host gets its own connect timeout and command timeout; a host that
fails never holds up the others.
"""

import contextlib
import ctypes.util
import glob
import os
import posixpath
import shlex
import socket
import sys
import tempfile
import warnings

from .gather import FAILED, OK, TIMEOUT, UNREACHABLE, Result
from .model import Host

LINKER_CACHE = "/etc/ld.so.cache"


def _linker_lookup(name):
    """ctypes.util.find_library where the dynamic linker looks: LD_LIBRARY_PATH, then its cache."""
    for directory in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        found = sorted(glob.glob(os.path.join(directory, "lib%s.so*" % name))) if directory else ()
        if found:
            return found[0]
    try:
        with open(LINKER_CACHE, "rb") as cache:
            listed = b"lib%s.so" % name.encode() in cache.read()
    except OSError:
        listed = True  # cannot tell: ldconfig answers
    return ctypes.util._findSoname_ldconfig(name) if listed else None


# Optional modules asyncssh imports that C3 never uses, kept out of its import.
# X.509 certificates as SSH keys (RFC 6187), which OpenSSH does not support:
# asyncssh's module loads cryptography.x509, then needs pyOpenSSL (not
# installed here) and gives up, "not available".  TLS: no C3 connection uses
# it, and asyncio takes an absent ssl as "no TLS".  The two cost about 30 ms
# on the critical path of a cold run.
UNUSED_MODULES = ("asyncssh.crypto.x509", "ssl")


def _import_transport():
    """asyncio and asyncssh, imported without UNUSED_MODULES or the program runs of find_library.

    Importing asyncssh looks for liboqs (post-quantum key exchange) under two
    names.  For a library that is not installed, ctypes.util.find_library
    runs `ldconfig -p`, then `gcc` and `ld` to search further, per name: 40
    to 100 ms before the first handshake of a cold run.  The lookup used here
    reads what the dynamic linker reads, LD_LIBRARY_PATH and its cache (which
    installing a library updates), and runs ldconfig only for a name the
    cache holds.

    An UNUSED_MODULES name that is not imported yet fails with ImportError
    for the duration (a None entry in sys.modules), then is importable again
    for any other code of the process.  asyncio comes first because it is
    asyncio that imports ssl.
    """
    blocked = [name for name in UNUSED_MODULES if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None
    original = ctypes.util.find_library
    if hasattr(ctypes.util, "_findSoname_ldconfig"):
        ctypes.util.find_library = _linker_lookup
    try:
        import asyncio  # noqa: PLC0415

        # asyncssh names DSA's key types, which cryptography 43 and later
        # deprecates at import time: a warning for every command typed on a
        # head whose wheels are recent, about keys C3 never offers.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="DSA is deprecated")
            import asyncssh  # noqa: PLC0415
    finally:
        ctypes.util.find_library = original
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return asyncio, asyncssh


asyncio, asyncssh = _import_transport()

# Without a Ciphers setting, AES-GCM comes first (OpenSSH's own order starts
# with ChaCha20-Poly1305): with the CPU's AES instructions it costs this one
# process, which carries every node's traffic, a fifth of the CPU (2 against
# 10 ms per 8 MiB sent, most of ChaCha's going to a cipher object per
# packet).  For OpenSSH on the nodes the two cost about the same.  Every
# cipher OpenSSH offers by default stays acceptable.
PREFERRED_CIPHERS = ",".join(
    (
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
    )
)
KEEPALIVE_SECONDS = 15
KEEPALIVE_COUNT = 3
CHUNK = 256 * 1024
# OpenSSH's known_hosts files when nothing names others (asyncssh's own default is
# the first alone): the system-wide ones are where a cluster's host keys are
# given to every user, as the server role does.
# OpenSSH's client configuration files when no -F names others (asyncssh's own
# default is the first alone): the system-wide one, with its drop-ins, is where
# the server role gives root the cluster's key for the cluster's hosts.
DEFAULT_CONFIGS = ("~/.ssh/config", "/etc/ssh/ssh_config")
DEFAULT_KNOWN_HOSTS = (
    "~/.ssh/known_hosts",
    "~/.ssh/known_hosts2",
    "/etc/ssh/ssh_known_hosts",
    "/etc/ssh/ssh_known_hosts2",
)
PUSH_CHUNK = 8 << 20  # read from the local file at a time; written in parallel requests


def _existing(paths):
    """The files of paths (~ expanded) that exist, in order."""
    return [path for path in map(os.path.expanduser, paths) if os.path.isfile(path)]


class Pool:
    """Open SSH connections by host settings, reused across jobs (and across runs in the daemon)."""

    def __init__(self, early=None):
        self.connections = {}
        self.locks = {}
        self.sftp = {}
        # Key and known_hosts files, read once instead of once per connection
        # (a known_hosts file naming every node, parsed for every node, is
        # quadratic): {paths: (the files' stamps, what asyncssh read)}.
        self.files = {}
        # TCP connections the client started before asyncssh was imported (mux.open_early).
        self.early = dict(early or {})

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
        if host.config:
            # As ssh -F: the given files only, never ~/.ssh/config.  Resolved
            # files were read when the inventory was loaded: nothing to parse.
            options["config"] = [] if host.resolved else list(host.config)
        else:
            options["config"] = _existing(DEFAULT_CONFIGS)
        if host.keys:
            options["client_keys"] = self._read(asyncssh.load_keypairs, host.keys)
        if not host.check_host_keys:
            options["known_hosts"] = None
        elif host.known_hosts:
            options["known_hosts"] = self._read(asyncssh.read_known_hosts, host.known_hosts)
        elif host.resolved or not host.config:
            # (A file asyncssh reads itself may name its own: it decides then.)
            present = _existing(DEFAULT_KNOWN_HOSTS)
            if present:
                options["known_hosts"] = self._read(asyncssh.read_known_hosts, present)
        if host.kex:
            options["kex_algs"] = host.kex  # a string: OpenSSH's +, - and ^ forms work
        if host.ciphers:
            options["encryption_algs"] = host.ciphers
        elif host.resolved or not host.config:
            # (A file asyncssh reads itself may set Ciphers: an option would override it.)
            options["encryption_algs"] = PREFERRED_CIPHERS
        return options

    def _read(self, reader, paths):
        """reader(paths), kept while the files stay the same (a daemon lives long; keys get replaced)."""
        key = (reader, tuple(paths))
        stamps = tuple(_stamp(path) for path in paths)
        known = self.files.get(key)
        if known is None or known[0] != stamps:
            known = self.files[key] = (stamps, reader(list(paths)))
        return known[1]

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
            options = self._options(host, timeout)
            connection = await asyncio.wait_for(self._connect(options, self.early.pop(key, None)), timeout)
            self.connections[key] = connection
            return connection, False

    @staticmethod
    async def _connect(options, sock):
        """asyncssh.connect, over a TCP connection already started when there is one."""
        if sock is None:
            return await asyncssh.connect(**options)
        try:
            sock.setblocking(False)
            await _connected(sock)
            return await asyncssh.connect(sock=sock, **options)
        except BaseException:
            sock.close()
            raise

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

    def close_early(self):
        for sock in self.early.values():
            sock.close()
        self.early.clear()

    def close(self):
        self.close_early()
        for connection in self.connections.values():
            connection.abort()
        self.connections.clear()
        self.sftp.clear()

    def size(self):
        return sum(1 for c in self.connections.values() if not c.is_closed())


def _stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def early_by_key(targets, early):
    """{pool key: socket} from the {target index: socket} of mux.open_early."""
    return {Host.from_dict(targets[index]["host"]).pool_key(): sock for index, sock in early.items()}


async def _connected(sock):
    """Wait for a non-blocking connect to complete; OSError (as a plain connect) when it failed."""
    loop = asyncio.get_running_loop()
    writable = loop.create_future()
    loop.add_writer(sock, lambda: writable.done() or writable.set_result(None))
    try:
        await writable
    finally:
        loop.remove_writer(sock)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


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


async def _stat_or_none(sftp, path):
    try:
        return await sftp.stat(path)
    except asyncssh.SFTPNoSuchFile:
        return None


async def _push_file(sftp, spec, blind):
    """Send one file unless the node's copy has its size and mtime (rsync's quick check); True if sent.

    The file goes to a temporary name beside the target, gets the source's
    mode and times, and is renamed over the target: never half-written.
    Every step that can share a round trip with another does (a cold run
    of a small file is mostly round trips): the target and the name inside
    it, should it be a directory, are looked at together; the parent
    directory is made only when the file cannot be created; the mode and
    times are set on the open file, just before it is closed.
    """
    target = spec["target"]
    inside = posixpath.join(target, os.path.basename(spec["source"]))
    current, current_inside = await asyncio.gather(
        _stat_or_none(sftp, target), _stat_or_none(sftp, inside), return_exceptions=True
    )
    if isinstance(current, BaseException):
        raise current
    if current is not None and current.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
        if isinstance(current_inside, BaseException):
            raise current_inside
        target, current = inside, current_inside
    if (
        not blind
        and current is not None
        and current.size == spec["size"]
        and int(current.mtime or -1) == spec["mtime"]
    ):
        return False
    directory = posixpath.dirname(target) or "/"
    temporary = posixpath.join(directory, ".cpush.%s.%s" % (os.path.basename(target), os.urandom(4).hex()))
    attributes = asyncssh.SFTPAttrs(permissions=spec["mode"], atime=spec["mtime"], mtime=spec["mtime"])
    try:
        remote = await sftp.open(temporary, "wb", asyncssh.SFTPAttrs(permissions=spec["mode"]), encoding=None)
    except asyncssh.SFTPNoSuchFile:
        await sftp.makedirs(directory, exist_ok=True)
        remote = await sftp.open(temporary, "wb", asyncssh.SFTPAttrs(permissions=spec["mode"]), encoding=None)
    try:
        with open(spec["source"], "rb") as local:
            offset = 0
            while data := local.read(PUSH_CHUNK):
                await remote.write(data, offset)
                offset += len(data)
        # Requests on one handle are processed in order: both go out at once.
        await asyncio.gather(remote.setstat(attributes), remote.close())
        await sftp.posix_rename(temporary, target)
    except asyncio.CancelledError:
        raise  # timed out: the node may not answer any more; its connection is dropped
    except BaseException:
        with contextlib.suppress(asyncssh.Error, OSError):
            await remote.close()
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


def drift_ssh_options(host, connect_timeout):
    """The ssh options of a host's Ansible settings, for rsync's own ssh (key, port and user go apart)."""
    words = ["-o", "ConnectTimeout=%d" % max(1, round(connect_timeout))]
    for key in host.keys[1:]:
        words += ["-i", key]
    for config in host.config:
        words += ["-F", config]
    if host.known_hosts:
        words += ["-o", "UserKnownHostsFile=%s" % " ".join(host.known_hosts)]
    if host.kex:
        words += ["-o", "KexAlgorithms=%s" % host.kex]
    if host.ciphers:
        words += ["-o", "Ciphers=%s" % host.ciphers]
    return words


async def run_drift(host, job, connect_timeout):
    """The node against its image version: OK with "no drift", or FAILED (exit 1) with the paths."""
    # Imported here: only cdrift needs the image library.
    from oscar_cluster.module_utils.image_errors import ImageCommandError, ImageError  # noqa: PLC0415
    from oscar_cluster.module_utils.image_sync import ImageSync, report_lines  # noqa: PLC0415

    name, version = job["images"][host.name]

    def compare():
        return ImageSync(
            job["images_root"],
            name,
            version,
            destination=host.address,
            ssh_user=host.user or "root",
            ssh_key=host.keys[0] if host.keys else None,
            ssh_port=host.port,
            ssh_extra=drift_ssh_options(host, connect_timeout),
            exclude=job.get("exclude", ()),
        ).drift(checksum=job["checksum"])

    try:
        answer = await asyncio.to_thread(compare)
    except ImageCommandError as error:
        # rsync's 255 is ssh's: no connection to the node.
        status = UNREACHABLE if error.rc == 255 else FAILED
        return Result(host.name, status, error.rc, "", str(error))
    except ImageError as error:
        return Result(host.name, FAILED, None, "", str(error))
    output = "".join(line + "\n" for line in report_lines(answer["drift"]))
    if not answer["differs"]:
        return Result(host.name, OK, 0, output)
    count = sum(len(paths) for paths in answer["drift"].values())
    reason = "%d path%s differ%s from %s version %d" % (
        count,
        "" if count == 1 else "s",
        "s" if count == 1 else "",
        name,
        answer["version"],
    )
    return Result(host.name, FAILED, 1, output, reason)


async def run_one(pool, target, job, connect_timeout, timeout):
    host = Host.from_dict(target["host"])
    if job["kind"] == "drift":
        return await run_drift(host, job, connect_timeout)
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

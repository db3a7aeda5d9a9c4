# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""oscar-nfs-fuse: mount an NFS export through FUSE, for nodes whose kernel has no NFS client.

    oscar-nfs-fuse [-o OPTIONS] [--libnfs SONAME] [--debug] SERVER:/EXPORT MOUNTPOINT

The role installs this file as /usr/local/sbin/oscar-nfs-fuse (with the
node's python3 in front) and runs one systemd service per mount.  It speaks
NFS through libnfs (through ctypes: Debian 12's libnfs13, 4.0, or Debian 13's
libnfs14, 5.0, whose functions used here are the same) and serves the mount
through FUSE (Debian's python3-fusepy).  The role names the library of the
node's release (--libnfs); without it, each known one is tried.

Every request reaches the server with the credentials of the process that
made it (AUTH_SYS: its uid, gid and supplementary groups), so the server's
permissions and root squashing apply as they do to a kernel NFS mount; the
mount is shared by every user (allow_other) and the kernel checks modes
before asking (default_permissions).  Reads and writes on an open file use
the credentials of the process that opened it, as the kernel's NFS client
does, so pages written back later still belong to their owner.

Options (-o, comma-separated):
    vers=3          NFS version: 3, the only one (libnfs 4.0's NFSv4 loses
                    directory entries and owners)
    retry=SECONDS   how long to wait at start for the server's name and the
                    export before giving up (default 60; 0: forever)
    ro              mount read-only

The service is ready (systemd's Type=notify) once the export is mounted.
A dead mount of this program left at MOUNTPOINT (after a crash) is detached
first.  Requests that the server does not answer wait, as on a hard kernel
mount; the connection is re-established when the server comes back, and
requests the server asks to try later (a server in its grace period after
a restart) are tried again.
"""

import argparse
import codecs
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import socket
import stat
import sys
import time

PROGRAM = "oscar-nfs-fuse"
# The type the mount table shows: fuse.nfs.
SUBTYPE = "nfs"
# The sonames of the libnfs releases whose API this program declares, newest first.
LIBNFS_NAMES = ("libnfs.so.14", "libnfs.so.13")
DEFAULT_OPTIONS = {"vers": 3, "retry": 60, "ro": False}
# AUTH_SYS carries at most 16 supplementary groups.
AUTH_SYS_MAX_GROUPS = 16
# utimensat(2)'s special nanosecond values, as FUSE passes them on.
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
NANOSECONDS = 10**9
MNT_DETACH = 2
# How long a request the server answers with "try later" (NFS3ERR_JUKEBOX, which
# libnfs reports as EAGAIN: a busy server, or one in its grace period after a
# restart, 90 s by default) is tried again, as the kernel's client does.
TRY_LATER_SECONDS = 300
TRY_LATER_MAX_DELAY = 5
# nfsdirent.type, as NFSv3 (ftype3) and NFSv4 (nfs_ftype4) number them.
FILE_TYPES = {
    1: stat.S_IFREG,
    2: stat.S_IFDIR,
    3: stat.S_IFBLK,
    4: stat.S_IFCHR,
    5: stat.S_IFLNK,
    6: stat.S_IFSOCK,
    7: stat.S_IFIFO,
}
# open(2) flags passed on to the server; creation is create()'s business.
OPEN_FLAGS = os.O_ACCMODE | os.O_APPEND | os.O_TRUNC | os.O_SYNC
# File names are bytes: those that are not UTF-8 pass through unchanged.
ENCODING = "utf-8-surrogateescape"

log = logging.getLogger(PROGRAM)


class UsageError(Exception):
    """A bad command line: the message names the bad value."""


# ------------------------------------------------------------------ arguments


def parse_source(text):
    """(server, export) from SERVER:/EXPORT; an IPv6 address goes in brackets."""
    if text.startswith("["):
        server, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise UsageError(f"bad source {text!r}: expected [ADDRESS]:/EXPORT")
        export = rest[1:]
    else:
        server, sep, export = text.partition(":")
        if not sep:
            raise UsageError(f"bad source {text!r}: expected SERVER:/EXPORT")
    if not server:
        raise UsageError(f"bad source {text!r}: the server is missing")
    if not export.startswith("/"):
        raise UsageError(f"bad source {text!r}: the export must be an absolute path")
    return server, export


def parse_options(text):
    """The -o options as a dict, defaults filled in; an unknown or bad option is a UsageError."""
    options = dict(DEFAULT_OPTIONS)
    for item in filter(None, (text or "").split(",")):
        name, sep, value = item.partition("=")
        if name == "ro" and not sep:
            options["ro"] = True
        elif name == "rw" and not sep:
            options["ro"] = False
        elif name == "vers" and value == "3":
            options["vers"] = 3
        elif name == "retry" and value.isdigit():
            options["retry"] = int(value)
        elif name in ("vers", "retry", "ro", "rw"):
            raise UsageError(
                f"bad value in option {item!r}: vers is 3 (libnfs 4.0's NFSv4 loses directory entries"
                " and owners), retry a number of seconds"
            )
        else:
            raise UsageError(f"unknown option {item!r} (known: vers=3, retry=SECONDS, ro, rw)")
    return options


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Mount an NFS export through FUSE, with each caller's credentials.",
    )
    parser.add_argument("source", metavar="SERVER:/EXPORT")
    parser.add_argument("mountpoint", metavar="MOUNTPOINT")
    parser.add_argument("-o", dest="options", default="", metavar="OPTIONS", help="vers=3, retry=SECONDS, ro")
    parser.add_argument(
        "--libnfs",
        metavar="SONAME",
        default=None,
        help=f"the libnfs library to load (default: the first of {', '.join(LIBNFS_NAMES)} found)",
    )
    parser.add_argument("--debug", action="store_true", help="log every request")
    arguments = parser.parse_args(argv)
    try:
        arguments.server, arguments.export = parse_source(arguments.source)
        arguments.options = parse_options(arguments.options)
    except UsageError as error:
        parser.error(str(error))
    if not os.path.isabs(arguments.mountpoint):
        parser.error(f"the mount point must be an absolute path, got {arguments.mountpoint!r}")
    return arguments


# ------------------------------------------------------------------ errors


def errno_of(result):
    """The errno a libnfs call's negative result stands for (EIO when it names none)."""
    code = -result
    return code if code in errno.errorcode else errno.EIO


def os_error(code, what):
    return OSError(code, f"{os.strerror(code)}: {what}")


# ------------------------------------------------------------------ libnfs


class Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class NfsStat64(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "nfs_dev",
            "nfs_ino",
            "nfs_mode",
            "nfs_nlink",
            "nfs_uid",
            "nfs_gid",
            "nfs_rdev",
            "nfs_size",
            "nfs_blksize",
            "nfs_blocks",
            "nfs_atime",
            "nfs_mtime",
            "nfs_ctime",
            "nfs_atime_nsec",
            "nfs_mtime_nsec",
            "nfs_ctime_nsec",
            "nfs_used",
        )
    ]


class NfsStatvfs64(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "f_bsize",
            "f_frsize",
            "f_blocks",
            "f_bfree",
            "f_bavail",
            "f_files",
            "f_ffree",
            "f_favail",
            "f_fsid",
            "f_flag",
            "f_namemax",
        )
    ]


class NfsDirent(ctypes.Structure):
    pass


NfsDirent._fields_ = [
    ("next", ctypes.POINTER(NfsDirent)),
    ("name", ctypes.c_char_p),
    ("inode", ctypes.c_uint64),
    ("type", ctypes.c_uint32),
    ("mode", ctypes.c_uint32),
    ("size", ctypes.c_uint64),
    ("atime", Timeval),
    ("mtime", Timeval),
    ("ctime", Timeval),
    ("uid", ctypes.c_uint32),
    ("gid", ctypes.c_uint32),
    ("nlink", ctypes.c_uint32),
    ("dev", ctypes.c_uint64),
    ("rdev", ctypes.c_uint64),
    ("blksize", ctypes.c_uint64),
    ("blocks", ctypes.c_uint64),
    ("used", ctypes.c_uint64),
    ("atime_nsec", ctypes.c_uint32),
    ("mtime_nsec", ctypes.c_uint32),
    ("ctime_nsec", ctypes.c_uint32),
]


def stat_of(st):
    """A FUSE attribute dict (times in nanoseconds) from libnfs's struct nfs_stat_64."""
    return {
        "st_ino": st.nfs_ino,
        "st_mode": st.nfs_mode,
        "st_nlink": st.nfs_nlink,
        "st_uid": st.nfs_uid,
        "st_gid": st.nfs_gid,
        "st_rdev": st.nfs_rdev,
        "st_size": st.nfs_size,
        "st_blksize": st.nfs_blksize,
        "st_blocks": st.nfs_blocks,
        "st_atime": st.nfs_atime * NANOSECONDS + st.nfs_atime_nsec,
        "st_mtime": st.nfs_mtime * NANOSECONDS + st.nfs_mtime_nsec,
        "st_ctime": st.nfs_ctime * NANOSECONDS + st.nfs_ctime_nsec,
    }


def entry_of(dirent):
    """(name, attributes for readdir) of a struct nfsdirent: its inode and file type."""
    mode = stat.S_IMODE(dirent.mode) | FILE_TYPES.get(dirent.type, 0)
    return os.fsdecode(dirent.name), {"st_ino": dirent.inode, "st_mode": mode}


def statfs_of(sv):
    """A FUSE statfs dict from libnfs's struct nfs_statvfs_64."""
    keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail")
    return dict({key: getattr(sv, key) for key in keys}, f_namemax=sv.f_namemax or 255)


def timevals_of(times):
    """The struct timeval[2] for nfs_lutimes from (atime, mtime) in nanoseconds."""
    pair = (Timeval * 2)()
    for index, value in enumerate(times):
        seconds, nanoseconds = divmod(value, NANOSECONDS)
        pair[index].tv_sec = seconds
        pair[index].tv_usec = nanoseconds // 1000
    return pair


_p = ctypes.c_void_p
_s = ctypes.c_char_p
_i = ctypes.c_int
_u64 = ctypes.c_uint64
# name: (result type, argument types); every call takes the context first.
PROTOTYPES = {
    "nfs_init_context": (_p, []),
    "nfs_destroy_context": (None, [_p]),
    "nfs_get_error": (_s, [_p]),
    "nfs_set_version": (_i, [_p, _i]),
    "nfs_set_autoreconnect": (None, [_p, _i]),
    "nfs_set_dircache": (None, [_p, _i]),
    "nfs_set_auth": (None, [_p, _p]),
    "nfs_umask": (ctypes.c_uint16, [_p, ctypes.c_uint16]),
    "nfs_mount": (_i, [_p, _s, _s]),
    "nfs_umount": (_i, [_p]),
    "nfs_lstat64": (_i, [_p, _s, ctypes.POINTER(NfsStat64)]),
    "nfs_fstat64": (_i, [_p, _p, ctypes.POINTER(NfsStat64)]),
    "nfs_open": (_i, [_p, _s, _i, ctypes.POINTER(_p)]),
    "nfs_create": (_i, [_p, _s, _i, _i, ctypes.POINTER(_p)]),
    "nfs_close": (_i, [_p, _p]),
    "nfs_pread": (_i, [_p, _p, _u64, _u64, _p]),
    "nfs_pwrite": (_i, [_p, _p, _u64, _u64, _s]),
    "nfs_fsync": (_i, [_p, _p]),
    "nfs_truncate": (_i, [_p, _s, _u64]),
    "nfs_ftruncate": (_i, [_p, _p, _u64]),
    "nfs_mkdir2": (_i, [_p, _s, _i]),
    "nfs_rmdir": (_i, [_p, _s]),
    "nfs_mknod": (_i, [_p, _s, _i, _i]),
    "nfs_unlink": (_i, [_p, _s]),
    "nfs_opendir": (_i, [_p, _s, ctypes.POINTER(_p)]),
    "nfs_readdir": (ctypes.POINTER(NfsDirent), [_p, _p]),
    "nfs_closedir": (None, [_p, _p]),
    "nfs_statvfs64": (_i, [_p, _s, ctypes.POINTER(NfsStatvfs64)]),
    "nfs_readlink": (_i, [_p, _s, _p, _i]),
    "nfs_lchmod": (_i, [_p, _s, _i]),
    "nfs_lchown": (_i, [_p, _s, _i, _i]),
    "nfs_lutimes": (_i, [_p, _s, ctypes.POINTER(Timeval)]),
    "nfs_symlink": (_i, [_p, _s, _s]),
    "nfs_rename": (_i, [_p, _s, _s]),
    "nfs_link": (_i, [_p, _s, _s]),
    "libnfs_authunix_create": (_p, [_s, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, _p]),
}


def load_libnfs(name=None):
    """libnfs by ctypes (name, else the first of LIBNFS_NAMES found), each function given its prototype."""
    errors = []
    for candidate in (name,) if name else LIBNFS_NAMES:
        try:
            library = ctypes.CDLL(candidate, use_errno=True)
            break
        except OSError as error:
            errors.append(f"{candidate}: {error}")
    else:
        raise UsageError(f"cannot load libnfs (Debian's libnfs13 or libnfs14): {'; '.join(errors)}")
    for function, (restype, argtypes) in PROTOTYPES.items():
        entry = getattr(library, function)
        entry.restype = restype
        entry.argtypes = argtypes
    return library


class NfsClient:
    """One libnfs context mounted on one export; every call raises OSError with the server's errno."""

    def __init__(self, library, server, export, version, *, sleep=time.sleep, clock=time.monotonic):
        self.lib = library
        self.sleep = sleep
        self.clock = clock
        self.server = server
        self.export = export
        self.credentials = None
        self.context = library.nfs_init_context()
        if not self.context:
            raise OSError(errno.ENOMEM, "cannot create an NFS context")
        # Hard mount: reconnect for ever.  No directory cache: other hosts
        # change directories, and the kernel caches what FUSE allows.
        library.nfs_set_autoreconnect(self.context, -1)
        library.nfs_set_dircache(self.context, 0)
        # The kernel has applied the caller's umask already.
        library.nfs_umask(self.context, 0)
        if library.nfs_set_version(self.context, version) != 0:
            self.close()
            raise UsageError(f"this libnfs does not speak NFS version {version}")

    def mount(self):
        result = self.lib.nfs_mount(self.context, self.server.encode(), self.export.encode())
        if result != 0:
            raise os_error(errno_of(result), f"{self.server}:{self.export}: {self.error()}")

    def close(self):
        if self.context:
            self.lib.nfs_destroy_context(self.context)
            self.context = None

    def error(self):
        message = self.lib.nfs_get_error(self.context)
        return message.decode(errors="replace") if message else "no detail"

    def act_as(self, credentials):
        """Send the next requests with these AUTH_SYS credentials: (uid, gid, groups)."""
        if credentials == self.credentials:
            return
        uid, gid, groups = credentials
        array = (ctypes.c_uint32 * len(groups))(*groups)
        auth = self.lib.libnfs_authunix_create(
            socket.gethostname().encode(), uid, gid, len(groups), ctypes.cast(array, ctypes.c_void_p)
        )
        if not auth:
            raise OSError(errno.ENOMEM, "cannot create AUTH_SYS credentials")
        # The context owns the new one and frees the old.
        self.lib.nfs_set_auth(self.context, auth)
        self.credentials = credentials

    def _call(self, function, what, *args):
        delay = 0.1
        deadline = None
        while True:
            result = getattr(self.lib, function)(self.context, *args)
            if result != -errno.EAGAIN:
                break
            deadline = deadline or self.clock() + TRY_LATER_SECONDS
            if self.clock() >= deadline:
                break
            log.debug("%s %s: the server says try later; again in %.1f s", function, what, delay)
            self.sleep(delay)
            delay = min(delay * 2, TRY_LATER_MAX_DELAY)
        if result < 0:
            code = errno_of(result)
            log.debug("%s %s: %s (%s)", function, what, os.strerror(code), self.error())
            raise os_error(code, what)
        return result

    @staticmethod
    def _path(path):
        return os.fsencode(path)

    def lstat(self, path):
        st = NfsStat64()
        self._call("nfs_lstat64", path, self._path(path), ctypes.byref(st))
        return stat_of(st)

    def fstat(self, handle):
        st = NfsStat64()
        self._call("nfs_fstat64", "open file", handle, ctypes.byref(st))
        return stat_of(st)

    def open(self, path, flags):
        handle = ctypes.c_void_p()
        self._call("nfs_open", path, self._path(path), flags, ctypes.byref(handle))
        return handle

    def create(self, path, flags, mode):
        handle = ctypes.c_void_p()
        self._call("nfs_create", path, self._path(path), flags, mode, ctypes.byref(handle))
        return handle

    def close_file(self, handle):
        self._call("nfs_close", "open file", handle)

    def pread(self, handle, size, offset):
        buffer = ctypes.create_string_buffer(size)
        count = self._call("nfs_pread", "open file", handle, offset, size, buffer)
        return buffer.raw[:count]

    def pwrite(self, handle, data, offset):
        return self._call("nfs_pwrite", "open file", handle, offset, len(data), data)

    def fsync(self, handle):
        self._call("nfs_fsync", "open file", handle)

    def truncate(self, path, length):
        self._call("nfs_truncate", path, self._path(path), length)

    def ftruncate(self, handle, length):
        self._call("nfs_ftruncate", "open file", handle, length)

    def mkdir(self, path, mode):
        self._call("nfs_mkdir2", path, self._path(path), mode)

    def rmdir(self, path):
        self._call("nfs_rmdir", path, self._path(path))

    def mknod(self, path, mode, dev):
        self._call("nfs_mknod", path, self._path(path), mode, dev)

    def unlink(self, path):
        self._call("nfs_unlink", path, self._path(path))

    def listdir(self, path):
        """[(name, attributes)] of a directory, . and .. included."""
        directory = ctypes.c_void_p()
        self._call("nfs_opendir", path, self._path(path), ctypes.byref(directory))
        try:
            entries = []
            while True:
                dirent = self.lib.nfs_readdir(self.context, directory)
                if not dirent:
                    return entries
                entries.append(entry_of(dirent.contents))
        finally:
            self.lib.nfs_closedir(self.context, directory)

    def statvfs(self, path):
        sv = NfsStatvfs64()
        self._call("nfs_statvfs64", path, self._path(path), ctypes.byref(sv))
        return statfs_of(sv)

    def readlink(self, path):
        buffer = ctypes.create_string_buffer(os.pathconf("/", "PC_PATH_MAX") + 1)
        self._call("nfs_readlink", path, self._path(path), buffer, len(buffer) - 1)
        return os.fsdecode(buffer.value)

    def chmod(self, path, mode):
        self._call("nfs_lchmod", path, self._path(path), mode)

    def chown(self, path, uid, gid):
        self._call("nfs_lchown", path, self._path(path), uid, gid)

    def utimes(self, path, times):
        """Set (atime, mtime) in nanoseconds, or both to the server's time when times is None."""
        pair = None if times is None else timevals_of(times)
        self._call("nfs_lutimes", path, self._path(path), pair)

    def symlink(self, target, path):
        self._call("nfs_symlink", path, self._path(target), self._path(path))

    def rename(self, old, new):
        self._call("nfs_rename", old, self._path(old), self._path(new))

    def link(self, existing, path):
        self._call("nfs_link", path, self._path(existing), self._path(path))


# ------------------------------------------------------------------ credentials


def supplementary_groups(status_text):
    """The supplementary groups on the Groups: line of /proc/PID/status, at most AUTH_SYS's 16."""
    for line in status_text.splitlines():
        if line.startswith("Groups:"):
            return tuple(int(group) for group in line.split()[1:])[:AUTH_SYS_MAX_GROUPS]
    return ()


def process_credentials(uid, gid, pid):
    """(uid, gid, groups) of the process FUSE names; no groups when it is gone or unknown."""
    groups = ()
    if pid > 0:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
                groups = supplementary_groups(status.read())
        except OSError:
            pass
    return uid, gid, groups


# ------------------------------------------------------------------ FUSE


class Handle:
    """An open file: libnfs's handle and the credentials of the process that opened it."""

    __slots__ = ("credentials", "dirty", "nfsfh")

    def __init__(self, nfsfh, credentials):
        self.nfsfh = nfsfh
        self.credentials = credentials
        self.dirty = False


class NfsOperations:
    """The FUSE operations (fusepy's raw_fi interface) on an NfsClient, each as its caller."""

    use_ns = True

    def __init__(self, client, context, ready=None):
        self.client = client
        # () -> (uid, gid, groups) of the process behind the current request.
        self.context = context
        self.ready = ready
        self.handles = {}
        self.next_handle = 1

    def __call__(self, operation, *args):
        method = getattr(self, operation, None)
        if method is None:
            raise OSError(errno.ENOSYS, operation)
        return method(*args)

    # ---- helpers

    def _as_caller(self):
        self.client.act_as(self.context())
        return self.client

    def _handle(self, fi):
        try:
            handle = self.handles[fi.fh]
        except KeyError:
            raise OSError(errno.EBADF, "unknown file handle") from None
        self.client.act_as(handle.credentials)
        return handle

    def _remember(self, nfsfh, credentials, fi):
        number = self.next_handle
        self.next_handle += 1
        self.handles[number] = Handle(nfsfh, credentials)
        fi.fh = number
        return 0

    # ---- lifecycle

    def init(self, _path):
        if self.ready:
            self.ready()

    def destroy(self, _path):
        for handle in list(self.handles.values()):
            with contextlib.suppress(OSError):
                self.client.close_file(handle.nfsfh)
        self.handles.clear()

    # ---- attributes

    def getattr(self, path, fi=None):
        if fi:
            return self.client.fstat(self._handle(fi).nfsfh)
        return self._as_caller().lstat(path)

    def chmod(self, path, mode):
        self._as_caller().chmod(path, stat.S_IMODE(mode))

    def chown(self, path, uid, gid):
        # -1 keeps the owner or the group: send the current one.
        client = self._as_caller()
        if uid == -1 or gid == -1:
            current = client.lstat(path)
            uid = current["st_uid"] if uid == -1 else uid
            gid = current["st_gid"] if gid == -1 else gid
        client.chown(path, uid, gid)

    def utimens(self, path, times=None):
        client = self._as_caller()
        if times is None or all(value == UTIME_NOW for value in times):
            client.utimes(path, None)
            return
        atime, mtime = times
        if UTIME_OMIT in times:
            current = client.lstat(path)
            atime = current["st_atime"] if atime == UTIME_OMIT else atime
            mtime = current["st_mtime"] if mtime == UTIME_OMIT else mtime
        now = time.time_ns()
        client.utimes(path, (now if atime == UTIME_NOW else atime, now if mtime == UTIME_NOW else mtime))

    def truncate(self, path, length, fi=None):
        if fi:
            handle = self._handle(fi)
            self.client.ftruncate(handle.nfsfh, length)
        else:
            self._as_caller().truncate(path, length)

    def statfs(self, path):
        return self._as_caller().statvfs(path)

    # ---- names

    def readlink(self, path):
        return self._as_caller().readlink(path)

    def mknod(self, path, mode, dev):
        self._as_caller().mknod(path, mode, dev)

    def mkdir(self, path, mode):
        self._as_caller().mkdir(path, stat.S_IMODE(mode))

    def rmdir(self, path):
        self._as_caller().rmdir(path)

    def unlink(self, path):
        self._as_caller().unlink(path)

    def symlink(self, path, target):
        # fusepy passes the new link's path first, then what it points to.
        self._as_caller().symlink(target, path)

    def rename(self, old, new):
        self._as_caller().rename(old, new)

    def link(self, path, existing):
        self._as_caller().link(existing, path)

    def readdir(self, path, _fh):
        return [(name, attributes, 0) for name, attributes in self._as_caller().listdir(path)]

    # ---- files

    def open(self, path, fi):
        credentials = self.context()
        self.client.act_as(credentials)
        return self._remember(self.client.open(path, fi.flags & OPEN_FLAGS), credentials, fi)

    def create(self, path, mode, fi):
        credentials = self.context()
        self.client.act_as(credentials)
        flags = (fi.flags & OPEN_FLAGS) | os.O_CREAT | (fi.flags & os.O_EXCL)
        return self._remember(self.client.create(path, flags, stat.S_IMODE(mode)), credentials, fi)

    def read(self, _path, size, offset, fi):
        return self.client.pread(self._handle(fi).nfsfh, size, offset)

    def write(self, _path, data, offset, fi):
        handle = self._handle(fi)
        written = self.client.pwrite(handle.nfsfh, data, offset)
        handle.dirty = True
        return written

    def flush(self, _path, fi):
        # Close-to-open consistency: what was written is on the server when close() returns.
        handle = self._handle(fi)
        if handle.dirty:
            self.client.fsync(handle.nfsfh)
            handle.dirty = False

    def fsync(self, _path, _datasync, fi):
        handle = self._handle(fi)
        self.client.fsync(handle.nfsfh)
        handle.dirty = False

    def release(self, _path, fi):
        handle = self.handles.pop(fi.fh, None)
        if handle is not None:
            self.client.act_as(handle.credentials)
            self.client.close_file(handle.nfsfh)


# ------------------------------------------------------------------ mounting


def _surrogateescape_codec(name):
    if name.replace("-", "_") != ENCODING.replace("-", "_"):
        return None
    return codecs.CodecInfo(
        name=ENCODING,
        encode=lambda text, errors="strict": codecs.utf_8_encode(text, "surrogateescape"),
        decode=lambda data, errors="strict": codecs.utf_8_decode(data, "surrogateescape", True),
    )


codecs.register(_surrogateescape_codec)


def unescape_mountinfo(field):
    r"""A mountinfo field with its octal escapes (\040 for a space) decoded."""
    return codecs.escape_decode(field.encode())[0].decode(errors="surrogateescape")


def filesystem_types_at(mountinfo_text, mountpoint):
    """The types of the filesystems mounted at mountpoint, in mount order, from /proc/self/mountinfo."""
    types = []
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        separator = fields.index("-", 6)
        if unescape_mountinfo(fields[4]) == mountpoint and len(fields) > separator + 1:
            types.append(fields[separator + 1])
    return types


def detach_dead_mount(mountpoint):
    """Detach a mount of this program at mountpoint whose process is gone; refuse a live one."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as mountinfo:
        types = filesystem_types_at(mountinfo.read(), mountpoint)
    if not types or types[-1] != f"fuse.{SUBTYPE}":
        return False
    try:
        os.stat(mountpoint)
    except OSError as error:
        if error.errno != errno.ENOTCONN:
            raise
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.umount2(os.fsencode(mountpoint), MNT_DETACH) != 0:
            code = ctypes.get_errno()
            raise os_error(code, f"cannot detach the dead mount at {mountpoint}") from None
        log.info("detached the dead mount left at %s", mountpoint)
        return True
    raise UsageError(f"{mountpoint} is already mounted by a running {PROGRAM}")


def notify_systemd(message):
    """Tell systemd (Type=notify) how the service is doing; nothing when not run by it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


def connect(library, arguments, sleep=time.sleep, clock=time.monotonic):
    """A mounted NfsClient, waiting for the server's name and export until the retry time runs out."""
    options = arguments.options
    deadline = clock() + options["retry"] if options["retry"] else None
    delay = 1
    while True:
        try:
            socket.getaddrinfo(arguments.server, None, proto=socket.IPPROTO_TCP)
            client = NfsClient(library, arguments.server, arguments.export, options["vers"])
            try:
                client.mount()
            except OSError:
                client.close()
                raise
            return client
        except (OSError, socket.gaierror) as error:
            problem = f"{arguments.server}:{arguments.export} cannot be mounted yet: {error}"
        if deadline is not None and clock() >= deadline:
            raise UsageError(f"{problem} (gave up after {options['retry']} s)")
        log.warning("%s; trying again in %d s", problem, delay)
        notify_systemd(f"STATUS={problem}")
        sleep(delay)
        delay = min(delay * 2, 15)


def fuse_module():
    """fusepy: Debian installs it as fusepy, PyPI as fuse."""
    try:
        import fusepy  # noqa: PLC0415
    except ImportError:
        try:
            import fuse as fusepy  # noqa: PLC0415
        except ImportError as error:
            raise UsageError("fusepy is missing (Debian's python3-fusepy)") from error
    return fusepy


def current_credentials(fusepy):
    def credentials():
        return process_credentials(*fusepy.fuse_get_context())

    return credentials


def main(argv=None):
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.debug else logging.INFO,
        format=f"{PROGRAM}[{arguments.mountpoint}]: %(levelname)s %(message)s",
    )
    logging.getLogger("fuse").setLevel(logging.DEBUG if arguments.debug else logging.CRITICAL)
    try:
        fusepy = fuse_module()
        detach_dead_mount(arguments.mountpoint)
        if not os.path.isdir(arguments.mountpoint):
            raise UsageError(f"the mount point {arguments.mountpoint} is not a directory")
        client = connect(load_libnfs(arguments.libnfs), arguments)
    except UsageError as error:
        log.error("%s", error)
        return 2
    source = f"{arguments.server}:{arguments.export}"
    log.info("mounting %s on %s over NFS version %d", source, arguments.mountpoint, arguments.options["vers"])

    def ready():
        log.info("%s is mounted on %s", source, arguments.mountpoint)
        notify_systemd(f"READY=1\nSTATUS=serving {source} on {arguments.mountpoint}")

    operations = NfsOperations(client, current_credentials(fusepy), ready)
    try:
        fusepy.FUSE(
            operations,
            arguments.mountpoint,
            raw_fi=True,
            encoding=ENCODING,
            foreground=True,
            # One libnfs context, used by one thread.
            nothreads=True,
            allow_other=True,
            default_permissions=True,
            use_ino=True,
            big_writes=True,
            # As a kernel NFS mount does, cover what the directory holds.
            nonempty=True,
            ro=arguments.options["ro"],
            fsname=source,
            subtype=SUBTYPE,
        )
    except RuntimeError as error:
        log.error("FUSE could not mount %s on %s: %s", source, arguments.mountpoint, error)
        return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

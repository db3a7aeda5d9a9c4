"""oscar-nfs-fuse without a server: arguments, conversions, errno mapping, credentials and handles.

The program is imported from the role by path.  The real client, through a
real NFS server, is tested by the molecule scenarios `clients` and `server`;
here the parts that need no server, and the FUSE operations over a recording
stand-in for the NFS client.
"""

import ctypes
import errno
import importlib.util
import os
import socket
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "clients" / "files" / "nfs_fuse.py"


def load():
    spec = importlib.util.spec_from_file_location("nfs_fuse", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nfs_fuse = load()


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("head:/home", ("head", "/home")),
        ("10.0.0.1:/opt/cluster", ("10.0.0.1", "/opt/cluster")),
        ("[fd00::1]:/home", ("fd00::1", "/home")),
        ("head.cluster:/", ("head.cluster", "/")),
    ],
)
def test_parse_source_splits_server_and_export(text, expected):
    assert nfs_fuse.parse_source(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("head", "expected SERVER:/EXPORT"),
        (":/home", "the server is missing"),
        ("head:home", "the export must be an absolute path"),
        ("[fd00::1]/home", "expected [ADDRESS]:/EXPORT"),
    ],
)
def test_parse_source_names_the_bad_source(text, message):
    with pytest.raises(nfs_fuse.UsageError) as raised:
        nfs_fuse.parse_source(text)
    assert message in str(raised.value)
    assert repr(text) in str(raised.value)


def test_parse_options_fills_in_the_defaults():
    assert nfs_fuse.parse_options("") == {"vers": 3, "retry": 60, "ro": False}


def test_parse_options_reads_every_option():
    assert nfs_fuse.parse_options("vers=3,retry=5,ro") == {"vers": 3, "retry": 5, "ro": True}
    assert nfs_fuse.parse_options("ro,rw,retry=0")["ro"] is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vers=4", "vers is 3 (libnfs 4.0's NFSv4 loses directory entries"),
        ("retry=soon", "bad value in option 'retry=soon'"),
        ("ro=1", "bad value in option 'ro=1'"),
        ("soft", "unknown option 'soft'"),
    ],
)
def test_parse_options_names_the_bad_option(text, message):
    with pytest.raises(nfs_fuse.UsageError) as raised:
        nfs_fuse.parse_options(text)
    assert message in str(raised.value)


def test_parse_arguments_gives_server_export_mountpoint_and_options():
    arguments = nfs_fuse.parse_arguments(["-o", "retry=9", "head:/home", "/home"])
    assert (arguments.server, arguments.export, arguments.mountpoint) == ("head", "/home", "/home")
    assert arguments.options["retry"] == 9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["head:/home", "home"], "the mount point must be an absolute path, got 'home'"),
        (["head", "/home"], "bad source 'head'"),
        (["-o", "nolock", "head:/home", "/home"], "unknown option 'nolock'"),
    ],
)
def test_parse_arguments_refuses_with_usage_and_exit_status_2(capsys, argv, message):
    with pytest.raises(SystemExit) as raised:
        nfs_fuse.parse_arguments(argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_the_program_refuses_bad_arguments_as_a_real_process():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "-o", "vers=4", "head:/home", "/home"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "usage: oscar-nfs-fuse" in result.stderr
    assert "vers is 3" in result.stderr


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (-errno.EACCES, errno.EACCES),
        (-errno.ENOENT, errno.ENOENT),
        (-errno.ESTALE, errno.ESTALE),
        (-1, errno.EPERM),
    ],
)
def test_errno_of_reads_libnfs_negative_errno(result, code):
    assert nfs_fuse.errno_of(result) == code


@pytest.mark.parametrize("result", [-99999, -0x7FFF0000])
def test_errno_of_an_unknown_code_is_eio(result):
    assert nfs_fuse.errno_of(result) == errno.EIO


def test_load_libnfs_names_the_missing_library():
    with pytest.raises(nfs_fuse.UsageError) as raised:
        nfs_fuse.load_libnfs("libnfs-not-here.so.0")
    assert "cannot load libnfs (Debian's libnfs13 or libnfs14): libnfs-not-here.so.0:" in str(raised.value)


def test_load_libnfs_without_a_name_tries_each_known_release(monkeypatch):
    tried = []

    def fake_cdll(name, use_errno):
        tried.append(name)
        if name != "libnfs.so.13":
            raise OSError(f"{name}: cannot open shared object file")
        return types.SimpleNamespace(**{name: types.SimpleNamespace() for name in nfs_fuse.PROTOTYPES})

    monkeypatch.setattr(nfs_fuse.ctypes, "CDLL", fake_cdll)
    library = nfs_fuse.load_libnfs()
    assert tried == ["libnfs.so.14", "libnfs.so.13"]
    assert library.nfs_pread.argtypes == nfs_fuse.PROTOTYPES["nfs_pread"][1]


def test_load_libnfs_with_none_found_names_every_one_tried(monkeypatch):
    def missing(name, use_errno):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(nfs_fuse.ctypes, "CDLL", missing)
    with pytest.raises(nfs_fuse.UsageError) as raised:
        nfs_fuse.load_libnfs()
    assert "libnfs.so.14:" in str(raised.value) and "libnfs.so.13:" in str(raised.value)


def test_parse_arguments_takes_the_libnfs_to_load():
    assert nfs_fuse.parse_arguments(["head:/home", "/home"]).libnfs is None
    arguments = nfs_fuse.parse_arguments(["--libnfs", "libnfs.so.14", "head:/home", "/home"])
    assert arguments.libnfs == "libnfs.so.14"


# ---------------------------------------------------------------- conversions


def test_stat_of_converts_every_field_with_nanosecond_times():
    st = nfs_fuse.NfsStat64(
        nfs_ino=42,
        nfs_mode=stat.S_IFREG | 0o640,
        nfs_nlink=2,
        nfs_uid=3101,
        nfs_gid=3102,
        nfs_rdev=0,
        nfs_size=12345,
        nfs_blksize=4096,
        nfs_blocks=32,
        nfs_atime=1_700_000_000,
        nfs_atime_nsec=5,
        nfs_mtime=1_700_000_001,
        nfs_mtime_nsec=999_999_999,
        nfs_ctime=1_700_000_002,
        nfs_ctime_nsec=0,
    )
    assert nfs_fuse.stat_of(st) == {
        "st_ino": 42,
        "st_mode": stat.S_IFREG | 0o640,
        "st_nlink": 2,
        "st_uid": 3101,
        "st_gid": 3102,
        "st_rdev": 0,
        "st_size": 12345,
        "st_blksize": 4096,
        "st_blocks": 32,
        "st_atime": 1_700_000_000_000_000_005,
        "st_mtime": 1_700_000_001_999_999_999,
        "st_ctime": 1_700_000_002_000_000_000,
    }


@pytest.mark.parametrize(
    ("kind", "mode", "expected"),
    [
        (1, 0o644, stat.S_IFREG | 0o644),
        (2, stat.S_IFDIR | 0o755, stat.S_IFDIR | 0o755),
        (5, 0o777, stat.S_IFLNK | 0o777),
        (7, 0o600, stat.S_IFIFO | 0o600),
        (99, 0o1777, 0o1777),
    ],
)
def test_entry_of_gives_the_name_inode_and_file_type(kind, mode, expected):
    dirent = nfs_fuse.NfsDirent(name=b"caf\xc3\xa9", inode=7, type=kind, mode=mode)
    assert nfs_fuse.entry_of(dirent) == ("café", {"st_ino": 7, "st_mode": expected})


def test_entry_of_keeps_a_name_that_is_not_utf8():
    name, _attributes = nfs_fuse.entry_of(nfs_fuse.NfsDirent(name=b"old\xe9", inode=1, type=1, mode=0o644))
    assert os.fsencode(name) == b"old\xe9"


def test_statfs_of_copies_the_counts_and_defaults_the_name_length():
    sv = nfs_fuse.NfsStatvfs64(f_bsize=4096, f_frsize=4096, f_blocks=100, f_bfree=60, f_bavail=50, f_files=10)
    converted = nfs_fuse.statfs_of(sv)
    assert converted["f_blocks"] == 100
    assert converted["f_bavail"] == 50
    assert converted["f_namemax"] == 255
    assert "f_flag" not in converted


def test_timevals_of_gives_seconds_and_microseconds():
    pair = nfs_fuse.timevals_of((1_600_000_000_123_456_789, 5))
    assert (pair[0].tv_sec, pair[0].tv_usec) == (1_600_000_000, 123_456)
    assert (pair[1].tv_sec, pair[1].tv_usec) == (0, 0)


# ---------------------------------------------------------------- credentials


STATUS = "Name:\tbash\nUid:\t3101\t3101\t3101\t3101\nGid:\t3101\t3101\t3101\t3101\nGroups:\t27 100 3101 \n"


def test_supplementary_groups_come_from_the_groups_line():
    assert nfs_fuse.supplementary_groups(STATUS) == (27, 100, 3101)


def test_supplementary_groups_stop_at_auth_sys_sixteen():
    groups = " ".join(str(n) for n in range(1, 30))
    assert nfs_fuse.supplementary_groups(f"Groups:\t{groups}\n") == tuple(range(1, 17))


def test_supplementary_groups_of_a_process_without_the_line_are_none():
    assert nfs_fuse.supplementary_groups("Name:\tkworker\n") == ()
    assert nfs_fuse.supplementary_groups("Groups:\t\n") == ()


def test_process_credentials_read_this_process_groups():
    uid, gid, groups = nfs_fuse.process_credentials(os.getuid(), os.getgid(), os.getpid())
    assert (uid, gid) == (os.getuid(), os.getgid())
    assert set(groups) == set(os.getgroups()[:16])


def test_process_credentials_of_a_gone_process_have_no_groups():
    assert nfs_fuse.process_credentials(5, 6, 2**22 + 12345) == (5, 6, ())
    assert nfs_fuse.process_credentials(0, 0, 0) == (0, 0, ())


# ---------------------------------------------------------------- mount table


MOUNTINFO = (
    "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
    "40 22 0:30 / /home rw,relatime - ext4 /dev/vda rw\n"
    "41 40 0:31 / /home rw,nosuid,nodev - fuse.nfs head:/home rw,user_id=0,allow_other\n"
    "42 22 0:32 / /srv/my\\040data rw - fuse.nfs head:/data rw\n"
    "43 22 0:33 / /opt/cluster rw shared:5 master:2 - nfs4 head:/opt/cluster rw\n"
)


@pytest.mark.parametrize(
    ("mountpoint", "types"),
    [
        ("/home", ["ext4", "fuse.nfs"]),
        ("/srv/my data", ["fuse.nfs"]),
        ("/opt/cluster", ["nfs4"]),
        ("/scratch", []),
    ],
)
def test_filesystem_types_at_reads_mountinfo_in_mount_order(mountpoint, types):
    assert nfs_fuse.filesystem_types_at(MOUNTINFO, mountpoint) == types


# ---------------------------------------------------------------- systemd


def test_notify_systemd_sends_the_message_to_the_notify_socket(tmp_path, monkeypatch):
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        nfs_fuse.notify_systemd("READY=1\nSTATUS=serving")
        listener.settimeout(5)
        assert listener.recv(4096) == b"READY=1\nSTATUS=serving"


def test_notify_systemd_without_systemd_does_nothing(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    nfs_fuse.notify_systemd("READY=1")


# ---------------------------------------------------------------- libnfs calls


class FakeLibrary:
    """libnfs's functions as NfsClient calls them: results chosen per function, calls recorded."""

    def __init__(self, results=None):
        self.results = results or {}
        self.calls = []

    def __getattr__(self, name):
        def function(*args):
            self.calls.append((name, args))
            result = self.results.get(name, 0)
            return result(*args) if callable(result) else result

        return function


def client_on(library, clock=None):
    library.results.setdefault("nfs_init_context", 1)
    library.results.setdefault("nfs_get_error", b"NFS3ERR_ACCES")
    library.results.setdefault("libnfs_authunix_create", 99)
    if clock is None:
        return nfs_fuse.NfsClient(library, "head", "/home", 3)
    return nfs_fuse.NfsClient(library, "head", "/home", 3, sleep=clock.sleep, clock=clock)


def test_a_client_is_a_hard_mount_without_directory_cache_or_umask():
    library = FakeLibrary()
    client_on(library)
    calls = dict(library.calls)
    assert calls["nfs_set_autoreconnect"] == (1, -1)
    assert calls["nfs_set_dircache"] == (1, 0)
    assert calls["nfs_umask"] == (1, 0)
    assert calls["nfs_set_version"] == (1, 3)


def test_a_negative_result_is_an_oserror_with_its_errno_and_the_path():
    client = client_on(FakeLibrary({"nfs_unlink": -errno.EACCES}))
    with pytest.raises(OSError) as raised:
        client.unlink("/alice/file")
    assert raised.value.errno == errno.EACCES
    assert "/alice/file" in str(raised.value)


def test_a_request_the_server_asks_to_try_later_is_tried_again():
    """NFS3ERR_JUKEBOX (EAGAIN), as during the server's grace period after a restart."""
    clock = Clock()
    answers = iter([-errno.EAGAIN, -errno.EAGAIN, -errno.EAGAIN, 0])
    library = FakeLibrary({"nfs_mkdir2": lambda *_: next(answers)})
    client = client_on(library, clock)
    client.mkdir("/alice/dir", 0o755)
    assert clock.slept == [0.1, 0.2, 0.4]
    assert [name for name, _args in library.calls].count("nfs_mkdir2") == 4


def test_a_server_that_keeps_saying_try_later_is_eagain_in_the_end():
    clock = Clock()
    client = client_on(FakeLibrary({"nfs_unlink": -errno.EAGAIN}), clock)
    with pytest.raises(OSError) as raised:
        client.unlink("/alice/file")
    assert raised.value.errno == errno.EAGAIN
    assert clock.now >= nfs_fuse.TRY_LATER_SECONDS
    assert max(clock.slept) == nfs_fuse.TRY_LATER_MAX_DELAY


def test_a_failed_mount_names_the_export_and_libnfs_reason():
    client = client_on(FakeLibrary({"nfs_mount": -errno.ECONNREFUSED, "nfs_get_error": b"connect failed"}))
    with pytest.raises(OSError) as raised:
        client.mount()
    assert raised.value.errno == errno.ECONNREFUSED
    assert "head:/home: connect failed" in str(raised.value)


def test_lstat_fills_a_struct_and_converts_it():
    def fill(_context, path, pointer):
        assert path == b"/alice"
        pointer._obj.nfs_mode = stat.S_IFDIR | 0o700
        pointer._obj.nfs_uid = 3101
        return 0

    attributes = client_on(FakeLibrary({"nfs_lstat64": fill})).lstat("/alice")
    assert attributes["st_mode"] == stat.S_IFDIR | 0o700
    assert attributes["st_uid"] == 3101


def test_act_as_sends_new_credentials_only_when_they_change():
    library = FakeLibrary()
    client = client_on(library)
    client.act_as((3101, 3101, (27, 100)))
    client.act_as((3101, 3101, (27, 100)))
    client.act_as((0, 0, ()))
    created = [args for name, args in library.calls if name == "libnfs_authunix_create"]
    assert [(uid, gid, count) for _host, uid, gid, count, _groups in created] == [(3101, 3101, 2), (0, 0, 0)]
    groups = ctypes.cast(created[0][4], ctypes.POINTER(ctypes.c_uint32))
    assert [groups[0], groups[1]] == [27, 100]
    assert [args for name, args in library.calls if name == "nfs_set_auth"] == [(1, 99), (1, 99)]


# ---------------------------------------------------------------- FUSE operations


class FileInfo:
    """The fields of struct fuse_file_info the operations use."""

    def __init__(self, flags=os.O_RDONLY):
        self.flags = flags
        self.fh = 0


class RecordingClient:
    """An NfsClient stand-in: records (credentials, call, arguments); files are plain numbers."""

    def __init__(self, errors=None):
        self.credentials = None
        self.calls = []
        self.errors = errors or {}
        self.attributes = {"st_uid": 3101, "st_gid": 3101, "st_atime": 111, "st_mtime": 222}

    def act_as(self, credentials):
        self.credentials = credentials

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((self.credentials, name, args))
            if name in self.errors:
                raise OSError(self.errors[name], os.strerror(self.errors[name]))
            if name in ("lstat", "fstat"):
                return dict(self.attributes)
            if name in ("open", "create"):
                return f"nfsfh-{len(self.calls)}"
            if name == "pread":
                return b"data"
            if name == "pwrite":
                return len(args[1])
            return None

        return call


ALICE = (3101, 3101, (3101,))
BOB = (3102, 3102, ())
KERNEL = (0, 0, ())


class Caller:
    def __init__(self, credentials):
        self.credentials = credentials

    def __call__(self):
        return self.credentials


def operations(errors=None):
    """NfsOperations on a RecordingClient; ops.context is the Caller, whose credentials a test may change."""
    return nfs_fuse.NfsOperations(RecordingClient(errors), Caller(ALICE))


def calls(ops):
    """The names of the client's calls, in order."""
    return [name for _credentials, name, _args in ops.client.calls]


def calls_with_arguments(ops):
    return [(name, args) for _credentials, name, args in ops.client.calls]


def calls_with_credentials(ops):
    return [(credentials, name) for credentials, name, _args in ops.client.calls]


def test_requests_by_path_go_with_the_callers_credentials():
    ops = operations()
    caller = ops.context
    ops.mkdir("/alice/dir", stat.S_IFDIR | 0o750)
    caller.credentials = BOB
    ops.getattr("/alice/dir")
    assert ops.client.calls == [(ALICE, "mkdir", ("/alice/dir", 0o750)), (BOB, "lstat", ("/alice/dir",))]


def test_reads_and_writes_go_with_the_openers_credentials():
    """Pages written back later (by the kernel, as root) still reach the head as their owner."""
    ops = operations()
    caller = ops.context
    fi = FileInfo(os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    ops.open("/alice/file", fi)
    caller.credentials = KERNEL
    assert ops.write("/alice/file", b"hello", 0, fi) == 5
    assert ops.read("/alice/file", 4, 0, fi) == b"data"
    assert calls_with_credentials(ops) == [
        (ALICE, "open"),
        (ALICE, "pwrite"),
        (ALICE, "pread"),
    ]
    # O_NOFOLLOW is the kernel's business; access mode and append go to the server.
    assert ops.client.calls[0][2] == ("/alice/file", os.O_WRONLY | os.O_APPEND)


def test_create_asks_for_exclusive_creation_only_when_the_caller_did():
    ops = operations()
    ops.create("/alice/new", stat.S_IFREG | 0o600, FileInfo(os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    ops.create("/alice/other", stat.S_IFREG | 0o644, FileInfo(os.O_RDWR | os.O_CREAT))
    assert [args for _name, args in calls_with_arguments(ops)] == [
        ("/alice/new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
        ("/alice/other", os.O_RDWR | os.O_CREAT, 0o644),
    ]


def test_flush_commits_only_what_was_written_and_release_closes_the_file():
    ops = operations()
    fi = FileInfo(os.O_RDWR)
    ops.open("/alice/file", fi)
    ops.flush("/alice/file", fi)
    ops.write("/alice/file", b"x", 0, fi)
    ops.flush("/alice/file", fi)
    ops.flush("/alice/file", fi)
    ops.release("/alice/file", fi)
    assert calls(ops) == ["open", "pwrite", "fsync", "close_file"]
    assert ops.handles == {}


def test_every_open_file_has_its_own_handle():
    ops = operations()
    first, second = FileInfo(), FileInfo()
    ops.open("/a", first)
    ops.open("/b", second)
    assert first.fh != second.fh
    assert ops.handles[first.fh].nfsfh != ops.handles[second.fh].nfsfh


def test_an_unknown_handle_is_ebadf():
    ops = operations()
    stale = FileInfo()
    stale.fh = 77
    with pytest.raises(OSError) as raised:
        ops.read("/a", 10, 0, stale)
    assert raised.value.errno == errno.EBADF
    ops.release("/a", stale)


def test_the_servers_errno_reaches_the_caller():
    ops = operations({"unlink": errno.EACCES, "open": errno.ENOENT})
    with pytest.raises(OSError) as raised:
        ops.unlink("/alice/file")
    assert raised.value.errno == errno.EACCES
    with pytest.raises(OSError) as raised:
        ops.open("/missing", FileInfo())
    assert raised.value.errno == errno.ENOENT
    assert ops.handles == {}


def test_chown_with_minus_one_keeps_the_current_owner_or_group():
    ops = operations()
    ops.chown("/alice/file", -1, 100)
    ops.chown("/alice/file", 3102, -1)
    ops.chown("/alice/file", 3102, 100)
    chowns = [args for name, args in calls_with_arguments(ops) if name == "chown"]
    assert chowns == [("/alice/file", 3101, 100), ("/alice/file", 3102, 3101), ("/alice/file", 3102, 100)]
    assert calls(ops).count("lstat") == 2


def test_chmod_sends_only_the_permission_bits():
    ops = operations()
    ops.chmod("/alice/file", stat.S_IFREG | 0o4750)
    assert ops.client.calls[-1][2] == ("/alice/file", 0o4750)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (None, None),
        ((nfs_fuse.UTIME_NOW, nfs_fuse.UTIME_NOW), None),
        ((5_000_000_000, 6_000_000_000), (5_000_000_000, 6_000_000_000)),
        ((nfs_fuse.UTIME_OMIT, 6_000_000_000), (111, 6_000_000_000)),
        ((5_000_000_000, nfs_fuse.UTIME_OMIT), (5_000_000_000, 222)),
    ],
)
def test_utimens_turns_now_and_omit_into_times(times, expected):
    ops = operations()
    ops.utimens("/alice/file", times)
    assert ops.client.calls[-1][1:] == ("utimes", ("/alice/file", expected))


def test_utimens_with_now_for_one_time_uses_the_clock():
    ops = operations()
    ops.utimens("/alice/file", (nfs_fuse.UTIME_NOW, 6_000_000_000))
    atime, mtime = ops.client.calls[-1][2][1]
    assert mtime == 6_000_000_000
    assert abs(atime - __import__("time").time_ns()) < 60 * 10**9


def test_symlink_and_link_put_the_new_name_last_for_libnfs():
    ops = operations()
    ops.symlink("/alice/link", "target/file")
    ops.link("/alice/hard", "/alice/file")
    assert calls_with_arguments(ops) == [
        ("symlink", ("target/file", "/alice/link")),
        ("link", ("/alice/file", "/alice/hard")),
    ]


def test_truncate_uses_the_open_file_when_there_is_one():
    ops = operations()
    caller = ops.context
    fi = FileInfo(os.O_WRONLY)
    ops.open("/alice/file", fi)
    caller.credentials = BOB
    ops.truncate("/alice/file", 10, fi)
    ops.truncate("/alice/file", 0)
    assert calls_with_credentials(ops)[1:] == [
        (ALICE, "ftruncate"),
        (BOB, "truncate"),
    ]


def test_readdir_lists_entries_with_their_attributes():
    ops = operations()
    ops.client.listdir = lambda path: [(".", {"st_ino": 1, "st_mode": stat.S_IFDIR}), ("a", {"st_ino": 2})]
    assert ops.readdir("/alice", 0) == [
        (".", {"st_ino": 1, "st_mode": stat.S_IFDIR}, 0),
        ("a", {"st_ino": 2}, 0),
    ]


def test_an_operation_the_client_lacks_is_enosys():
    ops = operations()
    with pytest.raises(OSError) as raised:
        ops("setxattr", "/a", "user.x", b"1", 0)
    assert raised.value.errno == errno.ENOSYS


def test_init_tells_systemd_the_mount_is_ready():
    told = []
    ops = nfs_fuse.NfsOperations(RecordingClient(), Caller(ALICE), ready=lambda: told.append(True))
    ops("init", "/")
    assert told == [True]


def test_destroy_closes_every_open_file():
    ops = operations()
    ops.open("/a", FileInfo())
    ops.open("/b", FileInfo())
    ops.destroy("/")
    assert calls(ops).count("close_file") == 2
    assert ops.handles == {}


# ---------------------------------------------------------------- waiting for the server


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_connect_retries_with_growing_delays_then_gives_up_naming_the_export():
    clock = Clock()
    arguments = nfs_fuse.parse_arguments(["-o", "retry=20", "localhost:/home", "/home"])
    library = FakeLibrary(
        {"nfs_init_context": 1, "nfs_mount": -errno.ECONNREFUSED, "nfs_get_error": b"refused"}
    )
    with pytest.raises(nfs_fuse.UsageError) as raised:
        nfs_fuse.connect(library, arguments, sleep=clock.sleep, clock=clock)
    assert "localhost:/home cannot be mounted yet" in str(raised.value)
    assert "gave up after 20 s" in str(raised.value)
    assert clock.slept == [1, 2, 4, 8, 15]
    # Every failed attempt frees its context.
    assert [name for name, _args in library.calls].count("nfs_destroy_context") == 6


def test_connect_returns_a_mounted_client_once_the_server_answers():
    clock = Clock()
    answers = iter([-errno.ETIMEDOUT, 0])
    library = FakeLibrary({"nfs_init_context": 1, "nfs_mount": lambda *_: next(answers)})
    arguments = nfs_fuse.parse_arguments(["localhost:/opt/cluster", "/opt/cluster"])
    client = nfs_fuse.connect(library, arguments, sleep=clock.sleep, clock=clock)
    assert (client.server, client.export) == ("localhost", "/opt/cluster")
    assert clock.slept == [1]


def test_connect_waits_for_a_name_that_does_not_resolve_yet():
    clock = Clock()
    arguments = nfs_fuse.parse_arguments(["-o", "retry=3", "no-such-head.invalid:/home", "/home"])
    with pytest.raises(nfs_fuse.UsageError) as raised:
        nfs_fuse.connect(FakeLibrary(), arguments, sleep=clock.sleep, clock=clock)
    assert "no-such-head.invalid:/home cannot be mounted yet" in str(raised.value)
    assert clock.slept == [1, 2]

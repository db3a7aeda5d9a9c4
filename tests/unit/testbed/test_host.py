"""What the testbed needs from the machine: memory, rlimits, programs, inotify."""

import resource
import shutil

import pytest

from oscar_testbed import commands, host
from oscar_testbed.errors import CapacityError, PrerequisiteError

PER_HOST = host.MEMORY_PER_HOST_MIB
RESERVED = host.MEMORY_RESERVED_MIB


@pytest.mark.parametrize(
    ("host_count", "available_mib"),
    [
        (1, RESERVED + PER_HOST),  # exactly enough
        (5, RESERVED + 5 * PER_HOST + 1),
        (0, RESERVED),
        (100, 64 * 1024),
    ],
)
def test_check_memory_returns_the_memory_needed_when_the_hosts_fit(host_count, available_mib):
    assert host.check_memory(host_count, available_mib=available_mib) == host_count * PER_HOST


@pytest.mark.parametrize(
    ("host_count", "available_mib", "fits"),
    [
        (2, RESERVED + PER_HOST, 1),
        (6, RESERVED + 5 * PER_HOST + 50, 5),
        (1, RESERVED + PER_HOST - 1, 0),
        (3, 1000, 0),  # less than the reserve itself
    ],
)
def test_check_memory_refuses_and_names_how_many_hosts_fit(host_count, available_mib, fits):
    with pytest.raises(CapacityError) as caught:
        host.check_memory(host_count, available_mib=available_mib)
    message = str(caught.value)
    assert message.startswith(f"{host_count} hosts need about {host_count * PER_HOST} MiB")
    assert f"only {available_mib} MiB is available" in message
    assert message.endswith(f"holds at most {fits} hosts now")


def ulimit_values(args):
    """{'nofile': (soft, hard), ...} from ['--ulimit', 'nofile=a:b', ...]."""
    assert args[0::2] == ["--ulimit"] * (len(args) // 2)
    values = {}
    for pair in args[1::2]:
        name, limits = pair.split("=")
        soft, hard = limits.split(":")
        values[name] = (int(soft), int(hard))
    return values


def test_container_ulimits_never_exceed_the_current_hard_limits():
    args = host.container_ulimits()
    values = ulimit_values(args)
    assert list(values) == ["nofile", "nproc"]
    for name, limit in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = values[name]
        assert soft == hard
        assert hard <= host.ULIMIT_CAPS[name]
        current_hard = resource.getrlimit(limit)[1]
        if current_hard != resource.RLIM_INFINITY:
            assert hard <= current_hard


@pytest.mark.parametrize(
    ("nofile_hard", "nproc_hard", "expected"),
    [
        (1024, 512, ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=512:512"]),
        (
            resource.RLIM_INFINITY,
            resource.RLIM_INFINITY,
            ["--ulimit", "nofile=1048576:1048576", "--ulimit", "nproc=32768:32768"],
        ),
        (4_000_000, 96_365, ["--ulimit", "nofile=1048576:1048576", "--ulimit", "nproc=32768:32768"]),
        (20_000, 1_000_000, ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]),
    ],
)
def test_container_ulimits_take_the_lower_of_hard_limit_and_cap(
    monkeypatch, nofile_hard, nproc_hard, expected
):
    hard = {resource.RLIMIT_NOFILE: nofile_hard, resource.RLIMIT_NPROC: nproc_hard}
    monkeypatch.setattr(host.resource, "getrlimit", lambda limit: (256, hard[limit]))
    assert host.container_ulimits() == expected


def test_missing_programs_maps_each_missing_program_to_its_debian_package(monkeypatch):
    absent = {"podman", "ssh-keyscan", "ip"}
    monkeypatch.setattr(host.commands, "which", lambda prog: None if prog in absent else f"/usr/bin/{prog}")
    assert host.missing_programs() == {
        "podman": "podman",
        "ssh-keyscan": "openssh-client",
        "ip": "iproute2",
    }


def test_missing_programs_is_empty_when_everything_is_installed(monkeypatch):
    monkeypatch.setattr(host.commands, "which", lambda prog: f"/usr/bin/{prog}")
    assert host.missing_programs() == {}


def test_which_also_looks_in_sbin_when_path_lacks_it(monkeypatch):
    calls = []

    def fake_which(prog, path=None):
        calls.append((prog, path))
        return f"/usr/sbin/{prog}" if path else None

    monkeypatch.setattr(shutil, "which", fake_which)
    assert host.missing_programs() == {}
    assert ("ip", None) in calls
    sbin_paths = {path for prog, path in calls if prog == "ip" and path}
    assert sbin_paths
    assert all("/usr/sbin" in path and "/sbin" in path for path in sbin_paths)


def test_missing_programs_reports_a_program_shutil_which_cannot_find(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda prog, path=None: None if prog == "runc" else "/bin/x")
    assert host.missing_programs() == {"runc": "runc"}


@pytest.fixture
def no_commands(monkeypatch):
    """Fail the test if anything tries to run apt-get."""

    def refuse(argv, **_kwargs):
        raise AssertionError(f"unexpected command: {argv}")

    monkeypatch.setattr(commands, "run", refuse)


@pytest.mark.parametrize(
    ("absent", "names", "packages"),
    [
        ({"ip"}, "ip", "iproute2"),
        ({"ssh", "ssh-keygen"}, "ssh, ssh-keygen", "openssh-client"),
        ({"tar", "debootstrap"}, "debootstrap, tar", "debootstrap tar"),
    ],
)
def test_ensure_programs_without_install_names_missing_programs_and_packages(
    monkeypatch, no_commands, absent, names, packages
):
    monkeypatch.setattr(host.commands, "which", lambda prog: None if prog in absent else f"/usr/bin/{prog}")
    with pytest.raises(PrerequisiteError) as caught:
        host.ensure_programs(install=False)
    assert str(caught.value) == f"missing programs: {names} (Debian packages: {packages})"


def test_ensure_programs_does_nothing_when_nothing_is_missing(monkeypatch, no_commands):
    monkeypatch.setattr(host.commands, "which", lambda prog: f"/usr/bin/{prog}")
    logged = []
    assert host.ensure_programs(install=True, log=logged.append) == []
    assert logged == []


def test_ensure_programs_refuses_to_install_when_not_root(monkeypatch, no_commands):
    monkeypatch.setattr(host.commands, "which", lambda prog: None if prog == "runc" else f"/usr/bin/{prog}")
    monkeypatch.setattr(host.os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError, match=r"missing programs: runc; install .*runc as root"):
        host.ensure_programs(install=True)


@pytest.fixture
def inotify_file(tmp_path, monkeypatch):
    path = tmp_path / "max_user_instances"
    monkeypatch.setattr(host, "INOTIFY_SYSCTL", str(path))
    return path


def test_ensure_inotify_instances_raises_a_lower_value(inotify_file):
    inotify_file.write_text("128\n")
    logged = []
    assert host.ensure_inotify_instances(log=logged.append) == host.INOTIFY_WANTED
    assert inotify_file.read_text() == str(host.INOTIFY_WANTED)
    assert logged == [f"raised fs.inotify.max_user_instances from 128 to {host.INOTIFY_WANTED}"]


@pytest.mark.parametrize("current", [8192, 10000])
def test_ensure_inotify_instances_leaves_a_high_enough_value(inotify_file, current):
    inotify_file.write_text(f"{current}\n")
    logged = []
    assert host.ensure_inotify_instances(log=logged.append) == current
    assert inotify_file.read_text() == f"{current}\n"
    assert logged == []


def test_ensure_inotify_instances_honours_the_wanted_argument(inotify_file):
    inotify_file.write_text("100")
    assert host.ensure_inotify_instances(wanted=300, log=lambda _m: None) == 300
    assert inotify_file.read_text() == "300"


def test_ensure_inotify_instances_without_the_sysctl_raises_prerequisite_error(inotify_file):
    with pytest.raises(PrerequisiteError, match="cannot read"):
        host.ensure_inotify_instances(log=lambda _m: None)


def test_ensure_inotify_instances_that_cannot_write_names_current_and_wanted(inotify_file, monkeypatch):
    inotify_file.write_text("128")
    real_open = open

    def read_only_open(path, mode="r", **kwargs):
        if "w" in mode:
            raise PermissionError(13, "Read-only file system")
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr("builtins.open", read_only_open)
    with pytest.raises(PrerequisiteError, match=r"is 128; .* need 8192 and it cannot be raised"):
        host.ensure_inotify_instances(log=lambda _m: None)


def test_podman_network_stack_is_required_and_found_in_podmans_own_directory(monkeypatch):
    seen = []

    def fake_which(prog, path=None):
        seen.append((prog, path))
        if prog == "netavark":
            return "/usr/lib/podman/netavark" if path and "/usr/lib/podman" in path.split(":") else None
        return f"/usr/bin/{prog}"

    monkeypatch.setattr(shutil, "which", fake_which)
    assert host.REQUIRED_PROGRAMS["netavark"] == "netavark"
    assert host.REQUIRED_PROGRAMS["iptables"] == "iptables"
    assert host.missing_programs() == {}
    monkeypatch.setattr(shutil, "which", lambda prog, path=None: None if prog == "netavark" else "/x")
    assert host.missing_programs() == {"netavark": "netavark"}

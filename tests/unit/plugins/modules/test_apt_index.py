"""oscar.cluster.apt_index: when the APT index is refreshed, and what a failure says.

The decision is tested on its own (table-driven), then the module runs in-process
with apt-get replaced by a stand-in that answers like APT 2.6 and records its calls.
"""

import contextlib
import io
import json
import os
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.oscar.cluster.plugins.modules import apt_index

MAIN = "http://deb.debian.org/debian/ bookworm/main"
SECURITY = "http://deb.debian.org/debian-security/ bookworm-security/main"


def target(lists, repo, suite, arch, optional="no"):
    name = "%s_dists_%s_main_binary-%s_Packages" % (
        repo.split("//")[1].rstrip("/").replace("/", "_"),
        suite,
        arch,
    )
    return (
        "MetaKey: main/binary-%s/Packages\nDescription: %s %s/main %s Packages\nFilename: %s/%s\n"
        "Optional: %s\nCreated-By: Packages\nComponent: main\nRelease: %s\nRepo-URI: %s\n"
        % (arch, repo, suite, arch, lists, name, optional, suite, repo)
    )


def indextargets(lists):
    """What `apt-get indextargets --no-release-info` prints for two sources."""
    paragraphs = []
    for repo, suite in (
        ("http://deb.debian.org/debian/", "bookworm"),
        ("http://deb.debian.org/debian-security/", "bookworm-security"),
    ):
        paragraphs.append(target(lists, repo, suite, "amd64"))
        paragraphs.append(target(lists, repo, suite, "all", optional="yes"))
    paragraphs.append(
        "MetaKey: main/i18n/Translation-en\nCreated-By: Translations\nFilename: %s/x_Translation-en\n" % lists
    )
    return "\n".join(paragraphs)


def test_parse_reads_each_paragraph():
    targets = apt_index.parse_index_targets(indextargets("/l"))
    assert len(targets) == 5
    assert targets[0]["Repo-URI"] == "http://deb.debian.org/debian/"
    assert targets[0]["Filename"].endswith("bookworm_main_binary-amd64_Packages")


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ([], [MAIN, SECURITY]),  # a just-built host: nothing at all
        (["debian_dists_bookworm_main_binary-amd64_Packages.lz4"], [SECURITY]),
        (
            [
                "debian_dists_bookworm_main_binary-amd64_Packages",
                "security_dists_bookworm-security_main_binary-amd64_Packages.gz",
            ],
            [],
        ),
        # binary-all alone is enough for a component (some repositories carry only that)
        (
            [
                "debian_dists_bookworm_main_binary-all_Packages.xz",
                "security_dists_bookworm-security_main_binary-all_Packages",
            ],
            [],
        ),
        # a translation is not a package index
        (["x_Translation-en"], [MAIN, SECURITY]),
    ],
)
def test_missing_indexes(present, missing):
    def exists(path):
        return any(path.endswith(name) for name in present)

    assert (
        apt_index.missing_indexes(apt_index.parse_index_targets(indextargets("/l")), exists=exists) == missing
    )


NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("missing", "stamp", "sources", "force", "expected"),
    [
        ([], NOW - 10, NOW - 100, False, None),
        ([], NOW - 10, NOW - 100, True, "asked to (force)"),
        ([MAIN], NOW - 10, NOW - 100, False, "no package index for %s" % MAIN),
        ([MAIN, SECURITY], NOW - 10, NOW - 100, False, "no package index for %s and 1 more" % MAIN),
        ([], None, NOW - 100, False, "no record of a successful refresh"),
        ([], NOW - 100, NOW - 10, False, "the APT sources changed after the last refresh"),
        ([], NOW - 7200, NOW - 9000, False, "the last refresh is 7200 s old, more than 3600 s"),
    ],
)
def test_refresh_reason(missing, stamp, sources, force, expected):
    reason = apt_index.refresh_reason(
        missing, stamp_mtime=stamp, sources_mtime=sources, now=NOW, valid_time=3600, force=force
    )
    if expected is None:
        assert reason is None
    else:
        assert reason.startswith(expected)


def test_a_new_empty_lists_directory_is_not_fresh(tmp_path):
    """The defect this module exists for: a lists directory made a second ago, with nothing in it."""
    lists = tmp_path / "lists"
    lists.mkdir()
    targets = apt_index.parse_index_targets(indextargets(str(lists)))
    reason = apt_index.refresh_reason(
        apt_index.missing_indexes(targets),
        stamp_mtime=NOW - 1,
        sources_mtime=0.0,
        now=NOW,
        valid_time=3600,
        force=False,
    )
    assert reason == "no package index for %s and 1 more" % MAIN


def test_newest_mtime_reads_files_in_directories(tmp_path):
    listing = tmp_path / "sources.list.d"
    listing.mkdir()
    old = tmp_path / "sources.list"
    old.write_text("deb x y z\n")
    os.utime(old, (100, 100))
    added = listing / "extra.sources"
    added.write_text("Types: deb\n")
    os.utime(added, (300, 300))
    os.utime(listing, (200, 200))
    assert apt_index.newest_mtime([str(old), str(listing), str(tmp_path / "absent")]) == 300


class FakeApt:
    """apt-get as the module sees it: indextargets from a lists directory, update fills it."""

    def __init__(self, lists, update_rc=0, update_err=""):
        self.lists = lists
        self.update_rc = update_rc
        self.update_err = update_err
        # Exit statuses of the first updates, before update_rc: 124 is a run timeout stopped.
        self.first_updates = []
        self.calls = []
        self.timeouts = []

    def __call__(self, module, args, environ_update=None, **kwargs):
        if os.path.basename(args[0]) == "timeout":
            assert args[1] == "--kill-after=10"
            self.timeouts.append(int(args[2]))
            args = args[3:]
        self.calls.append(args[1:])
        assert environ_update["LC_ALL"] == "C"
        if args[1] == "indextargets":
            return 0, indextargets(str(self.lists)), ""
        if args[1] == "update":
            if self.first_updates:
                return self.first_updates.pop(0), "", ""
            if self.update_rc == 0:
                for name in ("debian_dists_bookworm", "debian-security_dists_bookworm-security"):
                    (self.lists / ("deb.debian.org_%s_main_binary-amd64_Packages" % name)).write_text(
                        "Package: x\n"
                    )
            return self.update_rc, "", self.update_err
        raise AssertionError(args)


@pytest.fixture
def apt(tmp_path, monkeypatch):
    lists = tmp_path / "lists"
    lists.mkdir()
    stamp = tmp_path / "periodic" / "update-success-stamp"
    monkeypatch.setattr(apt_index, "STAMP", str(stamp))
    monkeypatch.setattr(apt_index, "SOURCES", (str(tmp_path / "sources.list"),))
    fake = FakeApt(lists)

    def run_command(module, args, **kwargs):
        return fake(module, args, **kwargs)

    monkeypatch.setattr("ansible.module_utils.basic.AnsibleModule.run_command", run_command)
    monkeypatch.setattr(
        "ansible.module_utils.basic.AnsibleModule.get_bin_path",
        lambda self, name, required=False: "/usr/bin/" + name,
    )
    fake.stamp = stamp
    return fake


def run_module(check_mode=False, **args):
    args.update(_ansible_check_mode=check_mode)
    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output), pytest.raises(SystemExit) as exit_info:
        apt_index.main()
    answer = json.loads(output.getvalue())
    answer["rc"] = exit_info.value.code
    return answer


def test_a_just_built_host_is_refreshed_once(apt):
    first = run_module()
    assert first["refreshed"] and first["changed"]
    assert first["reason"].startswith("no package index for")
    assert ["update", "-q", "--error-on=any"] in apt.calls
    assert apt.stamp.exists()
    apt.calls.clear()
    second = run_module()
    assert not second["refreshed"] and not second["changed"]
    assert all(call[0] != "update" for call in apt.calls)


def test_a_stale_index_is_refreshed(apt):
    run_module()
    old = time.time() - 7200
    os.utime(apt.stamp, (old, old))
    answer = run_module(valid_time=3600)
    assert answer["refreshed"] and answer["reason"].startswith("the last refresh is")


def test_check_mode_says_why_and_refreshes_nothing(apt):
    answer = run_module(check_mode=True)
    assert answer["changed"] and answer["refreshed"]
    assert all(call[0] != "update" for call in apt.calls)
    assert not apt.stamp.exists()


def test_a_failed_refresh_fails_with_apts_words(apt):
    apt.update_rc = 100
    apt.update_err = (
        "E: Failed to fetch http://10.0.0.1:3142/debian/dists/bookworm/InRelease  Connection refused"
    )
    answer = run_module()
    assert answer["rc"] == 1 and answer["failed"]
    assert "apt-get update failed (exit 100)" in answer["msg"]
    assert "Connection refused" in answer["msg"]
    assert not apt.stamp.exists()


def test_a_negative_valid_time_is_refused(apt):
    answer = run_module(valid_time=-1)
    assert answer["failed"] and "valid_time must be 0 or more" in answer["msg"]
    assert apt.calls == []


def test_a_refresh_that_hangs_is_stopped_and_run_again(apt):
    # As behind a cache that closed the connection apt's HTTP method waited on.
    apt.first_updates = [124]
    answer = run_module(timeout=60)
    assert answer["changed"] is True and not answer.get("failed")
    assert apt.timeouts == [60, 60]
    assert [call for call in apt.calls if call[0] == "update"] == [["update", "-q", "--error-on=any"]] * 2
    assert apt.stamp.exists()


def test_a_refresh_that_fails_every_attempt_fails_with_the_last(apt):
    apt.first_updates = [124, 100]
    apt.update_rc = 100
    apt.update_err = "E: Failed to fetch http://10.0.0.1:3142/debian/dists/bookworm/InRelease  503"
    answer = run_module(attempts=3)
    assert answer["failed"]
    assert "apt-get update failed (exit 100)" in answer["msg"] and "(attempt 3 of 3)" in answer["msg"]
    assert len([call for call in apt.calls if call[0] == "update"]) == 3
    assert not apt.stamp.exists()


def test_timeout_and_attempts_below_one_are_refused(apt):
    for name in ("timeout", "attempts"):
        answer = run_module(**{name: 0})
        assert answer["failed"] and "%s must be 1 or more" % name in answer["msg"]
    assert apt.calls == []

"""switcher: every verb and every bad input, in-process and as a real process."""

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from .conftest import SCRIPT, Sandbox

# ---------------------------------------------------------------- listing


def test_list_shows_every_tag_with_its_description(sandbox):
    status, out, err = sandbox.run("--list")
    assert (status, err) == (0, "")
    assert out.splitlines() == ["compiler  C compiler", "mpi       MPI implementation"]


def test_list_without_tags_says_so(sandbox):
    sandbox.write_catalog({"always": [], "tags": []})
    status, out, _err = sandbox.run("--list")
    assert status == 0
    assert "no tags are defined" in out


def test_tag_list_marks_the_current_and_the_system_default(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n")
    sandbox.user_file.write_text("[mpi]\ndefault = mpich\n")
    status, out, _err = sandbox.run("mpi", "--list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "mpich    MPICH (current)"
    assert lines[1] == "openmpi  Open MPI (system default)"
    assert lines[2] == "none     no module for 'mpi'"


def test_tag_list_of_an_unknown_tag_is_refused(sandbox):
    status, out, err = sandbox.run("gpu", "--list")
    assert status == 1
    assert out == ""
    assert "unknown tag 'gpu'" in err
    assert "compiler, mpi" in err


# ---------------------------------------------------------------- setting


def test_setting_the_user_default_writes_the_user_file(sandbox):
    status, out, err = sandbox.run("mpi", "=", "mpich")
    assert (status, err) == (0, "")
    assert "your mpi:default = mpich (changed)" in out
    assert "switcher-reload" in out
    assert "default = mpich" in sandbox.user_file.read_text()
    assert not sandbox.system_file.exists()


def test_setting_the_same_default_again_changes_nothing(sandbox):
    sandbox.run("mpi", "=", "mpich")
    before = sandbox.user_file.stat().st_mtime_ns
    status, out, _err = sandbox.run("mpi", "=", "mpich")
    assert status == 0
    assert "is already mpich (unchanged)" in out
    assert sandbox.user_file.stat().st_mtime_ns == before


def test_silent_prints_nothing_on_success(sandbox):
    assert sandbox.run("mpi", "=", "mpich", "--silent") == (0, "", "")
    assert "mpich" in sandbox.user_file.read_text()


def test_none_is_a_name_of_every_tag(sandbox):
    assert sandbox.run("mpi", "=", "none")[0] == 0
    assert sandbox.run("--modules")[1].split() == ["cluster-env"]


def test_an_unknown_tag_is_refused_and_nothing_is_written(sandbox):
    status, out, err = sandbox.run("gpu", "=", "cuda")
    assert status == 1
    assert out == ""
    assert "unknown tag 'gpu'" in err
    assert not sandbox.user_file.exists()


def test_an_unknown_name_is_refused_naming_the_choices(sandbox):
    sandbox.user_file.write_text("[mpi]\ndefault = openmpi\n")
    status, _out, err = sandbox.run("mpi", "=", "lam")
    assert status == 1
    assert "'lam' is not a name of tag 'mpi' (names: mpich, openmpi, none)" in err
    assert sandbox.user_file.read_text() == "[mpi]\ndefault = openmpi\n"


@pytest.mark.parametrize("name", ["-rf", "open mpi", "mpi/openmpi", "$(reboot)", ""])
def test_a_malformed_name_is_refused(sandbox, capsys, name):
    status, _out, err = sandbox.run("mpi", "=", name)
    assert status in {1, 2}
    # argparse reports an option-like word itself, on the real stderr.
    assert err or capsys.readouterr().err
    assert not sandbox.user_file.exists()


def test_any_attribute_can_be_set(sandbox):
    status, out, _err = sandbox.run("mpi", "hosts", "=", "node[001-004]")
    assert status == 0
    assert "your mpi:hosts = node[001-004] (changed)" in out
    assert sandbox.run("mpi", "--show")[1].strip() == "mpi:hosts  node[001-004]  (user mpi)"


@pytest.mark.parametrize("attr", ["1st", "with space", "a=b", "-x", "é"])
def test_a_bad_attribute_name_is_refused(sandbox, capsys, attr):
    status, _out, err = sandbox.run("mpi", attr, "=", "value")
    assert status in {1, 2}
    err = err or capsys.readouterr().err
    assert "attribute name" in err or "usage" in err
    assert not sandbox.user_file.exists()


@pytest.mark.parametrize("value", [" padded", "line\nbreak", "tab\there", "x" * 257])
def test_a_bad_attribute_value_is_refused(sandbox, value):
    status, _out, err = sandbox.run("mpi", "note", "=", value)
    assert status == 1
    assert "invalid value" in err
    assert not sandbox.user_file.exists()


def test_global_accepts_none_and_names_of_some_tag(sandbox):
    assert sandbox.run("global", "=", "none")[0] == 0
    assert sandbox.run("global", "=", "clang")[0] == 0
    status, _out, err = sandbox.run("global", "=", "lam")
    assert status == 1
    assert "'lam' is not a name of any tag" in err


def test_a_corrupt_user_file_is_refused_and_left_alone(sandbox):
    sandbox.user_file.write_text("default = mpich\n[mpi\n")
    status, _out, err = sandbox.run("mpi", "=", "mpich")
    assert status == 1
    assert str(sandbox.user_file) in err
    assert "nothing was changed" in err
    assert sandbox.user_file.read_text() == "default = mpich\n[mpi\n"


def test_writes_keep_the_mode_and_leave_no_temporary_file(sandbox):
    sandbox.user_file.write_text("[mpi]\ndefault = openmpi\n")
    sandbox.user_file.chmod(0o600)
    sandbox.run("mpi", "=", "mpich")
    assert stat.S_IMODE(sandbox.user_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in sandbox.home.iterdir()) == [".switcher.ini", ".switcher.ini.lock"]


def test_home_must_be_set(sandbox, monkeypatch):
    monkeypatch.setenv("HOME", "relative")
    status, _out, err = sandbox.run("mpi", "=", "mpich")
    assert status == 1
    assert "HOME" in err


# ---------------------------------------------------------------- --system


def test_system_default_as_root_writes_the_system_file(sandbox):
    sandbox.root_user(True)
    status, out, _err = sandbox.run("mpi", "=", "mpich", "--system")
    assert status == 0
    assert "system mpi:default = mpich (changed)" in out
    assert "default = mpich" in sandbox.system_file.read_text()
    assert not sandbox.user_file.exists()


def test_system_default_is_refused_to_other_users(sandbox):
    status, _out, err = sandbox.run("mpi", "=", "mpich", "--system")
    assert status == 1
    assert "run it as root" in err
    assert not sandbox.system_file.exists()


def test_system_checks_the_name_before_the_user(sandbox):
    status, _out, err = sandbox.run("mpi", "=", "lam", "--system")
    assert status == 1
    assert "'lam' is not a name" in err


# ---------------------------------------------------------------- --show and resolution


def test_resolution_order_user_tag_user_global_system_tag_system_global(sandbox):
    sandbox.system_file.write_text(
        "[global]\na = sg\nb = sg\nc = sg\nd = sg\n[mpi]\na = st\nb = st\nc = st\n"
    )
    sandbox.user_file.write_text("[global]\na = ug\nb = ug\n[mpi]\na = ut\n")
    status, out, _err = sandbox.run("mpi", "--show")
    assert status == 0
    assert out.splitlines() == [
        "mpi:a  ut  (user mpi)",
        "mpi:b  ug  (user global)",
        "mpi:c  st  (system mpi)",
        "mpi:d  sg  (system global)",
    ]


def test_show_user_and_system_show_one_file_each(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n")
    sandbox.user_file.write_text("[mpi]\ndefault = mpich\n")
    assert sandbox.run("mpi", "--show", "--user")[1].strip() == "mpi:default  mpich  (user mpi)"
    assert sandbox.run("mpi", "--show", "--system")[1].strip() == "mpi:default  openmpi  (system mpi)"


def test_show_without_attributes_says_so(sandbox):
    assert sandbox.run("compiler", "--show")[1].strip() == "switcher: no attributes for 'compiler'"


def test_show_of_an_unknown_tag_is_refused(sandbox):
    status, _out, err = sandbox.run("gpu", "--show")
    assert status == 1
    assert "unknown tag 'gpu'" in err


def test_a_user_global_none_overrides_the_system_tag_default(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n[compiler]\ndefault = gcc\n")
    sandbox.user_file.write_text("[global]\ndefault = none\n[compiler]\ndefault = clang\n")
    assert sandbox.run("--modules")[1].split() == ["cluster-env", "compiler/clang"]


def test_a_stale_user_choice_falls_back_with_a_warning(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n")
    sandbox.user_file.write_text("[mpi]\ndefault = lam\n")
    status, out, err = sandbox.run("--modules")
    assert status == 0
    assert out.split() == ["cluster-env", "mpi/openmpi"]
    assert "ignoring user default 'lam' for 'mpi'" in err


def test_a_global_name_applies_only_to_the_tags_that_have_it(sandbox):
    sandbox.system_file.write_text("[global]\ndefault = mpich\n")
    assert sandbox.run("--modules")[1].split() == ["cluster-env", "mpi/mpich"]


# ---------------------------------------------------------------- --rm-attr


def test_rm_attr_removes_the_attribute(sandbox):
    sandbox.user_file.write_text("[mpi]\ndefault = mpich\nnote = x\n")
    status, out, _err = sandbox.run("mpi", "--rm-attr", "note")
    assert status == 0
    assert "your attribute mpi:note removed (changed)" in out
    assert "note" not in sandbox.user_file.read_text()
    assert "default = mpich" in sandbox.user_file.read_text()


def test_rm_attr_of_an_unset_attribute_changes_nothing(sandbox):
    status, out, _err = sandbox.run("mpi", "--rm-attr", "default")
    assert status == 0
    assert "was not set (unchanged)" in out
    assert not sandbox.user_file.exists()


def test_rm_attr_restores_the_system_default(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n")
    sandbox.run("mpi", "=", "mpich")
    sandbox.run("mpi", "--rm-attr", "default")
    assert sandbox.run("--modules")[1].split() == ["cluster-env", "mpi/openmpi"]


def test_rm_attr_system_needs_root(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n")
    status, _out, err = sandbox.run("mpi", "--rm-attr", "default", "--system")
    assert status == 1
    assert "run it as root" in err
    sandbox.root_user(True)
    assert sandbox.run("mpi", "--rm-attr", "default", "--system")[0] == 0
    assert "default =" not in sandbox.system_file.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [(("gpu", "--rm-attr", "x"), "unknown tag"), (("mpi", "--rm-attr", "9"), "attribute name")],
)
def test_rm_attr_bad_input_is_refused(sandbox, argv, message):
    status, _out, err = sandbox.run(*argv)
    assert status == 1
    assert message in err


# ---------------------------------------------------------------- the shells' verbs


def test_modules_lists_the_unconditional_then_the_chosen(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n[compiler]\ndefault = gcc\n")
    sandbox.user_file.write_text("[mpi]\ndefault = mpich\n")
    assert sandbox.run("--modules") == (0, "cluster-env compiler/gcc mpi/mpich\n", "")


def test_modules_survives_a_corrupt_user_file(sandbox):
    sandbox.system_file.write_text("[mpi]\ndefault = openmpi\n")
    sandbox.user_file.write_text("[mpi\n")
    status, out, err = sandbox.run("--modules")
    assert status == 0
    assert out.split() == ["cluster-env", "mpi/openmpi"]
    assert "ignored at shell start" in err


def test_modules_survives_a_missing_catalog(sandbox):
    (sandbox.etc / "catalog.json").unlink()
    assert sandbox.run("--modules")[:2] == (0, "\n")


def test_managed_modules_lists_every_module(sandbox):
    assert sandbox.run("--managed-modules")[1].split() == [
        "cluster-env",
        "compiler/clang",
        "compiler/gcc",
        "mpi/mpich",
        "mpi/openmpi",
    ]


# ---------------------------------------------------------------- catalog problems


def test_a_missing_catalog_is_explained(sandbox):
    (sandbox.etc / "catalog.json").unlink()
    status, _out, err = sandbox.run("--list")
    assert status == 1
    assert "no catalog at" in err
    assert "env_switcher role" in err


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"tags": [{"name": "mpi"}]}), json.dumps({"tags": 3})]
)
def test_a_malformed_catalog_is_refused(sandbox, content):
    (sandbox.etc / "catalog.json").write_text(content)
    status, _out, err = sandbox.run("--list")
    assert status == 1
    assert "catalog" in err


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "nothing to do"),
        (("mpi", "openmpi"), "cannot understand"),
        (
            (
                "mpi",
                "=",
            ),
            "cannot understand",
        ),
        (("mpi", "a", "b", "=", "c"), "cannot understand"),
        (("a", "b", "--list"), "at most one tag"),
        (("--show",), "exactly one tag"),
        (("mpi", "--user"), "--user only goes with --show"),
        (("--list", "--system"), "--system goes with"),
        (("mpi", "--list", "--show"), "give one of"),
        (("--modules", "mpi"), "unexpected arguments"),
    ],
)
def test_usage_errors_exit_2_with_the_usage(sandbox, argv, message):
    status, out, err = sandbox.run(*argv)
    assert status == 2
    assert out == ""
    assert message in err
    assert "usage:" in err


def test_unknown_options_exit_2(sandbox, capsys):
    assert sandbox.run("--frobnicate")[0] == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_user_and_system_together_exit_2(sandbox, capsys):
    assert sandbox.run("mpi", "--show", "--user", "--system")[0] == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_help_and_version(sandbox, capsys):
    assert sandbox.run("--help")[0] == 0
    assert "switcher TAG = NAME [--system]" in capsys.readouterr().out
    assert sandbox.run("--version")[0] == 0
    assert capsys.readouterr().out.startswith("switcher ")


# ---------------------------------------------------------------- real processes


def test_every_verb_as_a_process(sandbox):
    assert sandbox.spawn("--list").stdout.startswith("compiler")
    assert sandbox.spawn("mpi", "=", "mpich").returncode == 0
    assert "mpich" in sandbox.spawn("mpi", "--list").stdout
    assert "(user mpi)" in sandbox.spawn("mpi", "--show").stdout
    assert sandbox.spawn("--modules").stdout.split() == ["cluster-env", "mpi/mpich"]
    assert sandbox.spawn("mpi", "--rm-attr", "default").returncode == 0
    assert sandbox.spawn("--modules").stdout.split() == ["cluster-env"]
    refused = sandbox.spawn("mpi", "=", "lam")
    assert refused.returncode == 1
    assert "not a name of tag 'mpi'" in refused.stderr
    assert sandbox.spawn().returncode == 2


def unprivileged_prefix(sandbox):
    """Run as nobody when the tests run as root; as the current user otherwise."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test --system as a non-root user"
    nobody = pwd.getpwnam("nobody")
    sandbox.home.chmod(0o777)
    # nobody must be able to read the script along the whole path.
    assert (
        subprocess.run(
            [
                setpriv,
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                "test",
                "-r",
                str(SCRIPT),
            ],
            check=False,
        ).returncode
        == 0
    ), f"user nobody cannot read {SCRIPT}"
    return (setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups")


def test_system_is_refused_to_a_real_unprivileged_process(switcher, monkeypatch):
    # pytest's own temporary directories are private to root: use one nobody can enter.
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o755)
        sandbox = Sandbox(Path(root), switcher, monkeypatch)
        check_refused_to_unprivileged(sandbox)


def check_refused_to_unprivileged(sandbox):
    result = sandbox.spawn("mpi", "=", "mpich", "--system", prefix=unprivileged_prefix(sandbox))
    assert result.returncode == 1
    assert "run it as root" in result.stderr
    assert not sandbox.system_file.exists()


def test_system_as_a_real_root_process(sandbox):
    if os.geteuid() != 0:
        pytest.fail("this test must run as root: it checks that root can set the system default")
    result = sandbox.spawn("mpi", "=", "mpich", "--system")
    assert result.returncode == 0, result.stderr
    assert "default = mpich" in sandbox.system_file.read_text()


def test_concurrent_changes_are_all_kept(sandbox):
    attrs = [f"attr{i}" for i in range(16)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "mpi", attr, "=", f"value{i}", "--silent"],
            env=sandbox.env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, attr in enumerate(attrs)
    ]
    # Meanwhile the file is never half-written: every read parses.
    seen_errors = []

    def read_while_writing():
        while any(p.poll() is None for p in processes):
            if sandbox.user_file.exists():
                status, _out, err = sandbox.run("mpi", "--show", "--user")
                if status != 0:
                    seen_errors.append(err)

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read()
    reader.join()
    assert seen_errors == []
    shown = sandbox.run("mpi", "--show", "--user")[1]
    for i, attr in enumerate(attrs):
        assert f"mpi:{attr}" in shown
        assert f"value{i}" in shown

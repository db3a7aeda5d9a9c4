"""The one wrapper for external commands (run with the test's own Python, never podman)."""

import os
import sys

import pytest

from oscar_testbed import commands
from oscar_testbed.errors import CommandError, PrerequisiteError

PYTHON = sys.executable


def python(code):
    return [PYTHON, "-c", code]


def test_command_env_fixes_the_locale_and_adds_extras(monkeypatch):
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    monkeypatch.setenv("OSCAR_MARKER", "kept")
    env = commands.command_env({"DEBIAN_FRONTEND": "noninteractive"})
    assert (env["LANG"], env["LC_ALL"]) == ("C", "C")
    assert env["OSCAR_MARKER"] == "kept"
    assert env["DEBIAN_FRONTEND"] == "noninteractive"
    assert os.environ["LANG"] == "de_DE.UTF-8"


def test_find_program_returns_an_absolute_path():
    path = commands.find_program("sh")
    assert os.path.isabs(path)
    assert os.access(path, os.X_OK)


def test_find_program_names_a_missing_program():
    with pytest.raises(PrerequisiteError, match="'no-such-program-oscar' is not installed"):
        commands.find_program("no-such-program-oscar")


def test_run_captures_text_output_with_a_fixed_locale():
    result = commands.run(python("import os; print(os.environ['LC_ALL'], os.environ['LANG'])"))
    assert result.returncode == 0
    assert result.stdout == "C C\n"


def test_run_feeds_input_and_extra_environment():
    result = commands.run(
        python("import os, sys; print(sys.stdin.read().upper(), os.environ['EXTRA'])"),
        input_text="hello",
        env={"EXTRA": "yes"},
    )
    assert result.stdout == "HELLO yes\n"


def test_run_raises_command_error_with_the_last_stderr_line():
    argv = python("import sys; sys.stderr.write('first\\nError: broken\\n'); sys.exit(3)")
    with pytest.raises(CommandError) as caught:
        commands.run(argv)
    assert caught.value.returncode == 3
    assert caught.value.argv == argv
    assert str(caught.value).endswith("exited 3: Error: broken")


def test_run_falls_back_to_stdout_when_stderr_is_empty():
    with pytest.raises(CommandError, match="exited 1: only on stdout"):
        commands.run(python("print('only on stdout'); raise SystemExit(1)"))


def test_run_without_check_returns_the_failure():
    assert commands.run(python("raise SystemExit(4)"), check=False).returncode == 4


def test_run_of_a_missing_program_raises_prerequisite_error():
    with pytest.raises(PrerequisiteError, match="'/nonexistent/oscar-tool' is not installed"):
        commands.run(["/nonexistent/oscar-tool", "--version"])


def test_run_that_times_out_raises_command_error():
    with pytest.raises(CommandError, match=r"exited -1: timed out after 0.2 s"):
        commands.run(python("import time; time.sleep(10)"), timeout=0.2)


def test_podman_adds_the_global_runtime_options(monkeypatch):
    seen = []
    monkeypatch.setattr(commands, "find_program", lambda name: f"/fake/bin/{name}")
    monkeypatch.setattr(commands, "run", lambda argv, **kwargs: seen.append((argv, kwargs)))
    commands.podman("ps", "--all", check=False, timeout=9)
    assert seen == [
        (
            ["/fake/bin/podman", "--runtime", "runc", "ps", "--all"],
            {"check": False, "input_text": None, "timeout": 9},
        )
    ]


def test_pipe_feeds_the_producer_into_the_consumer():
    result = commands.pipe(
        python("print('a'); print('b')"),
        python("import sys; print(sorted(sys.stdin.read().split(), reverse=True))"),
    )
    assert result.stdout == "['b', 'a']\n"


@pytest.mark.parametrize(
    ("producer_code", "consumer_code", "failing", "message"),
    [
        (
            "import sys; sys.stderr.write('tar: cannot read\\n'); sys.exit(2)",
            "import sys; sys.stdin.read()",
            0,
            "exited 2: tar: cannot read",
        ),
        (
            "print('data')",
            "import sys; sys.stdin.read(); sys.stderr.write('import failed\\n'); sys.exit(5)",
            1,
            "exited 5: import failed",
        ),
    ],
)
def test_pipe_raises_for_whichever_side_failed(producer_code, consumer_code, failing, message):
    producer, consumer = python(producer_code), python(consumer_code)
    with pytest.raises(CommandError) as caught:
        commands.pipe(producer, consumer)
    assert caught.value.argv == [producer, consumer][failing]
    assert str(caught.value).endswith(message)

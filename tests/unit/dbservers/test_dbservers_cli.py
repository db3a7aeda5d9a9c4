"""The oscar_dbservers command line: verbs, exit codes and messages, on a state root of its own."""

import json
import os
import subprocess
import sys

import pytest
from oscar_dbservers import cli, servers


@pytest.fixture
def state_root(tmp_path, monkeypatch):
    monkeypatch.setenv(servers.STATE_ENV, str(tmp_path))
    return tmp_path


def write_server(root, name="srv", kind="postgresql"):
    directory = root / name
    directory.mkdir()
    state = {
        "name": name,
        "kind": kind,
        "port": 45678,
        "user": "oda",
        "database": "oda",
        "password": "c0ffee",
        "durable": False,
        "data_dir": str(directory / "data"),
    }
    (directory / "state.json").write_text(json.dumps(state))


def test_help_lists_every_verb():
    result = subprocess.run(
        [sys.executable, "-m", "oscar_dbservers", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for verb in ("prerequisites", "start", "stop", "status", "url", "env"):
        assert verb in result.stdout


@pytest.mark.parametrize(
    "argv",
    [[], ["start", "x"], ["start", "x", "--kind", "oracle"], ["stop"], ["fly"]],
)
def test_a_command_line_that_does_not_parse_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["url", "nothing"], 5, "no database server 'nothing' in "),
        (["stop", "nothing"], 5, "no database server 'nothing' in "),
        (["env", "nothing"], 5, "no database server 'nothing' in "),
        (["url", "Bad_Name"], 1, "invalid server name 'Bad_Name'"),
        (["start", "srv", "--kind", "mariadb"], 7, "exists as postgresql, not mariadb"),
        (["url", "srv", "--database", "x;y"], 1, "invalid database name 'x;y'"),
    ],
)
def test_refusals_exit_with_their_code_and_a_message(state_root, capsys, argv, code, message):
    write_server(state_root)
    assert cli.main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.startswith("oscar_dbservers: error: ")
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_url_status_and_env_print_what_a_shell_needs(state_root, capsys):
    write_server(state_root)
    assert cli.main(["url", "srv"]) == 0
    assert capsys.readouterr().out == "postgresql://oda@127.0.0.1:45678/oda\n"
    assert cli.main(["url", "srv", "--database", "other"]) == 0
    assert capsys.readouterr().out == "postgresql://oda@127.0.0.1:45678/other\n"
    assert cli.main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "STATE", "URL"]
    assert lines[1].split() == ["srv", "postgresql", "stopped", "postgresql://oda@127.0.0.1:45678/oda"]
    assert cli.main(["env", "srv"]) == 0
    assert capsys.readouterr().out == (
        "export OSCAR_ODA_URL=postgresql://oda@127.0.0.1:45678/oda\nexport OSCAR_ODA_PASSWORD=c0ffee\n"
    )


def test_status_of_an_empty_state_root_is_the_header_alone(state_root, capsys):
    assert cli.main(["status"]) == 0
    assert capsys.readouterr().out.split() == ["NAME", "KIND", "STATE", "URL"]
    assert not os.listdir(state_root)

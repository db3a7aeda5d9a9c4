"""The `testbed` command line: parsing, dispatch and error reporting."""

import json

import pytest

from oscar_testbed import cli, errors, testbed


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["up"],
            {
                "verb": "up",
                "name": None,
                "nodes": 4,
                "standby": False,
                "route_out": False,
                "timeout": testbed.DEFAULT_BOOT_TIMEOUT,
                "rebuild_image": False,
                "release": "bookworm",
            },
        ),
        (["up", "--release", "trixie"], {"verb": "up", "release": "trixie"}),
        (
            ["--name", "ci", "up", "--nodes", "12", "--standby", "--route-out", "--timeout", "60"],
            {"verb": "up", "name": "ci", "nodes": 12, "standby": True, "route_out": True, "timeout": 60},
        ),
        (["up", "--rebuild-image"], {"rebuild_image": True}),
        (["down"], {"verb": "down"}),
        (["list"], {"verb": "list"}),
        (["status"], {"verb": "status", "json": False}),
        (["status", "--json"], {"verb": "status", "json": True}),
        (["inventory"], {"verb": "inventory"}),
        (["ssh-config"], {"verb": "ssh-config"}),
        (["ssh", "node001"], {"verb": "ssh", "host": "node001", "command": []}),
        (["ssh", "head", "uname", "-a"], {"verb": "ssh", "host": "head", "command": ["uname", "-a"]}),
        (["stop", "node002"], {"verb": "stop", "host": "node002"}),
        (["start", "node002"], {"verb": "start", "host": "node002"}),
        (["kill", "head"], {"verb": "kill", "host": "head"}),
        (["pause", "node001"], {"verb": "pause", "host": "node001"}),
        (["unpause", "node001"], {"verb": "unpause", "host": "node001"}),
        (["disconnect", "head"], {"verb": "disconnect", "host": "head", "network": None}),
        (
            ["disconnect", "head", "--network", "private"],
            {"verb": "disconnect", "host": "head", "network": "private"},
        ),
        (
            ["reconnect", "node003", "--network", "public"],
            {"verb": "reconnect", "host": "node003", "network": "public"},
        ),
        (["image"], {"verb": "image", "rebuild": False, "release": "bookworm"}),
        (["image", "--release", "trixie"], {"verb": "image", "release": "trixie"}),
        (["image", "--rebuild"], {"verb": "image", "rebuild": True}),
        (["clean-images"], {"verb": "clean-images"}),
    ],
)
def test_build_parser_parses_each_verb(argv, expected):
    args = vars(cli.build_parser().parse_args(argv))
    assert {key: args[key] for key in expected} == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["disconnect", "head", "--network", "storage"],
        ["up", "--nodes", "many"],
        ["up", "--release", "sid"],
        ["image", "--release", "13"],
        ["stop"],
        ["explode"],
    ],
)
def test_a_command_line_that_does_not_parse_exits_with_status_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert "usage: testbed" in capsys.readouterr().err


def test_main_exits_2_for_an_invalid_network_choice(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["disconnect", "head", "--network", "storage"])
    assert caught.value.code == 2
    assert "invalid choice: 'storage'" in capsys.readouterr().err


TESTBED_ERRORS = [
    errors.TestbedError("invalid testbed name 'X'"),
    errors.PrerequisiteError("required program 'podman' is not installed"),
    errors.CapacityError("300 compute nodes do not fit"),
    errors.UnknownTestbedError("no testbed named 'tb'"),
    errors.UnknownHostError("testbed 'tb' has no host 'node009'"),
    errors.TestbedExistsError("testbed 'tb' already exists"),
    errors.CommandError(["podman", "rm", "x"], 125, "Error: no such container\n"),
    errors.NotReadyError("sshd did not answer within 5 s on: node001"),
]


@pytest.mark.parametrize("error", TESTBED_ERRORS, ids=lambda e: type(e).__name__)
def test_main_turns_a_testbed_error_into_its_exit_code_and_one_message(monkeypatch, capsys, error):
    def failing_run(args):
        raise error

    monkeypatch.setattr(cli, "run", failing_run)
    assert cli.main(["status"]) == error.exit_code
    captured = capsys.readouterr()
    assert captured.err == f"testbed: error: {error}\n"
    assert captured.out == ""


def test_main_returns_what_run_returns_and_passes_the_parsed_arguments(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "run", lambda args: seen.append(args) or 0)
    assert cli.main(["--name", "ci", "kill", "node004"]) == 0
    assert (seen[0].name, seen[0].verb, seen[0].host) == ("ci", "kill", "node004")


def test_main_reports_an_interrupt_with_status_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    assert cli.main(["down"]) == 130
    assert capsys.readouterr().err == "testbed: interrupted\n"


def test_main_lets_unexpected_exceptions_through(monkeypatch):
    def broken(args):
        raise RuntimeError("bug")

    monkeypatch.setattr(cli, "run", broken)
    with pytest.raises(RuntimeError, match="bug"):
        cli.main(["down"])


@pytest.fixture
def recording_testbed(monkeypatch):
    """Replace testbed.Testbed with a stand-in that records the calls run() makes."""
    instances = []

    class RecordingTestbed:
        def __init__(self, name=None):
            self.name = name
            self.calls = []
            instances.append(self)

        def __getattr__(self, verb):
            def record(*args):
                self.calls.append((verb, *args))

            return record

    monkeypatch.setattr(cli.testbed, "Testbed", RecordingTestbed)
    return instances


@pytest.mark.parametrize(
    ("argv", "name", "call"),
    [
        (["stop", "node001"], None, ("stop", "node001")),
        (["--name", "ci", "kill", "head"], "ci", ("kill", "head")),
        (["pause", "node002"], None, ("pause", "node002")),
        (["unpause", "node002"], None, ("unpause", "node002")),
        (["forget-apt-index", "head"], None, ("forget_apt_index", "head")),
        (["start", "standby"], None, ("start", "standby")),
        (["disconnect", "head", "--network", "private"], None, ("disconnect", "head", "private")),
        (["reconnect", "head"], None, ("reconnect", "head", None)),
        (["down"], None, ("down",)),
    ],
)
def test_run_dispatches_host_verbs_to_the_named_testbed(recording_testbed, argv, name, call):
    assert cli.run(cli.build_parser().parse_args(argv)) == 0
    [bed] = recording_testbed
    assert bed.name == name
    assert bed.calls == [call]


def test_run_list_prints_one_testbed_per_line(monkeypatch, capsys):
    monkeypatch.setattr(cli.testbed, "list_testbeds", lambda: ["alpha", "beta"])
    assert cli.run(cli.build_parser().parse_args(["list"])) == 0
    assert capsys.readouterr().out == "alpha\nbeta\n"


def test_help_of_up_names_the_releases(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["up", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--release {bookworm,trixie}" in out
    assert "trixie (Debian 13)" in out


def test_run_up_passes_the_release_to_the_testbed(monkeypatch, capsys):
    seen = {}

    class UpTestbed:
        def __init__(self, name=None):
            self.name = name

        def up(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(cli.testbed, "Testbed", UpTestbed)
    monkeypatch.setattr(cli, "print_status", lambda bed: None)
    assert cli.run(cli.build_parser().parse_args(["up", "--nodes", "2", "--release", "trixie"])) == 0
    assert (seen["suite"], seen["compute_nodes"]) == ("trixie", 2)


@pytest.mark.parametrize(
    ("argv", "suite"), [(["image"], "bookworm"), (["image", "--release", "trixie"], "trixie")]
)
def test_run_image_builds_the_image_of_the_release(monkeypatch, capsys, argv, suite):
    seen = []

    def fake_ensure_image(cache_dir, rebuild, suite):
        seen.append(suite)
        return f"localhost/oscar-testbed-node:{suite}"

    monkeypatch.setattr(cli.image, "ensure_image", fake_ensure_image)
    assert cli.run(cli.build_parser().parse_args(argv)) == 0
    assert seen == [suite]
    assert capsys.readouterr().out == f"localhost/oscar-testbed-node:{suite}\n"


def test_status_names_the_release_of_the_hosts(make_testbed, monkeypatch, capsys):
    bed = make_testbed(compute_nodes=1, suite="trixie")
    monkeypatch.setattr(bed, "status", lambda: [(h, "running") for h in bed.plan().hosts])
    cli.print_status(bed)
    assert capsys.readouterr().out.splitlines()[0] == "testbed tb: Debian trixie"
    cli.print_status(bed, as_json=True)
    assert json.loads(capsys.readouterr().out)["release"] == "trixie"

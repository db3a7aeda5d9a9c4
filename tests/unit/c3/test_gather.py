"""Gathering output like clush -b, the summary, the exit status and the progress line."""

import io

from oscar_cluster.c3 import gather
from oscar_cluster.c3.gather import FAILED, OK, TIMEOUT, UNREACHABLE, Result


def results():
    return [
        Result("node001", OK, 0, "Linux\n"),
        Result("node002", OK, 0, "Linux\n"),
        Result("node010", FAILED, 3, "oops\n", "exit status 3"),
        Result("node003", TIMEOUT, None, "", "no answer within 5 s"),
        Result("node004", UNREACHABLE, None, "", "Connection refused"),
        Result("node005", OK, 0, "Linux\n"),
    ]


def test_identical_output_is_gathered_and_folded():
    assert gather.gather(results()) == [("node[001-002,005]", 3, "Linux\n"), ("node010", 1, "oops\n")]


def test_render_gathered():
    text = gather.render_gathered(results()[:2])
    assert text == "-----------------\nnode[001-002] (2)\n-----------------\nLinux\n"
    assert gather.render_gathered([Result("a", OK, 0, "")]) == ""


def test_piped_and_serial_rendering():
    result = Result("node001", OK, 0, "a\nb\n")
    assert gather.render_piped(result) == "node001: a\nnode001: b\n"
    assert gather.render_serial(Result("node001", OK, 0, "x")) == "--------- node001 ---------\nx\n"


def test_exit_status_is_the_worst_nodes():
    assert gather.exit_status([Result("a", OK, 0)]) == 0
    assert gather.exit_status([Result("a", OK, 0), Result("b", FAILED, 3)]) == 3
    assert gather.exit_status([Result("a", FAILED, 3), Result("b", TIMEOUT)]) == gather.EXIT_TIMEOUT
    assert gather.exit_status(results()) == gather.EXIT_UNREACHABLE
    assert (
        gather.exit_status([Result("a", FAILED, None, reason="connection lost")]) == gather.EXIT_UNREACHABLE
    )
    assert gather.exit_status([]) == 0


def test_summary_names_every_problem_node():
    lines = gather.summary(results(), "cexec")
    assert lines == [
        "cexec: 6 nodes: 3 ok, 1 failed, 1 timed out, 1 unreachable",
        "cexec: failed: node010 (exit status 3)",
        "cexec: timed out: node003 (no answer within 5 s)",
        "cexec: unreachable: node004 (Connection refused)",
    ]


def test_summary_folds_nodes_with_the_same_reason():
    lines = gather.summary(
        [Result("n1", FAILED, 1, "", "exit status 1"), Result("n2", FAILED, 1, "", "exit status 1")]
    )
    assert lines[-1] == "c3: failed: n[1-2] (exit status 1)"


def test_result_round_trips_through_json_data():
    result = Result("n1", FAILED, 2, "out", "why")
    assert Result.from_dict(result.to_dict()) == result


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_shows_only_on_long_runs_and_clears_itself():
    stream, clock = io.StringIO(), Clock()
    progress = gather.Progress(stream, 3, "cexec", enabled=True, clock=clock)
    progress.update(Result("a", OK, 0))
    assert stream.getvalue() == ""
    clock.now = 2.0
    progress.update(Result("b", FAILED, 1))
    assert stream.getvalue() == "\rcexec: 2/3 done, 1 with problems "
    progress.finish()
    assert stream.getvalue().endswith("\r\033[K")


def test_progress_is_off_when_not_a_terminal():
    stream, clock = io.StringIO(), Clock()
    progress = gather.Progress(stream, 1, enabled=None, clock=clock)
    clock.now = 5
    progress.update(Result("a", OK, 0))
    progress.finish()
    assert stream.getvalue() == ""

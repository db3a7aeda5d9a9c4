"""oscar.cluster.timing: the time of each play and the slowest tasks, from a fake clock."""

import pytest
from ansible_collections.oscar.cluster.plugins.callback import timing


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0 s"),
        (4.25, "4.2 s"),
        (59.9, "59.9 s"),
        (60, "1 min 00 s"),
        (125.4, "2 min 05 s"),
        (3725, "1 h 02 min 05 s"),
    ],
)
def test_format_seconds(seconds, text):
    assert timing.format_seconds(seconds) == text


class Named:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Display:
    def __init__(self):
        self.lines = []

    def banner(self, text):
        self.lines.append("== " + text)

    def display(self, text):
        self.lines.append(text)


def test_plays_and_slowest_tasks_are_reported_in_order():
    now = [100.0]
    callback = timing.CallbackModule()
    callback._clock = lambda: now[0]
    callback._run_started = now[0]
    callback._display = Display()
    callback.get_option = lambda name: 2

    callback.v2_playbook_on_play_start(Named("Install the server"))
    callback.v2_playbook_on_task_start(Named("Install dnsmasq"), False)
    now[0] += 30
    callback.v2_playbook_on_task_start(Named("Write dnsmasq.conf"), False)
    now[0] += 2
    callback.v2_playbook_on_handler_task_start(Named("Restart dnsmasq"))
    now[0] += 5
    callback.v2_playbook_on_play_start(Named("Complete the cluster setup"))
    callback.v2_playbook_on_task_start(Named("Install chrony"), False)
    now[0] += 60
    callback.v2_playbook_on_stats(None)

    lines = [" ".join(line.split()) for line in callback._display.lines]
    assert lines == [
        "== TIME PER STEP",
        "Install the server 37.0 s",
        "Complete the cluster setup 1 min 00 s",
        "total 1 min 37 s",
        "== SLOWEST TASKS",
        "Install chrony 1 min 00 s",
        "Install dnsmasq 30.0 s",
    ]

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: timing
type: aggregate
short_description: Say how long each play (wizard step) and the slowest tasks took
version_added: 0.2.0
description:
  - At the end of a run, prints the wall time of every play, in order (each play of C(site.yml) is
    a step of the OSCAR wizard), then the slowest tasks, so that a long run says where its time went.
  - A task's time runs from its start on the first host to its end on the last, as the run waits for it.
requirements:
  - enable in configuration (C(callbacks_enabled = oscar.cluster.timing)) or with
    E(ANSIBLE_CALLBACKS_ENABLED=oscar.cluster.timing)
options:
  slowest:
    description: How many of the slowest tasks to list.
    type: int
    default: 15
    env:
      - name: OSCAR_TIMING_SLOWEST
    ini:
      - section: oscar_timing
        key: slowest
"""

import time

from ansible.plugins.callback import CallbackBase


def format_seconds(seconds):
    """1 h 02 min 05 s / 2 min 05 s / 4.2 s."""
    if seconds < 60:
        return "%.1f s" % seconds
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return "%d min %02d s" % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return "%d h %02d min %02d s" % (hours, minutes, secs)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "oscar.cluster.timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._clock = time.monotonic
        self._run_started = self._clock()
        self._plays = []  # [name, started, ended]
        self._tasks = []  # [play, name, started, ended]

    def _close_task(self):
        if self._tasks and self._tasks[-1][3] is None:
            self._tasks[-1][3] = self._clock()

    def _close_play(self):
        self._close_task()
        if self._plays and self._plays[-1][2] is None:
            self._plays[-1][2] = self._clock()

    def v2_playbook_on_play_start(self, play):
        self._close_play()
        self._plays.append([play.get_name().strip() or "(unnamed play)", self._clock(), None])

    def _task_start(self, task):
        self._close_task()
        play = self._plays[-1][0] if self._plays else ""
        self._tasks.append([play, task.get_name().strip(), self._clock(), None])

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task)

    def v2_playbook_on_stats(self, stats):
        self._close_play()
        total = self._clock() - self._run_started
        self._display.banner("TIME PER STEP")
        for name, started, ended in self._plays:
            self._display.display("%-68s %12s" % (name[:68], format_seconds(ended - started)))
        self._display.display("%-68s %12s" % ("total", format_seconds(total)))
        slowest = sorted(self._tasks, key=lambda task: task[3] - task[2], reverse=True)
        count = self.get_option("slowest")
        if count > 0 and slowest:
            self._display.banner("SLOWEST TASKS")
            for _play, name, started, ended in slowest[:count]:
                self._display.display("%-68s %12s" % (name[:68], format_seconds(ended - started)))

"""Results of a run: output gathered like `clush -b`, the summary, the exit status, progress."""

import time
from dataclasses import dataclass

from oscar_cluster.module_utils import nodeset

OK = "ok"
FAILED = "failed"
TIMEOUT = "timed out"
UNREACHABLE = "unreachable"

EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments, unknown cluster, bad range: nothing ran
EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_UNREACHABLE = 255  # as ssh(1): no connection, or the connection was lost
EXIT_INTERRUPTED = 130


@dataclass
class Result:
    """What happened on one host."""

    host: str
    status: str
    exit_status: int | None = None
    output: str = ""
    reason: str = ""  # why it failed, timed out or was unreachable, or what a transfer did

    def code(self):
        """This host's share of the command's exit status."""
        if self.status == OK:
            return EXIT_OK
        if self.status == TIMEOUT:
            return EXIT_TIMEOUT
        if self.status == UNREACHABLE:
            return EXIT_UNREACHABLE
        return self.exit_status if self.exit_status else EXIT_UNREACHABLE

    def to_dict(self):
        return {
            "host": self.host,
            "status": self.status,
            "exit_status": self.exit_status,
            "output": self.output,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, values):
        return cls(**values)


def exit_status(results):
    """The worst host's code: 0 when every host succeeded."""
    return max((result.code() for result in results), default=EXIT_OK)


def gather(results):
    """[(folded node set, count, output)] for hosts with identical non-empty output, in node order."""
    by_output = {}
    for result in results:
        if result.output:
            by_output.setdefault(result.output, []).append(result.host)
    ordered = sorted(by_output.items(), key=lambda item: min(nodeset.natural_key(h) for h in item[1]))
    return [(nodeset.fold(hosts), len(hosts), output) for output, hosts in ordered]


def render_gathered(results):
    """The text of gathered output: a header naming the nodes, then their common output."""
    lines = []
    for names, count, output in gather(results):
        header = "%s (%d)" % (names, count)
        rule = "-" * max(15, len(header))
        lines += [rule, header, rule, output.rstrip("\n")]
    return "\n".join(lines) + ("\n" if lines else "")


def render_piped(result):
    """One host's output with each line prefixed by its name, for grep and sort (C3's --pipe)."""
    return "".join("%s: %s\n" % (result.host, line) for line in result.output.splitlines())


def render_serial(result):
    """One host's output under a banner with its name (cexecs)."""
    banner = "--------- %s ---------" % result.host
    body = result.output if not result.output or result.output.endswith("\n") else result.output + "\n"
    return banner + "\n" + body


def summary(results, command="c3"):
    """Lines for the end of a run: counts, then every failed, timed-out and unreachable host with why."""
    counts = {status: 0 for status in (OK, FAILED, TIMEOUT, UNREACHABLE)}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    lines = [
        "%s: %d node%s: %d ok, %d failed, %d timed out, %d unreachable"
        % (
            command,
            len(results),
            "" if len(results) == 1 else "s",
            counts[OK],
            counts[FAILED],
            counts[TIMEOUT],
            counts[UNREACHABLE],
        )
    ]
    for status in (FAILED, TIMEOUT, UNREACHABLE):
        by_reason = {}
        for result in results:
            if result.status == status:
                by_reason.setdefault(result.reason or "exit status %s" % result.exit_status, []).append(
                    result.host
                )
        for reason, hosts in sorted(by_reason.items(), key=lambda item: nodeset.natural_key(item[1][0])):
            lines.append("%s: %s: %s (%s)" % (command, status, nodeset.fold(hosts), reason))
    return lines


class Progress:
    """A one-line "12/64 done" on a terminal, shown only once a run has lasted a second."""

    def __init__(self, stream, total, command="c3", *, enabled=None, delay=1.0, clock=time.monotonic):
        self.stream = stream
        self.total = total
        self.command = command
        self.enabled = stream.isatty() if enabled is None else enabled
        self.clock = clock
        self.start = clock()
        self.delay = delay
        self.done = 0
        self.problems = 0
        self.shown = False

    def update(self, result):
        self.done += 1
        if result.status != OK:
            self.problems += 1
        if self.enabled and self.clock() - self.start >= self.delay:
            self.stream.write(
                "\r%s: %d/%d done, %d with problems " % (self.command, self.done, self.total, self.problems)
            )
            self.stream.flush()
            self.shown = True

    def finish(self):
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

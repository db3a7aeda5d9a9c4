#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: apt_index
short_description: Make the host's APT index usable before packages are installed
version_added: 0.2.0
description:
  - Refresh the APT package index (C(apt-get update)) when it cannot be trusted, and only then, so
    that package tasks find every package on a host that was just installed, while a converged
    host is not refreshed on every run.
  - The index is refreshed when a source's package index is missing (a freshly built image or
    container whose C(/var/lib/apt/lists) was emptied), when the last successful refresh is older
    than O(valid_time), when a source file under C(/etc/apt) changed after it, or when O(force) is
    set.
  - Unlike C(cache_valid_time) of M(ansible.builtin.apt), this does not judge the index by the age
    of the C(lists) directory, which is new and empty on a just-built host.
  - A successful refresh touches C(/var/lib/apt/periodic/update-success-stamp), the stamp that
    APT's own periodic job and M(ansible.builtin.apt) read.
author:
  - oscar.cluster developers (!UNKNOWN)
attributes:
  check_mode:
    description: Reports whether the index would be refreshed, and why, without refreshing it.
    support: full
  diff_mode:
    description: Nothing to show; the index is not a file an administrator edits.
    support: none
  platform:
    description: Debian and its derivatives (APT 1.1 or newer, for C(apt-get indextargets)).
    support: full
    platforms: debian
options:
  valid_time:
    description:
      - Seconds after a successful refresh during which the index is trusted, if no source is
        missing its index and no source file changed.
    type: int
    default: 3600
  force:
    description: Refresh whatever the state of the index.
    type: bool
    default: false
  timeout:
    description:
      - Seconds one C(apt-get update) may take. One that takes longer is stopped and run again,
        at most O(attempts) times in all; apt's own fetch retries come first.
      - Seen behind a package cache that closed its connection mid-fetch, where apt's HTTP method
        waited on the closed connection for good.
    type: int
    default: 300
  attempts:
    description: How many times C(apt-get update) runs before its failure or its timeout fails the task.
    type: int
    default: 3
notes:
  - A refresh that fails for any source (an unreachable mirror or proxy, a bad signature) fails
    the task with APT's own messages, rather than leave later package tasks to report
    C(No package matching ...).
"""

EXAMPLES = r"""
- name: Make the APT index usable, once, before the role's packages
  oscar.cluster.apt_index:
    valid_time: 3600

- name: Refresh now, a new source was just added
  oscar.cluster.apt_index:
    force: true
"""

RETURN = r"""
refreshed:
  description: Whether C(apt-get update) ran (in check mode, whether it would have).
  returned: always
  type: bool
  sample: true
reason:
  description: Why the index was (or would be) refreshed, or why it was trusted.
  returned: always
  type: str
  sample: "no package index for http://deb.debian.org/debian/ bookworm/main"
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

STAMP = "/var/lib/apt/periodic/update-success-stamp"
SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
# The suffixes under which APT may keep an index in its lists (KeepCompressedAs).
INDEX_SUFFIXES = ("", ".lz4", ".zst", ".gz", ".xz", ".bz2", ".lzma")


class AptIndexError(Exception):
    """APT could not list or refresh its index; the message says why."""


class AptIndexTimeout(AptIndexError):
    """apt-get ran longer than it was given and was stopped."""


def parse_index_targets(text):
    """Paragraphs of `apt-get indextargets` (deb822) as dicts of field -> value."""
    targets = []
    for paragraph in text.strip().split("\n\n"):
        fields = {}
        for line in paragraph.splitlines():
            name, sep, value = line.partition(":")
            if sep and not line[:1].isspace():
                fields[name.strip()] = value.strip()
        if fields:
            targets.append(fields)
    return targets


def missing_indexes(targets, exists=os.path.exists):
    """The sources (repository, suite and component) of which no package index is present.

    A component counts as present when any of its package indexes is there
    (binary-amd64 or binary-all: a repository may carry either alone).
    """
    present = {}
    for target in targets:
        if target.get("Created-By") != "Packages":
            continue
        source = "%s %s/%s" % (
            target.get("Repo-URI", "?"),
            target.get("Release", "?"),
            target.get("Component", ""),
        )
        filename = target.get("Filename", "")
        found = any(exists(filename + suffix) for suffix in INDEX_SUFFIXES)
        present[source] = present.get(source, False) or found
    return [source.rstrip("/") for source, found in present.items() if not found]


def newest_mtime(paths, stat=os.stat, listdir=os.listdir):
    """The newest modification time among the paths and the entries of those that are directories."""
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, stat(path).st_mtime)
            entries = listdir(path)
        except NotADirectoryError:
            continue
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                newest = max(newest, stat(os.path.join(path, entry)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def refresh_reason(missing, *, stamp_mtime, sources_mtime, now, valid_time, force):
    """Why the index must be refreshed, or None when it can be trusted."""
    if force:
        return "asked to (force)"
    if missing:
        more = " and %d more" % (len(missing) - 1) if len(missing) > 1 else ""
        return "no package index for %s%s" % (missing[0], more)
    if stamp_mtime is None:
        return "no record of a successful refresh (%s)" % STAMP
    if sources_mtime > stamp_mtime:
        return "the APT sources changed after the last refresh"
    if now - stamp_mtime > valid_time:
        return "the last refresh is %d s old, more than %d s" % (now - stamp_mtime, valid_time)
    return None


# coreutils timeout's exit status when it stopped the command.
TIMED_OUT = 124


def apt_get(module, *args, timeout=None):
    """Run apt-get in the C locale; raise AptIndexError with its messages if it fails.

    With a timeout, under coreutils' timeout (SIGTERM, then SIGKILL 10 s later).
    """
    command = [module.get_bin_path("apt-get", required=True), *args]
    if timeout:
        command = [module.get_bin_path("timeout", required=True), "--kill-after=10", str(timeout), *command]
    rc, out, err = module.run_command(command, environ_update={"LANG": "C", "LC_ALL": "C"})
    if timeout and rc in (TIMED_OUT, 128 + 9):
        raise AptIndexTimeout("apt-get %s took more than %d s and was stopped" % (args[0], timeout))
    if rc != 0:
        raise AptIndexError(
            "apt-get %s failed (exit %d): %s" % (args[0], rc, (err or out).strip() or "no message")
        )
    return out


def refresh(module, timeout, attempts):
    """apt-get update, run again when it fails or hangs; the last failure goes up."""
    for attempt in range(1, attempts + 1):
        try:
            return apt_get(module, "update", "-q", "--error-on=any", timeout=timeout)
        except AptIndexError as error:
            if attempt == attempts:
                raise AptIndexError("%s (attempt %d of %d)" % (error, attempt, attempts)) from error
            module.warn("%s; running it again (attempt %d of %d)" % (error, attempt + 1, attempts))
    return None


def stamp_time():
    try:
        return os.stat(STAMP).st_mtime
    except FileNotFoundError:
        return None


def run(module):
    """The module's answer; APT errors go up to main()."""
    params = module.params
    targets = parse_index_targets(apt_get(module, "indextargets", "--no-release-info"))
    reason = refresh_reason(
        missing_indexes(targets),
        stamp_mtime=stamp_time(),
        sources_mtime=newest_mtime(SOURCES),
        now=time.time(),
        valid_time=params["valid_time"],
        force=params["force"],
    )
    if reason is None:
        return {"changed": False, "refreshed": False, "reason": "the index is complete and fresh"}
    if not module.check_mode:
        # --error-on=any: a source that failed must fail the refresh, or the
        # next package task reports a missing package instead of the cause.
        refresh(module, params["timeout"], params["attempts"])
        os.makedirs(os.path.dirname(STAMP), exist_ok=True)
        with open(STAMP, "a"):
            os.utime(STAMP, None)
        still_missing = missing_indexes(
            parse_index_targets(apt_get(module, "indextargets", "--no-release-info"))
        )
        if still_missing:
            raise AptIndexError(
                "apt-get update succeeded but left no package index for %s" % ", ".join(still_missing)
            )
    return {"changed": True, "refreshed": True, "reason": reason}


def main():
    module = AnsibleModule(
        argument_spec={
            "valid_time": {"type": "int", "default": 3600},
            "force": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 300},
            "attempts": {"type": "int", "default": 3},
        },
        supports_check_mode=True,
    )
    if module.params["valid_time"] < 0:
        module.fail_json(msg="valid_time must be 0 or more seconds, not %d" % module.params["valid_time"])
    for name in ("timeout", "attempts"):
        if module.params[name] < 1:
            module.fail_json(msg="%s must be 1 or more, not %d" % (name, module.params[name]))
    try:
        answer = run(module)
    except AptIndexError as error:
        module.fail_json(msg=str(error), refreshed=False)
    module.exit_json(**answer)


if __name__ == "__main__":
    main()

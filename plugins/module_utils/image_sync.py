# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running nodes kept in step with a version of their image, by rsync from the head.

OSCAR's si_updateclient, and the drift report it never had: one rsync
command line for both.  An update pushes a version's root tree to the node
(``/`` over SSH, or a local directory in tests); drift is the same command as
a dry run, its itemized list read as what the node lacks, what it has in
excess and what differs.

What an update must never touch is one list, ``NEVER_TOUCHED``: the node's
identity, its logs, the state of the running system, and the files the
collection's roles write on each node from ODA.  Excluded paths are also
protected from ``--delete`` (rsync never deletes what a rule excludes), so
the node keeps them whatever the image holds.

An interrupted update: ``--delay-updates`` writes every changed regular file
into a ``.~tmp~`` directory beside it and renames them all into place at the
end, and ``--delete-delay`` removes files at the end too, so a run killed
midway (rsync or the node) leaves the node's files as they were, plus those
partial directories, which the next run uses and removes (with, after a
SIGKILL, the one temporary file rsync was writing, a dot-file named after
its target with a random suffix, which the rerun deletes and reports).
New directories and symbolic links are made as the run goes (rsync cannot
delay them); they are new paths no program of the old version uses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from .image_errors import ImageCommandError, ImageInputError
from .image_store import ImageStore

# Paths an update never touches and drift never reports, as rsync patterns
# anchored at the node's root (a directory stands for all it holds), with why.
IDENTITY = (
    ("/etc/machine-id", "the node's identity: systemd and journald key their state on it"),
    ("/var/lib/dbus/machine-id", "the node's identity (D-Bus's copy of machine-id)"),
    ("/etc/ssh/ssh_host_*", "the node's SSH host keys: clients know the node by them"),
    ("/etc/hostname", "the node's name"),
    ("/etc/mailname", "the node's name, as mail programs give it"),
    ("/etc/machine-info", "the node's pretty name and location (hostnamectl)"),
    ("/etc/hosts", "the node's name and the cluster's hosts (written by the _common role from ODA)"),
    ("/etc/fstab", "the node's own disks and mounts"),
    ("/etc/resolv.conf", "the node's resolver (written by the clients role from ODA)"),
    ("/etc/adjtime", "the node's hardware clock drift"),
    ("/etc/network/interfaces", "the node's addresses (ifupdown)"),
    ("/etc/network/interfaces.d", "the node's addresses (ifupdown)"),
    ("/etc/systemd/network", "the node's addresses (systemd-networkd)"),
    ("/etc/NetworkManager/system-connections", "the node's addresses (NetworkManager)"),
    ("/etc/netplan", "the node's addresses (netplan)"),
    ("/etc/udev/rules.d/70-persistent-net.rules", "the names of the node's own network cards"),
)
LOGS = (
    ("/var/log", "the node's logs, its history and not the image's"),
    ("/var/mail", "mail delivered on the node"),
)
NODE_STATE = (
    ("/proc", "kernel file system, mounted"),
    ("/sys", "kernel file system, mounted"),
    ("/dev", "device nodes, mounted (devtmpfs)"),
    ("/run", "runtime state, mounted (tmpfs)"),
    ("/tmp", "the running programs' temporary files"),
    ("/var/tmp", "temporary files kept across reboots"),
    ("/var/spool", "queued work: mail, cron, print and batch jobs"),
    ("/var/lib/systemd", "systemd's state: timers' last runs, random seed, coredumps"),
    ("/var/lib/apt/lists", "the node's APT index, refreshed on the node"),
    ("/var/lib/apt/periodic", "when the node last refreshed its APT index"),
    (
        "/var/lib/apt/extended_states",
        "APT's marks (automatic or manual) of the node's packages, rewritten by each install there",
    ),
    ("/var/cache/apt", "downloaded packages, a cache of the node's"),
    ("/var/cache/man", "a cache rebuilt on the node"),
    ("/var/lib/dhcp", "the node's DHCP leases"),
    ("/var/lib/chrony", "the node's clock drift and time sources"),
    ("/var/lib/logrotate", "when the node's logs were last rotated"),
    ("/var/lib/private", "state of the node's dynamic-user services"),
    ("/var/lib/slurm", "slurmd's state of the node's jobs"),
    ("/var/lib/munge", "munged's state"),
    ("/var/backups", "the node's own backups of its user and package databases"),
    ("/root/.ansible", "Ansible's working files on the node, there while a play runs"),
    ("/var/lib/oscar-image", "the node's accounts before an update that has not finished (image_sync)"),
    ("/home", "users' files: mounted from the head over NFS (clients role)"),
    ("/opt/cluster", "the cluster's shared software (MPICH...): mounted from the head over NFS"),
    ("/mnt", "mount points of the node's own"),
    ("/media", "removable media mounted on the node"),
    ("/lost+found", "the node's file system check"),
    ("/swapfile", "the node's swap"),
)
# What the collection's roles write on each node from ODA (read from their
# tasks: template, copy, lineinfile, replace, blockinfile, file destinations);
# an update must not undo them, and the next run of the role would only
# write them again.  Keep this in step with roles/clients, roles/_common and
# roles/env_switcher.
ROLE_MANAGED = (
    ("/root/.ssh", "root's cluster key and authorized keys (clients: ssh.yml)"),
    ("/etc/ssh/ssh_config.d/oscar-cluster.conf", "SSH client settings for the cluster (clients: ssh.yml)"),
    ("/etc/ssh/ssh_known_hosts", "the cluster's host keys (clients: ssh.yml)"),
    ("/etc/munge/munge.key", "the cluster's MUNGE key, the head's (clients: slurm.yml)"),
    ("/etc/default/slurmd", "slurmd's options: configless, the head's address (clients: slurm.yml)"),
    ("/etc/systemd/system/slurmd.service.d", "slurmd's drop-in (clients: slurm.yml)"),
    (
        "/etc/apt/apt.conf.d/99oscar-package-cache",
        "packages through the head's cache (clients: packages.yml)",
    ),
    ("/etc/chrony/chrony.conf", "pools turned off for the head (clients: chrony.yml)"),
    ("/etc/chrony/sources.d/oscar-head.sources", "time from the head (clients: chrony.yml)"),
    ("/etc/default/chrony", "chronyd's options (_common: chrony.yml)"),
    ("/etc/systemd/system/chrony.service.d", "chronyd's drop-in (_common: chrony.yml)"),
    ("/etc/systemd/system/*.mount", "the NFS mounts from ODA (clients: nfs.yml)"),
    ("/etc/systemd/system/oscar-nfs-*.service", "the userspace NFS mounts from ODA (clients: nfs.yml)"),
    ("/etc/systemd/system/*.wants/*.mount", "the NFS mounts enabled (clients: nfs.yml)"),
    (
        "/etc/systemd/system/*.wants/oscar-nfs-*.service",
        "the userspace NFS mounts enabled (clients: nfs.yml)",
    ),
    ("/etc/systemd/system/run-rpc_pipefs.mount.d", "rpc_pipefs off without kernel NFS (clients: nfs.yml)"),
    ("/usr/local/sbin/oscar-nfs-fuse", "the userspace NFS client (clients: nfs.yml)"),
    ("/etc/env-switcher", "the switcher's catalog, modulefiles and shell init (env_switcher)"),
    ("/usr/local/lib/env-switcher", "the modulefiles' commands (env_switcher: modulefiles.yml)"),
    ("/usr/local/bin/switcher", "the switcher command (env_switcher: switcher.yml)"),
    ("/etc/environment-modules/modulespath", "where modulefiles are looked for (env_switcher: shells.yml)"),
    ("/etc/profile.d/env-switcher.sh", "the switcher in login shells (env_switcher: shells.yml)"),
    ("/etc/bash.bashrc", "a block for the switcher in bash (env_switcher: shells.yml)"),
    ("/etc/zsh/zshenv", "a block for the switcher in zsh (env_switcher: shells.yml)"),
    ("/etc/csh/cshrc.d/env-switcher", "the switcher in csh (env_switcher: shells.yml)"),
)
NEVER_TOUCHED = IDENTITY + LOGS + NODE_STATE + ROLE_MANAGED

RSYNC_OPTIONS = (
    "--archive",
    "--hard-links",
    "--acls",
    "--xattrs",
    "--numeric-ids",  # the image's uids are the node's: no mapping through names
    "--one-file-system",  # never into what is mounted on the node (nor in the image)
    "--delete",
    "--delete-delay",  # deletions at the end too, with the delayed updates
    "--delay-updates",  # changed files land together at the end (see the module's doc)
    "--itemize-changes",
    "--out-format=%i %n",
    "--stats",
    "--no-human-readable",
)
# A node that loses power mid-update sends nothing, not even a reset: without
# keepalives ssh (and the update) would wait for TCP's two hours.  Three
# unanswered ones ten seconds apart end the run, and a rerun completes it.
SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=accept-new",
    "-o",
    "ConnectTimeout=30",
    "-o",
    "ServerAliveInterval=10",
    "-o",
    "ServerAliveCountMax=3",
)
C_LOCALE = {"LANG": "C", "LC_ALL": "C"}
# %i is 11 characters, YXcstpoguax (Y the update type, X the file type), or
# "*deleting" padded; then a space and the name.
_ITEM = re.compile(r"^(\*deleting  |[<>ch.][fdLDS][.+?a-zA-Z ]{9}) (.+)$")
# In the C locale rsync writes bytes it cannot print as \#ooo (octal).
_ESCAPE = re.compile(r"\\#([0-7]{3})")
_KEPT_DIRECTORY = re.compile(r"^cannot delete non-empty directory: (.+)$", re.MULTILINE)
_BYTES_SENT = re.compile(r"^Total bytes sent: ([0-9]+)$", re.MULTILINE)
_TIME_FLAGS = set("tTun")


def protection(path):
    """(pattern, reason) of the built-in entry that protects a node path, or None."""
    path = "/" + path.strip("/")
    candidates = [path]
    while os.path.dirname(candidates[-1]) != candidates[-1]:
        candidates.append(os.path.dirname(candidates[-1]))
    for pattern, reason in NEVER_TOUCHED:
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates[:-1]):
            return pattern, reason
    return None


def site_excludes(entries):
    """The site's exclude entries, checked: absolute paths, no '..'; ImageInputError naming the entry."""
    checked = []
    for entry in entries or ():
        if not isinstance(entry, str) or not entry.startswith("/"):
            raise ImageInputError("exclude entry %r is not an absolute path" % (entry,))
        if ".." in entry.split("/"):
            raise ImageInputError("exclude entry %r contains '..': name the path itself" % (entry,))
        if any(char in entry for char in "\n\r\0"):
            raise ImageInputError("exclude entry %r contains a line break or NUL" % (entry,))
        if entry.strip("/") == "":
            raise ImageInputError("exclude entry %r would exclude the whole tree" % (entry,))
        checked.append(entry)
    return checked


def check_overrides(overrides):
    """The override directory's path, if it exists and holds no protected path; ImageInputError otherwise."""
    if not isinstance(overrides, str) or not os.path.isabs(overrides):
        raise ImageInputError("overrides %r is not an absolute path" % (overrides,))
    if not os.path.isdir(overrides):
        raise ImageInputError("overrides directory %s does not exist" % overrides)
    for directory, dirs, files in os.walk(overrides):
        # Files (and empty directories): a protected directory is then named by what it holds.
        leaves = files + [name for name in dirs if not os.listdir(os.path.join(directory, name))]
        for name in sorted(leaves):
            node_path = "/" + os.path.relpath(os.path.join(directory, name), overrides)
            found = protection(node_path)
            if found:
                raise ImageInputError(
                    "overrides %s holds %s, which an update never touches (%s: %s); remove it"
                    % (overrides, node_path, found[0], found[1])
                )
    return os.path.normpath(overrides)


def ssh_command(ssh_key=None, port=None, extra=()):
    """rsync's --rsh: ssh with no prompt, a new host's key accepted, an unknown changed key refused."""
    words = ["ssh", *SSH_OPTIONS]
    if ssh_key:
        words += ["-i", ssh_key]
    if port:
        words += ["-p", str(port)]
    words += list(extra)
    return " ".join(shlex.quote(word) for word in words)


def target(destination, ssh_user="root"):
    """rsync's destination: a local directory (an absolute path) as is, else the node's / over SSH."""
    if not isinstance(destination, str) or not destination.strip():
        raise ImageInputError("destination %r is not a node address or a directory" % (destination,))
    if destination.startswith("/"):
        return destination.rstrip("/") + "/", True
    if re.search(r"[\s/@]", destination) or destination.startswith("-"):
        raise ImageInputError("destination %r is not a host name or address" % (destination,))
    host = "[%s]" % destination if ":" in destination else destination
    return "%s@%s:/" % (ssh_user, host) if ssh_user else "%s:/" % host, False


def rsync_argv(rsync, sources, destination, *, excludes=(), dry_run=False, checksum=False, rsh=None):
    """The whole command: built-in then site excludes, sources in order (the first holding a path wins)."""
    argv = [rsync, *RSYNC_OPTIONS]
    if dry_run:
        argv.append("--dry-run")
    if checksum:
        argv.append("--checksum")
    if rsh:
        argv.append("--rsh=%s" % rsh)
    argv += ["--exclude=%s" % pattern for pattern, _reason in NEVER_TOUCHED]
    argv += ["--exclude=%s" % pattern for pattern in excludes]
    argv += [source.rstrip("/") + "/" for source in sources]
    argv.append(destination)
    return argv


def parse_itemized(text):
    """[(kind, flags, path)] from --itemize-changes lines: kind is deleting, created or changed.

    Paths are the node's, absolute, without the trailing slash rsync puts on
    directories.  An entry whose only difference is a time, on something
    not sent (a directory's mtime, moved by what was made in it; a file
    found equal by --checksum) is left out: it is not a difference in content.
    """
    # A directory kept because it holds excluded files: rsync says so (before
    # a dry run's "*deleting" line for it, which does not happen).
    kept = set(_KEPT_DIRECTORY.findall(text))
    items = []
    for line in text.splitlines():
        match = _ITEM.match(line)
        if not match:
            continue
        item, name = match.groups()
        name = unescape(name)
        if name in ("./", "."):
            continue
        path = "/" + name.rstrip("/")
        if item.startswith("*deleting"):
            if name.rstrip("/") in kept:
                continue
            items.append(("deleting", "*deleting", path))
            continue
        flags, attributes = item[:2], item[2:].strip()
        if attributes and set(attributes) == {"+"}:
            items.append(("created", flags + attributes, path))
            continue
        changed_flags = set(attributes) - {".", " "}
        if flags[0] == "." and changed_flags <= _TIME_FLAGS:
            continue
        items.append(("changed", flags + attributes, path))
    return items


def unescape(name):
    """A name as rsync printed it, its \\#ooo escapes turned back into the bytes they stand for."""
    if "\\#" not in name:
        return name
    raw = _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), name)
    try:
        return raw.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeError:
        return raw


def bytes_sent(text):
    match = _BYTES_SENT.search(text)
    return int(match.group(1)) if match else 0


def _lists(items, names):
    kinds = ("created", "changed", "deleting")
    lists = {
        name: sorted(path for kind, _flags, path in items if kind == wanted)
        for name, wanted in zip(names, kinds, strict=True)
    }
    return lists


# The node's own files under these entries are not the update's: an account
# the image gives another id than the node had keeps its files only if their
# owners follow.  The kernel's file systems and the NFS mounts are never walked.
OWNERS_NOT_REMAPPED = ("/proc", "/sys", "/dev", "/home", "/opt/cluster", "/mnt", "/media")
# Where the node keeps its accounts as they were before an update, until the
# update has remapped the owners of its own files: a rerun after an
# interruption (the account files already the image's) still knows them.
SAVED_ACCOUNTS = "/var/lib/oscar-image/accounts-before-update.json"

# Run on the node by its own python3 (or on the head for a local directory),
# with one JSON argument: {"action": "read"|"save"|"remap", "root", "saved", ...}.
# read: the saved accounts, else the current ones; save: the same, saving the
# current ones first if none are saved; remap: lchown every file under
# "roots" (globs, each walked without crossing into another file system)
# whose uid or gid is a key of "uids"/"gids", in one pass (so two accounts
# that swapped ids are right), then forget the saved accounts (their directory stays).
ACCOUNTS_PROGRAM = r"""
import glob, json, os, sys

request = json.loads(sys.argv[1])
root = request["root"]
saved = os.path.join(root, request["saved"].lstrip("/"))


def read(relative):
    try:
        with open(os.path.join(root, relative), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def current():
    return json.dumps({"passwd": read("etc/passwd"), "group": read("etc/group")})


if request["action"] in ("read", "save"):
    if os.path.exists(saved):
        with open(saved, encoding="utf-8") as handle:
            answer = handle.read()
    else:
        answer = current()
        if request["action"] == "save":
            os.makedirs(os.path.dirname(saved), mode=0o700, exist_ok=True)
            with open(saved + ".new", "w", encoding="utf-8") as handle:
                handle.write(answer)
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(saved + ".new", saved)
    sys.stdout.write(answer)
else:
    uids = {int(key): value for key, value in request["uids"].items()}
    gids = {int(key): value for key, value in request["gids"].items()}
    changed = 0

    def follow(path, device):
        global changed
        try:
            status = os.lstat(path)
        except FileNotFoundError:
            return False
        if status.st_dev != device:
            return False
        uid, gid = uids.get(status.st_uid, -1), gids.get(status.st_gid, -1)
        if uid != -1 or gid != -1:
            os.lchown(path, uid, gid)
            changed += 1
        return True

    for pattern in request["roots"] if uids or gids else ():
        for top in sorted(glob.glob(os.path.join(root, pattern.lstrip("/")))):
            device = os.lstat(top).st_dev
            if not follow(top, device) or os.path.islink(top) or not os.path.isdir(top):
                continue
            for directory, subdirectories, files in os.walk(top):
                subdirectories[:] = [name for name in subdirectories
                                     if follow(os.path.join(directory, name), device)]
                for name in files:
                    follow(os.path.join(directory, name), device)
    # The directory stays: made before the push, it is older than the
    # times rsync gave its parent, which removing it would change.
    if os.path.exists(saved):
        os.unlink(saved)
    sys.stdout.write(json.dumps({"remapped": changed}))
"""


def account_ids(text):
    """{name: id} from an /etc/passwd or /etc/group text (the first entry of a name wins, as for NSS)."""
    ids = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            ids.setdefault(fields[0], int(fields[2]))
    return ids


def id_changes(before, after):
    """{name: [old id, new id]} for the accounts both texts name with different ids."""
    old, new = account_ids(before), account_ids(after)
    return {
        name: [old[name], new[name]] for name in sorted(old.keys() & new.keys()) if old[name] != new[name]
    }


def run_command(argv):
    """The one way this library runs a program: argv list, C locale; (rc, stdout, stderr)."""
    environment = dict(os.environ, **C_LOCALE)
    process = subprocess.run(
        argv, capture_output=True, text=True, errors="replace", env=environment, check=False
    )
    return process.returncode, process.stdout, process.stderr


class ImageSync:
    """Push or compare one version of an image with one node."""

    def __init__(
        self,
        store,
        name,
        version=None,
        *,
        destination,
        ssh_user="root",
        ssh_key=None,
        ssh_port=None,
        ssh_extra=(),
        exclude=(),
        overrides=None,
        rsync=None,
        runner=run_command,
    ):
        self.store = store if isinstance(store, ImageStore) else ImageStore(store)
        self.name = name
        self.version = self.store.resolve(name, version)
        self.excludes = site_excludes(exclude)
        self.overrides = check_overrides(overrides) if overrides else None
        self.destination, local = target(destination, ssh_user)
        if ssh_key and not os.path.isfile(ssh_key):
            raise ImageInputError("ssh_key %s does not exist" % ssh_key)
        self.rsh = None if local else ssh_command(ssh_key, ssh_port, ssh_extra)
        self.local = local
        # ssh takes the address bare where rsync wants an IPv6 one in brackets.
        self.ssh_target = None if local else self.destination[: -len(":/")].replace("[", "").replace("]", "")
        self.rsync = rsync or shutil.which("rsync")
        if not self.rsync:
            raise ImageCommandError("rsync is not installed on this host")
        self.runner = runner

    @property
    def sources(self):
        root = self.store.version_root(self.name, self.version)
        return [self.overrides, root] if self.overrides else [root]

    def argv(self, *, dry_run=False, checksum=False):
        return rsync_argv(
            self.rsync,
            self.sources,
            self.destination,
            excludes=self.excludes,
            dry_run=dry_run,
            checksum=checksum,
            rsh=self.rsh,
        )

    def _run(self, argv):
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise ImageCommandError(
                "rsync of image '%s' version %d to %s failed (exit %d): %s"
                % (
                    self.name,
                    self.version,
                    self.destination,
                    rc,
                    (err or out).strip()[-2000:] or "no message",
                ),
                rc=rc,
                stdout=out,
                stderr=err,
            )
        # rsync's notes (a directory it keeps) may come on either stream.
        return out + "\n" + (err or "")

    def _accounts(self, request):
        """ACCOUNTS_PROGRAM's answer for one request, run on the node (or here, for a directory)."""
        request = dict(request, root=self.destination if self.local else "/", saved=SAVED_ACCOUNTS)
        argv = [sys.executable if self.local else "python3", "-c", ACCOUNTS_PROGRAM, json.dumps(request)]
        if not self.local:
            argv = [*shlex.split(self.rsh), self.ssh_target, " ".join(shlex.quote(word) for word in argv)]
        rc, out, err = self.runner(argv)
        if rc != 0:
            raise ImageCommandError(
                "reading or remapping the accounts of %s failed (exit %d): %s"
                % (self.destination, rc, (err or out).strip()[-2000:] or "no message"),
                rc=rc,
                stdout=out,
                stderr=err,
            )
        try:
            return json.loads(out)
        except ValueError as error:
            raise ImageCommandError(
                "the accounts of %s came back unreadable: %s" % (self.destination, out[:200])
            ) from error

    def account_changes(self, before):
        """{"users": {name: [node's id, image's id]}, "groups": {...}}: accounts the version renumbers."""
        root = self.store.version_root(self.name, self.version)
        image = {}
        for kind in ("passwd", "group"):
            try:
                with open(os.path.join(root, "etc", kind), encoding="utf-8", errors="replace") as handle:
                    image[kind] = handle.read()
            except FileNotFoundError:
                image[kind] = ""
        return {
            "users": id_changes(before["passwd"], image["passwd"]),
            "groups": id_changes(before["group"], image["group"]),
        }

    def update(self, dry_run=False):
        """changed, version, files {created, updated, deleted}, accounts, owners_remapped, bytes_sent.

        When the version gives an account another id than the node has (a
        node not installed from the image), the node's accounts are saved on
        it first, and the owners of the node's own files (logs, state,
        role-managed files: what the push leaves) follow after it, so services
        find theirs; a rerun after an interruption reads the saved accounts.
        A dry run changes nothing.
        """
        accounts = self.account_changes(self._accounts({"action": "read"}))
        renumbered = any(accounts.values())
        if renumbered and not dry_run:
            self._accounts({"action": "save"})
        out = self._run(self.argv(dry_run=dry_run))
        files = _lists(parse_itemized(out), ("created", "updated", "deleted"))
        remapped = 0
        if renumbered and not dry_run:
            remapped = self._accounts(
                {
                    "action": "remap",
                    "roots": self.remap_roots(),
                    "uids": {str(old): new for old, new in accounts["users"].values()},
                    "gids": {str(old): new for old, new in accounts["groups"].values()},
                }
            )["remapped"]
        return {
            "changed": any(files.values()) or remapped > 0,
            "version": self.version,
            "files": files,
            "accounts": accounts,
            "owners_remapped": remapped,
            "bytes_sent": bytes_sent(out),
        }

    def remap_roots(self):
        """The node's own paths (the update's excludes) whose owners follow renumbered accounts."""
        entries = [pattern for pattern, _reason in NEVER_TOUCHED] + list(self.excludes)
        return [entry for entry in entries if entry not in OWNERS_NOT_REMAPPED]

    def drift(self, checksum=False):
        """version, drift {missing, extra, changed}, differs: the node against the version, read-only."""
        out = self._run(self.argv(dry_run=True, checksum=checksum))
        drift = _lists(parse_itemized(out), ("missing", "changed", "extra"))
        return {"version": self.version, "drift": drift, "differs": any(drift.values())}


def diff_text(lists):
    """A module's diff: each list's paths, one per line, under its name."""
    lines = []
    for name, paths in lists.items():
        if paths:
            lines.append("%s:" % name)
            lines += ["  %s" % path for path in paths]
    return "\n".join(lines) + "\n" if lines else ""


def report_lines(drift):
    """A drift as lines: 'no drift', or one 'KIND PATH' per differing path, in path order."""
    found = [(path, kind) for kind in ("missing", "extra", "changed") for path in drift[kind]]
    if not found:
        return ["no drift"]
    return ["%-7s %s" % (kind, path) for path, kind in sorted(found)]

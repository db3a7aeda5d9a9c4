"""OpenSSH client configuration files, read once and resolved per host when the inventory is loaded.

asyncssh can read an ssh_config itself, but it parses the whole file again for
every connection.  With one Host block per node that is quadratic: 1.1 s of
CPU before the first packet for 64 nodes on the testbed's ssh_config, more
than the whole warm run.  So the C3 commands resolve each host's settings
here, once, when the inventory cache is built, and connect with explicit
options.

Only what decides how a host is reached is resolved: HostName, User, Port,
IdentityFile, UserKnownHostsFile, StrictHostKeyChecking, KexAlgorithms,
Ciphers and ConnectTimeout, with OpenSSH's rules (the first value obtained
wins; every IdentityFile counts; `Host` patterns with `*`, `?` and `!`).  Keywords that
only tune the client (BatchMode, LogLevel, ControlMaster...) are ignored.  A
file using anything else (Match, Include, ProxyJump, `%` tokens...) is not
resolved here: resolve() answers None and asyncssh reads that file itself.
"""

import fnmatch
import os
import shlex

RESOLVED = {
    "hostname",
    "user",
    "port",
    "identityfile",
    "userknownhostsfile",
    "stricthostkeychecking",
    "kexalgorithms",
    "ciphers",
    "connecttimeout",
}
# Settings with no bearing on where and as whom a connection goes.
IGNORED = {
    "batchmode",
    "loglevel",
    "identitiesonly",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "serveraliveinterval",
    "serveralivecountmax",
    "tcpkeepalive",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "pubkeyauthentication",
    "forwardagent",
    "forwardx11",
    "compression",
    "hashknownhosts",
    "updatehostkeys",
    "addkeystoagent",
    "checkhostip",
    "visualhostkey",
}
_ACCUMULATED = {"identityfile"}

_parsed = {}  # path -> list of (patterns or None, keyword, value), or None when not resolvable


def _parse(path):
    """The file as (Host patterns, keyword, value) entries; None when it uses what is not resolved here."""
    if path in _parsed:
        return _parsed[path]
    entries = []
    patterns = None  # before the first Host line: every host
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError):
        _parsed[path] = None
        return None
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        keyword, _sep, value = text.replace("=", " ", 1).partition(" ")
        keyword, value = keyword.lower(), value.strip()
        if keyword == "host":
            try:
                patterns = shlex.split(value)
            except ValueError:
                entries = None
                break
            continue
        if keyword in IGNORED:
            continue
        if keyword not in RESOLVED or "%" in value:
            entries = None
            break
        entries.append((patterns, keyword, value))
    _parsed[path] = entries
    return entries


def _matches(patterns, alias):
    if patterns is None:
        return True
    matched = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if fnmatch.fnmatchcase(alias, pattern[1:]):
                return False
        elif fnmatch.fnmatchcase(alias, pattern):
            matched = True
    return matched


def resolve(paths, alias):
    """The settings the files give host alias: {keyword: value, "identityfile": [...]}; None to fall back."""
    settings = {"identityfile": []}
    for path in paths:
        entries = _parse(path)
        if entries is None:
            return None
        for patterns, keyword, value in entries:
            if not _matches(patterns, alias):
                continue
            if keyword in _ACCUMULATED:
                settings[keyword].append(os.path.expanduser(value))
            elif keyword not in settings:
                settings[keyword] = value
    return settings


def file_stats(paths):
    """(path, mtime, size) of each file: what a cached resolution depends on."""
    stats = []
    for path in sorted(set(paths)):
        try:
            info = os.stat(path)
        except OSError:
            stats.append([path, None, None])
        else:
            stats.append([path, info.st_mtime_ns, info.st_size])
    return stats

"""Each node's SSH host keys, kept on the head so that a node keeps its identity across reinstalls.

A node installed over the network gets its host keys in its install plan
instead of making new ones at its first boot: every ``known_hosts`` that
learnt the node (the cluster's, the users' own, a login node's) stays right
after a reinstall, as with xCAT's and Warewulf's per-node keys.  The keys are
made once per node, the first time its plan is asked for, with the head's
``ssh-keygen``, in a directory only root reads:

    DIRECTORY/NODE/ssh_host_{rsa,ecdsa,ed25519}_key{,.pub}

A node's keys appear whole or not at all (made aside, then renamed into
place), so two plans asked at once, or a head that stops halfway, never hand
out half a set.  Removing a node's directory makes it new keys at its next
install.
"""

import os
import re
import shutil
import subprocess
import tempfile
import threading

# The types Debian's openssh-server makes for itself, with its sizes.
KEY_TYPES = (("rsa", ["-b", "3072"]), ("ecdsa", ["-b", "256"]), ("ed25519", []))
# A node's name as ODA accepts it: it becomes a directory name, so no "/" nor a leading dot.
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


class HostKeyError(Exception):
    """The keys of a node cannot be read or made."""


def key_file(key_type):
    return "ssh_host_%s_key" % key_type


class HostKeyStore:
    """The head's directory of per-node host keys."""

    def __init__(self, directory, keygen="ssh-keygen"):
        self.directory = directory
        self.keygen = keygen
        self._lock = threading.Lock()

    def node_directory(self, node):
        if not isinstance(node, str) or not _NODE_NAME.match(node) or ".." in node:
            raise HostKeyError("%r is not a node name a key directory can have" % (node,))
        return os.path.join(self.directory, node)

    def keys(self, node):
        """[{type, name, private, public}] of the node, made first when it has none (or lacks a type)."""
        with self._lock:
            self._ensure(node)
            return self._read(node)

    def ensure(self, node):
        """Make the node's keys if it has none (or lacks a type): whether any were made."""
        with self._lock:
            return self._ensure(node)

    def _missing(self, node):
        place = self.node_directory(node)
        return [
            key_type
            for key_type, _options in KEY_TYPES
            if not (
                os.path.isfile(os.path.join(place, key_file(key_type)))
                and os.path.isfile(os.path.join(place, key_file(key_type) + ".pub"))
            )
        ]

    def _ensure(self, node):
        missing = self._missing(node)
        if not missing:
            return False
        place = self.node_directory(node)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            aside = tempfile.mkdtemp(prefix=".new-%s-" % node, dir=self.directory)
        except OSError as error:
            raise HostKeyError("cannot make host keys under %s: %s" % (self.directory, error)) from None
        try:
            for key_type in missing:
                self._generate(node, key_type, os.path.join(aside, key_file(key_type)))
            if not os.path.isdir(place):
                os.rename(aside, place)
                return True
            # Some types were there (a set from before a type was added, or
            # one removed by hand): the others join them, public key first,
            # so that a private key found always has its public one.
            for key_type in missing:
                for suffix in (".pub", ""):
                    os.replace(
                        os.path.join(aside, key_file(key_type) + suffix),
                        os.path.join(place, key_file(key_type) + suffix),
                    )
        except OSError as error:
            raise HostKeyError("cannot keep the host keys of %s in %s: %s" % (node, place, error)) from None
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        return True

    def _generate(self, node, key_type, path):
        options = dict(KEY_TYPES)[key_type]
        argv = [self.keygen, "-q", "-t", key_type, *options, "-N", "", "-C", "root@" + node, "-f", path]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
            )
        except OSError as error:
            raise HostKeyError("cannot run %s: %s" % (self.keygen, error)) from None
        if result.returncode != 0:
            raise HostKeyError(
                "%s could not make the %s host key of %s: %s"
                % (self.keygen, key_type, node, (result.stderr or result.stdout).strip())
            )

    def _read(self, node):
        place = self.node_directory(node)
        keys = []
        for key_type, _options in KEY_TYPES:
            name = key_file(key_type)
            try:
                with open(os.path.join(place, name), encoding="ascii") as handle:
                    private = handle.read()
                with open(os.path.join(place, name + ".pub"), encoding="ascii") as handle:
                    public = handle.read()
            except (OSError, UnicodeDecodeError) as error:
                raise HostKeyError("cannot read the host keys of %s: %s" % (node, error)) from None
            keys.append({"type": key_type, "name": name, "private": private, "public": public})
        return keys

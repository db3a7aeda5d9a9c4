# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The cluster's SSH host keys as known_hosts lines, so that no SSH prompt ever appears.

Every host of the cluster is listed under each of its names on the network
(the FQDN, the short name, the inventory name) and its addresses there, once
per host key type.  The keys come from the hosts themselves, read over an
authenticated channel (Ansible's own connection), never from an unauthenticated
ssh-keyscan.

A host whose keys could not be read this time (down, unreachable) keeps the
keys the file already had for it, now under its current names, so that the
file does not churn while a node is off; a host with no keys, fresh or kept,
is left out.  Each line ends with a comment naming its host (TAG + inventory
name): that is how its keys are found again, even after a rename.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re
import struct

from .oda_errors import OdaValidationError

# The comment that ends each line of ours: TAG + the host's inventory name.
TAG = "oscar.cluster:"

_KEY_TYPE = re.compile(r"[a-z0-9][a-z0-9@.-]*")


def _is_mapping(value):
    return isinstance(value, dict) or hasattr(value, "items")


def _is_sequence(value):
    return isinstance(value, (list, tuple))


def public_key(text, node):
    """(key type, base64 blob) of a public key line 'type base64 [comment]', checked.

    The blob must be base64 whose first field names the same key type, as in
    every OpenSSH public key; a certificate is no host key.  A bad key raises
    OdaValidationError naming the node.
    """
    fields = str(text or "").split()
    shown = " ".join(fields)[:60]
    if len(fields) < 2 or not _KEY_TYPE.fullmatch(fields[0]) or "-cert-" in fields[0]:
        raise OdaValidationError("node %s: not an SSH public key: '%s'" % (node, shown))
    key_type, blob = fields[0], fields[1]
    try:
        data = base64.b64decode(blob.encode("ascii"), validate=True)
        (length,) = struct.unpack(">I", data[:4])
        named = data[4 : 4 + length].decode("ascii")
    except (ValueError, UnicodeError, binascii.Error, struct.error):
        raise OdaValidationError(
            "node %s: the %s key is not valid base64 key data: '%s'" % (node, key_type, shown)
        ) from None
    if named != key_type:
        raise OdaValidationError(
            "node %s: the key data is of type '%s', but the line says '%s': '%s'"
            % (node, named, key_type, shown)
        )
    return key_type, blob


def host_names(table):
    """{inventory name: [names]}: how each host of a network_hosts table is reached on the network.

    Per NIC of the host on the network, in the table's order: its FQDN, its
    short name, the inventory name (on the primary NIC) and its address.
    """
    if not _is_sequence(table):
        raise OdaValidationError("the table of hosts must be a list; got %r" % (table,))
    names = {}
    for entry in table:
        if not _is_mapping(entry) or not entry.get("node") or not entry.get("ip"):
            raise OdaValidationError(
                "every entry of the table of hosts needs a node and an ip; got %r" % (entry,)
            )
        own = names.setdefault(str(entry["node"]), [])
        candidates = [entry.get("fqdn"), entry.get("hostname")]
        if entry.get("primary"):
            candidates.append(entry["node"])
        candidates.append(entry["ip"])
        for name in (str(candidate or "").strip().lower() for candidate in candidates):
            if name and name not in own:
                own.append(name)
    return names


def _previous_keys(previous):
    """{node: [(type, blob)]} from the lines of ours in a known_hosts text; other lines are not ours."""
    found = {}
    for line in str(previous or "").splitlines():
        fields = line.split()
        if len(fields) != 4 or not fields[3].startswith(TAG) or fields[0].startswith(("#", "@")):
            continue
        node = fields[3][len(TAG) :]
        try:
            key = public_key(" ".join(fields[1:3]), node)
        except OdaValidationError:
            continue  # a damaged line of ours: dropped, and the host's keys are read again next time
        found.setdefault(node, []).append(key)
    return found


def known_hosts(table, host_keys, previous=""):
    """The cluster's known_hosts lines, and which hosts' keys were kept or are missing.

    table is a network_hosts table; host_keys maps an inventory name to the
    public key lines read from that host just now (the lines of its
    /etc/ssh/ssh_host_*_key.pub; hosts not in it, or with no key, were not
    read); previous is the known_hosts text in place.  Returns
    {"lines": [...], "kept": [...], "missing": [...]}: lines in the table's
    order of hosts, key types sorted; kept, the hosts not read whose previous
    keys were kept; missing, the hosts with no keys at all, left out.
    """
    names = host_names(table)
    if not _is_mapping(host_keys):
        raise OdaValidationError("the host keys must map host names to key lines; got %r" % (host_keys,))
    strangers = sorted(str(node) for node in host_keys if str(node) not in names)
    if strangers:
        raise OdaValidationError(
            "keys were read from %s, which %s not among the cluster's hosts (%s)"
            % (", ".join(strangers), "is" if len(strangers) == 1 else "are", ", ".join(names))
        )
    before = _previous_keys(previous)
    lines, kept, missing = [], [], []
    for node, node_names in names.items():
        read = host_keys.get(node) or []
        if not _is_sequence(read):
            raise OdaValidationError(
                "node %s: its host keys must be a list of key lines; got %r" % (node, read)
            )
        keys = [public_key(line, node) for line in read if str(line).strip()]
        if not keys:
            keys = before.get(node, [])
            (kept if keys else missing).append(node)
        for key_type, blob in sorted(set(keys)):
            lines.append("%s %s %s %s%s" % (",".join(node_names), key_type, blob, TAG, node))
    return {"lines": lines, "kept": kept, "missing": missing}

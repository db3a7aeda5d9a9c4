# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""MAC addresses collected from a file: the oda_clients module and the oda command both read them here.

One entry per line, in any of these forms (blank lines and ``#`` comments
are skipped, fields are separated by blanks):

    52:54:00:12:34:56                       a MAC alone
    node001 52:54:00:12:34:56               a name and its MAC
    52:54:00:12:34:56 node001               the same, as in /etc/ethers
    1700000000 52:54:00:12:34:56 10.0.0.11 node001 01:52:54:00:12:34:56
                                            a dnsmasq leases file line

In a leases file, a host name of ``*`` means the client sent none, and the
DHCPv6 leases (the lines from the ``duid`` line on) carry no MAC and are
left out.  A MAC or a name given twice is an error naming both lines: a MAC list
with a repeated entry is a mistake, and guessing which line is right would
hide it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from . import oda_validate as validate
from .oda_errors import OdaValidationError

# dnsmasq writes "*" for a client that sent no host name.
_NO_NAME = "*"


def _mac_or_none(text):
    """The normal form of a MAC, or None when text is not one."""
    try:
        return validate.mac_address(text)
    except OdaValidationError:
        return None


def _is_number(text):
    return text.isdigit()


def _lease(fields):
    """(name, mac) of a dnsmasq lease line, or an error message (str)."""
    mac = _mac_or_none(fields[1])
    if mac is None:
        return "'%s' is not a MAC address" % fields[1]
    name = fields[3]
    if name == _NO_NAME:
        return (None, mac)
    # A host name is whatever the client sent; keep an odd one as it is, so
    # that it matches no node rather than being taken for a nameless MAC.
    try:
        return (validate.hostname(name), mac)
    except OdaValidationError:
        return (name, mac)


def _named(fields):
    """(name, mac) of a two-field line in either order, or an error message (str)."""
    first, second = (_mac_or_none(field) for field in fields)
    if first and second:
        return "both '%s' and '%s' read as MAC addresses; which one is the name?" % tuple(fields)
    if not first and not second:
        return "neither '%s' nor '%s' is a MAC address" % tuple(fields)
    name, mac = (fields[1], first) if first else (fields[0], second)
    try:
        return (validate.hostname(name), mac)
    except OdaValidationError as error:
        return str(error)


def _entry(fields):
    """(name or None, mac) for one line's fields, or an error message (str)."""
    if len(fields) == 1:
        try:
            return (None, validate.mac_address(fields[0]))
        except OdaValidationError as error:
            return str(error)
    if len(fields) == 2:
        return _named(fields)
    if len(fields) in (4, 5) and _is_number(fields[0]):
        return _lease(fields)
    return (
        "expected a MAC, 'name MAC', 'MAC name' or a dnsmasq lease "
        "(expiry MAC address name client-id); found %d fields in '%s'" % (len(fields), " ".join(fields))
    )


def parse_mac_lines(text, source="MAC list"):
    """Entries of a MAC list in file order: a list of (name or None, MAC in normal form).

    source names the text in error messages (a file name, for example).
    Raises OdaValidationError naming the line and what is wrong with it.
    """
    entries = []
    seen_macs, seen_names = {}, {}
    in_dhcpv6 = False
    for number, raw in enumerate(str(text).splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if fields[0] == "duid":
            # dnsmasq's server DUID: the leases after it are DHCPv6 ones,
            # named by IAID and DUID, never by MAC.
            in_dhcpv6 = True
        if in_dhcpv6:
            continue
        entry = _entry(fields)
        if isinstance(entry, str):
            raise OdaValidationError("%s line %d: %s" % (source, number, entry))
        name, mac = entry
        if mac in seen_macs:
            raise OdaValidationError(
                "%s line %d: MAC %s is already on line %d" % (source, number, mac, seen_macs[mac])
            )
        if name is not None and name in seen_names:
            raise OdaValidationError(
                "%s line %d: name %s is already on line %d" % (source, number, name, seen_names[name])
            )
        seen_macs[mac] = number
        if name is not None:
            seen_names[name] = number
        entries.append((name, mac))
    return entries


def read_mac_file(path):
    """parse_mac_lines of a file; OdaValidationError when it cannot be read or a line is bad."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise OdaValidationError("cannot read MAC file %s: %s" % (path, error.strerror)) from None
    except UnicodeDecodeError as error:
        raise OdaValidationError(
            "cannot read MAC file %s: not UTF-8 text (%s)" % (path, error.reason)
        ) from None
    return parse_mac_lines(text, source="MAC file %s" % path)


def macs_for_nodes(entries, names):
    """One MAC or None per node name, in the order of names, from parse_mac_lines entries.

    A named entry goes to the node of that name; entries named after hosts
    not in names are left out (a leases file covers the whole network).
    Nameless entries go, in file order, to the nodes that no named entry
    covers; nodes left over get None: their MACs are collected later.
    More nameless MACs than such nodes is an error, since nobody can tell
    which MAC was meant for which node.
    """
    wanted = {name: index for index, name in enumerate(names)}
    macs = [None] * len(names)
    nameless = []
    for name, mac in entries:
        if name is None:
            nameless.append(mac)
        elif name in wanted:
            macs[wanted[name]] = mac
    open_slots = [index for index, mac in enumerate(macs) if mac is None]
    if len(nameless) > len(open_slots):
        raise OdaValidationError(
            "%d MAC addresses without a name for %d nodes without one: give at most one per node"
            % (len(nameless), len(open_slots))
        )
    for index, mac in zip(open_slots, nameless):  # noqa: B905 - the lengths are checked above
        macs[index] = mac
    return macs


# The dnsmasq log line of a machine asking for an address:
#   DHCPDISCOVER(eth1) 52:54:00:12:34:56 no address available
#   DHCPDISCOVER(eth1) 10.0.0.5 52:54:00:12:34:56
# (journalctl may put "dnsmasq-dhcp[PID]:" and a serial number before it).
_DISCOVER = "DHCPDISCOVER("
_COLON_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")


def parse_dnsmasq_log(text):
    """The MACs of the machines a dnsmasq log shows asking for an address, first seen first.

    Only DHCPDISCOVER lines count, and in each the first MAC (a client id,
    01:52:54:..., has seven pairs and is no MAC); a MAC seen again is left
    out.  Returns entries as parse_mac_lines does: (None, MAC) pairs.
    """
    seen = {}
    for line in str(text).splitlines():
        if _DISCOVER not in line:
            continue
        for field in line.split(_DISCOVER, 1)[1].split()[1:]:
            if _COLON_MAC.fullmatch(field):
                mac = _mac_or_none(field)
                if mac is not None:
                    seen.setdefault(mac, None)
                break
    return [(None, mac) for mac in seen]

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks and normal forms for what ODA stores: MACs, addresses, names.

Every pattern is applied with ``fullmatch``: ``$`` would also match before a
final newline, and a name with a newline reached dnsmasq's configuration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import os
import keyword
import re

from .oda_errors import OdaValidationError

_MAC_SEPARATED = re.compile(r"([0-9A-Fa-f]{2})([:-])([0-9A-Fa-f]{2})(?:\2[0-9A-Fa-f]{2}){4}")
_MAC_DOTTED = re.compile(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}")
_MAC_BARE = re.compile(r"[0-9A-Fa-f]{12}")
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
# A kernel release as uname -r and /lib/modules name it: 6.1.0-28-amd64, 6.12.6+bpo-amd64.
_KERNEL_RELEASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+~-]{0,127}")
# A package as apt-get install takes it: name, name=version, name:arch, name/release.
_PACKAGE_SPEC = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+:=~/-]{0,254}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def mac_address(value):
    """A MAC in its normal form, aa:bb:cc:dd:ee:ff, or OdaValidationError naming it."""
    text = str(value or "").strip()
    if _MAC_SEPARATED.fullmatch(text):
        digits = re.sub(r"[:-]", "", text)
    elif _MAC_DOTTED.fullmatch(text):
        digits = text.replace(".", "")
    elif _MAC_BARE.fullmatch(text):
        digits = text
    else:
        raise OdaValidationError(
            "invalid MAC address '%s': expected six hex pairs such as 52:54:00:12:34:56" % text
        )
    digits = digits.lower()
    if digits == "0" * 12:
        raise OdaValidationError("invalid MAC address '%s': all zeros" % text)
    if int(digits[0:2], 16) & 1:
        raise OdaValidationError("invalid MAC address '%s': a multicast address cannot name a NIC" % text)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def ip_address(value):
    """An IPv4 or IPv6 address as text, or OdaValidationError naming it."""
    try:
        address = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise OdaValidationError("invalid IP address '%s'" % value) from None
    # Python takes any text after '%' as an IPv6 zone, a newline too; a
    # node's address in ODA (and in dnsmasq's files) has none.
    if getattr(address, "scope_id", None):
        raise OdaValidationError("invalid IP address '%s': a zone (%%...) has no place here" % value)
    return str(address)


def network(value):
    """A network in CIDR form (host bits must be zero), or OdaValidationError."""
    try:
        cidr = ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError as error:
        raise OdaValidationError("invalid network '%s': %s" % (value, error)) from None
    if getattr(cidr.network_address, "scope_id", None):
        raise OdaValidationError("invalid network '%s': a zone (%%...) has no place here" % value)
    return str(cidr)


def address_in_network(address, cidr, what="address"):
    """Refuse an address outside its network, or one that is its network or broadcast address."""
    ip = ipaddress.ip_address(address)
    net = ipaddress.ip_network(cidr)
    if ip not in net:
        raise OdaValidationError("%s %s is outside network %s" % (what, address, cidr))
    if net.num_addresses > 2 and ip in (net.network_address, net.broadcast_address):
        raise OdaValidationError("%s %s is the network or broadcast address of %s" % (what, address, cidr))
    return address


def hostname(value):
    """A host name (RFC 1123, letters, digits and '-'), lower-cased, or OdaValidationError."""
    text = str(value or "").strip()
    labels = text.split(".")
    if not text or len(text) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise OdaValidationError(
            "invalid host name '%s': use letters, digits and '-' in labels of at most 63 characters" % text
        )
    return text.lower()


def object_name(value, kind):
    """A name for a group, image, package or cluster, or OdaValidationError."""
    text = str(value or "").strip()
    if not _OBJECT_NAME.fullmatch(text):
        raise OdaValidationError(
            "invalid %s name '%s': start with a letter or digit; then letters, digits, '_', '.', ':' or '-'"
            % (kind, text)
        )
    return text


def variable_name(value):
    """An inventory variable name as Ansible accepts it: a Python identifier, not a keyword."""
    if not isinstance(value, str) or not _VARIABLE_NAME.fullmatch(value) or keyword.iskeyword(value):
        raise OdaValidationError(
            "invalid variable name '%s': use letters, digits and underscores, not starting with a digit,"
            " and not a Python keyword" % (value,)
        )
    return value


def choice(value, choices, what):
    """value if it is one of choices, or OdaValidationError naming it."""
    if value not in choices:
        raise OdaValidationError("invalid %s '%s': expected one of %s" % (what, value, ", ".join(choices)))
    return value


def number(value, what, low, high):
    """An int within [low, high]; digit strings are accepted, booleans are not."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise OdaValidationError("invalid %s '%s': expected a whole number" % (what, value))
    try:
        number = int(value)
    except ValueError:
        raise OdaValidationError("invalid %s '%s': expected a whole number" % (what, value)) from None
    if not low <= number <= high:
        raise OdaValidationError("invalid %s %d: expected %d to %d" % (what, number, low, high))
    return number


def absolute_path(value, what):
    """An absolute path in its normal form, or OdaValidationError naming it."""
    text = str(value).strip()
    if not os.path.isabs(text) or "\0" in text:
        raise OdaValidationError("invalid %s '%s': expected an absolute path" % (what, value))
    return os.path.normpath(text)


def kernel_release(value):
    """A kernel release such as 6.1.0-28-amd64, or OdaValidationError naming it."""
    text = value if isinstance(value, str) else ""
    if not _KERNEL_RELEASE.fullmatch(text):
        raise OdaValidationError(
            "invalid kernel release '%s': expected a release such as 6.1.0-28-amd64"
            " (letters, digits, '.', '_', '+', '~', '-')" % (value,)
        )
    return text


def package_spec(value):
    """A package as apt-get install takes it (name, name=version, name:arch), or OdaValidationError."""
    text = value if isinstance(value, str) else ""
    if not _PACKAGE_SPEC.fullmatch(text):
        raise OdaValidationError(
            "invalid package '%s': expected a package name such as openssh-server" % (value,)
        )
    return text


def sha256_hex(value, what):
    """A SHA-256 digest as 64 hexadecimal digits, in lower case, or OdaValidationError."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _SHA256.fullmatch(text):
        raise OdaValidationError(
            "invalid %s '%s': expected a SHA-256 digest (64 hexadecimal digits)" % (what, value)
        )
    return text


def timestamp(value, what):
    """An ISO 8601 date and time with its time zone, such as 2026-01-31T12:00:00Z, kept as given."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        # fromisoformat takes 'Z' from Python 3.11 on, the oldest Python modules run on.
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text:
        raise OdaValidationError(
            "invalid %s '%s': expected an ISO 8601 time with its zone, such as 2026-01-31T12:00:00Z"
            % (what, value)
        )
    return text

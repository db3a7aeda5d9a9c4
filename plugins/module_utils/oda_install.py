# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Network installation in ODA: disk layouts, what a node boots next, and where its install stands.

One implementation for the modules, the oda command and the boot service:

* ``normalize_layout`` and ``define_layout``/``remove_layout``/``list_layouts``/``get_layout``:
  the disk layouts nodes are installed with.
* ``set_boot_action``: what the node's PXE boot does next (local, install,
  stateless); install is refused for a node that could not be installed.
* ``record_report``: a report of an installing node, by the rules below.
* ``node_by_address``, ``install_plan``, ``boot_target``: what the boot
  service answers an installing node.
* ``install_history``: every report accepted, attempt by attempt.

The rules of reports, each of an attempt: ``booted`` starts a new attempt
whenever the node's boot_action is install (a node killed half-way boots
again); then only the stage after the current one; ``failed`` (with a
detail) at any stage of an attempt, which ends it; ``installed`` ends the
install and sets boot_action to local, so the next PXE boot goes to the
disk.  Every accepted report is appended to install_events; a refused one
changes nothing.  Writes return ``(changed, before, after)`` as every store
does (oda_store) and take ``check_mode``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import ipaddress
import json
import posixpath
import re

from . import nodeset
from . import oda_validate as validate
from .oda_errors import (
    OdaConflictError,
    OdaInstallOutOfOrder,
    OdaInstallRefused,
    OdaNotFoundError,
    OdaValidationError,
)
from .oda_store import now

# The stages an installer reports, in order.
STAGES = ("booted", "partitioned", "formatted", "copied", "configured", "bootloader", "installed")
FAILED = "failed"
# What a node's PXE boot does next; a NULL column reads as local.
BOOT_ACTIONS = ("local", "install", "stateless")
DEFAULT_BOOT_ACTION = "local"
# OdaInstallRefused.reason -> the HTTP status the boot service answers with.
REFUSALS = {"not-a-node": 403, "not-installing": 403, "not-next": 409}
# A report's detail, as the boot service takes it.
DETAIL_MAX = 1000
# The group of the head: its address on a node's network is the node's name server.
HEAD_GROUP = "oscar_server"
# The layout a node without one is installed with, when no layout named DEFAULT_LAYOUT_NAME is stored.
DEFAULT_LAYOUT_NAME = "default"
BUILTIN_LAYOUT = {
    "device": None,
    "partitions": [
        {"label": "bios", "size_mib": 1, "type": "bios"},
        {"label": "efi", "size_mib": 256, "type": "efi", "fs": "vfat", "mount": "/boot/efi"},
        {"label": "swap", "size_mib": 512, "type": "swap"},
        {"label": "root", "size_mib": None, "type": "linux", "fs": "ext4", "mount": "/"},
    ],
}

PARTITION_TYPES = ("bios", "efi", "swap", "linux")
FILESYSTEMS = ("ext4", "vfat")
# The space a GPT takes: its tables at both ends, within the first aligned MiB.
GPT_MIB = 1
# Sizes fit an INTEGER column and any disk: at most 1 EiB in MiB.
_SIZE_RANGE = (1, 1 << 40)
_LAYOUT_KEYS = ("name", "device", "partitions", "min_disk_mib")
_PARTITION_KEYS = ("label", "size_mib", "type", "fs", "mount")
# A GPT partition name (at most 36 characters) that also reads safely in an sfdisk script.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,35}")
# A device path the installer may be told to use: /dev/sda, /dev/disk/by-id/...
_DEVICE = re.compile(r"/dev/[A-Za-z0-9_.:+/-]{1,200}")
# A mount point as fstab takes it: no blanks, no '#'.
_MOUNT = re.compile(r"/[A-Za-z0-9_.+/-]{0,254}")

_INSTALL_SELECT = (
    "SELECT n.id, n.name, n.hostname, n.domain, n.image_id, i.name AS image, i.current_version,"
    " n.image_version, n.boot_action, n.install_stage, n.install_detail, n.install_updated_at,"
    " n.install_attempt, n.disk_layout_id, l.name AS disk_layout"
    " FROM nodes n LEFT JOIN images i ON i.id = n.image_id"
    " LEFT JOIN disk_layouts l ON l.id = n.disk_layout_id"
    " WHERE n.name = ?"
)
# What callers see of a node's install: its name and these columns.
STATUS_KEYS = (
    "boot_action",
    "install_stage",
    "install_detail",
    "install_updated_at",
    "install_attempt",
    "disk_layout",
)


# --- layouts -----------------------------------------------------------------


def _size(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise OdaValidationError("invalid %s '%s': expected a whole number of MiB" % (what, value))
    return validate.number(value, what, *_SIZE_RANGE)


def _partition(value, index):
    """One partition of a layout, checked, with the keys its type takes."""
    what = "partition %d" % (index + 1)
    if not isinstance(value, dict):
        raise OdaValidationError("invalid %s of the layout: expected a mapping" % what)
    unknown = sorted(set(value) - set(_PARTITION_KEYS))
    if unknown:
        raise OdaValidationError(
            "invalid %s: unknown key '%s'; expected %s" % (what, unknown[0], ", ".join(_PARTITION_KEYS))
        )
    label = value.get("label")
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise OdaValidationError(
            "invalid label '%s' of %s: 1 to 36 letters, digits, '_', '.' or '-'" % (label, what)
        )
    what = "partition '%s'" % label
    kind = validate.choice(value.get("type"), PARTITION_TYPES, "type of %s" % what)
    size = value.get("size_mib")
    partition = {
        "label": label,
        "size_mib": None if size is None else _size(size, "size_mib of %s" % what),
        "type": kind,
    }
    fs, mount = value.get("fs"), value.get("mount")
    if kind in ("bios", "swap"):
        if fs is not None or mount is not None:
            raise OdaValidationError("%s of type %s takes no fs and no mount" % (what, kind))
        return partition
    if kind == "efi":
        fs = "vfat" if fs is None else fs
        if fs != "vfat":
            raise OdaValidationError("%s of type efi needs fs vfat, not '%s'" % (what, fs))
    if fs is not None:
        partition["fs"] = validate.choice(fs, FILESYSTEMS, "file system of %s" % what)
    if mount is not None:
        if fs is None:
            raise OdaValidationError("%s has a mount point but no file system" % what)
        if not isinstance(mount, str) or not _MOUNT.fullmatch(mount):
            raise OdaValidationError(
                "invalid mount point '%s' of %s: expected an absolute path" % (mount, what)
            )
        normal = posixpath.normpath(mount)
        if normal.startswith("//"):
            normal = "/" + normal.lstrip("/")
        partition["mount"] = normal
    return partition


def normalize_layout(spec):
    """A disk layout in its normal form: {"device", "partitions"[, "min_disk_mib"]}; OdaValidationError else.

    spec is a mapping (or its JSON text) with partitions, a list of
    {label, size_mib, type, fs, mount}; size_mib null is the rest of the
    disk.  Refused: sizes that are not positive whole numbers, more than one
    rest partition or one that is not last, labels or mounts given twice,
    mounts that are not absolute, no root '/' or more than one, efi without
    vfat, unknown types and file systems, more than one bios or efi
    partition.  min_disk_mib, when given, is the smallest disk the layout
    must fit: the fixed sizes, 1 MiB for the GPT and 1 MiB at least for a
    rest partition.  A key "name" is allowed and left out: the name is the
    layout's, not its spec's.
    """
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError as error:
            raise OdaValidationError("invalid disk layout: not JSON (%s)" % error) from None
    if not isinstance(spec, dict):
        raise OdaValidationError("invalid disk layout '%s': expected a mapping with partitions" % (spec,))
    unknown = sorted(set(spec) - set(_LAYOUT_KEYS))
    if unknown:
        raise OdaValidationError(
            "invalid disk layout: unknown key '%s'; expected %s" % (unknown[0], ", ".join(_LAYOUT_KEYS))
        )
    device = spec.get("device")
    if device is not None and (not isinstance(device, str) or not _DEVICE.fullmatch(device)):
        raise OdaValidationError(
            "invalid device '%s' of the layout: expected a path such as /dev/sda, or null for the first disk"
            % (device,)
        )
    raw = spec.get("partitions")
    if isinstance(raw, str) or not isinstance(raw, (list, tuple)) or not raw:
        raise OdaValidationError("invalid disk layout: partitions must be a list of at least one partition")
    partitions = [_partition(value, index) for index, value in enumerate(raw)]
    _check_partitions(partitions)
    layout = {"device": device, "partitions": partitions}
    if spec.get("min_disk_mib") is not None:
        layout["min_disk_mib"] = _size(spec["min_disk_mib"], "min_disk_mib")
        _check_fits(partitions, layout["min_disk_mib"])
    return layout


def _check_partitions(partitions):
    labels, mounts = set(), set()
    for index, partition in enumerate(partitions):
        if partition["label"] in labels:
            raise OdaValidationError("partition label '%s' is given twice" % partition["label"])
        labels.add(partition["label"])
        mount = partition.get("mount")
        if mount is not None:
            if mount in mounts:
                raise OdaValidationError("mount point %s is given twice" % mount)
            mounts.add(mount)
        if partition["size_mib"] is None and index != len(partitions) - 1:
            raise OdaValidationError(
                "partition '%s' takes the rest of the disk (size_mib null): only the last one may"
                % partition["label"]
            )
    if "/" not in mounts:
        raise OdaValidationError("the layout has no root: one partition must mount /")
    for kind in ("bios", "efi"):
        if sum(1 for partition in partitions if partition["type"] == kind) > 1:
            raise OdaValidationError("the layout has more than one partition of type %s" % kind)


def layout_min_mib(layout):
    """The smallest disk, in MiB, a normalized layout fits on."""
    partitions = layout["partitions"]
    fixed = sum(partition["size_mib"] or 0 for partition in partitions)
    rest = any(partition["size_mib"] is None for partition in partitions)
    return fixed + GPT_MIB + (1 if rest else 0)


def _check_fits(partitions, min_disk_mib):
    needed = layout_min_mib({"partitions": partitions})
    if needed > min_disk_mib:
        raise OdaValidationError(
            "the layout needs %d MiB (its fixed sizes, %d MiB for the GPT and 1 MiB at least for a rest"
            " partition) but min_disk_mib is %d" % (needed, GPT_MIB, min_disk_mib)
        )


def _layout_name(name):
    return validate.object_name(name, "disk layout")


def _layout_row(db, name):
    return db.query_one("SELECT id, name, spec FROM disk_layouts WHERE name = ?", (name,))


def _public_layout(row):
    if row is None:
        return None
    return dict(json.loads(row["spec"]), name=row["name"])


def _spec_text(layout):
    return json.dumps(layout, sort_keys=True)


def get_layout(db, name):
    """One stored layout as {name, device, partitions[, min_disk_mib]}, or None."""
    name = _layout_name(name)
    with db.transaction(write=False):
        return _public_layout(_layout_row(db, name))


def list_layouts(db):
    """Every stored layout, by name, each with the names of the nodes that use it."""
    with db.transaction(write=False):
        rows = db.query("SELECT id, name, spec FROM disk_layouts")
        users = db.query("SELECT disk_layout_id, name FROM nodes WHERE disk_layout_id IS NOT NULL")
    by_layout = {}
    for user in users:
        by_layout.setdefault(user["disk_layout_id"], []).append(user["name"])
    layouts = []
    for row in sorted(rows, key=lambda row: nodeset.natural_key(row["name"])):
        layout = _public_layout(row)
        layout["nodes"] = sorted(by_layout.get(row["id"], []), key=nodeset.natural_key)
        layouts.append(layout)
    return layouts


def define_layout(db, name, spec, check_mode=False):
    """Store a disk layout under a name, or replace its spec; (changed, before, after).

    The spec is normalized first (normalize_layout); a "name" inside it must be this name.
    """
    name = _layout_name(name)
    if isinstance(spec, dict) and spec.get("name") not in (None, name):
        raise OdaValidationError("the layout's spec names it '%s', not '%s'" % (spec["name"], name))
    layout = normalize_layout(spec)
    with db.transaction(dry_run=check_mode):
        row = _layout_row(db, name)
        before = _public_layout(row)
        if row is None:
            db.execute("INSERT INTO disk_layouts (name, spec) VALUES (?, ?)", (name, _spec_text(layout)))
        elif json.loads(row["spec"]) != layout:
            db.execute("UPDATE disk_layouts SET spec = ? WHERE id = ?", (_spec_text(layout), row["id"]))
        after = _public_layout(_layout_row(db, name))
    return before != after, before, after


def remove_layout(db, name, check_mode=False):
    """Forget a layout no node uses; (changed, before, None).  An unknown layout is no change."""
    name = _layout_name(name)
    with db.transaction(dry_run=check_mode):
        row = _layout_row(db, name)
        if row is None:
            return False, None, None
        users = db.query("SELECT name FROM nodes WHERE disk_layout_id = ?", (row["id"],))
        if users:
            raise OdaConflictError(
                "disk layout '%s' is still used by nodes %s"
                % (name, nodeset.fold(user["name"] for user in users))
            )
        db.execute("DELETE FROM disk_layouts WHERE id = ?", (row["id"],))
    return True, _public_layout(row), None


def layout_id(db, name):
    """The id of a stored layout, or OdaNotFoundError naming it (Nodes writes disk_layout_id with it)."""
    row = _layout_row(db, _layout_name(name))
    if row is None:
        raise OdaNotFoundError(
            "unknown disk layout '%s'; define it first (oscar.cluster.oda_disk_layout)" % name
        )
    return row["id"]


# --- a node's boot action and install status ----------------------------------


def _node_row(db, name):
    return db.query_one(_INSTALL_SELECT, (name,))


def _status(row):
    """A node's install status as callers see it."""
    if row is None:
        return None
    status = {"node": row["name"]}
    status.update((key, row[key]) for key in STATUS_KEYS)
    status["boot_action"] = row["boot_action"] or DEFAULT_BOOT_ACTION
    return status


def install_status(db, node):
    """The install status of a node: {node, boot_action, install_stage, ...}; OdaNotFoundError if unknown."""
    name = validate.hostname(node)
    with db.transaction(write=False):
        row = _node_row(db, name)
    if row is None:
        raise OdaNotFoundError("unknown node '%s'" % name)
    return _status(row)


def _boot_version(db, row):
    """(version number, image_versions row or None) a node would be installed or booted with."""
    number = row["image_version"] if row["image_version"] is not None else row["current_version"]
    if number is None:
        return None, None
    version = db.query_one(
        "SELECT version, kernel, boot_kernel, boot_root_sha256 FROM image_versions"
        " WHERE image_id = ? AND version = ?",
        (row["image_id"], number),
    )
    return number, version


def _refuse_uninstallable(db, row, action):
    """OdaConflictError unless the node has an image version whose boot artifacts are exported."""
    name = row["name"]
    if row["image_id"] is None:
        raise OdaConflictError("node %s has no image: give it one before boot action %s" % (name, action))
    number, version = _boot_version(db, row)
    if number is None:
        raise OdaConflictError(
            "image '%s' of node %s has no current version: build it first (oscar.cluster.image)"
            % (row["image"], name)
        )
    if version is None or not version["boot_kernel"] or not version["boot_root_sha256"]:
        raise OdaConflictError(
            "image '%s' version %d (of node %s) has no boot artifacts recorded in ODA: export them"
            " (oscar.cluster.image_export) and record them (oscar.cluster.oda_image_version boot_kernel,"
            " boot_root_sha256)" % (row["image"], number, name)
        )


def set_boot_action(db, node, action, check_mode=False):
    """Set what a node's next PXE boot does; (changed, before, after) as install statuses.

    install (and stateless, which boots the same kernel) is refused for a
    node with no image, or whose image version (the node's image_version,
    else its image's current one) has no boot artifacts recorded.  Setting
    install resets install_stage and its detail: the install starts anew.
    """
    name = validate.hostname(node)
    action = validate.choice(action, BOOT_ACTIONS, "boot action")
    with db.transaction(dry_run=check_mode):
        row = _node_row(db, name)
        if row is None:
            raise OdaNotFoundError("unknown node '%s'" % name)
        before = _status(row)
        if action != DEFAULT_BOOT_ACTION:
            _refuse_uninstallable(db, row, action)
        if action == "install" and before["boot_action"] != "install":
            db.execute(
                "UPDATE nodes SET boot_action = ?, install_stage = NULL, install_detail = NULL WHERE id = ?",
                (action, row["id"]),
            )
        elif before["boot_action"] != action:
            db.execute("UPDATE nodes SET boot_action = ? WHERE id = ?", (action, row["id"]))
        after = _status(_node_row(db, name))
    return before != after, before, after


# --- reports -----------------------------------------------------------------


def _detail(detail):
    if detail is None:
        return None
    if not isinstance(detail, str):
        raise OdaValidationError("invalid report detail '%s': expected text" % (detail,))
    if len(detail) > DETAIL_MAX:
        raise OdaValidationError(
            "invalid report detail: %d characters, at most %d" % (len(detail), DETAIL_MAX)
        )
    if "\0" in detail:
        raise OdaValidationError("invalid report detail: it holds a NUL character")
    return detail


def _next_stage(current):
    """The stage that may follow current in an attempt, or None when only booted may come."""
    if current is None or current == FAILED or current not in STAGES:
        return None
    index = STAGES.index(current)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def record_report(db, node_name, stage, detail=None, check_mode=False):
    """Take an installing node's report; returns {node, stage, attempt, detail, at}.

    Refused, with nothing written: an unknown node (OdaInstallRefused,
    reason not-a-node), a node whose boot_action is not install
    (not-installing), a stage that is not the next one of the attempt
    (OdaInstallOutOfOrder, reason not-next), a stage not in STAGES or
    'failed', or a bad detail (OdaValidationError).
    """
    if stage != FAILED and stage not in STAGES:
        raise OdaValidationError(
            "invalid stage '%s': expected one of %s or %s" % (stage, ", ".join(STAGES), FAILED)
        )
    detail = _detail(detail)
    try:
        name = validate.hostname(node_name)
    except OdaValidationError:
        raise OdaInstallRefused("'%s' is no node in ODA" % (node_name,), "not-a-node") from None
    with db.transaction(dry_run=check_mode):
        row = _node_row(db, name)
        if row is None:
            raise OdaInstallRefused("'%s' is no node in ODA" % name, "not-a-node")
        if (row["boot_action"] or DEFAULT_BOOT_ACTION) != "install":
            raise OdaInstallRefused(
                "node %s is not being installed (boot action %s)"
                % (name, row["boot_action"] or DEFAULT_BOOT_ACTION),
                "not-installing",
            )
        current, attempt = row["install_stage"], row["install_attempt"] or 0
        if stage == "booted":
            attempt += 1
        elif stage == FAILED:
            if current is None or current == FAILED:
                raise OdaInstallOutOfOrder(
                    "node %s reports failed outside an attempt (stage %s): boot first"
                    % (name, current or "none")
                )
        elif stage != _next_stage(current):
            expected = _next_stage(current)
            raise OdaInstallOutOfOrder(
                "node %s reports %s after %s; expected %s"
                % (name, stage, current or "nothing", expected + " or booted" if expected else "booted")
            )
        at = now()
        columns = "install_stage = ?, install_detail = ?, install_updated_at = ?, install_attempt = ?"
        values = [stage, detail, at, attempt]
        if stage == "installed":
            # The next PXE boot goes to the disk the node was installed on.
            columns += ", boot_action = ?"
            values.append(DEFAULT_BOOT_ACTION)
        db.execute("UPDATE nodes SET %s WHERE id = ?" % columns, [*values, row["id"]])
        db.execute(
            "INSERT INTO install_events (node_id, attempt, stage, detail, at) VALUES (?, ?, ?, ?, ?)",
            (row["id"], attempt, stage, detail, at),
        )
    return {"node": name, "stage": stage, "attempt": attempt, "detail": detail, "at": at}


def install_history(db, node):
    """Every report a node made that was accepted, oldest first: [{attempt, stage, detail, at}]."""
    name = validate.hostname(node)
    with db.transaction(write=False):
        row = db.query_one("SELECT id FROM nodes WHERE name = ?", (name,))
        if row is None:
            raise OdaNotFoundError("unknown node '%s'" % name)
        events = db.query(
            "SELECT attempt, stage, detail, at FROM install_events WHERE node_id = ? ORDER BY id",
            (row["id"],),
        )
    return events


# --- what the boot service answers --------------------------------------------


def node_by_address(db, ip):
    """The name of the node with a NIC at this address, or None.

    An IPv4-mapped IPv6 address (a dual-stack server's view of an IPv4 client) counts as its IPv4 address.
    """
    address = ipaddress.ip_address(validate.ip_address(ip))
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    row = db.query_one(
        "SELECT n.name FROM nics x JOIN nodes n ON n.id = x.node_id WHERE x.ip = ?", (str(address),)
    )
    return None if row is None else row["name"]


def _known_node(db, node_name):
    """The install row of a node, or OdaInstallRefused (not-a-node)."""
    try:
        name = validate.hostname(node_name)
    except OdaValidationError:
        raise OdaInstallRefused("'%s' is no node in ODA" % (node_name,), "not-a-node") from None
    row = _node_row(db, name)
    if row is None:
        raise OdaInstallRefused("'%s' is no node in ODA" % name, "not-a-node")
    return row


def boot_target(db, node_name):
    """What a node's PXE script boots: {node, boot_action, image, version, kernel, root_sha256, macs}.

    image and the rest are None when the node has no bootable version (a
    node whose boot_action is local needs none).
    """
    with db.transaction(write=False):
        row = _known_node(db, node_name)
        number, version = (None, None) if row["image_id"] is None else _boot_version(db, row)
        macs = db.query("SELECT name, mac FROM nics WHERE node_id = ? AND mac IS NOT NULL", (row["id"],))
    bootable = version is not None and version["boot_kernel"] and version["boot_root_sha256"]
    return {
        "node": row["name"],
        "boot_action": row["boot_action"] or DEFAULT_BOOT_ACTION,
        "image": row["image"] if bootable else None,
        "version": number if bootable else None,
        "kernel": version["boot_kernel"] if bootable else None,
        "root_sha256": version["boot_root_sha256"] if bootable else None,
        "macs": [nic["mac"] for nic in sorted(macs, key=lambda nic: nodeset.natural_key(nic["name"]))],
    }


def node_layout(db, row):
    """The layout a node is installed with: its own, else the stored 'default', else BUILTIN_LAYOUT."""
    if row["disk_layout_id"] is not None:
        stored = db.query_one("SELECT name, spec FROM disk_layouts WHERE id = ?", (row["disk_layout_id"],))
    else:
        stored = _layout_row(db, DEFAULT_LAYOUT_NAME)
    if stored is not None:
        return _public_layout(stored)
    return dict(copy.deepcopy(BUILTIN_LAYOUT), name=DEFAULT_LAYOUT_NAME)


def _plan_nics(db, node_id):
    rows = db.query(
        "SELECT x.name, x.mac, x.ip, x.network_id, w.cidr, w.domain FROM nics x"
        " LEFT JOIN networks w ON w.id = x.network_id WHERE x.node_id = ?",
        (node_id,),
    )
    return sorted(rows, key=lambda nic: nodeset.natural_key(nic["name"]))


def _head_addresses(db, node_id):
    """{network id: the head's address on it}: of the first node (by name) of oscar_server, not this one."""
    rows = db.query(
        "SELECT n.name, x.ip, x.network_id FROM group_members m JOIN node_groups g ON g.id = m.group_id"
        " JOIN nodes n ON n.id = m.node_id JOIN nics x ON x.node_id = n.id"
        " WHERE g.name = ? AND n.id <> ? AND x.ip IS NOT NULL AND x.network_id IS NOT NULL",
        (HEAD_GROUP, node_id),
    )
    heads = {}
    for row in sorted(rows, key=lambda row: nodeset.natural_key(row["name"])):
        heads.setdefault(row["network_id"], row["ip"])
    return heads


def install_plan(db, node_name):
    """The plan an installing node fetches (the spec's plan JSON without authorized_keys and kernel_args).

    {node, hostname, domain, image, version, layout, nics, nameservers,
    search, stages}: nics with the prefix of their network; nameservers
    the head's (group oscar_server) address on each of the node's
    networks; search the node's domain, then its networks'.  Refused
    (OdaInstallRefused) for an unknown node (not-a-node) and a node not
    being installed (not-installing); OdaConflictError when its image
    version has no boot artifacts.
    """
    with db.transaction(write=False):
        row = _known_node(db, node_name)
        name = row["name"]
        if (row["boot_action"] or DEFAULT_BOOT_ACTION) != "install":
            raise OdaInstallRefused(
                "node %s is not being installed (boot action %s)"
                % (name, row["boot_action"] or DEFAULT_BOOT_ACTION),
                "not-installing",
            )
        _refuse_uninstallable(db, row, "install")
        number, _version = _boot_version(db, row)
        nics = _plan_nics(db, row["id"])
        heads = _head_addresses(db, row["id"])
        layout = node_layout(db, row)
    nameservers, search = [], []
    if row["domain"]:
        search.append(row["domain"])
    for nic in nics:
        head = heads.get(nic["network_id"])
        if head is not None and head not in nameservers:
            nameservers.append(head)
        if nic["domain"] and nic["domain"] not in search:
            search.append(nic["domain"])
    return {
        "node": name,
        "hostname": row["hostname"],
        "domain": row["domain"],
        "image": row["image"],
        "version": number,
        "layout": {"name": layout.pop("name"), **layout},
        "nics": [
            {
                "name": nic["name"],
                "mac": nic["mac"],
                "ip": nic["ip"],
                "prefix": None if nic["cidr"] is None else ipaddress.ip_network(nic["cidr"]).prefixlen,
            }
            for nic in nics
        ],
        "nameservers": nameservers,
        "search": search,
        "stages": list(STAGES),
    }

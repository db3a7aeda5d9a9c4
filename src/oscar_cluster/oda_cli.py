"""The ``oda`` command: ODA, the cluster database, for administrators.

The ``oda`` console script runs ``main()``.  Every piece of data goes through the Oda API
(oda.py) and its companions (oda_transfer for dump, restore, export and
import; oda_macs for MAC files): this module parses arguments, calls them
and prints.  Exit status: 0 done, 1 refused (a message ``oda: error: ...``
names the value), 2 usage, 3 database unavailable.
"""

import argparse
import json
import operator
import os
import sys
import tempfile

from oscar_cluster.module_utils import nodeset, oda_install
from oscar_cluster.module_utils import oda_transfer as transfer
from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_db import DEFAULT_URL, PASSWORD_ENV, URL_ENV, resolve
from oscar_cluster.module_utils.oda_errors import (
    OdaConflictError,
    OdaError,
    OdaNotFoundError,
    OdaUnavailableError,
)
from oscar_cluster.module_utils.oda_macs import (
    macs_for_nodes,
    parse_mac_lines,
    read_mac_file,
)
from oscar_cluster.module_utils.oda_nodes import IMAGE_STATES, NODE_STATES, changed_nodes

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

FORMATS = ("table", "yaml", "json")
STDIO = "-"


class CommandError(Exception):
    """A refusal of the command itself (a file it cannot read, a removal without --yes): exit 1."""


# --- reading and writing files -------------------------------------------------


def _source_name(path):
    """How messages name a file argument: '-' is standard input."""
    return "standard input" if path == STDIO else path


def _read_text(path):
    """The text of a file, or of standard input for '-'."""
    if path == STDIO:
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise CommandError("cannot read %s: %s" % (path, error.strerror)) from None
    except UnicodeDecodeError as error:
        raise CommandError("cannot read %s: not UTF-8 text (%s)" % (path, error.reason)) from None


def _write_text(path, text):
    """Write text to standard output (no path or '-') or atomically to a file only its owner reads.

    Dumps and exports hold the whole cluster's layout and configuration; a
    reader never sees half a file, and an interrupted write leaves the old one.
    """
    if path in (None, STDIO):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(prefix=".oda-", dir=directory)
    except OSError as error:
        raise CommandError("cannot write %s: %s" % (path, error.strerror)) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise CommandError("cannot write %s: %s" % (path, error.strerror)) from None


def _yaml():
    """PyYAML, imported when a command needs it."""
    try:
        # Imported here: module_utils must import without PyYAML, and most verbs never need it.
        import yaml  # noqa: PLC0415
    except ImportError:
        raise CommandError("this needs PyYAML (the python3-yaml package)") from None
    return yaml


def _definition_loader(yaml):
    """A safe YAML loader that refuses aliases (*name).

    A cluster definition never needs them (export writes none), and a few
    nested aliases make a 1 KB file expand to gigabytes when it is written
    as JSON: refuse them all rather than guess a limit.  The C loader
    composes the document (aliases there are shared, cheap nodes); the
    Python constructor meets an aliased node a second time, and stops.
    """
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class DefinitionLoader(base):
        def construct_object(self, node, deep=False):
            if node in self.constructed_objects or node in self.recursive_objects:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "found an alias of the node that starts here; aliases (*name) are not allowed"
                    " in a cluster definition: write the value out",
                    node.start_mark,
                )
            return super().construct_object(node, deep=deep)

    return DefinitionLoader


def _load_yaml(text, source):
    yaml = _yaml()
    try:
        # libyaml's safe loader when there is one: the same rules, ten times faster on big clusters.
        return yaml.load(text, Loader=_definition_loader(yaml))
    except yaml.YAMLError as error:
        raise CommandError("%s is not valid YAML: %s" % (source, error)) from None


def _read_password(args):
    """The database password from --password-file, else None (oda_db.resolve looks further)."""
    path = getattr(args, "password_file", None)
    if path is None:
        return None
    text = _read_text(path)
    password = text.splitlines()[0] if text else ""
    if not password:
        raise CommandError("password file %s is empty" % path)
    return password


# --- printing ------------------------------------------------------------------


def _say(line):
    """One line on standard output: the command's only way to speak (module_utils may not print)."""
    sys.stdout.write("%s\n" % line)


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value) or "-"
    return str(value)


def _table(columns, rows):
    """Lines of a table: columns is a list of (header, function of a row)."""
    cells = [[header for header, _get in columns]]
    cells.extend([_cell(get(row)) for _header, get in columns] for row in rows)
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    return ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in cells]  # noqa: B905


def _structured(args, data):
    """data as JSON or YAML text, per --format."""
    if _format(args) == "json":
        return json.dumps(data, indent=2, sort_keys=False) + "\n"
    return _dump_yaml(data)


def _dump_yaml(data):
    """YAML text of plain data, keys in the order given; libyaml's safe dumper when there is one."""
    yaml = _yaml()
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False)


def _format(args):
    return getattr(args, "format", None) or "table"


def _listing(args, columns, rows):
    """Print rows (dicts) as a table, or as JSON or YAML."""
    if _format(args) == "table":
        for line in _table(columns, rows):
            _say(line)
    else:
        sys.stdout.write(_structured(args, rows))


def _report(args, lines, data):
    """Print the outcome of a write: lines of text, or data as JSON or YAML."""
    if _format(args) == "table":
        for line in lines:
            _say(line)
    else:
        sys.stdout.write(_structured(args, data))


def _verb(args, done):
    """'created' or, in check mode, 'would create'."""
    if not args.check:
        return done
    infinitive = {"created": "create", "changed": "change", "removed": "remove", "defined": "define"}
    return "would " + infinitive.get(done, done)


# --- columns of the listings ---------------------------------------------------


def _partition_text(partition):
    """'root:ext4:/=rest', 'swap=512': a partition in one word."""
    parts = [partition["label"], partition.get("fs") or partition["type"]]
    if partition.get("mount"):
        parts.append(partition["mount"])
    size = "rest" if partition["size_mib"] is None else str(partition["size_mib"])
    return "%s=%s" % (":".join(parts), size)


def _nics_text(node):
    return "; ".join(" ".join(_cell(nic[key]) for key in ("name", "ip", "mac")) for nic in node["nics"])


def _fields(*keys):
    """Columns that show a key of each row as it is, headed by the key in capitals."""
    return [(key.upper(), operator.itemgetter(key)) for key in keys]


NODE_COLUMNS = [
    *_fields("name", "state", "excluded", "image"),
    ("VERSION", operator.itemgetter("image_version")),
    ("IMAGE STATE", operator.itemgetter("image_state")),
    ("BOOT", operator.itemgetter("boot_action")),
    ("INSTALL", operator.itemgetter("install_stage")),
    *_fields("groups"),
    ("NICS (name ip mac)", _nics_text),
]
HISTORY_COLUMNS = _fields("attempt", "stage", "at", "detail")
LAYOUT_COLUMNS = [
    ("NAME", operator.itemgetter("name")),
    ("DEVICE", lambda layout: layout["device"] or "first disk"),
    ("PARTITIONS", lambda layout: " ".join(_partition_text(part) for part in layout["partitions"])),
    ("NODES", lambda layout: nodeset.fold(layout["nodes"]) if layout["nodes"] else None),
]
PARTITION_COLUMNS = [
    *_fields("label", "type"),
    ("SIZE (MiB)", lambda part: "rest" if part["size_mib"] is None else part["size_mib"]),
    ("FS", lambda part: part.get("fs")),
    ("MOUNT", lambda part: part.get("mount")),
]
MAC_COLUMNS = _fields("node", "nic", "mac", "ip", "network")
NETWORK_COLUMNS = [
    *_fields("name", "cidr", "gateway", "domain"),
    ("DHCP", lambda net: "%s-%s" % (net["dhcp_start"], net["dhcp_end"]) if net["dhcp_start"] else None),
    *_fields("mtu", "cluster"),
]
GROUP_COLUMNS = [
    ("NAME", operator.itemgetter("name")),
    ("NODES", lambda group: len(group["members"])),
    ("MEMBERS", lambda group: nodeset.fold(group["members"]) if group["members"] else None),
    ("DESCRIPTION", operator.itemgetter("description")),
]
IMAGE_COLUMNS = [
    *_fields("name", "state", "distro", "suite", "arch"),
    ("CURRENT", operator.itemgetter("current_version")),
    *_fields("kernel", "path"),
]
# The current version is marked with a '*' in its own column, as 'git branch' marks the current branch.
IMAGE_VERSION_COLUMNS = [
    ("CURRENT", lambda version: "*" if version["current"] else ""),
    *_fields("version", "parent", "created", "kernel"),
    ("PACKAGES", lambda version: None if version["packages"] is None else len(version["packages"])),
    *_fields("note"),
]
# What 'oda image show' prints, in this order, one 'key: value' line each.
IMAGE_SHOW_KEYS = ("name", "state", "distro", "suite", "arch", "path", "current_version", "kernel")
CLUSTER_COLUMNS = _fields("name", "description")
PACKAGE_COLUMNS = _fields("name", "version", "requires", "conflicts", "summary")
STEP_COLUMNS = [*_fields("name", "status"), ("UPDATED", operator.itemgetter("updated_at"))]
TABLE_COLUMNS = _fields("table", "rows")
FIELD_COLUMNS = _fields("column", "type", "null", "key", "references")


def _status_columns(kind):
    return _fields(kind, "package", "status")


# --- verbs: the database -------------------------------------------------------


def cmd_init(oda, args):
    before, after = oda.schema_versions
    data = {"database": oda.db.url, "schema_version": after, "created": before == 0}
    if before == 0:
        line = "created ODA in %s: schema version %d, cluster and default groups" % (oda.db.url, after)
    elif oda.created_defaults or before != after:
        line = "initialised %s: schema version %d -> %d" % (oda.db.url, before, after)
    else:
        line = "%s is initialised already: schema version %d" % (oda.db.url, after)
    _report(args, [line], data)


def cmd_upgrade(oda, args):
    before, after = oda.schema_versions
    data = {"database": oda.db.url, "before": before, "after": after, "changed": before != after}
    if before == after:
        line = "%s: schema version %d, up to date" % (oda.db.url, after)
    else:
        line = "%s: schema version %d -> %d" % (oda.db.url, before, after)
    _report(args, [line], data)


def cmd_tables(oda, args):
    counts = transfer.table_counts(oda)
    _listing(args, TABLE_COLUMNS, [{"table": name, "rows": rows} for name, rows in counts.items()])


def cmd_fields(_oda, args):
    tab = transfer.find_table(args.table)
    rows = [
        {
            "column": col["name"],
            "type": col["kind"],
            "null": col["null"] and col["kind"] != "id",
            "key": _key_of(tab, col),
            "references": col["references"],
        }
        for col in tab["columns"]
    ]
    _listing(args, FIELD_COLUMNS, rows)


def _key_of(tab, col):
    """'primary', 'unique', or the composite key a column is part of, such as 'unique (node_id, name)'."""
    if col["kind"] == "id" or tab["primary_key"] == (col["name"],):
        return "primary"
    if col["unique"]:
        return "unique"
    if col["name"] in tab["primary_key"]:
        return "primary (%s)" % ", ".join(tab["primary_key"])
    for columns in tab["unique"]:
        if col["name"] in columns:
            return "unique (%s)" % ", ".join(columns)
    return None


def cmd_dump(oda, args):
    text = transfer.dump_text(oda)
    _write_text(args.file, text)
    if args.file not in (None, STDIO):
        _say("dumped %d rows of %s to %s" % (transfer.dump_row_count(text), oda.db.url, args.file))


def cmd_restore(oda, args):
    source = _source_name(args.file)
    counts = transfer.restore(oda, _read_text(args.file), source=source, check_mode=args.check)
    total = sum(counts.values())
    filled = ", ".join("%s %d" % (name, count) for name, count in counts.items() if count)
    line = "%s %d rows into %s (%s)" % (
        "would restore" if args.check else "restored",
        total,
        oda.db.url,
        filled,
    )
    _report(args, [line], {"database": oda.db.url, "rows": counts, "check": args.check})


def cmd_export(oda, args):
    data = transfer.export_data(oda)
    text = json.dumps(data, indent=2) + "\n" if _format(args) == "json" else _dump_yaml(data)
    _write_text(args.file, text)
    if args.file not in (None, STDIO):
        _say("exported %d nodes of %s to %s" % (len(data["nodes"]), oda.db.url, args.file))


def cmd_import(oda, args):
    source = _source_name(args.file)
    data = _load_yaml(_read_text(args.file), source)
    report = transfer.import_data(oda, data, source=source, check_mode=args.check)
    lines = transfer.fold_report(report, check_mode=args.check) or ["nothing to change"]
    _report(args, lines, dict(report, check=args.check))


# --- verbs: shortcuts ----------------------------------------------------------


def cmd_nodes(oda, args):
    _listing(args, NODE_COLUMNS, oda.nodes.list(args.nodeset))


def cmd_group_nodes(oda, args):
    members = oda.groups.members(args.group)
    if _format(args) == "table":
        for name in members:
            _say(name)
    else:
        sys.stdout.write(_structured(args, members))


def _mac_rows(oda, pattern):
    return [
        {
            "node": node["name"],
            "nic": nic["name"],
            "mac": nic["mac"],
            "ip": nic["ip"],
            "network": nic["network"],
        }
        for node in oda.nodes.list(pattern)
        for nic in node["nics"]
    ]


def usage_macs(args):
    """'oda macs [NODESET]' and 'oda macs import FILE ...' share one parser: refuse mixtures."""
    # Only the listing reads alone; import writes.
    args.read_only = args.nodeset != "import"
    if args.nodeset == "import":
        if args.file is None:
            args.command_parser.error("'oda macs import' needs a FILE")
        return
    if args.file is not None:
        args.command_parser.error("unexpected argument '%s'" % args.file)
    for option in ("nodes", "nic", "check"):
        if getattr(args, option) not in (None, False):
            args.command_parser.error("--%s belongs to 'oda macs import'" % option)


def cmd_macs(oda, args):
    if args.nodeset == "import":
        return _import_macs(oda, args)
    _listing(args, MAC_COLUMNS, _mac_rows(oda, args.nodeset))
    return EXIT_OK


def _import_macs(oda, args):
    source = _source_name(args.file)
    if args.file == STDIO:
        entries = parse_mac_lines(sys.stdin.read(), source="standard input")
    else:
        entries = read_mac_file(args.file)
    nic = args.nic or "eth0"
    skipped = []
    if args.nodes is not None:
        names = oda.nodes.expand(args.nodes)
        macs = dict((name, mac) for name, mac in zip(names, macs_for_nodes(entries, names)) if mac)  # noqa: B905
        skipped = [name for name in names if name not in macs]
    else:
        nameless = [mac for name, mac in entries if name is None]
        if nameless:
            raise CommandError(
                "%s holds %d MAC addresses without a node name (first %s): say which nodes take them"
                " with --nodes" % (source, len(nameless), nameless[0])
            )
        macs = dict(entries)
    if not macs:
        wanted = " for %s" % nodeset.fold(skipped) if skipped else ""
        raise CommandError("%s holds no MAC address%s" % (source, wanted))
    changed, names = changed_nodes(oda.nodes.assign_macs(macs, nic=nic, check_mode=args.check))
    if changed:
        lines = ["%s MAC of %s on %s" % (_verb(args, "changed"), nic, nodeset.fold(names))]
    else:
        lines = ["nothing to change: %d nodes already have these MACs" % len(macs)]
    if skipped:
        lines.append("no MAC in %s for %s" % (source, nodeset.fold(skipped)))
    _report(args, lines, {"changed": changed, "nodes": names, "without_mac": skipped, "check": args.check})
    return EXIT_OK


def cmd_images(oda, args):
    _listing(args, IMAGE_COLUMNS, oda.images.list())


def _image_and_versions(oda, name):
    """(image, its versions each with 'current' true or false); an unknown image is an error."""
    with oda.db.transaction(write=False):
        image = oda.images.get(name)
        if image is None:
            raise OdaNotFoundError("unknown image '%s'" % name)
        versions = oda.image_versions.list(image=name)
    current = image["current_version"]
    return image, [dict(version, current=version["version"] == current) for version in versions]


def cmd_image_versions(oda, args):
    _image, versions = _image_and_versions(oda, args.name)
    _listing(args, IMAGE_VERSION_COLUMNS, versions)


def cmd_image_show(oda, args):
    image, versions = _image_and_versions(oda, args.name)
    if _format(args) != "table":
        sys.stdout.write(_structured(args, dict(image, versions=versions)))
        return
    for key in IMAGE_SHOW_KEYS:
        _say("%s: %s" % (key, _cell(image[key])))
    _say("versions: %s" % (_cell([version["version"] for version in versions])))


def cmd_networks(oda, args):
    _listing(args, NETWORK_COLUMNS, oda.networks.list())


def cmd_groups(oda, args):
    _listing(args, GROUP_COLUMNS, oda.groups.list())


def cmd_clusters(oda, args):
    _listing(args, CLUSTER_COLUMNS, oda.clusters.list())


def cmd_packages(oda, args):
    _listing(args, PACKAGE_COLUMNS, oda.packages.list())


def cmd_node_packages(oda, args):
    if not oda.nodes.list(args.nodeset):
        raise OdaNotFoundError("no stored node matches '%s'" % args.nodeset)
    rows = [
        {"node": row["node"], "package": row["package"], "status": row["status"]}
        for row in oda.packages.list_statuses(nodes=args.nodeset)
    ]
    rows.sort(key=lambda row: (nodeset.natural_key(row["node"]), nodeset.natural_key(row["package"])))
    _listing(args, _status_columns("node"), rows)


def cmd_image_packages(oda, args):
    rows = [
        {"image": row["image"], "package": row["package"], "status": row["status"]}
        for row in oda.packages.list_statuses(image=args.image)
    ]
    _listing(args, _status_columns("image"), rows)


def cmd_steps(oda, args):
    _listing(args, STEP_COLUMNS, oda.steps.list())


# --- verbs: nodes --------------------------------------------------------------


def cmd_node_add(oda, args):
    pattern = args.nodeset
    macs = None
    if args.macs_file is not None:
        if args.macs_file == STDIO:
            entries = parse_mac_lines(sys.stdin.read(), source="standard input")
        else:
            entries = read_mac_file(args.macs_file)
        if not entries:
            # Most likely the wrong file: say so rather than define nodes without MACs.
            raise CommandError("%s holds no MAC address" % _source_name(args.macs_file))
        pattern = oda.nodes.expand(args.nodeset)
        macs = macs_for_nodes(entries, pattern)
    outcome = oda.nodes.define_clients(
        pattern,
        args.network,
        args.start_ip,
        image=args.image,
        group=args.group,
        macs=macs,
        nic=args.nic,
        check_mode=args.check,
    )
    changed, names = changed_nodes(outcome)
    if changed:
        line = "%s %d nodes: %s" % (_verb(args, "defined"), len(names), nodeset.fold(names))
    else:
        line = "nothing to change: %s defined as asked already" % args.nodeset
    _report(args, [line], {"changed": changed, "nodes": names, "check": args.check})


def _group_changes(values):
    """(added, removed) group names from --group values: +G or G adds, -G removes."""
    added, removed = [], []
    for value in values or ():
        if value.startswith("-"):
            removed.append(value[1:])
        else:
            added.append(value[1:] if value.startswith("+") else value)
    return added, removed


def usage_node_modify(args):
    asked = (args.image, args.state, args.excluded, args.image_version, args.image_state)
    asked += (args.boot, args.disk_layout)
    if all(value is None for value in asked) and not args.group:
        args.command_parser.error(
            "nothing to modify: give --image, --image-version, --image-state, --state, --exclude,"
            " --include, --group, --boot or --disk-layout"
        )


def cmd_node_modify(oda, args):
    added, removed = _group_changes(args.group)
    outcome = oda.nodes.update(
        args.nodeset,
        image=args.image,
        state=args.state,
        excluded=args.excluded,
        add_groups=added,
        remove_groups=removed,
        image_version=args.image_version,
        image_state=args.image_state,
        boot_action=args.boot,
        disk_layout=args.disk_layout,
        check_mode=args.check,
    )
    changed, names = changed_nodes(outcome)
    if changed:
        line = "%s %d nodes: %s" % (_verb(args, "changed"), len(names), nodeset.fold(names))
    else:
        line = "nothing to change: %s is as asked already" % args.nodeset
    _report(args, [line], {"changed": changed, "nodes": names, "check": args.check})


def cmd_node_history(oda, args):
    with oda.db.transaction(write=False):
        status = oda_install.install_status(oda.db, args.name)
        events = oda_install.install_history(oda.db, args.name)
    if _format(args) != "table":
        sys.stdout.write(_structured(args, dict(status, history=events)))
        return
    _say(
        "node %s: boot %s, install stage %s, attempt %s%s"
        % (
            status["node"],
            status["boot_action"],
            _cell(status["install_stage"]),
            _cell(status["install_attempt"]),
            ", layout %s" % status["disk_layout"] if status["disk_layout"] else "",
        )
    )
    if events:
        for line in _table(HISTORY_COLUMNS, events):
            _say(line)
    else:
        _say("no install reports")


def cmd_layout_list(oda, args):
    _listing(args, LAYOUT_COLUMNS, oda_install.list_layouts(oda.db))


def cmd_layout_show(oda, args):
    layout = oda_install.get_layout(oda.db, args.name)
    if layout is None:
        if args.name != oda_install.DEFAULT_LAYOUT_NAME:
            raise OdaNotFoundError("unknown disk layout '%s'" % args.name)
        # What a node without a layout gets while no layout named default is stored.
        layout = dict(oda_install.BUILTIN_LAYOUT, name=args.name, builtin=True)
    if _format(args) != "table":
        sys.stdout.write(_structured(args, layout))
        return
    _say("name: %s%s" % (layout["name"], " (built in)" if layout.get("builtin") else ""))
    _say("device: %s" % (layout["device"] or "the first disk that is not removable"))
    _say("smallest disk: %d MiB" % oda_install.layout_min_mib(layout))
    if layout.get("min_disk_mib"):
        _say("min_disk_mib: %d" % layout["min_disk_mib"])
    for line in _table(PARTITION_COLUMNS, layout["partitions"]):
        _say(line)


def cmd_layout_define(oda, args):
    spec = _load_yaml(_read_text(args.file), _source_name(args.file))
    changed, before, after = oda_install.define_layout(oda.db, args.name, spec, check_mode=args.check)
    if not changed:
        line = "nothing to change: layout %s is as asked already" % args.name
    else:
        line = "%s layout %s: %s" % (
            _verb(args, "changed" if before else "created"),
            args.name,
            " ".join(_partition_text(part) for part in after["partitions"]),
        )
    _report(args, [line], {"changed": changed, "before": before, "after": after, "check": args.check})


def cmd_layout_remove(oda, args):
    _remove_named(
        args, "layout", lambda name, check_mode: oda_install.remove_layout(oda.db, name, check_mode)
    )


def cmd_node_remove(oda, args):
    removing = list(oda.nodes.remove_many(args.nodeset, check_mode=not args.yes or args.check)[1])
    if not removing:
        _report(args, ["nothing to remove: no stored node matches %s" % args.nodeset], {"removed": []})
        return EXIT_OK
    if not args.yes and not args.check:
        raise CommandError(
            "this would remove %d nodes: %s; add --yes to remove them"
            % (len(removing), nodeset.fold(removing))
        )
    line = "%s %d nodes: %s" % (_verb(args, "removed"), len(removing), nodeset.fold(removing))
    _report(args, [line], {"removed": removing, "check": args.check})
    return EXIT_OK


# --- verbs: networks, groups, images -------------------------------------------


def _changes(before, after):
    """'key: old -> new' for every key whose value differs."""
    return [
        "%s: %s -> %s" % (key, _cell(before.get(key)), _cell(after.get(key)))
        for key in after
        if before.get(key) != after.get(key)
    ]


def _network_options(args):
    return {
        "gateway": args.gateway,
        "domain": args.domain,
        "dhcp_start": args.dhcp_start,
        "dhcp_end": args.dhcp_end,
        "mtu": args.mtu,
    }


def cmd_network_add(oda, args):
    with oda.db.transaction(dry_run=args.check):
        if oda.networks.get(args.name) is not None:
            raise OdaConflictError(
                "network '%s' exists already; change it with 'oda network modify'" % args.name
            )
        _changed, _before, after = oda.networks.ensure(
            args.name, args.cidr, cluster=args.cluster, **_network_options(args)
        )
    line = "%s network %s: %s" % (_verb(args, "created"), args.name, after["cidr"])
    _report(args, [line], {"changed": True, "network": after, "check": args.check})


def cmd_network_modify(oda, args):
    with oda.db.transaction(dry_run=args.check):
        current = oda.networks.get(args.name)
        if current is None:
            raise OdaNotFoundError("unknown network '%s'; create it with 'oda network add'" % args.name)
        changed, before, after = oda.networks.ensure(
            args.name,
            args.cidr or current["cidr"],
            cluster=args.cluster or current["cluster"],
            **_network_options(args),
        )
    if changed:
        lines = [
            "%s network %s: %s" % (_verb(args, "changed"), args.name, "; ".join(_changes(before, after)))
        ]
    else:
        lines = ["nothing to change: network %s is as asked already" % args.name]
    _report(args, lines, {"changed": changed, "before": before, "after": after, "check": args.check})


def _remove_named(args, kind, remove):
    changed = remove(args.name, check_mode=args.check)[0]
    if changed:
        line = "%s %s %s" % (_verb(args, "removed"), kind, args.name)
    else:
        line = "nothing to remove: there is no %s %s" % (kind, args.name)
    _report(args, [line], {"changed": changed, kind: args.name, "check": args.check})


def cmd_network_remove(oda, args):
    _remove_named(args, "network", oda.networks.remove)


def _add_named(oda, args, kind, get, ensure, **values):
    with oda.db.transaction(dry_run=args.check):
        if get(args.name) is not None:
            raise OdaConflictError("%s '%s' exists already" % (kind, args.name))
        _changed, _before, after = ensure(args.name, **values)
    _report(
        args, ["%s %s %s" % (_verb(args, "created"), kind, args.name)], {kind: after, "check": args.check}
    )


def cmd_group_add(oda, args):
    _add_named(oda, args, "group", oda.groups.get, oda.groups.ensure, description=args.description)


def cmd_group_remove(oda, args):
    _remove_named(args, "group", oda.groups.remove)


def cmd_image_add(oda, args):
    _add_named(
        oda,
        args,
        "image",
        oda.images.get,
        oda.images.ensure,
        distro=args.distro,
        arch=args.arch,
        path=args.path,
    )


def cmd_image_remove(oda, args):
    _remove_named(args, "image", oda.images.remove)


# --- the parser ----------------------------------------------------------------

_FORMATTER = argparse.RawDescriptionHelpFormatter

MAIN_DESCRIPTION = """\
ODA is the cluster database of OSCAR: networks, node groups, images, nodes
with their NICs, packages and their configuration, and the wizard's steps.
This command reads and changes it.  Every change is one transaction: when
any value is refused, nothing is written.
"""

MAIN_EPILOG = """\
database:
  --database URL, else $%(url_env)s, else %(default_url)s.
  URLs: sqlite:/path/oda.db, mysql://user@host/db (also mariadb://),
  postgresql://user@host/db.  The password comes from $%(password_env)s or
  --password-file FILE, never from the command line.

shortcuts (listings; --format table, yaml or json):
  nodes [NODESET]        nodes with state, image, groups and NICs
  node-packages NODESET  package statuses of nodes
  group-nodes GROUP      names of a group's nodes, one per line
  macs [NODESET]         MAC, address and network of every NIC
  networks, groups, images, clusters, packages, steps
  image-packages IMAGE   package statuses of an image

node sets:
  node[001-064]  node[1-9/2]  rack[1-2]-n[1-4]  a,b  node[1-8]!node3  @group

examples:
  oda init
  oda network add cluster --cidr 10.0.0.0/24 --gateway 10.0.0.1 --domain cluster.lan
  oda image add rocky9 --distro rocky-9 --arch x86_64 --path /var/lib/oscar/images/rocky9
  oda node add 'node[001-064]' --network cluster --start-ip 10.0.0.11 --image rocky9
  oda macs import /var/lib/misc/dnsmasq.leases --nodes 'node[001-064]'
  oda node modify 'node[001-004]' --state down --exclude --group=-oscar_clients
  oda layout define default layout.yml && oda node modify node001 --boot install
  oda node history node001
  oda nodes '@oscar_clients' --format yaml
  oda export cluster.yml && oda --database sqlite:/tmp/copy.db import cluster.yml
  oda dump oda.jsonl && oda --database postgresql://oscar@db/oda restore oda.jsonl

exit status: 0 done, 1 refused (a message names the value), 2 usage, 3 database unavailable.
""" % {"url_env": URL_ENV, "default_url": DEFAULT_URL, "password_env": PASSWORD_ENV}


def _common_options():
    """Options every verb takes, before or after the verb (given once, they win wherever they are)."""
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS, allow_abbrev=False)
    options = common.add_argument_group("database and output")
    options.add_argument(
        "--database",
        metavar="URL",
        help="the database (default: $%s, else %s)" % (URL_ENV, DEFAULT_URL),
    )
    options.add_argument(
        "--password-file",
        metavar="FILE",
        help="read the database password from the first line of FILE (default: $%s)" % PASSWORD_ENV,
    )
    options.add_argument(
        "--format", choices=FORMATS, help="how listings and reports are printed (default: table)"
    )
    return common


def _check_option(parser):
    parser.add_argument("--check", action="store_true", help="show what would change and write nothing")


class _Verbs:
    """Adds verbs to a subparsers object, each with the common options and a handler."""

    def __init__(self, subparsers, common):
        self.subparsers = subparsers
        self.common = common

    def add(
        self, name, handler, summary, *, epilog=None, usage=None, needs_db=True, usage_check=None, reads=False
    ):
        """A verb; reads=True for one that only reads, which opens the database read-only."""
        parser = self.subparsers.add_parser(
            name,
            allow_abbrev=False,
            parents=[self.common],
            help=summary,
            description=summary,
            epilog=epilog,
            usage=usage,
            formatter_class=_FORMATTER,
        )
        parser.set_defaults(
            handler=handler,
            needs_db=needs_db,
            usage_check=usage_check,
            command_parser=parser,
            check=False,
            read_only=reads,
        )
        return parser


def _group_parser(verbs, name, summary, epilog):
    """A verb with actions of its own (oda node add ...)."""
    parser = verbs.subparsers.add_parser(
        name,
        allow_abbrev=False,
        parents=[verbs.common],
        help=summary,
        description=summary,
        epilog=epilog,
        formatter_class=_FORMATTER,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", title="actions", help="one of:")
    actions.required = True
    return _Verbs(actions, verbs.common)


def _add_database_verbs(verbs):
    verbs.add(
        "init",
        cmd_init,
        "create the database, its schema and the defaults"
        " (cluster oscar, groups oscar_server and oscar_clients)",
        epilog="example:\n  oda --database sqlite:/var/lib/oscar/oda.db init",
    )
    verbs.add(
        "upgrade",
        cmd_upgrade,
        "bring the schema to this code's version; report the version before and after",
        epilog="example:\n  oda upgrade",
    )
    verbs.add(
        "tables",
        cmd_tables,
        "list the tables with their number of rows",
        epilog="example:\n  oda tables",
        reads=True,
    )
    fields = verbs.add(
        "fields",
        cmd_fields,
        "list the columns of a table: type, null, key, references",
        epilog="example:\n  oda fields nodes",
        needs_db=False,
    )
    fields.add_argument("table", metavar="TABLE", help="a table name, as 'oda tables' lists them")
    dump = verbs.add(
        "dump",
        cmd_dump,
        "write every row of every table as JSON lines, references by name (portable between databases)",
        epilog="examples:\n  oda dump oda.jsonl\n  oda dump | gzip > oda.jsonl.gz",
        reads=True,
    )
    dump.add_argument("file", metavar="FILE", nargs="?", help="where to write (default: standard output)")
    restore = verbs.add(
        "restore",
        cmd_restore,
        "fill an empty database from a dump, all or nothing",
        epilog="The database must hold nothing but what 'oda init' creates, and the dump\n"
        "must have this code's schema version.  A dump cut short (its trailer counts\n"
        "the rows) or holding a value a write would refuse is refused whole; dumps of\n"
        "releases without the trailer are refused too: dump again with this release.\n\n"
        "examples:\n  oda --database sqlite:/tmp/copy.db restore oda.jsonl\n"
        "  gunzip -c oda.jsonl.gz | oda --database postgresql://oscar@db/oda restore -",
    )
    restore.add_argument("file", metavar="FILE", help="the dump ('-' for standard input)")
    _check_option(restore)
    export = verbs.add(
        "export",
        cmd_export,
        "write the cluster definition as YAML:"
        " clusters, networks, groups, images, packages, nodes, variables",
        epilog="examples:\n  oda export cluster.yml\n  oda export --format json",
        reads=True,
    )
    export.add_argument("file", metavar="FILE", nargs="?", help="where to write (default: standard output)")
    imported = verbs.add(
        "import",
        cmd_import,
        "create and update what a cluster definition (YAML, as 'oda export' writes it) describes",
        epilog="Idempotent and one transaction.  Lists and mappings in the file (a node's\n"
        "groups, NICs, packages and variables, a package's config) are exact; a key\n"
        "left out keeps what is stored; nothing absent from the file is removed.\n\n"
        "examples:\n  oda import cluster.yml --check\n  oda import cluster.yml",
    )
    imported.add_argument("file", metavar="FILE", help="the definition ('-' for standard input)")
    _check_option(imported)


def _add_shortcuts(verbs):
    nodes = verbs.add(
        "nodes",
        cmd_nodes,
        "list nodes with state, image, groups and NICs",
        epilog="examples:\n  oda nodes\n  oda nodes 'node[001-016]'\n"
        "  oda nodes @oscar_clients --format json",
        reads=True,
    )
    nodes.add_argument("nodeset", metavar="NODESET", nargs="?", help="only these nodes (default: all)")
    group_nodes = verbs.add(
        "group-nodes",
        cmd_group_nodes,
        "list the names of a group's nodes, one per line",
        epilog="example:\n  oda group-nodes oscar_clients",
        reads=True,
    )
    group_nodes.add_argument("group", metavar="GROUP", help="a group name, such as oscar_clients")
    macs = verbs.add(
        "macs",
        cmd_macs,
        "list the MACs of nodes, or import MACs from a file (oda macs import FILE)",
        usage_check=usage_macs,
        usage="oda macs [NODESET]\n       oda macs import FILE [--nodes NODESET] [--nic NIC] [--check]",
        epilog="FILE holds one MAC per line, 'name MAC' (or 'MAC name') lines, or is a\n"
        "dnsmasq leases file.  Named entries go to the node of that name.  MACs\n"
        "without a name go, in file order, to the nodes of --nodes that no named\n"
        "entry covers; --nodes also restricts named entries to its nodes, so a leases\n"
        "file may list other hosts.  One transaction; MACs may move between nodes.\n\n"
        "examples:\n  oda macs 'node[001-008]'\n"
        "  oda macs import macs.txt --nodes 'node[001-064]'\n"
        "  oda macs import /var/lib/misc/dnsmasq.leases --nodes @oscar_clients --check",
    )
    macs.add_argument("nodeset", metavar="NODESET", nargs="?", help="only these nodes; or the word import")
    macs.add_argument(
        "file", metavar="FILE", nargs="?", help="with import: the MAC file ('-' for standard input)"
    )
    macs.add_argument("--nodes", metavar="NODESET", help="with import: the nodes that take the MACs")
    macs.add_argument("--nic", metavar="NIC", help="with import: the NIC that gets the MAC (default: eth0)")
    _check_option(macs)
    for name, handler, summary in (
        ("images", cmd_images, "list images"),
        ("networks", cmd_networks, "list networks"),
        ("groups", cmd_groups, "list groups with their members"),
        ("clusters", cmd_clusters, "list clusters"),
        ("packages", cmd_packages, "list packages with version, requirements and conflicts"),
        ("steps", cmd_steps, "list the wizard's steps with their status"),
    ):
        verbs.add(name, handler, summary, epilog="example:\n  oda %s --format yaml" % name, reads=True)
    node_packages = verbs.add(
        "node-packages",
        cmd_node_packages,
        "list the package statuses of nodes",
        epilog="examples:\n  oda node-packages node001\n  oda node-packages @oscar_clients",
        reads=True,
    )
    node_packages.add_argument("nodeset", metavar="NODESET", help="the nodes, such as node001 or @gpu")
    image_packages = verbs.add(
        "image-packages",
        cmd_image_packages,
        "list the package statuses of an image",
        epilog="example:\n  oda image-packages rocky9",
        reads=True,
    )
    image_packages.add_argument("image", metavar="IMAGE", help="an image name")


def _add_node_verbs(verbs):
    node = _group_parser(
        verbs,
        "node",
        "add, list, modify and remove nodes by node set",
        "examples:\n  oda node add 'node[001-064]' --network cluster --start-ip 10.0.0.11\n"
        "  oda node list @oscar_clients\n  oda node modify 'node[001-004]' --state down\n"
        "  oda node remove 'node[061-064]' --yes",
    )
    add = node.add(
        "add",
        cmd_node_add,
        "define nodes on a network with consecutive addresses (OSCAR's Define Clients), in one transaction",
        epilog="Node i of the set gets address START_IP + i on NIC --nic.  Existing nodes\n"
        "of the set are updated: they join the group, keep their other NICs and groups.\n\n"
        "examples:\n  oda node add 'node[001-064]' --network cluster --start-ip 10.0.0.11 --image rocky9\n"
        "  oda node add 'gpu[01-04]' --network cluster --start-ip 10.0.0.201 --group gpu "
        "--macs-file gpu-macs.txt",
    )
    add.add_argument("nodeset", metavar="NODESET", help="the nodes, such as node[001-064]")
    add.add_argument("--network", required=True, metavar="NETWORK", help="the network of their NIC")
    add.add_argument("--start-ip", required=True, metavar="IP", help="the address of the first node")
    add.add_argument("--image", metavar="IMAGE", help="the image they boot")
    add.add_argument(
        "--group", metavar="GROUP", default="oscar_clients", help="the group they join (default: %(default)s)"
    )
    add.add_argument("--nic", metavar="NIC", default="eth0", help="the NIC's name (default: %(default)s)")
    add.add_argument(
        "--macs-file",
        metavar="FILE",
        help="their MACs: one per line, 'name MAC' lines or a dnsmasq leases file (see 'oda macs --help')",
    )
    _check_option(add)
    listing = node.add(
        "list",
        cmd_nodes,
        "list nodes (as 'oda nodes')",
        epilog="example:\n  oda node list 'node[001-004]'",
        reads=True,
    )
    listing.add_argument("nodeset", metavar="NODESET", nargs="?", help="only these nodes (default: all)")
    modify = node.add(
        "modify",
        cmd_node_modify,
        "change image, image version and state, state, exclusion or groups of existing nodes,"
        " in one transaction",
        usage_check=usage_node_modify,
        epilog="examples:\n  oda node modify 'node[001-064]' --image rocky9-v2\n"
        "  oda node modify node007 --state down --exclude\n"
        "  oda node modify @oscar_clients --image-version 3 --image-state in-sync\n"
        "  oda node modify 'node[001-008]' --group +gpu --group=-oscar_clients\n"
        "  oda node modify 'node[001-004]' --boot install --disk-layout scratch",
    )
    modify.add_argument("nodeset", metavar="NODESET", help="the nodes; each must exist")
    modify.add_argument("--image", metavar="IMAGE", help="the image they boot")
    modify.add_argument("--image-version", metavar="N", help="the version of their image they run")
    modify.add_argument(
        "--image-state", metavar="STATE", help="where they stand with it: one of %s" % ", ".join(IMAGE_STATES)
    )
    modify.add_argument("--state", metavar="STATE", help="one of %s" % ", ".join(NODE_STATES))
    exclusion = modify.add_mutually_exclusive_group()
    exclusion.add_argument(
        "--exclude", dest="excluded", action="store_const", const=True, help="leave them out of cluster runs"
    )
    exclusion.add_argument(
        "--include", dest="excluded", action="store_const", const=False, help="take them back"
    )
    modify.add_argument(
        "--group",
        metavar="[+|-]GROUP",
        action="append",
        help="+GROUP or GROUP joins a group, -GROUP leaves it; repeat as needed",
    )
    modify.add_argument(
        "--boot",
        metavar="ACTION",
        help="what their next network boot does: one of %s (install needs their image version's"
        " boot artifacts recorded)" % ", ".join(oda_install.BOOT_ACTIONS),
    )
    modify.add_argument(
        "--disk-layout",
        metavar="LAYOUT",
        help="the disk layout they are installed with ('' for none: the layout named default)",
    )
    _check_option(modify)
    history = node.add(
        "history",
        cmd_node_history,
        "show a node's boot action, install stage and every install report, attempt by attempt",
        epilog="example:\n  oda node history node001",
        reads=True,
    )
    history.add_argument("name", metavar="NAME", help="the node's name")
    remove = node.add(
        "remove",
        cmd_node_remove,
        "remove nodes with their NICs, memberships and package statuses, in one transaction",
        epilog="Without --yes, nothing is removed: the command names the nodes it would\n"
        "remove and fails.  Names of the set that are not stored are left out.\n\n"
        "example:\n  oda node remove 'node[061-064]' --yes",
    )
    remove.add_argument("nodeset", metavar="NODESET", help="the nodes, such as node[061-064]")
    remove.add_argument("--yes", action="store_true", help="really remove them")
    _check_option(remove)


def _network_arguments(parser, cidr_required):
    parser.add_argument("name", metavar="NAME", help="the network's name")
    parser.add_argument(
        "--cidr", required=cidr_required, metavar="CIDR", help="the network, such as 10.0.0.0/24"
    )
    parser.add_argument("--gateway", metavar="IP", help="its gateway, inside the network")
    parser.add_argument("--domain", metavar="DOMAIN", help="the DNS domain of its nodes")
    parser.add_argument(
        "--dhcp-start", metavar="IP", help="first address of the DHCP range (with --dhcp-end)"
    )
    parser.add_argument("--dhcp-end", metavar="IP", help="last address of the DHCP range")
    parser.add_argument("--mtu", metavar="BYTES", help="its MTU (68 to 65535)")
    parser.add_argument("--cluster", metavar="CLUSTER", help="the cluster it belongs to (default: oscar)")
    _check_option(parser)


def _add_object_verbs(verbs):
    network = _group_parser(
        verbs,
        "network",
        "add, modify, remove and list networks",
        "examples:\n  oda network add cluster --cidr 10.0.0.0/24 --gateway 10.0.0.1 --domain cluster.lan\n"
        "  oda network modify cluster --dhcp-start 10.0.0.200 --dhcp-end 10.0.0.250\n"
        "  oda network remove old-net",
    )
    add = network.add(
        "add",
        cmd_network_add,
        "create a network",
        epilog="example:\n"
        "  oda network add cluster --cidr 10.0.0.0/24 --gateway 10.0.0.1 --domain cluster.lan",
    )
    _network_arguments(add, cidr_required=True)
    add.set_defaults(cluster="oscar")
    modify = network.add(
        "modify",
        cmd_network_modify,
        "change an existing network; options left out keep their values",
        epilog="example:\n  oda network modify cluster --mtu 9000",
    )
    _network_arguments(modify, cidr_required=False)
    remove = network.add(
        "remove",
        cmd_network_remove,
        "remove a network no NIC uses",
        epilog="example:\n  oda network remove old-net",
    )
    remove.add_argument("name", metavar="NAME", help="the network's name")
    _check_option(remove)
    network.add(
        "list",
        cmd_networks,
        "list networks (as 'oda networks')",
        epilog="example:\n  oda network list",
        reads=True,
    )

    group = _group_parser(
        verbs,
        "group",
        "add, remove and list node groups (members change with 'oda node modify --group')",
        "examples:\n  oda group add gpu --description 'nodes with GPUs'\n  oda group remove gpu",
    )
    add = group.add(
        "add",
        cmd_group_add,
        "create a group",
        epilog="example:\n  oda group add gpu --description 'GPU nodes'",
    )
    add.add_argument("name", metavar="NAME", help="the group's name")
    add.add_argument("--description", metavar="TEXT", help="what the group is for")
    _check_option(add)
    remove = group.add(
        "remove",
        cmd_group_remove,
        "remove a group (its nodes stay)",
        epilog="example:\n  oda group remove gpu",
    )
    remove.add_argument("name", metavar="NAME", help="the group's name")
    _check_option(remove)
    group.add(
        "list", cmd_groups, "list groups (as 'oda groups')", epilog="example:\n  oda group list", reads=True
    )

    image = _group_parser(
        verbs,
        "image",
        "add, remove, show and list node images, and list their versions",
        "examples:\n"
        "  oda image add rocky9 --distro rocky-9 --arch x86_64 --path /var/lib/oscar/images/rocky9\n"
        "  oda image versions debian12\n"
        "  oda image remove rocky9",
    )
    add = image.add(
        "add",
        cmd_image_add,
        "register an image",
        epilog="example:\n"
        "  oda image add rocky9 --distro rocky-9 --arch x86_64 --path /var/lib/oscar/images/rocky9",
    )
    add.add_argument("name", metavar="NAME", help="the image's name")
    add.add_argument("--distro", metavar="DISTRO", help="its distribution, such as rocky-9")
    add.add_argument("--arch", metavar="ARCH", help="its architecture, such as x86_64")
    add.add_argument("--path", metavar="PATH", help="where it lives (an absolute path)")
    _check_option(add)
    remove = image.add(
        "remove",
        cmd_image_remove,
        "remove an image no node uses",
        epilog="example:\n  oda image remove rocky9",
    )
    remove.add_argument("name", metavar="NAME", help="the image's name")
    _check_option(remove)
    image.add(
        "list", cmd_images, "list images (as 'oda images')", epilog="example:\n  oda image list", reads=True
    )
    show = image.add(
        "show",
        cmd_image_show,
        "show an image: its distribution, suite, current version, kernel and the versions recorded",
        epilog="examples:\n  oda image show debian12\n  oda image show debian12 --format yaml",
        reads=True,
    )
    show.add_argument("name", metavar="NAME", help="the image's name")
    versions = image.add(
        "versions",
        cmd_image_versions,
        "list the recorded versions of an image; '*' marks the current one",
        epilog="example:\n  oda image versions debian12",
        reads=True,
    )
    versions.add_argument("name", metavar="NAME", help="the image's name")


def _add_layout_verbs(verbs):
    layout = _group_parser(
        verbs,
        "layout",
        "define, show, list and remove the disk layouts nodes are installed with",
        "A node without a layout (oda node modify --disk-layout) is installed with the\n"
        "layout named default, else with a built-in one: bios 1 MiB, efi 256 MiB vfat\n"
        "on /boot/efi, swap 512 MiB, the rest ext4 on /.\n\n"
        "examples:\n  oda layout define scratch scratch.yml\n  oda layout show default\n"
        "  oda layout list\n  oda layout remove scratch",
    )
    layout.add(
        "list",
        cmd_layout_list,
        "list the disk layouts and the nodes using each",
        epilog="example:\n  oda layout list --format yaml",
        reads=True,
    )
    show = layout.add(
        "show",
        cmd_layout_show,
        "show a layout's partitions (default: the built-in one while none is stored)",
        epilog="example:\n  oda layout show default --format yaml",
        reads=True,
    )
    show.add_argument("name", metavar="NAME", help="the layout's name")
    define = layout.add(
        "define",
        cmd_layout_define,
        "define a layout from a YAML or JSON file, or replace the stored one",
        epilog="FILE holds device (optional, null: the first disk), min_disk_mib (optional)\n"
        "and partitions, each label, size_mib (left out: the rest of the disk, last\n"
        "only), type (bios, efi, swap, linux), fs (ext4, vfat) and mount:\n\n"
        "  partitions:\n"
        "    - {label: bios, size_mib: 1, type: bios}\n"
        "    - {label: efi, size_mib: 256, type: efi, fs: vfat, mount: /boot/efi}\n"
        "    - {label: root, type: linux, fs: ext4, mount: /}\n\n"
        "example:\n  oda layout define scratch scratch.yml --check",
    )
    define.add_argument("name", metavar="NAME", help="the layout's name")
    define.add_argument("file", metavar="FILE", help="the layout ('-' for standard input)")
    _check_option(define)
    remove = layout.add(
        "remove",
        cmd_layout_remove,
        "remove a layout no node uses",
        epilog="example:\n  oda layout remove scratch",
    )
    remove.add_argument("name", metavar="NAME", help="the layout's name")
    _check_option(remove)


def build_parser():
    """The whole command line of oda."""
    common = _common_options()
    # No abbreviated options: '--password secret' must not pass for --password-file
    # (and then show the secret in "cannot read secret").
    parser = argparse.ArgumentParser(
        prog="oda",
        allow_abbrev=False,
        parents=[common],
        description=MAIN_DESCRIPTION,
        epilog=MAIN_EPILOG,
        formatter_class=_FORMATTER,
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs", help="one of:")
    subparsers.required = True
    verbs = _Verbs(subparsers, common)
    _add_database_verbs(verbs)
    _add_shortcuts(verbs)
    _add_node_verbs(verbs)
    _add_object_verbs(verbs)
    _add_layout_verbs(verbs)
    return parser


def _join_negative_groups(argv):
    """['--group', '-gpu'] -> ['--group=-gpu']: argparse takes '-gpu' for an option otherwise."""
    joined = []
    index = 0
    while index < len(argv):
        word = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        if word == "--group" and following is not None and following.startswith("-") and following != "--":
            joined.append("--group=" + following)
            index += 2
            continue
        joined.append(word)
        index += 1
    return joined


# --- running -------------------------------------------------------------------


def _run(args):
    # Usage first: a command line that cannot run must not even open (or create) the database.
    if args.usage_check is not None:
        args.usage_check(args)
    if not args.needs_db:
        return args.handler(None, args)
    # An empty --database is a mistake, not a request for the default.
    url, password = resolve(args.database if "database" in args else None, _read_password(args))
    oda = Oda.open(url, password=password, read_only=args.read_only)
    try:
        return args.handler(oda, args)
    finally:
        oda.close()


def _fail(message):
    sys.stderr.write("oda: error: %s\n" % message)


def main(argv=None):
    """Run the oda command with argv (default: sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(_join_negative_groups(argv))
        status = _run(args)
    except SystemExit as exit_request:
        # argparse: --help (0) and usage errors (2).
        code = exit_request.code
        if code is None:
            return EXIT_OK
        return code if isinstance(code, int) else EXIT_USAGE
    except OdaUnavailableError as error:
        _fail(error)
        return EXIT_UNAVAILABLE
    except (OdaError, CommandError) as error:
        _fail(error)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (oda nodes | head): stop quietly, and keep
        # Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    return EXIT_OK if status is None else status

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Moving the content of ODA, the cluster database, in and out.

Two forms, for two purposes:

dump / restore
    A faithful copy of every table the schema defines (``oda_schema.TABLES``),
    as JSON lines: a header with the schema version, one line per row, and a
    trailer with the number of rows of each table.  References are written
    as the name of the object they point to, never as an id, so a dump made
    from SQLite restores into MariaDB or PostgreSQL.  Restore fills an empty
    database only (one holding at most what ``init`` creates), all or
    nothing; it refuses a dump without its trailer or whose rows do not
    match it (cut short, or edited), and checks every value as a write
    through the API would (names, states, addresses, MACs, networks).
    Dumps of releases before the trailer are refused: nothing tells them
    from a dump cut at a line's end.

export / import
    The cluster definition as plain data for YAML: clusters, networks,
    groups, images, packages with their relations and configuration, nodes
    with NICs, groups and package statuses, and everyone's variables.
    Import goes through the ``Oda`` API (each store's ``ensure`` and ``set``) inside one
    transaction, so it validates exactly as every other writer does, is
    idempotent, and reports what it created and changed.  A list or mapping
    given in the file is exact (a node's groups, NICs, package statuses,
    variables; a package's configuration); a key left out keeps what is
    stored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaConflictError, OdaNotFoundError, OdaSchemaError, OdaValidationError
from .oda_images import package_list, version_number
from .oda_install import BOOT_ACTIONS, FAILED, STAGES, normalize_layout
from .oda_networks import check_network
from .oda_nodes import IMAGE_STATES, NODE_STATES
from .oda_packages import PACKAGE_RELATIONS, PACKAGE_STATUSES, PACKAGE_WANTED
from .oda_schema import DEFAULT_CLUSTER, DEFAULT_GROUPS, SCHEMA_VERSION, TABLES, current_version
from .oda_steps import STEP_STATUSES
from .oda_store import NUMBERS

DUMP_FORMAT = "oscar-oda-dump"
# 2: with a trailer of row counts.  Dumps without one (version 1) are refused.
DUMP_VERSION = 2
EXPORT_FORMAT = "oscar-cluster-definition"
EXPORT_VERSION = 1

# Dumps of these schema versions restore into the current schema: every
# migration since only added tables and columns that may be empty, so an
# older dump is a current one without those rows and values.
RESTORABLE_SCHEMA_VERSIONS = tuple(range(1, SCHEMA_VERSION + 1))

# The version lives in the dump's header, not as rows.
_UNDUMPED = ("schema_version",)

# What init() creates: a database holding only these rows is empty.
_DEFAULT_ROWS = {"clusters": (DEFAULT_CLUSTER,), "node_groups": tuple(name for name, _text in DEFAULT_GROUPS)}


# --- the schema as dump and restore see it -------------------------------------


def dumped_tables():
    """Descriptions of the tables a dump holds, each after the tables it references."""
    return [tab for tab in TABLES if tab["name"] not in _UNDUMPED]


def find_table(name):
    """The description of a table of the current schema, or OdaNotFoundError listing them."""
    for tab in TABLES:
        if tab["name"] == name:
            return tab
    raise OdaNotFoundError(
        "unknown table '%s'; the tables are %s" % (name, ", ".join(tab["name"] for tab in TABLES))
    )


def table_counts(oda):
    """{table name: number of rows} for every table of the schema, in schema order."""
    counts = {}
    with oda.db.transaction(write=False):
        for tab in TABLES:
            # Table names come from the schema description, never from input.
            row = oda.db.query_one("SELECT COUNT(*) AS n FROM %s" % tab["name"])
            counts[tab["name"]] = int(row["n"])
    return counts


def _has_id(tab):
    return any(col["kind"] == "id" for col in tab["columns"])


def _has_name(tab):
    return any(col["name"] == "name" for col in tab["columns"])


def _dump_key(col):
    """A reference column appears in a dump under the referenced kind: node_id -> node."""
    if col["references"] and col["name"].endswith("_id"):
        return col["name"][: -len("_id")]
    return col["name"]


def _data_columns(tab):
    return [col for col in tab["columns"] if col["kind"] != "id"]


def _referenced_tables():
    """Names of the tables some column references: each must have a name to write instead of ids."""
    referenced = set()
    for tab in TABLES:
        for col in tab["columns"]:
            if col["references"]:
                target = find_table(col["references"])
                if not _has_name(target):
                    raise OdaSchemaError(
                        "column %s.%s references table %s, which has no name column to write in a dump"
                        % (tab["name"], col["name"], target["name"])
                    )
                referenced.add(target["name"])
    return referenced


# --- dump --------------------------------------------------------------------


def _dump_value(col, value, names):
    if value is None:
        return None
    if col["references"]:
        return names[col["references"]][value]
    if col["kind"] == "bool":
        return bool(value)
    if col["kind"] == "int":
        return int(value)
    return str(value)


def _row_order(tab):
    """Rows with ids keep the order they were made in (wizard steps rely on it); others sort by value."""
    if _has_id(tab):
        return lambda pair: pair[0]["id"]
    return lambda pair: json.dumps(pair[1], sort_keys=True)


def dump_records(oda):
    """Every row of the database as plain data: a header dict, then {"table", "row"} dicts."""
    db = oda.db
    referenced = _referenced_tables()
    records = []
    counts = {}
    with db.transaction(write=False):
        records.append(
            {"format": DUMP_FORMAT, "dump_version": DUMP_VERSION, "schema_version": current_version(db)}
        )
        names = {}
        for tab in dumped_tables():
            rows = db.query("SELECT * FROM %s" % tab["name"])
            if tab["name"] in referenced:
                names[tab["name"]] = {row["id"]: row["name"] for row in rows}
            pairs = []
            for row in rows:
                data = {
                    _dump_key(col): _dump_value(col, row[col["name"]], names) for col in _data_columns(tab)
                }
                pairs.append((row, data))
            pairs.sort(key=_row_order(tab))
            records.extend({"table": tab["name"], "row": data} for _row, data in pairs)
            counts[tab["name"]] = len(pairs)
    # Last: a dump cut short, even at a line's end, lacks it.
    records.append({"end": DUMP_FORMAT, "rows": counts})
    return records


def dump_text(oda):
    """The dump as JSON lines: what ``oda dump`` writes and ``oda restore`` reads."""
    return "".join(json.dumps(record, sort_keys=True) + "\n" for record in dump_records(oda))


def dump_row_count(text):
    """How many rows a dump's text holds, by its trailer."""
    return sum(json.loads(text.splitlines()[-1])["rows"].values())


# --- restore -----------------------------------------------------------------


def parse_dump(text, source="dump"):
    """(header, [(line number, table, row)]) of a dump's text; errors name the source and line.

    The trailer must end the dump and count exactly the rows before it.
    """
    header = trailer = None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = "%s line %d" % (source, number)
        try:
            record = json.loads(line)
        except ValueError as error:
            raise OdaValidationError("%s: not a JSON record: %s" % (where, error)) from None
        if not isinstance(record, dict):
            raise OdaValidationError("%s: expected a JSON object, found %s" % (where, type(record).__name__))
        if header is None:
            header = _check_header(record, where, source)
            continue
        if trailer is not None:
            raise OdaValidationError("%s: a record after the dump's trailer" % where)
        if "end" in record:
            trailer = record
            continue
        if set(record) != {"table", "row"} or not isinstance(record["row"], dict):
            raise OdaValidationError('%s: expected a record {"table": ..., "row": {...}}' % where)
        rows.append((number, record["table"], record["row"]))
    if header is None:
        raise OdaValidationError("%s is empty: not an ODA dump" % source)
    _check_trailer(trailer, rows, source)
    return header, rows


def _check_header(record, where, source):
    if record.get("format") != DUMP_FORMAT:
        raise OdaValidationError(
            "%s: not an ODA dump: the first record must have format '%s', found '%s'"
            % (where, DUMP_FORMAT, record.get("format"))
        )
    if record.get("schema_version") not in RESTORABLE_SCHEMA_VERSIONS:
        raise OdaSchemaError(
            "%s has schema version %s but this code restores versions %d to %d; restore it with the"
            " oscar.cluster release that made it, then upgrade"
            % (source, record.get("schema_version"), RESTORABLE_SCHEMA_VERSIONS[0], SCHEMA_VERSION)
        )
    if record.get("dump_version") != DUMP_VERSION:
        raise OdaValidationError(
            "%s was written by an older oda, without row counts: it cannot be told from a dump cut"
            " short, so it is refused; dump the database again with this release" % source
        )
    return record


def _check_trailer(trailer, rows, source):
    """Refuse a dump whose trailer is missing or counts other rows than the dump holds."""
    if trailer is None:
        raise OdaValidationError(
            "%s ends without its trailer after %d rows: it was cut short; nothing restored"
            % (source, len(rows))
        )
    expected = trailer.get("rows")
    if trailer.get("end") != DUMP_FORMAT or not isinstance(expected, dict):
        raise OdaValidationError(
            '%s: the trailer must be {"end": "%s", "rows": {...}}' % (source, DUMP_FORMAT)
        )
    found = {}
    for _number, table_name, _row in rows:
        found[table_name] = found.get(table_name, 0) + 1
    for table_name in sorted(set(expected) | set(found), key=str):
        if expected.get(table_name, 0) != found.get(table_name, 0):
            raise OdaValidationError(
                "%s holds %d rows of table %s but its trailer counts %s: it was cut short or edited;"
                " nothing restored"
                % (source, found.get(table_name, 0), table_name, expected.get(table_name, 0))
            )


def _require_empty(db):
    """Refuse a database holding anything besides init()'s defaults, naming what it holds."""
    held = []
    for tab in dumped_tables():
        defaults = _DEFAULT_ROWS.get(tab["name"])
        if defaults:
            sql = "SELECT COUNT(*) AS n FROM %s WHERE name NOT IN (%s)" % (
                tab["name"],
                ", ".join("?" * len(defaults)),
            )
            row = db.query_one(sql, defaults)
        else:
            row = db.query_one("SELECT COUNT(*) AS n FROM %s" % tab["name"])
        if int(row["n"]):
            held.append("%d in %s" % (int(row["n"]), tab["name"]))
    if held:
        raise OdaConflictError(
            "database %s is not empty (rows: %s); restore fills an empty database only"
            % (db.url, ", ".join(held))
        )


def _json_text(value):
    try:
        json.loads(value)
    except ValueError:
        raise OdaValidationError("invalid stored value %.40r: not JSON" % value) from None
    return value


def _package_list_text(value):
    """A version's package list as stored: the JSON text of a list of package names."""
    try:
        packages = json.loads(_json_text(value))
    except OdaValidationError:
        raise OdaValidationError("invalid package list %.40r: not JSON" % value) from None
    return json.dumps(package_list(packages))


def _layout_spec_text(value):
    """A layout's spec as stored: the JSON text of its normal form."""
    try:
        spec = json.loads(_json_text(value))
    except OdaValidationError:
        raise OdaValidationError("invalid disk layout %.40r: not JSON" % value) from None
    return json.dumps(normalize_layout(spec), sort_keys=True)


def _within_attempts(value):
    return validate.number(value, "install attempt", 0, (1 << 31) - 1)


def _named(kind):
    return functools.partial(validate.object_name, kind=kind)


def _choice(choices, what):
    return functools.partial(validate.choice, choices=choices, what=what)


def _within(key):
    what, low, high = NUMBERS[key]
    return functools.partial(validate.number, what=what, low=low, high=high)


# What a write through the API checks, per column: restore refuses the same
# values, and stores the same normal forms (lower-case names, MACs...).
# Cross-row rules (addresses inside their network, networks that overlap)
# are checked once every row is in: _check_addresses.
_COLUMN_CHECKS = {
    ("clusters", "name"): _named("cluster"),
    ("networks", "name"): _named("network"),
    ("networks", "cidr"): validate.network,
    ("networks", "gateway"): validate.ip_address,
    ("networks", "domain"): validate.hostname,
    ("networks", "dhcp_start"): validate.ip_address,
    ("networks", "dhcp_end"): validate.ip_address,
    ("networks", "mtu"): _within("mtu"),
    ("images", "name"): _named("image"),
    ("images", "distro"): _named("distribution"),
    ("images", "arch"): _named("architecture"),
    ("images", "path"): functools.partial(validate.absolute_path, what="image path"),
    ("images", "state"): _named("image state"),
    ("images", "current_version"): functools.partial(version_number, what="current version"),
    ("images", "kernel"): validate.kernel_release,
    ("images", "suite"): _named("suite"),
    ("image_versions", "version"): version_number,
    ("image_versions", "parent"): functools.partial(version_number, what="parent version"),
    ("image_versions", "kernel"): validate.kernel_release,
    ("image_versions", "recipe"): functools.partial(validate.sha256_hex, what="recipe"),
    ("image_versions", "created"): functools.partial(validate.timestamp, what="creation time"),
    ("image_versions", "packages"): _package_list_text,
    ("image_versions", "boot_kernel"): validate.kernel_release,
    ("image_versions", "boot_root_sha256"): functools.partial(
        validate.sha256_hex, what="root.squashfs digest"
    ),
    ("disk_layouts", "name"): _named("disk layout"),
    ("disk_layouts", "spec"): _layout_spec_text,
    ("install_events", "attempt"): _within_attempts,
    ("install_events", "stage"): _choice((*STAGES, FAILED), "install stage"),
    ("install_events", "at"): functools.partial(validate.timestamp, what="report time"),
    ("nodes", "boot_action"): _choice(BOOT_ACTIONS, "boot action"),
    ("nodes", "install_stage"): _choice((*STAGES, FAILED), "install stage"),
    ("nodes", "install_updated_at"): functools.partial(validate.timestamp, what="install report time"),
    ("nodes", "install_attempt"): _within_attempts,
    ("nodes", "name"): validate.hostname,
    ("nodes", "hostname"): validate.hostname,
    ("nodes", "domain"): validate.hostname,
    ("nodes", "state"): _choice(NODE_STATES, "node state"),
    ("nodes", "image_version"): functools.partial(version_number, what="node image version"),
    ("nodes", "image_state"): _choice(IMAGE_STATES, "node image state"),
    ("nodes", "cpus"): _within("cpus"),
    ("nodes", "memory_mb"): _within("memory_mb"),
    ("nodes", "arch"): _named("architecture"),
    ("nics", "name"): _named("NIC"),
    ("nics", "mac"): validate.mac_address,
    ("nics", "ip"): validate.ip_address,
    ("node_groups", "name"): _named("group"),
    ("packages", "name"): _named("package"),
    ("package_relations", "kind"): _choice(PACKAGE_RELATIONS, "package relation"),
    ("package_relations", "target"): _named("package"),
    ("node_packages", "status"): _choice(PACKAGE_STATUSES, "package status"),
    ("image_packages", "status"): _choice(PACKAGE_STATUSES, "package status"),
    ("package_config", "config_key"): _named("configuration key"),
    ("package_config", "value"): _json_text,
    ("wizard_steps", "name"): _named("wizard step"),
    ("wizard_steps", "status"): _choice(STEP_STATUSES, "wizard step status"),
}
for _table in ("cluster_vars", "group_vars", "node_vars"):
    _COLUMN_CHECKS[(_table, "var_key")] = validate.variable_name
    _COLUMN_CHECKS[(_table, "value")] = _json_text


def _checked(table_name, col, value, where):
    """A restored value as a write would store it, or the write's error naming the dump's line."""
    check = _COLUMN_CHECKS.get((table_name, col["name"]))
    if check is None or value is None:
        return value
    try:
        return check(value)
    except OdaValidationError as error:
        raise OdaValidationError("%s: %s" % (where, error)) from None


def _check_addresses(db, source):
    """After every row is in: networks hold together and overlap none; NIC addresses lie inside theirs."""
    networks = db.query("SELECT id, name, cidr, gateway, dhcp_start, dhcp_end FROM networks")
    for network in networks:
        try:
            check_network(network["name"], network, networks)
        except (OdaValidationError, OdaConflictError) as error:
            raise type(error)("%s: %s" % (source, error)) from None
    by_id = {network["id"]: network for network in networks}
    rows = db.query(
        "SELECT n.name AS node, x.name AS nic, x.ip, x.network_id FROM nics x"
        " JOIN nodes n ON n.id = x.node_id WHERE x.ip IS NOT NULL"
    )
    for row in rows:
        what = "%s: node %s %s address" % (source, row["node"], row["nic"])
        network = by_id.get(row["network_id"])
        if network is None:
            raise OdaValidationError("%s %s needs a network" % (what, row["ip"]))
        validate.address_in_network(row["ip"], network["cidr"], what)


def _check_current_versions(db, source):
    """After every row is in: each image's current version is one of its recorded versions."""
    rows = db.query(
        "SELECT i.name, i.current_version FROM images i WHERE i.current_version IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM image_versions v WHERE v.image_id = i.id AND v.version = i.current_version)"
    )
    if rows:
        row = min(rows, key=lambda row: row["name"])
        raise OdaNotFoundError(
            "%s: image '%s' has current version %d but no image_versions row for it"
            % (source, row["name"], row["current_version"])
        )


def _restore_value(col, row, names, where):
    """One column's value from a dumped row, checked against the column's description."""
    key = _dump_key(col)
    value = row.get(key)
    if value is None:
        if col["null"]:
            return None
        if col["default"] is not None:
            return col["default"]
        raise OdaValidationError("%s: missing value for '%s'" % (where, key))
    if col["references"]:
        target = col["references"]
        if not isinstance(value, str) or value not in names[target]:
            raise OdaNotFoundError("%s: unknown %s '%s'" % (where, key, value))
        return names[target][value]
    if col["kind"] == "bool":
        if not isinstance(value, bool):
            raise OdaValidationError("%s: invalid %s '%s': expected true or false" % (where, key, value))
        return int(value)
    if col["kind"] == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise OdaValidationError("%s: invalid %s '%s': expected a whole number" % (where, key, value))
        return value
    if not isinstance(value, str):
        raise OdaValidationError("%s: invalid %s '%s': expected text" % (where, key, value))
    return value


def restore(oda, text, source="dump", check_mode=False):
    """Fill an empty database from a dump's text, in one transaction; returns {table: rows written}.

    The dump must have this code's schema version and its trailer.  Rows are
    checked against the schema's description (known columns, types,
    references that resolve), against what a write would accept (names,
    states, MACs, addresses, networks) and the database's own constraints;
    any refusal names the dump's line and leaves the database as it was.
    """
    _header, records = parse_dump(text, source)
    known = dict((tab["name"], tab) for tab in dumped_tables())
    by_table = {}
    for number, table_name, row in records:
        if table_name not in known:
            raise OdaValidationError(
                "%s line %d: unknown table '%s'; a dump holds %s"
                % (source, number, table_name, ", ".join(known))
            )
        by_table.setdefault(table_name, []).append((number, row))
    referenced = _referenced_tables()
    db = oda.db
    counts = {}
    with db.transaction(dry_run=check_mode):
        _require_empty(db)
        # The defaults are rows like any other in a dump; make room for them.
        for table_name in reversed(list(_DEFAULT_ROWS)):
            db.execute("DELETE FROM %s" % table_name)
        names = {}
        for table_name, tab in known.items():
            columns = _data_columns(tab)
            expected = set(_dump_key(col) for col in columns)
            sql = "INSERT INTO %s (%s) VALUES (%s)" % (
                table_name,
                ", ".join(col["name"] for col in columns),
                ", ".join("?" * len(columns)),
            )
            for number, row in by_table.get(table_name, []):
                where = "%s line %d (%s)" % (source, number, table_name)
                unknown = sorted(set(row) - expected)
                if unknown:
                    raise OdaValidationError(
                        "%s: unknown column '%s'; expected %s"
                        % (where, unknown[0], ", ".join(sorted(expected)))
                    )
                values = [_restore_value(col, row, names, where) for col in columns]
                db.execute(
                    sql,
                    [_checked(table_name, col, value, where) for col, value in zip(columns, values)],  # noqa: B905
                )
            counts[table_name] = len(by_table.get(table_name, []))
            if table_name in referenced:
                names[table_name] = {
                    row["name"]: row["id"] for row in db.query("SELECT id, name FROM %s" % table_name)
                }
        _check_addresses(db, source)
        _check_current_versions(db, source)
    return counts


# --- export ------------------------------------------------------------------


def _compact(entry):
    """An entry without its empty values: a key left out means 'as stored' or 'the default'."""
    return dict((key, value) for key, value in entry.items() if value is not None and value != {})


def export_data(oda):
    """The cluster definition as plain data, in one read: what ``oda export`` writes as YAML."""
    with oda.db.transaction(write=False):
        variables = oda.variables.all()
        statuses = {"node": {}, "image": {}}
        for status in oda.packages.list_statuses():
            kind = "node" if status["node"] is not None else "image"
            statuses[kind].setdefault(status[kind], {})[status["package"]] = status["status"]
        clusters = [
            _compact(dict(cluster, variables=variables["cluster"].get(cluster["name"])))
            for cluster in oda.clusters.list()
        ]
        networks = []
        for network in oda.networks.list():
            entry = dict(network)
            if entry.get("cluster") == DEFAULT_CLUSTER:
                del entry["cluster"]
            networks.append(_compact(entry))
        groups = [
            _compact(
                {
                    "name": group["name"],
                    "description": group["description"],
                    "variables": variables["group"].get(group["name"]),
                }
            )
            for group in oda.groups.list()
        ]
        images = [
            _compact(
                {
                    "name": image["name"],
                    "distro": image["distro"],
                    "arch": image["arch"],
                    "path": image["path"],
                    "suite": image["suite"],
                    "kernel": image["kernel"],
                    "packages": statuses["image"].get(image["name"]),
                }
            )
            for image in oda.images.list()
        ]
        packages = []
        for package in oda.packages.list():
            entry = dict(package, config=oda.config.get(package["name"]))
            for kind in ("provides", "requires", "conflicts"):
                if not entry.get(kind):
                    entry.pop(kind, None)
            packages.append(_compact(entry))
        nodes = [_export_node(node, statuses, variables) for node in oda.nodes.list()]
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "clusters": clusters,
        "networks": networks,
        "groups": groups,
        "images": images,
        "packages": packages,
        "nodes": nodes,
    }


def _export_node(node, statuses, variables):
    entry = {"name": node["name"]}
    if node["hostname"] != node["name"]:
        entry["hostname"] = node["hostname"]
    entry["domain"] = node["domain"]
    if node["cluster"] != DEFAULT_CLUSTER:
        entry["cluster"] = node["cluster"]
    for key in ("image", "state", "cpus", "memory_mb", "arch"):
        entry[key] = node[key]
    if node["excluded"]:
        entry["excluded"] = True
    entry = _compact(entry)
    # Always written, even empty: these lists are exact on import.
    entry["groups"] = list(node["groups"])
    entry["nics"] = [_compact(nic) for nic in node["nics"]]
    entry.update(
        _compact(
            {
                "packages": statuses["node"].get(node["name"]),
                "variables": variables["node"].get(node["name"]),
            }
        )
    )
    return entry


# --- import ------------------------------------------------------------------

# The keys each section's entries may have; "name" is required everywhere.
_SECTION_KEYS = {
    "clusters": ("name", "description", "variables"),
    "networks": ("name", "cidr", "gateway", "domain", "dhcp_start", "dhcp_end", "mtu", "cluster"),
    "groups": ("name", "description", "variables"),
    "images": ("name", "distro", "arch", "path", "suite", "kernel", "packages"),
    "packages": ("name", "version", "summary", "provides", "requires", "conflicts", "config"),
    "nodes": (
        "name",
        "hostname",
        "domain",
        "cluster",
        "image",
        "state",
        "excluded",
        "cpus",
        "memory_mb",
        "arch",
        "groups",
        "nics",
        "packages",
        "variables",
    ),
}
# Import order: everything after what it refers to.
SECTIONS = ("clusters", "networks", "groups", "packages", "images", "nodes")
_TOP_KEYS = ("format", "version", *SECTIONS)
_MAPPINGS = ("variables", "packages", "config")
_KIND = {
    "clusters": "cluster",
    "networks": "network",
    "groups": "group",
    "images": "image",
    "packages": "package",
    "nodes": "node",
}


def _check_shape(data, source):
    """Refuse a definition whose structure is wrong, before anything is written."""
    if not isinstance(data, dict):
        raise OdaValidationError("%s: expected a mapping with %s" % (source, ", ".join(SECTIONS)))
    unknown = sorted(set(data) - set(_TOP_KEYS), key=str)
    if unknown:
        raise OdaValidationError(
            "%s: unknown key '%s'; expected %s" % (source, unknown[0], ", ".join(_TOP_KEYS))
        )
    if data.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
        raise OdaValidationError(
            "%s: format '%s' is not a cluster definition ('%s')" % (source, data["format"], EXPORT_FORMAT)
        )
    if data.get("version", EXPORT_VERSION) != EXPORT_VERSION:
        raise OdaValidationError(
            "%s: cluster definition version '%s' is not supported (expected %d)"
            % (source, data["version"], EXPORT_VERSION)
        )
    for section in SECTIONS:
        entries = data.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise OdaValidationError("%s: '%s' must be a list" % (source, section))
        seen = set()
        for position, entry in enumerate(entries, 1):
            _check_entry(source, section, position, entry)
            if entry["name"] in seen:
                raise OdaValidationError(
                    "%s: %s '%s' is listed twice" % (source, _KIND[section], entry["name"])
                )
            seen.add(entry["name"])


def _check_entry(source, section, position, entry):
    kind = _KIND[section]
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise OdaValidationError(
            "%s: %s number %d must be a mapping with a name (text)" % (source, kind, position)
        )
    what = "%s: %s '%s'" % (source, kind, entry["name"])
    unknown = sorted(set(entry) - set(_SECTION_KEYS[section]), key=str)
    if unknown:
        raise OdaValidationError(
            "%s: unknown key '%s'; expected %s" % (what, unknown[0], ", ".join(_SECTION_KEYS[section]))
        )
    for key in _MAPPINGS:
        if key in entry and not isinstance(entry[key], dict):
            raise OdaValidationError("%s: '%s' must be a mapping" % (what, key))
    for key in ("groups", "nics"):
        if key in entry and not isinstance(entry[key], list):
            raise OdaValidationError("%s: '%s' must be a list" % (what, key))


class _Report:
    """What an import created and changed, by kind."""

    def __init__(self):
        self.created = {}
        self.changed = {}

    def note(self, kind, name, before, changed):
        if before is None:
            self.created.setdefault(kind, []).append(name)
        elif changed:
            self.changed.setdefault(kind, []).append(name)

    def as_dict(self):
        return {"created": self.created, "changed": self.changed}


def _set_variables(oda, scope, entry):
    if "variables" not in entry:
        return False
    return oda.variables.set(scope, entry["name"], entry["variables"], replace=True)[0]


def _set_statuses(oda, kind, entry):
    """Make a node's or image's package statuses exactly those of the entry; True when any changed."""
    if "packages" not in entry:
        return False
    name = entry["name"]
    wanted = entry["packages"]
    # This node's or image's statuses alone: reading everyone's for each entry made imports quadratic.
    current = oda.packages.statuses_of(**{kind: name})
    changed = False
    # Forget and unwant first, so that swapping two conflicting packages
    # never has both wanted half-way.
    steps = [(package, None) for package in sorted(set(current) - set(wanted), key=str)]
    steps += sorted(wanted.items(), key=lambda item: (item[1] in PACKAGE_WANTED, str(item[0])))
    for package, status in steps:
        result = oda.packages.set_status(package, status, **{kind: name})
        changed = result[0] or changed
    return changed


def _set_config(oda, entry):
    if "config" not in entry:
        return False
    name = entry["name"]
    current = oda.config.get(name)
    changed = False
    for key in sorted(set(current) - set(entry["config"]), key=str):
        changed = oda.config.set(name, key, None)[0] or changed
    for key, value in sorted(entry["config"].items(), key=lambda item: str(item[0])):
        changed = oda.config.set(name, key, value)[0] or changed
    return changed


def _import_entry(oda, section, entry):
    """Write one entry through the API; returns (changed, before)."""
    given = dict((key, value) for key, value in entry.items() if key not in ("name", *_MAPPINGS))
    name = entry["name"]
    args = ()
    if section == "networks":
        if "cidr" not in given:
            raise OdaValidationError("network '%s' needs a cidr" % name)
        args = (given.pop("cidr"),)
    if section in ("networks", "nodes"):
        given.setdefault("cluster", DEFAULT_CLUSTER)
    # Each section is the name of its store.
    changed, before, _after = getattr(oda, section).ensure(name, *args, **given)
    if section in ("images", "nodes"):
        changed = _set_statuses(oda, _KIND[section], entry) or changed
    if section in ("clusters", "groups", "nodes"):
        changed = _set_variables(oda, _KIND[section], entry) or changed
    if section == "packages":
        changed = _set_config(oda, entry) or changed
    return changed, before


def import_data(oda, data, source="definition", check_mode=False):
    """Write a cluster definition (as export_data makes it) in one transaction.

    Returns {"created": {kind: [names]}, "changed": {kind: [names]}}.  Any
    refusal names the value and the object, and nothing is written; with
    check_mode the same report comes back and nothing is kept.
    """
    _check_shape(data, source)
    report = _Report()
    with oda.db.transaction(dry_run=check_mode):
        for section in SECTIONS:
            for entry in data.get(section) or ():
                changed, before = _import_entry(oda, section, entry)
                report.note(_KIND[section], entry["name"], before, changed)
    return report.as_dict()


def fold_report(report, check_mode=False):
    """Report lines such as 'created nodes: node[001-064]', in import order."""
    actions = {"created": "would create", "changed": "would change"} if check_mode else {}
    lines = []
    for action in ("created", "changed"):
        for section in SECTIONS:
            kind = _KIND[section]
            names = report[action].get(kind)
            if names:
                listed = nodeset.fold(names) if kind == "node" else ", ".join(names)
                label = kind if len(names) == 1 else section
                lines.append("%s %s: %s" % (actions.get(action, action), label, listed))
    return lines

"""Dump, restore, export and import of ODA, on real SQLite files.

Round trips must be exact; every refusal names the value and leaves the
database as it was (compared through a dump taken before and after).
"""

import copy
import json

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_install
from ansible_collections.oscar.cluster.plugins.module_utils import oda_transfer as transfer
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaSchemaError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_schema import SCHEMA_VERSION, TABLES


@pytest.fixture
def make(tmp_path, oda_url):
    """Open (and later close) a database: "source" is an SQLite file, any other the backend under test.

    So every restore and import runs from SQLite into SQLite, MariaDB and
    PostgreSQL in turn: a dump is portable between them.
    """
    opened = []

    def open_database(name="copy"):
        url = "sqlite:%s" % (tmp_path / "source.db") if name == "source" else oda_url
        database = Oda.open(url)
        opened.append(database)
        return database

    yield open_database
    for database in opened:
        database.close()


def fill(oda):
    """A cluster with a row in every table the schema defines."""
    oda.clusters.ensure("lab", description="the lab cluster")
    oda.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.1", domain="cluster.lan", mtu=9000)
    oda.networks.ensure("ipmi", "10.1.0.0/24", dhcp_start="10.1.0.100", dhcp_end="10.1.0.199", cluster="lab")
    oda.images.ensure("rocky9", distro="rocky-9", arch="x86_64", path="/var/lib/oscar/images/rocky9")
    oda.image_versions.ensure("rocky9", 1, created="2026-01-31T12:00:00Z", packages=["openssh-server"])
    oda.image_versions.ensure(
        "rocky9",
        2,
        parent=1,
        kernel="6.1.0-28-amd64",
        recipe="ab" * 32,
        packages=["slurmd"],
        note="slurm",
        boot_kernel="6.1.0-28-amd64",
        boot_root_sha256="cd" * 32,
    )
    oda.images.ensure("rocky9", suite="bookworm", current_version=2, kernel="6.1.0-28-amd64")
    oda.groups.ensure("gpu", description="nodes with GPUs")
    oda.packages.ensure("slurm", version="23.11", summary="the batch system", provides=["batch"])
    oda.packages.ensure("pbs", version="22", conflicts=["batch"])
    oda.packages.ensure("munge", requires=["slurm"])
    oda.config.set("slurm", "partitions", [{"name": "all", "default": True}])
    oda.config.set("slurm", "port", 6817)
    oda.nodes.ensure(
        "head",
        hostname="oscar-head",
        groups=["oscar_server"],
        nics=[{"name": "eth1", "mac": "02:00:0a:00:00:01", "ip": "10.0.0.1", "network": "cluster"}],
        cpus=16,
        memory_mb=65536,
        arch="x86_64",
    )
    oda.nodes.define_clients(
        "node[01-04]", "cluster", "10.0.0.11", image="rocky9", macs=[mac(n) for n in range(1, 5)]
    )
    oda.nodes.ensure("node03", groups=["oscar_clients", "gpu"], state="up", excluded=True)
    oda.nodes.ensure("node01", image_version=2, image_state="in-sync")
    oda.nodes.ensure("node02", image_version=1, image_state="update-failed")
    oda.nodes.ensure(
        "bmc01",
        cluster="lab",
        nics=[{"name": "ipmi", "ip": "10.1.0.11", "network": "ipmi"}, {"name": "spare"}],
    )
    oda.packages.set_status("slurm", "installed", node="node01")
    oda.packages.set_status("munge", "should_be_installed", node="node01")
    oda_install.define_layout(
        oda.db,
        "small",
        {"partitions": [{"label": "root", "size_mib": None, "type": "linux", "fs": "ext4", "mount": "/"}]},
    )
    oda.nodes.ensure("node04", disk_layout="small")
    oda_install.set_boot_action(oda.db, "node01", "install")
    oda_install.record_report(oda.db, "node01", "booted")
    oda_install.record_report(oda.db, "node01", "failed", detail="disk too small")
    oda.packages.set_status("pbs", "uninstalled", node="node02")
    oda.packages.set_status("slurm", "installed", image="rocky9")
    oda.steps.set("survey", "done")
    oda.steps.set("define_clients", "running")
    oda.variables.set("cluster", "oscar", {"ansible_user": "root", "ntp": ["10.0.0.1"]})
    oda.variables.set("group", "gpu", {"cuda": "12.4"})
    oda.variables.set("node", "node01", {"rack": 3, "slot": {"u": 12}})
    return oda


def mac(number):
    return "02:00:0a:00:01:%02x" % number


def refused(oda, error, text, call):
    """call() raises error with text in its message, and the database is unchanged."""
    before = transfer.dump_text(oda)
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)
    assert transfer.dump_text(oda) == before
    return raised.value


# --- the schema ------------------------------------------------------------------


def test_a_dump_covers_every_table_of_the_schema_but_the_version(make):
    records = transfer.dump_records(fill(make()))
    assert records[0] == {
        "format": transfer.DUMP_FORMAT,
        "dump_version": transfer.DUMP_VERSION,
        "schema_version": SCHEMA_VERSION,
    }
    dumped = set(record["table"] for record in records[1:-1])
    assert dumped == set(tab["name"] for tab in TABLES) - {"schema_version"}
    # The trailer counts every table's rows, empty ones too.
    assert records[-1]["end"] == transfer.DUMP_FORMAT
    assert records[-1]["rows"]["nodes"] == 6
    assert set(records[-1]["rows"]) == set(tab["name"] for tab in TABLES) - {"schema_version"}
    assert sum(records[-1]["rows"].values()) == len(records) - 2


def test_table_counts_cover_every_table(make):
    counts = transfer.table_counts(fill(make()))
    assert list(counts) == [tab["name"] for tab in TABLES]
    assert counts["nodes"] == 6
    assert counts["nics"] == 7
    assert counts["schema_version"] == 1


def test_find_table_names_the_tables_when_it_does_not_know_one():
    assert transfer.find_table("nics")["name"] == "nics"
    with pytest.raises(
        OdaNotFoundError, match="unknown table 'nodez'; the tables are schema_version, clusters"
    ):
        transfer.find_table("nodez")


# --- dump and restore ------------------------------------------------------------


def test_a_dump_writes_references_by_name_never_ids(make):
    records = transfer.dump_records(fill(make()))[:-1]
    nics = [record["row"] for record in records[1:] if record["table"] == "nics"]
    assert {
        "node": "head",
        "name": "eth1",
        "mac": "02:00:0a:00:00:01",
        "ip": "10.0.0.1",
        "network": "cluster",
    } in nics
    members = [record["row"] for record in records[1:] if record["table"] == "group_members"]
    assert {"group": "gpu", "node": "node03"} in members
    for record in records[1:]:
        assert "id" not in record["row"]
        assert not any(key.endswith("_id") for key in record["row"])
    nodes = dict((r["row"]["name"], r["row"]) for r in records[1:] if r["table"] == "nodes")
    assert nodes["node03"]["excluded"] is True
    assert nodes["head"]["cpus"] == 16


def test_dump_restore_dump_is_identical_and_the_api_sees_the_same_cluster(make):
    source = fill(make("source"))
    text = transfer.dump_text(source)
    copy_ = make("copy")
    counts = transfer.restore(copy_, text, source="oda.jsonl")
    assert counts["nodes"] == 6
    assert counts["wizard_steps"] == 2
    assert transfer.dump_text(copy_) == text
    assert copy_.nodes.list() == source.nodes.list()
    assert copy_.steps.list() == source.steps.list()
    assert copy_.config.get("slurm") == source.config.get("slurm")
    assert copy_.variables.all() == source.variables.all()
    assert copy_.packages.list_statuses() == source.packages.list_statuses()


def test_restore_into_a_database_never_opened_before_restores_the_defaults_too(make):
    text = transfer.dump_text(make("source"))
    target = make("copy")
    transfer.restore(target, text)
    assert [group["name"] for group in target.groups.list()] == ["oscar_clients", "oscar_server"]
    assert transfer.dump_text(target) == text


def test_restore_in_check_mode_keeps_nothing(make):
    text = transfer.dump_text(fill(make("source")))
    target = make("copy")
    before = transfer.dump_text(target)
    assert transfer.restore(target, text, check_mode=True)["nodes"] == 6
    assert transfer.dump_text(target) == before


def test_restore_refuses_a_database_that_holds_data_and_names_what_it_holds(make):
    text = transfer.dump_text(fill(make("source")))
    target = make("copy")
    target.networks.ensure("other", "192.168.0.0/24")
    target.groups.ensure("extra")
    refused(
        target,
        OdaConflictError,
        "is not empty (rows: 1 in networks, 1 in node_groups)",
        lambda: transfer.restore(target, text),
    )


def _dump_lines(make):
    return transfer.dump_text(fill(make("source"))).splitlines()


def _recounted(lines):
    """A dump's lines with its trailer made to count the rows they hold: edited, not cut short."""
    rows = [json.loads(line) for line in lines[1:-1]]
    counts = dict.fromkeys(json.loads(lines[-1])["rows"], 0)
    for record in rows:
        counts[record["table"]] = counts.get(record["table"], 0) + 1
    return [*lines[:-1], json.dumps({"end": transfer.DUMP_FORMAT, "rows": counts})]


def _with_row(lines, table, change):
    """The dump with the first row of a table changed by change(row)."""
    lines = list(lines)
    for index, line in enumerate(lines[1:], 1):
        record = json.loads(line)
        if record.get("table") == table:
            change(record["row"])
            lines[index] = json.dumps(record)
            return lines, index + 1
    raise AssertionError("no row of %s in the dump" % table)


BAD_ROWS = [
    ("nodes", lambda row: row.update(image="nosuch"), OdaNotFoundError, "unknown image 'nosuch'"),
    ("nics", lambda row: row.update(node="ghost"), OdaNotFoundError, "unknown node 'ghost'"),
    ("nodes", lambda row: row.update(rack=4), OdaValidationError, "unknown column 'rack'"),
    (
        "nodes",
        lambda row: row.update(cpus="many"),
        OdaValidationError,
        "invalid cpus 'many': expected a whole",
    ),
    ("nodes", lambda row: row.update(excluded="no"), OdaValidationError, "invalid excluded 'no'"),
    ("nodes", lambda row: row.update(state=None), OdaValidationError, "missing value for 'state'"),
    ("networks", lambda row: row.update(cidr=24), OdaValidationError, "invalid cidr '24': expected text"),
    # Values a write through the API refuses are refused by restore too.
    ("nodes", lambda row: row.update(name="bad name;rm -rf /"), OdaValidationError, "invalid host name"),
    ("nodes", lambda row: row.update(state="exploded"), OdaValidationError, "invalid node state 'exploded'"),
    ("nics", lambda row: row.update(ip="999.1.1.1"), OdaValidationError, "invalid IP address '999.1.1.1'"),
    ("nics", lambda row: row.update(mac="not-a-mac"), OdaValidationError, "invalid MAC address 'not-a-mac'"),
    ("networks", lambda row: row.update(cidr="10.0.0.1/24"), OdaValidationError, "invalid network"),
    ("node_vars", lambda row: row.update(var_key="a b"), OdaValidationError, "invalid variable name 'a b'"),
    ("wizard_steps", lambda row: row.update(status="half"), OdaValidationError, "invalid wizard step status"),
    (
        "image_versions",
        lambda row: row.update(version=0),
        OdaValidationError,
        "invalid image version 0: expected 1 to",
    ),
    ("image_versions", lambda row: row.update(image="nosuch"), OdaNotFoundError, "unknown image 'nosuch'"),
    ("image_versions", lambda row: row.update(packages="[1]"), OdaValidationError, "invalid package '1'"),
    ("image_versions", lambda row: row.update(recipe="xyz"), OdaValidationError, "invalid recipe 'xyz'"),
    (
        "nodes",
        lambda row: row.update(image_state="broken"),
        OdaValidationError,
        "invalid node image state 'broken': expected one of updating, in-sync, update-failed",
    ),
    ("images", lambda row: row.update(kernel="a b"), OdaValidationError, "invalid kernel release 'a b'"),
    ("nodes", lambda row: row.update(boot_action="pxe"), OdaValidationError, "invalid boot action 'pxe'"),
    (
        "nodes",
        lambda row: row.update(install_stage="done"),
        OdaValidationError,
        "invalid install stage 'done'",
    ),
    ("nodes", lambda row: row.update(disk_layout="nosuch"), OdaNotFoundError, "unknown disk_layout 'nosuch'"),
    ("install_events", lambda row: row.update(stage="x"), OdaValidationError, "invalid install stage 'x'"),
    ("install_events", lambda row: row.update(node="ghost"), OdaNotFoundError, "unknown node 'ghost'"),
    (
        "disk_layouts",
        lambda row: row.update(spec='{"partitions": []}'),
        OdaValidationError,
        "partitions must be a list",
    ),
    (
        "image_versions",
        lambda row: row.update(boot_root_sha256="xyz"),
        OdaValidationError,
        "invalid root.squashfs digest 'xyz'",
    ),
]


@pytest.mark.parametrize(("table", "change", "error", "text"), BAD_ROWS)
def test_restore_refuses_a_bad_row_naming_its_line_and_writes_nothing(make, table, change, error, text):
    lines, number = _with_row(_dump_lines(make), table, change)
    target = make("copy")
    raised = refused(
        target, error, text, lambda: transfer.restore(target, "\n".join(lines), source="d.jsonl")
    )
    assert "d.jsonl line %d (%s)" % (number, table) in str(raised)


def test_restore_refuses_a_current_version_without_its_row_and_writes_nothing(make):
    lines, _number = _with_row(_dump_lines(make), "images", lambda row: row.update(current_version=7))
    target = make("copy")
    refused(
        target,
        OdaNotFoundError,
        "d.jsonl: image 'rocky9' has current version 7 but no image_versions row for it",
        lambda: transfer.restore(target, "\n".join(lines), source="d.jsonl"),
    )


def _as_schema_2(lines):
    """A current dump as a release before image versions wrote it: no such table, no such columns."""
    added = {"images": ("current_version", "kernel", "suite"), "nodes": ("image_version", "image_state")}
    header = dict(json.loads(lines[0]), schema_version=2)
    kept = []
    for line in lines[1:-1]:
        record = json.loads(line)
        if record["table"] == "image_versions":
            continue
        for key in added.get(record["table"], ()):
            del record["row"][key]
        kept.append(json.dumps(record))
    trailer = json.loads(lines[-1])
    del trailer["rows"]["image_versions"]
    return _recounted([json.dumps(header), *kept, json.dumps(trailer)])


def test_a_dump_of_schema_version_2_still_restores(make):
    old = _as_schema_2(_dump_lines(make))
    target = make("copy")
    counts = transfer.restore(target, "\n".join(old))
    assert counts["image_versions"] == 0
    assert counts["nodes"] == 6
    image = target.images.get("rocky9")
    assert (image["distro"], image["current_version"], image["kernel"], image["suite"]) == (
        "rocky-9",
        None,
        None,
        None,
    )
    node = target.nodes.get("node01")
    assert (node["image"], node["image_version"], node["image_state"]) == ("rocky9", None, None)
    assert target.image_versions.list() == []
    # What it holds is the old dump's content, now at this schema's version.
    again = transfer.dump_text(target).splitlines()
    assert json.loads(again[0])["schema_version"] == SCHEMA_VERSION
    assert [json.loads(line) for line in _as_schema_2(again)[1:]] == [json.loads(line) for line in old[1:]]


def test_the_image_versions_and_the_new_columns_survive_a_round_trip(make):
    source = fill(make("source"))
    target = make("copy")
    transfer.restore(target, transfer.dump_text(source))
    assert target.image_versions.list() == source.image_versions.list()
    assert [v["version"] for v in target.image_versions.list(image="rocky9")] == [1, 2]
    assert target.images.get("rocky9")["current_version"] == 2
    assert target.image_versions.get("rocky9", 2)["packages"] == ["slurmd"]
    assert target.nodes.get("node02")["image_state"] == "update-failed"


def test_restore_is_all_or_nothing_when_the_last_row_is_refused(make):
    lines = _dump_lines(make)
    last = json.loads(lines[-2])
    last["row"]["surprise"] = 1
    lines[-2] = json.dumps(last)
    target = make("copy")
    refused(
        target,
        OdaValidationError,
        "unknown column 'surprise'",
        lambda: transfer.restore(target, "\n".join(lines)),
    )


def test_restore_refuses_a_duplicate_mac_through_the_database_and_writes_nothing(make):
    lines = _dump_lines(make)
    nic_lines = [line for line in lines[1:-1] if json.loads(line)["table"] == "nics"]
    twin = json.loads(nic_lines[0])
    twin["row"]["name"] = "eth9"
    lines = _recounted([*lines[:-1], json.dumps(twin), lines[-1]])
    target = make("copy")
    refused(target, OdaConflictError, "conflicting write", lambda: transfer.restore(target, "\n".join(lines)))


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", OdaValidationError, "d.jsonl is empty: not an ODA dump"),
        ("{not json\n", OdaValidationError, "d.jsonl line 1: not a JSON record"),
        ('["a list"]\n', OdaValidationError, "d.jsonl line 1: expected a JSON object, found list"),
        ('{"format": "other"}\n', OdaValidationError, "not an ODA dump: the first record must have format"),
        ('{"format": "oscar-oda-dump", "schema_version": 999}\n', OdaSchemaError, "has schema version 999"),
        (
            '{"format": "oscar-oda-dump", "schema_version": 0}\n',
            OdaSchemaError,
            "has schema version 0 but this code restores versions 1 to %d" % SCHEMA_VERSION,
        ),
        (
            '{"format": "oscar-oda-dump", "dump_version": 2, "schema_version": %d}\n{"table": "nodes"}\n'
            % SCHEMA_VERSION,
            OdaValidationError,
            'd.jsonl line 2: expected a record {"table": ..., "row": {...}}',
        ),
        (
            '{"format": "oscar-oda-dump", "dump_version": 2, "schema_version": %d}\n\n'
            '{"table": "racks", "row": {}}\n{"end": "oscar-oda-dump", "rows": {"racks": 1}}\n'
            % SCHEMA_VERSION,
            OdaValidationError,
            "d.jsonl line 3: unknown table 'racks'",
        ),
    ],
)
def test_restore_refuses_what_is_not_a_dump_of_this_version(make, text, error, message):
    target = make("copy")
    refused(target, error, message, lambda: transfer.restore(target, text, source="d.jsonl"))


def test_restore_refuses_an_address_outside_its_network_and_writes_nothing(make):
    lines, _number = _with_row(_dump_lines(make), "nics", lambda row: row.update(ip="10.9.9.9"))
    target = make("copy")
    refused(
        target,
        OdaValidationError,
        "address 10.9.9.9 is outside network 10.0.0.0/24",
        lambda: transfer.restore(target, "\n".join(lines), source="d.jsonl"),
    )


def test_restore_refuses_overlapping_networks_and_writes_nothing(make):
    lines = _dump_lines(make)
    network = json.loads(next(line for line in lines[1:-1] if json.loads(line)["table"] == "networks"))
    network["row"].update(name="shadow", cidr="10.0.0.0/25", gateway=None, dhcp_start=None, dhcp_end=None)
    lines = _recounted([*lines[:-1], json.dumps(network), lines[-1]])
    target = make("copy")
    refused(
        target,
        OdaConflictError,
        "overlaps network",
        lambda: transfer.restore(target, "\n".join(lines), source="d.jsonl"),
    )


def test_restore_refuses_a_dump_cut_short_at_a_line_end_and_writes_nothing(make):
    lines = _dump_lines(make)
    target = make("copy")
    for cut in (len(lines) - 1, len(lines) // 2, 1):
        # Cut at a line's end: every line left is whole JSON, only the trailer tells.
        refused(
            target,
            OdaValidationError,
            "d.jsonl ends without its trailer after %d rows: it was cut short" % (cut - 1),
            lambda cut=cut: transfer.restore(target, "\n".join(lines[:cut]) + "\n", source="d.jsonl"),
        )


def test_restore_refuses_a_dump_whose_rows_do_not_match_its_trailer(make):
    lines = _dump_lines(make)
    member = next(index for index, line in enumerate(lines[1:-1], 1) if "group_members" in line)
    target = make("copy")
    refused(
        target,
        OdaValidationError,
        "holds 5 rows of table group_members but its trailer counts 6: it was cut short or edited",
        lambda: transfer.restore(target, "\n".join(lines[:member] + lines[member + 1 :]), source="d.jsonl"),
    )
    refused(
        target,
        OdaValidationError,
        "d.jsonl line %d: a record after the dump's trailer" % (len(lines) + 1),
        lambda: transfer.restore(target, "\n".join([*lines, lines[1]]), source="d.jsonl"),
    )


def test_restore_refuses_a_dump_of_an_older_release_without_a_trailer(make):
    lines = _dump_lines(make)
    header = json.loads(lines[0])
    del header["dump_version"]
    old = "\n".join([json.dumps(header), *lines[1:-1]])
    target = make("copy")
    refused(
        target,
        OdaValidationError,
        "d.jsonl was written by an older oda, without row counts",
        lambda: transfer.restore(target, old, source="d.jsonl"),
    )


# --- export and import -----------------------------------------------------------


def test_export_import_export_is_identical(make):
    data = transfer.export_data(fill(make("source")))
    target = make("copy")
    report = transfer.import_data(target, copy.deepcopy(data))
    assert report["created"]["node"] == ["bmc01", "head", "node01", "node02", "node03", "node04"]
    assert report["created"]["cluster"] == ["lab"]
    assert "oscar" not in report["created"]["cluster"]
    assert transfer.export_data(target) == data


def test_an_export_is_plain_data_with_names(make):
    data = transfer.export_data(fill(make()))
    assert data["format"] == transfer.EXPORT_FORMAT
    nodes = dict((node["name"], node) for node in data["nodes"])
    assert nodes["head"]["hostname"] == "oscar-head"
    assert "hostname" not in nodes["node01"]
    assert nodes["node01"]["packages"] == {"munge": "should_be_installed", "slurm": "installed"}
    assert nodes["node01"]["variables"] == {"rack": 3, "slot": {"u": 12}}
    assert nodes["node03"]["excluded"] is True
    assert nodes["bmc01"]["cluster"] == "lab"
    assert nodes["bmc01"]["nics"] == [
        {"name": "ipmi", "ip": "10.1.0.11", "network": "ipmi"},
        {"name": "spare"},
    ]
    packages = dict((package["name"], package) for package in data["packages"])
    assert packages["slurm"]["config"] == {"partitions": [{"default": True, "name": "all"}], "port": 6817}
    assert packages["pbs"]["conflicts"] == ["batch"]
    assert json.loads(json.dumps(data)) == data


def test_import_is_idempotent(make):
    data = transfer.export_data(fill(make("source")))
    target = make("copy")
    transfer.import_data(target, data)
    before = transfer.dump_text(target)
    assert transfer.import_data(target, data) == {"created": {}, "changed": {}}
    assert transfer.dump_text(target) == before


def test_import_reports_what_changed_and_check_mode_keeps_nothing(make):
    oda = fill(make())
    data = transfer.export_data(oda)
    nodes = dict((node["name"], node) for node in data["nodes"])
    nodes["node02"]["state"] = "down"
    nodes["node04"]["variables"] = {"rack": 9}
    data["networks"].append({"name": "storage", "cidr": "10.2.0.0/24"})
    before = transfer.dump_text(oda)
    expected = {
        "created": {"network": ["storage"]},
        "changed": {"node": ["node02", "node04"]},
    }
    assert transfer.import_data(oda, data, check_mode=True) == expected
    assert transfer.dump_text(oda) == before
    assert transfer.import_data(oda, data) == expected
    assert oda.nodes.get("node02")["state"] == "down"
    assert oda.variables.get("node", "node04") == {"rack": 9}


def test_import_makes_listed_mappings_exact_and_keeps_what_is_left_out(make):
    oda = fill(make())
    data = {
        "packages": [{"name": "slurm", "config": {"port": 6818}}],
        "nodes": [
            {"name": "node01", "variables": {}, "packages": {"slurm": "installed"}},
            {"name": "node02", "state": "up"},
        ],
    }
    transfer.import_data(oda, data)
    assert oda.config.get("slurm") == {"port": 6818}
    assert oda.variables.get("node", "node01") == {}
    statuses = oda.packages.list_statuses(nodes="node01")
    assert [(s["package"], s["status"]) for s in statuses] == [("slurm", "installed")]
    node02 = oda.nodes.get("node02")
    assert node02["state"] == "up"
    assert node02["nics"][0]["mac"] == mac(2)
    assert oda.packages.get("slurm")["version"] == "23.11"


def test_import_swaps_conflicting_packages_without_a_false_conflict(make):
    oda = fill(make())
    data = {"nodes": [{"name": "node02", "packages": {"pbs": "installed", "slurm": "uninstalled"}}]}
    transfer.import_data(oda, data)
    data = {"nodes": [{"name": "node02", "packages": {"pbs": "uninstalled", "slurm": "installed"}}]}
    assert transfer.import_data(oda, data)["changed"] == {"node": ["node02"]}
    statuses = oda.packages.list_statuses(nodes="node02")
    assert [(s["package"], s["status"]) for s in statuses] == [("pbs", "uninstalled"), ("slurm", "installed")]


def _node(name, ip, nic_mac=None, **extra):
    nic = {"name": "eth0", "ip": ip, "network": "cluster"}
    if nic_mac:
        nic["mac"] = nic_mac
    return dict({"name": name, "nics": [nic]}, **extra)


BAD_DEFINITIONS = [
    ({"nodes": [_node("n1", "10.0.0.50", "02:00:00:zz:00:01")]}, OdaValidationError, "'02:00:00:zz:00:01'"),
    ({"nodes": [_node("n1", "10.0.0.500")]}, OdaValidationError, "invalid IP address '10.0.0.500'"),
    ({"nodes": [_node("n1", "10.9.0.5")]}, OdaValidationError, "10.9.0.5 is outside network 10.0.0.0/24"),
    ({"nodes": [_node("n_1", "10.0.0.50")]}, OdaValidationError, "invalid host name 'n_1'"),
    (
        {"nodes": [_node("n1", "10.0.0.50", mac(1))]},
        OdaConflictError,
        "MAC %s is already used by node01" % mac(1),
    ),
    (
        {"nodes": [_node("n1", "10.0.0.11")]},
        OdaConflictError,
        "address 10.0.0.11 on network 'cluster' is already",
    ),
    ({"nodes": [_node("n1", "10.0.0.50", groups=["nosuch"])]}, OdaNotFoundError, "unknown group 'nosuch'"),
    ({"nodes": [_node("n1", "10.0.0.50", image="nosuch")]}, OdaNotFoundError, "unknown image 'nosuch'"),
    (
        {"nodes": [{"name": "n1", "nics": [{"name": "eth0", "network": "nosuch"}]}]},
        OdaNotFoundError,
        "'nosuch'",
    ),
    (
        {"nodes": [_node("n1", "10.0.0.50", mac(9)), _node("n2", "10.0.0.51", mac(9))]},
        OdaConflictError,
        "MAC %s is already used by n1" % mac(9),
    ),
    (
        {"networks": [{"name": "bad", "cidr": "10.0.0.1/24"}]},
        OdaValidationError,
        "invalid network '10.0.0.1/24'",
    ),
    ({"networks": [{"name": "nocidr"}]}, OdaValidationError, "network 'nocidr' needs a cidr"),
    ({"nodes": [{"name": "node01", "macs": []}]}, OdaValidationError, "node 'node01': unknown key 'macs'"),
    ({"nodes": {"name": "node01"}}, OdaValidationError, "'nodes' must be a list"),
    ({"nodes": [{"name": "n1"}, {"name": "n1"}]}, OdaValidationError, "node 'n1' is listed twice"),
    ({"nodes": ["node01"]}, OdaValidationError, "node number 1 must be a mapping with a name"),
    ({"nodes": [{"name": "n1", "groups": "gpu"}]}, OdaValidationError, "'groups' must be a list"),
    ({"nodes": [{"name": "n1", "variables": []}]}, OdaValidationError, "'variables' must be a mapping"),
    ({"racks": []}, OdaValidationError, "unknown key 'racks'"),
    ({"format": "other"}, OdaValidationError, "format 'other' is not a cluster definition"),
    ({"version": 7}, OdaValidationError, "cluster definition version '7' is not supported"),
    (["not", "a", "mapping"], OdaValidationError, "expected a mapping"),
]


@pytest.mark.parametrize(("data", "error", "text"), BAD_DEFINITIONS)
def test_import_refuses_bad_definitions_naming_the_value_and_writes_nothing(make, data, error, text):
    oda = fill(make())
    # A good entry first: it must be rolled back with the rest.
    if isinstance(data, dict):
        data = dict(data, groups=[{"name": "written-first"}])
    refused(oda, error, text, lambda: transfer.import_data(oda, data, source="cluster.yml"))
    assert oda.groups.get("written-first") is None


def test_fold_report_folds_node_names_and_speaks_of_check_mode():
    report = {"created": {"node": ["n01", "n02", "n03"], "network": ["a"]}, "changed": {"group": ["g", "h"]}}
    assert transfer.fold_report(report) == [
        "created network: a",
        "created nodes: n[01-03]",
        "changed groups: g, h",
    ]
    assert transfer.fold_report(report, check_mode=True)[0] == "would create network: a"

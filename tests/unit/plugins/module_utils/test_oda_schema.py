"""ODA's schema: one description, three dialects, versions that only move forward."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_schema
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaSchemaError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    TABLES_V1,
    TABLES_V2,
    TABLES_V3,
    column,
    create_statements,
    current_version,
    ensure_schema,
    init,
)
from oscar_dbservers import testing

TABLE_NAMES = [
    "schema_version",
    "clusters",
    "networks",
    "images",
    "disk_layouts",
    "nodes",
    "nics",
    "node_groups",
    "group_members",
    "packages",
    "package_relations",
    "node_packages",
    "image_packages",
    "package_config",
    "wizard_steps",
    "cluster_vars",
    "group_vars",
    "node_vars",
    "image_versions",
    "install_events",
]


@pytest.fixture
def db(oda_backend):
    """An empty database on each backend in turn (see conftest.py)."""
    database = oda_backend.connect()
    yield database
    database.close()


@pytest.fixture
def ready(db):
    ensure_schema(db)
    init(db)
    return db


def test_the_schema_is_at_version_4_with_four_migrations():
    assert SCHEMA_VERSION == 4
    assert len(MIGRATIONS) == SCHEMA_VERSION
    assert [table["name"] for table in TABLES] == TABLE_NAMES
    # The current description is the older tables with the later columns added at their end.
    current = {tab["name"]: tab for tab in TABLES}
    for old in TABLES_V1 + TABLES_V2 + TABLES_V3:
        assert current[old["name"]]["columns"][: len(old["columns"])] == old["columns"]
    added = {
        tab["name"]: [col["name"] for col in current[tab["name"]]["columns"][len(tab["columns"]) :]]
        for tab in TABLES_V1 + TABLES_V3
    }
    assert added["images"] == ["current_version", "kernel", "suite"]
    assert added["nodes"] == [
        "image_version",
        "image_state",
        "boot_action",
        "install_stage",
        "install_detail",
        "install_updated_at",
        "install_attempt",
        "disk_layout_id",
    ]
    assert added["image_versions"] == ["boot_kernel", "boot_root_sha256"]
    assert [name for name, columns in added.items() if columns] == ["images", "nodes", "image_versions"]


def _columns_of(db, table_name):
    """The column names of a stored table, in order, as the database reports them."""
    cursor = db._connection.cursor()
    try:
        cursor.execute("SELECT * FROM %s WHERE 1 = 0" % table_name)
        return [description[0] for description in cursor.description]
    finally:
        cursor.close()


def _described_columns(table_name):
    return [col["name"] for col in next(tab for tab in TABLES if tab["name"] == table_name)["columns"]]


def _database_at_version(db, last):
    """A database built by the first migrations only, up to version last, as an older release left it."""
    for version in range(1, last + 1):
        with db.transaction():
            MIGRATIONS[version - 1](db)
            oda_schema._record_version(db, version)
    init(db)


def _database_at_version_2(db):
    """A database as a release before images had versions left it."""
    _database_at_version(db, 2)


def test_a_version_3_database_is_upgraded_to_4_keeping_its_data(db):
    _database_at_version(db, 3)
    db.execute("INSERT INTO images (name, state, current_version) VALUES ('debian12', 'defined', 1)")
    image = db.query_one("SELECT id FROM images")["id"]
    db.execute(
        "INSERT INTO image_versions (image_id, version, kernel) VALUES (?, 1, '6.1.0-28-amd64')", (image,)
    )
    node = _add_node(db, "n1")
    db.execute("UPDATE nodes SET image_id = ?, image_version = 1 WHERE id = ?", (image, node))
    assert not db.table_exists("disk_layouts")
    assert ensure_schema(db) == (3, 4)
    assert db.query(
        "SELECT name, image_version, boot_action, install_stage, install_detail, install_updated_at,"
        " install_attempt, disk_layout_id FROM nodes"
    ) == [
        {
            "name": "n1",
            "image_version": 1,
            "boot_action": None,
            "install_stage": None,
            "install_detail": None,
            "install_updated_at": None,
            "install_attempt": None,
            "disk_layout_id": None,
        }
    ]
    assert db.query("SELECT version, kernel, boot_kernel, boot_root_sha256 FROM image_versions") == [
        {"version": 1, "kernel": "6.1.0-28-amd64", "boot_kernel": None, "boot_root_sha256": None}
    ]
    db.execute("INSERT INTO disk_layouts (name, spec) VALUES ('small', '{}')")
    layout = db.query_one("SELECT id FROM disk_layouts")["id"]
    db.execute("UPDATE nodes SET disk_layout_id = ? WHERE id = ?", (layout, node))
    # The added reference is a foreign key on every backend: no dangling layout, no removal in use.
    with pytest.raises(OdaConflictError):
        db.execute("UPDATE nodes SET disk_layout_id = 999 WHERE id = ?", (node,))
    with pytest.raises(OdaConflictError):
        db.execute("DELETE FROM disk_layouts WHERE id = ?", (layout,))
    db.execute(
        "INSERT INTO install_events (node_id, attempt, stage, at) VALUES (?, 1, 'booted', ?)",
        (node, "2026-01-01T00:00:00Z"),
    )
    db.execute("DELETE FROM nodes WHERE id = ?", (node,))
    assert db.query("SELECT * FROM install_events") == []


def test_a_version_2_database_is_upgraded_to_4_keeping_its_data(db):
    _database_at_version_2(db)
    db.execute("INSERT INTO images (name, distro, state) VALUES ('debian12', 'debian-12', 'defined')")
    image = db.query_one("SELECT id FROM images")["id"]
    node = _add_node(db, "n1")
    db.execute("UPDATE nodes SET image_id = ?, cpus = 8 WHERE id = ?", (image, node))
    db.execute("INSERT INTO node_vars (node_id, var_key, value) VALUES (?, 'rack', '\"r1\"')", (node,))
    assert not db.table_exists("image_versions")
    assert ensure_schema(db) == (2, 4)
    assert db.query("SELECT name, distro, state, current_version, kernel, suite FROM images") == [
        {
            "name": "debian12",
            "distro": "debian-12",
            "state": "defined",
            "current_version": None,
            "kernel": None,
            "suite": None,
        }
    ]
    assert db.query("SELECT name, image_id, cpus, image_version, image_state FROM nodes") == [
        {"name": "n1", "image_id": image, "cpus": 8, "image_version": None, "image_state": None}
    ]
    assert db.query("SELECT var_key, value FROM node_vars") == [{"var_key": "rack", "value": '"r1"'}]
    db.execute("INSERT INTO image_versions (image_id, version, packages) VALUES (?, 1, '[]')", (image,))
    with pytest.raises(OdaConflictError):
        db.execute("INSERT INTO image_versions (image_id, version) VALUES (?, 1)", (image,))
    with pytest.raises(OdaConflictError):
        db.execute("INSERT INTO image_versions (image_id, version) VALUES (999, 2)")
    db.execute("UPDATE nodes SET image_id = NULL")
    db.execute("DELETE FROM images WHERE id = ?", (image,))
    assert db.query("SELECT * FROM image_versions") == []


@pytest.mark.parametrize("upgraded", [True, False], ids=["upgraded", "new"])
def test_an_upgraded_database_and_a_new_one_have_the_described_columns(db, upgraded):
    if upgraded:
        _database_at_version_2(db)
    ensure_schema(db)
    for table_name in ("images", "nodes", "image_versions", "disk_layouts", "install_events"):
        assert _columns_of(db, table_name) == _described_columns(table_name)


def test_a_version_1_database_is_upgraded_to_2_keeping_its_data(db):
    with db.transaction():
        MIGRATIONS[0](db)
        db.execute("INSERT INTO schema_version (version) VALUES (1)")
    init(db)
    node = _add_node(db, "n1")
    assert not db.table_exists("node_vars")
    assert ensure_schema(db) == (1, SCHEMA_VERSION)
    assert db.query("SELECT name FROM nodes") == [{"name": "n1"}]
    db.execute("INSERT INTO node_vars (node_id, var_key, value) VALUES (?, 'rack', '\"r1\"')", (node,))
    db.execute("DELETE FROM nodes WHERE id = ?", (node,))
    assert db.query("SELECT * FROM node_vars") == []


@pytest.mark.parametrize(
    ("dialect", "id_column", "string", "suffix"),
    [
        ("sqlite", "id INTEGER PRIMARY KEY AUTOINCREMENT", "name TEXT NOT NULL UNIQUE", ""),
        (
            "mysql",
            "id INTEGER PRIMARY KEY AUTO_INCREMENT",
            "name VARCHAR(255) NOT NULL UNIQUE",
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ),
        (
            "postgresql",
            "id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "name VARCHAR(255) NOT NULL UNIQUE",
            "",
        ),
    ],
)
def test_each_dialect_gets_its_own_ddl_from_the_one_description(dialect, id_column, string, suffix):
    statements = create_statements(dialect, TABLES)
    nodes = next(s for s in statements if s.startswith("CREATE TABLE nodes "))
    assert id_column in nodes
    assert string in nodes
    assert "excluded INTEGER NOT NULL DEFAULT 0" in nodes
    assert nodes.endswith("\n)" + suffix)
    nics = next(s for s in statements if s.startswith("CREATE TABLE nics "))
    assert "FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE" in nics
    # A network in use must not vanish with its NICs: no cascade there.
    assert "FOREIGN KEY (network_id) REFERENCES networks (id)\n" in nics
    assert "UNIQUE (node_id, name)" in nics
    assert "UNIQUE (network_id, ip)" in nics
    creates = [s.split()[2] for s in statements if s.startswith("CREATE TABLE")]
    assert creates == TABLE_NAMES
    assert "CREATE INDEX idx_group_members_node_id ON group_members (node_id)" in statements


def test_an_unknown_dialect_has_no_schema():
    with pytest.raises(OdaSchemaError, match="oracle"):
        create_statements("oracle", TABLES_V1)


def test_an_empty_database_is_version_0(db):
    assert current_version(db) == 0


def test_ensure_schema_creates_every_table_and_records_the_version(db):
    assert ensure_schema(db) == (0, SCHEMA_VERSION)
    assert current_version(db) == SCHEMA_VERSION
    assert all(db.table_exists(name) for name in TABLE_NAMES)
    assert db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]


def test_ensure_schema_on_a_current_database_changes_nothing(db):
    ensure_schema(db)
    db.execute("INSERT INTO clusters (name) VALUES ('kept')")
    assert ensure_schema(db) == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
    assert db.query("SELECT name FROM clusters") == [{"name": "kept"}]


def _add_rack_column(db):
    db.execute(oda_schema.add_column_sql(db.dialect, "nodes", column("rack", "string")))


def test_an_older_database_is_upgraded_in_place_keeping_its_data(ready, monkeypatch):
    ready.execute("INSERT INTO images (name, state) VALUES ('rocky9', 'defined')")
    monkeypatch.setattr(oda_schema, "MIGRATIONS", [*MIGRATIONS, _add_rack_column])
    newest = SCHEMA_VERSION + 1
    assert ensure_schema(ready) == (SCHEMA_VERSION, newest)
    assert current_version(ready) == newest
    assert ready.query("SELECT name FROM images") == [{"name": "rocky9"}]
    cluster = ready.query_one("SELECT id FROM clusters WHERE name = 'oscar'")["id"]
    ready.execute(
        "INSERT INTO nodes (name, hostname, cluster_id, state, rack) VALUES ('n1', 'n1', ?, 'defined', 'r1')",
        (cluster,),
    )
    assert ready.query_one("SELECT rack FROM nodes") == {"rack": "r1"}
    assert ensure_schema(ready) == (newest, newest)


def test_an_empty_database_runs_every_migration_in_order(db, monkeypatch):
    monkeypatch.setattr(oda_schema, "MIGRATIONS", [*MIGRATIONS, _add_rack_column])
    assert ensure_schema(db) == (0, SCHEMA_VERSION + 1)
    assert db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION + 1}]
    assert db.query_one("SELECT rack FROM nodes") is None


def test_a_failing_migration_leaves_the_previous_version_whole(ready, monkeypatch):
    def half_done(db):
        _add_rack_column(db)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(oda_schema, "MIGRATIONS", [*MIGRATIONS, half_done])
    with pytest.raises(RuntimeError):
        ensure_schema(ready)
    assert current_version(ready) == SCHEMA_VERSION
    # MariaDB commits each DDL statement at once: there the new column stays,
    # but the version still says the migration did not happen.
    assert ("rack" in testing.column_names(ready, "nodes")) == (ready.dialect == "mysql")


def test_a_database_newer_than_the_code_is_refused(ready):
    ready.execute("UPDATE schema_version SET version = 7")
    with pytest.raises(OdaSchemaError) as raised:
        ensure_schema(ready)
    assert "schema version 7, newer than this code (version %d)" % SCHEMA_VERSION in str(raised.value)
    assert current_version(ready) == 7


def test_tables_without_a_version_are_not_built_over(db):
    db.execute("CREATE TABLE nodes (id INTEGER)")
    with pytest.raises(OdaSchemaError, match=r"holds ODA tables \(nodes\) but no schema version"):
        ensure_schema(db)
    assert not db.table_exists("schema_version")


def test_an_empty_version_table_is_an_error(db):
    db.execute("CREATE TABLE schema_version (version INTEGER)")
    with pytest.raises(OdaSchemaError, match="no version"):
        current_version(db)


def test_init_creates_the_default_cluster_and_groups_once(db):
    ensure_schema(db)
    assert init(db) is True
    assert db.query("SELECT name FROM clusters") == [{"name": "oscar"}]
    groups = [row["name"] for row in db.query("SELECT name FROM node_groups ORDER BY name")]
    assert groups == ["oscar_clients", "oscar_server"]
    assert init(db) is False
    db.execute("DELETE FROM node_groups WHERE name = 'oscar_server'")
    assert init(db) is True
    assert len(db.query("SELECT name FROM node_groups")) == 2


def _add_node(db, name):
    cluster = db.query_one("SELECT id FROM clusters")["id"]
    db.execute(
        "INSERT INTO nodes (name, hostname, cluster_id, state) VALUES (?, ?, ?, 'defined')",
        (name, name, cluster),
    )
    return db.query_one("SELECT id FROM nodes WHERE name = ?", (name,))["id"]


def _add_network(db, name="cluster"):
    cluster = db.query_one("SELECT id FROM clusters")["id"]
    db.execute("INSERT INTO networks (name, cidr, cluster_id) VALUES (?, '10.0.0.0/24', ?)", (name, cluster))
    return db.query_one("SELECT id FROM networks WHERE name = ?", (name,))["id"]


def test_deleting_a_node_cascades_to_its_nics_and_memberships(ready):
    node = _add_node(ready, "n1")
    network = _add_network(ready)
    ready.execute(
        "INSERT INTO nics (node_id, name, mac, ip, network_id) VALUES (?, 'eth0', 'aa', '10.0.0.5', ?)",
        (node, network),
    )
    group = ready.query_one("SELECT id FROM node_groups WHERE name = 'oscar_clients'")["id"]
    ready.execute("INSERT INTO group_members (group_id, node_id) VALUES (?, ?)", (group, node))
    ready.execute("DELETE FROM nodes WHERE id = ?", (node,))
    assert ready.query("SELECT * FROM nics") == []
    assert ready.query("SELECT * FROM group_members") == []


def test_the_database_itself_refuses_duplicates_and_dangling_references(ready):
    first, second = _add_node(ready, "n1"), _add_node(ready, "n2")
    network = _add_network(ready)
    insert = "INSERT INTO nics (node_id, name, mac, ip, network_id) VALUES (?, ?, ?, ?, ?)"
    ready.execute(insert, (first, "eth0", "m1", "10.0.0.5", network))
    # NULL MACs and addresses never collide.
    ready.execute(insert, (first, "eth1", None, None, None))
    ready.execute(insert, (second, "eth1", None, None, None))
    for values in [
        (second, "eth0", "m1", None, None),
        (second, "eth0", None, "10.0.0.5", network),
        (first, "eth0", None, None, None),
        (999, "eth0", None, None, None),
    ]:
        with pytest.raises(OdaConflictError):
            ready.execute(insert, values)
    with pytest.raises(OdaConflictError, match=r"(?i)foreign key"):
        ready.execute("DELETE FROM networks WHERE id = ?", (network,))

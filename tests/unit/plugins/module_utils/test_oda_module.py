"""The shared base of the ODA modules: options, opening ODA, results, diffs, failures, name patterns.

The real modules run in tests/unit/plugins/modules and in the integration
playbook; here a stand-in carries only what the base reads from a module.
"""

import sqlite3
import sys

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_module
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_db import DEFAULT_URL, PASSWORD_ENV, URL_ENV
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaUnavailableError,
    OdaValidationError,
)


class StandIn:
    """What oda_module reads from an AnsibleModule: params, check mode, diff mode, no_log values."""

    def __init__(self, database, check_mode=False, diff=False, password=None):
        self.params = {"database": database, "database_password": password, "database_timeout": 5}
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()


@pytest.fixture
def database(tmp_path):
    return "sqlite:%s" % (tmp_path / "oda.db")


def test_the_argument_spec_adds_the_connection_options_without_sharing_them():
    spec = oda_module.argument_spec({"name": {"type": "str", "required": True}})
    assert set(spec) == {"name", "database", "database_password", "database_timeout"}
    assert spec["database"]["default"] == DEFAULT_URL
    assert spec["database"]["fallback"][1] == [URL_ENV]
    assert spec["database_password"]["no_log"] is True
    assert spec["database_password"]["fallback"][1] == [PASSWORD_ENV]
    spec["database"]["default"] = "changed"
    assert oda_module.ODA_ARGUMENT_SPEC["database"]["default"] == DEFAULT_URL


def test_connect_opens_the_database_and_closes_it(database, tmp_path):
    with oda_module.connect(StandIn(database)) as oda:
        oda.groups.ensure("gpu")
    assert (tmp_path / "oda.db").exists()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        oda.groups.list()


@pytest.mark.parametrize(("check_mode", "read_only"), [(True, False), (False, True)])
def test_check_mode_and_queries_do_not_create_a_missing_sqlite_file(tmp_path, check_mode, read_only):
    path = tmp_path / "new" / "oda.db"
    with oda_module.connect(StandIn("sqlite:%s" % path, check_mode=check_mode), read_only=read_only) as oda:
        assert [group["name"] for group in oda.groups.list()] == ["oscar_clients", "oscar_server"]
        assert oda.groups.ensure("gpu", check_mode=check_mode)[0] is True
    assert not path.parent.exists()


def test_a_password_in_the_url_becomes_a_no_log_value(tmp_path):
    module = StandIn("mysql://oscar:s3cret@127.0.0.1:1/oda")
    with pytest.raises(OdaUnavailableError) as raised, oda_module.connect(module):
        pass
    assert module.no_log_values == {"s3cret"}
    assert "s3cret" not in oda_module.failure(raised.value)["msg"]


def test_a_missing_driver_is_reported_as_a_missing_library(monkeypatch):
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with (
        pytest.raises(OdaUnavailableError) as raised,
        oda_module.connect(StandIn("postgresql://oscar@head/oda")),
    ):
        pass
    message = oda_module.failure(raised.value)["msg"]
    assert "Failed to import the required Python library (psycopg)" in message
    assert "the postgresql backend needs the Python package psycopg" in message


def test_other_errors_fail_with_their_own_message():
    assert oda_module.failure(OdaConflictError("MAC 02:00:00:00:00:01 is already used by node1 (eth0)")) == {
        "msg": "MAC 02:00:00:00:00:01 is already used by node1 (eth0)"
    }


def test_result_carries_the_object_and_a_diff_only_in_diff_mode(database):
    outcome = (True, None, {"name": "gpu", "description": None, "members": []})
    assert oda_module.result(StandIn(database), "group", "gpu", outcome) == {
        "changed": True,
        "group": outcome[2],
    }
    answer = oda_module.result(StandIn(database, diff=True), "group", "gpu", outcome)
    assert answer["diff"] == {
        "before": {},
        "after": outcome[2],
        "before_header": "group gpu",
        "after_header": "group gpu",
    }


@pytest.mark.parametrize("check_mode", [True, False])
def test_state_absent_reads_and_removes_in_one_transaction(database, check_mode):
    with _opened(database) as oda:
        oda.groups.ensure("gpu", description="GPU nodes")
        module = StandIn(database, check_mode=check_mode, diff=True)
        module.params["state"] = "absent"
        with oda_module.atomic(oda, module.check_mode):
            answer = oda_module.present_or_absent(module, oda.groups, "group", "gpu")
        assert answer["changed"] is True
        assert answer["group"] is None
        assert answer["diff"]["before"] == {"name": "gpu", "description": "GPU nodes", "members": []}
        assert answer["diff"]["after"] == {}
        assert (oda.groups.get("gpu") is not None) is check_mode


def test_atomic_keeps_all_or_nothing(database):
    with _opened(database) as oda:
        with pytest.raises(OdaValidationError), oda_module.atomic(oda, check_mode=False):
            oda.groups.ensure("gpu")
            oda.groups.ensure("bad name")
        assert oda.groups.get("gpu") is None
        with oda_module.atomic(oda, check_mode=True):
            oda.groups.ensure("gpu")
            assert oda.groups.get("gpu") is not None
        assert oda.groups.get("gpu") is None


def test_many_diff_shows_only_what_changed(database):
    before = {"a": {"x": 1}, "b": {"x": 1}, "gone": {"x": 3}}
    after = {"a": {"x": 1}, "b": {"x": 2}, "new": {"x": 4}}
    assert oda_module.many_diff(StandIn(database), "nodes", before, after) == {}
    diff = oda_module.many_diff(StandIn(database, diff=True), "nodes", before, after)["diff"]
    assert diff["before"] == {"b": {"x": 1}, "gone": {"x": 3}}
    assert diff["after"] == {"b": {"x": 2}, "new": {"x": 4}}


class _opened:
    """Oda.open as a context manager that closes it."""

    def __init__(self, url):
        self.oda = Oda.open(url)

    def __enter__(self):
        return self.oda

    def __exit__(self, *exc_info):
        self.oda.close()


# --- name patterns ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "count", "start", "names"),
    [
        ("node{:03d}", 3, 1, ["node001", "node002", "node003"]),
        ("node###", 2, 9, ["node009", "node010"]),
        ("n{}", 3, 8, ["n8", "n9", "n10"]),
        ("n{:d}-ib", 2, 0, ["n0-ib", "n1-ib"]),
        ("rack1-n##", 1, 100, ["rack1-n100"]),
    ],
)
def test_a_pattern_makes_count_names_from_the_start_index(pattern, count, start, names):
    assert oda_module.names_from_pattern(pattern, count, start) == names


@pytest.mark.parametrize(
    ("pattern", "count", "start", "message"),
    [
        ("node", 2, 1, "invalid name pattern 'node': expected one number placeholder"),
        ("n{:03d}-{:02d}", 2, 1, "invalid name pattern 'n{:03d}-{:02d}'"),
        ("n##-{}", 2, 1, "invalid name pattern 'n##-{}'"),
        ("n{:3d}", 2, 1, "invalid name pattern 'n{:3d}'"),
        ("n{:x}", 2, 1, "invalid name pattern 'n{:x}'"),
        ("n{}", 0, 1, "invalid count 0: expected 1 to 1000000"),
        ("n{}", 1000001, 1, "invalid count 1000001"),
        ("n{}", True, 1, "invalid count True"),
        ("n{}", 2, -1, "invalid start index -1"),
    ],
)
def test_a_bad_pattern_count_or_start_is_refused_naming_it(pattern, count, start, message):
    with pytest.raises(OdaValidationError) as raised:
        oda_module.names_from_pattern(pattern, count, start)
    assert message in str(raised.value)


# --- node names of an option -----------------------------------------------------


def test_node_names_take_a_node_set_or_a_list(database):
    with _opened(database) as oda:
        oda.nodes.ensure("node7", groups=["oscar_clients"])
        assert oda_module.node_names(oda, "node[9-10],@oscar_clients", "nodes") == [
            "node7",
            "node9",
            "node10",
        ]
        assert oda_module.node_names(oda, ["Node2", "node1"], "nodes") == ["node2", "node1"]
        with pytest.raises(OdaValidationError, match="invalid host name 'no_de'"):
            oda_module.node_names(oda, ["no_de"], "nodes")
        with pytest.raises(OdaValidationError, match="invalid names '5': expected a node set"):
            oda_module.node_names(oda, 5, "names")

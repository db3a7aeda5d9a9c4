"""Inventory variables stored in ODA: with the cluster, a group or a node."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaNotFoundError,
    OdaValidationError,
)


@pytest.fixture
def oda(tmp_path):
    database = Oda.open("sqlite:%s" % (tmp_path / "oda.db"))
    database.networks.ensure("private", "10.1.0.0/24")
    database.nodes.define_clients("node[1-2]", "private", "10.1.0.11")
    yield database
    database.close()


@pytest.mark.parametrize(
    ("scope", "owner"), [("cluster", "oscar"), ("group", "oscar_clients"), ("node", "node1")]
)
def test_variables_are_set_read_back_and_idempotent(oda, scope, owner):
    values = {"ansible_user": "root", "ansible_port": 22, "site": {"rack": [1, 2]}, "debug": False}
    assert oda.variables.set(scope, owner, values) == (True, {}, values)
    assert oda.variables.get(scope, owner) == values
    assert oda.variables.set(scope, owner, values) == (False, values, values)


def test_a_none_value_removes_a_variable_and_replace_removes_the_rest(oda):
    oda.variables.set("node", "node1", {"a": 1, "b": 2, "c": 3})
    changed, before, after = oda.variables.set("node", "node1", {"a": None, "b": 20})
    assert changed and before == {"a": 1, "b": 2, "c": 3} and after == {"b": 20, "c": 3}
    assert oda.variables.set("node", "node1", {"b": 20}, replace=True)[2] == {"b": 20}


def test_check_mode_reports_the_change_and_keeps_nothing(oda):
    assert oda.variables.set("group", "oscar_clients", {"x": 1}, check_mode=True) == (True, {}, {"x": 1})
    assert oda.variables.get("group", "oscar_clients") == {}


def test_all_variables_groups_them_by_scope_and_owner(oda):
    oda.variables.set("cluster", "oscar", {"ansible_user": "root"})
    oda.variables.set("node", "node2", {"rack": "r2"})
    assert oda.variables.all() == {
        "cluster": {"oscar": {"ansible_user": "root"}},
        "group": {},
        "node": {"node2": {"rack": "r2"}},
    }


def test_a_removed_node_takes_its_variables_with_it(oda):
    oda.variables.set("node", "node1", {"rack": "r1"})
    oda.nodes.remove("node1")
    assert oda.variables.all()["node"] == {}


@pytest.mark.parametrize(
    "case",
    [
        ("rack", "node1", {"a": 1}, OdaValidationError, "invalid variable scope 'rack'"),
        ("node", "node9", {"a": 1}, OdaNotFoundError, "unknown node 'node9'"),
        ("group", "nope", {"a": 1}, OdaNotFoundError, "unknown group 'nope'"),
        ("node", "node1", {"1st": 1}, OdaValidationError, "invalid variable name '1st'"),
        ("node", "node1", {"class": 1}, OdaValidationError, "invalid variable name 'class'"),
        ("node", "node1", {"ok": 1, "bad-name": 2}, OdaValidationError, "invalid variable name 'bad-name'"),
        ("node", "node1", {"a": object()}, OdaValidationError, "cannot be stored as JSON"),
        ("node", "node1", ["a"], OdaValidationError, "expected a mapping"),
    ],
)
def test_bad_variables_are_refused_naming_the_value_and_nothing_is_written(oda, case):
    scope, owner, values, error, message = case
    with pytest.raises(error, match=message):
        oda.variables.set(scope, owner, values)
    assert oda.variables.all() == {"cluster": {}, "group": {}, "node": {}}

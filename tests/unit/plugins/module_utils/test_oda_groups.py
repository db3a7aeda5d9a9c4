"""ODA's groups on every backend: members, names, check mode."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaNotFoundError,
    OdaValidationError,
)
from oda_store_helpers import refused

# --- groups ------------------------------------------------------------------


def test_groups_are_ensured_listed_and_removed(cluster):
    assert cluster.groups.ensure("gpu", description="GPU nodes") == (
        True,
        None,
        {"name": "gpu", "description": "GPU nodes", "members": []},
    )
    assert cluster.groups.ensure("gpu")[0] is False
    assert cluster.groups.ensure("gpu", description="GPU nodes")[0] is False
    changed, before, after = cluster.groups.ensure("gpu", description="nodes with GPUs")
    assert (changed, before["description"], after["description"]) == (True, "GPU nodes", "nodes with GPUs")
    cluster.nodes.ensure("node1", groups=["gpu", "oscar_clients"])
    assert cluster.groups.members("gpu") == ["node1"]
    assert [g["name"] for g in cluster.groups.list()] == ["gpu", "oscar_clients", "oscar_server"]
    assert cluster.groups.get("oscar_server")["members"] == ["head"]
    assert cluster.groups.remove("gpu")[0] is True
    assert cluster.groups.remove("gpu")[0] is False
    # The group goes, its nodes stay.
    assert cluster.nodes.get("node1")["groups"] == ["oscar_clients"]


def test_names_that_differ_in_case_are_different_names_on_every_backend(oda):
    oda.groups.ensure("GPU", description="upper")
    oda.groups.ensure("gpu", description="lower")
    assert oda.groups.get("GPU")["description"] == "upper"
    assert oda.groups.get("gpu")["description"] == "lower"
    assert oda.groups.get("Gpu") is None


def test_members_of_an_unknown_group_are_not_found(oda):
    with pytest.raises(OdaNotFoundError, match="unknown group 'nothing'"):
        oda.groups.members("nothing")


def test_check_mode_keeps_groups_as_they_are(oda, oda_backend):
    before = oda_backend.dump()
    assert oda.groups.ensure("gpu", check_mode=True)[0] is True
    assert oda.groups.remove("oscar_server", check_mode=True)[0] is True
    assert oda_backend.dump() == before


@pytest.mark.parametrize("name", ["", "-x", "a b", "x/y"])
def test_bad_group_names_are_refused(oda, oda_backend, name):
    refused(
        oda_backend, OdaValidationError, "invalid group name '%s'" % name, lambda: oda.groups.ensure(name)
    )

"""ODA's package configuration on every backend: values keep their type, refusals name the value."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaNotFoundError,
    OdaValidationError,
)
from oda_store_helpers import refused


def test_configuration_values_keep_their_type_and_are_idempotent(oda, oda_backend):
    oda.packages.ensure("slurm")
    partitions = [{"name": "batch", "nodes": "node[001-064]"}]
    assert oda.config.set("slurm", "partitions", partitions) == (True, None, partitions)
    assert oda.config.set("slurm", "partitions", partitions) == (False, partitions, partitions)
    oda.config.set("slurm", "max_time", 3600)
    oda.config.set("slurm", "accounting", False)
    assert oda.config.get("slurm") == {"partitions": partitions, "max_time": 3600, "accounting": False}
    assert oda.config.get("slurm", "max_time") == 3600
    assert oda.config.get("slurm", "unset") is None
    snapshot = oda_backend.dump()
    assert oda.config.set("slurm", "max_time", 60, check_mode=True) == (True, 3600, 60)
    assert oda_backend.dump() == snapshot
    assert oda.config.set("slurm", "max_time", None) == (True, 3600, None)
    assert "max_time" not in oda.config.get("slurm")


def test_configuration_of_an_unknown_package_or_a_bad_value_is_refused(oda, oda_backend):
    oda.packages.ensure("slurm")
    refused(oda_backend, OdaNotFoundError, "unknown package 'slurn'", lambda: oda.config.set("slurn", "x", 1))
    refused(
        oda_backend,
        OdaValidationError,
        "cannot be stored as JSON",
        lambda: oda.config.set("slurm", "x", {1j}),
    )
    refused(
        oda_backend,
        OdaValidationError,
        "invalid configuration key name 'a b'",
        lambda: oda.config.set("slurm", "a b", 1),
    )
    with pytest.raises(OdaNotFoundError, match="unknown package 'slurn'"):
        oda.config.get("slurn")

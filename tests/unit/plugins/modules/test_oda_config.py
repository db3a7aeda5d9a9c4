"""oscar.cluster.oda_config, run for real on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.modules import oda_config, oda_package

PARTITIONS = [{"name": "batch", "nodes": "node[001-064]"}]


@pytest.fixture
def slurm(run_module):
    run_module(oda_package, name="slurm")
    return run_module


def test_one_value_keeps_its_type_and_is_idempotent(slurm):
    first = slurm(oda_config, package="slurm", key="max_time", value=3600)
    assert (first["changed"], first["config"]) == (True, {"max_time": 3600})
    assert slurm(oda_config, package="slurm", key="max_time", value=3600)["changed"] is False


def test_several_values_at_once_leave_other_keys_alone(slurm):
    slurm(oda_config, package="slurm", key="max_time", value=3600)
    answer = slurm(
        oda_config, diff=True, package="slurm", values={"accounting": False, "partitions": PARTITIONS}
    )
    assert answer["config"] == {"max_time": 3600, "accounting": False, "partitions": PARTITIONS}
    assert answer["diff"]["before"] == {"max_time": 3600}
    assert answer["diff"]["after_header"] == "config slurm"
    assert slurm(oda_config, package="slurm", values={"accounting": False})["changed"] is False


def test_absent_removes_keys(slurm):
    slurm(oda_config, package="slurm", values={"a": 1, "b": 2, "c": 3})
    assert slurm(oda_config, package="slurm", key="a", state="absent")["config"] == {"b": 2, "c": 3}
    assert (
        slurm(oda_config, package="slurm", values={"b": None, "c": "ignored"}, state="absent")["config"] == {}
    )
    assert slurm(oda_config, package="slurm", key="a", state="absent")["changed"] is False


def test_check_mode_reports_and_writes_nothing(slurm, dump):
    slurm(oda_config, package="slurm", key="max_time", value=3600)
    before = dump()
    answer = slurm(oda_config, check_mode=True, package="slurm", key="max_time", value=60)
    assert (answer["changed"], answer["config"]) == (True, {"max_time": 60})
    assert dump() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"package": "slurn", "key": "x", "value": 1}, "unknown package 'slurn'"),
        ({"package": "slurm", "key": "a b", "value": 1}, "invalid configuration key name 'a b'"),
        (
            {"package": "slurm", "key": "x"},
            "state is present but any of the following are missing: value, values",
        ),
        ({"package": "slurm", "key": "x", "value": 1, "values": {"y": 2}}, "mutually exclusive: key|values"),
        (
            {"package": "slurm", "value": 1, "values": {"y": 2}},
            "missing parameter(s) required by 'value': key",
        ),
    ],
)
def test_bad_input_fails_naming_the_value_and_writes_nothing(slurm, refused, args, message):
    refused(message, oda_config, **args)

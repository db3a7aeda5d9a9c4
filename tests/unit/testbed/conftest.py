"""Shared helpers for the oscar_testbed unit tests."""

import json
import os

import pytest

from oscar_testbed import testbed


def write_state_file(
    state_root, name="tb", *, slot=0, compute_nodes=2, standby=False, route_out=False, suite=None
):
    """Write the state.json `testbed up` leaves behind, without podman (no suite: as before there was one)."""
    directory = os.path.join(state_root, name)
    os.makedirs(directory, exist_ok=True)
    state = {
        "name": name,
        "slot": slot,
        "compute_nodes": compute_nodes,
        "standby": standby,
        "route_out": route_out,
    }
    if suite is not None:
        state["suite"] = suite
    with open(os.path.join(directory, "state.json"), "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    return state


@pytest.fixture
def write_state(tmp_path):
    """Write a testbed's state.json under tmp_path: write_state(name="tb", slot=0, ...)."""

    def writer(name="tb", **state):
        return write_state_file(str(tmp_path), name=name, **state)

    return writer


@pytest.fixture
def log_messages():
    return []


@pytest.fixture
def make_testbed(tmp_path, log_messages):
    """Factory: a Testbed under tmp_path whose state.json says what the test asks for."""

    def factory(name="tb", **state):
        write_state_file(str(tmp_path), name=name, **state)
        return testbed.Testbed(name, state_root=str(tmp_path), log=log_messages.append)

    return factory

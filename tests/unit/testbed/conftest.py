"""Shared helpers for the oscar_testbed unit tests."""

import json
import os

import pytest

from oscar_testbed import host, sshaccess, testbed


def write_state_file(
    state_root,
    name="tb",
    *,
    slot=0,
    compute_nodes=2,
    standby=False,
    route_out=False,
    suite=None,
    vms=None,
    oda=None,
):
    """Write the state.json `testbed up` leaves behind, without podman.

    No suite, no vms: as before there were any.
    """
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
    if vms is not None:
        state["vms"] = vms
    if oda is not None:
        state["oda"] = oda
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


@pytest.fixture
def up_without_podman(tmp_path, monkeypatch, log_messages):
    """A Testbed whose up() runs its own logic with every outside effect recorded instead."""
    effects = {"images": [], "started": []}
    monkeypatch.setattr(host, "check_memory", lambda count: None)
    monkeypatch.setattr(
        host, "ensure_programs", lambda log, vms=False: effects.setdefault("programs_for_vms", []).append(vms)
    )
    monkeypatch.setattr(
        testbed.image,
        "ensure_image",
        lambda cache_dir, log, rebuild, suite: effects["images"].append(suite) or f"node:{suite}",
    )
    monkeypatch.setattr(sshaccess, "make_key_pair", lambda directory, comment: None)
    monkeypatch.setattr(
        testbed.registry,
        "register",
        lambda url, plan, access, head_oda_url=None: effects.setdefault("registered", []).append(
            (url, [h.name for h in plan.hosts], head_oda_url)
        ),
    )
    monkeypatch.setattr(testbed.vm, "bridge_of", lambda network: "podman7")
    monkeypatch.setattr(
        testbed.vm,
        "ensure_tap",
        lambda tap, bridge, name: effects.setdefault("taps", []).append((tap, bridge, name)),
    )
    monkeypatch.setattr(
        testbed.vm.Vm, "create_disk", lambda machine: effects.setdefault("disks", []).append(machine.name)
    )
    bed = testbed.Testbed("tb", state_root=str(tmp_path), log=log_messages.append)
    monkeypatch.setattr(bed, "_labelled_objects", lambda: ([], []))
    monkeypatch.setattr(bed, "_free_slot", lambda: 5)
    monkeypatch.setattr(bed, "_create_network", lambda network: None)
    monkeypatch.setattr(bed, "_write_files", lambda plan, known_hosts_lines: None)
    monkeypatch.setattr(bed, "_start_containers", lambda plan, ref: effects["started"].append(ref))
    monkeypatch.setattr(bed, "pin_bridge_addresses", lambda plan: None)
    monkeypatch.setattr(bed, "wait_ready", lambda hosts, timeout: None)
    return bed, effects

"""oscar.cluster.oda_image_version, and the image options of oda_image and oda_node, on SQLite."""

import pytest
from ansible_collections.oscar.cluster.plugins.modules import oda_image, oda_image_version, oda_node

RECIPE = "4d967a3b0c6d1a0e4b8a9d3c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"
VERSION_2 = {
    "image": "debian12",
    "version": 2,
    "parent": 1,
    "kernel": "6.1.0-28-amd64",
    "recipe": RECIPE,
    "created": "2026-01-31T12:00:00Z",
    "packages": ["openssh-server", "slurmd"],
    "note": "slurmd added",
    "boot_kernel": "6.1.0-28-amd64",
    "boot_root_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


@pytest.fixture
def image(run_module):
    run_module(oda_image, name="debian12", distro="debian-12", suite="bookworm")
    run_module(oda_image_version, image="debian12", version=1)
    return run_module


def test_a_version_is_recorded_once_then_left_alone(image):
    first = image(oda_image_version, **VERSION_2)
    assert (first["rc"], first["changed"], first["image_version"]) == (0, True, VERSION_2)
    again = image(oda_image_version, **VERSION_2)
    assert (again["changed"], again["image_version"]) == (False, VERSION_2)
    # What a task leaves out stays as recorded.
    assert image(oda_image_version, image="debian12", version=2)["image_version"] == VERSION_2


def test_check_mode_and_diff_show_the_change_and_write_nothing(image, dump):
    before = dump()
    checked = image(oda_image_version, check_mode=True, diff=True, **VERSION_2)
    assert checked["changed"] is True
    assert checked["diff"]["before"] == {}
    assert checked["diff"]["after"] == VERSION_2
    assert checked["diff"]["after_header"] == "image_version debian12 version 2"
    assert dump() == before
    image(oda_image_version, **VERSION_2)
    noted = image(oda_image_version, diff=True, image="debian12", version=2, note="rebuilt")
    assert (noted["diff"]["before"]["note"], noted["diff"]["after"]["note"]) == ("slurmd added", "rebuilt")


def test_the_current_version_is_set_on_the_image_and_cannot_be_forgotten(image, refused):
    image(oda_image_version, **VERSION_2)
    current = image(oda_image, name="debian12", current_version=2, kernel="6.1.0-28-amd64")
    assert current["changed"] is True
    assert current["image"] == {
        "name": "debian12",
        "distro": "debian-12",
        "arch": None,
        "path": None,
        "state": "defined",
        "current_version": 2,
        "kernel": "6.1.0-28-amd64",
        "suite": "bookworm",
    }
    assert image(oda_image, name="debian12", current_version=2)["changed"] is False
    refused(
        "version 2 of image 'debian12' is its current version",
        oda_image_version,
        image="debian12",
        version=2,
        state="absent",
    )
    forgotten = image(oda_image_version, diff=True, image="debian12", version=1, state="absent")
    assert (forgotten["changed"], forgotten["image_version"]) == (True, None)
    assert forgotten["diff"]["before"]["version"] == 1
    assert image(oda_image_version, image="debian12", version=1, state="absent")["changed"] is False


def test_a_node_records_its_image_version_and_state(image):
    image(oda_node, name="node1", image="debian12")
    updating = image(oda_node, name="node1", image_state="updating")
    assert (updating["changed"], updating["node"]["image_state"]) == (True, "updating")
    synced = image(oda_node, diff=True, name="node1", image_version=2, image_state="in-sync")
    assert (synced["node"]["image_version"], synced["node"]["image_state"]) == (2, "in-sync")
    assert synced["diff"]["before"]["image_state"] == "updating"
    assert image(oda_node, name="node1", image_version=2, image_state="in-sync")["changed"] is False


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        (oda_image_version, {"image": "nosuch", "version": 1}, "unknown image 'nosuch'"),
        (oda_image_version, {"image": "debian12", "version": 0}, "invalid image version 0: expected 1 to"),
        (
            oda_image_version,
            {"image": "debian12", "version": 2, "recipe": "not-a-digest"},
            "invalid recipe 'not-a-digest'",
        ),
        (
            oda_image_version,
            {"image": "debian12", "version": 2, "state": "current"},
            "value of state must be one of: present, absent, got: current",
        ),
        (
            oda_image,
            {"name": "debian12", "current_version": 5},
            "image 'debian12' has no version 5 in ODA; record the version first",
        ),
        (
            oda_node,
            {"name": "node1", "image_state": "done"},
            "value of image_state must be one of: updating, in-sync, update-failed, got: done",
        ),
        (oda_node, {"name": "node1", "image_version": -2}, "invalid node image version -2"),
    ],
)
def test_bad_input_fails_naming_the_value_and_writes_nothing(image, refused, module, args, message):
    refused(message, module, **args)

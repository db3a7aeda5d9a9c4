"""ODA's images on every backend: paths, removal while in use, check mode."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaNotFoundError,
    OdaValidationError,
)
from oda_store_helpers import refused

# --- images ------------------------------------------------------------------


def test_images_are_ensured_and_updated(oda):
    changed, before, after = oda.images.ensure(
        "rocky9", distro="rocky-9", arch="x86_64", path="/images/rocky9/"
    )
    assert (changed, before) == (True, None)
    assert after == {
        "name": "rocky9",
        "distro": "rocky-9",
        "arch": "x86_64",
        "path": "/images/rocky9",
        "state": "defined",
        "current_version": None,
        "kernel": None,
        "suite": None,
    }
    assert oda.images.ensure("rocky9", path="/images/rocky9") == (False, after, after)
    assert oda.images.ensure("rocky9", arch="aarch64")[2]["arch"] == "aarch64"
    assert [i["name"] for i in oda.images.list()] == ["rocky9"]
    assert oda.images.get("other") is None


def test_an_image_path_must_be_absolute(oda, oda_backend):
    refused(
        oda_backend,
        OdaValidationError,
        "invalid image path 'images/x': expected an absolute path",
        lambda: oda.images.ensure("x", path="images/x"),
    )


def test_an_image_in_use_is_not_removed_and_its_nodes_are_named(cluster, oda_backend):
    cluster.nodes.define_clients("node[001-003]", "cluster", "10.0.0.11", image="rocky9")
    refused(
        oda_backend,
        OdaConflictError,
        "image 'rocky9' is still used by nodes node[001-003]",
        lambda: cluster.images.remove("rocky9"),
    )


def test_an_unused_image_is_removed_once_and_check_mode_keeps_it(oda, oda_backend):
    oda.images.ensure("old")
    before = oda_backend.dump()
    assert oda.images.remove("old", check_mode=True)[0] is True
    assert oda_backend.dump() == before
    assert oda.images.remove("old")[0] is True
    assert oda.images.remove("old")[0] is False


# --- image versions --------------------------------------------------------------

RECIPE = "0123456789abcdef" * 4


def _versioned(oda):
    """Image debian12 with versions 1 and 2 recorded, 2 current."""
    oda.images.ensure("debian12", distro="debian-12", suite="bookworm")
    oda.image_versions.ensure("debian12", 1, created="2026-01-31T12:00:00Z", packages=["openssh-server"])
    oda.image_versions.ensure("debian12", 2, parent=1, kernel="6.1.0-28-amd64", packages=["slurmd"])
    oda.images.ensure("debian12", current_version=2, kernel="6.1.0-28-amd64")
    return oda


def test_a_version_is_recorded_then_left_alone_and_updated(oda):
    oda.images.ensure("debian12")
    changed, before, after = oda.image_versions.ensure(
        "debian12",
        1,
        kernel="6.1.0-28-amd64",
        recipe=RECIPE.upper(),
        created="2026-01-31T12:00:00Z",
        packages=["openssh-server", "slurmd=23.02.6-1"],
        note="first",
    )
    assert (changed, before) == (True, None)
    assert after == {
        "image": "debian12",
        "version": 1,
        "parent": None,
        "kernel": "6.1.0-28-amd64",
        "recipe": RECIPE,
        "created": "2026-01-31T12:00:00Z",
        "packages": ["openssh-server", "slurmd=23.02.6-1"],
        "note": "first",
        "boot_kernel": None,
        "boot_root_sha256": None,
    }
    assert oda.image_versions.ensure("debian12", 1, recipe=RECIPE, packages=after["packages"]) == (
        False,
        after,
        after,
    )
    # Left out keeps; given replaces.
    changed, _before, noted = oda.image_versions.ensure("debian12", 1, note="rebuilt", packages=[])
    assert changed is True
    assert (noted["note"], noted["packages"], noted["kernel"]) == ("rebuilt", [], "6.1.0-28-amd64")
    assert oda.image_versions.get("debian12", 1) == noted
    assert oda.image_versions.get("debian12", 5) is None


def test_versions_are_listed_by_image_then_number(oda):
    for image in ("node10", "node9"):
        oda.images.ensure(image)
    for image, version in (("node10", 3), ("node9", 2), ("node10", 1), ("node9", 10)):
        oda.image_versions.ensure(image, version)
    listed = [(v["image"], v["version"]) for v in oda.image_versions.list()]
    assert listed == [("node9", 2), ("node9", 10), ("node10", 1), ("node10", 3)]
    assert [v["version"] for v in oda.image_versions.list(image="node10")] == [1, 3]


def test_the_current_version_must_be_recorded(oda, oda_backend):
    oda.images.ensure("debian12")
    refused(
        oda_backend,
        OdaNotFoundError,
        "image 'debian12' has no version 3 in ODA; record the version first",
        lambda: oda.images.ensure("debian12", current_version=3),
    )
    # A new image cannot start with a current version either: none is recorded yet.
    refused(
        oda_backend,
        OdaNotFoundError,
        "image 'fresh' has no version 1 in ODA",
        lambda: oda.images.ensure("fresh", current_version=1),
    )
    assert oda.images.get("fresh") is None
    oda.image_versions.ensure("debian12", 3)
    changed, before, after = oda.images.ensure("debian12", current_version=3, kernel="6.12.6+bpo-amd64")
    assert changed is True
    assert (before["current_version"], after["current_version"], after["kernel"]) == (
        None,
        3,
        "6.12.6+bpo-amd64",
    )
    assert oda.images.ensure("debian12", current_version=3) == (False, after, after)


def test_the_current_version_is_not_removed_and_others_are(oda, oda_backend):
    _versioned(oda)
    refused(
        oda_backend,
        OdaConflictError,
        "version 2 of image 'debian12' is its current version",
        lambda: oda.image_versions.remove("debian12", 2),
    )
    assert oda.image_versions.remove("debian12", 1, check_mode=True)[0] is True
    assert oda.image_versions.get("debian12", 1) is not None
    changed, before, after = oda.image_versions.remove("debian12", 1)
    assert (changed, before["packages"], after) == (True, ["openssh-server"], None)
    assert oda.image_versions.remove("debian12", 1) == (False, None, None)
    assert oda.image_versions.remove("nosuch", 1) == (False, None, None)
    assert [v["version"] for v in oda.image_versions.list()] == [2]


def test_removing_an_image_removes_its_versions(oda):
    _versioned(oda)
    oda.images.ensure("other")
    oda.image_versions.ensure("other", 1)
    assert oda.images.remove("debian12")[0] is True
    assert [(v["image"], v["version"]) for v in oda.image_versions.list()] == [("other", 1)]


def test_check_mode_records_nothing(oda, oda_backend):
    oda.images.ensure("debian12")
    before = oda_backend.dump()
    changed, _before, after = oda.image_versions.ensure("debian12", 1, note="x", check_mode=True)
    assert (changed, after["note"]) == (True, "x")
    assert oda_backend.dump() == before


@pytest.mark.parametrize(
    ("call", "error", "text"),
    [
        (lambda oda: oda.image_versions.ensure("nosuch", 1), OdaNotFoundError, "unknown image 'nosuch'"),
        (lambda oda: oda.image_versions.list(image="nosuch"), OdaNotFoundError, "unknown image 'nosuch'"),
        (
            lambda oda: oda.image_versions.ensure("debian12", 0),
            OdaValidationError,
            "invalid image version 0: expected 1 to",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", True),
            OdaValidationError,
            "invalid image version 'True': expected a whole number",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 2, parent=0),
            OdaValidationError,
            "invalid parent version 0",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 2, parent=2),
            OdaValidationError,
            "image 'debian12' version 2 cannot be its own parent",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 1, kernel="6.1 amd64"),
            OdaValidationError,
            "invalid kernel release '6.1 amd64'",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 1, recipe="abc"),
            OdaValidationError,
            "invalid recipe 'abc': expected a SHA-256 digest",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 1, created="yesterday"),
            OdaValidationError,
            "invalid creation time 'yesterday'",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 1, created="2026-01-31T12:00:00"),
            OdaValidationError,
            "invalid creation time '2026-01-31T12:00:00': expected an ISO 8601 time with its zone",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 1, packages="vim"),
            OdaValidationError,
            "invalid package list 'vim'",
        ),
        (
            lambda oda: oda.image_versions.ensure("debian12", 1, packages=["vim", "rm -rf"]),
            OdaValidationError,
            "invalid package 'rm -rf'",
        ),
        (
            lambda oda: oda.images.ensure("debian12", current_version=-1),
            OdaValidationError,
            "invalid current version -1",
        ),
        (
            lambda oda: oda.images.ensure("debian12", suite="book worm"),
            OdaValidationError,
            "invalid suite name 'book worm'",
        ),
    ],
)
def test_bad_version_input_is_refused_naming_the_value(oda, oda_backend, call, error, text):
    oda.images.ensure("debian12")
    refused(oda_backend, error, text, lambda: call(oda))

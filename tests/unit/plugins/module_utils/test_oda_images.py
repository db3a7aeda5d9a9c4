"""ODA's images on every backend: paths, removal while in use, check mode."""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
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

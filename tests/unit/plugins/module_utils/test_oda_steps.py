"""ODA's wizard steps on every backend: recorded in order, stamped on change."""

from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaValidationError,
)
from oda_store_helpers import refused


def test_wizard_steps_are_recorded_in_order_and_stamped_on_change(oda, oda_backend):
    changed, before, after = oda.steps.set("select_packages", "done")
    assert (changed, before, after["status"]) == (True, None, "done")
    assert after["updated_at"].endswith("Z")
    assert oda.steps.set("select_packages", "done") == (False, after, after)
    oda.steps.set("build_image", "running")
    snapshot = oda_backend.dump()
    assert oda.steps.set("build_image", "failed", check_mode=True)[2]["status"] == "failed"
    assert oda_backend.dump() == snapshot
    oda.steps.set("build_image", "done")
    assert [(s["name"], s["status"]) for s in oda.steps.list()] == [
        ("select_packages", "done"),
        ("build_image", "done"),
    ]
    refused(
        oda_backend, OdaValidationError, "invalid wizard step status 'ok'", lambda: oda.steps.set("x", "ok")
    )

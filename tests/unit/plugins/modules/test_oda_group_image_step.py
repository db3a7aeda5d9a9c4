"""oscar.cluster.oda_group, oda_image and oda_step, run for real on SQLite."""

from ansible_collections.oscar.cluster.plugins.modules import oda_group, oda_image, oda_node, oda_step


def test_a_group_is_created_described_and_removed(run_module, dump):
    first = run_module(oda_group, name="gpu", description="nodes with GPUs")
    assert (first["changed"], first["group"]) == (
        True,
        {"name": "gpu", "description": "nodes with GPUs", "members": []},
    )
    assert run_module(oda_group, name="gpu")["changed"] is False
    run_module(oda_node, name="node1", groups=["gpu"])
    assert run_module(oda_group, name="gpu")["group"]["members"] == ["node1"]
    before = dump()
    checked = run_module(oda_group, check_mode=True, diff=True, name="gpu", state="absent")
    assert (checked["changed"], checked["diff"]["before"]["members"]) == (True, ["node1"])
    assert dump() == before
    assert run_module(oda_group, name="gpu", state="absent")["changed"] is True
    assert run_module(oda_node, name="node1")["node"]["groups"] == []


def test_a_bad_group_name_fails(run_module, refused):
    run_module(oda_group, name="gpu")
    refused("invalid group name 'g p u'", oda_group, name="g p u")


def test_an_image_is_created_updated_and_removed(run_module, refused):
    first = run_module(oda_image, name="debian12", distro="debian-12", path="/var/lib/oscar/images/debian12/")
    assert first["image"] == {
        "name": "debian12",
        "distro": "debian-12",
        "arch": None,
        "path": "/var/lib/oscar/images/debian12",
        "state": "defined",
        "current_version": None,
        "kernel": None,
        "suite": None,
    }
    changed = run_module(oda_image, diff=True, name="debian12", arch="x86_64")
    assert (changed["changed"], changed["diff"]["before"]["arch"], changed["image"]["distro"]) == (
        True,
        None,
        "debian-12",
    )
    assert run_module(oda_image, name="debian12", arch="x86_64")["changed"] is False
    refused("invalid image path 'images/x'", oda_image, name="debian12", path="images/x")
    run_module(oda_node, name="node1", image="debian12")
    refused("image 'debian12' is still used by nodes node1", oda_image, name="debian12", state="absent")
    run_module(oda_node, name="node1", state="absent")
    assert run_module(oda_image, name="debian12", state="absent")["changed"] is True


def test_a_step_is_stamped_only_when_its_status_changes(run_module, refused):
    first = run_module(oda_step, name="survey", status="running")
    assert (first["changed"], first["step"]["status"]) == (True, "running")
    again = run_module(oda_step, name="survey", status="running")
    assert (again["changed"], again["step"]) == (False, first["step"])
    done = run_module(oda_step, diff=True, name="survey", status="done")
    assert (done["diff"]["before"]["status"], done["diff"]["after"]["status"]) == ("running", "done")
    refused(
        "value of status must be one of: pending, running, done, failed, skipped, got: ok",
        oda_step,
        name="survey",
        status="ok",
    )

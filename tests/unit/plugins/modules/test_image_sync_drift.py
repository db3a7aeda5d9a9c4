"""oscar.cluster.image_sync and image_drift run in-process as Ansible runs them, with real rsync.

The node is a local directory (destination takes an absolute path), the
image a real version in a real store.
"""

import contextlib
import io
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.oscar.cluster.plugins.module_utils.image_store import ImageStore
from ansible_collections.oscar.cluster.plugins.modules import image_drift, image_sync

STAMP = 1_700_000_000


def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        os.utime(full, (STAMP, STAMP))


def run(module, check_mode=False, diff=False, **args):
    args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output), pytest.raises(SystemExit) as exit_info:
        module.main()
    answer = json.loads(output.getvalue())
    answer["rc"] = exit_info.value.code
    return answer


@pytest.fixture
def setup(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    with store.staging("debian12") as staged:
        write_tree(os.path.join(staged, "root"), {"/etc/issue": "Debian 12\n", "/usr/bin/tree": "tree\n"})
        store.set_current("debian12", store.commit("debian12", staged, {"note": "t", "parent": None}))
    node = str(tmp_path / "node")
    write_tree(node, {"/etc/issue": "an older issue\n", "/etc/machine-id": "abc\n", "/usr/bin/old": "old\n"})
    return {"name": "debian12", "images_root": store.root, "destination": node}


def listing(root):
    return sorted(
        (os.path.relpath(os.path.join(d, f), root), open(os.path.join(d, f)).read())
        for d, _dirs, files in os.walk(root)
        for f in files
    )


def test_check_mode_is_the_dry_run_with_a_diff_and_changes_nothing(setup):
    before = listing(setup["destination"])
    answer = run(image_sync, check_mode=True, diff=True, **setup)
    assert answer["rc"] == 0 and answer["changed"] is True and answer["version"] == 1
    assert answer["files"] == {
        "created": ["/usr/bin/tree"],
        "updated": ["/etc/issue"],
        "deleted": ["/usr/bin/old"],
    }
    assert "created:\n  /usr/bin/tree\n" in answer["diff"]["prepared"]
    assert "deleted:\n  /usr/bin/old\n" in answer["diff"]["prepared"]
    assert listing(setup["destination"]) == before


def test_an_update_then_a_second_one_reports_no_change_and_drift_is_empty(setup):
    first = run(image_sync, **setup)
    assert first["changed"] is True and first["bytes_sent"] > 0
    assert listing(setup["destination"]) == [
        ("etc/issue", "Debian 12\n"),
        ("etc/machine-id", "abc\n"),
        ("usr/bin/tree", "tree\n"),
    ]
    second = run(image_sync, **setup)
    assert second["changed"] is False and second["files"] == {"created": [], "updated": [], "deleted": []}
    drift = run(image_drift, check_mode=True, **setup)
    assert drift["changed"] is False and drift["differs"] is False
    assert drift["drift"] == {"missing": [], "extra": [], "changed": []}


def test_drift_reports_a_hand_made_change_and_changes_nothing(setup):
    run(image_sync, **setup)
    with open(os.path.join(setup["destination"], "etc/issue"), "a") as handle:
        handle.write("changed by hand\n")
    before = listing(setup["destination"])
    answer = run(image_drift, diff=True, checksum=True, **setup)
    assert answer["changed"] is False and answer["differs"] is True
    assert answer["drift"]["changed"] == ["/etc/issue"]
    assert answer["diff"]["prepared"] == "changed:\n  /etc/issue\n"
    assert listing(setup["destination"]) == before


def test_bad_input_fails_naming_the_value_and_changes_nothing(setup, tmp_path):
    before = listing(setup["destination"])
    answer = run(image_sync, version=4, **setup)
    assert answer["rc"] == 1 and answer["msg"] == "image 'debian12' has no version 4 (versions: 1)"
    answer = run(image_sync, exclude=["etc/motd"], **setup)
    assert answer["rc"] == 1 and "exclude entry 'etc/motd' is not an absolute path" in answer["msg"]
    overrides = tmp_path / "overrides"
    write_tree(str(overrides), {"/etc/ssh/ssh_host_ed25519_key": "site key\n"})
    answer = run(image_sync, overrides=str(overrides), **setup)
    assert answer["rc"] == 1 and "holds /etc/ssh/ssh_host_ed25519_key" in answer["msg"]
    answer = run(image_drift, version=9, **setup)
    assert answer["rc"] == 1 and "no version 9" in answer["msg"]
    assert listing(setup["destination"]) == before

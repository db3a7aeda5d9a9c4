"""oda_install: disk layouts, boot actions, install reports and plans, on every backend."""

import copy
import functools

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_install
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaConflictError,
    OdaInstallOutOfOrder,
    OdaInstallRefused,
    OdaNotFoundError,
    OdaValidationError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_install import (
    BUILTIN_LAYOUT,
    STAGES,
    define_layout,
    install_history,
    install_plan,
    normalize_layout,
    record_report,
    set_boot_action,
)
from oda_store_helpers import nic, refused

ROOT_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SMALL = {
    "partitions": [
        {"label": "efi", "size_mib": 128, "type": "efi", "mount": "/boot/efi"},
        {"label": "root", "size_mib": None, "type": "linux", "fs": "ext4", "mount": "/"},
    ]
}


@pytest.fixture
def installable(cluster):
    """node001 on network 'cluster' with image rocky9 whose current version 1 has boot artifacts."""
    oda = cluster
    oda.image_versions.ensure("rocky9", 1, kernel="6.1.0-28-amd64")
    oda.image_versions.ensure("rocky9", 1, boot_kernel="6.1.0-28-amd64", boot_root_sha256=ROOT_SHA)
    oda.images.ensure("rocky9", current_version=1)
    oda.nodes.define_clients(["node001", "node002"], "cluster", "10.0.0.11", image="rocky9")
    oda.nodes.assign_macs({"node001": "52:54:00:00:00:11"})
    return oda


def installing(oda, node="node001"):
    set_boot_action(oda.db, node, "install")
    return oda


# --- layouts -----------------------------------------------------------------


def test_a_layout_is_normalized():
    assert normalize_layout(dict(SMALL, name="small")) == {
        "device": None,
        "partitions": [
            {"label": "efi", "size_mib": 128, "type": "efi", "fs": "vfat", "mount": "/boot/efi"},
            {"label": "root", "size_mib": None, "type": "linux", "fs": "ext4", "mount": "/"},
        ],
    }
    assert normalize_layout(BUILTIN_LAYOUT) == BUILTIN_LAYOUT
    assert (
        normalize_layout(
            '{"device": "/dev/vda", "partitions": [{"label": "r", "type": "linux",'
            ' "fs": "ext4", "mount": "/"}], "min_disk_mib": 2}'
        )["device"]
        == "/dev/vda"
    )


def _with(change):
    layout = copy.deepcopy(BUILTIN_LAYOUT)
    change(layout)
    return layout


BAD_LAYOUTS = [
    (
        _with(lambda layout: layout["partitions"][2].update(size_mib=0)),
        "invalid size_mib of partition 'swap' 0",
    ),
    (_with(lambda layout: layout["partitions"][2].update(size_mib="512")), "expected a whole number of MiB"),
    (_with(lambda layout: layout["partitions"][2].update(size_mib=None)), "only the last one may"),
    (_with(lambda layout: layout["partitions"][1].update(label="root")), "label 'root' is given twice"),
    (
        _with(lambda layout: layout["partitions"][3].update(mount="/boot/efi")),
        "mount point /boot/efi is given twice",
    ),
    (_with(lambda layout: layout["partitions"][3].update(mount="root")), "invalid mount point 'root'"),
    (_with(lambda layout: layout["partitions"][3].update(mount="/srv")), "the layout has no root"),
    (_with(lambda layout: layout["partitions"][1].update(fs="ext4")), "needs fs vfat, not 'ext4'"),
    (
        _with(lambda layout: layout["partitions"][3].update(fs="zfs")),
        "invalid file system of partition 'root' 'zfs'",
    ),
    (
        _with(lambda layout: layout["partitions"][3].update(type="lvm")),
        "invalid type of partition 'root' 'lvm'",
    ),
    (_with(lambda layout: layout["partitions"][2].update(mount="/swap")), "takes no fs and no mount"),
    (_with(lambda layout: layout["partitions"][3].update(size=3)), "unknown key 'size'"),
    (_with(lambda layout: layout["partitions"][3].pop("fs")), "has a mount point but no file system"),
    (_with(lambda layout: layout.update(partitions=[])), "partitions must be a list of at least one"),
    (_with(lambda layout: layout.update(device="sda")), "invalid device 'sda'"),
    (_with(lambda layout: layout.update(disks=2)), "unknown key 'disks'"),
    (
        _with(lambda layout: layout["partitions"].insert(0, {"label": "b2", "size_mib": 1, "type": "bios"})),
        "more than one",
    ),
    (_with(lambda layout: layout["partitions"][0].update(label="bad label")), "invalid label 'bad label'"),
    # The fixed sizes (1 + 256 + 512), 1 MiB of GPT and 1 MiB for the rest: 771 MiB.
    (_with(lambda layout: layout.update(min_disk_mib=770)), "the layout needs 771 MiB"),
    ("not json", "not JSON"),
    (["a"], "expected a mapping"),
]


@pytest.mark.parametrize(("spec", "text"), BAD_LAYOUTS)
def test_a_bad_layout_is_refused_naming_what_is_wrong(spec, text):
    with pytest.raises(OdaValidationError, match=None) as raised:
        normalize_layout(spec)
    assert text in str(raised.value)


def test_a_layout_that_just_fits_its_smallest_disk_is_taken():
    assert normalize_layout(_with(lambda layout: layout.update(min_disk_mib=771)))["min_disk_mib"] == 771
    fixed = _with(lambda layout: layout["partitions"][3].update(size_mib=1000))
    assert normalize_layout(dict(fixed, min_disk_mib=1770))["min_disk_mib"] == 1770
    with pytest.raises(OdaValidationError, match="needs 1770 MiB"):
        normalize_layout(dict(fixed, min_disk_mib=1769))


def test_layouts_are_defined_listed_replaced_and_removed(oda_backend, cluster):
    db = cluster.db
    changed, before, after = define_layout(db, "small", SMALL)
    assert (changed, before, after["name"], after["partitions"][0]["fs"]) == (True, None, "small", "vfat")
    assert define_layout(db, "small", SMALL)[0] is False
    assert oda_install.get_layout(db, "small") == after
    bigger = copy.deepcopy(SMALL)
    bigger["partitions"][0]["size_mib"] = 512
    changed, before, after = define_layout(db, "small", bigger)
    assert (changed, before["partitions"][0]["size_mib"], after["partitions"][0]["size_mib"]) == (
        True,
        128,
        512,
    )
    cluster.nodes.ensure("head", disk_layout="small")
    assert [(layout["name"], layout["nodes"]) for layout in oda_install.list_layouts(db)] == [
        ("small", ["head"])
    ]
    refused(
        oda_backend,
        OdaConflictError,
        "still used by nodes head",
        lambda: oda_install.remove_layout(db, "small"),
    )
    refused(
        oda_backend,
        OdaValidationError,
        "names it 'big'",
        lambda: define_layout(db, "small", dict(SMALL, name="big")),
    )
    refused(
        oda_backend,
        OdaValidationError,
        "no root",
        lambda: define_layout(db, "other", {"partitions": [SMALL["partitions"][0]]}),
    )
    refused(
        oda_backend,
        OdaNotFoundError,
        "unknown disk layout 'nosuch'",
        lambda: cluster.nodes.ensure("head", disk_layout="nosuch"),
    )
    assert cluster.nodes.ensure("head", disk_layout="")[2]["disk_layout"] is None
    assert oda_install.remove_layout(db, "small", check_mode=True)[0] is True
    assert oda_install.get_layout(db, "small") is not None
    assert oda_install.remove_layout(db, "small")[0] is True
    assert oda_install.remove_layout(db, "small") == (False, None, None)


# --- boot actions ------------------------------------------------------------


def test_install_is_refused_without_an_image_or_boot_artifacts(oda_backend, cluster):
    db = cluster.db
    cluster.nodes.define_clients(["node001"], "cluster", "10.0.0.11")
    refused(
        oda_backend,
        OdaConflictError,
        "node node001 has no image",
        lambda: set_boot_action(db, "node001", "install"),
    )
    cluster.nodes.update("node001", image="rocky9")
    refused(
        oda_backend,
        OdaConflictError,
        "has no current version",
        lambda: set_boot_action(db, "node001", "install"),
    )
    cluster.image_versions.ensure("rocky9", 1)
    cluster.images.ensure("rocky9", current_version=1)
    refused(
        oda_backend,
        OdaConflictError,
        "version 1 (of node node001) has no boot artifacts",
        lambda: set_boot_action(db, "node001", "stateless"),
    )
    cluster.image_versions.ensure("rocky9", 1, boot_kernel="6.1.0-28-amd64")
    refused(
        oda_backend, OdaConflictError, "no boot artifacts", lambda: set_boot_action(db, "node001", "install")
    )
    refused(
        oda_backend,
        OdaValidationError,
        "invalid boot action 'pxe'",
        lambda: set_boot_action(db, "node001", "pxe"),
    )
    refused(
        oda_backend, OdaNotFoundError, "unknown node 'ghost'", lambda: set_boot_action(db, "ghost", "local")
    )
    # The node's own image version wins over the image's current one.
    cluster.image_versions.ensure("rocky9", 2, boot_kernel="6.1.0-28-amd64", boot_root_sha256=ROOT_SHA)
    refused(oda_backend, OdaConflictError, "version 1", lambda: set_boot_action(db, "node001", "install"))
    cluster.nodes.ensure("node001", image_version=2)
    assert set_boot_action(db, "node001", "install")[2]["boot_action"] == "install"


def test_setting_install_starts_anew_and_local_is_always_allowed(installable):
    db = installable.db
    assert installable.nodes.get("node001")["boot_action"] == "local"
    assert set_boot_action(db, "node001", "local")[0] is False
    changed, before, after = set_boot_action(db, "node001", "install", check_mode=True)
    assert (changed, before["boot_action"], after["boot_action"]) == (True, "local", "install")
    assert installable.nodes.get("node001")["boot_action"] == "local"
    installing(installable)
    record_report(db, "node001", "booted")
    record_report(db, "node001", "failed", detail="no disk")
    # Again install: nothing changes, the failed attempt stays visible.
    assert set_boot_action(db, "node001", "install")[0] is False
    assert installable.nodes.get("node001")["install_stage"] == "failed"
    set_boot_action(db, "node001", "local")
    changed, _before, after = set_boot_action(db, "node001", "install")
    assert (changed, after["install_stage"], after["install_detail"], after["install_attempt"]) == (
        True,
        None,
        None,
        1,
    )


def test_nodes_ensure_and_update_set_the_boot_action_with_the_same_rules(oda_backend, installable):
    nodes = installable.nodes
    assert nodes.ensure("node001", boot_action="install")[2]["boot_action"] == "install"
    refused(
        oda_backend,
        OdaConflictError,
        "node head has no image",
        lambda: nodes.update("node001,head", boot_action="install"),
    )
    outcome = nodes.update("node[001-002]", boot_action="install", disk_layout=None)
    assert [node["boot_action"] for node in outcome[2].values()] == ["install", "install"]
    assert nodes.ensure("node002", boot_action="local")[2]["boot_action"] == "local"


# --- reports -----------------------------------------------------------------


def test_a_whole_install_is_recorded_and_ends_with_boot_action_local(installable):
    db = installing(installable).db
    for stage in STAGES:
        answer = record_report(db, "node001", stage)
        assert (answer["node"], answer["stage"], answer["attempt"]) == ("node001", stage, 1)
    node = installable.nodes.get("node001")
    assert (node["boot_action"], node["install_stage"], node["install_attempt"]) == ("local", "installed", 1)
    assert [(event["attempt"], event["stage"]) for event in install_history(db, "node001")] == [
        (1, stage) for stage in STAGES
    ]


def test_a_killed_attempt_is_restarted_by_booted_and_its_history_kept(installable):
    db = installing(installable).db
    for stage in ("booted", "partitioned", "formatted"):
        record_report(db, "node001", stage)
    # Killed during the copy: the next boot starts attempt 2 from the beginning.
    assert record_report(db, "node001", "booted")["attempt"] == 2
    record_report(db, "node001", "partitioned")
    record_report(db, "node001", "failed", detail="mkfs.ext4: no space")
    assert record_report(db, "node001", "booted")["attempt"] == 3
    status = oda_install.install_status(db, "node001")
    assert (status["install_stage"], status["install_attempt"], status["install_detail"]) == (
        "booted",
        3,
        None,
    )
    assert [(e["attempt"], e["stage"], e["detail"]) for e in install_history(db, "node001")] == [
        (1, "booted", None),
        (1, "partitioned", None),
        (1, "formatted", None),
        (2, "booted", None),
        (2, "partitioned", None),
        (2, "failed", "mkfs.ext4: no space"),
        (3, "booted", None),
    ]
    assert all(event["at"].endswith("Z") for event in install_history(db, "node001"))


REFUSED_REPORTS = [
    # (stages reported first, the report refused, its error, reason, text)
    ((), ("partitioned", None), OdaInstallOutOfOrder, "not-next", "expected booted"),
    ((), ("failed", "x"), OdaInstallOutOfOrder, "not-next", "outside an attempt"),
    (("booted",), ("formatted", None), OdaInstallOutOfOrder, "not-next", "expected partitioned or booted"),
    (
        ("booted", "partitioned"),
        ("partitioned", None),
        OdaInstallOutOfOrder,
        "not-next",
        "reports partitioned",
    ),
    (("booted", "partitioned"), ("booted", "x" * 1001), OdaValidationError, None, "at most 1000"),
    (("booted",), ("failed", 3), OdaValidationError, None, "expected text"),
    (("booted",), ("done", None), OdaValidationError, None, "invalid stage 'done'"),
    (("booted", "failed"), ("failed", "again"), OdaInstallOutOfOrder, "not-next", "outside an attempt"),
    (("booted", "failed"), ("partitioned", None), OdaInstallOutOfOrder, "not-next", "expected booted"),
]


@pytest.mark.parametrize("case", REFUSED_REPORTS)
def test_a_refused_report_changes_nothing(oda_backend, installable, case):
    first, report, error, reason, text = case
    db = installing(installable).db
    for stage in first:
        record_report(db, "node001", stage, detail="why" if stage == "failed" else None)
    raised = refused(oda_backend, error, text, lambda: record_report(db, "node001", *report))
    assert getattr(raised, "reason", None) == reason
    if reason == "not-next":
        assert isinstance(raised, OdaConflictError)
        assert oda_install.REFUSALS[raised.reason] == 409


def test_reports_of_no_node_or_of_a_node_not_installing_are_refused(oda_backend, installable):
    db = installable.db
    for name in ("ghost", "not a name"):
        raised = refused(
            oda_backend,
            OdaInstallRefused,
            "no node in ODA",
            functools.partial(record_report, db, name, "booted"),
        )
        assert (raised.reason, oda_install.REFUSALS[raised.reason]) == ("not-a-node", 403)
    raised = refused(
        oda_backend,
        OdaInstallRefused,
        "not being installed (boot action local)",
        lambda: record_report(db, "node001", "booted"),
    )
    assert raised.reason == "not-installing"
    installing(installable)
    for stage in STAGES:
        record_report(db, "node001", stage)
    # Installed: boot_action is local again, so a late report is refused.
    raised = refused(
        oda_backend, OdaInstallRefused, "not being installed", lambda: record_report(db, "node001", "booted")
    )
    assert raised.reason == "not-installing"


def test_a_report_in_check_mode_writes_nothing(oda_backend, installable):
    db = installing(installable).db
    before = oda_backend.dump()
    assert record_report(db, "node001", "booted", check_mode=True)["attempt"] == 1
    assert oda_backend.dump() == before


# --- what the boot service answers --------------------------------------------


def test_a_node_is_found_by_its_address(installable):
    db = installable.db
    assert oda_install.node_by_address(db, "10.0.0.11") == "node001"
    assert oda_install.node_by_address(db, "::ffff:10.0.0.12") == "node002"
    assert oda_install.node_by_address(db, "10.0.0.99") is None
    with pytest.raises(OdaValidationError):
        oda_install.node_by_address(db, "10.0.0")


def test_the_plan_of_an_installing_node(oda_backend, installable):
    db = installable.db
    raised = refused(
        oda_backend, OdaInstallRefused, "not being installed", lambda: install_plan(db, "node001")
    )
    assert raised.reason == "not-installing"
    assert (
        refused(oda_backend, OdaInstallRefused, "no node", lambda: install_plan(db, "ghost")).reason
        == "not-a-node"
    )
    installing(installable)
    plan = install_plan(db, "node001")
    assert plan == {
        "node": "node001",
        "hostname": "node001",
        "domain": "cluster.lan",
        "image": "rocky9",
        "version": 1,
        "layout": dict(BUILTIN_LAYOUT, name="default"),
        "nics": [{"name": "eth0", "mac": "52:54:00:00:00:11", "ip": "10.0.0.11", "prefix": 24}],
        "nameservers": ["10.0.0.1"],
        "search": ["cluster.lan"],
        "stages": list(STAGES),
    }
    # A stored layout named default wins over the built-in one, and the node's own over both.
    define_layout(db, "default", SMALL)
    assert install_plan(db, "node001")["layout"]["partitions"][0]["size_mib"] == 128
    define_layout(db, "mine", dict(SMALL, device="/dev/vdb"))
    installable.nodes.ensure("node001", disk_layout="mine")
    layout = install_plan(db, "node001")["layout"]
    assert (layout["name"], layout["device"]) == ("mine", "/dev/vdb")


def test_the_plan_names_the_head_on_each_network_of_the_node(installable):
    oda = installable
    oda.networks.ensure("ib", "10.9.0.0/16")
    oda.nodes.ensure(
        "head", nics=[nic("eth1", "02:00:0a:00:00:01", "10.0.0.1"), nic("ib0", None, "10.9.0.1", "ib")]
    )
    oda.nodes.ensure(
        "node001",
        domain="compute.lan",
        nics=[nic("eth0", "52:54:00:00:00:11", "10.0.0.11"), nic("ib0", None, "10.9.0.11", "ib")],
    )
    plan = install_plan(installing(oda).db, "node001")
    assert plan["nameservers"] == ["10.0.0.1", "10.9.0.1"]
    assert plan["search"] == ["compute.lan", "cluster.lan"]
    assert [(n["name"], n["prefix"]) for n in plan["nics"]] == [("eth0", 24), ("ib0", 16)]


def test_the_boot_target_names_the_artifacts(installable):
    db = installable.db
    assert oda_install.boot_target(db, "node001") == {
        "node": "node001",
        "boot_action": "local",
        "image": "rocky9",
        "version": 1,
        "kernel": "6.1.0-28-amd64",
        "root_sha256": ROOT_SHA,
        "macs": ["52:54:00:00:00:11"],
    }
    assert oda_install.boot_target(db, "head")["image"] is None
    with pytest.raises(OdaInstallRefused):
        oda_install.boot_target(db, "ghost")


def test_a_removed_node_takes_its_history_along(installable):
    db = installing(installable).db
    record_report(db, "node001", "booted")
    installable.nodes.remove("node001")
    assert db.query("SELECT * FROM install_events") == []
    with pytest.raises(OdaNotFoundError):
        install_history(db, "node001")


# --- MAC collection (Nodes.collect_macs) --------------------------------------


def test_collected_macs_claimed_twice_are_refused(oda_backend, installable):
    nodes = installable.nodes
    mac = "52:54:00:00:00:77"
    twice = [("node002", mac), ("head", mac)]
    refused(
        oda_backend,
        OdaConflictError,
        "MAC %s is claimed twice: by node002 and by head" % mac,
        lambda: nodes.collect_macs(twice, "node002"),
    )
    two = [("node002", mac), ("node002", "52:54:00:00:00:78")]
    refused(
        oda_backend,
        OdaConflictError,
        "node node002 is given two MACs",
        lambda: nodes.collect_macs(two, "node002"),
    )
    refused(
        oda_backend,
        OdaValidationError,
        "invalid MAC address",
        lambda: nodes.collect_macs([(None, "zz")], "node002"),
    )
    refused(
        oda_backend,
        OdaValidationError,
        "not both",
        lambda: nodes.collect_macs([], "node002", nic="eth0", network="cluster"),
    )


def test_collected_macs_follow_the_order_seen_and_skip_known_ones(installable):
    nodes = installable.nodes
    seen = [
        (None, "52:54:00:00:00:11"),
        (None, "52:54:00:00:00:21"),
        (None, "52:54:00:00:00:21"),
        (None, "52:54:00:00:00:22"),
    ]
    outcome, report = nodes.collect_macs(seen, ["node002", "node001"])
    assert outcome[0] is True
    assert report == {
        "assignments": [{"node": "node002", "nic": "eth0", "mac": "52:54:00:00:00:21"}],
        "skipped": ["52:54:00:00:00:11"],
        "unassigned": ["52:54:00:00:00:22"],
        "waiting": [],
    }
    assert nodes.get("node001")["nics"][0]["mac"] == "52:54:00:00:00:11"

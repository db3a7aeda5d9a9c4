"""The image role's work on the head: versions, identity, boot artifacts and ODA."""

import json
import os
import sqlite3
from pathlib import Path

IMAGE = "/var/lib/oscar/images/debian13"
ROOT_1 = f"{IMAGE}/versions/1/root"
ROOT_2 = f"{IMAGE}/versions/2/root"


def run(head, command):
    result = head.run(command)
    assert result.rc == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def test_two_versions_and_the_second_is_current(head):
    assert sorted(run(head, f"ls {IMAGE}/versions").split()) == ["1", "2"]
    assert run(head, f"readlink {IMAGE}/current").strip().endswith("versions/2")
    meta = json.loads(run(head, f"cat {IMAGE}/versions/2/version.json"))
    assert meta["version"] == 2 and meta["parent"] == 1 and meta["note"] == "tree added", meta
    assert "tree" in meta["packages"], meta
    assert meta["kernel"], meta


def test_the_image_is_debian_13(head):
    assert 'VERSION_ID="13"' in run(head, f"cat {ROOT_2}/etc/os-release")


def test_the_second_version_adds_the_package_and_shares_the_rest(head):
    assert head.file(f"{ROOT_2}/usr/bin/tree").exists
    assert not head.file(f"{ROOT_1}/usr/bin/tree").exists
    inodes = run(head, f"stat -c %i {ROOT_1}/usr/bin/ls {ROOT_2}/usr/bin/ls").split()
    assert len(set(inodes)) == 1, "unchanged files are not shared between versions"
    # Ten versions would not cost ten images: the second costs a small part of the first.
    # du counts a file linked from both versions once, under the first.
    usage = run(head, f"du -s --block-size=1 {ROOT_1} {ROOT_2}").splitlines()
    first, second = (int(line.split()[0]) for line in usage)
    assert second < first * 0.2, (first, second)


def test_no_node_identity_in_the_image(head):
    for root in (ROOT_1, ROOT_2):
        assert head.file(f"{root}/etc/machine-id").size == 0
        assert run(head, f"ls {root}/etc/ssh").count("ssh_host_") == 0
        assert not head.file(f"{root}/etc/hostname").exists
        assert not head.file(f"{root}/var/lib/dbus/machine-id").exists


def test_the_current_version_is_exported_for_booting(head):
    boot = f"{IMAGE}/boot/2"
    names = set(run(head, f"ls {boot}").split())
    assert {"vmlinuz", "initrd.img", "root.squashfs", "SHA256SUMS", "boot.json"} <= names, names
    run(head, f"cd {boot} && sha256sum --check --quiet SHA256SUMS")
    kernel = json.loads(run(head, f"cat {boot}/boot.json"))["kernel"]
    assert head.file(f"{ROOT_2}/boot/vmlinuz-{kernel}").exists
    assert "usr/bin/tree" in run(head, f"unsquashfs -l {boot}/root.squashfs usr/bin/tree")


def test_oda_records_the_image_and_both_versions():
    database = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "oda.db"
    with sqlite3.connect(database) as db:
        images = db.execute("SELECT name, distro, current_version FROM images").fetchall()
        versions = db.execute("SELECT version, parent FROM image_versions ORDER BY version").fetchall()
    assert images == [("debian13", "debian-13", 2)], images
    assert versions == [(1, None), (2, 1)], versions

"""The image modules in-process on real trees: build, versions, info and export.

mmdebstrap and the chroot's apt-get are replaced by stand-in programs on
PATH that make what they would (a root tree with the builder's identity, a
kernel, dpkg's status; the packages asked for) and record how they were
called; everything else - identity stripping, sharing by hard links, the
commit, mksquashfs and the sums - is the real thing.
"""

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import image_build as build_lib
from ansible_collections.oscar.cluster.plugins.modules import (
    image_build,
    image_export,
    image_info,
    image_version,
)

KERNEL = "6.1.0-28-amd64"
BASE_PACKAGES = ["openssh-server", "python3", "systemd-sysv"]

# What both stand-ins share: "install" packages into a tree as files and
# dpkg records, refusing the one package the tests say does not exist.
_COMMON = r"""
import json, os, sys
def log(kind):
    with open(os.environ["OSCAR_TEST_LOG"], "a") as handle:
        handle.write(json.dumps({"kind": kind, "argv": sys.argv[1:],
                                 "proxy": os.environ.get("http_proxy")}) + "\n")
def write(root, path, text, mode=0o644):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)
    os.chmod(full, mode)
    os.utime(full, (1700000000, 1700000000))
def install(root, packages):
    for package in packages:
        if package == "no-such-package":
            sys.stderr.write("E: Unable to locate package no-such-package\n")
            sys.exit(100)
    for package in packages:
        if package == "linux-image-amd64":
            write(root, "boot/vmlinuz-%s" % KERNEL, "kernel " * 100)
            write(root, "boot/initrd.img-%s" % KERNEL, "initrd " * 100)
            os.makedirs(os.path.join(root, "usr/lib/modules", KERNEL), exist_ok=True)
        else:
            write(root, "usr/bin/" + package, "#!/bin/sh\n", 0o755)
        with open(os.path.join(root, "var/lib/dpkg/status"), "a") as status:
            status.write("Package: %s\nStatus: install ok installed\n\n" % package)
"""

MMDEBSTRAP = (
    r"""#!/usr/bin/env python3
KERNEL = "%s"
"""
    % KERNEL
    + _COMMON
    + r"""
log("mmdebstrap")
options = [a for a in sys.argv[1:] if a.startswith("--")]
suite, root, mirror = [a for a in sys.argv[1:] if not a.startswith("--")]
include = [o.split("=", 1)[1].split(",") for o in options if o.startswith("--include=")]
write(root, "etc/os-release", "ID=debian\nVERSION_CODENAME=%s\n" % suite)
write(root, "etc/hostname", "builder\n")
write(root, "etc/hosts", "127.0.1.1 builder\n")
write(root, "etc/resolv.conf", "nameserver 192.0.2.53\n")
write(root, "etc/fstab", "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")
write(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
write(root, "var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
write(root, "etc/ssh/ssh_host_ed25519_key", "PRIVATE\n", 0o600)
write(root, "etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAA builder\n")
write(root, "etc/ssh/sshd_config", "# sshd\n")
write(root, "etc/apt/apt.conf.d/99mmdebstrap", 'APT::Install-Recommends "false";\n')
write(root, "var/lib/apt/lists/deb.debian.org_dists_Release", "Release\n")
write(root, "usr/bin/ls", "ls " * 2000, 0o755)
os.makedirs(os.path.join(root, "etc/systemd/system"), exist_ok=True)
write(root, "var/lib/dpkg/status", "")
install(root, include[0] if include else [])
"""
)

# unshare --mount --fork -- /bin/sh -c SCRIPT sh ROOT RETRIES PACKAGES...: the
# chroot install, done as files (the real one is run by the integration test).
UNSHARE = (
    r"""#!/usr/bin/env python3
KERNEL = "%s"
"""
    % KERNEL
    + _COMMON
    + r"""
log("chroot")
script = sys.argv.index("-c")
root, retries, packages = sys.argv[script + 3], sys.argv[script + 4], sys.argv[script + 5:]
assert retries.isdigit(), retries
install(root, [p for p in packages if not os.path.exists(os.path.join(root, "usr/bin", p))
               and not (p.startswith("linux-image") and os.path.isdir(os.path.join(root, "boot")))])
"""
)


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """Stand-in mmdebstrap and unshare first on PATH; the calls they record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("mmdebstrap", MMDEBSTRAP), ("unshare", UNSHARE)):
        path = bin_dir / name
        path.write_text(textwrap.dedent(text))
        path.chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setenv("OSCAR_TEST_LOG", str(calls))

    def read():
        if not calls.exists():
            return []
        return [json.loads(line) for line in calls.read_text().splitlines()]

    return read


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "images")


@pytest.fixture
def image(run_module, root):
    """Run an image module against the test's images root."""

    def run(module, check_mode=False, diff=False, **args):
        return run_module(module, check_mode=check_mode, diff=diff, database=None, images_root=root, **args)

    return run


def build(image, packages=tuple(BASE_PACKAGES), **args):
    args.setdefault("name", "debian12")
    return image(image_build, packages=list(packages), **args)


def test_a_first_build_makes_version_1_current_without_the_builders_identity(image, tools, root):
    answer = build(image, proxy="http://10.0.0.1:3142", diff=True)
    assert answer["rc"] == 0, answer
    assert answer["changed"] and answer["built"]
    assert (answer["version"], answer["current"], answer["kernel"], answer["parent"]) == (1, 1, KERNEL, None)
    tree = answer["root"]
    assert tree == os.path.join(root, "debian12/versions/1/root")
    assert os.readlink(os.path.join(root, "debian12/current")) == "versions/1"
    with open(os.path.join(tree, "etc/machine-id")) as handle:
        assert handle.read() == ""
    for gone in ("etc/hostname", "etc/resolv.conf", "etc/fstab", "var/lib/dbus/machine-id"):
        assert not os.path.lexists(os.path.join(tree, gone)), gone
    assert not [name for name in os.listdir(os.path.join(tree, "etc/ssh")) if name.startswith("ssh_host_")]
    with open(os.path.join(tree, "etc/hosts")) as handle:
        assert "builder" not in handle.read()
    # The build's apt options and package lists are not the node's.
    assert not os.path.exists(os.path.join(tree, "etc/apt/apt.conf.d/99mmdebstrap"))
    assert os.listdir(os.path.join(tree, "var/lib/apt/lists")) == []
    # A node with no host keys makes its own at first boot.
    unit = os.path.join(tree, "etc/systemd/system/multi-user.target.wants", build_lib.HOSTKEYS_UNIT)
    assert os.path.islink(unit)
    (call,) = tools()
    assert call["proxy"] == "http://10.0.0.1:3142"
    assert "--include=linux-image-amd64,openssh-server,python3,systemd-sysv" in call["argv"]
    assert (call["argv"][-3], call["argv"][-1]) == ("bookworm", "http://deb.debian.org/debian")
    # A fetch the cache drops is asked again.
    assert '--aptopt=Acquire::Retries "5"' in call["argv"]
    assert "1" in answer["diff"]["after"] and "no versions" in answer["diff"]["before"]
    with open(os.path.join(root, "debian12/versions/1/version.json")) as handle:
        record = json.load(handle)
    assert record["packages"] == BASE_PACKAGES and record["recipe"] == answer["recipe"]
    assert not os.listdir(os.path.join(root, "debian12/.staging"))


def test_the_same_recipe_builds_nothing_and_check_mode_builds_nothing(image, tools, root):
    first = build(image)
    again = build(image, packages=reversed(BASE_PACKAGES))
    assert again["rc"] == 0 and not again["changed"] and again["version"] == 1, again
    assert len(tools()) == 1
    planned = build(image, packages=[*BASE_PACKAGES, "tree"], check_mode=True)
    assert planned["changed"] and planned["version"] == 2 and planned["recipe"] != first["recipe"]
    assert len(tools()) == 1
    assert os.listdir(os.path.join(root, "debian12/versions")) == ["1"]


def test_a_package_that_does_not_exist_fails_and_leaves_the_image_as_it_was(image, tools, root):
    build(image)
    failed = build(image, packages=[*BASE_PACKAGES, "no-such-package"])
    assert failed["rc"] == 1 and failed["failed"], failed
    assert "package 'no-such-package' does not exist in Debian bookworm" in failed["msg"]
    assert os.listdir(os.path.join(root, "debian12/versions")) == ["1"]
    assert os.readlink(os.path.join(root, "debian12/current")) == "versions/1"
    assert not os.listdir(os.path.join(root, "debian12/.staging"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"packages": ["Bad_Name"]}, "package 'Bad_Name' is not a Debian package name"),
        ({"suite": "Book Worm"}, "suite 'Book Worm' is not a Debian suite name"),
        ({"mirror": "ftp://mirror"}, "mirror 'ftp://mirror' is not an http://"),
        ({"name": "../etc"}, "../etc"),
        ({"base_version": 4}, "image 'debian12' has no versions to derive version 4 from"),
    ],
)
def test_bad_input_is_refused_by_name_before_anything_runs(image, tools, root, args, message):
    failed = build(image, **args)
    assert failed["rc"] == 1 and message in failed["msg"], failed
    assert tools() == [] and not os.path.exists(root)


def test_a_kernel_package_that_installs_no_kernel_fails(image, tools, root):
    failed = build(image, kernel_package="linux-headers-amd64")
    assert failed["rc"] == 1 and "installed no kernel" in failed["msg"], failed
    assert not os.path.exists(os.path.join(root, "debian12/versions/1"))
    no_kernel = build(image, kernel_package="")
    assert no_kernel["rc"] == 0 and no_kernel["kernel"] is None, no_kernel


def test_a_derived_version_adds_packages_and_shares_every_unchanged_file(image, tools, root):
    build(image)
    derived = build(image, packages=[*BASE_PACKAGES, "tree"], base_version=1, note="tree for users")
    assert derived["rc"] == 0 and derived["built"], derived
    assert (derived["version"], derived["parent"], derived["current"]) == (2, 1, 2)
    assert [call["kind"] for call in tools()] == ["mmdebstrap", "chroot"]
    one, two = (os.path.join(root, "debian12/versions/%d/root" % n) for n in (1, 2))
    assert os.stat(os.path.join(one, "usr/bin/ls")).st_ino == os.stat(os.path.join(two, "usr/bin/ls")).st_ino
    assert derived["shared_bytes"] >= os.path.getsize(os.path.join(one, "usr/bin/ls"))
    info = image(image_info, name="debian12", compare=[1, 2])
    assert "/usr/bin/tree" in info["changes"]["added"], info["changes"]
    assert "/var/lib/dpkg/status" in info["changes"]["changed"]
    assert info["changes"]["removed"] == []
    (described,) = info["images"]
    assert described["current"] == 2
    assert [v["note"] for v in described["versions"]] == ["", "tree for users"]
    # The base is untouched: it is still version 1's tree.
    assert not os.path.exists(os.path.join(one, "usr/bin/tree"))
    assert build(image, packages=[*BASE_PACKAGES, "tree"], base_version=1)["changed"] is False


def test_a_version_built_while_nodes_are_pinned_does_not_become_current(image, tools, root):
    build(image)
    pinned = build(image, packages=[*BASE_PACKAGES, "tree"], make_current=False)
    assert pinned["version"] == 2 and pinned["current"] == 1
    assert os.readlink(os.path.join(root, "debian12/current")) == "versions/1"
    # Asked again with make_current, the version with the recipe becomes current, without a build.
    moved = build(image, packages=[*BASE_PACKAGES, "tree"])
    assert moved["changed"] and not moved["built"] and moved["current"] == 2
    assert len(tools()) == 2


def test_rollback_delete_and_copy(image, tools, root):
    build(image)
    build(image, packages=[*BASE_PACKAGES, "tree"], base_version=1)
    check = image(image_version, name="debian12", version=1, check_mode=True, diff=True)
    assert check["changed"] and os.readlink(os.path.join(root, "debian12/current")) == "versions/2"
    back = image(image_version, name="debian12", version=1)
    assert back["changed"] and back["image"]["current"] == 1
    assert not image(image_version, name="debian12", version=1)["changed"]
    refused = image(image_version, name="debian12", version=1, state="absent")
    assert refused["rc"] == 1 and "is its current version" in refused["msg"]
    missing = image(image_version, name="debian12", version=7)
    assert missing["rc"] == 1 and "image 'debian12' has no version 7 (versions: 1, 2)" in missing["msg"]
    copied = image(image_version, name="debian12", version=2, state="present", copy_to="debian12-gpu")
    assert copied["changed"] and copied["image"]["name"] == "debian12-gpu" and copied["image"]["current"] == 1
    tree = os.path.join(root, "debian12-gpu/versions/1/root/usr/bin/tree")
    assert os.stat(tree).st_ino == os.stat(os.path.join(root, "debian12/versions/2/root/usr/bin/tree")).st_ino
    again = image(image_version, name="debian12", version=2, state="present", copy_to="debian12-gpu")
    assert again["rc"] == 0 and not again["changed"], again
    other = image(image_version, name="debian12", version=1, state="present", copy_to="debian12-gpu")
    assert other["rc"] == 1 and "is not a copy of debian12 version 1" in other["msg"]
    gone = image(image_version, name="debian12", version=2, state="absent")
    assert gone["changed"] and [v["version"] for v in gone["image"]["versions"]] == [1]
    # The copy keeps the files it shared with the deleted version.
    assert os.path.isfile(tree)


def test_export_writes_verified_artifacts_once_and_again_when_tampered(image, tools, root):
    build(image)
    planned = image(image_export, name="debian12", check_mode=True)
    assert planned["changed"] and not os.path.exists(os.path.join(root, "debian12/boot"))
    exported = image(image_export, name="debian12")
    assert exported["rc"] == 0 and exported["changed"], exported
    boot = exported["boot"]
    assert (boot["version"], boot["kernel"], boot["root_format"]) == (1, KERNEL, "squashfs")
    assert sorted(os.listdir(boot["dir"])) == [
        "SHA256SUMS",
        "boot.json",
        "initrd.img",
        "root.squashfs",
        "vmlinuz",
    ]
    with open(boot["root"], "rb") as handle:
        assert handle.read(4) == b"hsqs"
    for name, digest in boot["sha256"].items():
        assert build_lib.hashlib.sha256((Path(boot["dir"]) / name).read_bytes()).hexdigest() == digest
    assert stat.S_IMODE(os.stat(boot["vmlinuz"]).st_mode) == 0o644
    assert not image(image_export, name="debian12")["changed"]
    with open(boot["vmlinuz"], "ab") as handle:
        handle.write(b"tampered")
    again = image(image_export, name="debian12")
    # Exported again from the version: the kernel as it was (the squashfs
    # records when it was made, so its sum may change).
    assert again["changed"] and again["boot"]["sha256"]["vmlinuz"] == boot["sha256"]["vmlinuz"]


def test_export_refuses_a_kernel_the_version_lacks_and_an_image_without_one(image, tools, root):
    build(image)
    wrong = image(image_export, name="debian12", kernel="6.12.0-1-amd64")
    assert wrong["rc"] == 1 and "has no kernel 6.12.0-1-amd64 (it has: %s)" % KERNEL in wrong["msg"]
    image(image_build, name="bare", packages=BASE_PACKAGES, kernel_package="")
    bare = image(image_export, name="bare")
    assert bare["rc"] == 1 and "image 'bare' version 1 has no kernel to boot" in bare["msg"], bare
    assert not os.path.exists(os.path.join(root, "bare/boot"))

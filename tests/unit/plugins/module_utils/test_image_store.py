"""The image store on real trees: commit, current, delete, copy, shared files and diffs."""

import json
import os

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import image_store
from ansible_collections.oscar.cluster.plugins.module_utils.image_errors import (
    ImageConflictError,
    ImageInputError,
    ImageNotFoundError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.image_store import ImageStore


def make_tree(root, files, kernel=None):
    """A small root tree: files maps '/path' to text; a kernel adds /boot/vmlinuz-R and its modules."""
    for path, text in files.items():
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        os.utime(full, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    if kernel:
        os.makedirs(os.path.join(root, "boot"), exist_ok=True)
        open(os.path.join(root, "boot", "vmlinuz-" + kernel), "w").close()
        os.makedirs(os.path.join(root, "usr/lib/modules", kernel))


def build(store, name, files, *, kernel=None, reference=None, note="test"):
    with store.staging(name) as staged:
        make_tree(os.path.join(staged, "root"), files, kernel)
        if reference:
            image_store.share_unchanged(os.path.join(staged, "root"), reference)
        return store.commit(name, staged, {"note": note, "kernel": kernel, "parent": None})


@pytest.fixture
def store(tmp_path):
    return ImageStore(str(tmp_path / "images"))


BASE = {"/etc/issue": "Debian\n", "/usr/bin/tool": "x" * 4096, "/etc/motd": "hello\n"}


def test_versions_are_numbered_recorded_and_made_current(store):
    assert store.images() == [] and store.versions("debian12") == []
    assert build(store, "debian12", BASE, kernel="6.1.0-28-amd64") == 1
    assert build(store, "debian12", dict(BASE, **{"/etc/motd": "bye\n"})) == 2
    assert store.versions("debian12") == [1, 2] and store.current("debian12") is None
    assert store.set_current("debian12", 2) is True and store.set_current("debian12", 2) is False
    assert os.readlink(os.path.join(store.image_dir("debian12"), "current")) == "versions/2"
    meta = store.meta("debian12", 1)
    assert (meta["image"], meta["version"], meta["kernel"], meta["kernels"]) == (
        "debian12",
        1,
        "6.1.0-28-amd64",
        ["6.1.0-28-amd64"],
    )
    with open(os.path.join(store.version_dir("debian12", 1), "version.json")) as handle:
        assert "path" not in json.load(handle)
    assert store.describe("debian12")["current"] == 2
    assert store.images() == ["debian12"]
    assert os.listdir(os.path.join(store.image_dir("debian12"), ".staging")) == []


def test_a_failed_build_leaves_nothing_and_the_previous_version_intact(store):
    build(store, "debian12", BASE)
    store.set_current("debian12", 1)
    with pytest.raises(RuntimeError), store.staging("debian12") as staged:
        make_tree(os.path.join(staged, "root"), {"/half": "built"})
        raise RuntimeError("mmdebstrap died")
    assert store.versions("debian12") == [1] and store.current("debian12") == 1
    assert os.listdir(os.path.join(store.image_dir("debian12"), ".staging")) == []
    with open(os.path.join(store.version_root("debian12", 1), "etc/issue")) as handle:
        assert handle.read() == "Debian\n"


def test_unknown_images_and_versions_are_named_in_the_error(store):
    with pytest.raises(ImageNotFoundError, match="image 'nope' does not exist"):
        store.resolve("nope")
    build(store, "debian12", BASE)
    with pytest.raises(ImageNotFoundError, match="has no version 7 \\(versions: 1\\)"):
        store.resolve("debian12", 7)
    with pytest.raises(ImageNotFoundError, match="no current version"):
        store.resolve("debian12")
    for bad in ("../etc", "a/b", ".hidden", ""):
        with pytest.raises(ImageInputError, match="image name"):
            store.image_dir(bad)
    for bad in (0, -1, "two", "1.5"):
        with pytest.raises(ImageInputError, match="image version"):
            store.resolve("debian12", bad)
    with pytest.raises(ImageInputError, match="absolute"):
        ImageStore("relative/images")


def test_the_current_version_is_never_deleted_and_others_go_with_their_boot_files(store):
    build(store, "debian12", BASE)
    build(store, "debian12", BASE)
    store.set_current("debian12", 2)
    with pytest.raises(ImageConflictError, match="version 2 of image 'debian12' is its current version"):
        store.delete("debian12", 2)
    os.makedirs(store.boot_dir("debian12", 1))
    store.delete("debian12", 1)
    assert store.versions("debian12") == [2]
    assert not os.path.exists(store.boot_dir("debian12", 1))
    assert os.listdir(os.path.join(store.image_dir("debian12"), ".staging")) == []


def inode(root, path):
    return os.stat(os.path.join(root, path)).st_ino


def test_unchanged_files_are_shared_with_the_previous_version(store):
    build(store, "debian12", BASE)
    previous = store.version_root("debian12", 1)
    build(store, "debian12", dict(BASE, **{"/etc/motd": "bye\n"}), reference=previous)
    new = store.version_root("debian12", 2)
    assert inode(previous, "usr/bin/tool") == inode(new, "usr/bin/tool")
    assert inode(previous, "etc/motd") != inode(new, "etc/motd")
    with open(os.path.join(previous, "etc/motd")) as handle:
        assert handle.read() == "hello\n"


def test_a_file_that_differs_only_in_mode_is_not_shared(tmp_path):
    make_tree(str(tmp_path / "a"), BASE)
    make_tree(str(tmp_path / "b"), BASE)
    os.chmod(tmp_path / "b/usr/bin/tool", 0o755)
    shared, saved = image_store.share_unchanged(str(tmp_path / "b"), str(tmp_path / "a"))
    assert (shared, saved) == (2, len("Debian\n") + len("hello\n"))
    assert os.stat(tmp_path / "b/usr/bin/tool").st_nlink == 1


def test_diff_lists_added_removed_and_changed_paths(tmp_path):
    make_tree(str(tmp_path / "a"), BASE)
    changed = dict(BASE, **{"/etc/motd": "hullo\n", "/etc/new": "n"})
    del changed["/etc/issue"]
    make_tree(str(tmp_path / "b"), changed)
    os.symlink("motd", tmp_path / "a/etc/link")
    os.symlink("issue", tmp_path / "b/etc/link")
    assert image_store.diff_trees(str(tmp_path / "a"), str(tmp_path / "b")) == {
        "added": ["/etc/new"],
        "removed": ["/etc/issue"],
        "changed": ["/etc/link", "/etc/motd"],
    }
    assert image_store.diff_trees(str(tmp_path / "a"), str(tmp_path / "a")) == {
        "added": [],
        "removed": [],
        "changed": [],
    }


def test_a_copy_is_a_new_image_of_hard_links(store):
    build(store, "debian12", BASE, kernel="6.1.0-28-amd64")
    assert store.copy("debian12", 1, "gpu") == 1
    assert store.current("gpu") == 1
    assert store.meta("gpu", 1)["note"] == "copy of debian12 version 1"
    source = os.path.join(store.version_root("debian12", 1), "usr/bin/tool")
    assert (
        os.stat(source).st_ino == os.stat(os.path.join(store.version_root("gpu", 1), "usr/bin/tool")).st_ino
    )
    with pytest.raises(ImageConflictError, match="image 'gpu' already exists"):
        store.copy("debian12", 1, "gpu")


def test_kernels_need_their_modules(tmp_path):
    make_tree(str(tmp_path), {}, kernel="6.12.9-amd64")
    open(tmp_path / "boot/vmlinuz-6.1.0-9-amd64", "w").close()
    assert image_store.kernels(str(tmp_path)) == ["6.12.9-amd64"]
    os.makedirs(tmp_path / "lib/modules/6.1.0-9-amd64")
    assert image_store.kernels(str(tmp_path)) == ["6.1.0-9-amd64", "6.12.9-amd64"]

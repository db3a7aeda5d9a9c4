"""Image overlays (SystemImager's overrides): their fingerprint in the recipe, and how they land in a tree."""

import os

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import image_build
from ansible_collections.oscar.cluster.plugins.module_utils.image_errors import (
    ImageInputError,
    ImageNotFoundError,
)


def make_overlay(base):
    (base / "etc/initramfs-tools/scripts").mkdir(parents=True)
    (base / "etc/initramfs-tools/scripts/oscar").write_text("mountroot() { :; }\n")
    (base / "usr/lib/oscar").mkdir(parents=True)
    script = base / "usr/lib/oscar/oscar-install"
    script.write_text("#!/usr/bin/python3\n")
    script.chmod(0o755)
    (base / "usr/lib/oscar/current").symlink_to("oscar-install")
    return str(base)


def recipe(**changes):
    fields = {"variant": "minbase", "components": ["main"], "packages": ["python3"], "kernel_package": None}
    fields.update(changes)
    return image_build.Recipe("bookworm", **fields)


def test_an_overlays_content_not_its_path_is_in_the_recipe(tmp_path):
    first = make_overlay(tmp_path / "a")
    copy = make_overlay(tmp_path / "b")
    plain = recipe().digest()
    with_overlay = recipe(overlays=[first]).digest()
    assert with_overlay != plain
    assert recipe(overlays=[copy]).digest() == with_overlay
    # A recipe without overlays or units keeps the fields (and digest) it always had.
    assert "overlay" not in recipe().fields() and "units" not in recipe().fields()


@pytest.mark.parametrize(
    "change",
    [
        lambda base: (base / "etc/initramfs-tools/scripts/oscar").write_text("mountroot() { true; }\n"),
        lambda base: (base / "usr/lib/oscar/oscar-install").chmod(0o700),
        lambda base: (base / "etc/new-file").write_text(""),
        lambda base: (base / "etc/empty-directory").mkdir(),
        lambda base: (
            (base / "usr/lib/oscar/current").unlink(),
            (base / "usr/lib/oscar/current").symlink_to("x"),
        ),
    ],
)
def test_any_change_to_an_overlay_is_a_new_recipe(tmp_path, change):
    overlay = make_overlay(tmp_path / "a")
    before = recipe(overlays=[overlay]).digest()
    change(tmp_path / "a")
    assert recipe(overlays=[overlay]).digest() != before


def test_units_and_the_order_of_overlays_are_in_the_recipe(tmp_path):
    first, second = make_overlay(tmp_path / "a"), str(tmp_path / "b")
    os.mkdir(second)
    (tmp_path / "b/x").write_text("x")
    assert recipe(overlays=[first, second]).digest() != recipe(overlays=[second, first]).digest()
    with_unit = recipe(units=["oscar-install.service"])
    assert with_unit.fields()["units"] == ["oscar-install.service"]
    assert with_unit.digest() != recipe().digest()


@pytest.mark.parametrize("unit", ["oscar install.service", "x", "../x.service", ""])
def test_a_unit_that_is_no_unit_name_is_refused(unit):
    with pytest.raises(ImageInputError, match="is not a systemd unit name"):
        recipe(units=[unit])


def test_an_overlay_must_be_an_existing_absolute_directory(tmp_path):
    with pytest.raises(ImageInputError, match="not an absolute path"):
        recipe(overlays=["relative/dir"])
    with pytest.raises(ImageNotFoundError, match="is not a directory"):
        recipe(overlays=[str(tmp_path / "missing")])


def test_overlays_land_in_the_tree_replacing_files_and_keeping_the_images_directories(tmp_path):
    overlay = make_overlay(tmp_path / "overlay")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc").chmod(0o711)
    (root / "usr/lib/oscar").mkdir(parents=True)
    shared = root / "usr/lib/oscar/oscar-install"
    shared.write_text("old\n")
    # A file shared with a parent version by a hard link is replaced, never written through.
    os.link(shared, tmp_path / "parent-copy")
    written = image_build.apply_overlays(str(root), [overlay])
    assert sorted(written) == [
        "/etc/initramfs-tools/scripts/oscar",
        "/usr/lib/oscar/current",
        "/usr/lib/oscar/oscar-install",
    ]
    assert (tmp_path / "parent-copy").read_text() == "old\n"
    assert shared.read_text() == "#!/usr/bin/python3\n"
    assert oct(shared.stat().st_mode & 0o7777) == "0o755"
    assert os.readlink(root / "usr/lib/oscar/current") == "oscar-install"
    assert oct((root / "etc").stat().st_mode & 0o777) == "0o711"


def test_an_overlay_file_where_the_image_has_a_directory_is_refused(tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "etc").write_text("")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    with pytest.raises(ImageInputError, match="where the image has a directory"):
        image_build.apply_overlays(str(root), [str(overlay)])


def test_finishing_runs_systemctl_and_update_initramfs_in_a_chroot_only_when_needed(tmp_path):
    calls = []

    def run(argv, environment):
        calls.append(argv)
        return 0, "", ""

    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    (root / "boot/vmlinuz-6.1.0-28-amd64").write_text("")
    (root / "lib/modules/6.1.0-28-amd64").mkdir(parents=True)
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/update-initramfs").write_text("")
    image_build.finish_in_chroot(run, "/usr/bin/unshare", recipe(), root=str(root))
    assert calls == []
    overlay = make_overlay(tmp_path / "overlay")
    image_build.finish_in_chroot(
        run, "/usr/bin/unshare", recipe(overlays=[overlay], units=["oscar-install.service"]), root=str(root)
    )
    assert calls[0][0] == "/usr/bin/unshare"
    assert calls[0][-3:] == [str(root), "yes", "oscar-install.service"]

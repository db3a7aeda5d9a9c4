"""The node image recipe: its digest, its reference and the tree customisation."""

import hashlib
import json
import os
import re
import stat
import subprocess

import pytest

from oscar_testbed import commands, image
from oscar_testbed.errors import PrerequisiteError

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"


def test_recipe_digest_is_stable_and_short_hex():
    first = image.recipe_digest(MIRROR, SECURITY)
    assert first == image.recipe_digest(MIRROR, SECURITY)
    assert re.fullmatch(r"[0-9a-f]{16}", first)


@pytest.mark.parametrize(
    ("mirror", "security"),
    [
        ("http://mirror.example/debian", SECURITY),
        (MIRROR, "http://mirror.example/debian-security"),
        (MIRROR + "/", SECURITY),
    ],
)
def test_recipe_digest_changes_with_the_mirrors(mirror, security):
    assert image.recipe_digest(mirror, security) != image.recipe_digest(MIRROR, SECURITY)


def test_recipe_digest_changes_when_a_package_is_added(monkeypatch):
    before = image.recipe_digest(MIRROR, SECURITY)
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "vim-tiny"))
    assert image.recipe_digest(MIRROR, SECURITY) != before


def test_recipe_digest_changes_when_a_package_is_removed(monkeypatch):
    before = image.recipe_digest(MIRROR, SECURITY)
    monkeypatch.setattr(image, "PACKAGES", image.PACKAGES[1:])
    assert image.recipe_digest(MIRROR, SECURITY) != before


def test_recipe_digest_ignores_the_order_of_packages(monkeypatch):
    before = image.recipe_digest(MIRROR, SECURITY)
    monkeypatch.setattr(image, "PACKAGES", tuple(reversed(image.PACKAGES)))
    assert image.recipe_digest(MIRROR, SECURITY) == before


@pytest.mark.parametrize("relative", sorted(image.FILES))
def test_recipe_digest_changes_when_a_file_changes(monkeypatch, relative):
    before = image.recipe_digest(MIRROR, SECURITY)
    monkeypatch.setitem(image.FILES, relative, image.FILES[relative] + "# changed\n")
    assert image.recipe_digest(MIRROR, SECURITY) != before


def test_recipe_digest_changes_when_a_file_is_added(monkeypatch):
    before = image.recipe_digest(MIRROR, SECURITY)
    monkeypatch.setitem(image.FILES, "etc/motd", "hello\n")
    assert image.recipe_digest(MIRROR, SECURITY) != before


@pytest.mark.parametrize("attribute", ["MASKED_UNITS", "ENABLED_UNITS"])
def test_recipe_digest_changes_with_the_unit_settings(monkeypatch, attribute):
    before = image.recipe_digest(MIRROR, SECURITY)
    monkeypatch.setattr(image, attribute, (*getattr(image, attribute), "extra.service"))
    assert image.recipe_digest(MIRROR, SECURITY) != before


def test_mirrors_default_to_debian_when_the_environment_is_silent(monkeypatch):
    monkeypatch.delenv("OSCAR_TESTBED_MIRROR", raising=False)
    monkeypatch.delenv("OSCAR_TESTBED_SECURITY_MIRROR", raising=False)
    assert image.mirrors() == (image.DEFAULT_MIRROR, image.DEFAULT_SECURITY_MIRROR)
    assert image.image_reference() == (
        f"{image.IMAGE_REPOSITORY}:{image.recipe_digest(image.DEFAULT_MIRROR, image.DEFAULT_SECURITY_MIRROR)}"
    )


def test_image_reference_uses_the_mirror_from_the_environment(monkeypatch):
    monkeypatch.delenv("OSCAR_TESTBED_MIRROR", raising=False)
    monkeypatch.delenv("OSCAR_TESTBED_SECURITY_MIRROR", raising=False)
    default_reference = image.image_reference()
    monkeypatch.setenv("OSCAR_TESTBED_MIRROR", "http://mirror.example/debian")
    reference = image.image_reference()
    assert reference == (
        f"localhost/oscar-testbed-node:"
        f"{image.recipe_digest('http://mirror.example/debian', image.DEFAULT_SECURITY_MIRROR)}"
    )
    assert reference != default_reference


def test_image_reference_uses_the_security_mirror_from_the_environment(monkeypatch):
    monkeypatch.setenv("OSCAR_TESTBED_MIRROR", MIRROR)
    monkeypatch.setenv("OSCAR_TESTBED_SECURITY_MIRROR", "http://mirror.example/sec")
    assert image.mirrors() == (MIRROR, "http://mirror.example/sec")
    assert image.image_reference().endswith(":" + image.recipe_digest(MIRROR, "http://mirror.example/sec"))


def test_sources_list_names_the_suite_updates_and_security():
    assert image.sources_list("http://m/debian", "http://s/debian-security") == (
        "deb http://m/debian bookworm main\n"
        "deb http://m/debian bookworm-updates main\n"
        "deb http://s/debian-security bookworm-security main\n"
    )


def test_sources_list_of_trixie_names_trixie_its_updates_and_security():
    assert image.sources_list("http://m/debian", "http://s/debian-security", "trixie") == (
        "deb http://m/debian trixie main\n"
        "deb http://m/debian trixie-updates main\n"
        "deb http://s/debian-security trixie-security main\n"
    )


def test_the_bookworm_digest_is_the_one_of_before_there_were_suites():
    """Cached bookworm images keep their tag: the recipe of bookworm did not change."""
    # The recipe as it was, with bookworm written in.
    recipe = {
        "suite": "bookworm",
        "mirror": MIRROR,
        "security_mirror": SECURITY,
        "packages": sorted(image.PACKAGES),
        "files": image.FILES,
        "masked": sorted(image.MASKED_UNITS),
        "enabled": sorted(image.ENABLED_UNITS),
        "key_dir": image.TESTBED_KEY_DIR,
    }
    before = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    assert (
        image.recipe_digest(MIRROR, SECURITY) == image.recipe_digest(MIRROR, SECURITY, "bookworm") == before
    )


def test_each_suite_has_its_own_image(monkeypatch):
    monkeypatch.delenv("OSCAR_TESTBED_MIRROR", raising=False)
    monkeypatch.delenv("OSCAR_TESTBED_SECURITY_MIRROR", raising=False)
    assert image.recipe_digest(MIRROR, SECURITY, "trixie") != image.recipe_digest(MIRROR, SECURITY)
    assert image.image_reference("trixie") == (
        f"{image.IMAGE_REPOSITORY}:{image.recipe_digest(MIRROR, SECURITY, 'trixie')}"
    )
    assert image.image_reference() == image.image_reference("bookworm") != image.image_reference("trixie")


@pytest.mark.parametrize("suite", ["sid", "bullseye", "Trixie", ""])
def test_a_suite_the_recipe_was_not_made_for_is_refused(suite):
    with pytest.raises(PrerequisiteError, match="unknown Debian suite"):
        image.image_reference(suite)


def podman_images(monkeypatch, listing):
    """podman answers `images` with listing and records every other call."""
    calls = []

    def fake_podman(*args, **kwargs):
        if args[0] == "images":
            return subprocess.CompletedProcess(args, 0, stdout=listing, stderr="")
        calls.append(list(args))
        return subprocess.CompletedProcess(args, 0, stdout="", stderr="")

    monkeypatch.setattr(commands, "podman", fake_podman)
    return calls


# As podman 4.3 prints them: an image built before suites were labelled has none.
LISTING = (
    "localhost/oscar-testbed-node:aaaa \n"
    "localhost/oscar-testbed-node:bbbb bookworm\n"
    "localhost/oscar-testbed-node:cccc trixie\n"
    "localhost/oscar-testbed-node:dddd trixie\n"
)


def test_cached_image_suites_counts_an_unlabelled_image_as_bookworm(monkeypatch):
    podman_images(monkeypatch, LISTING)
    assert image.cached_image_suites() == {
        "localhost/oscar-testbed-node:aaaa": "bookworm",
        "localhost/oscar-testbed-node:bbbb": "bookworm",
        "localhost/oscar-testbed-node:cccc": "trixie",
        "localhost/oscar-testbed-node:dddd": "trixie",
    }
    assert len(image.cached_images()) == 4


def test_stale_removal_of_trixie_leaves_the_bookworm_images(monkeypatch):
    calls = podman_images(monkeypatch, LISTING)
    image.remove_stale_images("localhost/oscar-testbed-node:dddd", "trixie")
    assert calls == [["rmi", "localhost/oscar-testbed-node:cccc"]]


def test_stale_removal_of_bookworm_takes_unlabelled_images_and_leaves_trixie(monkeypatch):
    calls = podman_images(monkeypatch, LISTING)
    image.remove_stale_images("localhost/oscar-testbed-node:bbbb")
    assert calls == [["rmi", "localhost/oscar-testbed-node:aaaa"]]


def test_ensure_image_builds_the_asked_suite_and_prunes_only_its_images(monkeypatch, tmp_path):
    built = []
    pruned = []
    monkeypatch.setattr(image, "image_exists", lambda reference: False)
    monkeypatch.setattr(image, "build_image", lambda reference, log, suite: built.append((reference, suite)))
    monkeypatch.setattr(image, "remove_stale_images", lambda keep, suite: pruned.append((keep, suite)))
    reference = image.ensure_image(str(tmp_path), log=lambda message: None, suite="trixie")
    assert reference == image.image_reference("trixie")
    assert built == [(reference, "trixie")]
    assert pruned == [(reference, "trixie")]


def make_file(root, relative, content="x"):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


@pytest.fixture
def debootstrapped(tmp_path):
    """A fake debootstrapped tree with the leftovers customise() must clear."""
    root = tmp_path / "root"
    for relative in (
        "etc/ssh/ssh_host_ed25519_key",
        "etc/ssh/ssh_host_ed25519_key.pub",
        "etc/ssh/ssh_host_rsa_key",
        "var/lib/dbus/machine-id",
        "etc/hostname",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "var/lib/apt/lists/lock",
        "var/lib/apt/lists/auxfiles/something",
        "var/cache/apt/archives/python3_3.11_amd64.deb",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "var/log/dpkg.log",
        "var/log/apt/history.log",
    ):
        make_file(root, relative)
    make_file(root, "etc/ssh/ssh_config", "Host *\n")
    make_file(root, "etc/ssh/moduli", "moduli\n")
    make_file(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    (root / "var/lib/apt/lists/partial").mkdir()
    (root / "var/cache/apt/archives/partial").mkdir()
    return root


@pytest.fixture
def recorded_commands(monkeypatch):
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(list(argv))

    monkeypatch.setattr(commands, "find_program", lambda name: f"/fake/bin/{name}")
    monkeypatch.setattr(commands, "run", fake_run)
    return calls


def test_customise_writes_every_recipe_file(debootstrapped, recorded_commands):
    image.customise(str(debootstrapped), "http://m/debian", "http://s/sec")
    for relative, content in image.FILES.items():
        assert (debootstrapped / relative).read_text() == content
    dropin = (debootstrapped / "etc/ssh/sshd_config.d/oscar-testbed.conf").read_text()
    assert "PermitRootLogin prohibit-password" in dropin
    assert "AuthorizedKeysFile .ssh/authorized_keys /etc/oscar-testbed/authorized_keys" in dropin
    unit = (debootstrapped / "etc/systemd/system/oscar-testbed-hostkeys.service").read_text()
    assert "ExecStart=/usr/bin/ssh-keygen -A" in unit


def test_customise_points_apt_at_the_given_mirrors(debootstrapped, recorded_commands):
    image.customise(str(debootstrapped), "http://m/debian", "http://s/sec")
    assert (debootstrapped / "etc/apt/sources.list").read_text() == image.sources_list(
        "http://m/debian", "http://s/sec"
    )
    assert "http://m/debian bookworm main" in (debootstrapped / "etc/apt/sources.list").read_text()


def test_customise_points_apt_at_the_suite_of_the_image(debootstrapped, recorded_commands):
    image.customise(str(debootstrapped), "http://m/debian", "http://s/sec", "trixie")
    sources = (debootstrapped / "etc/apt/sources.list").read_text()
    assert sources == image.sources_list("http://m/debian", "http://s/sec", "trixie")
    assert "bookworm" not in sources


def test_customise_removes_the_identity_of_the_build(debootstrapped, recorded_commands):
    image.customise(str(debootstrapped), MIRROR, SECURITY)
    assert (debootstrapped / "etc/machine-id").read_text() == ""
    assert not (debootstrapped / "var/lib/dbus/machine-id").exists()
    assert not (debootstrapped / "etc/hostname").exists()
    remaining = sorted(p.name for p in (debootstrapped / "etc/ssh").iterdir())
    assert remaining == ["moduli", "ssh_config", "sshd_config.d"]


def test_customise_empties_package_lists_caches_and_logs(debootstrapped, recorded_commands):
    image.customise(str(debootstrapped), MIRROR, SECURITY)
    # apt needs its partial/ directories; everything else goes.
    assert [p.name for p in (debootstrapped / "var/lib/apt/lists").iterdir()] == ["partial"]
    assert [p.name for p in (debootstrapped / "var/cache/apt/archives").iterdir()] == ["partial"]
    assert list((debootstrapped / "var/log").iterdir()) == []
    assert not (debootstrapped / "var/cache/apt/pkgcache.bin").exists()
    assert not (debootstrapped / "var/cache/apt/srcpkgcache.bin").exists()


def test_customise_creates_the_key_dir_and_a_private_ssh_dir(debootstrapped, recorded_commands):
    image.customise(str(debootstrapped), MIRROR, SECURITY)
    ssh_dir = debootstrapped / "root/.ssh"
    assert ssh_dir.is_dir()
    assert stat.S_IMODE(ssh_dir.stat().st_mode) == 0o700
    assert (debootstrapped / image.TESTBED_KEY_DIR.lstrip("/")).is_dir()


def test_customise_masks_and_enables_units_offline(debootstrapped, recorded_commands):
    root = str(debootstrapped)
    image.customise(root, MIRROR, SECURITY)
    assert recorded_commands == [
        ["/fake/bin/systemctl", f"--root={root}", "mask", *image.MASKED_UNITS],
        ["/fake/bin/systemctl", f"--root={root}", "enable", "oscar-testbed-hostkeys.service", "ssh.service"],
    ]
    assert "apt-daily.timer" in recorded_commands[0]


def test_customise_works_on_a_tree_without_leftovers(tmp_path, recorded_commands):
    """A minimal tree (no caches, no logs, no host keys) is customised without error."""
    root = tmp_path / "bare"
    root.mkdir()
    image.customise(str(root), MIRROR, SECURITY)
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "etc/apt/sources.list").exists()
    assert not os.path.exists(root / "var/log")

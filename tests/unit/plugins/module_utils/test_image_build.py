"""The image build library's own rules: names, recipes, apt's errors and identity stripping on real trees."""

import os

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import image_build
from ansible_collections.oscar.cluster.plugins.module_utils.image_errors import ImageInputError


@pytest.mark.parametrize(
    "name", ["tree", "libc6-dev", "g++", "linux-image-6.1.0-28-amd64", "slurmd=22.05.8-4"]
)
def test_debian_package_names_and_pins_are_accepted(name):
    assert image_build.package_names([name, name]) == [name]


@pytest.mark.parametrize("name", ["Tree", "a", "-tree", "tree pkg", "tree=", "tree;rm", "", None, 3])
def test_anything_else_is_refused_by_name(name):
    with pytest.raises(ImageInputError, match="is not a Debian package name"):
        image_build.package_names([name])


def recipe(**changes):
    fields = {
        "variant": "minbase",
        "components": ["main"],
        "packages": ["openssh-server", "python3"],
        "kernel_package": "linux-image-amd64",
    }
    fields.update(changes)
    return image_build.Recipe("bookworm", **fields)


def test_a_recipe_is_the_same_whatever_the_order_and_changes_with_any_field():
    same = recipe(packages=["python3", "openssh-server", "python3"])
    assert same.digest() == recipe().digest()
    others = [
        recipe(variant="important"),
        recipe(components=["main", "contrib"]),
        recipe(packages=["openssh-server"]),
        recipe(kernel_package="linux-image-rt-amd64"),
        recipe(kernel_package=None),
        recipe(base={"version": 1, "recipe": "ab" * 32}),
    ]
    digests = {other.digest() for other in others}
    assert len(digests) == len(others) and recipe().digest() not in digests
    assert recipe().install() == ["linux-image-amd64", "openssh-server", "python3"]
    assert recipe(kernel_package="").install() == ["openssh-server", "python3"]


@pytest.mark.parametrize(
    ("output", "package"),
    [
        ("W: x\nE: Unable to locate package no-such-thing\n", "no-such-thing"),
        ("E: Package 'libfoo1' has no installation candidate\n", "libfoo1"),
        ("E: Couldn't find any package by glob 'foo*'\n", "foo*"),
        ("E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease\n", None),
    ],
)
def test_apts_word_for_a_missing_package_is_found(output, package):
    assert image_build.missing_package(output) == package


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://10.0.0.1:3142", None),
        ("file:///srv/mirror", None),
        ("10.0.0.1:3142", "is not an http://"),
        ("http://mirror/debian bookworm", "is not an http://"),
    ],
)
def test_mirror_urls(value, message):
    if message is None:
        assert image_build.mirror_url(value) == value
    else:
        with pytest.raises(ImageInputError, match=message):
            image_build.mirror_url(value)


def write(root, path, text="x\n"):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def test_identity_stripping_keeps_dbus_link_and_writes_a_hostkeys_unit(tmp_path):
    root = str(tmp_path)
    write(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    os.makedirs(os.path.join(root, "var/lib/dbus"))
    os.symlink("/etc/machine-id", os.path.join(root, "var/lib/dbus/machine-id"))
    write(root, "etc/ssh/ssh_host_rsa_key")
    write(root, "etc/ssh/ssh_host_rsa_key.pub")
    write(root, "etc/ssh/sshd_config")
    os.makedirs(os.path.join(root, "etc/systemd/system"))
    write(root, "var/lib/systemd/random-seed")
    write(root, "var/cache/apt/archives/tree_2.1.0-1_amd64.deb")
    touched = image_build.strip_identity(root)
    assert "/etc/ssh/ssh_host_rsa_key" in touched and "/var/lib/systemd/random-seed" in touched
    assert os.path.getsize(os.path.join(root, "etc/machine-id")) == 0
    # A link to systemd's id is no copy of the builder's: it stays.
    assert os.readlink(os.path.join(root, "var/lib/dbus/machine-id")) == "/etc/machine-id"
    assert sorted(os.listdir(os.path.join(root, "etc/ssh"))) == ["sshd_config"]
    assert os.listdir(os.path.join(root, "var/cache/apt/archives")) == []
    with open(os.path.join(root, "etc/systemd/system", image_build.HOSTKEYS_UNIT)) as handle:
        assert "ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key" in handle.read()
    # Stripping twice is stripping once.
    assert image_build.strip_identity(root) == [
        "/etc/machine-id",
        "/etc/hosts",
        "/etc/systemd/system/" + image_build.HOSTKEYS_UNIT,
    ]


def test_installed_packages_reads_dpkgs_status(tmp_path):
    write(
        str(tmp_path),
        "var/lib/dpkg/status",
        "Package: tree\nStatus: install ok installed\n\nPackage: gone\nStatus: deinstall ok config-files\n\n"
        "Package: bash\nStatus: install ok installed\n",
    )
    assert image_build.installed_packages(str(tmp_path)) == ["bash", "tree"]
    assert image_build.installed_packages(str(tmp_path / "nothing")) == []

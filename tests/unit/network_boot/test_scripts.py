"""The iPXE scripts the boot service serves: what each boot action boots, and what cannot go in."""

import pytest

from oscar_cluster.network_boot import scripts

DIGEST = "ab" * 32
NODE = {"name": "node003", "boot_action": "install", "image": "debian12", "version": 2, "root_sha256": DIGEST}
BASE = "http://10.211.0.1/oscar"


def test_local_boot_hands_back_to_the_firmware():
    text = scripts.node_script(BASE, dict(NODE, boot_action="local"))
    assert text.startswith("#!ipxe\n")
    assert text.rstrip().endswith("exit")
    assert "kernel" not in text


def test_no_boot_action_is_local():
    assert "exit" in scripts.node_script(BASE, dict(NODE, boot_action=None))


def test_install_boots_the_versions_kernel_with_the_installer():
    text = scripts.node_script(BASE, NODE, "console=ttyS0,115200n8")
    lines = text.splitlines()
    kernel = next(line for line in lines if line.startswith("kernel "))
    assert kernel.startswith("kernel http://10.211.0.1/oscar/images/debian12/2/vmlinuz ")
    for word in (
        "initrd=initrd.img",
        "boot=oscar",
        "oscar.mode=install",
        "oscar.root=http://10.211.0.1/oscar/images/debian12/2/root.squashfs",
        "oscar.root_sha256=" + DIGEST,
        "oscar.api=http://10.211.0.1/oscar/api/v1",
        "console=ttyS0,115200n8",
        "BOOTIF=01-${netX/mac:hexhyp}",
    ):
        assert word in kernel.split()
    assert "initrd http://10.211.0.1/oscar/images/debian12/2/initrd.img || goto failed" in lines
    assert "boot || goto failed" in lines


def test_stateless_boots_the_same_kernel_in_stateless_mode():
    text = scripts.node_script(BASE, dict(NODE, boot_action="stateless"))
    assert "oscar.mode=stateless" in text
    assert "oscar.mode=install" not in text


@pytest.mark.parametrize("digest", ["", "xyz", "AB" * 31, None])
def test_a_root_without_a_valid_sum_is_not_booted(digest):
    with pytest.raises(scripts.BootScriptError, match="SHA-256"):
        scripts.node_script(BASE, dict(NODE, root_sha256=digest))


@pytest.mark.parametrize("argument", ["quiet; shell", "a\nchain http://evil", "x`id`", "${foo}"])
def test_kernel_arguments_that_would_change_the_script_are_refused(argument):
    with pytest.raises(scripts.BootScriptError, match="cannot carry"):
        scripts.node_script(BASE, NODE, argument)


def test_an_unknown_boot_action_is_refused():
    with pytest.raises(scripts.BootScriptError, match="boot action"):
        scripts.node_script(BASE, dict(NODE, boot_action="format"))


def test_mac_from_ipxe_hexhyp():
    assert scripts.mac_from_hyphens("52-54-00-AB-cd-01") == "52:54:00:ab:cd:01"
    for bad in ("52:54:00:ab:cd:01", "52-54-00-ab-cd", "../../etc", ""):
        with pytest.raises(scripts.BootScriptError):
            scripts.mac_from_hyphens(bad)


def test_a_refusal_shows_its_reason_and_falls_through():
    text = scripts.refusal_script('10.0.0.9 is no node\n"; reboot')
    assert text.startswith("#!ipxe\necho oscar: 10.0.0.9 is no node")
    assert text.count("\n") == 3
    assert text.endswith("exit\n")

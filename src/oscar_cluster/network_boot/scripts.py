"""The iPXE scripts a node is served: pure functions of what ODA says about it.

A node's ODA ``boot_action`` decides: ``local`` boots its own disk (iPXE's
``exit`` hands back to the firmware, which goes on to the next boot device),
``install`` boots its image version's kernel with the installer on, and
``stateless`` boots the same kernel with the image as its root in RAM.
"""

import re

BOOT_ACTIONS = ("local", "install", "stateless")
# The files of an export (roles/image), as the web server serves them.
KERNEL = "vmlinuz"
INITRD = "initrd.img"
ROOT = "root.squashfs"

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Only characters that mean nothing to iPXE's parser and to a kernel command line.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_.,:=/+@%-]+")
_MAC_HYPHENS = re.compile(r"[0-9a-f]{2}(-[0-9a-f]{2}){5}")


class BootScriptError(ValueError):
    """A value that cannot go into a boot script (a bad sum, argument or MAC)."""


def mac_from_hyphens(text):
    """52-54-00-12-34-56 (iPXE's ${mac:hexhyp}) -> 52:54:00:12:34:56, or BootScriptError."""
    text = (text or "").lower()
    if not _MAC_HYPHENS.fullmatch(text):
        raise BootScriptError("%r is not a MAC address in iPXE's hexhyp form (52-54-00-12-34-56)" % text)
    return text.replace("-", ":")


def _kernel_words(text):
    text = text or ""
    if re.search(r"[^ \S]|[\x00-\x1f]", text):
        # A newline would start a new iPXE command.
        raise BootScriptError("kernel arguments %r have characters a boot script cannot carry" % text)
    words = text.split(" ")
    words = [word for word in words if word]
    for word in words:
        if not _SAFE_WORD.fullmatch(word):
            raise BootScriptError("kernel argument %r has characters a boot script cannot carry" % word)
    return words


def artifacts_url(base_url, image, version):
    return "%s/images/%s/%d" % (base_url.rstrip("/"), image, int(version))


def kernel_command_line(base_url, node, mode, kernel_args=""):
    """The kernel's arguments for install or stateless mode (see roles/image's boot=oscar method)."""
    if mode not in ("install", "stateless"):
        raise BootScriptError("mode %r is not install or stateless" % mode)
    digest = (node.get("root_sha256") or "").lower()
    if not _SHA256.fullmatch(digest):
        raise BootScriptError(
            "the root of image %s version %s has no valid SHA-256" % (node["image"], node["version"])
        )
    base = base_url.rstrip("/")
    words = [
        "initrd=" + INITRD,
        "boot=oscar",
        "ip=dhcp",
        # iPXE fills this in: the initramfs brings up the NIC the node booted from.
        "BOOTIF=01-${netX/mac:hexhyp}",
        "oscar.root=%s/%s" % (artifacts_url(base, node["image"], node["version"]), ROOT),
        "oscar.root_sha256=" + digest,
        "oscar.mode=" + mode,
        "oscar.api=%s/api/v1" % base,
    ]
    return " ".join(words + _kernel_words(kernel_args))


def node_script(base_url, node, kernel_args=""):
    """The iPXE script of one node: node is {name, boot_action, image, version, root_sha256}."""
    action = node.get("boot_action") or "local"
    name = node["name"]
    if action not in BOOT_ACTIONS:
        raise BootScriptError(
            "node %s has boot action %r, not one of %s" % (name, action, ", ".join(BOOT_ACTIONS))
        )
    if action == "local":
        return "#!ipxe\necho oscar: %s boots from its own disk\nexit\n" % name
    artifacts = artifacts_url(base_url, node["image"], node["version"])
    verb = "installs" if action == "install" else "boots stateless"
    return (
        "#!ipxe\n"
        "echo oscar: {name} {verb} image {image} version {version}\n"
        "kernel {artifacts}/{kernel} {args} || goto failed\n"
        "initrd {artifacts}/{initrd} || goto failed\n"
        "boot || goto failed\n"
        ":failed\n"
        "echo oscar: {name} could not load its kernel from the head; trying again in 10 s\n"
        "sleep 10\n"
        "reboot\n"
    ).format(
        name=name,
        verb=verb,
        image=node["image"],
        version=int(node["version"]),
        artifacts=artifacts,
        kernel=KERNEL,
        initrd=INITRD,
        args=kernel_command_line(base_url, node, action, kernel_args),
    )


def refusal_script(message):
    """What a machine gets when the head will not boot it: the reason on its console, then its disk."""
    text = re.sub(r"[^A-Za-z0-9 .,:;()/_-]", "?", message)[:200]
    return "#!ipxe\necho oscar: %s\nexit\n" % text

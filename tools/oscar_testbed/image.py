"""The node image: Debian 12 or 13 with systemd and sshd, built with debootstrap.

No image registry is reachable from these machines, so the image is made
from Debian's packages and imported into podman.  Its tag is a digest of
the recipe below (suite, mirror, package list, files, unit settings): the
image is rebuilt only when one of them changes, and every testbed started
from the same recipe shares it.  Each suite (Debian release) has its own
image, labelled with it, and the images of the suites live side by side.
"""

import fcntl
import hashlib
import json
import os
import shutil
import tempfile

from oscar_testbed import commands
from oscar_testbed.errors import CommandError, PrerequisiteError

IMAGE_REPOSITORY = "localhost/oscar-testbed-node"
# The Debian releases a host can run, by suite name (Debian 12, Debian 13).
SUITES = ("bookworm", "trixie")
DEFAULT_SUITE = "bookworm"
# Images built before suites were labelled are all bookworm's.
SUITE_LABEL = "oscar.testbed.suite"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

# libpam-systemd is left out on purpose: with it, the first SSH login on a host
# starts a systemd user manager for root, and a login that arrives while that
# manager is stopping (10 s after the last session) waits for the stop.  On a
# 2-core machine running 64 hosts this made logins stall for tens of seconds
# and wide fan-outs fail; test hosts gain nothing from per-user managers.
PACKAGES = (
    "ca-certificates",
    "dbus",
    "iproute2",
    "iputils-ping",
    "netbase",
    "openssh-server",
    "procps",
    "python3",
    "python3-apt",
    "rsync",
    "systemd",
    "systemd-sysv",
)

# Where each testbed bind-mounts its public key; sshd reads it in addition to
# root's own authorized_keys, so roles that manage root's keys never lock the
# testbed out.
TESTBED_KEY_DIR = "/etc/oscar-testbed"

FILES = {
    "etc/ssh/sshd_config.d/oscar-testbed.conf": (
        "# Test host access: root by key only, the testbed's key always accepted.\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        f"AuthorizedKeysFile .ssh/authorized_keys {TESTBED_KEY_DIR}/authorized_keys\n"
        "UseDNS no\n"
        # Parallel tools open one connection per node at once from one head.
        "MaxStartups 256:30:512\n"
        "MaxSessions 64\n"
    ),
    # Host keys are made at first boot, so that every host has its own.
    "etc/systemd/system/oscar-testbed-hostkeys.service": (
        "[Unit]\n"
        "Description=Generate this test host's own SSH host keys\n"
        "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"
        "Before=ssh.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "ExecStart=/usr/bin/ssh-keygen -A\n"
        "\n"
        "[Install]\n"
        "WantedBy=ssh.service\n"
    ),
    "etc/hosts": (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\tip6-allnodes\n"
        "ff02::2\tip6-allrouters\n"
    ),
    # No translated package descriptions: apt-get update fetches less.
    "etc/apt/apt.conf.d/90oscar-testbed": (
        'APT::Install-Recommends "false";\nAcquire::Retries "3";\nAcquire::Languages "none";\n'
    ),
    # As container images of Debian do: dpkg does not fsync every file it
    # unpacks (a test host's disk is thrown away, and fsync on the container's
    # overlay costs most of an installation's time), and leaves out the
    # documentation nobody reads on a test host (its copyright files stay).
    "etc/dpkg/dpkg.cfg.d/90oscar-testbed": (
        "force-unsafe-io\n"
        "path-exclude=/usr/share/doc/*\n"
        "path-include=/usr/share/doc/*/copyright\n"
        "path-exclude=/usr/share/man/*\n"
        "path-exclude=/usr/share/info/*\n"
    ),
}

# Units that do nothing useful in a container, or that would take the dpkg
# lock at random moments during a test run.
MASKED_UNITS = (
    "apt-daily.service",
    "apt-daily.timer",
    "apt-daily-upgrade.service",
    "apt-daily-upgrade.timer",
    "console-getty.service",
    "getty@tty1.service",
    "systemd-remount-fs.service",
)
ENABLED_UNITS = ("oscar-testbed-hostkeys.service", "ssh.service")


def site_paths():
    """What the testbed adds to a host that an image update must leave alone.

    Its access (the sshd drop-in, the key directory it bind-mounts, the host
    key unit and its enablement) and the units it masks: to a node image
    these are a site's own files, as a site lists its own to image_sync.
    """
    paths = [
        "/etc/ssh/sshd_config.d/oscar-testbed.conf",
        "/etc/systemd/system/oscar-testbed-hostkeys.service",
        "/etc/systemd/system/ssh.service.wants/oscar-testbed-hostkeys.service",
        TESTBED_KEY_DIR,
    ]
    paths += ["/etc/systemd/system/" + unit for unit in MASKED_UNITS]
    return paths


def check_suite(suite):
    """Refuse a suite the recipe was not made for (its package list is Debian's of these)."""
    if suite not in SUITES:
        raise PrerequisiteError(f"unknown Debian suite '{suite}' (known: {', '.join(SUITES)})")
    return suite


def sources_list(mirror, security_mirror, suite=DEFAULT_SUITE):
    return (
        f"deb {mirror} {suite} main\n"
        f"deb {mirror} {suite}-updates main\n"
        f"deb {security_mirror} {suite}-security main\n"
    )


def mirrors():
    return (
        os.environ.get("OSCAR_TESTBED_MIRROR", DEFAULT_MIRROR),
        os.environ.get("OSCAR_TESTBED_SECURITY_MIRROR", DEFAULT_SECURITY_MIRROR),
    )


def recipe_digest(mirror, security_mirror, suite=DEFAULT_SUITE):
    """Digest of everything that goes into the image."""
    recipe = {
        "suite": suite,
        "mirror": mirror,
        "security_mirror": security_mirror,
        "packages": sorted(PACKAGES),
        "files": FILES,
        "masked": sorted(MASKED_UNITS),
        "enabled": sorted(ENABLED_UNITS),
        "key_dir": TESTBED_KEY_DIR,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_reference(suite=DEFAULT_SUITE):
    """The image name the current recipe builds for a suite."""
    return f"{IMAGE_REPOSITORY}:{recipe_digest(*mirrors(), suite=check_suite(suite))}"


def image_exists(reference):
    return commands.podman("image", "exists", reference, check=False).returncode == 0


def ensure_image(cache_dir, log=print, rebuild=False, suite=DEFAULT_SUITE):
    """Return the image for the current recipe of a suite, building it if needed."""
    reference = image_reference(suite)
    os.makedirs(cache_dir, exist_ok=True)
    # Two testbeds started at once must not both build.
    with open(os.path.join(cache_dir, "image.lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if rebuild and image_exists(reference):
            commands.podman("rmi", "--force", reference)
        if not image_exists(reference):
            build_image(reference, log=log, suite=suite)
            remove_stale_images(reference, suite)
    return reference


def build_image(reference, log=print, suite=DEFAULT_SUITE):
    mirror, security_mirror = mirrors()
    workdir = tempfile.mkdtemp(prefix="oscar-testbed-image-", dir="/var/tmp")
    root = os.path.join(workdir, "root")
    try:
        log(f"building {reference} ({suite}) with debootstrap from {mirror} (about a minute)")
        try:
            commands.run(
                [
                    commands.find_program("debootstrap"),
                    "--variant=minbase",
                    "--include=" + ",".join(PACKAGES),
                    suite,
                    root,
                    mirror,
                ],
                timeout=1800,
            )
        except CommandError as exc:
            raise PrerequisiteError(
                f"debootstrap could not build the node image from {mirror}: {exc.stderr.strip()[-400:]}"
            ) from exc
        customise(root, mirror, security_mirror, suite)
        commands.pipe(
            ["tar", "-C", root, "--numeric-owner", "-c", "."],
            [
                commands.find_program("podman"),
                *commands.PODMAN_GLOBAL_ARGS,
                "import",
                "--change",
                'CMD ["/sbin/init"]',
                "--change",
                f"LABEL oscar.testbed.recipe={recipe_digest(mirror, security_mirror, suite)}",
                "--change",
                f"LABEL {SUITE_LABEL}={suite}",
                "-",
                reference,
            ],
            timeout=900,
        )
        log(f"built {reference}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def customise(root, mirror, security_mirror, suite=DEFAULT_SUITE):
    """Turn a debootstrapped tree into a test host image."""
    files = dict(FILES)
    files["etc/apt/sources.list"] = sources_list(mirror, security_mirror, suite)
    for relative, content in files.items():
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
    os.makedirs(os.path.join(root, TESTBED_KEY_DIR.lstrip("/")), exist_ok=True)
    ssh_dir = os.path.join(root, "root/.ssh")
    os.makedirs(ssh_dir, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    systemctl = commands.find_program("systemctl")
    commands.run([systemctl, f"--root={root}", "mask", *MASKED_UNITS])
    commands.run([systemctl, f"--root={root}", "enable", *ENABLED_UNITS])
    # Every host gets its own identity at first boot.
    for name in os.listdir(os.path.join(root, "etc/ssh")):
        if name.startswith("ssh_host_"):
            os.unlink(os.path.join(root, "etc/ssh", name))
    with open(os.path.join(root, "etc/machine-id"), "w", encoding="ascii"):
        pass
    for leftover in ("var/lib/dbus/machine-id", "etc/hostname"):
        path = os.path.join(root, leftover)
        if os.path.lexists(path):
            os.unlink(path)
    # Package lists go stale; roles refresh them.  Caches only cost space.
    for directory in ("var/lib/apt/lists", "var/cache/apt/archives", "var/log"):
        _empty_directory(os.path.join(root, directory))
    for cache in ("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin"):
        path = os.path.join(root, cache)
        if os.path.exists(path):
            os.unlink(path)


def _empty_directory(path):
    if not os.path.isdir(path):
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            if entry.name != "partial":
                shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def cached_images():
    """References of every node image podman holds, whatever its recipe."""
    return list(cached_image_suites())


def cached_image_suites():
    """{reference: suite} of every node image podman holds; an unlabelled one is bookworm's."""
    listing = commands.podman(
        "images",
        "--filter",
        f"reference={IMAGE_REPOSITORY}",
        "--format",
        f'{{{{.Repository}}}}:{{{{.Tag}}}} {{{{index .Labels "{SUITE_LABEL}"}}}}',
    )
    suites = {}
    for line in listing.stdout.splitlines():
        reference, _space, suite = line.strip().partition(" ")
        if reference:
            # podman prints "<no value>" for a label an image lacks.
            suites[reference] = suite if suite in SUITES else DEFAULT_SUITE
    return suites


def remove_stale_images(keep, suite=DEFAULT_SUITE):
    """Remove the images of older recipes of the same suite that no container uses any more.

    Another suite's image is no older recipe of this one: testbeds of both
    releases share the machine.
    """
    for reference, image_suite in cached_image_suites().items():
        if reference != keep and image_suite == suite:
            commands.podman("rmi", reference, check=False)


def remove_all_images():
    """Remove every cached node image not in use; return the ones removed."""
    return [
        reference
        for reference in cached_images()
        if commands.podman("rmi", reference, check=False).returncode == 0
    ]

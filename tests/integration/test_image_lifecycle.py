"""Images on a real testbed: a head and four compute nodes, from build to rollback.

In order, on one testbed (the tests of this module depend on each other):
the wizard's first steps set up the head and the nodes and build two images,
one of each Debian release (bookworm with the OSCAR node's packages, trixie
without), through the head's package cache; a second build changes nothing;
each image gets a derived second version, whose difference from the first is
the package added; the four nodes are updated in place to the bookworm image
(a dry run first, which changes nothing), keep who they are and their mounted
home, and are completed again by the clients step; no drift is left, a file
changed on one node is reported for that node alone; then both images roll
back to version 1, and the nodes follow, two of them interrupted on the way
(one's rsync killed, one's power cut), which a rerun completes.  ODA records
every version, which one is current, and each node's version and state.
"""

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from testbed_helpers import (
    ODA_INVENTORY,
    ROOT,
    VENV_BIN,
    PlaybookRun,
    playbook_env,
    podman_objects,
    run_playbook,
)

from oscar_testbed.image import site_paths

NAME = "it-image"
NODES = ["node001", "node002", "node003", "node004"]
PLAYBOOK_TIMEOUT = 2400
IMAGES_ROOT = "/var/lib/oscar/images"
# The testbed's own access to its hosts (its sshd drop-in, key and host key
# unit) and the units it masks are the site's: an update must leave them, as
# a site lists its own files.
TESTBED_EXCLUDES = site_paths()
ADDED = "/usr/bin/tree"


def definitions(derived=False, pin=None):
    """The images of this test, as a site writes image_definitions."""
    images = [
        {"name": "debian12", "suite": "bookworm"},
        {"name": "debian13", "suite": "trixie", "oscar_packages": False},
    ]
    for image in images:
        if derived:
            image.update(packages=["tree"], base_version=1)
        if pin is not None:
            image["version"] = pin
    return images


@pytest.fixture(scope="module")
def bed(cli, tmp_path_factory):
    """The testbed, registered in its own ODA database, with a way to run playbooks on it."""
    database = tmp_path_factory.mktemp("image-oda") / "oda.db"
    url = f"sqlite:{database}"
    cli("--name", NAME, "up", "--nodes", str(len(NODES)), "--oda", url, timeout=1200)
    for host in ["head", *NODES]:
        cli("--name", NAME, "forget-apt-index", host)
    yield Bed(cli, url, database, tmp_path_factory.mktemp("image-vars"))
    cli("--name", NAME, "down", check=False)
    assert podman_objects(NAME) == [], "testbed objects left behind"


class Bed:
    def __init__(self, cli, url, database, vars_dir):
        self.cli = cli
        self.url = url
        self.database = database
        self.vars_dir = Path(vars_dir)
        self.env = playbook_env(url)

    def playbook_args(self, *args, extra=None):
        """A playbook's arguments, with extra variables passed as a file."""
        if extra is None:
            return list(args)
        path = self.vars_dir / f"vars-{len(list(self.vars_dir.iterdir()))}.json"
        path.write_text(json.dumps(extra))
        return [*args, "-e", f"@{path}"]

    def playbook(self, playbook, *args, extra=None):
        return run_playbook(
            playbook, *self.playbook_args(*args, extra=extra), oda_url=self.url, timeout=PLAYBOOK_TIMEOUT
        )

    def start_playbook(self, playbook, *args, extra=None):
        """A playbook run in the background, while the test does something to the hosts."""
        return Running(
            subprocess.Popen(
                [
                    str(VENV_BIN / "ansible-playbook"),
                    playbook,
                    "-i",
                    ODA_INVENTORY,
                    *self.playbook_args(*args, extra=extra),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
        )

    def oda(self, *args, check=True):
        result = subprocess.run(
            [str(VENV_BIN / "oda"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def ssh(self, host, command, check=True):
        result = self.cli("--name", NAME, "ssh", host, command, check=False, timeout=600)
        if check:
            assert result.returncode == 0, f"{host}: {command}: {result.stdout}{result.stderr}"
        return result

    def head_json(self, command):
        return json.loads(self.ssh("head", command).stdout)

    def query(self, sql, *params):
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, params).fetchall()

    def versions(self, image):
        listing = self.ssh("head", f"ls {IMAGES_ROOT}/{image}/versions").stdout.split()
        current = self.ssh("head", f"readlink {IMAGES_ROOT}/{image}/current").stdout.strip()
        return sorted(int(v) for v in listing), int(current.rsplit("/", 1)[-1])

    def image_module(self, module, **args):
        """One image module run on the head, through Ansible, as a site's ad-hoc task: its JSON result."""
        result = subprocess.run(
            [
                str(VENV_BIN / "ansible"),
                "head",
                "-i",
                ODA_INVENTORY,
                "-m",
                f"oscar.cluster.{module}",
                "-a",
                json.dumps(args),
                "--one-line",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        # One line: "head | SUCCESS => {...}".
        return json.loads(result.stdout.split(" => ", 1)[1])


class Running:
    def __init__(self, process):
        self.process = process

    def finish(self):
        stdout, stderr = self.process.communicate(timeout=PLAYBOOK_TIMEOUT)
        result = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
        return PlaybookRun(result)


WIZARD = ("site.yml", "--tags", "install_server,build_image,complete_setup")


@pytest.fixture(scope="module")
def built(bed):
    """The head, the nodes and both images, as the wizard's first steps make them."""
    run = bed.playbook(*WIZARD, extra={"image_definitions": definitions()})
    assert run.ok(), run.tail(120)
    # The nodes run the bookworm image from now on, as ODA says (the first build recorded it).
    bed.oda("node", "modify", "node[001-004]", "--image", "debian12")
    return run


def test_the_wizard_builds_one_image_of_each_release(bed, built):
    for image in ("debian12", "debian13"):
        assert bed.versions(image) == ([1], 1)
    assert bed.query("SELECT name, status FROM wizard_steps WHERE name = 'build_image'") == [
        ("build_image", "done")
    ]
    releases = {
        image: bed.ssh(
            "head", f". {IMAGES_ROOT}/{image}/current/root/etc/os-release && echo $VERSION_ID"
        ).stdout
        for image in ("debian12", "debian13")
    }
    assert releases == {"debian12": "12\n", "debian13": "13\n"}, releases
    # The OSCAR node's packages went into the bookworm image only.
    for image, has_slurmd in (("debian12", True), ("debian13", False)):
        # Asked of the image's own dpkg database: /usr/sbin/slurmd is an
        # alternative, an absolute link that would resolve on the head.
        found = bed.ssh(
            "head",
            f"dpkg-query --admindir={IMAGES_ROOT}/{image}/current/root/var/lib/dpkg"
            " --show --showformat='${db:Status-Status}' slurmd",
            check=False,
        )
        assert (found.stdout == "installed") == has_slurmd, (image, found.stdout, found.stderr)


def test_images_carry_no_node_identity(bed, built):
    for image in ("debian12", "debian13"):
        root = f"{IMAGES_ROOT}/{image}/current/root"
        assert bed.ssh("head", f"stat -c %s {root}/etc/machine-id").stdout.strip() == "0"
        keys = bed.ssh("head", f"ls {root}/etc/ssh/ | grep -c '^ssh_host_' || true").stdout.strip()
        assert keys == "0", f"{image} carries SSH host keys"
        assert bed.ssh("head", f"test -e {root}/etc/hostname", check=False).returncode != 0


def test_boot_artifacts_are_exported_and_sums_match(bed, built):
    for image in ("debian12", "debian13"):
        boot = f"{IMAGES_ROOT}/{image}/boot/1"
        listing = set(bed.ssh("head", f"ls {boot}").stdout.split())
        assert {"vmlinuz", "initrd.img", "root.squashfs", "SHA256SUMS", "boot.json"} <= listing, listing
        bed.ssh("head", f"cd {boot} && sha256sum --check --quiet SHA256SUMS")
        kernel = json.loads(bed.ssh("head", f"cat {boot}/boot.json").stdout)["kernel"]
        assert (
            bed.ssh("head", f"test -f {IMAGES_ROOT}/{image}/current/root/boot/vmlinuz-{kernel}").returncode
            == 0
        )


def test_oda_records_the_images_and_their_versions(bed, built):
    rows = dict(bed.query("SELECT name, current_version FROM images"))
    assert rows == {"debian12": 1, "debian13": 1}, rows
    versions = bed.query(
        "SELECT i.name, v.version, v.kernel FROM image_versions v"
        " JOIN images i ON i.id = v.image_id ORDER BY 1, 2"
    )
    assert [row[:2] for row in versions] == [("debian12", 1), ("debian13", 1)], versions
    assert all(kernel for *ignored, kernel in versions), versions


def test_a_second_build_changes_nothing(bed, built):
    again = bed.playbook("site.yml", "--tags", "build_image", extra={"image_definitions": definitions()})
    assert again.ok(), again.tail(120)
    assert again.changed() == {}, again.tail(120)
    assert bed.versions("debian12") == ([1], 1)


@pytest.fixture(scope="module")
def derived(bed, built):
    run = bed.playbook(
        "site.yml", "--tags", "build_image", extra={"image_definitions": definitions(derived=True)}
    )
    assert run.ok(), run.tail(120)
    return run


def test_a_derived_version_differs_by_what_was_added(bed, derived):
    for image in ("debian12", "debian13"):
        assert bed.versions(image) == ([1, 2], 2)
        info = bed.image_module("image_info", name=image, compare=[1, 2])
        assert ADDED in info["changes"]["added"], info["changes"]
        assert ADDED not in info["changes"]["removed"] + info["changes"]["changed"]
    # Unchanged files are shared between the versions: the same inode.
    inodes = bed.ssh(
        "head",
        f"stat -c %i {IMAGES_ROOT}/debian12/versions/[12]/root/usr/bin/ls",
    ).stdout.split()
    assert len(set(inodes)) == 1, inodes
    assert dict(bed.query("SELECT name, current_version FROM images")) == {"debian12": 2, "debian13": 2}


def update(bed, *args):
    return bed.playbook("playbooks/image_update.yml", *args, extra={"image_update_exclude": TESTBED_EXCLUDES})


def test_the_dry_run_lists_the_update_and_changes_nothing(bed, derived):
    before = {node: bed.ssh(node, "cat /etc/machine-id").stdout for node in NODES}
    dry = update(bed, "--check", "--diff")
    assert dry.ok(), dry.tail(120)
    assert re.search(r"node001 to debian12 version 2: \d+ created, \d+ updated, \d+ deleted", dry.output), (
        dry.tail()
    )
    for node in NODES:
        assert bed.ssh(node, f"test -e {ADDED}", check=False).returncode != 0, f"the dry run changed {node}"
        assert bed.ssh(node, "cat /etc/machine-id").stdout == before[node]
    assert {state for (state,) in bed.query("SELECT image_state FROM nodes WHERE name LIKE 'node%'")} == {
        None
    }


@pytest.fixture(scope="module")
def updated(bed, derived):
    home = bed.ssh("head", "echo kept > /home/oscar-image-test && cat /home/oscar-image-test").stdout
    assert home == "kept\n"
    identity = {
        node: bed.ssh(node, "cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub").stdout for node in NODES
    }
    run = update(bed)
    assert run.ok(), run.tail(120)
    return identity


def test_the_nodes_are_updated_in_place_and_stay_themselves(bed, updated):
    for node in NODES:
        bed.ssh(node, f"test -x {ADDED}")
        assert bed.ssh(node, "cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub").stdout == updated[node]
        assert bed.ssh(node, "hostname").stdout.strip() == node
        # The NFS home, mounted from the head, is not the image's to touch.
        assert bed.ssh(node, "cat /home/oscar-image-test").stdout == "kept\n"
    rows = bed.query(
        "SELECT name, image_version, image_state FROM nodes WHERE name LIKE 'node%' ORDER BY name"
    )
    assert rows == [(node, 2, "in-sync") for node in NODES], rows


def test_the_clients_step_completes_updated_nodes_and_slurm_runs(bed, updated):
    run = bed.playbook("site.yml", "--tags", "complete_setup")
    assert run.ok(), run.tail(120)
    sinfo = bed.ssh("head", "sinfo --noheader --Node --format=%N:%t").stdout
    assert sorted(sinfo.split()) == [f"{node}:idle" for node in NODES], sinfo
    job = bed.ssh("head", f"timeout 120 srun -N {len(NODES)} hostname").stdout
    assert sorted(job.split()) == NODES, job


def drift(bed):
    run = bed.playbook("playbooks/image_drift.yml", extra={"image_drift_exclude": TESTBED_EXCLUDES})
    assert run.ok(), run.tail(120)
    return {node: re.search(rf"msg\W+{node}: ([^\n\"']*)", run.output).group(1) for node in NODES}


def test_no_drift_is_left_and_a_changed_file_is_found(bed, updated):
    assert set(drift(bed).values()) == {"no drift"}
    bed.ssh("node003", "echo 'changed by hand' >> /etc/issue")
    found = drift(bed)
    assert "/etc/issue" in found["node003"], found
    assert {found[node] for node in NODES if node != "node003"} == {"no drift"}, found
    # The same from the head's shell, with C3's node ranges.
    site = " ".join(f"--exclude-path {path}" for path in TESTBED_EXCLUDES)
    typed = bed.ssh("head", f"cdrift --image debian12 --version 2 {site} -w 'node[001-004]'", check=False)
    assert "/etc/issue" in typed.stdout and "node003" in typed.stdout, typed.stdout + typed.stderr


def on_rsync(bed, node, signal):
    """On the node, as soon as an update's rsync runs there, send it the signal: a watcher process.

    It exits 0 once it has, 1 if no rsync came within a minute.
    """
    watcher = f"for i in $(seq 1200); do pkill -{signal} -x rsync && exit 0; sleep 0.05; done; exit 1"
    return subprocess.Popen(
        [sys.executable, "-m", "oscar_testbed", "--name", NAME, "ssh", node, watcher],
        env=bed.cli.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def rolled_back(bed, updated):
    """Both images back to version 1, and the nodes after them; two of them interrupted on the way.

    node003's rsync is killed as it starts, node004 loses power while its
    rsync is frozen: both keep the files they had (the update's changes land
    together at its end), boot, are marked update-failed in ODA, and the
    rerun completes them.
    """
    run = bed.playbook(
        "site.yml", "--tags", "build_image", extra={"image_definitions": definitions(derived=True, pin=1)}
    )
    assert run.ok(), run.tail(120)
    killer, freezer = on_rsync(bed, "node003", "KILL"), on_rsync(bed, "node004", "STOP")
    interrupted = bed.start_playbook(
        "playbooks/image_update.yml", extra={"image_update_exclude": TESTBED_EXCLUDES}
    )
    assert freezer.wait(timeout=120) == 0, "no rsync came to node004"
    bed.cli("--name", NAME, "kill", "node004")
    assert killer.wait(timeout=120) == 0, "no rsync came to node003"
    first = interrupted.finish()
    assert first.rc != 0, first.tail(120)
    assert {node: first.recap[node]["failed"] > 0 for node in NODES} == {
        "node001": False,
        "node002": False,
        "node003": True,
        "node004": True,
    }, first.tail(120)
    assert "The update of node003 did not finish" in first.output, first.tail(120)
    states = dict(bed.query("SELECT name, image_state FROM nodes WHERE name LIKE 'node%'"))
    assert states == {
        "node001": "in-sync",
        "node002": "in-sync",
        "node003": "update-failed",
        "node004": "update-failed",
    }, states
    bed.cli("--name", NAME, "start", "node004", timeout=600)
    for node in ("node003", "node004"):
        # Up and answering, as it was: version 2's file is still there, as nothing landed.
        assert bed.ssh(node, "systemctl is-active ssh").stdout.strip() == "active"
        bed.ssh(node, f"test -x {ADDED}")
    back = update(bed)
    assert back.ok(), back.tail(120)
    return run


def test_a_rollback_brings_images_and_nodes_back_to_version_1(bed, rolled_back):
    for image in ("debian12", "debian13"):
        assert bed.versions(image) == ([1, 2], 1)
    assert dict(bed.query("SELECT name, current_version FROM images")) == {"debian12": 1, "debian13": 1}
    for node in NODES:
        assert bed.ssh(node, f"test -e {ADDED}", check=False).returncode != 0, node
    assert set(bed.query("SELECT image_version, image_state FROM nodes WHERE name LIKE 'node%'")) == {
        (1, "in-sync")
    }
    assert set(drift(bed).values()) == {"no drift"}

"""cdrift run as a user runs it, against "nodes" that are local directories, with real rsync.

The nodes come from an Ansible inventory whose ansible_host is each node's
directory (the image library takes a path for host:/); their images, when
--image is not given, from a real SQLite ODA.  The command runs from this
tree's sources: a package directory of links to src/oscar_cluster and
plugins/module_utils, as ``pip install`` would lay them out.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.image_store import ImageStore
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda

ROOT = Path(__file__).resolve().parents[3]
NODES = ("node001", "node002", "node003")
STAMP = 1_700_000_000
COMMAND = "import sys; from oscar_cluster.c3.drift import main; sys.exit(main())"


def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        os.utime(full, (STAMP, STAMP))


@pytest.fixture
def package(tmp_path):
    """This tree's oscar_cluster package, importable from a directory of links."""
    top = tmp_path / "package" / "oscar_cluster"
    top.mkdir(parents=True)
    for entry in (ROOT / "src" / "oscar_cluster").iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    (top / "module_utils").symlink_to(ROOT / "plugins" / "module_utils")
    return str(tmp_path / "package")


@pytest.fixture
def cluster(tmp_path, package):
    """Images, three synced nodes, an inventory of them and an ODA naming their image."""
    store = ImageStore(str(tmp_path / "images"))
    for files in ({"/etc/issue": "Debian 12\n"}, {"/etc/issue": "Debian 12\n", "/usr/bin/tree": "tree\n"}):
        with store.staging("debian12") as staged:
            write_tree(os.path.join(staged, "root"), files)
            store.set_current("debian12", store.commit("debian12", staged, {"note": "t", "parent": None}))
    for node in NODES:
        write_tree(str(tmp_path / node), {"/etc/issue": "Debian 12\n", "/usr/bin/tree": "tree\n"})
    inventory = tmp_path / "inventory.yml"
    hosts = "".join("        %s:\n          ansible_host: %s\n" % (node, tmp_path / node) for node in NODES)
    inventory.write_text("all:\n  children:\n    oscar_clients:\n      hosts:\n" + hosts)
    url = "sqlite:%s" % (tmp_path / "oda.db")
    oda = Oda.open(url)
    try:
        with oda.db.transaction():
            oda.images.ensure("debian12")
            for node in NODES:
                oda.nodes.ensure(node, image="debian12")
    finally:
        oda.close()
    env = dict(
        os.environ,
        PYTHONPATH=package,
        OSCAR_ODA_URL=url,
        OSCAR_C3_CACHE=str(tmp_path / "cache"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        OSCAR_C3_PERSIST="0",
    )
    env.pop("OSCAR_C3_INVENTORY", None)

    def cdrift(*args):
        return subprocess.run(
            [
                sys.executable,
                "-c",
                COMMAND,
                "--inventory",
                str(inventory),
                "--images-root",
                store.root,
                *args,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
            cwd=str(tmp_path),
        )

    return cdrift, tmp_path


def test_no_drift_then_a_changed_file_is_reported_for_its_node_only(cluster):
    cdrift, nodes = cluster
    clean = cdrift("--image", "debian12", "-w", "node[001-003]")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert sorted(clean.stdout.splitlines()) == ["node%03d: no drift" % n for n in (1, 2, 3)]
    with open(nodes / "node002" / "etc" / "issue", "a") as handle:
        handle.write("changed by hand\n")
    found = cdrift("--image", "debian12", "--version", "2", "-w", "node[001-003]")
    assert found.returncode == 1, found.stdout + found.stderr
    assert sorted(found.stdout.splitlines()) == [
        "node001: no drift",
        "node002: changed /etc/issue",
        "node003: no drift",
    ]
    assert "failed: node002 (1 path differs from debian12 version 2)" in found.stderr
    # A site's path is not drift when excluded, as for image_sync.
    excluded = cdrift("--image", "debian12", "--exclude-path", "/etc/issue", "-w", "node002")
    assert excluded.returncode == 0 and excluded.stdout == "node002: no drift\n", excluded.stderr
    refused = cdrift("--image", "debian12", "--exclude-path", "etc/issue", "-w", "node002")
    assert refused.returncode != 0 and "exclude entry 'etc/issue' is not an absolute path" in refused.stderr


def test_version_one_lacks_what_the_nodes_have_and_odas_image_is_used_without_image(cluster):
    cdrift, _nodes = cluster
    older = cdrift("--image", "debian12", "--version", "1", "-w", "node001")
    assert older.returncode == 1, older.stderr
    assert older.stdout.splitlines() == [
        "node001: extra   /usr",
        "node001: extra   /usr/bin",
        "node001: extra   /usr/bin/tree",
    ]
    # Without --image: each node's image from ODA, its current version (2).
    from_oda = cdrift("-w", "node[001-002]")
    assert from_oda.returncode == 0, from_oda.stderr
    assert sorted(from_oda.stdout.splitlines()) == ["node001: no drift", "node002: no drift"]


def test_a_missing_version_or_node_fails_with_a_non_zero_status(cluster):
    cdrift, nodes = cluster
    missing = cdrift("--image", "debian12", "--version", "5", "-w", "node001")
    assert missing.returncode != 0
    assert "image 'debian12' has no version 5" in missing.stderr
    (nodes / "node003" / "etc" / "issue").unlink()
    os.rmdir(nodes / "node003" / "etc")
    gone = cdrift("--image", "debian12", "--checksum", "-w", "node003")
    assert gone.returncode == 1 and gone.stdout.splitlines() == [
        "node003: missing /etc",
        "node003: missing /etc/issue",
    ]
    bad = cdrift("--version", "zero")
    assert bad.returncode == 2 and "'zero' is not a version number" in bad.stderr

"""Image updates and drift with real rsync between real trees: a version on the head, a "node" directory.

The node is a local directory (the library takes an absolute path for
host:/), so every run here is rsync's own: its itemized output, its hard
links, its delayed updates, and a run killed halfway then completed.
"""

import os
import re
import signal
import subprocess
import time

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import image_sync
from ansible_collections.oscar.cluster.plugins.module_utils.image_errors import (
    ImageInputError,
    ImageNotFoundError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.image_store import ImageStore
from ansible_collections.oscar.cluster.plugins.module_utils.image_sync import ImageSync

STAMP = 1_700_000_000
IMAGE = {
    "/etc/issue": "Debian GNU/Linux 12\n",
    "/etc/motd": "image motd\n",
    "/usr/bin/tool": "tool v1\n" * 512,
    "/usr/share/doc/tool/README": "read me\n",
    # Identity and role-managed files an image may carry: never pushed.
    "/etc/machine-id": "",
    "/etc/hosts": "127.0.0.1 localhost\n",
    "/var/log/image-build.log": "built\n",
}
NODE = {
    "/etc/issue": "Debian GNU/Linux 12 (old)\n",
    "/usr/bin/old-tool": "gone in the image\n",
    "/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
    "/etc/hostname": "node001\n",
    "/etc/hosts": "10.0.0.1 head\n10.0.0.11 node001\n",
    "/etc/ssh/ssh_host_ed25519_key": "node's private host key\n",
    "/etc/munge/munge.key": "the cluster's munge key\n",
    "/home/alice/thesis.tex": "chapter 1\n",
    "/var/log/syslog": "node's log\n",
}


def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
        os.utime(full, (STAMP, STAMP))


def commit(store, name, files, links=(), symlinks=()):
    """A new version of an image from files, hard links (new, existing) and symlinks (path, target)."""
    with store.staging(name) as staged:
        root = os.path.join(staged, "root")
        write_tree(root, files)
        for new, existing in links:
            os.link(os.path.join(root, existing.lstrip("/")), os.path.join(root, new.lstrip("/")))
        for path, pointing in symlinks:
            os.symlink(pointing, os.path.join(root, path.lstrip("/")))
        number = store.commit(name, staged, {"note": "test", "parent": None, "kernel": None})
    store.set_current(name, number)
    return number


def snapshot(root):
    """Every path under root with its mode, size, mtime and content: equal snapshots, nothing changed."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as handle:
                    content = handle.read()
            found[os.path.relpath(path, root)] = (info.st_mode, info.st_size, info.st_mtime_ns, content)
    return found


def read(root, path):
    with open(os.path.join(root, path.lstrip("/"))) as handle:
        return handle.read()


@pytest.fixture
def store(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    commit(
        store,
        "debian12",
        IMAGE,
        links=[("/usr/bin/tool-alias", "/usr/bin/tool")],
        symlinks=[("/etc/os", "issue")],
    )
    return store


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node001"
    write_tree(str(root), NODE)
    return str(root)


def syncer(store, node, version=None, **kwargs):
    return ImageSync(store, "debian12", version, destination=node, **kwargs)


def test_an_update_brings_the_node_to_the_version_and_keeps_what_is_the_node_s(store, node):
    result = syncer(store, node).update()
    assert result["changed"] is True and result["version"] == 1
    files = result["files"]
    assert {
        "/usr/bin/tool",
        "/usr/bin/tool-alias",
        "/etc/os",
        "/etc/motd",
        "/usr/share/doc/tool/README",
    } <= set(files["created"])
    assert files["updated"] == ["/etc/issue"]
    assert files["deleted"] == ["/usr/bin/old-tool"]
    assert result["bytes_sent"] > 4096  # the tool's 4 KiB went
    assert read(node, "/etc/issue") == IMAGE["/etc/issue"]
    assert not os.path.exists(os.path.join(node, "usr/bin/old-tool"))
    # Hard links stay hard links, symbolic links stay links.
    tool, alias = (
        os.lstat(os.path.join(node, "usr/bin/tool")),
        os.lstat(os.path.join(node, "usr/bin/tool-alias")),
    )
    assert tool.st_ino == alias.st_ino and tool.st_nlink == 2
    assert os.readlink(os.path.join(node, "etc/os")) == "issue"
    # Identity, role-managed files, logs and home: as they were, though the image has some of them.
    for path in (
        "/etc/machine-id",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/munge/munge.key",
        "/home/alice/thesis.tex",
        "/var/log/syslog",
    ):
        assert read(node, path) == NODE[path], path
    assert not os.path.exists(os.path.join(node, "var/log/image-build.log"))


def test_a_second_update_changes_nothing_and_leaves_no_drift(store, node):
    syncer(store, node).update()
    before = snapshot(node)
    again = syncer(store, node).update()
    assert again["changed"] is False
    assert again["files"] == {"created": [], "updated": [], "deleted": []}
    assert snapshot(node) == before
    assert syncer(store, node).drift() == {
        "version": 1,
        "drift": {"missing": [], "extra": [], "changed": []},
        "differs": False,
    }


def test_the_dry_run_lists_what_the_update_does_and_changes_nothing(store, node):
    before = snapshot(node)
    planned = syncer(store, node).update(dry_run=True)
    assert snapshot(node) == before
    assert planned["changed"] is True
    done = syncer(store, node).update()
    assert planned["files"] == done["files"]


def test_drift_lists_missing_extra_and_changed_paths_but_not_the_node_s_own(store, node):
    syncer(store, node).update()
    with open(os.path.join(node, "etc/issue"), "a") as handle:
        handle.write("changed by hand\n")
    os.unlink(os.path.join(node, "usr/share/doc/tool/README"))
    write_tree(node, {"/usr/local/bin/hand-made": "#!/bin/sh\n"})
    # The node's own files changing is not drift, nor a directory's time.
    write_tree(node, {"/etc/hosts": "10.0.0.1 head\n", "/var/log/syslog": "more\n", "/tmp/x": "x"})
    os.utime(os.path.join(node, "usr/bin"), (1, 1))
    before = snapshot(node)
    result = syncer(store, node).drift()
    assert snapshot(node) == before, "drift changed the node"
    assert result["differs"] is True
    assert result["drift"] == {
        "missing": ["/usr/share/doc/tool/README"],
        "extra": ["/usr/local", "/usr/local/bin", "/usr/local/bin/hand-made"],
        "changed": ["/etc/issue"],
    }
    assert image_sync.report_lines(result["drift"]) == [
        "changed /etc/issue",
        "extra   /usr/local",
        "extra   /usr/local/bin",
        "extra   /usr/local/bin/hand-made",
        "missing /usr/share/doc/tool/README",
    ]


def test_checksum_finds_a_change_that_kept_size_and_time(store, node):
    syncer(store, node).update()
    path = os.path.join(node, "etc/motd")
    with open(path, "w") as handle:
        handle.write("IMAGE MOTD\n")  # same size
    os.utime(path, (STAMP, STAMP))
    assert syncer(store, node).drift()["differs"] is False
    assert syncer(store, node).drift(checksum=True)["drift"]["changed"] == ["/etc/motd"]
    # A file equal in content whose time alone differs is not drift for --checksum.
    os.utime(os.path.join(node, "etc/issue"), (STAMP + 60, STAMP + 60))
    assert syncer(store, node).drift(checksum=True)["drift"]["changed"] == ["/etc/motd"]


def test_a_new_version_updates_and_the_old_one_rolls_back(store, node):
    syncer(store, node).update()
    files = dict(IMAGE, **{"/usr/bin/tool": "tool v2.0\n" * 512, "/usr/bin/tree": "tree\n"})
    del files["/etc/motd"]
    assert commit(store, "debian12", files) == 2
    forward = syncer(store, node).update()
    assert forward["version"] == 2
    assert forward["files"] == {
        "created": ["/usr/bin/tree"],
        "updated": ["/usr/bin/tool"],
        "deleted": ["/etc/motd", "/etc/os", "/usr/bin/tool-alias"],
    }
    back = syncer(store, node, version=1).update()
    assert back["version"] == 1 and "/usr/bin/tree" in back["files"]["deleted"]
    assert read(node, "/usr/bin/tool") == IMAGE["/usr/bin/tool"]
    assert syncer(store, node, version=1).drift()["differs"] is False


def test_a_version_or_image_that_does_not_exist_is_named(store, node):
    with pytest.raises(ImageNotFoundError, match=r"image 'debian12' has no version 7 \(versions: 1\)"):
        syncer(store, node, version=7)
    with pytest.raises(ImageNotFoundError, match="image 'debian13' does not exist"):
        ImageSync(store, "debian13", destination=node)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("etc/site.conf", "exclude entry 'etc/site.conf' is not an absolute path"),
        ("/etc/../shadow", "exclude entry '/etc/../shadow' contains '..'"),
        ("", "exclude entry '' is not an absolute path"),
        ("/", "exclude entry '/' would exclude the whole tree"),
        (5, "exclude entry 5 is not an absolute path"),
        ("/etc/a\nb", "contains a line break"),
    ],
)
def test_bad_exclude_entries_are_refused_by_name(store, node, entry, message):
    before = snapshot(node)
    with pytest.raises(ImageInputError, match=re.escape(message)):
        syncer(store, node, exclude=["/etc/good", entry]).update()
    assert snapshot(node) == before


def test_a_site_exclude_protects_a_node_path_from_update_and_delete(store, node):
    write_tree(node, {"/etc/ssh/sshd_config.d/site.conf": "Port 2222\n"})
    result = syncer(store, node, exclude=["/etc/ssh/sshd_config.d/site.conf", "/etc/issue"]).update()
    assert read(node, "/etc/ssh/sshd_config.d/site.conf") == "Port 2222\n"
    assert read(node, "/etc/issue") == NODE["/etc/issue"]
    assert "/etc/issue" not in result["files"]["updated"]
    assert (
        syncer(store, node, exclude=["/etc/ssh/sshd_config.d/site.conf", "/etc/issue"]).drift()["differs"]
        is False
    )
    # Without the exclude, the site's file is extra on the node.
    assert "/etc/ssh/sshd_config.d/site.conf" in syncer(store, node).drift()["drift"]["extra"]


def test_overrides_are_laid_over_the_image(store, node, tmp_path):
    overrides = tmp_path / "overrides"
    write_tree(str(overrides), {"/etc/motd": "site motd\n", "/etc/site/extra.conf": "x=1\n"})
    result = syncer(store, node, overrides=str(overrides)).update()
    assert read(node, "/etc/motd") == "site motd\n"
    assert read(node, "/etc/site/extra.conf") == "x=1\n"
    assert read(node, "/usr/bin/tool") == IMAGE["/usr/bin/tool"]
    assert "/etc/site/extra.conf" in result["files"]["created"]
    assert syncer(store, node, overrides=str(overrides)).update()["changed"] is False
    assert syncer(store, node, overrides=str(overrides)).drift()["differs"] is False


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("/etc/machine-id", "/etc/machine-id"),
        ("/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_*"),
        ("/etc/hostname", "/etc/hostname"),
        ("/var/log/site.log", "/var/log"),
        ("/root/.ssh/authorized_keys", "/root/.ssh"),
    ],
)
def test_overrides_that_would_overwrite_identity_are_refused_by_path(store, node, tmp_path, path, pattern):
    overrides = tmp_path / "overrides"
    write_tree(str(overrides), {"/etc/motd": "site motd\n", path: "site's\n"})
    before = snapshot(node)
    with pytest.raises(ImageInputError) as refused:
        syncer(store, node, overrides=str(overrides)).update()
    assert "holds %s, which an update never touches (%s:" % (path, pattern) in str(refused.value)
    assert snapshot(node) == before


def test_missing_overrides_directory_is_refused(store, node, tmp_path):
    with pytest.raises(ImageInputError, match=r"overrides directory .*/nowhere does not exist"):
        syncer(store, node, overrides=str(tmp_path / "nowhere"))


def test_an_update_killed_midway_leaves_the_files_as_they_were_and_a_rerun_completes_it(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    names = ["/data/f%02d" % number for number in range(40)]
    with store.staging("big") as staged:
        for path in names:
            full = os.path.join(staged, "root", path.lstrip("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as handle:
                handle.write(os.urandom(64 * 1024))
        store.set_current("big", store.commit("big", staged, {"note": "big", "parent": None}))
    node = str(tmp_path / "node")
    write_tree(node, {path: "old\n" for path in names})
    write_tree(node, {"/data/stale": "to be deleted\n"})
    sync = ImageSync(store, "big", destination=node)
    argv = sync.argv()
    argv.insert(1, "--bwlimit=256")  # 2.5 MiB at 256 KiB/s: about ten seconds, killed well before
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    partial = os.path.join(node, "data", ".~tmp~")
    deadline = time.monotonic() + 20
    try:
        while not (os.path.isdir(partial) and os.listdir(partial)):
            assert time.monotonic() < deadline, "rsync put no file in its partial directory"
            assert process.poll() is None, "rsync ended before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # The node's files are as they were: nothing landed, nothing deleted yet.
    for path in names:
        assert read(node, path) == "old\n", path
    assert read(node, "/data/stale") == "to be deleted\n"
    assert os.listdir(partial), "the partial directory is what a rerun completes from"
    done = sync.update()
    # Deleted: the stale file, and the temporary file rsync was writing when killed.
    assert done["changed"] is True and "/data/stale" in done["files"]["deleted"]
    assert all(path.startswith("/data/.f") for path in done["files"]["deleted"] if path != "/data/stale")
    for path in names:
        image_file = os.path.join(store.version_root("big", 1), path.lstrip("/"))
        with open(image_file, "rb") as version, open(os.path.join(node, path.lstrip("/")), "rb") as copy:
            assert version.read() == copy.read(), path
    assert sorted(os.listdir(os.path.join(node, "data"))) == sorted(os.path.basename(p) for p in names)
    assert sync.drift(checksum=True)["differs"] is False


def test_itemized_output_of_real_rsync_is_parsed_with_odd_names(tmp_path):
    source, destination = tmp_path / "source", tmp_path / "destination"
    write_tree(str(source), {"/a dir/with space": "x", "/caf\u00e9": "y", "/kept": "same", "/changed": "new"})
    write_tree(str(destination), {"/kept": "same", "/changed": "old!", "/extra file": "z"})
    os.utime(destination, (1, 1))
    argv = image_sync.rsync_argv("rsync", [str(source)], str(destination) + "/", dry_run=True)
    rc, out, err = image_sync.run_command(argv)
    assert rc == 0, err
    assert "Total bytes sent: " in out and image_sync.bytes_sent(out) > 0
    items = image_sync.parse_itemized(out)
    assert sorted((kind, path) for kind, _flags, path in items) == [
        ("changed", "/changed"),
        ("created", "/a dir"),
        ("created", "/a dir/with space"),
        ("created", "/caf\u00e9"),
        ("deleting", "/extra file"),
    ]


def test_the_argv_and_the_destination_over_ssh(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("key")
    rsh = image_sync.ssh_command(str(key), 2222)
    assert rsh == (
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o ConnectTimeout=30"
        " -o ServerAliveInterval=10 -o ServerAliveCountMax=3 -i %s -p 2222" % key
    )
    assert image_sync.target("10.0.0.11") == ("root@10.0.0.11:/", False)
    assert image_sync.target("fd00::11", "admin") == ("admin@[fd00::11]:/", False)
    assert image_sync.target("/srv/node/") == ("/srv/node/", True)
    for bad in ("-oProxyCommand=touch /tmp/x", "a b", "user@host", ""):
        with pytest.raises(ImageInputError, match="destination"):
            image_sync.target(bad)
    argv = image_sync.rsync_argv("/usr/bin/rsync", ["/img/root"], "root@n:/", excludes=["/site"], rsh=rsh)
    for option in ("--hard-links", "--acls", "--xattrs", "--numeric-ids", "--one-file-system", "--delete"):
        assert option in argv
    assert "--delay-updates" in argv and "--delete-delay" in argv and "--no-human-readable" in argv
    assert argv.index("--exclude=/etc/machine-id") < argv.index("--exclude=/site") < argv.index("/img/root/")
    assert argv[-1] == "root@n:/" and "--rsh=%s" % rsh in argv


@pytest.mark.parametrize(
    ("path", "protected"),
    [
        ("/etc/ssh/ssh_host_ecdsa_key.pub", True),
        ("/etc/ssh/sshd_config", False),
        ("/var/log/apt/history.log", True),
        ("/var/lib/dpkg/status", False),
        ("/etc/systemd/system/home.mount", True),
        ("/etc/systemd/system/remote-fs.target.wants/opt-cluster.mount", True),
        ("/etc/systemd/system/multi-user.target.wants/slurmd.service", False),
        ("/etc/munge/munge.key", True),
        ("/etc/hostnames", False),
        ("/etc", False),
    ],
)
def test_which_paths_are_never_touched(path, protected):
    assert (image_sync.protection(path) is not None) is protected


# Accounts renumbered by the image: a node not installed from it (its munge
# and slurm users made in another order) gets the image's /etc/passwd, and the
# files the update leaves (the node's own) must follow, or munged and slurmd
# no longer own their key, state and logs.
NODE_PASSWD = (
    "root:x:0:0::/root:/bin/bash\nmunge:x:201:201::/nonexistent:/bin/false\nslurm:x:202:202::/:/bin/false\n"
)
NODE_GROUP = "root:x:0:\nmunge:x:201:\nslurm:x:202:\n"
# munge and slurm swapped, and a new account the node never had.
IMAGE_PASSWD = (
    "root:x:0:0::/root:/bin/bash\nmunge:x:202:202::/nonexistent:/bin/false\nslurm:x:201:201::/:/bin/false\n"
)
IMAGE_GROUP = "root:x:0:\nmunge:x:202:\nslurm:x:201:\n_new:x:300:\n"
OWNED = {
    "/etc/munge/munge.key": 201,  # role-managed: left by the push
    "/var/lib/munge/munged.seed": 201,  # node state
    "/var/log/munge/munged.log": 201,  # logs
    "/var/log/slurm/slurmd.log": 202,
    "/home/alice/thesis.tex": 201,  # NFS: never walked, whatever it holds
}


@pytest.fixture
def renumbering(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    commit(store, "debian12", dict(IMAGE, **{"/etc/passwd": IMAGE_PASSWD, "/etc/group": IMAGE_GROUP}))
    root = str(tmp_path / "node001")
    write_tree(root, dict(NODE, **{"/etc/passwd": NODE_PASSWD, "/etc/group": NODE_GROUP}))
    for accounts in ("etc/passwd", "etc/group"):
        # As long as the image's and as old: rsync's quick check must see another time.
        os.utime(os.path.join(root, accounts), (STAMP + 60, STAMP + 60))
    for path, owner in OWNED.items():
        full = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "a"):
            pass
        os.chown(full, owner, owner)
    return store, root


def owners(root):
    return {path: os.lstat(os.path.join(root, path.lstrip("/"))).st_uid for path in OWNED}


def test_the_node_s_own_files_follow_accounts_the_image_renumbers(renumbering):
    store, node = renumbering
    result = syncer(store, node).update()
    assert result["accounts"] == {
        "users": {"munge": [201, 202], "slurm": [202, 201]},
        "groups": {"munge": [201, 202], "slurm": [202, 201]},
    }
    assert read(node, "/etc/passwd") == IMAGE_PASSWD
    assert owners(node) == {
        "/etc/munge/munge.key": 202,
        "/var/lib/munge/munged.seed": 202,
        "/var/log/munge/munged.log": 202,
        "/var/log/slurm/slurmd.log": 201,
        "/home/alice/thesis.tex": 201,
    }
    assert os.lstat(os.path.join(node, "var/log/munge/munged.log")).st_gid == 202
    assert result["owners_remapped"] >= 4
    assert not os.path.exists(os.path.join(node, image_sync.SAVED_ACCOUNTS.lstrip("/")))
    # Done: the second run finds nothing to renumber, changes nothing.
    before = snapshot(node)
    again = syncer(store, node).update()
    assert again["changed"] is False and again["owners_remapped"] == 0
    assert again["accounts"] == {"users": {}, "groups": {}}
    assert snapshot(node) == before


def test_the_dry_run_names_the_renumbered_accounts_and_changes_nothing(renumbering):
    store, node = renumbering
    before = snapshot(node)
    planned = syncer(store, node).update(dry_run=True)
    assert planned["accounts"]["users"] == {"munge": [201, 202], "slurm": [202, 201]}
    assert planned["owners_remapped"] == 0
    assert snapshot(node) == before


def test_a_rerun_after_the_push_landed_but_not_the_owners_still_remaps(renumbering):
    store, node = renumbering

    def cut_before_remap(argv):
        if any('"action": "remap"' in word for word in argv):
            return 137, "", "killed"
        return image_sync.run_command(argv)

    with pytest.raises(image_sync.ImageCommandError, match="remapping the accounts"):
        syncer(store, node, runner=cut_before_remap).update()
    # The push landed (the image's accounts), the node's files not yet followed...
    assert read(node, "/etc/passwd") == IMAGE_PASSWD
    assert owners(node)["/etc/munge/munge.key"] == 201
    assert os.path.exists(os.path.join(node, image_sync.SAVED_ACCOUNTS.lstrip("/")))
    # ...and the rerun knows the ids the node had from what it saved.
    done = syncer(store, node).update()
    assert done["accounts"]["users"] == {"munge": [201, 202], "slurm": [202, 201]}
    assert owners(node)["/etc/munge/munge.key"] == 202
    assert owners(node)["/var/log/slurm/slurmd.log"] == 201
    assert not os.path.exists(os.path.join(node, image_sync.SAVED_ACCOUNTS.lstrip("/")))


def test_account_ids_read_passwd_and_group_texts():
    assert image_sync.account_ids(
        "a:x:1:1::/:/bin/sh\n# comment\nbad line\nb:x:2:\na:x:9:9::/:/bin/sh\n"
    ) == {
        "a": 1,
        "b": 2,
    }
    assert image_sync.id_changes("a:x:1:\nb:x:2:\n", "a:x:1:\nb:x:3:\nc:x:4:\n") == {"b": [2, 3]}

"""The head's per-node SSH host keys, made with the real ssh-keygen: whole sets, kept, one per node."""

import os
import stat
import subprocess
import threading

import pytest

from oscar_cluster.network_boot import host_keys

TYPES = ["rsa", "ecdsa", "ed25519"]


@pytest.fixture
def store(tmp_path):
    return host_keys.HostKeyStore(str(tmp_path / "host-keys"))


def fingerprint(public):
    result = subprocess.run(
        ["ssh-keygen", "-l", "-f", "/dev/stdin"], input=public, capture_output=True, text=True, check=True
    )
    return result.stdout.split()[1]


def test_a_node_gets_a_whole_set_made_once_and_root_alone_reads_it(store, tmp_path):
    keys = store.keys("node001")
    assert [key["type"] for key in keys] == TYPES
    for key in keys:
        assert key["name"] == "ssh_host_%s_key" % key["type"]
        # The private key is the public one's pair.
        derived = subprocess.run(
            ["ssh-keygen", "-y", "-f", os.path.join(store.directory, "node001", key["name"])],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert derived.split()[:2] == key["public"].split()[:2]
        mode = stat.S_IMODE(os.stat(os.path.join(store.directory, "node001", key["name"])).st_mode)
        assert mode == 0o600
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    assert store.keys("node001") == keys
    assert sorted(os.listdir(store.directory)) == ["node001"], "nothing left aside"


def test_each_node_has_keys_of_its_own(store):
    first = {fingerprint(key["public"]) for key in store.keys("node001")}
    second = {fingerprint(key["public"]) for key in store.keys("node002")}
    assert len(first) == len(second) == 3 and first.isdisjoint(second)


def test_a_missing_type_is_made_and_the_others_kept(store):
    keys = store.keys("node001")
    os.unlink(os.path.join(store.directory, "node001", "ssh_host_ecdsa_key.pub"))
    again = store.keys("node001")
    assert [key["public"] for key in again if key["type"] != "ecdsa"] == [
        key["public"] for key in keys if key["type"] != "ecdsa"
    ]
    assert again[1]["public"] != keys[1]["public"]


def test_plans_asked_at_once_get_the_same_keys(store):
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(store.keys("node007"))) for _thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4 and all(answer == answers[0] for answer in answers)


@pytest.mark.parametrize("name", ["../etc", ".hidden", "a/b", "", None, "x" * 300])
def test_a_name_that_is_no_node_name_is_refused(store, name):
    with pytest.raises(host_keys.HostKeyError, match="not a node name"):
        store.keys(name)
    assert not os.path.exists(store.directory)


def test_a_keygen_that_fails_leaves_nothing_behind(tmp_path):
    store = host_keys.HostKeyStore(str(tmp_path / "host-keys"), keygen="/bin/false")
    with pytest.raises(host_keys.HostKeyError, match="could not make the rsa host key of node001"):
        store.keys("node001")
    assert os.listdir(store.directory) == []


def test_a_keygen_that_is_missing_is_named(tmp_path):
    store = host_keys.HostKeyStore(str(tmp_path / "host-keys"), keygen=str(tmp_path / "no-keygen"))
    with pytest.raises(host_keys.HostKeyError, match="cannot run"):
        store.keys("node001")


def test_ensure_says_whether_it_made_keys(store):
    assert store.ensure("node001") is True
    assert store.ensure("node001") is False
    os.unlink(os.path.join(store.directory, "node001", "ssh_host_rsa_key"))
    assert store.ensure("node001") is True

"""ssh_config files resolved once per host when the inventory is built, with OpenSSH's precedence."""

import pytest

from oscar_cluster.c3 import inventory, paths, sshconfig

CONFIG = """\
# Written by a tool
Host head 10.0.0.10
  HostName 10.0.0.10
  User root
  IdentityFile ~/keys/head
  KexAlgorithms curve25519-sha256
  Ciphers aes256-gcm@openssh.com,aes256-ctr

Host node* !node9
  Port 2222
  User admin
  IdentityFile /keys/nodes
  UserKnownHostsFile /state/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 7

Host *
  User nobody
  Port 22
  IdentityFile /keys/default
  StrictHostKeyChecking=no
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    sshconfig._parsed.clear()
    return str(path)


def test_the_first_value_wins_and_identity_files_add_up(config):
    settings = sshconfig.resolve([config], "node3")
    assert settings["port"] == "2222"
    assert settings["user"] == "admin"
    assert settings["identityfile"] == ["/keys/nodes", "/keys/default"]
    assert settings["userknownhostsfile"] == "/state/known_hosts"
    assert settings["stricthostkeychecking"] == "yes"
    assert settings["connecttimeout"] == "7"
    assert "batchmode" not in settings


def test_negated_patterns_exclude_a_host(config):
    settings = sshconfig.resolve([config], "node9")
    assert (settings["user"], settings["port"], settings["stricthostkeychecking"]) == ("nobody", "22", "no")


def test_a_host_block_matches_by_name_or_address_and_expands_home(config):
    settings = sshconfig.resolve([config], "10.0.0.10")
    assert settings["hostname"] == "10.0.0.10"
    assert settings["kexalgorithms"] == "curve25519-sha256"
    assert settings["ciphers"] == "aes256-gcm@openssh.com,aes256-ctr"
    assert settings["identityfile"][0].endswith("/keys/head") and not settings["identityfile"][0].startswith(
        "~"
    )


@pytest.mark.parametrize(
    "line", ["Match host node1", "Include other.conf", "ProxyJump gateway", "IdentityFile ~/.ssh/id_%h"]
)
def test_what_is_not_resolved_here_is_left_to_asyncssh(tmp_path, line):
    path = tmp_path / "ssh_config"
    path.write_text("Host node1\n  User root\n  %s\n" % line)
    sshconfig._parsed.clear()
    assert sshconfig.resolve([str(path)], "node1") is None


def test_host_from_vars_resolves_the_file_and_command_line_and_ansible_win(config):
    host = inventory.host_from_vars(
        "node3", {"ansible_host": "node3", "ansible_ssh_common_args": "-F %s" % config}
    )
    assert host.resolved
    assert (host.port, host.user, host.known_hosts, host.connect_timeout) == (
        2222,
        "admin",
        ["/state/known_hosts"],
        7.0,
    )
    assert host.keys == ["/keys/nodes", "/keys/default"]
    overridden = inventory.host_from_vars(
        "node3",
        {
            "ansible_host": "node3",
            "ansible_user": "alice",
            "ansible_ssh_private_key_file": "/keys/alice",
            "ansible_ssh_common_args": "-F %s -p 2200 -o StrictHostKeyChecking=no" % config,
        },
    )
    assert (overridden.port, overridden.user, overridden.check_host_keys) == (2200, "alice", False)
    assert overridden.keys[0] == "/keys/alice"


def test_a_changed_ssh_config_makes_the_cached_inventory_stale(config, tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    host = inventory.host_from_vars(
        "node3", {"ansible_host": "node3", "ansible_ssh_common_args": "-F %s" % config}
    )
    cached = inventory.Inventory(source="test", hosts={"node3": host})
    path = str(tmp_path / "cache" / "inventory.json")
    inventory._write_cache(path, "digest", cached)
    assert inventory._read_cache(path, "digest").hosts["node3"].port == 2222
    with open(config, "a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    assert inventory._read_cache(path, "digest") is None

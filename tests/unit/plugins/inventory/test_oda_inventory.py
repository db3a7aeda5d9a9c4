"""The oscar.cluster.oda inventory plugin, read by Ansible's own ansible-inventory."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_install
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda

ROOT = pathlib.Path(__file__).resolve().parents[4]
BIN = pathlib.Path(sys.executable).parent


def ansible_inventory(source, *args, env=None, check=True):
    """Run ansible-inventory from the repository root, as a user would; return (rc, stdout, stderr)."""
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1")
    environment.pop("OSCAR_ODA_URL", None)
    environment.update(env or {})
    result = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A small cluster: a head on two networks, four nodes of which one dead and one excluded."""
    path = tmp_path_factory.mktemp("oda") / "oda.db"
    url = "sqlite:%s" % path
    oda = Oda.open(url)
    oda.networks.ensure("public", "10.0.0.0/24", domain="example.org")
    oda.networks.ensure("private", "10.1.0.0/24", domain="cluster")
    oda.images.ensure("deb12")
    oda.groups.ensure("gpu")
    oda.nodes.ensure(
        "head",
        groups=["oscar_server"],
        nics=[
            {"name": "eth0", "ip": "10.0.0.10", "network": "public"},
            {"name": "eth1", "ip": "10.1.0.1", "network": "private", "mac": "02:00:0a:01:00:01"},
        ],
    )
    oda.nodes.define_clients(
        "node[001-004]",
        "private",
        "10.1.0.11",
        image="deb12",
        macs=["02:00:0a:01:00:%02x" % (11 + i) for i in range(4)],
    )
    oda.nodes.ensure("node002", groups=["oscar_clients", "gpu"], cpus=64, memory_mb=524288)
    oda.nodes.ensure("node002", image_version=2, image_state="in-sync")
    oda.nodes.set_state("node003", "dead")
    oda.image_versions.ensure("deb12", 1, boot_kernel="6.1.0-28-amd64", boot_root_sha256="ab" * 32)
    oda.images.ensure("deb12", current_version=1)
    oda_install.define_layout(
        oda.db, "small", {"partitions": [{"label": "r", "type": "linux", "fs": "ext4", "mount": "/"}]}
    )
    oda.nodes.ensure("node001", disk_layout="small", boot_action="install")
    oda_install.record_report(oda.db, "node001", "booted")
    oda.nodes.ensure("node004", excluded=True)
    oda.variables.set("cluster", "oscar", {"ansible_user": "root", "site": "lab"})
    oda.variables.set("group", "gpu", {"cuda": True})
    oda.variables.set(
        "node", "node001", {"rack": "r1", "trap": "{{ lookup('pipe', 'touch %s.pwned') }}" % path}
    )
    oda.close()
    source = path.parent / "oscar_inventory"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: %s\n" % url)
    return {"url": url, "source": source, "path": path}


def plain(value):
    """A value of ansible-inventory's JSON without its marking of strings that are never templated."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def listing(source, *args, **kwargs):
    return plain(json.loads(ansible_inventory(source, "--list", *args, **kwargs)[1]))


def members(data, group):
    return sorted(data.get(group, {}).get("hosts", []))


def test_groups_come_from_oda_groups_images_networks_and_clusters(cluster):
    data = listing(cluster["source"])
    assert members(data, "oscar_server") == ["head"]
    assert members(data, "oscar_clients") == ["node001", "node002"]
    assert members(data, "gpu") == ["node002"]
    assert members(data, "image_deb12") == ["node001", "node002"]
    assert members(data, "network_private") == ["head", "node001", "node002"]
    assert members(data, "network_public") == ["head"]
    assert members(data, "cluster_oscar") == ["head", "node001", "node002", "node003", "node004"]


def test_dead_and_excluded_nodes_stay_out_of_the_working_groups(cluster):
    data = listing(cluster["source"])
    assert members(data, "oda_dead") == ["node003"]
    assert members(data, "oda_excluded") == ["node004"]
    working = ["oscar_clients", "image_deb12", "network_private"]
    assert not any(name in members(data, group) for group in working for name in ("node003", "node004"))


def test_unavailable_nodes_can_be_left_out_altogether(cluster, tmp_path):
    source = tmp_path / "lab.oda.yml"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: %s\nunavailable_nodes: omit\n" % cluster["url"])
    hosts = listing(source)["_meta"]["hostvars"]
    assert sorted(hosts) == ["head", "node001", "node002"]


def test_host_variables_describe_the_node_its_nics_and_stored_variables(cluster):
    hostvars = listing(cluster["source"])["_meta"]["hostvars"]
    node = hostvars["node002"]
    assert node["ansible_host"] == "10.1.0.12"
    assert node["oda_macs"] == ["02:00:0a:01:00:0c"]
    assert node["oda_ips"] == ["10.1.0.12"]
    assert node["oda_nics"] == [
        {"name": "eth0", "mac": "02:00:0a:01:00:0c", "ip": "10.1.0.12", "network": "private"}
    ]
    assert (node["oda_image"], node["oda_state"], node["oda_cpus"], node["oda_memory_mb"]) == (
        "deb12",
        "defined",
        64,
        524288,
    )
    assert node["oda_fqdn"] == "node002.cluster"
    assert (node["oda_image_version"], node["oda_image_state"]) == (2, "in-sync")
    # Unset while ODA holds no value, as the other optional host variables.
    assert "oda_image_version" not in hostvars["node001"]
    assert "oda_image_state" not in hostvars["node001"]
    assert hostvars["node001"]["rack"] == "r1"
    installing = hostvars["node001"]
    assert (installing["oda_boot_action"], installing["oda_install_stage"]) == ("install", "booted")
    assert (installing["oda_install_attempt"], installing["oda_disk_layout"]) == (1, "small")
    assert (node["oda_boot_action"], hostvars["head"]["oda_boot_action"]) == ("local", "local")
    for key in ("oda_install_stage", "oda_install_attempt", "oda_disk_layout"):
        assert key not in node
    # The head's first NIC with an address, eth0, unless a management network is named.
    assert hostvars["head"]["ansible_host"] == "10.0.0.10"


def test_the_management_network_chooses_ansible_host(cluster):
    hostvars = listing(cluster["source"], env={"OSCAR_ODA_MANAGEMENT_NETWORK": "private"})["_meta"][
        "hostvars"
    ]
    assert hostvars["head"]["ansible_host"] == "10.1.0.1"


def test_the_networks_are_one_variable_of_all_as_oda_info_gives_them(cluster):
    networks = listing(cluster["source"], "--export")["all"]["vars"]["oda_networks"]
    assert [network["name"] for network in networks] == ["private", "public"]
    assert networks[0] == {
        "name": "private",
        "cidr": "10.1.0.0/24",
        "gateway": None,
        "domain": "cluster",
        "dhcp_start": None,
        "dhcp_end": None,
        "mtu": None,
        "cluster": "oscar",
    }
    # Every host sees them, as any variable of all.
    assert (
        json.loads(ansible_inventory(cluster["source"], "--host", "node001")[1])["oda_networks"] == networks
    )


def test_group_and_cluster_variables_reach_their_hosts(cluster):
    for host, expected in [
        ("node002", {"cuda": True, "ansible_user": "root"}),
        ("head", {"ansible_user": "root"}),
    ]:
        variables = json.loads(ansible_inventory(cluster["source"], "--host", host)[1])
        assert {key: variables.get(key) for key in expected} == expected
    assert "cuda" not in json.loads(ansible_inventory(cluster["source"], "--host", "node001")[1])


def test_values_from_the_database_are_never_templated(cluster):
    environment = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    result = subprocess.run(
        [
            str(BIN / "ansible"),
            "-i",
            str(cluster["source"]),
            "node001",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "var=trap",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "lookup('pipe'" in result.stdout.replace("''", "'")
    assert not pathlib.Path("%s.pwned" % cluster["path"]).exists()


def test_constructed_options_compose_variables_and_make_groups(cluster, tmp_path):
    source = tmp_path / "constructed.oda.yml"
    source.write_text(
        "plugin: oscar.cluster.oda\n"
        "database: %s\n"
        "strict: true\n"
        "compose:\n  node_label: oda_hostname ~ '@' ~ oda_cluster\n"
        "groups:\n  big_memory: (oda_memory_mb | default(0)) >= 262144\n"
        "keyed_groups:\n  - key: oda_state\n    prefix: state\n" % cluster["url"]
    )
    data = listing(source)
    assert members(data, "big_memory") == ["node002"]
    assert members(data, "state_defined") == ["head", "node001", "node002", "node004"]
    assert members(data, "state_dead") == ["node003"]
    assert data["_meta"]["hostvars"]["node001"]["node_label"] == "node001@oscar"


def test_the_cache_answers_until_it_is_flushed(cluster, tmp_path):
    url = "sqlite:%s" % (tmp_path / "cached.db")
    oda = Oda.open(url)
    oda.nodes.ensure("first")
    source = tmp_path / "cached.oda.yml"
    source.write_text(
        "plugin: oscar.cluster.oda\ndatabase: %s\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n"
        "cache_connection: %s\ncache_timeout: 3600\n" % (url, tmp_path / "cache")
    )
    assert sorted(listing(source)["_meta"]["hostvars"]) == ["first"]
    oda.nodes.ensure("second")
    oda.close()
    assert sorted(listing(source)["_meta"]["hostvars"]) == ["first"]
    assert sorted(listing(source, "--flush-cache")["_meta"]["hostvars"]) == ["first", "second"]


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("oscar_inventory", True), ("site.oda.yml", True), ("oda.yaml", True), ("hosts.yml", False)],
)
def test_only_files_named_for_the_plugin_are_read_by_it(cluster, tmp_path, name, accepted):
    source = tmp_path / name
    source.write_text("plugin: oscar.cluster.oda\ndatabase: %s\n" % cluster["url"])
    rc, stdout, stderr = ansible_inventory(source, "--list", check=False)
    if accepted:
        assert rc == 0, stderr
        assert "node001" in json.loads(stdout)["_meta"]["hostvars"]
    else:
        assert rc != 0
        assert "node001" not in stdout


def test_a_link_to_oscar_inventory_under_another_name_is_read(cluster, tmp_path):
    link = tmp_path / "hosts"
    link.symlink_to(cluster["source"])
    assert "head" in listing(link)["_meta"]["hostvars"]


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_database_server_is_a_clear_error_without_the_password(tmp_path):
    source = tmp_path / "down.oda.yml"
    source.write_text(
        "plugin: oscar.cluster.oda\ndatabase: postgresql://oscar@127.0.0.1:%d/oscar\n" % _closed_port()
    )
    rc, _stdout, stderr = ansible_inventory(
        source, "--list", env={"OSCAR_ODA_PASSWORD": "s3cret-pw"}, check=False
    )
    assert rc != 0
    assert "ODA inventory:" in stderr
    assert "127.0.0.1" in stderr
    assert "s3cret-pw" not in stderr
    assert "Traceback" not in stderr


def test_a_new_database_gives_an_empty_inventory_with_oscars_groups(tmp_path):
    url = "sqlite:%s" % (tmp_path / "new" / "oda.db")
    Oda.open(url).close()
    source = tmp_path / "oscar_inventory"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: %s\n" % url)
    data = listing(source)
    assert data["_meta"]["hostvars"] == {}
    assert {"oscar_server", "oscar_clients"} <= set(data["all"]["children"])


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path):
    # A read never creates a database: a mistyped path must not look like an empty cluster.
    missing = tmp_path / "new" / "oda.db"
    source = tmp_path / "oscar_inventory"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: sqlite:%s\n" % missing)
    rc, _stdout, stderr = ansible_inventory(source, "--list", check=False)
    assert rc != 0
    assert "ODA inventory: SQLite database %s does not exist" % missing in stderr
    assert not missing.exists() and not missing.parent.exists()


@pytest.mark.parametrize(
    "url",
    [
        "mysql:oscar:PW-s3cret@head/oda",
        "postgresql:oscar:PW-s3cret@head/oda",
        "sqlite://oscar:PW-s3cret@host/x.db",
        "mysql://oscar:PW-s3cret@[::1/oda",
        "oracle://oscar:PW-s3cret@head/oda",
    ],
)
def test_a_password_in_a_url_of_any_shape_never_shows(tmp_path, url):
    source = tmp_path / "bad.oda.yml"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: '%s'\n" % url)
    rc, stdout, stderr = ansible_inventory(source, "--list", check=False)
    assert rc != 0
    assert "ODA inventory:" in stderr
    assert "PW-s3cret" not in stdout + stderr
    assert "Traceback" not in stderr


def test_the_inventory_reads_while_a_writer_holds_the_database(cluster, tmp_path):
    # WAL lets readers go on while one writer writes; the inventory must not
    # queue behind it (and, with this timeout, fail after 5 s).
    source = tmp_path / "busy.oda.yml"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: %s\ndatabase_timeout: 5\n" % cluster["url"])
    writer = Oda.open(cluster["url"])
    try:
        with writer.db.transaction():
            writer.groups.ensure("busy")
            data = listing(source)
    finally:
        writer.close()
    assert "head" in data["_meta"]["hostvars"]


def test_ansible_doc_documents_the_plugin():
    result = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "inventory", "oscar.cluster.oda"],
        cwd=ROOT,
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in ("database", "management_network", "unavailable_nodes", "keyed_groups", "cache_plugin"):
        assert option in result.stdout


@pytest.mark.parametrize("oda_backend", ["mariadb", "postgresql"], indirect=True)
def test_the_plugin_reads_a_database_server_with_the_password_from_the_environment(oda_backend, tmp_path):
    oda = oda_backend.open()
    try:
        oda.networks.ensure("private", "10.1.0.0/24")
        oda.nodes.define_clients("node[1-3]", "private", "10.1.0.11")
        oda.nodes.set_state("node3", "dead")
    finally:
        oda.close()
    source = tmp_path / "server.oda.yml"
    source.write_text("plugin: oscar.cluster.oda\ndatabase: %s\n" % oda_backend.access.url)
    data = listing(source, env={"OSCAR_ODA_PASSWORD": oda_backend.password})
    assert members(data, "oscar_clients") == ["node1", "node2"]
    assert members(data, "oda_dead") == ["node3"]
    assert data["_meta"]["hostvars"]["node2"]["ansible_host"] == "10.1.0.12"

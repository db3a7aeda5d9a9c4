"""The head reaches the controller's ODA: an SQLite file's directory mounted, the URL recorded."""

import pytest
from oscar_cluster.module_utils import oda_db
from oscar_cluster.module_utils.oda import Oda

from oscar_testbed import host, registry
from oscar_testbed.errors import RegistryError


@pytest.mark.parametrize(
    ("url", "directory", "head_url"),
    [
        ("sqlite:/var/lib/oscar/oda.db", "/var/lib/oscar", "sqlite:/var/lib/oscar-oda/oda.db"),
        ("sqlite:///srv/cluster/oda-1.db", "/srv/cluster", "sqlite:/var/lib/oscar-oda/oda-1.db"),
        ("postgresql://oscar@db.example/oda", None, "postgresql://oscar@db.example/oda"),
        ("mysql://oscar@10.210.0.1:3306/oda", None, "mysql://oscar@10.210.0.1:3306/oda"),
        (None, None, None),
    ],
)
def test_sqlite_urls_are_reached_through_the_mount_and_server_urls_as_they_are(url, directory, head_url):
    assert registry.sqlite_directory(url) == directory
    assert registry.head_oda_url(url) == head_url


def test_a_relative_sqlite_file_is_mounted_from_its_absolute_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert registry.sqlite_directory("sqlite:data/oda.db") == str(tmp_path / "data")


def test_a_password_in_a_server_url_is_not_recorded():
    assert registry.head_oda_url("postgresql://oscar:s3cr@t@db:5432/oda") == "postgresql://oscar@db:5432/oda"


def test_an_unreadable_url_is_a_registry_error():
    with pytest.raises(RegistryError, match="ODA URL"):
        registry.sqlite_directory("nosuch:thing")


def test_the_testbeds_own_oda_is_in_a_directory_of_its_own(tmp_path):
    assert registry.own_url(str(tmp_path)) == f"sqlite:{tmp_path}/oda/oda.db"


def test_only_the_head_gets_the_oda_variable(make_testbed):
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    head = registry.host_variables(plan, plan.host("head"), "sqlite:/var/lib/oscar-oda/oda.db")
    node = registry.host_variables(plan, plan.host("node001"), "sqlite:/var/lib/oscar-oda/oda.db")
    assert head[registry.HEAD_ODA_VARIABLE] == "sqlite:/var/lib/oscar-oda/oda.db"
    assert registry.HEAD_ODA_VARIABLE not in node
    assert registry.HEAD_ODA_VARIABLE not in registry.host_variables(plan, plan.host("head"), None)


@pytest.fixture
def fixed_ulimits(monkeypatch):
    monkeypatch.setattr(host, "container_ulimits", lambda: ["--ulimit", "nofile=1024:1024"])


def volumes(args):
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--volume"]


def test_the_head_mounts_the_directory_of_an_sqlite_oda_read_write(make_testbed, fixed_ulimits, tmp_path):
    bed = make_testbed(compute_nodes=1, oda=f"sqlite:{tmp_path}/shared/oda.db")
    plan = bed.plan()
    assert f"{tmp_path}/shared:/var/lib/oscar-oda" in volumes(bed._run_args(plan, plan.host("head"), "img"))
    assert not any("oscar-oda" in v for v in volumes(bed._run_args(plan, plan.host("node001"), "img")))
    inventory = bed.inventory(plan)["all"]["children"]
    assert (
        inventory["oscar_server"]["hosts"]["head"]["network_boot_oda_url"]
        == "sqlite:/var/lib/oscar-oda/oda.db"
    )
    assert "network_boot_oda_url" not in inventory["oscar_clients"]["hosts"]["node001"]


def test_a_server_oda_is_not_mounted_but_recorded(make_testbed, fixed_ulimits):
    bed = make_testbed(compute_nodes=0, oda="postgresql://oscar@10.210.0.254/oda")
    plan = bed.plan()
    assert not any("oscar-oda" in v for v in volumes(bed._run_args(plan, plan.host("head"), "img")))
    head = bed.inventory(plan)["all"]["children"]["oscar_server"]["hosts"]["head"]
    assert head["network_boot_oda_url"] == "postgresql://oscar@10.210.0.254/oda"


def test_a_testbed_without_a_recorded_oda_mounts_nothing(make_testbed, fixed_ulimits):
    bed = make_testbed(compute_nodes=0)
    plan = bed.plan()
    assert not any("oscar-oda" in v for v in volumes(bed._run_args(plan, plan.host("head"), "img")))
    assert (
        "network_boot_oda_url" not in bed.inventory(plan)["all"]["children"]["oscar_server"]["hosts"]["head"]
    )


def test_register_writes_the_head_variable_and_no_virtual_machine(make_testbed, tmp_path):
    bed = make_testbed(compute_nodes=1, vms=2)
    url = f"sqlite:{tmp_path}/oda/oda.db"
    registry.register(url, bed.plan(), bed.access(), head_oda_url=registry.head_oda_url(url))
    oda = Oda.open(*oda_db.resolve(url))
    try:
        assert sorted(node["name"] for node in oda.nodes.list()) == ["head", "node001"]
        head = oda.variables.get("node", "head")
        assert head[registry.HEAD_ODA_VARIABLE] == "sqlite:/var/lib/oscar-oda/oda.db"
        assert registry.HEAD_ODA_VARIABLE not in oda.variables.get("node", "node001")
    finally:
        oda.close()

"""The Testbed object without podman: files, plan, hosts, inventory, slots."""

import json
import os
import stat
import subprocess

import pytest
import yaml

from oscar_testbed import commands, host, layout, sshaccess, testbed
from oscar_testbed.errors import (
    CapacityError,
    CommandError,
    NotReadyError,
    PrerequisiteError,
    TestbedError,
    UnknownHostError,
    UnknownTestbedError,
)


def completed(stdout="", returncode=0, stderr=""):
    return subprocess.CompletedProcess(["fake"], returncode, stdout=stdout, stderr=stderr)


@pytest.fixture
def podman_calls(monkeypatch):
    """Record every podman call; answer each with empty output."""
    calls = []

    def fake_podman(*args, **kwargs):
        calls.append(list(args))
        return completed()

    monkeypatch.setattr(commands, "podman", fake_podman)
    return calls


@pytest.fixture()
def answering_hosts(monkeypatch):
    """Every host answers on port 22 at once; record the addresses asked for."""
    asked = []

    def fake_wait_for_ports(addresses, deadline, port=22):
        asked.extend(addresses)
        return set()

    monkeypatch.setattr(sshaccess, "wait_for_ports", fake_wait_for_ports)
    return asked


# ---- construction and paths ------------------------------------------------


def test_testbed_files_live_under_state_root_and_name(tmp_path):
    bed = testbed.Testbed("ci-1", state_root=str(tmp_path))
    directory = os.path.join(str(tmp_path), "ci-1")
    assert bed.directory == directory
    assert bed.state_file == os.path.join(directory, "state.json")
    assert bed.inventory_file == os.path.join(directory, "inventory.yml")
    assert bed.ssh_config_file == os.path.join(directory, "ssh_config")
    assert bed.key_file == os.path.join(directory, "id_ed25519")
    assert bed.known_hosts_file == os.path.join(directory, "known_hosts")
    assert bed.path("keys", "authorized_keys") == os.path.join(directory, "keys", "authorized_keys")


def test_testbed_name_and_state_root_default_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OSCAR_TESTBED_NAME", "from-env")
    monkeypatch.setenv("OSCAR_TESTBED_STATE", str(tmp_path / "state"))
    bed = testbed.Testbed()
    assert bed.name == "from-env"
    assert bed.directory == os.path.join(str(tmp_path / "state"), "from-env")


def test_testbed_name_defaults_to_oscar(monkeypatch, tmp_path):
    monkeypatch.delenv("OSCAR_TESTBED_NAME", raising=False)
    assert testbed.Testbed(state_root=str(tmp_path)).name == "oscar"


def test_state_root_without_the_environment_variable_depends_on_the_user(monkeypatch, tmp_path):
    monkeypatch.delenv("OSCAR_TESTBED_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setattr(testbed.os, "geteuid", lambda: 0)
    assert testbed.default_state_root() == "/var/lib/oscar-testbed"
    monkeypatch.setattr(testbed.os, "geteuid", lambda: 1000)
    assert testbed.default_state_root() == os.path.join(str(tmp_path), "oscar-testbed")


@pytest.mark.parametrize("name", ["Bad", "1st", "a_b", "a" * 25])
def test_testbed_refuses_an_invalid_name(tmp_path, name):
    with pytest.raises(TestbedError, match="invalid testbed name"):
        testbed.Testbed(name, state_root=str(tmp_path))


# ---- plan and hosts ----------------------------------------------------------


def test_plan_without_state_file_raises_unknown_testbed_error(tmp_path):
    bed = testbed.Testbed("ghost", state_root=str(tmp_path))
    with pytest.raises(UnknownTestbedError, match="no testbed named 'ghost'"):
        bed.plan()


def test_plan_is_rebuilt_from_the_state_file(make_testbed):
    bed = make_testbed(slot=7, compute_nodes=3, standby=True, route_out=True)
    assert bed.plan() == layout.make_plan("tb", 7, 3, standby=True, route_out=True)


@pytest.mark.parametrize(
    ("key", "expected"), [("head", "head"), ("node002", "node002"), ("tb-node001", "node001")]
)
def test_host_finds_a_host_by_name_or_container(make_testbed, key, expected):
    assert make_testbed().host(key).name == expected


def test_unknown_host_error_lists_the_known_hosts(make_testbed):
    bed = make_testbed(compute_nodes=2)
    with pytest.raises(UnknownHostError) as caught:
        bed.host("node003")
    assert str(caught.value) == "testbed 'tb' has no host 'node003' (hosts: head, node001, node002)"
    assert caught.value.exit_code == 6


def test_host_of_a_missing_testbed_raises_unknown_testbed_error(tmp_path):
    with pytest.raises(UnknownTestbedError):
        testbed.Testbed("ghost", state_root=str(tmp_path)).host("head")


# ---- inventory -----------------------------------------------------------------


@pytest.fixture
def inventory_bed(make_testbed):
    return make_testbed(compute_nodes=2, standby=True)


def test_inventory_puts_each_role_in_its_group(inventory_bed):
    children = inventory_bed.inventory(inventory_bed.plan())["all"]["children"]
    assert {group: list(body["hosts"]) for group, body in children.items()} == {
        "oscar_server": ["head"],
        "oscar_standby": ["standby"],
        "oscar_clients": ["node001", "node002"],
    }


def test_inventory_leaves_out_empty_groups(make_testbed):
    bed = make_testbed(compute_nodes=0, standby=False)
    assert list(bed.inventory(bed.plan())["all"]["children"]) == ["oscar_server"]


@pytest.mark.parametrize(
    ("group", "name", "address"),
    [
        ("oscar_server", "head", "10.210.0.10"),
        ("oscar_standby", "standby", "10.210.0.11"),
        ("oscar_clients", "node002", "10.211.0.12"),
    ],
)
def test_inventory_reaches_each_host_at_its_management_address(inventory_bed, group, name, address):
    inventory = inventory_bed.inventory(inventory_bed.plan())
    entry = inventory["all"]["children"][group]["hosts"][name]
    assert entry["ansible_host"] == address
    assert entry["oscar_testbed_container"] == f"tb-{name}"


def test_inventory_interfaces_follow_network_order(inventory_bed):
    hosts = {
        name: entry
        for group in inventory_bed.inventory(inventory_bed.plan())["all"]["children"].values()
        for name, entry in group["hosts"].items()
    }
    assert hosts["head"]["oscar_testbed_interfaces"] == {
        "public": {
            "device": "eth0",
            "ip": "10.210.0.10",
            "mac": "02:00:0a:d2:00:0a",
            "prefix": 24,
            "network": "10.210.0.0/24",
        },
        "private": {
            "device": "eth1",
            "ip": "10.211.0.1",
            "mac": "02:00:0a:d3:00:01",
            "prefix": 24,
            "network": "10.211.0.0/24",
        },
    }
    assert hosts["node001"]["oscar_testbed_interfaces"] == {
        "private": {
            "device": "eth0",
            "ip": "10.211.0.11",
            "mac": "02:00:0a:d3:00:0b",
            "prefix": 24,
            "network": "10.211.0.0/24",
        },
    }
    assert hosts["node001"]["oscar_testbed_role"] == "compute"


def test_inventory_vars_point_ansible_at_the_testbed_ssh_files(inventory_bed):
    variables = inventory_bed.inventory(inventory_bed.plan())["all"]["vars"]
    assert variables["ansible_ssh_common_args"] == f"-F {inventory_bed.directory}/ssh_config"
    assert variables["ansible_control_path_dir"] == f"{inventory_bed.directory}/cp"
    assert variables["ansible_ssh_private_key_file"] == inventory_bed.key_file
    assert variables["ansible_user"] == "root"
    assert variables["oscar_testbed_name"] == "tb"
    assert variables["oscar_testbed_networks"] == {
        "public": {"subnet": "10.210.0.0/24", "gateway": "10.210.0.254", "internal": False},
        "private": {"subnet": "10.211.0.0/24", "gateway": "10.211.0.254", "internal": True},
    }


def test_inventory_text_is_a_commented_yaml_dump_of_the_inventory(inventory_bed):
    plan = inventory_bed.plan()
    text = inventory_bed.inventory_text(plan)
    assert text.startswith("# Inventory of the oscar.cluster testbed 'tb'")
    assert yaml.safe_load(text) == inventory_bed.inventory(plan)


# ---- files -------------------------------------------------------------------------


def test_write_text_leaves_the_content_private_and_no_temporary_file(tmp_path):
    path = tmp_path / "ssh_config"
    testbed.Testbed._write_text(str(path), "Host head\n")
    assert path.read_text() == "Host head\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ssh_config"]


def test_write_text_replaces_an_existing_file_and_its_mode(tmp_path):
    path = tmp_path / "known_hosts"
    path.write_text("old content that is longer than the new one\n")
    path.chmod(0o644)
    inode_before = path.stat().st_ino
    testbed.Testbed._write_text(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Replaced by rename, not rewritten in place: readers never see half a file.
    assert path.stat().st_ino != inode_before
    assert [p.name for p in tmp_path.iterdir()] == ["known_hosts"]


def test_write_text_honours_an_explicit_mode(tmp_path):
    path = tmp_path / "inventory.yml"
    testbed.Testbed._write_text(str(path), "all: {}\n", mode=0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_json_writes_sorted_indented_json(tmp_path):
    bed = testbed.Testbed("tb", state_root=str(tmp_path))
    path = tmp_path / "state.json"
    bed._write_json(str(path), {"slot": 1, "name": "tb"})
    assert path.read_text() == '{\n  "name": "tb",\n  "slot": 1\n}\n'


def test_write_files_writes_known_hosts_ssh_config_and_inventory(make_testbed):
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    bed._write_files(plan, ["head,10.210.0.10 ssh-ed25519 AAAAh"])
    with open(bed.known_hosts_file, encoding="ascii") as handle:
        assert handle.read() == "head,10.210.0.10 ssh-ed25519 AAAAh\n"
    with open(bed.ssh_config_file, encoding="ascii") as handle:
        assert handle.read() == sshaccess.ssh_config_text(plan.hosts, bed.key_file, bed.known_hosts_file)
    with open(bed.inventory_file, encoding="utf-8") as handle:
        assert yaml.safe_load(handle) == bed.inventory(plan)
    for path in (bed.known_hosts_file, bed.ssh_config_file, bed.inventory_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_record_host_keys_replaces_only_the_rescanned_hosts(make_testbed, monkeypatch):
    bed = make_testbed(compute_nodes=2)
    plan = bed.plan()
    bed._write_files(
        plan,
        [
            "head,10.210.0.10 ssh-ed25519 AAAAhead",
            "node001,10.211.0.11 ssh-ed25519 AAAAold",
            "node002,10.211.0.12 ssh-ed25519 AAAAtwo",
        ],
    )
    monkeypatch.setattr(
        sshaccess, "scan_host_keys", lambda hosts: ["node001,10.211.0.11 ssh-ed25519 AAAAnew"]
    )
    bed._record_host_keys(plan, [plan.host("node001")])
    with open(bed.known_hosts_file, encoding="ascii") as handle:
        assert handle.read().splitlines() == [
            "head,10.210.0.10 ssh-ed25519 AAAAhead",
            "node002,10.211.0.12 ssh-ed25519 AAAAtwo",
            "node001,10.211.0.11 ssh-ed25519 AAAAnew",
        ]


def test_record_host_keys_names_hosts_without_a_key(make_testbed, monkeypatch):
    bed = make_testbed(compute_nodes=2)
    plan = bed.plan()
    monkeypatch.setattr(sshaccess, "scan_host_keys", lambda hosts: ["head,10.210.0.10 ssh-ed25519 AAAAhead"])
    with pytest.raises(NotReadyError, match="could not read SSH host keys of: node001, node002"):
        bed._record_host_keys(plan, plan.hosts)


# ---- podman arguments and host verbs (podman faked) --------------------------------------


@pytest.fixture
def fixed_ulimits(monkeypatch):
    monkeypatch.setattr(host, "container_ulimits", lambda: ["--ulimit", "nofile=1024:1024"])


def test_run_args_attach_each_interface_with_its_planned_ip_and_mac(make_testbed, fixed_ulimits):
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    args = bed._run_args(plan, plan.host("head"), "localhost/oscar-testbed-node:abc")
    networks = [args[i + 1] for i, arg in enumerate(args) if arg == "--network"]
    assert networks == [
        "tb-public:ip=10.210.0.10,mac=02:00:0a:d2:00:0a",
        "tb-private:ip=10.211.0.1,mac=02:00:0a:d3:00:01",
    ]
    assert args[-1] == "localhost/oscar-testbed-node:abc"
    assert args[args.index("--name") + 1] == "tb-head"
    assert args[args.index("--hostname") + 1] == "head"
    assert args[args.index("--volume") + 1] == f"{bed.path('keys')}:/etc/oscar-testbed:ro"
    assert "NET_ADMIN" in args
    assert "nofile=1024:1024" in args


def test_run_args_give_compute_nodes_no_network_admin_capabilities(make_testbed, fixed_ulimits):
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    args = bed._run_args(plan, plan.host("node001"), "img")
    assert "NET_ADMIN" not in args
    assert "DAC_READ_SEARCH" not in args
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--network"] == [
        "tb-private:ip=10.211.0.11,mac=02:00:0a:d3:00:0b"
    ]
    assert "oscar.testbed.role=compute" in args


def pairs(args, flag):
    return [args[i + 1] for i, arg in enumerate(args) if arg == flag]


def test_compute_nodes_may_mount_fuse_filesystems_and_heads_may_not(make_testbed, fixed_ulimits):
    """The kernel has no NFS client: nodes mount the head's exports through FUSE."""
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    node = bed._run_args(plan, plan.host("node001"), "img")
    assert pairs(node, "--device") == ["/dev/fuse"]
    assert "SYS_ADMIN" in pairs(node, "--cap-add")
    head = bed._run_args(plan, plan.host("head"), "img")
    assert "--device" not in head


def test_the_head_may_mount_in_the_chroot_of_an_image_build(make_testbed, fixed_ulimits):
    """Building an image mounts /proc, /sys and /dev in the new root, as on a real head."""
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    assert "SYS_ADMIN" in pairs(bed._run_args(plan, plan.host("head"), "img"), "--cap-add")


def test_the_heads_exports_live_on_the_machines_filesystem(make_testbed, fixed_ulimits):
    """A userspace NFS server opens files by handle: not on the overlay root, and with DAC_READ_SEARCH."""
    bed = make_testbed(compute_nodes=1)
    plan = bed.plan()
    head = bed._run_args(plan, plan.host("head"), "img")
    assert "DAC_READ_SEARCH" in pairs(head, "--cap-add")
    assert pairs(head, "--volume")[1:] == [
        f"{bed.path('exports', 'home')}:/home",
        f"{bed.path('exports', 'opt-cluster')}:/opt/cluster",
        # Node images too: hard-linked trees renamed into place, not on the overlay.
        f"{bed.path('images')}:/var/lib/oscar/images",
    ]
    node = bed._run_args(plan, plan.host("node001"), "img")
    assert pairs(node, "--volume") == [f"{bed.path('keys')}:/etc/oscar-testbed:ro"]


def test_starting_the_containers_makes_the_heads_export_directories_first(make_testbed, podman_calls):
    bed = make_testbed(compute_nodes=1)
    seen = []

    def run_args(plan, host_plan, reference):
        seen.append(
            os.path.isdir(bed.path("exports", "home")) and os.path.isdir(bed.path("exports", "opt-cluster"))
        )
        return ["run", host_plan.name]

    bed._run_args = run_args
    bed._start_containers(bed.plan(), "img")
    assert seen == [True, True]
    assert sorted(call[1] for call in podman_calls) == ["head", "node001"]


def test_compute_nodes_resolve_names_through_the_head_unless_routed_out(make_testbed, fixed_ulimits):
    plan = make_testbed(compute_nodes=1).plan()
    args = make_testbed(compute_nodes=1)._run_args(plan, plan.host("node001"), "img")
    assert args[args.index("--dns") + 1] == "10.211.0.1"
    head_args = make_testbed(compute_nodes=1)._run_args(plan, plan.host("head"), "img")
    assert "--dns" not in head_args
    routed = make_testbed(compute_nodes=1, route_out=True)
    routed_plan = routed.plan()
    assert "--dns" not in routed._run_args(routed_plan, routed_plan.host("node001"), "img")


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        ("stop", ["stop", "--time", "10", "tb-node001"]),
        ("kill", ["kill", "--signal", "KILL", "tb-node001"]),
        ("pause", ["pause", "tb-node001"]),
        ("unpause", ["unpause", "tb-node001"]),
        ("forget_apt_index", ["exec", "tb-node001", "sh", "-c", testbed.FORGET_APT_INDEX]),
    ],
)
def test_host_verbs_act_on_the_hosts_container(make_testbed, podman_calls, verb, expected):
    getattr(make_testbed(), verb)("node001")
    assert podman_calls == [expected]


def test_host_verbs_refuse_an_unknown_host_before_calling_podman(make_testbed, podman_calls):
    with pytest.raises(UnknownHostError):
        make_testbed().kill("node099")
    assert podman_calls == []


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            None,
            [
                ["network", "disconnect", "--force", "tb-public", "tb-head"],
                ["network", "disconnect", "--force", "tb-private", "tb-head"],
            ],
        ),
        ("private", [["network", "disconnect", "--force", "tb-private", "tb-head"]]),
    ],
)
def test_disconnect_cuts_the_head_off_the_asked_networks(make_testbed, podman_calls, network, expected):
    make_testbed().disconnect("head", network)
    assert podman_calls == expected


def test_disconnect_from_a_network_the_host_is_not_on_is_refused(make_testbed, podman_calls):
    with pytest.raises(UnknownHostError, match=r"not on the public network \(it is on: private\)"):
        make_testbed().disconnect("node001", "public")
    assert podman_calls == []


def test_reconnect_restores_the_planned_address_and_mac(make_testbed, podman_calls, answering_hosts):
    make_testbed().reconnect("node002")
    assert answering_hosts == ["10.211.0.12"]
    assert podman_calls[0] == [
        "network",
        "connect",
        "--ip",
        "10.211.0.12",
        "--mac-address",
        "02:00:0a:d3:00:0c",
        "tb-private",
        "tb-node002",
    ]
    # Then the bridges' addresses are pinned (pin_bridge_addresses).
    assert [call[:2] + call[-1:] for call in podman_calls[1:]] == [
        ["network", "inspect", "tb-public"],
        ["network", "inspect", "tb-private"],
    ]


@pytest.mark.parametrize(
    ("stderr", "raises"),
    [("Error: container is already connected to network\n", False), ("Error: no such network\n", True)],
)
def test_reconnect_ignores_only_already_connected(make_testbed, monkeypatch, answering_hosts, stderr, raises):
    def failing_podman(*args, **kwargs):
        if args[:2] == ("network", "connect"):
            raise CommandError(["podman", *args], 125, stderr)
        return completed()

    monkeypatch.setattr(commands, "podman", failing_podman)
    bed = make_testbed()
    if raises:
        with pytest.raises(CommandError, match="no such network"):
            bed.reconnect("head", "public")
    else:
        assert bed.reconnect("head", "public") is None


@pytest.fixture
def bridges(tmp_path, monkeypatch):
    """Networks whose bridges a fake /sys/class/net shows; records the ip commands run.

    Returns (bridges, ran): set bridges[network] = (interface, address,
    addr_assign_type), or (interface, None, None) for an interface the
    kernel does not show.
    """
    table = {}
    ran = []
    monkeypatch.setattr(testbed, "SYS_CLASS_NET", str(tmp_path / "net"))

    def fake_podman(*args, **kwargs):
        if args[:2] == ("network", "inspect"):
            interface, address, assigned = table.get(args[-1], ("", None, None))
            if address is not None:
                directory = tmp_path / "net" / interface
                directory.mkdir(parents=True, exist_ok=True)
                (directory / "address").write_text(address + "\n")
                (directory / "addr_assign_type").write_text(assigned + "\n")
            return completed(interface + "\n")
        return completed()

    monkeypatch.setattr(commands, "podman", fake_podman)
    monkeypatch.setattr(commands, "find_program", lambda name: "/usr/sbin/" + name)
    monkeypatch.setattr(commands, "run", lambda argv, **kwargs: ran.append(argv) or completed())
    return table, ran


def test_a_bridge_that_follows_its_ports_is_pinned_at_its_address(make_testbed, bridges):
    table, ran = bridges
    table["tb-private"] = ("podman7", "1e:5a:d8:cd:4a:5d", "1")
    assert make_testbed().pin_bridge_addresses() == ["podman7"]
    assert ran == [["/usr/sbin/ip", "link", "set", "dev", "podman7", "address", "1e:5a:d8:cd:4a:5d"]]


def test_pinned_bridges_and_bridges_not_made_yet_are_left_alone(make_testbed, bridges):
    table, ran = bridges
    table["tb-public"] = ("podman6", "8a:44:37:92:88:c8", "3")  # set already
    table["tb-private"] = ("podman7", None, None)  # podman named it; no host joined yet
    assert make_testbed().pin_bridge_addresses() == []
    assert ran == []


def test_reconnect_fails_when_the_host_does_not_answer_again(make_testbed, podman_calls, monkeypatch):
    monkeypatch.setattr(sshaccess, "wait_for_ports", lambda addresses, deadline, port=22: set(addresses))
    with pytest.raises(NotReadyError, match=r"node001 does not answer on 10.211.0.11 \(private network\)"):
        make_testbed().reconnect("node001")


def test_status_reports_each_planned_host_and_missing_containers(make_testbed, monkeypatch):
    listing = json.dumps(
        [
            {"Names": ["tb-head"], "State": "running"},
            {"Names": ["tb-node001"], "State": "paused"},
        ]
    )
    monkeypatch.setattr(commands, "podman", lambda *args, **kwargs: completed(listing))
    rows = make_testbed(compute_nodes=2).status()
    assert [(h.name, state) for h, state in rows] == [
        ("head", "running"),
        ("node001", "paused"),
        ("node002", "missing"),
    ]


def test_down_removes_containers_networks_and_files(make_testbed, monkeypatch, log_messages):
    calls = []

    def fake_podman(*args, **kwargs):
        calls.append(list(args))
        if args[0] == "ps":
            return completed(json.dumps([{"Names": ["tb-head"]}, {"Names": ["tb-node001"]}]))
        if args[:2] == ("network", "ls"):
            return completed("tb-public\ntb-private\n")
        return completed()

    monkeypatch.setattr(commands, "podman", fake_podman)
    bed = make_testbed(compute_nodes=1)
    assert bed.down() == (["tb-head", "tb-node001"], ["tb-public", "tb-private"])
    assert ["rm", "--force", "--time", "0", "tb-head", "tb-node001"] in calls
    assert ["network", "rm", "--force", "tb-public"] in calls
    assert ["network", "rm", "--force", "tb-private"] in calls
    assert not os.path.exists(bed.directory)
    assert log_messages == ["testbed 'tb' removed: 2 containers, 2 networks"]


def test_down_of_a_testbed_that_does_not_exist_raises(tmp_path, podman_calls):
    with pytest.raises(UnknownTestbedError):
        testbed.Testbed("ghost", state_root=str(tmp_path)).down()


# ---- slots and listing ---------------------------------------------------------------------------


@pytest.fixture
def machine(monkeypatch):
    """Fake podman networks and host routes; tests fill in the lists."""
    state = {"subnets": [], "routes": "default via 192.168.1.1 dev eth0\n"}

    def fake_podman(*args, **kwargs):
        assert args[:2] == ("network", "ls")
        networks = [{"name": f"n{i}", "subnets": [{"subnet": s}]} for i, s in enumerate(state["subnets"])]
        networks.append({"name": "none", "subnets": None})
        return completed(json.dumps(networks))

    monkeypatch.setattr(commands, "podman", fake_podman)
    monkeypatch.setattr(commands, "find_program", lambda name: f"/fake/bin/{name}")
    monkeypatch.setattr(commands, "run", lambda argv, **kwargs: completed(state["routes"]))
    return state


def test_free_slot_is_zero_on_an_empty_machine(tmp_path, machine):
    assert testbed.Testbed("tb", state_root=str(tmp_path))._free_slot() == 0


def test_free_slot_skips_slots_used_by_networks_routes_and_other_testbeds(tmp_path, machine, write_state):
    machine["subnets"] = ["10.88.0.0/16", "10.210.0.0/24"]
    machine["routes"] += "10.211.1.0/24 dev br1 proto kernel scope link src 10.211.1.254\n"
    write_state(name="other", slot=2)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text("{not json")
    assert testbed.Testbed("tb", state_root=str(tmp_path))._free_slot() == 3


def test_free_slot_raises_capacity_error_when_a_route_covers_every_slot(tmp_path, machine):
    machine["routes"] += "10.208.0.0/12 via 192.168.1.2 dev eth0\n"
    with pytest.raises(CapacityError, match="all 256 testbed address slots are in use"):
        testbed.Testbed("tb", state_root=str(tmp_path))._free_slot()


def test_list_testbeds_merges_state_directories_and_labelled_containers(tmp_path, monkeypatch, write_state):
    write_state(name="alpha")
    (tmp_path / "no-state").mkdir()
    (tmp_path / "image.lock").write_text("")
    listing = json.dumps([{"Labels": {testbed.LABEL: "gamma"}}, {"Labels": {testbed.LABEL: "alpha"}}])
    monkeypatch.setattr(commands, "podman", lambda *args, **kwargs: completed(listing))
    assert testbed.list_testbeds(str(tmp_path)) == ["alpha", "gamma"]


def test_list_testbeds_without_podman_lists_state_directories(tmp_path, monkeypatch, write_state):
    write_state(name="beta")
    write_state(name="alpha")

    def no_podman(*args, **kwargs):
        raise PrerequisiteError("required program 'podman' is not installed")

    monkeypatch.setattr(commands, "podman", no_podman)
    assert testbed.list_testbeds(str(tmp_path)) == ["alpha", "beta"]


# ---- release -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "expected"), [(None, "bookworm"), ("bookworm", "bookworm"), ("trixie", "trixie")]
)
def test_suite_is_the_recorded_one_and_bookworm_for_a_testbed_of_before(make_testbed, recorded, expected):
    assert make_testbed(suite=recorded).suite() == expected


def test_up_starts_the_hosts_from_the_image_of_the_release_and_records_it(up_without_podman):
    bed, effects = up_without_podman
    bed.up(compute_nodes=1, suite="trixie")
    assert (effects["images"], effects["started"]) == (["trixie"], ["node:trixie"])
    assert "taps" not in effects and "disks" not in effects
    with open(bed.state_file, encoding="utf-8") as handle:
        assert json.load(handle)["suite"] == "trixie"
    assert bed.suite() == "trixie"


def test_up_defaults_to_bookworm(up_without_podman):
    bed, effects = up_without_podman
    bed.up(compute_nodes=1)
    assert effects["images"] == ["bookworm"]
    assert bed.suite() == "bookworm"


def test_up_refuses_an_unknown_release_before_making_anything(up_without_podman):
    bed, effects = up_without_podman
    with pytest.raises(PrerequisiteError, match="unknown Debian suite 'sid'"):
        bed.up(compute_nodes=1, suite="sid")
    assert effects == {"images": [], "started": []}
    assert not os.path.exists(bed.directory)

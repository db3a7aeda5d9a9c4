"""A testbed comes up as designed, survives what fault tests do to it, and goes away cleanly."""

import json
import subprocess
import time
from pathlib import Path

from testbed_helpers import ODA_INVENTORY, ROOT, VENV_BIN, ansible_ping, oda_env, podman_objects


def ssh(cli, name, host, command, *, timeout=30, connect_timeout=5):
    status = cli.status(name)
    return subprocess.run(
        ["ssh", "-F", status["ssh_config"], "-o", f"ConnectTimeout={connect_timeout}", host, command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def reachable(cli, name, from_host, address):
    """Whether from_host gets an answer from address; a few tries let ARP settle."""
    return ssh(cli, name, from_host, f"ping -n -c 3 -i 0.5 -W 2 {address}").returncode == 0


def host_state(cli, name, host):
    return {h["host"]: h["state"] for h in cli.status(name)["hosts"]}[host]


def test_every_host_answers_ansible_over_ssh_through_oscar_inventory(cli, faults_bed):
    status = cli.status(faults_bed)
    code, answered, problems = ansible_ping(ODA_INVENTORY, env=oda_env(status["oda"]))
    assert code == 0, problems
    assert answered == {"head", "standby", "node001", "node002", "node003"}


def test_the_static_inventory_file_reaches_the_same_hosts(cli, faults_bed):
    code, answered, problems = ansible_ping(cli.status(faults_bed)["inventory"])
    assert code == 0, problems
    assert answered == {"head", "standby", "node001", "node002", "node003"}


def _inventory(source, env=None):
    listing = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", source, "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    # Strings from ODA come marked as never to be templated: {"__ansible_unsafe": text}.
    return json.loads(
        listing.stdout,
        object_hook=lambda obj: obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj,
    )


def test_oda_inventory_groups_hosts_like_an_oscar_cluster(cli, faults_bed):
    status = cli.status(faults_bed)
    groups = _inventory(ODA_INVENTORY, oda_env(status["oda"]))
    assert groups["oscar_server"]["hosts"] == ["head"]
    assert groups["oscar_standby"]["hosts"] == ["standby"]
    assert groups["oscar_clients"]["hosts"] == ["node001", "node002", "node003"]
    assert sorted(groups["network_public"]["hosts"]) == ["head", "standby"]
    node = groups["_meta"]["hostvars"]["node002"]
    planned = next(h for h in status["hosts"] if h["host"] == "node002")["interfaces"]["private"]
    assert node["oda_nics"] == [
        {"name": "eth0", "mac": planned["mac"], "ip": planned["ip"], "network": "private"}
    ]
    assert node["oda_state"] == "up"
    static = _inventory(status["inventory"])["_meta"]["hostvars"]["node002"]
    assert {key: node[key] for key in static} == static


def test_a_testbed_registered_in_a_shared_oda_leaves_it_when_it_goes(cli, faults_bed, tmp_path):
    url = "sqlite:%s" % (tmp_path / "shared.db")
    cli("--name", "it-shared", "up", "--nodes", "1", "--oda", url)
    try:
        assert cli.status("it-shared")["oda"] == url
        code, answered, problems = ansible_ping(ODA_INVENTORY, env=oda_env(url))
        assert (code, answered) == (0, {"head", "node001"}), problems
    finally:
        cli("--name", "it-shared", "down")
    hosts = _inventory(ODA_INVENTORY, oda_env(url))["_meta"]["hostvars"]
    assert hosts == {}


def test_each_host_has_its_own_host_key_checked_strictly(cli, faults_bed):
    status = cli.status(faults_bed)
    with open(status["known_hosts"], encoding="ascii") as handle:
        keys = [line.split()[2] for line in handle if line.strip()]
    assert len(keys) == 5
    assert len(set(keys)) == 5
    with open(status["ssh_config"], encoding="ascii") as handle:
        config = handle.read()
    assert "StrictHostKeyChecking yes" in config
    assert ssh(cli, faults_bed, "node001", "true").returncode == 0


def test_private_network_has_no_route_out(cli, faults_bed):
    public_gateway = (
        cli.status(faults_bed)["hosts"][0]["interfaces"]["public"]["ip"].rsplit(".", 1)[0] + ".254"
    )
    result = ssh(cli, faults_bed, "node001", f"ping -n -c 1 -W 2 {public_gateway}")
    assert result.returncode != 0
    assert ssh(cli, faults_bed, "node001", "ip -4 route show default").stdout.strip() == ""
    # The cluster's resolver is the head, as a head's DHCP would say.
    head_private = cli.status(faults_bed)["hosts"][0]["interfaces"]["private"]["ip"]
    resolvers = ssh(cli, faults_bed, "node001", "grep ^nameserver /etc/resolv.conf").stdout
    assert resolvers.split() == ["nameserver", head_private]


def test_head_reaches_the_outside_through_the_public_network(cli, faults_bed):
    result = ssh(cli, faults_bed, "head", "ip -4 route show default")
    assert result.stdout.startswith("default via 10.210.")


def test_a_paused_host_times_out_and_comes_back(cli, faults_bed):
    cli("--name", faults_bed, "pause", "node002")
    try:
        assert host_state(cli, faults_bed, "node002") == "paused"
        started = time.monotonic()
        result = ssh(cli, faults_bed, "node002", "true", connect_timeout=3)
        assert result.returncode == 255
        assert time.monotonic() - started < 20
        # The others are unaffected.
        assert ssh(cli, faults_bed, "node003", "true").returncode == 0
    finally:
        cli("--name", faults_bed, "unpause", "node002")
    assert ssh(cli, faults_bed, "node002", "true").returncode == 0


def test_a_killed_host_is_down_until_started_again(cli, faults_bed):
    key_before = ssh(cli, faults_bed, "node001", "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout
    cli("--name", faults_bed, "kill", "node001")
    assert host_state(cli, faults_bed, "node001") == "exited"
    assert ssh(cli, faults_bed, "node001", "true", connect_timeout=2).returncode == 255
    cli("--name", faults_bed, "start", "node001")
    assert host_state(cli, faults_bed, "node001") == "running"
    after = ssh(
        cli, faults_bed, "node001", "systemctl is-system-running; cat /etc/ssh/ssh_host_ed25519_key.pub"
    )
    assert after.stdout.splitlines()[0] == "running"
    # Same disk, same identity: strict host key checking still passes.
    assert after.stdout.splitlines()[1] == key_before.strip()


def test_a_stopped_host_shuts_down_cleanly_and_starts_again(cli, faults_bed):
    cli("--name", faults_bed, "stop", "node003")
    assert host_state(cli, faults_bed, "node003") == "exited"
    cli("--name", faults_bed, "start", "node003")
    assert ssh(cli, faults_bed, "node003", "systemctl is-system-running").stdout.strip() == "running"


def test_a_disconnected_host_is_cut_off_and_reconnects_with_its_addresses(cli, faults_bed):
    node = cli.status(faults_bed)["hosts"][3]
    assert node["host"] == "node002"
    cli("--name", faults_bed, "disconnect", "node002")
    try:
        assert ssh(cli, faults_bed, "head", f"ping -n -c 1 -W 2 {node['address']}").returncode != 0
        assert ssh(cli, faults_bed, "node002", "true", connect_timeout=2).returncode == 255
    finally:
        cli("--name", faults_bed, "reconnect", "node002")
    links = json.loads(ssh(cli, faults_bed, "node002", "ip -json address show").stdout)
    found = {
        (a["local"], link["address"]) for link in links for a in link["addr_info"] if a["family"] == "inet"
    }
    assert (node["address"], node["interfaces"]["private"]["mac"]) in found
    assert reachable(cli, faults_bed, "head", node["address"])


def test_a_host_can_lose_one_network_and_keep_the_other(cli, faults_bed):
    head = cli.status(faults_bed)["hosts"][0]
    private_ip = head["interfaces"]["private"]["ip"]
    cli("--name", faults_bed, "disconnect", "head", "--network", "private")
    try:
        assert ssh(cli, faults_bed, "head", "true").returncode == 0  # still on the public network
        assert ssh(cli, faults_bed, "node001", f"ping -n -c 1 -W 2 {private_ip}").returncode != 0
    finally:
        cli("--name", faults_bed, "reconnect", "head", "--network", "private")
    assert reachable(cli, faults_bed, "node001", private_ip)


def bridge_addresses(name):
    """{network: (its bridge's MAC address, how the kernel says it was assigned)} of a testbed."""
    found = {}
    label = f"label=oscar.testbed={name}"
    networks = subprocess.run(
        ["podman", "network", "ls", "--filter", label, "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for network in networks:
        interface = subprocess.run(
            ["podman", "network", "inspect", "--format", "{{.NetworkInterface}}", network],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        sysfs = Path("/sys/class/net", interface)
        address, assigned = ((sysfs / leaf).read_text().strip() for leaf in ("address", "addr_assign_type"))
        found[network] = (address, assigned)
    return found


def test_a_host_leaving_the_network_leaves_the_bridge_address_alone(cli, faults_bed):
    """Every host's turn to leave: the bridge keeps its address and the others answer at once.

    A bridge that follows its ports' addresses takes another one when the
    host with the lowest leaves; the others' ARP caches then point at the
    old one and their SSH stalls for tens of seconds.
    """
    before = bridge_addresses(faults_bed)
    assert before and all(assigned == "3" for _address, assigned in before.values()), before
    for leaving, witness in (("node001", "node002"), ("node002", "node003"), ("node003", "node001")):
        cli("--name", faults_bed, "disconnect", leaving)
        try:
            assert bridge_addresses(faults_bed) == before
            assert ssh(cli, faults_bed, witness, "true", timeout=10, connect_timeout=3).returncode == 0
        finally:
            cli("--name", faults_bed, "reconnect", leaving)
    assert bridge_addresses(faults_bed) == before


def test_two_testbeds_get_separate_networks_and_go_away_separately(cli, faults_bed):
    cli("--name", "it-second", "up", "--nodes", "1")
    try:
        first = cli.status(faults_bed)["hosts"][0]["interfaces"]["private"]["ip"]
        second = cli.status("it-second")["hosts"][0]["interfaces"]["private"]["ip"]
        assert first.rsplit(".", 1)[0] != second.rsplit(".", 1)[0]
        listed = cli("list").stdout.split()
        assert {"it-faults", "it-second"} <= set(listed)
    finally:
        cli("--name", "it-second", "down")
    assert podman_objects("it-second") == []
    assert ssh(cli, faults_bed, "head", "true").returncode == 0


def test_a_routed_testbed_gives_compute_nodes_a_way_out(cli):
    """--route-out is for roles tested without a head: nodes get a default route and the host's DNS."""
    cli("--name", "it-routed", "up", "--nodes", "1", "--route-out")
    try:
        status = cli.status("it-routed")
        node = next(h for h in status["hosts"] if h["host"] == "node001")
        private_gateway = node["address"].rsplit(".", 1)[0] + ".254"
        routes = ssh(cli, "it-routed", "node001", "ip -4 route show default").stdout
        assert routes.startswith(f"default via {private_gateway}")
        resolvers = ssh(cli, "it-routed", "node001", "grep ^nameserver /etc/resolv.conf").stdout
        head_private = status["hosts"][0]["interfaces"]["private"]["ip"]
        assert resolvers.strip()
        assert head_private not in resolvers
    finally:
        cli("--name", "it-routed", "down")
    assert podman_objects("it-routed") == []

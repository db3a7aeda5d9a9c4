"""The server and clients roles' files rendered by Ansible from a cluster with every kind of node.

The molecule scenario `server` checks the files on real hosts; here the
templates meet what a testbed does not have: dead, excluded and standby
nodes, a node with two NICs on the network, a DHCP pool, no gateway.  Each
file is rendered by ansible-playbook on this machine (nothing but the output
files is written) and read back as its reader would: c3.conf by the C3
commands' own parser.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from oscar_cluster.c3 import conf

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "server"
CLIENTS_ROLE = ROOT / "roles" / "clients"
COMMON_ROLE = ROOT / "roles" / "_common"
# Each template by its name, from the role that owns it: the hosts block is the roles' shared one.
TEMPLATES = {
    "dnsmasq.conf.j2": ROLE,
    "chrony.conf.j2": ROLE,
    "hosts.j2": COMMON_ROLE,
    "c3.conf.j2": ROLE,
}
CLIENTS_TEMPLATES = {"hosts.j2": COMMON_ROLE, "resolv.conf.j2": CLIENTS_ROLE}
# A template of the loop, item.key in the role item.value.
RENDER = "{{ lookup('ansible.builtin.template', item.value ~ '/templates/' ~ item.key) }}"


def nic(name, ip, mac, network="private"):
    return {"name": name, "mac": mac, "ip": ip, "network": network}


HOSTS = {
    "head": {
        "oda_cluster": "lab",
        "oda_hostname": "head",
        "oda_nics": [nic("eth0", "192.0.2.10", "02:00:c0:00:02:0a", "public"), nic("eth1", "10.9.0.1", None)],
    },
    "standby": {"oda_hostname": "standby", "oda_nics": [nic("eth1", "10.9.0.2", "02:00:0a:09:00:02")]},
    "node001": {
        "oda_hostname": "node001",
        "oda_nics": [
            nic("eth0", "10.9.0.11", "02:00:0a:09:00:0b"),
            nic("eth1", "10.9.0.111", "02:00:0a:09:00:6f"),
        ],
    },
    "node002": {"oda_hostname": "node002", "oda_nics": [nic("eth0", "10.9.0.12", "02:00:0a:09:00:0c")]},
    "node003": {"oda_hostname": "node003", "oda_nics": [nic("eth0", "10.9.0.13", "02:00:0a:09:00:0d")]},
    "node010": {"oda_hostname": "node010", "oda_nics": [nic("eth0", "10.9.0.20", "02:00:0a:09:00:14")]},
    "login": {"oda_hostname": "login", "oda_nics": [nic("eth0", "10.9.0.5", "02:00:0a:09:00:05")]},
}
INVENTORY = {
    "all": {
        "hosts": HOSTS,
        "children": {
            "cluster_lab": {"hosts": {name: {} for name in HOSTS}},
            "oscar_server": {"hosts": {"head": {}}},
            "oscar_standby": {"hosts": {"standby": {}}},
            "oscar_clients": {"hosts": {"node001": {}, "node002": {}, "node010": {}, "login": {}}},
            "oda_dead": {"hosts": {"node003": {}}},
            "oda_excluded": {"hosts": {"node010": {}}},
        },
    }
}
NETWORK = {
    "name": "private",
    "cidr": "10.9.0.0/24",
    "domain": "lab.example",
    "gateway": None,
    "dhcp_start": "10.9.0.200",
    "dhcp_end": "10.9.0.250",
    "mtu": 9000,
}
INTERFACE = {
    "name": "eth1",
    "ipv4": {"address": "10.9.0.1", "network": "10.9.0.0", "netmask": "255.255.255.0"},
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every template of the role, rendered as the role renders it for the head: {name: text}."""
    work = tmp_path_factory.mktemp("server")
    (work / "inventory.yml").write_text(yaml.safe_dump(INVENTORY))
    playbook = [
        {
            "name": "Render the server role's templates",
            "hosts": "head",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "__server_network": NETWORK,
                "__server_interface": INTERFACE,
                "__server_table": "{{ hostvars | oscar.cluster.host_table(__server_all_hosts,"
                " [__server_network], __server_network.name, __server_head) }}",
                "_common_hosts_table": "{{ __server_table }}",
            },
            "tasks": [
                {
                    "name": "Render",
                    "ansible.builtin.copy": {
                        "content": RENDER,
                        "dest": "%s/{{ item.key }}" % work,
                        "mode": "0644",
                    },
                    "loop": [{"key": name, "value": str(role)} for name, role in TEMPLATES.items()],
                }
            ],
        },
        {
            "name": "Render the clients role's templates",
            "hosts": "node002",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(CLIENTS_ROLE / path / "main.yml") for path in ("defaults", "vars")],
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "__clients_network": NETWORK,
                "__clients_table": "{{ hostvars | oscar.cluster.host_table(__clients_all_hosts,"
                " [__clients_network], __clients_network.name, clients_head) }}",
                "_common_hosts_table": "{{ __clients_table }}",
            },
            "tasks": [
                {
                    "name": "Render",
                    "ansible.builtin.copy": {
                        "content": RENDER,
                        "dest": "%s/clients-{{ item.key }}" % work,
                        "mode": "0644",
                    },
                    "loop": [{"key": name, "value": str(role)} for name, role in CLIENTS_TEMPLATES.items()],
                }
            ],
        },
    ]
    (work / "render.yml").write_text(json.dumps(playbook))
    # As extra vars: the role's defaults come in through vars_files, which win over play vars.
    (work / "settings.json").write_text(
        json.dumps({"server_dns_upstream": ["192.0.2.53"], "server_chrony_upstream": ["ntp.example.org"]})
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            *("-i", "inventory.yml", "-e", "@settings.json", "render.yml"),
        ],
        cwd=work,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": "/usr/bin:/bin", "HOME": str(work)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    files = {name: (work / name).read_text() for name in TEMPLATES}
    files.update({"clients-" + name: (work / ("clients-" + name)).read_text() for name in CLIENTS_TEMPLATES})
    return files


def lines(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_c3_conf_keeps_positions_of_dead_and_excluded_nodes_and_leaves_standby_out(rendered):
    cluster = conf.parse(rendered["c3.conf.j2"], "c3.conf").clusters["lab"]
    assert cluster.head == "head"
    assert cluster.nodes == [
        ("login", "up"),
        ("node001", "up"),
        ("node002", "up"),
        ("node003", "dead"),
        ("node010", "excluded"),
    ]


def test_dnsmasq_gives_a_fixed_lease_to_every_node_nic_and_none_to_the_head(rendered):
    hosts = [line for line in lines(rendered["dnsmasq.conf.j2"]) if line.startswith("dhcp-host=")]
    assert hosts == [
        "dhcp-host=02:00:0a:09:00:05,10.9.0.5,login,12h",
        "dhcp-host=02:00:0a:09:00:0b,10.9.0.11,node001,12h",
        "dhcp-host=02:00:0a:09:00:6f,10.9.0.111,node001-eth1,12h",
        "dhcp-host=02:00:0a:09:00:0c,10.9.0.12,node002,12h",
        "dhcp-host=02:00:0a:09:00:0d,10.9.0.13,node003,12h",
        "dhcp-host=02:00:0a:09:00:14,10.9.0.20,node010,12h",
        "dhcp-host=02:00:0a:09:00:02,10.9.0.2,standby,12h",
    ]


def test_dnsmasq_serves_the_network_from_the_head(rendered):
    config = lines(rendered["dnsmasq.conf.j2"])
    for expected in [
        "interface=eth1",
        "bind-interfaces",
        "no-hosts",
        "no-resolv",
        "server=192.0.2.53",
        "domain=lab.example",
        "local=/lab.example/",
        "dhcp-range=10.9.0.0,static,255.255.255.0,12h",
        "dhcp-range=10.9.0.200,10.9.0.250,255.255.255.0,12h",
        "dhcp-option=option:dns-server,10.9.0.1",
        "dhcp-option=option:ntp-server,10.9.0.1",
        "dhcp-option=option:mtu,9000",
        "host-record=head.lab.example,head,10.9.0.1",
        "host-record=node001-eth1.lab.example,node001-eth1,10.9.0.111",
    ]:
        assert expected in config
    # No gateway in ODA: an empty router option, so that dnsmasq does not offer itself.
    assert "dhcp-option=option:router" in config


def test_hosts_lines_carry_every_name_once(rendered):
    block = lines(rendered["hosts.j2"])
    assert block[0] == "10.9.0.1 head.lab.example head"
    assert "10.9.0.11 node001.lab.example node001" in block
    assert "10.9.0.111 node001-eth1.lab.example node001-eth1" in block
    assert len(block) == 8


def test_chrony_serves_the_network_and_follows_the_upstream(rendered):
    config = lines(rendered["chrony.conf.j2"])
    assert config == ["allow 10.9.0.0/24", "local stratum 10", "server ntp.example.org iburst"]


def test_clients_write_the_same_hosts_lines_as_the_head(rendered):
    """Both roles render /etc/hosts from the same table: the lines must agree."""
    assert lines(rendered["clients-hosts.j2"]) == lines(rendered["hosts.j2"])


def test_clients_resolve_through_the_head_in_the_networks_domain(rendered):
    assert lines(rendered["clients-resolv.conf.j2"]) == ["search lab.example", "nameserver 10.9.0.1"]

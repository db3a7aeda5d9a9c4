"""The server role's slurm.conf, rendered by Ansible from a cluster with every kind of node.

The molecule scenarios check Slurm on real hosts of equal hardware; here the
template and the role's variables meet what a testbed does not have: dead
and excluded nodes (State=FUTURE), a standby head and a login host (not
compute nodes), a node with two NICs, nodes of different hardware, hardware
from ODA when there are no facts, and the site's own lines replacing the
role's.  The file is rendered by ansible-playbook on this machine and read
back with the same parser that keeps unreachable nodes' lines.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.oscar.cluster.plugins.module_utils import slurm_conf

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "server"
VARS_FILES = ("defaults/main.yml", "vars/main.yml", "vars/Debian.yml")


def nic(name, ip, mac, network="private"):
    return {"name": name, "mac": mac, "ip": ip, "network": network}


HOSTS = {
    "head": {
        "oda_cluster": "Lab",
        "oda_hostname": "head",
        "oda_nics": [nic("eth0", "192.0.2.10", "02:00:c0:00:02:0a", "public"), nic("eth1", "10.9.0.1", None)],
    },
    "standby": {"oda_hostname": "standby", "oda_nics": [nic("eth1", "10.9.0.2", "02:00:0a:09:00:02")]},
    "login": {"oda_hostname": "login", "oda_nics": [nic("eth0", "10.9.0.5", "02:00:0a:09:00:05")]},
    "node001": {
        "oda_hostname": "node001",
        "oda_nics": [
            nic("eth0", "10.9.0.11", "02:00:0a:09:00:0b"),
            nic("eth1", "10.9.0.111", "02:00:0a:09:00:6f"),
        ],
    },
    "node002": {"oda_hostname": "node002", "oda_nics": [nic("eth0", "10.9.0.12", "02:00:0a:09:00:0c")]},
    "node003": {
        "oda_hostname": "node003",
        "oda_groups": ["oscar_clients"],
        "oda_cpus": 8,
        "oda_memory_mb": 16000,
        "oda_nics": [nic("eth0", "10.9.0.13", "02:00:0a:09:00:0d")],
    },
    "node004": {"oda_hostname": "node004", "oda_nics": [nic("eth0", "10.9.0.14", "02:00:0a:09:00:0e")]},
    "node010": {
        "oda_hostname": "node010",
        "oda_groups": ["oscar_clients"],
        "oda_nics": [nic("eth0", "10.9.0.20", "02:00:0a:09:00:14")],
    },
}
INVENTORY = {
    "all": {
        "hosts": HOSTS,
        "children": {
            "cluster_Lab": {"hosts": {name: {} for name in HOSTS}},
            "oscar_server": {"hosts": {"head": {}}},
            "oscar_standby": {"hosts": {"standby": {}}},
            "login_nodes": {"hosts": {"login": {}}},
            "oscar_clients": {"hosts": {"node001": {}, "node002": {}, "node004": {}}},
            "oda_dead": {"hosts": {"node003": {}}},
            "oda_excluded": {"hosts": {"node010": {}}},
        },
    }
}
NETWORK = {"name": "private", "cidr": "10.9.0.0/24", "domain": "lab.example"}
SMALL = {
    "ansible_processor_nproc": 4,
    "ansible_processor_vcpus": 4,
    "ansible_processor_count": 1,
    "ansible_processor_cores": 4,
    "ansible_processor_threads_per_core": 1,
    "ansible_memtotal_mb": 8000,
}
BIG = dict(SMALL, ansible_processor_nproc=16, ansible_processor_vcpus=16, ansible_processor_cores=8,
           ansible_processor_threads_per_core=2, ansible_memtotal_mb=64000)  # fmt: skip
# As the role's gathering task registers them (node004's failed: no facts).
GATHERED = {
    "results": [
        {"item": {"name": "node001"}, "ansible_facts": SMALL},
        {"item": {"name": "node002"}, "ansible_facts": SMALL},
        {"item": {"name": "node004"}, "ansible_facts": BIG},
    ]
}


def render(tmp_path, settings):
    """slurm.conf as the role renders it on the head, with the role's variables and settings."""
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(INVENTORY))
    playbook = [
        {
            "name": "Render slurm.conf",
            "hosts": "head",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(ROLE / path) for path in VARS_FILES],
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "__server_network": NETWORK,
                "__server_table": "{{ hostvars | oscar.cluster.host_table(__server_all_hosts,"
                " [__server_network], __server_network.name, __server_head) }}",
                "__server_slurm_gathered": GATHERED,
                # As slurm.yml chooses it on a head with CAP_SYS_NICE.
                "__server_slurm_task_plugin": "task/affinity",
                "__server_slurm_node_conf": "{{ __server_slurm_node_records"
                " | oscar.cluster.slurm_nodes('', server_slurm_memory_reserve_percent) }}",
            },
            "tasks": [
                {"name": "Read the host name", "ansible.builtin.setup": {"gather_subset": ["min"]}},
                {
                    "name": "Render",
                    "ansible.builtin.copy": {
                        "content": "{{ lookup('ansible.builtin.template', '%s/templates/slurm.conf.j2') }}"
                        % ROLE,
                        "dest": str(tmp_path / "slurm.conf"),
                        "mode": "0644",
                    },
                },
            ],
        }
    ]
    (tmp_path / "render.yml").write_text(json.dumps(playbook))
    # As extra vars: the role's defaults come in through vars_files, which win over play vars.
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            *("-i", "inventory.yml", "-e", "@settings.json", "render.yml"),
        ],
        cwd=tmp_path,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (tmp_path / "slurm.conf").read_text()


def content(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(tmp_path_factory.mktemp("slurm"), {"server_slurm_memory_reserve_percent": 10})


def test_the_cluster_and_the_head_come_from_oda_and_facts(rendered):
    config = content(rendered)
    assert config[0] == "ClusterName=lab"
    assert config[1] == "SlurmctldHost=%s(10.9.0.1)" % socket.gethostname().split(".")[0]
    assert "SlurmctldParameters=enable_configless" in config
    assert "ReturnToService=2" in config
    assert "MpiDefault=pmi2" in config
    # A job whose srun was killed is ended, not left running (Slurm's default 0).
    assert "InactiveLimit=120" in config


def test_compute_nodes_only_with_their_primary_address_and_hardware(rendered):
    nodes = [line for line in content(rendered) if line.startswith("NodeName=")]
    assert nodes == [
        "NodeName=node[001-002] NodeAddr=10.9.0.[11-12] CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1"
        " RealMemory=7200 State=UNKNOWN",
        # Dead: kept, unused; its hardware from ODA (no facts are gathered from a dead node).
        "NodeName=node003 NodeAddr=10.9.0.13 CPUs=8 RealMemory=14400 State=FUTURE",
        "NodeName=node004 NodeAddr=10.9.0.14 CPUs=16 Sockets=1 CoresPerSocket=8 ThreadsPerCore=2"
        " RealMemory=57600 State=UNKNOWN",
        # Excluded: kept, unused, with no hardware known.
        "NodeName=node010 NodeAddr=10.9.0.20 State=FUTURE",
    ]
    parsed = slurm_conf.parse_nodes(rendered)
    assert {name: node["address"] for name, node in parsed.items()} == {
        "node001": "10.9.0.11",
        "node002": "10.9.0.12",
        "node003": "10.9.0.13",
        "node004": "10.9.0.14",
        "node010": "10.9.0.20",
    }


def test_one_default_partition_of_every_compute_node(rendered):
    partitions = [line for line in content(rendered) if line.startswith("PartitionName=")]
    assert partitions == [
        "PartitionName=compute Nodes=node[001-004,010] Default=YES MaxTime=INFINITE State=UP"
    ]


def test_the_sites_lines_come_last_and_replace_the_roles_own(tmp_path):
    text = render(
        tmp_path,
        {
            "server_slurm_partition": "batch",
            "server_slurm_mpi_default": "pmix",
            "server_slurm_extra_config": [
                "TaskPlugin=task/none",
                "PartitionName=debug Nodes=node001 MaxTime=30",
            ],
        },
    )
    config = content(text)
    assert [line for line in config if line.startswith("TaskPlugin=")] == ["TaskPlugin=task/none"]
    assert "MpiDefault=pmix" in config
    assert config[-3:] == [
        "PartitionName=batch Nodes=node[001-004,010] Default=YES MaxTime=INFINITE State=UP",
        "TaskPlugin=task/none",
        "PartitionName=debug Nodes=node001 MaxTime=30",
    ]
    # The restart signature ignores partitions only: the TaskPlugin line counts.
    assert slurm_conf.restart_signature(text) != slurm_conf.restart_signature(
        text.replace("TaskPlugin=task/none", "TaskPlugin=task/affinity")
    )

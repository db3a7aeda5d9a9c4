"""Sixty-four Ansible forks writing nodes into ODA at the same moment, on every backend.

A real `ansible-playbook --forks 64` over 64 local hosts: each host's task is
`oscar.cluster.oda_node` defining the node of its own name, with a NIC, a MAC
and a group, so 64 module processes write one database at once.  Afterwards
every node is there exactly once with its NIC, the engine finds nothing wrong,
and a second run changes nothing.  The backends are SQLite and real MariaDB
and PostgreSQL servers (oscar_dbservers).
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from oscar_cluster.module_utils.oda import Oda
from oscar_dbservers import testing

ROOT = Path(__file__).resolve().parents[2]

FORKS = 64
PLAYBOOK = textwrap.dedent(
    """\
    - name: Every fork defines its own node
      hosts: forks
      gather_facts: false
      tasks:
        - name: Define the node of this host's name
          oscar.cluster.oda_node:
            name: "{{ inventory_hostname }}"
            groups: [oscar_clients]
            node_state: up
            nics:
              - name: eth0
                network: private
                ip: "10.30.0.{{ fork_number | int + 10 }}"
                mac: "02:00:0a:1e:00:{{ '%02x' | format(fork_number | int + 10) }}"
    """
)


def _inventory(directory):
    lines = ["[forks]"]
    lines += ["fork%02d fork_number=%d" % (number, number) for number in range(1, FORKS + 1)]
    lines += [
        "",
        "[forks:vars]",
        "ansible_connection=local",
        "ansible_python_interpreter=%s" % sys.executable,
    ]
    path = directory / "forks.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(playbook, inventory, url):
    environment = dict(os.environ, OSCAR_ODA_URL=url, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "--forks",
            str(FORKS),
            playbook,
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    recap = dict(
        (host, (int(changed), int(failed)))
        for host, changed, failed in re.findall(
            r"^(fork\d+)\s+: ok=\d+\s+changed=(\d+)\s+\S+\s+failed=(\d+)", result.stdout, re.M
        )
    )
    return result, recap


def test_sixty_four_forks_write_their_nodes_at_once_and_lose_nothing(database_url, tmp_path):
    oda = Oda.open(database_url)
    oda.networks.ensure("private", "10.30.0.0/24")
    oda.close()
    playbook = tmp_path / "forks.yml"
    playbook.write_text(PLAYBOOK)
    inventory = _inventory(tmp_path)

    result, recap = _run(str(playbook), inventory, database_url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert len(recap) == FORKS
    assert set(recap.values()) == {(1, 0)}

    oda = Oda.open(database_url)
    try:
        nodes = oda.nodes.list("fork[01-64]")
        assert [node["name"] for node in nodes] == ["fork%02d" % number for number in range(1, FORKS + 1)]
        for number, node in enumerate(nodes, start=1):
            assert node["nics"] == [
                {
                    "name": "eth0",
                    "mac": "02:00:0a:1e:00:%02x" % (number + 10),
                    "ip": "10.30.0.%d" % (number + 10),
                    "network": "private",
                }
            ]
            assert node["groups"] == ["oscar_clients"]
            assert node["state"] == "up"
        assert len(oda.groups.members("oscar_clients")) == FORKS
        assert testing.integrity_problems(oda.db) == []
    finally:
        oda.close()

    again, recap = _run(str(playbook), inventory, database_url)
    assert again.returncode == 0, again.stdout[-3000:]
    assert set(recap.values()) == {(0, 0)}

"""Defining 1,000 compute nodes in ODA: one bulk task, one `oda` command, or 1,000 single-node tasks.

Side by side in one run, each on a new SQLite database holding one network:

- one `oscar.cluster.oda_clients` task naming `node[0001-1000]` (OSCAR's
  "Define OSCAR Clients" as one task);
- one `oda node add node[0001-1000] ...` command;
- one `oscar.cluster.oda_node` task looping over the 1,000 nodes, which is
  what a playbook without a bulk module would do.

Every variant leaves the same 1,000 nodes (checked).  The bulk variants run
--repeat times, the loop --loop-repeat times (it is by far the slowest);
medians and ratios against the loop are recorded.

Run: .venv/bin/python benchmarks/oda_bulk_define.py [--nodes 1000] [--repeat 3] [--loop-repeat 1]
Results: benchmarks/results/oda-bulk-define.{json,md}
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oscar_cluster.module_utils.oda import Oda

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"

NETWORK = ("private", "10.128.0.0/16")
START_IP = "10.128.0.1"

BULK_PLAYBOOK = """\
- name: Define the clients in one task
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Define every client
      oscar.cluster.oda_clients:
        names: "node[0001-{last:04d}]"
        network: private
        start_ip: {start_ip}
"""

LOOP_PLAYBOOK = """\
- name: Define the clients one task at a time
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Define one client
      oscar.cluster.oda_node:
        name: "{{{{ 'node%04d' | format(item) }}}}"
        groups: [oscar_clients]
        nics:
          - name: eth0
            network: private
            # The same addresses as the bulk variants: 10.128.0.0 + item.
            ip: "{{{{ '10.128.%d.%d' | format(item // 256, item % 256) }}}}"
      loop: "{{{{ range(1, {last} + 1) | list }}}}"
"""


def new_database(directory, label):
    url = "sqlite:%s" % (directory / ("%s.db" % label))
    oda = Oda.open(url)
    oda.networks.ensure(*NETWORK)
    oda.close()
    return url


def playbook(path):
    """ansible-playbook on localhost, with this Python as the modules' interpreter."""
    return [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        "-e",
        "ansible_python_interpreter=%s" % sys.executable,
        str(path),
    ]


def timed(argv, url):
    environment = dict(os.environ, OSCAR_ODA_URL=url, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    return time.perf_counter() - started


def count_nodes(url):
    oda = Oda.open(url)
    try:
        return len(oda.nodes.list("@oscar_clients"))
    finally:
        oda.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--loop-repeat", type=int, default=1)
    args = parser.parse_args()
    last = args.nodes

    variants = {
        "bulk_task": lambda work: playbook(work / "bulk.yml"),
        "oda_command": lambda work: [
            str(VENV_BIN / "oda"),
            "node",
            "add",
            "node[0001-%04d]" % last,
            "--network",
            NETWORK[0],
            "--start-ip",
            START_IP,
        ],
        "single_tasks": lambda work: playbook(work / "loop.yml"),
    }
    rounds = {"bulk_task": args.repeat, "oda_command": args.repeat, "single_tasks": args.loop_repeat}
    times = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="oscar-bench-") as scratch:
        work = Path(scratch)
        (work / "bulk.yml").write_text(BULK_PLAYBOOK.format(last=last, start_ip=START_IP))
        (work / "loop.yml").write_text(LOOP_PLAYBOOK.format(last=last, start_ip=START_IP))
        for round_number in range(max(rounds.values())):
            for name, argv in variants.items():
                if round_number >= rounds[name]:
                    continue
                url = new_database(work, "%s-%d" % (name, round_number))
                times[name].append(timed(argv(work), url))
                defined = count_nodes(url)
                if defined != args.nodes:
                    raise SystemExit("%s defined %d nodes, expected %d" % (name, defined, args.nodes))

    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "oda-bulk-define",
        "nodes": args.nodes,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": {name: [round(value, 3) for value in values] for name, values in times.items()},
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "speedup_over_single_tasks": {
            name: round(medians["single_tasks"] / medians[name], 1) for name in ("bulk_task", "oda_command")
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "oda-bulk-define.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("one `oscar.cluster.oda_clients` task", "bulk_task"),
        ("one `oda node add` command", "oda_command"),
        ("%d single `oscar.cluster.oda_node` tasks (a loop)" % args.nodes, "single_tasks"),
    ]
    lines = [
        "# Defining %d nodes in ODA (SQLite)" % args.nodes,
        "",
        "Side by side in one run, on %d CPUs; each run on a new database." % os.cpu_count(),
        "",
        "| how | median | runs | times faster than single tasks |",
        "|---|---:|---|---:|",
    ]
    for label, name in rows:
        speedup = medians["single_tasks"] / medians[name]
        lines.append(
            "| %s | %.2f s | %s | %.1f |"
            % (label, medians[name], ", ".join("%.2f" % value for value in times[name]), speedup)
        )
    (RESULTS / "oda-bulk-define.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(result["median_seconds"]), json.dumps(result["speedup_over_single_tasks"]))


if __name__ == "__main__":
    main()

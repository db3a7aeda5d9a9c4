"""Loading a 10,000-node cluster: the ODA inventory plugin against a static YAML inventory.

The same cluster is given to Ansible twice, and `ansible-inventory --list` reads
each, side by side in one run:

- through `oscar.cluster.oda`, from an SQLite ODA holding the nodes (one
  network, the default groups, a MAC and an address per node);
- from a static YAML inventory with exactly the same hosts, groups and host
  variables (written from the plugin's own answer, so both carry the same data).

Each is run --repeat times in turn; the median wall time of each and their
ratio (plugin / static; below 1 means the plugin is faster) are recorded.

Run: .venv/bin/python benchmarks/inventory_load.py [--nodes 10000] [--repeat 5]
Results: benchmarks/results/inventory-load.{json,md}
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

import yaml
from oscar_cluster.module_utils.oda import Oda

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"


def build_database(url, nodes):
    """An ODA of `nodes` compute nodes on one /16 network, defined in one transaction."""
    oda = Oda.open(url)
    try:
        oda.networks.ensure("private", "10.128.0.0/16", domain="cluster")
        oda.images.ensure("debian12")
        macs = ["02:00:0a:80:%02x:%02x" % divmod(index + 1, 256) for index in range(nodes)]
        names = "node[%05d-%05d]" % (1, nodes)
        oda.nodes.define_clients(names, "private", "10.128.0.1", image="debian12", macs=macs)
        oda.variables.set("cluster", "oscar", {"ansible_user": "root"})
    finally:
        oda.close()


def plain(value):
    """ansible-inventory's JSON without its marking of strings that are never templated."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def static_inventory(listing):
    """A YAML inventory holding what `ansible-inventory --list` returned: same hosts, groups, variables."""
    hostvars = listing["_meta"]["hostvars"]
    children = {}
    for group, data in listing.items():
        if group in ("_meta", "all", "ungrouped") or "hosts" not in data:
            continue
        children[group] = {"hosts": {host: None for host in data["hosts"]}}
    return {"all": {"hosts": hostvars, "children": children}}


def ansible_inventory(source, env):
    started = time.perf_counter()
    result = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="oscar-bench-") as scratch:
        work = Path(scratch)
        url = "sqlite:%s" % (work / "oda.db")
        started = time.perf_counter()
        build_database(url, args.nodes)
        define_seconds = time.perf_counter() - started
        source = work / "oscar_inventory"
        source.write_text("plugin: oscar.cluster.oda\n")
        env = dict(os.environ, OSCAR_ODA_URL=url, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))

        output = ansible_inventory(source, env)[1]
        listing = plain(json.loads(output))
        hosts = len(listing["_meta"]["hostvars"])
        if hosts != args.nodes:
            raise SystemExit("the plugin listed %d hosts, expected %d" % (hosts, args.nodes))
        static = work / "static.yml"
        static.write_text(yaml.safe_dump(static_inventory(listing), sort_keys=False))
        static_output = ansible_inventory(static, env)[1]
        if plain(json.loads(static_output))["_meta"]["hostvars"] != listing["_meta"]["hostvars"]:
            raise SystemExit("the static inventory does not carry the same host variables")

        times = {"oda_plugin": [], "static_yaml": []}
        for _round in range(args.repeat):
            times["oda_plugin"].append(ansible_inventory(source, env)[0])
            times["static_yaml"].append(ansible_inventory(static, env)[0])

    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "inventory-load",
        "nodes": args.nodes,
        "repeat": args.repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "define_nodes_seconds": round(define_seconds, 3),
        "seconds": {name: [round(value, 3) for value in values] for name, values in times.items()},
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "ratio_plugin_to_static": round(medians["oda_plugin"] / medians["static_yaml"], 3),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inventory-load.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "inventory-load.md").write_text(
        "# Loading %d nodes with `ansible-inventory --list`\n\n"
        "Median of %d runs each, side by side in one run, on %d CPUs.\n\n"
        "| source | median | runs |\n|---|---:|---|\n"
        "| `oscar.cluster.oda` (SQLite ODA) | %.2f s | %s |\n"
        "| static YAML, same hosts and variables | %.2f s | %s |\n\n"
        "Ratio plugin / static: **%.2f** (below 1: the plugin is faster).\n"
        "Defining the %d nodes in ODA (one `define_clients` transaction): %.2f s.\n"
        % (
            args.nodes,
            args.repeat,
            os.cpu_count(),
            medians["oda_plugin"],
            ", ".join("%.2f" % value for value in times["oda_plugin"]),
            medians["static_yaml"],
            ", ".join("%.2f" % value for value in times["static_yaml"]),
            result["ratio_plugin_to_static"],
            args.nodes,
            define_seconds,
        )
    )
    print(json.dumps(result["median_seconds"]), "ratio", result["ratio_plugin_to_static"])


if __name__ == "__main__":
    main()

"""How `oda node add` and `oda import` scale with the number of nodes: 1,000, 10,000, 50,000.

Each size, on new SQLite databases holding one network (10.128.0.0/16):

- `oda node add node[00001-N] --network private --start-ip 10.128.0.1`:
  one command, one transaction, N nodes;
- `oda import` of the cluster definition `oda export` wrote for those N
  nodes, into another new database.

Both used to be quadratic (a list lookup per name; every NIC re-read for
every imported node).  Linear means the time per 1,000 nodes stays about
the same from one size to the next; the table shows it.  Every run is a
real process running the `oda` command, so the times include starting Python (about 0.2 s).

Run: .venv/bin/python benchmarks/oda_scaling.py [--sizes 1000 10000 50000] [--repeat 1]
Results: benchmarks/results/oda-scaling.{json,md}
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# The oda command installed beside this Python (the repository's .venv when run from it).
ODA = [str(Path(sys.executable).with_name("oda"))]
ENVIRONMENT = dict(os.environ)
ENVIRONMENT.pop("OSCAR_ODA_URL", None)
NETWORK = ("private", "10.128.0.0/16")
START_IP = "10.128.0.1"


def oda(url, *argv):
    """Run the oda command on a database; return the seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [*ODA, "--database", url, *argv],
        cwd=ROOT,
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started


def new_database(work, label):
    url = "sqlite:%s" % (work / ("%s.db" % label))
    oda(url, "network", "add", NETWORK[0], "--cidr", NETWORK[1])
    return url


def count_nodes(url):
    listing = subprocess.run(
        [*ODA, "--database", url, "group-nodes", "oscar_clients"],
        env=ENVIRONMENT,
        capture_output=True,
        text=True,
        check=True,
    )
    return len(listing.stdout.split())


def measure(work, size, round_number):
    """(node add seconds, import seconds) for one size."""
    label = "n%d-r%d" % (size, round_number)
    added = new_database(work, label + "-add")
    add = oda(
        added, "node", "add", "node[%05d-%05d]" % (1, size), "--network", NETWORK[0], "--start-ip", START_IP
    )
    definition = work / (label + ".yml")
    oda(added, "export", str(definition))
    imported = new_database(work, label + "-import")
    load = oda(imported, "import", str(definition))
    for url in (added, imported):
        found = count_nodes(url)
        if found != size:
            raise SystemExit("%s holds %d nodes, expected %d" % (url, found, size))
    return add, load


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    times = {size: {"node_add": [], "import": []} for size in args.sizes}
    with tempfile.TemporaryDirectory(prefix="oscar-bench-") as scratch:
        work = Path(scratch)
        for round_number in range(args.repeat):
            for size in args.sizes:
                add, load = measure(work, size, round_number)
                times[size]["node_add"].append(add)
                times[size]["import"].append(load)
                print("%6d nodes: node add %.2f s, import %.2f s" % (size, add, load), flush=True)

    medians = {
        size: {verb: statistics.median(values) for verb, values in by_verb.items()}
        for size, by_verb in times.items()
    }
    result = {
        "benchmark": "oda-scaling",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": {
            str(size): {verb: [round(value, 3) for value in values] for verb, values in by_verb.items()}
            for size, by_verb in times.items()
        },
        "median_seconds": {
            str(size): {verb: round(value, 3) for verb, value in by_verb.items()}
            for size, by_verb in medians.items()
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "oda-scaling.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# `oda node add` and `oda import` from 1,000 to 50,000 nodes (SQLite)",
        "",
        "On %d CPUs, each size on new databases; times are whole processes running what"
        " the `oda` command runs, Python's start included (median of %d)." % (os.cpu_count(), args.repeat),
        "Linear: the seconds per 1,000 nodes stay about level as the size grows; quadratic"
        " work would multiply them by the ratio of the sizes (50 from 1,000 to 50,000).",
        "",
        "| nodes | `oda node add` | per 1,000 nodes | `oda import` | per 1,000 nodes |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size in args.sizes:
        add, load = medians[size]["node_add"], medians[size]["import"]
        lines.append(
            f"| {size:,} | {add:.2f} s | {add * 1000 / size:.3f} s"
            f" | {load:.2f} s | {load * 1000 / size:.3f} s |"
        )
    lines += [
        "",
        "Before the fix, as issue 14 measured them: `node add` took 2.4 s for 10,000 names,"
        " 35 s for 40,000 and 293 s for 80,000; `import` 4.3 s for 1,000 nodes, 56 s for 4,000"
        " and about 23 minutes for 20,000.",
    ]
    (RESULTS / "oda-scaling.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Start-up time and memory per host of a testbed of 8, 32 and 64 compute nodes.

For each size the benchmark brings a testbed up (one head plus N compute
nodes) with the `testbed` command exactly as a user does, and records:

- the wall time of `testbed up` until every host runs systemd and answers SSH
  (the image is built beforehand and not counted);
- memory per host as the containers' own cgroups account it, idle, and again
  with one persistent SSH session per host (after `ansible all -m ping` with
  ControlPersist), which is how the hosts live during a playbook run;
- the drop in the machine's MemAvailable per host, the figure that limits
  how many hosts fit;
- the time of a cold `ansible all -m ping` over the testbed's inventory.

Run: .venv/bin/python benchmarks/testbed_startup.py [--sizes 8 32 64] [--repeat 3]
Results: benchmarks/results/testbed-startup.{json,md}
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def testbed(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tools"))
    return subprocess.run(
        [sys.executable, "-m", "oscar_testbed", *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        **kwargs,
    )


def mem_available_mib():
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def container_memory_mib(name):
    """Memory of each container of the testbed, in MiB, from podman stats."""
    stats = subprocess.run(
        ["podman", "--runtime", "runc", "stats", "--no-stream", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    sizes = []
    for entry in json.loads(stats.stdout):
        if not entry["name"].startswith(f"{name}-"):
            continue
        used = entry["mem_usage"].split("/")[0].strip()
        number, unit = re.match(r"([0-9.]+)\s*([A-Za-z]+)", used).groups()
        sizes.append(float(number) * UNITS[unit] / 1024**2)
    return sizes


def run_once(size, index):
    name = f"bench-{size}-{index}"
    before = mem_available_mib()
    started = time.monotonic()
    testbed("--name", name, "up", "--nodes", str(size), timeout=1800)
    up_seconds = time.monotonic() - started
    try:
        time.sleep(5)  # let boot-time work settle before measuring
        hosts = size + 1
        idle = container_memory_mib(name)
        available_drop = (before - mem_available_mib()) / hosts
        inventory = json.loads(testbed("--name", name, "status", "--json").stdout)["inventory"]
        started = time.monotonic()
        ping = subprocess.run(
            [
                str(VENV_BIN / "ansible"),
                "all",
                "-i",
                inventory,
                "-m",
                "ansible.builtin.ping",
                "--forks",
                "64",
                "-o",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        ping_seconds = time.monotonic() - started
        if ping.returncode != 0:
            raise RuntimeError(f"ansible ping failed on {name}:\n{ping.stdout[-2000:]}")
        with_sessions = container_memory_mib(name)
    finally:
        testbed("--name", name, "down", timeout=900)
    return {
        "hosts": hosts,
        "up_seconds": round(up_seconds, 2),
        "ansible_ping_seconds": round(ping_seconds, 2),
        "idle_mib_per_host": round(statistics.mean(idle), 1),
        "sessions_mib_per_host": round(statistics.mean(with_sessions), 1),
        "mem_available_drop_mib_per_host": round(available_drop, 1),
    }


def summarise(runs):
    keys = [k for k in runs[0] if k != "hosts"]
    return {
        "hosts": runs[0]["hosts"],
        "runs": len(runs),
        **{k: round(statistics.median(r[k] for r in runs), 2) for k in keys},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(testbed("image").stdout.strip(), "ready", flush=True)
    results = []
    for size in args.sizes:
        runs = [run_once(size, i) for i in range(args.repeat)]
        results.append({"compute_nodes": size, **summarise(runs), "all_runs": runs})
        print(json.dumps(results[-1]), flush=True)

    machine = {
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "kernel": platform.release(),
        "podman": subprocess.run(
            ["podman", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "testbed-startup.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n", encoding="utf-8"
    )
    lines = [
        "# Testbed start-up and memory per host",
        "",
        f"Machine: {machine['cpus']} cores, {machine['memory_gib']} GiB, kernel {machine['kernel']}, "
        f"{machine['podman']}. Median of {args.repeat} runs per size; each testbed is one head plus "
        "the compute nodes. Made by `benchmarks/testbed_startup.py`.",
        "",
        "| compute nodes | hosts | `testbed up` (s) | s per host | idle MiB/host | MiB/host with SSH session "
        "| MemAvailable drop MiB/host | cold `ansible all -m ping` (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['compute_nodes']} | {r['hosts']} | {r['up_seconds']} | "
            f"{r['up_seconds'] / r['hosts']:.2f} | {r['idle_mib_per_host']} | "
            f"{r['sessions_mib_per_host']} | {r['mem_available_drop_mib_per_host']} | "
            f"{r['ansible_ping_seconds']} |"
        )
    lines += [
        "",
        "Reading the figures: the per-host memory columns are what the containers' cgroups account",
        "(systemd, journald, dbus, logind, sshd; the second column with one SSH master connection",
        "open per host, as during a playbook run). The MemAvailable drop is the machine's own view;",
        "page-cache movements of a few hundred MiB make it noisy for small testbeds, and it can even",
        "come out negative there. `testbed up` plans 96 MiB per host when it checks that a testbed fits.",
    ]
    (RESULTS / "testbed-startup.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

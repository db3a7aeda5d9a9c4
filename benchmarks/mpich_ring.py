"""The MPI ring of Test Cluster Setup, many times over: the project's MPICH against Debian's.

On a cluster that site.yml has set up (the demo's, by default: `./scripts/demo`
first), as Test Cluster Setup's user `oscartst` on the head, one rank per
compute node, --runs times each and side by side in one run:

- the project's MPICH (oscar.cluster.mpich, in /opt/cluster/mpich/default),
  started by its own `mpiexec -launcher ssh` and by `srun --mpi=pmi2`;
- with --debian, Debian 12's MPICH 4.0.2 (packages mpich and libmpich-dev,
  installed on the head and the nodes through the head's package cache for
  the comparison), started by `mpirun.mpich -launcher ssh` and by `srun --mpi=pmi2`.

Each run is stopped after --timeout seconds.  Recorded per variant: how many
runs closed the ring and exited, how many hung (stopped at the time limit,
and whether the ring had closed first), the median and the slowest time of
the runs that finished.

Run: .venv/bin/python benchmarks/mpich_ring.py [--testbed demo] [--runs 20] [--timeout 60] [--debian]
Results: benchmarks/results/mpich-ring.{json,md}
"""

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
USER = "oscartst"
TEST_DIR = f"/home/{USER}/oscar-test"
MPICH = "/opt/cluster/mpich/default/bin"


def testbed(name, *args, check=True, timeout=600):
    result = subprocess.run(
        [sys.executable, "-m", "oscar_testbed", "--name", name, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        sys.exit(f"testbed {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def on_host(name, host, command, check=True, timeout=600):
    # The testbed hands the command to the remote shell as one string.
    return testbed(name, "ssh", host, command, check=check, timeout=timeout)


def as_user(command):
    return f"runuser -u {USER} -- sh -c {shlex.quote(f'cd {TEST_DIR} && exec {command} < /dev/null')}"


def compute_nodes(name):
    hosts = json.loads(testbed(name, "status", "--json").stdout)["hosts"]
    return sorted(host["host"] for host in hosts if host["host"].startswith("node"))


def install_debian_mpich(name, nodes):
    """Debian's MPICH on every host, and the ring built with it, for the comparison."""
    for host in ["head", *nodes]:
        on_host(
            name, host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q mpich libmpich-dev", timeout=900
        )
    on_host(name, "head", as_user(f"mpicc.mpich -O2 -o {TEST_DIR}/ring-debian {TEST_DIR}/oscar_ring.c"))


def time_runs(name, command, runs, timeout, ranks):
    """Each run: seconds and outcome (ok, hung after the ring closed, hung, failed)."""
    outcomes = []
    for _run in range(runs):
        started = time.monotonic()
        result = on_host(
            name, "head", as_user(f"timeout {timeout} {command}"), check=False, timeout=timeout + 60
        )
        elapsed = round(time.monotonic() - started, 2)
        ring_closed = f"ring ok: {ranks} ranks" in result.stdout
        if result.returncode == 0 and ring_closed:
            outcome = "ok"
        elif result.returncode == 124:
            outcome = "hung after the ring closed" if ring_closed else "hung"
        else:
            outcome = f"failed (exit {result.returncode})"
        outcomes.append({"seconds": elapsed, "outcome": outcome})
        print(f"  {elapsed:6.2f} s  {outcome}", flush=True)
    return outcomes


def summary(outcomes):
    finished = [o["seconds"] for o in outcomes if o["outcome"] == "ok"]
    return {
        "runs": len(outcomes),
        "ok": len(finished),
        "hung": sum(o["outcome"].startswith("hung") for o in outcomes),
        "failed": sum(o["outcome"].startswith("failed") for o in outcomes),
        "median_s": round(statistics.median(finished), 2) if finished else None,
        "slowest_s": max(finished) if finished else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testbed", default="demo", help="the testbed site.yml set up (default: demo)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--debian", action="store_true", help="also Debian 12's MPICH, side by side")
    args = parser.parse_args()

    nodes = compute_nodes(args.testbed)
    ranks = len(nodes)
    hosts = ",".join(nodes)
    srun = f"srun --mpi=pmi2 --nodes {ranks} --ntasks-per-node 1"
    variants = {
        "MPICH 5.0.2 (oscar.cluster.mpich), mpiexec": f"{MPICH}/mpiexec -launcher ssh -hosts {hosts} -ppn 1 "
        f"-n {ranks} ./ring-mpich",
        "MPICH 5.0.2 (oscar.cluster.mpich), srun --mpi=pmi2": f"{srun} ./ring-mpich",
    }
    if args.debian:
        install_debian_mpich(args.testbed, nodes)
        variants["Debian 12's MPICH 4.0.2, mpirun.mpich"] = (
            f"mpirun.mpich -launcher ssh -hosts {hosts} -ppn 1 -n {ranks} ./ring-debian"
        )
        variants["Debian 12's MPICH 4.0.2, srun --mpi=pmi2"] = f"{srun} ./ring-debian"

    results = {}
    for label, command in variants.items():
        print(f"{label}: {args.runs} runs", flush=True)
        outcomes = time_runs(args.testbed, command, args.runs, args.timeout, ranks)
        results[label] = {"command": command, "summary": summary(outcomes), "runs": outcomes}

    record = {
        "machine": f"{platform.node()} {platform.machine()}",
        "nodes": ranks,
        "runs": args.runs,
        "timeout_s": args.timeout,
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mpich-ring.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# The MPI ring, run after run",
        "",
        f"`benchmarks/mpich_ring.py`: {ranks} compute nodes of a testbed, one rank each,",
        f"{args.runs} runs per variant, each stopped after {args.timeout} s.",
        "Times are wall seconds seen from the head, SSH included.",
        "",
        "| MPICH, launcher | finished | hung | failed | median s | slowest s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, result in results.items():
        s = result["summary"]
        lines.append(
            f"| {label} | {s['ok']} of {s['runs']} | {s['hung']} | {s['failed']} | "
            f"{s['median_s'] if s['median_s'] is not None else '-'} | "
            f"{s['slowest_s'] if s['slowest_s'] is not None else '-'} |"
        )
    (RESULTS / "mpich-ring.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

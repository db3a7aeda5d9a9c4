"""Fan-out to 8, 32 and 64 testbed nodes: cexec and cpush against clush, pdsh and Ansible.

For every size, one testbed of that many compute nodes is brought up (one at a
time), and side by side in one run, --repeat times in turn:

- `hostname` on every node with `cexec`, `clush -b`, `pdsh -R ssh` and
  `ansible -m command`;
- a new 1 MiB file to /tmp/ of every node with `cpush`, `clush --copy`,
  `pdcp` and `ansible -m copy`;

each cold (no SSH connection open) and warm (connections of the previous run
reused).  Connection reuse is each tool's own: cexec/cpush keep theirs in the
per-user C3 daemon; clush and pdsh get OpenSSH ControlMaster/ControlPersist
through the same ssh options; Ansible uses its ControlPersist in the control
directory ODA names.  Cold runs start from a fresh control directory (clush,
pdsh), closed masters (Ansible) or a stopped daemon (C3).  Every tool reaches
the nodes through the testbed's ssh_config (curve25519 key exchange), and the
C3 commands and Ansible read the nodes from ODA through oscar_inventory.  The
C3 inventory cache is warm in both cases (ODA did not change).

Recorded: every time, the medians, and the ratios cexec/clush, cexec/pdsh,
ansible/cexec (and the same for the copies).  With each time, where the CPU
went: the test hosts' containers (their cgroups: sshd, the shells, Ansible's
modules) and the rest of this machine (the tool itself, with its ssh
processes or daemon).  The testbed's nodes share this machine's CPUs with the
tool; on a real cluster every node has its own, so the CPU a tool spends on
the machine it runs on is what bounds it there.

Prerequisites (installed here when missing): pdsh from Debian; pdcp also has to
run on the nodes, so its files are pushed there from this machine's package.

Run: .venv/bin/python benchmarks/c3_fanout.py [--sizes 8,32,64] [--repeat 5] [--testbed c3-bench]
Results: benchmarks/results/c3-fanout.{json,md}
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"
BED = "c3-bench"
FANOUT = 64
PAYLOAD = 1 << 20
PDCP_FILES = ["/usr/bin/pdcp", "/usr/bin/pdsh.bin", "/usr/lib/x86_64-linux-gnu/pdsh/sshcmd.so"]
MODES = ("cold", "warm")
TOOLS = {
    "hostname": ["cexec", "clush", "pdsh", "ansible -m command"],
    "copy 1 MiB": ["cpush", "clush --copy", "pdcp", "ansible -m copy"],
}


class BenchmarkError(Exception):
    pass


def run(argv, env=None, check=True, timeout=900):
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise BenchmarkError(
            "%s exited %d:\n%s%s"
            % (" ".join(argv), result.returncode, result.stdout[-2000:], result.stderr[-2000:])
        )
    return result


class CpuMeter:
    """CPU seconds used so far by the whole machine and by the test hosts' containers.

    The machine's from /proc/stat; the containers' from their cgroups, under
    cgroup v1 (cpuacct.usage, nanoseconds) or v2 (cpu.stat usage_usec).
    """

    def __init__(self, containers):
        paths = run(["podman", "inspect", "--format", "{{.State.CgroupPath}}", *containers]).stdout.split()
        self.files = []
        for path in paths:
            v1 = Path("/sys/fs/cgroup/cpuacct") / path.lstrip("/") / "cpuacct.usage"
            v2 = Path("/sys/fs/cgroup") / path.lstrip("/") / "cpu.stat"
            if v1.exists():
                self.files.append((v1, None))
            elif v2.exists():
                self.files.append((v2, "usage_usec"))
            else:
                raise BenchmarkError("no CPU accounting for the container cgroup %s" % path)
        self.tick = os.sysconf("SC_CLK_TCK")

    def sample(self):
        """(machine busy seconds, test hosts' seconds)."""
        with open("/proc/stat") as stat:
            fields = [int(field) for field in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle and iowait
        hosts = 0.0
        for path, key in self.files:
            text = path.read_text()
            if key is None:
                hosts += int(text) / 1e9
            else:
                usage = next(line.split()[1] for line in text.splitlines() if line.startswith(key))
                hosts += int(usage) / 1e6
        return (sum(fields[:8]) - idle) / self.tick, hosts


def timed(argv, env=None, meter=None):
    """{"seconds": wall time, "tool_cpu", "hosts_cpu": CPU seconds} of one run."""
    before = meter.sample() if meter else None
    started = time.perf_counter()
    run(argv, env=env)
    seconds = time.perf_counter() - started
    if not meter:
        return {"seconds": seconds}
    after = meter.sample()
    hosts = after[1] - before[1]
    return {"seconds": seconds, "tool_cpu": max(0.0, after[0] - before[0] - hosts), "hosts_cpu": hosts}


def prerequisites():
    """pdsh from Debian (root and apt-get needed when it is missing); clush comes with the toolchain."""
    if not shutil.which("pdsh"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise BenchmarkError(
                "pdsh is missing; install the Debian package pdsh (as root: apt-get install -y pdsh)"
            )
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "pdsh"], env=env)
    if not (VENV_BIN / "clush").exists():
        raise BenchmarkError(
            "clush is missing from %s; run scripts/setup (ClusterShell is in requirements.txt)" % VENV_BIN
        )
    # The C3 sources byte-compiled, as clush's are by pip: what an installed
    # command runs, also after an edit made since scripts/setup.
    import oscar_cluster  # noqa: PLC0415 (the installed package: links to the sources in a clone)

    run([sys.executable, "-m", "compileall", "-q", str(Path(oscar_cluster.__file__).parent)])


class Bench:
    """One testbed of `size` nodes and the commands of every tool against it."""

    def __init__(self, size, work, name=BED):
        self.size = size
        self.name = name
        self.work = Path(work)
        self.state = self.work / "state"
        self.testbed_env = dict(os.environ, OSCAR_TESTBED_STATE=str(self.state))
        self.testbed_env.pop("OSCAR_ODA_URL", None)
        self.nodes = "node[001-%03d]" % size

    def testbed(self, *args, check=True):
        return run(
            [str(ROOT / "tools" / "testbed"), "--name", self.name, *args], env=self.testbed_env, check=check
        )

    def up(self):
        self.testbed("up", "--nodes", str(self.size))
        status = json.loads(self.testbed("status", "--json").stdout)
        self.ssh_config = status["ssh_config"]
        self.meter = CpuMeter([host["container"] for host in status["hosts"]])
        self.env = dict(
            os.environ,
            OSCAR_ODA_URL=status["oda"],
            OSCAR_C3_CACHE=str(self.work / "c3-cache"),
            XDG_RUNTIME_DIR=str(self.work / "c3-run"),
            OSCAR_C3_PERSIST="600",
        )
        self.env.pop("OSCAR_C3_INVENTORY", None)
        control = self.control_dir_of_ansible()
        self.ansible_control = Path(os.path.expanduser(control)) if control else None
        # Prime the C3 inventory cache and put pdcp on the nodes.
        run([str(VENV_BIN / "cexec"), "-q", "true"], env=self.env)
        listing = self.work / "pdcp.list"
        listing.write_text("".join("%s\n" % path for path in PDCP_FILES))
        run([str(VENV_BIN / "cpush"), "-q", "-l", str(listing)], env=self.env)
        self.stop_c3()

    def control_dir_of_ansible(self):
        result = run(
            [
                str(VENV_BIN / "ansible"),
                "node001",
                "-i",
                "oscar_inventory",
                "-m",
                "ansible.builtin.debug",
                "-a",
                "var=ansible_control_path_dir",
            ],
            env=self.env,
        )
        for line in result.stdout.splitlines():
            if '"ansible_control_path_dir":' in line:
                return line.split(":", 1)[1].strip().strip('",')
        return None

    def down(self):
        self.stop_c3()
        self.close_masters(self.ansible_control)
        self.testbed("down", check=False)

    # ---- cold-start helpers ---------------------------------------------------

    def stop_c3(self):
        run(
            [str(VENV_BIN / "c3"), "mux", "--stop"],
            env=self.env,
            check=False,
        )

    @staticmethod
    def close_masters(directory):
        if not directory or not directory.is_dir():
            return
        for socket_path in directory.iterdir():
            if socket_path.is_socket():
                run(["ssh", "-o", "ControlPath=%s" % socket_path, "-O", "exit", "x"], check=False)

    def fresh_control(self, tool):
        directory = self.work / ("cm-%s" % tool)
        self.close_masters(directory)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        return directory

    def ssh_options(self, directory, percent="%"):
        return "-F %s -o ControlMaster=auto -o ControlPath=%s/%sC -o ControlPersist=600" % (
            self.ssh_config,
            directory,
            percent,
        )

    def new_payload(self):
        path = self.work / "payload.bin"
        path.write_bytes(os.urandom(PAYLOAD))
        return path

    # ---- the tools ----------------------------------------------------------------

    def argv(self, tool, directory=None):
        """(argv, env) of one tool's run; copies get a new payload each time."""
        nodes = self.nodes
        if tool in ("cexec", "cpush"):
            if tool == "cexec":
                return [str(VENV_BIN / "cexec"), "-q", "hostname"], self.env
            return [str(VENV_BIN / "cpush"), "-q", str(self.new_payload()), "/tmp/"], self.env
        if tool.startswith("clush"):
            base = [
                str(VENV_BIN / "clush"),
                "-f",
                str(FANOUT),
                "-w",
                nodes,
                "-o",
                self.ssh_options(directory, "%%"),
            ]
            if tool == "clush":
                return [*base, "-b", "hostname"], None
            return [*base, "--copy", str(self.new_payload()), "--dest", "/tmp/"], None
        if tool in ("pdsh", "pdcp"):
            env = dict(os.environ, PDSH_SSH_ARGS_APPEND=self.ssh_options(directory), PDSH_RCMD_TYPE="ssh")
            hosts = ",".join("node%03d" % n for n in range(1, self.size + 1))
            if tool == "pdsh":
                return ["pdsh", "-R", "ssh", "-f", str(FANOUT), "-w", hosts, "hostname"], env
            return [
                "pdcp",
                "-R",
                "ssh",
                "-f",
                str(FANOUT),
                "-w",
                hosts,
                str(self.new_payload()),
                "/tmp/",
            ], env
        module = ["-m", "ansible.builtin.command", "-a", "hostname"]
        if tool == "ansible -m copy":
            module = ["-m", "ansible.builtin.copy", "-a", "src=%s dest=/tmp/" % self.new_payload()]
        return [
            str(VENV_BIN / "ansible"),
            "oscar_clients",
            "-i",
            "oscar_inventory",
            "-f",
            str(FANOUT),
            *module,
        ], self.env

    def measure(self, tool):
        """(cold, warm) runs of one tool, each as timed() returns it."""
        directory = None
        if tool in ("cexec", "cpush"):
            self.stop_c3()
        elif tool.startswith("ansible"):
            self.close_masters(self.ansible_control)
        else:
            directory = self.fresh_control(tool.split()[0])
        argv, env = self.argv(tool, directory)
        cold = timed(argv, env, self.meter)
        argv, env = self.argv(tool, directory)
        warm = timed(argv, env, self.meter)
        return cold, warm


def median(values):
    return statistics.median(values) if values else None


def ratio(numerator, denominator):
    return round(numerator / denominator, 3) if numerator and denominator else None


def summarise(times, cpu):
    """Medians and ratios from {size: {task: {tool: {mode: [...]}}}} and the CPU seconds beside them."""
    summary = {}
    for size, tasks in times.items():
        summary[size] = {}
        for task, tools in tasks.items():
            ours, clush, pdsh, ansible = TOOLS[task]
            medians = {
                tool: {mode: median(values) for mode, values in modes.items()}
                for tool, modes in tools.items()
            }
            cpu_medians = {
                tool: {
                    mode: {side: median(values) for side, values in sides.items()}
                    for mode, sides in cpu[size][task][tool].items()
                }
                for tool in tools
            }
            ratios = {}
            for mode in MODES:
                ratios[mode] = {
                    "%s/%s" % (ours, clush): ratio(medians[ours][mode], medians[clush][mode]),
                    "%s/%s" % (ours, pdsh): ratio(medians[ours][mode], medians[pdsh][mode]),
                    "%s/%s" % (ansible, ours): ratio(medians[ansible][mode], medians[ours][mode]),
                    "%s/%s, CPU on this machine" % (ansible, ours): ratio(
                        cpu_medians[ansible][mode]["tool"], cpu_medians[ours][mode]["tool"]
                    ),
                }
            summary[size][task] = {
                "median_seconds": medians,
                "median_cpu_seconds": cpu_medians,
                "ratios": ratios,
            }
    return summary


def markdown(report):
    lines = [
        "# C3 fan-out: cexec and cpush against clush, pdsh and Ansible",
        "",
        "Median of %d runs each, side by side in one run, on %d CPUs; fanout %d;"
        % (report["repeat"], report["cpus"], FANOUT),
        "cold = no SSH connection open, warm = the connections of the previous run reused",
        "(see benchmarks/c3_fanout.py).",
        "",
    ]
    for size, tasks in report["summary"].items():
        for task, data in tasks.items():
            lines += [
                "## %s nodes: %s" % (size, task),
                "",
                "| tool | cold | warm | cold: CPU here / hosts | warm: CPU here / hosts |",
                "|---|---:|---:|---:|---:|",
            ]
            for tool, modes in data["median_seconds"].items():
                used = data["median_cpu_seconds"][tool]
                lines.append(
                    "| `%s` | %.2f s | %.2f s | %.2f / %.2f s | %.2f / %.2f s |"
                    % (
                        tool,
                        modes["cold"],
                        modes["warm"],
                        used["cold"]["tool"],
                        used["cold"]["hosts"],
                        used["warm"]["tool"],
                        used["warm"]["hosts"],
                    )
                )
            lines += ["", "| ratio | cold | warm |", "|---|---:|---:|"]
            for name in data["ratios"]["cold"]:
                lines.append(
                    "| %s | %s | %s |" % (name, data["ratios"]["cold"][name], data["ratios"]["warm"][name])
                )
            lines.append("")
    lines += [
        "Ratios ours/theirs below 1 mean the C3 command is faster;",
        "ansible/ours is how many times slower Ansible is.",
        "CPU here: seconds of CPU this machine spent outside the test hosts (the tool,",
        "its ssh processes or daemon); hosts: the test hosts' containers (sshd, shells,",
        "Ansible's modules).  The test hosts share this machine's CPUs with the tool;",
        "on a real cluster each node has its own, and the CPU spent here is what bounds",
        "a tool's fan-out.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--sizes", default="8,32,64", help="numbers of compute nodes (default: 8,32,64; at most 64)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each tool per size (default: 5)")
    parser.add_argument("--output", default=str(RESULTS), help="directory of c3-fanout.json and .md")
    parser.add_argument("--testbed", default=BED, help="name of the testbed brought up (default: %s)" % BED)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(not 1 <= s <= 64 for s in sizes) or args.repeat < 1:
        parser.error("sizes must be 1 to 64 nodes and --repeat at least 1")
    prerequisites()
    times = {}
    cpu = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="c3-bench-") as work:
            bench = Bench(size, work, args.testbed)
            try:
                print("c3_fanout: %d nodes: bringing the testbed up" % size, flush=True)
                bench.up()
                times[size] = {
                    task: {tool: {"cold": [], "warm": []} for tool in tools} for task, tools in TOOLS.items()
                }
                cpu[size] = {
                    task: {tool: {mode: {"tool": [], "hosts": []} for mode in MODES} for tool in tools}
                    for task, tools in TOOLS.items()
                }
                for repeat in range(args.repeat):
                    for task, tools in TOOLS.items():
                        for tool in tools:
                            runs = dict(zip(MODES, bench.measure(tool), strict=True))
                            for mode, measured in runs.items():
                                times[size][task][tool][mode].append(round(measured["seconds"], 3))
                                cpu[size][task][tool][mode]["tool"].append(round(measured["tool_cpu"], 2))
                                cpu[size][task][tool][mode]["hosts"].append(round(measured["hosts_cpu"], 2))
                            print(
                                "c3_fanout: %d nodes, run %d, %s: cold %.2f s, warm %.2f s "
                                "(CPU here/hosts: cold %.2f/%.2f s, warm %.2f/%.2f s)"
                                % (
                                    size,
                                    repeat + 1,
                                    tool,
                                    runs["cold"]["seconds"],
                                    runs["warm"]["seconds"],
                                    runs["cold"]["tool_cpu"],
                                    runs["cold"]["hosts_cpu"],
                                    runs["warm"]["tool_cpu"],
                                    runs["warm"]["hosts_cpu"],
                                ),
                                flush=True,
                            )
            finally:
                bench.down()
    report = {
        "benchmark": "c3-fanout",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "fanout": FANOUT,
        "times_seconds": times,
        "cpu_seconds": cpu,
        "summary": summarise(times, cpu),
    }
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "c3-fanout.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "c3-fanout.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchmarkError as error:
        print("c3_fanout: error: %s" % error, file=sys.stderr)
        sys.exit(1)

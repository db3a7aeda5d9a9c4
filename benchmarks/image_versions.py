"""Node images: build time, the disk cost of versions, and what an in-place update moves.

Three measures, side by side in one run, on this machine (as root: image
trees hold files of every owner):

1. build time of the same image with mmdebstrap (what oscar.cluster.image_build
   runs) and with debootstrap, same suite, variant, package list and mirror;
   mmdebstrap runs before and after debootstrap, so that neither tool is the
   only one to find the mirror's answers warm;
2. the disk cost of ten versions of an image kept by the image store (each
   derived version adds one package in a chroot; unchanged files are hard
   links to the parent's) against ten full copies of the same trees;
3. the bytes and the time an in-place update (oscar.cluster.image_sync's
   rsync, to a node holding version 1) moves to bring it to version 10,
   against a full copy of version 10 onto an empty node.

Needs mmdebstrap and debootstrap (apt-get install mmdebstrap debootstrap).
Run: .venv/bin/python benchmarks/image_versions.py [--mirror URL] [--workdir DIR]
Results: benchmarks/results/image-versions.{json,md}
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.oscar.cluster.plugins.module_utils import image_build  # noqa: E402
from ansible_collections.oscar.cluster.plugins.module_utils.image_store import ImageStore  # noqa: E402
from ansible_collections.oscar.cluster.plugins.module_utils.image_sync import ImageSync, run_command  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SUITE = "bookworm"
VARIANT = "minbase"
# What the image role gives every image (its image_base_packages), and the kernel.
PACKAGES = [
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "iproute2",
    "iputils-ping",
    "ca-certificates",
    "chrony",
    "rsync",
]
KERNEL = "linux-image-amd64"
# One small package per derived version, none a dependency of another.
ADDED = ["tree", "less", "file", "bc", "jq", "lsof", "strace", "psmisc", "hwloc-nox"]


def run(argv):
    started = time.monotonic()
    rc, out, err = run_command(argv)
    if rc != 0:
        raise SystemExit("%s failed (exit %d): %s" % (argv[0], rc, (err or out)[-2000:]))
    return time.monotonic() - started


def du_bytes(*paths):
    """Disk use, counting a file linked from several paths once (as the disk holds it)."""
    out = subprocess.run(
        ["du", "-s", "-B1", "-c", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.splitlines()[-1].split()[0])


def build_times(work, mirror):
    include = "--include=" + ",".join([*PACKAGES, KERNEL])
    times = {}
    for label, argv in (
        ("mmdebstrap", ["mmdebstrap", "--mode=root", "--variant=" + VARIANT, include, SUITE]),
        ("debootstrap", ["debootstrap", "--variant=" + VARIANT, include, SUITE]),
        ("mmdebstrap (again)", ["mmdebstrap", "--mode=root", "--variant=" + VARIANT, include, SUITE]),
    ):
        target = work / ("tree-" + label.split()[0])
        shutil.rmtree(target, ignore_errors=True)
        times[label] = run([*argv, str(target), mirror])
        shutil.rmtree(target)
        print("%s: %.1f s" % (label, times[label]), flush=True)
    return times


def versions(work, mirror):
    store = ImageStore(str(work / "images"))
    tools = image_build.Tools(
        run_command_with_env, mmdebstrap="/usr/bin/mmdebstrap", unshare="/usr/bin/unshare", cp="/bin/cp"
    )
    packages = list(PACKAGES)
    recipe = image_build.Recipe(
        SUITE, variant=VARIANT, components=["main"], packages=packages, kernel_package=KERNEL
    )
    started = time.monotonic()
    version, _record = image_build.build(store, tools, "bench", recipe, mirror=mirror)
    store.set_current("bench", version)
    derive_seconds = []
    for package in ADDED:
        packages.append(package)
        base = store.meta("bench", version)
        recipe = image_build.Recipe(
            SUITE, variant=VARIANT, components=["main"], packages=packages, kernel_package=KERNEL, base=base
        )
        started = time.monotonic()
        version, _record = image_build.build(store, tools, "bench", recipe, mirror=mirror)
        derive_seconds.append(time.monotonic() - started)
        store.set_current("bench", version)
        print("version %d (+%s): %.1f s" % (version, package, derive_seconds[-1]), flush=True)
    trees = [store.version_root("bench", n) for n in store.versions("bench")]
    shared = du_bytes(*trees)
    full = sum(du_bytes(tree) for tree in trees)
    return store, {
        "versions": len(trees),
        "first_version_bytes": du_bytes(trees[0]),
        "store_bytes": shared,
        "full_copies_bytes": full,
        "derive_seconds_median": sorted(derive_seconds)[len(derive_seconds) // 2],
    }


def run_command_with_env(argv, environment=None):
    environ = dict(os.environ, **(environment or {"LANG": "C", "LC_ALL": "C"}))
    process = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=environ, check=False)
    return process.returncode, process.stdout, process.stderr


def update(work, store):
    first, last = store.versions("bench")[0], store.versions("bench")[-1]
    node = work / "node"
    shutil.rmtree(node, ignore_errors=True)
    node.mkdir()
    sync = ImageSync(
        store.root, "bench", first, destination=str(node), rsync="/usr/bin/rsync", runner=run_command
    )
    sync.update()
    started = time.monotonic()
    delta = ImageSync(
        store.root, "bench", last, destination=str(node), rsync="/usr/bin/rsync", runner=run_command
    )
    answer = delta.update()
    delta_seconds = time.monotonic() - started
    empty = work / "empty-node"
    shutil.rmtree(empty, ignore_errors=True)
    empty.mkdir()
    started = time.monotonic()
    full = ImageSync(
        store.root, "bench", last, destination=str(empty), rsync="/usr/bin/rsync", runner=run_command
    )
    copied = full.update()
    full_seconds = time.monotonic() - started
    return {
        "update_bytes": answer["bytes_sent"],
        "update_seconds": delta_seconds,
        "update_files": sum(len(paths) for paths in answer["files"].values()),
        "full_copy_bytes": copied["bytes_sent"],
        "full_copy_seconds": full_seconds,
    }


def report(results):
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "image-versions.json").write_text(json.dumps(results, indent=2) + "\n")
    build, disk, moved = results["build_seconds"], results["disk"], results["update"]
    mib = 1024 * 1024
    lines = [
        "# Node images: build time, disk cost of versions, in-place update",
        "",
        "Machine: %s. One run, made by `benchmarks/image_versions.py`; Debian %s, variant %s, the image"
        " role's base packages and %s, from %s."
        % (results["machine"], SUITE, VARIANT, KERNEL, results["mirror"]),
        "",
        "| build | seconds | against mmdebstrap |",
        "|---|---:|---:|",
    ]
    reference = build["mmdebstrap"]
    for label, seconds in build.items():
        lines.append("| %s | %.1f | %.2f |" % (label, seconds, seconds / reference))
    lines += [
        "",
        "| %d versions (each adds one package) | MiB | ratio |" % disk["versions"],
        "|---|---:|---:|",
        "| the image store (hard links to the parent's unchanged files) | %.0f | 1.00 |"
        % (disk["store_bytes"] / mib),
        "| %d full copies of the same trees | %.0f | %.2f |"
        % (
            disk["versions"],
            disk["full_copies_bytes"] / mib,
            disk["full_copies_bytes"] / disk["store_bytes"],
        ),
        "| one version alone | %.0f | %.2f |"
        % (disk["first_version_bytes"] / mib, disk["first_version_bytes"] / disk["store_bytes"]),
        "",
        "A derived version took %.1f s to build (median; a copy of its base, apt-get in a chroot, sharing)."
        % disk["derive_seconds_median"],
        "",
        "| version 1 to version %d on a node | bytes sent | seconds | files |" % disk["versions"],
        "|---|---:|---:|---:|",
        "| in-place update (image_sync's rsync deltas) | %d | %.1f | %d |"
        % (moved["update_bytes"], moved["update_seconds"], moved["update_files"]),
        "| full copy onto an empty node | %d | %.1f | |"
        % (moved["full_copy_bytes"], moved["full_copy_seconds"]),
        "| ratio full copy / update | %.1f | %.1f | |"
        % (
            moved["full_copy_bytes"] / moved["update_bytes"],
            moved["full_copy_seconds"] / moved["update_seconds"],
        ),
        "",
        "The node here is a local directory (rsync between two paths of this machine): the bytes are"
        " what rsync's --stats counts as sent, as over SSH; over a network the time grows with the bytes.",
    ]
    (RESULTS / "image-versions.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=image_build.DEFAULT_MIRROR)
    parser.add_argument(
        "--workdir", default=None, help="where the trees are made (default: a new temporary dir)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("image_versions: run as root (image trees hold files of every owner)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="oscar-image-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = {
            "machine": "%d cores, %s, kernel %s" % (os.cpu_count(), platform.machine(), platform.release()),
            "mirror": args.mirror,
            "build_seconds": build_times(work, args.mirror),
        }
        store, results["disk"] = versions(work, args.mirror)
        results["update"] = update(work, store)
        report(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""site.yml, the wizard, on a whole Debian 13 (trixie) cluster: one head and two compute nodes.

Slurm's controller must be at least as new as every slurmd, so a node of
Debian 13 (Slurm 24.11) needs a head of Debian 13 too: the cluster is all
trixie.  In order, on one testbed (the tests of this module depend on each
other): the hosts really run Debian 13; the first run sets the cluster up;
Slurm runs a job across both nodes and C3 reaches them from the head; a
second run changes nothing.  test_site_playbook.py tests the wizard's other
behaviours on Debian 12; this module checks only what a release can break,
to keep its cost low.
"""

import re

import pytest
from testbed_helpers import podman_objects, run_playbook

NAME = "it-deb13"
NODES = ["node001", "node002"]
PLAYBOOK_TIMEOUT = 1800


@pytest.fixture(scope="module")
def site(cli, tmp_path_factory):
    """The trixie testbed, registered in its own ODA database, and a way to run site.yml on it."""
    url = f"sqlite:{tmp_path_factory.mktemp('deb13-oda') / 'oda.db'}"
    cli("--name", NAME, "up", "--release", "trixie", "--nodes", str(len(NODES)), "--oda", url, timeout=1200)
    yield Site(cli, url)
    cli("--name", NAME, "down", check=False)
    assert podman_objects(NAME) == [], "testbed objects left behind"


class Site:
    def __init__(self, cli, url):
        self.cli = cli
        self.url = url

    def run(self):
        return run_playbook(
            "site.yml", "--skip-tags", "test_cluster,build_image", oda_url=self.url, timeout=PLAYBOOK_TIMEOUT
        )

    def ssh(self, host, command):
        return self.cli("--name", NAME, "ssh", host, command, check=False)


@pytest.fixture(scope="module")
def first_run(site):
    return site.run()


def test_every_host_runs_debian_13(site):
    for host in ["head", *NODES]:
        release = site.ssh(host, ". /etc/os-release && echo $ID $VERSION_ID $VERSION_CODENAME")
        assert release.stdout.split() == ["debian", "13", "trixie"], (host, release.stdout, release.stderr)


def test_the_first_run_sets_up_the_cluster(site, first_run):
    assert first_run.rc == 0, first_run.tail()
    assert set(first_run.recap) >= {"head", *NODES}, first_run.tail()
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in first_run.recap.values()), first_run.tail()
    # Debian 13's own packages, not Debian 12's: Slurm 24.11 on both sides, libnfs 5 for the FUSE client.
    versions = "dpkg-query -W -f '${Package}=${Version} '"
    node = site.ssh("node001", f"{versions} slurmd libnfs14").stdout
    assert re.search(r"slurmd=24\.11\.", node) and "libnfs14=5." in node, node
    head = site.ssh("head", f"{versions} slurmctld").stdout
    assert re.search(r"slurmctld=24\.11\.", head), head


def test_slurm_runs_a_job_across_both_nodes(site, first_run):
    assert first_run.rc == 0, first_run.tail()
    # One word per node (the command goes through the remote shell): name:state.
    sinfo = site.ssh("head", "sinfo --noheader --Node --format=%N:%t")
    assert sorted(sinfo.stdout.split()) == [f"{node}:idle" for node in NODES], sinfo.stdout + sinfo.stderr
    job = site.ssh("head", f"timeout 120 srun --nodes {len(NODES)} --ntasks-per-node 1 hostname")
    assert job.returncode == 0, job.stdout + job.stderr
    assert sorted(job.stdout.split()) == NODES, job.stdout


def test_cexec_reaches_every_node_from_the_head(site, first_run):
    assert first_run.rc == 0, first_run.tail()
    # A login shell, as an administrator's: the commands are found on its PATH.
    typed = site.ssh("head", "bash -lc 'cexec hostname'")
    assert typed.returncode == 0, typed.stdout + typed.stderr
    for node in NODES:
        assert f"{node} (1)\n---------------\n{node}\n" in typed.stdout, typed.stdout
    assert f"cexec: {len(NODES)} nodes: {len(NODES)} ok" in typed.stderr, typed.stderr


def test_a_second_run_changes_nothing(site, first_run):
    assert first_run.rc == 0, first_run.tail()
    second = site.run()
    assert second.rc == 0, second.tail()
    changed = {host: r["changed"] for host, r in second.recap.items() if r["changed"]}
    assert changed == {}, f"changed on a second run: {changed}\n" + "\n".join(second.changed_tasks())

"""env_switcher through real shells: users get the MPI they chose, else the system default.

MPICH is the MPICH project's build (oscar.cluster.mpich, applied first).
On node001, alice (bash), zoe (zsh) and carl (tcsh) choose MPICH with
`switcher mpi = mpich`; bob chooses nothing and gets the role's system
default, Open MPI.  Each is checked in fresh login shells of every kind and
in non-interactive `ssh node001 ...` from the head, by key.
"""

import os
import shlex

import pytest

from oscar_testbed.molecule import scenario_testbed

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "env_switcher")
# Open MPI's commands are linked from a directory of the role's; MPICH's tree
# (oscar.cluster.mpich) is put first in PATH as it is.
MPICH = "/opt/cluster/mpich/default"
BINS = {"openmpi": "/usr/local/lib/env-switcher/mpi/openmpi/bin/mpicc", "mpich": f"{MPICH}/bin/mpicc"}
# What `mpirun --version` prints first for each implementation.
BANNER = {"openmpi": "mpirun (Open MPI)", "mpich": "HYDRA build details"}
SHELLS = ["/bin/bash", "/bin/sh", "/usr/bin/zsh", "/usr/bin/tcsh", "/usr/bin/bsd-csh"]
# Portable across sh and csh: no `command -v`, no $VAR of a variable that may be unset.
PROBE = "which mpicc; mpirun --version | head -n 1; printenv CLUSTER_SITE"


@pytest.fixture(scope="module")
def node_address():
    return scenario_testbed(SCENARIO).plan().host("node001").interface("private").ip


@pytest.fixture(scope="module")
def ssh(head, node_address):
    """Run a command on node001 as user, through a non-interactive `ssh` from the head, by key."""

    def run(user, remote):
        ssh = f"ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new {node_address} {shlex.quote(remote)}"
        return head.run(f"su - {user} -c {shlex.quote(ssh)}")

    return run


@pytest.fixture(scope="module")
def chosen(node):
    """alice, zoe and carl choose MPICH on the node, each in their own login shell."""
    for user in ("alice", "zoe", "carl"):
        result = node.run(f"su - {user} -c 'switcher mpi = mpich'")
        assert result.rc == 0, result.stderr
    assert node.run("test -e /home/bob/.switcher.ini").rc != 0, "bob must not have chosen anything"
    return {"alice": "mpich", "zoe": "mpich", "carl": "mpich", "bob": "openmpi"}


def check_mpi(result, mpi):
    assert result.rc == 0, result.stderr
    lines = result.stdout.splitlines()
    assert BINS[mpi] in lines, result.stdout
    assert any(line.startswith(BANNER[mpi]) for line in lines), result.stdout
    # The unconditional module is loaded whatever the choice.
    assert "testbed" in lines, result.stdout


def login(host, user, shell, command):
    """A fresh login shell (su - gives it a clean environment and a '-' in argv[0])."""
    return host.run(f"su - {user} -s {shell} -c {shlex.quote(command)}")


# ---------------------------------------------------------------- every host


def test_switcher_lists_the_mpi_tag(host):
    result = host.run("switcher --list")
    assert result.rc == 0, result.stderr
    assert result.stdout.startswith("mpi ")
    names = host.check_output("switcher mpi --list")
    openmpi = next(line for line in names.splitlines() if line.startswith("openmpi "))
    assert "system default" in openmpi


def test_system_default_is_the_roles(host):
    assert "default = openmpi" in host.file("/etc/env-switcher/system.ini").content_string


def test_modulefiles_are_available_to_module(host):
    available = host.run("bash -l -c 'module -t avail' 2>&1").stdout.split()
    for module in ("cluster-env", "mpi/openmpi", "mpi/mpich"):
        assert module in available


def test_bash_hook_comes_before_the_early_return(host):
    lines = host.file("/etc/bash.bashrc").content_string.splitlines()
    hook = next(i for i, line in enumerate(lines) if "/etc/env-switcher/init/sh" in line)
    early_return = next(i for i, line in enumerate(lines) if line.startswith('[ -z "$PS1" ] && return'))
    assert hook < early_return


# ---------------------------------------------------------------- login shells


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_login_shells_get_the_users_choice_else_the_system_default(node, chosen, user, shell):
    check_mpi(login(node, user, shell, PROBE), chosen[user])


@pytest.mark.parametrize("shell", ["bash", "zsh", "sh"])
def test_explicit_login_shells_get_the_choice(node, chosen, shell):
    """`SHELL -l -c` from an empty environment, as the user."""
    command = (
        "runuser -u alice -- env -i HOME=/home/alice USER=alice LOGNAME=alice PATH=/usr/bin:/bin "
        f"{shell} -l -c {shlex.quote(PROBE)}"
    )
    check_mpi(node.run(command), chosen["alice"])


@pytest.mark.parametrize("user", ["zoe", "carl"])
def test_each_users_own_login_shell_gets_the_choice(node, chosen, user):
    check_mpi(node.run(f"su - {user} -c {shlex.quote(PROBE)}"), chosen[user])


# ---------------------------------------------------------------- ssh node cmd


@pytest.mark.parametrize("user", ["alice", "zoe", "carl", "bob"])
def test_non_interactive_ssh_gets_the_choice(ssh, chosen, user):
    """`ssh node001 mpicc --version` from the head: bash, zsh and tcsh users, and bob who chose nothing."""
    check_mpi(ssh(user, PROBE), chosen[user])
    version = ssh(user, "mpicc --version")
    assert version.rc == 0, version.stderr
    # The wrapper hands --version to the C compiler: Open MPI's calls it gcc, MPICH's cc.
    assert version.stdout.split(" ", 1)[0] in {"gcc", "cc"}, version.stdout
    assert "Free Software Foundation" in version.stdout, version.stdout


@pytest.mark.parametrize(
    ("user", "library"), [("alice", f"{MPICH}/lib/libmpi.so.12"), ("bob", "libmpi.so.40")]
)
def test_mpicc_over_ssh_builds_with_the_chosen_mpi(node, ssh, chosen, user, library):
    source = "#include <mpi.h>\nint main(int c, char **v) { MPI_Init(&c, &v); MPI_Finalize(); return 0; }\n"
    assert node.run(f"printf {shlex.quote(source)} > /tmp/hello_mpi.c && chmod 644 /tmp/hello_mpi.c").rc == 0
    result = ssh(user, f"mpicc -o /tmp/hello-{user} /tmp/hello_mpi.c && ldd /tmp/hello-{user}")
    assert result.rc == 0, result.stderr
    assert library in result.stdout
    assert user in chosen


# ---------------------------------------------------------------- changes


def test_switcher_reload_applies_a_change_to_the_current_shell(node, chosen):
    script = (
        "switcher mpi = openmpi --silent; switcher-reload; which mpicc; "
        "switcher mpi = mpich --silent; switcher-reload; which mpicc"
    )
    result = node.run(f"su - alice -c {shlex.quote('bash -i -c ' + shlex.quote(script))}")
    assert result.rc == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("/")] == [
        BINS["openmpi"],
        BINS["mpich"],
    ]


def test_a_new_system_default_reaches_users_who_chose_nothing(node, chosen):
    try:
        assert node.run("switcher mpi = mpich --system").rc == 0
        check_mpi(login(node, "bob", "/bin/bash", PROBE), "mpich")
        # A user's own choice still wins.
        assert node.run("su - alice -c 'switcher mpi = openmpi --silent'").rc == 0
        check_mpi(login(node, "alice", "/usr/bin/zsh", PROBE), "openmpi")
    finally:
        node.run("switcher mpi = openmpi --system")
        node.run("su - alice -c 'switcher mpi = mpich --silent'")
    check_mpi(login(node, "bob", "/bin/bash", PROBE), "openmpi")


def test_system_default_is_refused_to_users(node, chosen):
    result = node.run("su - bob -c 'switcher mpi = mpich --system'")
    assert result.rc == 1
    assert "run it as root" in result.stderr
    assert "default = openmpi" in node.file("/etc/env-switcher/system.ini").content_string


@pytest.mark.parametrize(
    ("argv", "message"),
    [("mpi = lam", "'lam' is not a name of tag 'mpi'"), ("gpu = cuda", "unknown tag 'gpu'")],
)
def test_unknown_tags_and_names_change_nothing(node, chosen, argv, message):
    result = node.run(f"su - bob -c 'switcher {argv}'")
    assert result.rc == 1
    assert message in result.stderr
    assert node.run("test -e /home/bob/.switcher.ini").rc != 0

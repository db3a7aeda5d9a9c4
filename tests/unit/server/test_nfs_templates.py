"""The NFS files of the server and clients roles and their checks, rendered for cases a testbed lacks.

The molecule scenarios run NFS-Ganesha and the FUSE client (their kernels
have no NFS); here the kernel server's exports and the kernel client's mount
units are rendered too, with every kind of export and mount, and the
settings checks are fed bad values.  Each case is a host of one
ansible-playbook run on this machine that writes the role's computed
variables and rendered files (and nothing else).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SERVER = ROOT / "roles" / "server"
CLIENTS = ROOT / "roles" / "clients"
NETWORK = {"name": "private", "cidr": "10.9.0.0/24", "domain": "lab.example"}
HEAD_ENTRY = {"node": "head", "hostname": "head", "fqdn": "head.lab.example", "ip": "10.9.0.1", "head": True}

SERVER_CASES = {
    "defaults": [{"path": "/home"}, {"path": "/opt/cluster"}],
    "every_kind": [
        "/home",
        {"path": "/opt/cluster", "access": "ro", "squash": "none"},
        {"path": "/scratch", "squash": "all", "id": 7, "mode": "1777"},
    ],
    "reordered": [{"path": "/opt/cluster"}, {"path": "/home"}],
    "bad_paths": [{"path": "home"}, {"path": "/data/"}, {"path": "/a/../b"}, {"path": "/with space"}],
    "bad_values": [{"path": "/data", "squash": "root_squash", "access": "rwx", "mode": 755, "id": 70000}],
    "duplicates": [{"path": "/data"}, "/data", {"path": "/x", "id": 9}, {"path": "/y", "id": 9}],
    "not_a_list": "/home",
}
CLIENT_CASES = {
    "defaults": [{"export": "/home"}, {"export": "/opt/cluster"}],
    "every_kind": [
        {"export": "/home"},
        {"export": "/srv/apps", "path": "/opt/my-apps", "readonly": True},
        {"export": "/scratch", "server": "10.9.0.5"},
    ],
    "bad": [
        {"export": "scratch"},
        {"export": "/a", "path": "/opt/cluster"},
        {"export": "/b", "path": "/opt/cluster"},
        {"export": "/c", "server": "head; rm -rf /"},
        {"export": "/d", "readonly": "yes"},
    ],
}


def run_playbook(work, inventory, playbook):
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (work / "render.yml").write_text(json.dumps(playbook))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventory.yml", "render.yml"],
        cwd=work,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "PATH": "/usr/bin:/bin", "HOME": str(work)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def write(content, dest, **extra):
    task = {"ansible.builtin.copy": {"content": content, "dest": dest, "mode": "0644"}}
    task.update(extra)
    return dict(name="Write", **task)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """{case: {'exports', 'problems', 'kernel': text, 'ganesha': text}} as the server role makes them."""
    work = tmp_path_factory.mktemp("nfs-server")
    inventory = {
        "all": {"hosts": {case: {"server_nfs_exports": exports} for case, exports in SERVER_CASES.items()}}
    }
    playbook = [
        {
            "name": "Render the server role's NFS files",
            "hosts": "all",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(SERVER / "vars" / "main.yml"), str(SERVER / "vars" / "Debian.yml")],
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "server_network": "private",
                "__server_network": NETWORK,
            },
            "tasks": [
                write(
                    "{{ {'exports': __server_nfs_exports, 'problems': __server_nfs_export_problems}"
                    " | to_json }}",
                    f"{work}/{{{{ inventory_hostname }}}}.json",
                ),
                write(
                    "{{ lookup('ansible.builtin.template', '%s/templates/nfs.exports.j2') }}" % SERVER,
                    f"{work}/{{{{ inventory_hostname }}}}.exports",
                    when="__server_nfs_export_problems | length == 0",
                ),
                write(
                    "{{ lookup('ansible.builtin.template', '%s/templates/ganesha.conf.j2') }}" % SERVER,
                    f"{work}/{{{{ inventory_hostname }}}}.ganesha",
                    when="__server_nfs_export_problems | length == 0",
                ),
            ],
        }
    ]
    run_playbook(work, inventory, playbook)
    cases = {}
    for case in SERVER_CASES:
        cases[case] = json.loads((work / f"{case}.json").read_text())
        for kind in ("exports", "ganesha"):
            path = work / f"{case}.{kind}"
            cases[case]["kernel" if kind == "exports" else kind] = path.read_text() if path.exists() else None
    return cases


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    """{case-kind: {'mounts', 'problems', 'units', 'files'}} as the clients role makes them."""
    work = tmp_path_factory.mktemp("nfs-clients")
    inventory = {
        "all": {
            "hosts": {
                f"{case}-{kind}": {"clients_nfs_mounts": mounts, "__clients_nfs_kind": kind}
                for case, mounts in CLIENT_CASES.items()
                for kind in ("kernel", "fuse")
            }
        }
    }
    render = (
        "{{ lookup('ansible.builtin.template', '%s/templates/' ~ "
        "('nfs.mount.j2' if __clients_nfs_kind == 'kernel' else 'nfs-fuse.service.j2')) }}" % CLIENTS
    )
    playbook = [
        {
            "name": "Render the clients role's NFS units",
            "hosts": "all",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(CLIENTS / "vars" / "main.yml"), str(CLIENTS / "vars" / "Debian.yml")],
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "clients_nfs_kernel_options": ["hard"],
                "__clients_table": [HEAD_ENTRY],
            },
            "tasks": [
                write(
                    "{{ {'mounts': __clients_nfs_mounts, 'problems': __clients_nfs_mount_problems,"
                    " 'units': __clients_nfs_unit_names} | to_json }}",
                    f"{work}/{{{{ inventory_hostname }}}}.json",
                ),
                write(
                    render,
                    f"{work}/{{{{ inventory_hostname }}}}-{{{{ index }}}}.unit",
                    loop="{{ __clients_nfs_mounts }}",
                    loop_control={"index_var": "index"},
                    when="__clients_nfs_mount_problems | length == 0",
                ),
            ],
        }
    ]
    run_playbook(work, inventory, playbook)
    cases = {}
    for host in inventory["all"]["hosts"]:
        data = json.loads((work / f"{host}.json").read_text())
        data["files"] = [path.read_text() for path in sorted(work.glob(f"{host}-*.unit"))]
        cases[host] = data
    return cases


def export_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def ganesha_exports(text):
    """[{key: value}] of the EXPORT blocks' simple settings, CLIENT's included."""
    blocks = []
    for block in text.split("EXPORT {")[1:]:
        settings = {}
        for line in block.splitlines():
            key, sep, value = line.strip().partition(" = ")
            if sep:
                settings[key] = value.rstrip(";").strip('"')
        blocks.append(settings)
    return blocks


# ---------------------------------------------------------------- server


def test_kernel_exports_go_to_the_network_only_with_the_hpc_options(server):
    assert export_lines(server["defaults"]["kernel"]) == [
        "/home 10.9.0.0/24(rw,sync,no_subtree_check,secure,sec=sys,root_squash)",
        "/opt/cluster 10.9.0.0/24(rw,sync,no_subtree_check,secure,sec=sys,root_squash)",
    ]


def test_kernel_exports_follow_access_and_squash(server):
    assert export_lines(server["every_kind"]["kernel"]) == [
        "/home 10.9.0.0/24(rw,sync,no_subtree_check,secure,sec=sys,root_squash)",
        "/opt/cluster 10.9.0.0/24(ro,sync,no_subtree_check,secure,sec=sys,no_root_squash)",
        "/scratch 10.9.0.0/24(rw,sync,no_subtree_check,secure,sec=sys,all_squash)",
    ]


def test_ganesha_exports_each_directory_to_the_network_over_nfs3_and_nfs4(server):
    blocks = ganesha_exports(server["every_kind"]["ganesha"])
    assert [(b["Path"], b["Pseudo"], b["Clients"], b["Squash"]) for b in blocks] == [
        ("/home", "/home", "10.9.0.0/24", "Root_Squash"),
        ("/opt/cluster", "/opt/cluster", "10.9.0.0/24", "No_Root_Squash"),
        ("/scratch", "/scratch", "10.9.0.0/24", "All_Squash"),
    ]
    # The export itself is closed; only the CLIENT block (the network) opens it.
    assert [b["Access_Type"] for b in blocks] == ["RW", "RO", "RW"]
    assert server["every_kind"]["ganesha"].count("Access_Type = None;") == 3
    assert all(b["Protocols"] == "3, 4" and b["SecType"] == "sys" and b["Name"] == "VFS" for b in blocks)
    assert "Only_Numeric_Owners = true;" in server["every_kind"]["ganesha"]


def render_ganesha(work, vars_files):
    playbook = [
        {
            "name": "Render ganesha.conf",
            "hosts": "all",
            "connection": "local",
            "gather_facts": False,
            "vars_files": [str(SERVER / "vars" / name) for name in ("main.yml", *vars_files)],
            "vars": {
                "ansible_python_interpreter": sys.executable,
                "server_network": "private",
                "__server_network": NETWORK,
                "server_nfs_exports": SERVER_CASES["defaults"],
            },
            "tasks": [
                write(
                    "{{ lookup('ansible.builtin.template', '%s/templates/ganesha.conf.j2') }}" % SERVER,
                    f"{work}/ganesha.conf",
                )
            ],
        }
    ]
    run_playbook(work, {"all": {"hosts": {"head": {}}}}, playbook)
    return (work / "ganesha.conf").read_text()


def test_ganesha_6_of_debian_13_serves_where_it_may_not_be_an_io_flusher(tmp_path):
    """Debian 13's Ganesha stops without CAP_SYS_RESOURCE unless told; Debian 12's knows no such option."""
    core = "NFS_CORE_PARAM {\n    Protocols = 3, 4;\n"
    trixie = render_ganesha(tmp_path, ["Debian.yml", "Debian-13.yml"])
    assert core in trixie
    assert "\n    allow_set_io_flusher_fail = true;\n}\n" in trixie
    bookworm = render_ganesha(tmp_path, ["Debian.yml"])
    assert core + "}\n" in bookworm
    assert "io_flusher" not in bookworm


def test_ganesha_export_ids_follow_the_path_not_the_order(server):
    ids = {b["Path"]: b["Export_Id"] for b in ganesha_exports(server["defaults"]["ganesha"])}
    reordered = {b["Path"]: b["Export_Id"] for b in ganesha_exports(server["reordered"]["ganesha"])}
    assert ids == reordered
    assert len(set(ids.values())) == 2
    assert all(1 <= int(value) <= 65535 for value in ids.values())
    assert ganesha_exports(server["every_kind"]["ganesha"])[2]["Export_Id"] == "7"


def test_export_defaults_are_filled_in(server):
    assert server["every_kind"]["exports"][0] == {
        "path": "/home",
        "squash": "root",
        "access": "rw",
        "mode": None,
        "id": server["defaults"]["exports"][0]["id"],
    }
    assert server["every_kind"]["exports"][2]["mode"] == "1777"
    assert server["defaults"]["problems"] == server["every_kind"]["problems"] == []


def test_bad_export_paths_are_named(server):
    problems = server["bad_paths"]["problems"]
    for path in ["home", "/data/", "/a/../b", "/with space"]:
        assert f'path "{path}" is not an absolute, normalised path of letters, digits and ._+-' in problems
    assert server["bad_paths"]["kernel"] is None


def test_bad_export_values_are_named(server):
    assert server["bad_values"]["problems"] == [
        'squash of /data must be root, none or all, got "root_squash"',
        'access of /data must be rw or ro, got "rwx"',
        'mode of /data must be an octal mode in quotes such as "0755", got 755',
        "id of /data must be a number from 1 to 65535, got 70000",
    ]


def test_duplicate_paths_and_ids_are_named(server):
    assert server["duplicates"]["problems"] == [
        "path /data is exported twice",
        "exports /data and /data share the id %d: give one another id"
        % server["duplicates"]["exports"][0]["id"],
        "exports /x and /y share the id 9: give one another id",
    ]


def test_exports_that_are_not_a_list_are_named(server):
    assert server["not_a_list"]["problems"] == ['server_nfs_exports must be a list, got "/home"']


# ---------------------------------------------------------------- clients


def test_mount_units_are_named_as_systemd_names_the_paths(clients):
    assert clients["every_kind-kernel"]["units"] == ["home.mount", "opt-my\\x2dapps.mount", "scratch.mount"]
    assert clients["every_kind-fuse"]["units"] == [
        "oscar-nfs-home.service",
        "oscar-nfs-opt-my\\x2dapps.service",
        "oscar-nfs-scratch.service",
    ]


def test_a_kernel_mount_unit_mounts_the_heads_export_after_the_network(clients):
    home, apps, scratch = (unit.splitlines() for unit in clients["every_kind-kernel"]["files"])
    assert "What=head:/home" in home
    assert "Where=/home" in home
    assert "Type=nfs" in home
    assert "Options=_netdev,rw,hard" in home
    assert "After=network-online.target nss-lookup.target" in home
    assert "WantedBy=remote-fs.target" in home
    assert "Options=_netdev,ro,hard" in apps
    assert "What=head:/srv/apps" in apps and "Where=/opt/my-apps" in apps
    assert "What=10.9.0.5:/scratch" in scratch


def test_a_fuse_mount_service_runs_oscar_nfs_fuse_until_it_mounts(clients):
    home, apps, _scratch = (unit.splitlines() for unit in clients["every_kind-fuse"]["files"])
    program = "ExecStart=/usr/local/sbin/oscar-nfs-fuse --libnfs libnfs.so.13"
    assert f"{program} -o vers=3,retry=60 head:/home /home" in home
    assert f"{program} -o vers=3,retry=60,ro head:/srv/apps /opt/my-apps" in apps
    for line in ["Type=notify", "Restart=on-failure", "StartLimitIntervalSec=0", "WantedBy=remote-fs.target"]:
        assert line in home
    assert "After=network-online.target nss-lookup.target" in home


def test_every_unit_carries_the_marker_the_role_finds_its_units_by(clients):
    units = clients["every_kind-fuse"]["files"] + clients["every_kind-kernel"]["files"]
    assert all("oscar.cluster.clients: NFS mount" in unit for unit in units)


def test_mount_defaults_are_filled_in(clients):
    assert clients["defaults-fuse"]["mounts"] == [
        {"export": "/home", "path": "/home", "server": None, "readonly": False, "unit": "home"},
        {
            "export": "/opt/cluster",
            "path": "/opt/cluster",
            "server": None,
            "readonly": False,
            "unit": "opt-cluster",
        },
    ]
    assert clients["defaults-fuse"]["problems"] == []


def test_bad_mounts_are_named(clients):
    assert clients["bad-fuse"]["problems"] == [
        'export "scratch" is not an absolute, normalised path of letters, digits and ._+-',
        'path "scratch" is not an absolute, normalised path of letters, digits and ._+-',
        'server of /c must be a host name or address, got "head; rm -rf /"',
        'readonly of /d must be true or false, got "yes"',
        "mount point /opt/cluster is mounted twice",
    ]
    assert clients["bad-fuse"]["files"] == []

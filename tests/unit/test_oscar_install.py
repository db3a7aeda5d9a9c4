"""The node installer (roles/image/files/netboot/usr/lib/oscar/oscar-install), imported by its path.

It is a script of the image, not a module of the collection: these tests
load it as it is and check the functions that turn a plan into the disk's
layout and the node's files, without a disk.
"""

import copy
import http.server
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import socket
import threading

import pytest
from oscar_cluster.module_utils import oda_install

SCRIPT = pathlib.Path(__file__).parents[2] / "roles/image/files/netboot/usr/lib/oscar/oscar-install"
MIB = 1024 * 1024


def load():
    loader = importlib.machinery.SourceFileLoader("oscar_install", str(SCRIPT))
    spec = importlib.util.spec_from_loader("oscar_install", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


installer = load()

# The layout the head serves a node that has none: the installer must take it as it is.
DEFAULT_LAYOUT = dict(copy.deepcopy(oda_install.BUILTIN_LAYOUT), name=oda_install.DEFAULT_LAYOUT_NAME)
PLAN = {
    "node": "node003",
    "hostname": "node003",
    "domain": "cluster",
    "image": "debian12",
    "version": 1,
    "layout": DEFAULT_LAYOUT,
    "nics": [{"name": "eth0", "mac": "52:54:00:AA:bb:01", "ip": "10.211.0.13", "prefix": 24}],
    "nameservers": ["10.211.0.1"],
    "search": ["cluster"],
    "authorized_keys": ["ssh-ed25519 AAAA root@head"],
    "kernel_args": "console=tty0 console=ttyS0,115200n8",
}


def test_the_layout_becomes_a_gpt_sfdisk_script_with_the_rest_of_the_disk_last():
    assert installer.sfdisk_script(DEFAULT_LAYOUT) == (
        "label: gpt\n"
        'size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name="bios"\n'
        'size=256MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="efi"\n'
        'size=512MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"\n'
        'type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n'
    )


def test_a_rest_partition_that_is_not_last_or_an_unknown_type_is_refused():
    layout = {
        "partitions": [{"label": "root", "size_mib": None, "type": "linux"}, DEFAULT_LAYOUT["partitions"][0]]
    }
    with pytest.raises(installer.InstallError, match="not the last"):
        installer.sfdisk_script(layout)
    with pytest.raises(installer.InstallError, match="has type 'raid'"):
        installer.sfdisk_script({"partitions": [{"label": "x", "size_mib": 5, "type": "raid"}]})


def test_volumes_name_partitions_by_number_and_give_each_file_system_a_new_uuid():
    made = installer.volumes(DEFAULT_LAYOUT, "nvme0n1")
    assert [volume["device"] for volume in made] == ["/dev/nvme0n1p%d" % number for number in (1, 2, 3, 4)]
    bios, efi, swap, root = made
    assert bios["mkfs"] is None and bios["uuid"] is None
    assert efi["mkfs"][:3] == ["mkfs.vfat", "-F", "32"] and len(efi["uuid"]) == 9 and efi["uuid"][4] == "-"
    assert swap["mkfs"][:3] == ["mkswap", "-U", swap["uuid"]]
    assert root["mkfs"][:5] == ["mkfs.ext4", "-F", "-q", "-U", root["uuid"]]
    assert installer.partition_device("vda", 2) == "/dev/vda2"
    assert installer.partition_device("/dev/mmcblk0", 1) == "/dev/mmcblk0p1"


def test_fstab_names_every_file_system_and_swap_by_uuid_root_first():
    made = installer.volumes(DEFAULT_LAYOUT, "vda")
    bios, efi, swap, root = made
    text = installer.fstab_text(made)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "UUID=%s / ext4 errors=remount-ro 0 1" % root["uuid"],
        "UUID=%s /boot/efi vfat umask=0077 0 1" % efi["uuid"],
        "UUID=%s none swap sw 0 0" % swap["uuid"],
    ]
    assert bios["uuid"] is None


def test_networkd_gets_a_dhcp_file_per_nic_matched_by_mac_without_router_advertisements():
    files = installer.networkd_files(PLAN["nics"] + [{"name": "ib0", "mac": None}])
    assert list(files) == ["10-oscar-eth0.network"]
    text = files["10-oscar-eth0.network"]
    assert "[Match]\nMACAddress=52:54:00:aa:bb:01\n" in text
    assert "DHCP=ipv4\n" in text and "IPv6AcceptRA=no\n" in text


def test_the_nodes_names_and_resolver_come_from_the_plan():
    assert installer.hosts_line(PLAN) == "10.211.0.13\tnode003.cluster node003\n"
    assert installer.hosts_line(dict(PLAN, domain=None, nics=[])) == "127.0.1.1\tnode003\n"
    assert installer.resolv_conf_text(PLAN).splitlines()[1:] == ["search cluster", "nameserver 10.211.0.1"]


def disks(*entries):
    return [
        {"name": name, "bytes": size_gib * 1024 * MIB, "removable": removable, "read_only": False}
        for name, size_gib, removable in entries
    ]


def test_the_disk_is_the_layouts_device_or_the_first_non_removable_one():
    found = disks(("sdb", 8, True), ("vdb", 8, False), ("vda", 8, False))
    assert installer.choose_disk(DEFAULT_LAYOUT, found)["name"] == "vda"
    assert installer.choose_disk(dict(DEFAULT_LAYOUT, device="/dev/vdb"), found)["name"] == "vdb"
    with pytest.raises(installer.InstallError, match="device /dev/sdz is not on this machine"):
        installer.choose_disk(dict(DEFAULT_LAYOUT, device="/dev/sdz"), found)
    with pytest.raises(installer.InstallError, match="no non-removable writable disk"):
        installer.choose_disk(DEFAULT_LAYOUT, disks(("sdb", 8, True)))


def test_sys_block_is_read_for_disks_leaving_loop_and_optical_devices_out(tmp_path):
    for name, size, removable in (
        ("vda", 16777216, 0),
        ("loop0", 100, 0),
        ("sr0", 2097151, 1),
        ("sdb", 100, 1),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "size").write_text("%d\n" % size)
        (tmp_path / name / "removable").write_text("%d\n" % removable)
        (tmp_path / name / "ro").write_text("0\n")
    assert installer.list_disks(str(tmp_path)) == [
        {"name": "sdb", "bytes": 51200, "removable": True, "read_only": False},
        {"name": "vda", "bytes": 8 * 1024 * MIB, "removable": False, "read_only": False},
    ]


def test_the_fit_check_counts_fixed_partitions_gpt_and_room_for_the_image():
    image = 700 * MIB
    assert installer.fit_problem(DEFAULT_LAYOUT, 8 * 1024 * MIB, image) is None
    problem = installer.fit_problem(DEFAULT_LAYOUT, 1024 * MIB, image)
    assert "needs" in problem and "but the disk has 1024 MiB" in problem
    fixed_root = dict(
        DEFAULT_LAYOUT,
        partitions=[
            *DEFAULT_LAYOUT["partitions"][:3],
            {"label": "root", "size_mib": 500, "type": "linux", "fs": "ext4", "mount": "/"},
        ],
    )
    assert "gives / 500 MiB" in installer.fit_problem(fixed_root, 8 * 1024 * MIB, image)


def test_grub_cfg_boots_the_root_by_uuid_with_the_plans_arguments():
    text = installer.grub_cfg_text("1234", "/vmlinuz", "/initrd.img", PLAN["kernel_args"], "OSCAR")
    assert "search --no-floppy --fs-uuid --set=root 1234\n" in text
    assert "\tlinux /vmlinuz root=UUID=1234 ro console=tty0 console=ttyS0,115200n8\n" in text
    assert "serial --unit=0 --speed=115200\n" in text
    assert "serial" not in installer.grub_cfg_text("1234", "/vmlinuz", "/initrd.img", "quiet", "OSCAR")


def test_reports_are_cut_to_the_heads_limits_and_a_refusal_carries_its_message():
    body = installer.report_body("failed", "x" * 5000)
    assert len(body["detail"]) == 1000 and len(json.dumps(body)) <= 4096
    sent = []

    def transport(url, body=None):
        sent.append((url, body))
        if body and body["stage"] == "copied":
            return 409, {"error": "stage copied is not the next one"}
        return 200, {"node": "node003", "stage": body["stage"] if body else None}

    head = installer.Head("http://10.0.0.1/oscar/api/v1/", transport=transport)
    head.report("booted")
    with pytest.raises(installer.ReportRefused, match=r"HTTP 409.*not the next one"):
        head.report("copied")
    assert sent[0] == ("http://10.0.0.1/oscar/api/v1/report", {"stage": "booted"})


def test_a_disk_too_small_is_reported_failed_before_anything_touches_it(monkeypatch):
    reports = []
    monkeypatch.setattr(installer, "run", lambda *a, **k: pytest.fail("a command ran: %r" % (a,)))

    class Head:
        def report(self, stage, detail=None):
            reports.append(stage)

    with pytest.raises(installer.InstallError, match="but the disk has 512 MiB"):
        installer.install(Head(), PLAN, disks=disks(("vda", 0.5, False)), image_bytes=700 * MIB)
    assert reports == []


def test_kernel_arguments_are_read_from_the_command_line():
    arguments = installer.kernel_arguments(
        "boot=oscar ip=dhcp oscar.mode=install quiet oscar.api=http://h/api/v1"
    )
    assert arguments["oscar.api"] == "http://h/api/v1" and arguments["quiet"] == ""


KEYS = [
    {
        "type": "ed25519",
        "name": "ssh_host_ed25519_key",
        "private": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        "public": "ssh-ed25519 AAAA root@node003\n",
    }
]


def test_the_plans_host_keys_go_to_etc_ssh_the_private_one_for_root_alone(tmp_path):
    (tmp_path / "etc/ssh").mkdir(parents=True)
    installer.write_host_keys(KEYS, str(tmp_path))
    private = tmp_path / "etc/ssh/ssh_host_ed25519_key"
    public = tmp_path / "etc/ssh/ssh_host_ed25519_key.pub"
    assert private.read_text() == KEYS[0]["private"] and public.read_text() == KEYS[0]["public"]
    assert (private.stat().st_mode & 0o777, public.stat().st_mode & 0o777) == (0o600, 0o644)
    # No keys in the plan: nothing written, the node makes its own at first boot.
    installer.write_host_keys(None, str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([dict(KEYS[0], name="../../root/.ssh/authorized_keys")], "no name like ssh_host_TYPE_key"),
        ([dict(KEYS[0], name="sshd_config")], "no name like ssh_host_TYPE_key"),
        ([dict(KEYS[0], private=None)], "lacks its private or public part"),
        ({"name": "ssh_host_rsa_key"}, "is not a list"),
    ],
)
def test_a_host_key_the_installer_cannot_trust_is_refused_before_any_is_written(tmp_path, keys, message):
    good = dict(KEYS[0], name="ssh_host_rsa_key")
    with pytest.raises(installer.InstallError, match=message):
        installer.write_host_keys([good, *keys] if isinstance(keys, list) else keys, str(tmp_path))
    assert not (tmp_path / "etc").exists()


class Answers(http.server.BaseHTTPRequestHandler):
    """The head's API as the installer sees it: the caller's source port, echoed back as JSON."""

    def do_GET(self):
        payload = json.dumps({"port": self.client_address[1], "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def head_api():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/oscar/api/v1" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_installer_asks_the_head_from_a_port_below_1024(head_api):
    # Binding a port below 1024 needs root, as the installer is on the node.
    assert os.geteuid() == 0, "the unit tests run as root (the installer's own case)"
    ports = set()
    for _request in range(5):
        status, answer = installer.http_json(head_api + "/plan")
        assert status == 200 and answer["path"] == "/oscar/api/v1/plan"
        ports.add(answer["port"])
    assert all(600 <= port < 1024 for port in ports), ports


def test_a_taken_source_port_is_passed_over(head_api):
    host, port = "127.0.0.1", int(head_api.split(":")[2].split("/")[0])
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        taken.bind(("", 0))
        free = taken.getsockname()[1]
        with socket.socket() as other:
            other.bind(("", 0))
            spare = other.getsockname()[1]
        connection = installer.privileged_connection(host, port, 5, ports=[free, spare], tries=2)
        assert connection.sock.getsockname()[1] == spare
        connection.close()
        with pytest.raises(OSError, match="no free source port"):
            installer.privileged_connection(host, port, 5, ports=[free], tries=1)

"""The testbed's virtual machines without QEMU: plan, QEMU command line, console, power, CLI."""

import json
import os
import subprocess

import pytest

from oscar_testbed import cli, commands, host, layout, testbed, vm
from oscar_testbed.errors import CapacityError, NotReadyError, TestbedError, UnknownHostError, VmError


def completed(stdout="", returncode=0, stderr=""):
    return subprocess.CompletedProcess(["fake"], returncode, stdout=stdout, stderr=stderr)


def option_values(argv, flag):
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


# ---- the plan -----------------------------------------------------------------


def test_virtual_machines_continue_the_compute_names_and_addresses():
    plan = layout.make_plan("tb", 4, 2, vms=2)
    assert [h.name for h in plan.hosts] == ["head", "node001", "node002"]
    assert [(m.name, m.ip, m.role) for m in plan.vms] == [
        ("node003", "10.211.4.13", "vm"),
        ("node004", "10.211.4.14", "vm"),
    ]
    assert [m.qemu_name for m in plan.vms] == ["tb-node003", "tb-node004"]


def test_virtual_machine_macs_are_qemus_prefix_and_the_address_and_unique_across_slots():
    macs = {m.mac for slot in (0, 1, 255) for m in layout.make_plan("tb", slot, 1, vms=3).vms}
    assert len(macs) == 9
    assert layout.make_plan("tb", 1, 0, vms=1).vms[0].mac == "52:54:00:d3:01:0b"
    assert all(mac.startswith("52:54:00:") for mac in macs)


def test_tap_names_fit_the_kernels_limit_for_the_largest_slot_and_node():
    plan = layout.make_plan("a-very-long-testbed-name", 255, 0, vms=layout.MAX_COMPUTE_NODES)
    taps = [m.tap for m in plan.vms]
    assert taps[0] == "otb255-node001"
    assert max(len(tap) for tap in taps) <= layout.MAX_INTERFACE_NAME
    assert len(set(taps)) == len(taps)


def test_virtual_machines_are_found_by_name_but_are_no_hosts():
    plan = layout.make_plan("tb", 0, 1, vms=1)
    assert plan.vm("node002").tap == "otb0-node002"
    assert plan.vm("tb-node002") is plan.vm("node002")
    assert plan.host("node002") is None
    assert plan.vm("node001") is None


def test_no_vms_by_default_and_the_state_records_their_count_and_disk_size():
    assert layout.make_plan("tb", 0, 1).vms == ()
    state = layout.make_plan("tb", 0, 1, vms=2, vm_disk_size="16G").to_dict()
    assert (state["vms"], state["vm_disk_size"]) == (2, "16G")


def test_compute_nodes_and_vms_share_the_private_range():
    layout.make_plan("tb", 0, layout.MAX_COMPUTE_NODES - 3, vms=3)
    with pytest.raises(CapacityError, match="virtual machines do not fit"):
        layout.make_plan("tb", 0, layout.MAX_COMPUTE_NODES - 3, vms=4)
    with pytest.raises(CapacityError, match="must not be negative"):
        layout.make_plan("tb", 0, 1, vms=-1)


def test_virtual_machines_refuse_a_private_network_with_a_route_out():
    with pytest.raises(TestbedError, match="without a route out"):
        layout.make_plan("tb", 0, 1, route_out=True, vms=1)
    layout.make_plan("tb", 0, 1, route_out=True)


@pytest.mark.parametrize("size", ["8G", "512M", "1T"])
def test_disk_sizes_qemu_img_takes_are_accepted(size):
    assert layout.validate_disk_size(size) == size


@pytest.mark.parametrize("size", ["", "8", "0G", "8GB", "-1G", "8 G", "1.5G"])
def test_other_disk_sizes_are_refused(size):
    with pytest.raises(TestbedError, match="invalid disk size"):
        layout.make_plan("tb", 0, 0, vms=1, vm_disk_size=size)


# ---- accelerator and QEMU's command line ----------------------------------------


def test_accelerator_is_tcg_unless_the_variable_says_kvm(monkeypatch):
    assert vm.accelerator({}) == "tcg"
    assert vm.accelerator({vm.ACCEL_ENV: ""}) == "tcg"
    assert vm.accelerator({vm.ACCEL_ENV: "kvm"}) == "kvm"
    # /dev/kvm's presence decides nothing: it exists on machines where it does not work.
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    assert vm.accelerator({}) == "tcg"


def test_an_unknown_accelerator_is_refused():
    with pytest.raises(VmError, match="OSCAR_TESTBED_ACCEL is 'hvf'"):
        vm.accelerator({vm.ACCEL_ENV: "hvf"})


@pytest.fixture
def machine():
    return layout.make_plan("tb", 2, 1, vms=1).vms[0]


@pytest.fixture
def paths(tmp_path):
    return vm.VmPaths(str(tmp_path / "vms" / "node002"))


def test_bios_command_line(machine, paths):
    argv = vm.qemu_argv(machine, paths, qemu="/usr/bin/qemu-system-x86_64")
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert option_values(argv, "-accel") == ["tcg"]
    assert option_values(argv, "-smp") == ["1"]
    assert option_values(argv, "-m") == ["2048"]
    assert option_values(argv, "-display") == ["none"]
    assert option_values(argv, "-machine") == ["q35,graphics=off"]
    assert option_values(argv, "-boot") == [f"order=nc,reboot-timeout={vm.REBOOT_TIMEOUT_MS}"]
    assert option_values(argv, "-netdev") == ["tap,id=net0,ifname=otb2-node002,script=no,downscript=no"]
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:d3:02:0c" in option_values(argv, "-device")
    assert "virtio-blk-pci,drive=disk0" in option_values(argv, "-device")
    assert option_values(argv, "-drive") == [f"file={paths.disk},if=none,id=disk0,format=qcow2"]
    assert option_values(argv, "-chardev") == [f"file,id=console,path={paths.console},append=on"]
    assert option_values(argv, "-serial") == ["chardev:console"]
    assert option_values(argv, "-qmp") == [f"unix:{paths.qmp},server=on,wait=off"]
    assert option_values(argv, "-pidfile") == [paths.pidfile]
    assert "-daemonize" in argv
    assert "-nodefaults" in argv
    # A guest's reboot must reboot (an installer reboots into the installed system).
    assert "-no-reboot" not in argv
    assert not any("pflash" in arg for arg in argv)


def test_uefi_command_line_orders_the_nic_then_the_disk_and_has_its_own_variable_store(machine, paths):
    argv = vm.qemu_argv(machine, paths, uefi=True, accel="kvm", memory_mib=3072)
    assert option_values(argv, "-accel") == ["kvm"]
    assert option_values(argv, "-m") == ["3072"]
    drives = option_values(argv, "-drive")
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={host.OVMF_CODE}" in drives
    assert f"if=pflash,format=raw,unit=1,file={paths.uefi_vars}" in drives
    devices = option_values(argv, "-device")
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:d3:02:0c,bootindex=1" in devices
    assert "virtio-blk-pci,drive=disk0,bootindex=2" in devices
    assert option_values(argv, "-boot") == [f"reboot-timeout={vm.REBOOT_TIMEOUT_MS}"]
    assert "name=opt/org.tianocore/IPv4PXESupport,string=n" in option_values(argv, "-fw_cfg")


def test_machine_files_live_in_its_directory(tmp_path):
    paths = vm.VmPaths(str(tmp_path))
    assert [os.path.dirname(p) for p in (paths.disk, paths.console, paths.pidfile, paths.uefi_vars)] == [
        str(tmp_path)
    ] * 4
    assert paths.qmp == os.path.join(str(tmp_path), "qmp.sock")


def test_a_qmp_socket_path_too_long_for_unix_sockets_moves_to_tmp():
    directory = "/" + "d" * 120
    path = vm.qmp_socket_path(directory)
    assert len(path) <= vm.MAX_SOCKET_PATH
    assert path == vm.qmp_socket_path(directory)
    assert path != vm.qmp_socket_path(directory + "x")


# ---- the console ------------------------------------------------------------------


def test_console_text_drops_terminal_control_sequences_and_carriage_returns():
    raw = b"\x1b[2J\x1b[01;01HiPXE\x1b[0m 1.0\r\nPress Ctrl-B...\x08 \x08\r\nnet0: ok\r\n"
    assert vm.console_text(raw) == "iPXE 1.0\nPress Ctrl-B... \nnet0: ok\n"


@pytest.fixture
def a_vm(tmp_path, make_testbed, log_messages):
    bed = make_testbed(compute_nodes=1, vms=2)
    machine = bed.vm("node002")
    os.makedirs(machine.paths.directory)
    return machine


def write_console(machine, data, mode="ab"):
    with open(machine.console_log, mode) as handle:
        handle.write(data)


def test_wait_console_returns_the_first_matching_line(a_vm):
    write_console(a_vm, b"SeaBIOS\r\nnet0: 10.211.0.12/255.255.255.0 gw 10.211.0.254\r\nlater\r\n")
    assert (
        a_vm.wait_console(r"net0: 10\.211\.0\.\d+", timeout=0)
        == "net0: 10.211.0.12/255.255.255.0 gw 10.211.0.254"
    )


def test_wait_console_matches_a_line_still_being_written(a_vm):
    write_console(a_vm, b"Debian GNU/Linux 12 node002 ttyS0\r\n\r\nnode002 login: ")
    assert a_vm.wait_console("login: $", timeout=0) == "node002 login: "


def test_wait_console_since_an_offset_ignores_what_came_before(a_vm):
    write_console(a_vm, b"OSCAR-MARK boot 1\r\n")
    offset = a_vm.console_offset()
    write_console(a_vm, b"OSCAR-MARK boot 2\r\n")
    assert a_vm.wait_console("OSCAR-MARK", timeout=0, since=offset) == "OSCAR-MARK boot 2"
    assert a_vm.wait_console("OSCAR-MARK", timeout=0) == "OSCAR-MARK boot 1"


def test_wait_console_times_out_with_the_last_lines_of_the_log(a_vm):
    write_console(a_vm, b"".join(b"line %d\r\n" % n for n in range(40)))
    with pytest.raises(NotReadyError) as caught:
        a_vm.wait_console("never", timeout=0)
    message = str(caught.value)
    assert message.startswith("node002 (stopped): no console line matched /never/ within 0 s")
    assert message.endswith("\n".join(f"line {n}" for n in range(20, 40)))
    assert "line 19\n" not in message


def test_wait_console_without_a_log_yet_times_out_cleanly(a_vm):
    with pytest.raises(NotReadyError, match="no console line matched"):
        a_vm.wait_console("x", timeout=0)


def test_wait_console_sees_lines_written_while_it_waits(a_vm, monkeypatch):
    chunks = [b"Configuring (net0)...", b"... ok\r\n", b"OSCAR-READY\r\n"]

    def sleep_and_write(_seconds):
        write_console(a_vm, chunks.pop(0))

    monkeypatch.setattr(vm.time, "sleep", sleep_and_write)
    assert a_vm.wait_console("^OSCAR-READY$", timeout=60) == "OSCAR-READY"
    assert chunks == []


# ---- power and disks (commands and processes faked) ------------------------------


@pytest.fixture
def quiet_machine(monkeypatch):
    """Programs installed, plenty of memory, a bridge; record every command run."""
    ran = []
    monkeypatch.setattr(host, "missing_programs", lambda vms=False: {})
    monkeypatch.setattr(host, "available_memory_mib", lambda: 16384)
    monkeypatch.setattr(vm, "bridge_of", lambda network: "podman3")
    monkeypatch.setattr(vm, "ensure_tap", lambda tap, bridge, name: ran.append(["tap", tap, bridge, name]))
    monkeypatch.setattr(commands, "find_program", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(commands, "run", lambda argv, **kwargs: ran.append(list(argv)) or completed())
    monkeypatch.delenv(vm.ACCEL_ENV, raising=False)
    return ran


def test_start_makes_the_disk_and_tap_then_runs_qemu_and_records_how(a_vm, quiet_machine):
    write_console(a_vm, b"old boot\r\n")
    offset = a_vm.start()
    assert offset == len(b"old boot\r\n")
    qemu_img, tap, qemu = quiet_machine
    assert qemu_img == ["/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", a_vm.paths.disk, "8G"]
    assert tap == ["tap", "otb0-node002", "podman3", "tb"]
    assert qemu[0] == "/usr/bin/qemu-system-x86_64"
    assert option_values(qemu, "-accel") == ["tcg"]
    with open(a_vm.paths.state, encoding="utf-8") as handle:
        saved = json.load(handle)
    assert (saved["firmware"], saved["accel"], saved["console_offset"]) == ("bios", "tcg", offset)
    assert a_vm.started_offset() == offset


def test_a_uefi_start_copies_the_variable_store_once(a_vm, quiet_machine, tmp_path, monkeypatch):
    template = tmp_path / "OVMF_VARS.fd"
    template.write_bytes(b"vars")
    monkeypatch.setattr(host, "OVMF_VARS", str(template))
    a_vm.start(uefi=True)
    with open(a_vm.paths.uefi_vars, "rb") as handle:
        assert handle.read() == b"vars"
    assert a_vm.describe()["firmware"] == "uefi"


def test_start_honours_the_kvm_choice(a_vm, quiet_machine, monkeypatch):
    monkeypatch.setenv(vm.ACCEL_ENV, "kvm")
    a_vm.start()
    assert option_values(quiet_machine[-1], "-accel") == ["kvm"]


def test_start_refuses_a_running_machine(a_vm, quiet_machine, monkeypatch):
    monkeypatch.setattr(vm.Vm, "pid", lambda machine: 4242)
    with pytest.raises(VmError, match="node002 is running already"):
        a_vm.start()
    assert quiet_machine == []


def test_start_refuses_when_memory_is_short(a_vm, quiet_machine, monkeypatch):
    monkeypatch.setattr(host, "available_memory_mib", lambda: 3000)
    with pytest.raises(CapacityError, match="needs 2048 MiB but only 3000 MiB"):
        a_vm.start()


def test_start_names_missing_packages(a_vm, quiet_machine, monkeypatch):
    monkeypatch.setattr(host, "missing_programs", lambda vms=False: {host.OVMF_CODE: "ovmf"})
    with pytest.raises(TestbedError, match="Debian packages: ovmf"):
        a_vm.start()


def test_blank_gives_a_fresh_disk_and_is_refused_while_running(a_vm, quiet_machine, monkeypatch):
    for path in (a_vm.paths.disk, a_vm.paths.uefi_vars):
        with open(path, "w", encoding="ascii") as handle:
            handle.write("installed")
    a_vm.blank()
    assert not os.path.exists(a_vm.paths.disk)  # qemu-img is faked: the old disk is gone
    assert not os.path.exists(a_vm.paths.uefi_vars)
    assert quiet_machine[-1][:3] == ["/usr/bin/qemu-img", "create", "-q"]
    monkeypatch.setattr(vm.Vm, "pid", lambda machine: 4242)
    with pytest.raises(VmError, match="stop or kill it before blanking"):
        a_vm.blank()


@pytest.fixture
def live_qemu(a_vm, monkeypatch):
    """A 'QEMU' at pid 4242 that lives until signalled or until it has been asked to power down."""
    process = {"alive": True, "signals": [], "qmp": [], "powers_off": True}
    with open(a_vm.paths.pidfile, "w", encoding="ascii") as handle:
        handle.write("4242\n")
    monkeypatch.setattr(vm, "_process_alive", lambda pid, marker: pid == 4242 and process["alive"])

    def fake_kill(pid, sig):
        process["signals"].append((pid, sig))
        process["alive"] = False

    def fake_qmp(machine, command, arguments=None, timeout=10):
        process["qmp"].append(command)
        if process["powers_off"]:
            process["alive"] = False
        return {}

    monkeypatch.setattr(vm.os, "kill", fake_kill)
    monkeypatch.setattr(vm.Vm, "qmp", fake_qmp)
    monkeypatch.setattr(vm.time, "sleep", lambda seconds: None)
    return process


def test_state_and_pid_follow_the_process(a_vm, live_qemu):
    assert (a_vm.state(), a_vm.pid()) == ("running", 4242)
    live_qemu["alive"] = False
    assert (a_vm.state(), a_vm.pid()) == ("stopped", None)


def test_stop_presses_the_power_button(a_vm, live_qemu):
    assert a_vm.stop(timeout=5) == "powered off"
    assert live_qemu["qmp"] == ["system_powerdown"]
    assert live_qemu["signals"] == []


def test_stop_kills_a_machine_that_ignores_the_button(a_vm, live_qemu):
    live_qemu["powers_off"] = False
    assert a_vm.stop(timeout=0) == "killed"
    assert live_qemu["signals"] == [(4242, vm.signal.SIGKILL)]


def test_kill_is_sigkill_and_stop_of_a_stopped_machine_does_nothing(a_vm, live_qemu):
    assert a_vm.kill() is True
    assert live_qemu["signals"] == [(4242, vm.signal.SIGKILL)]
    assert a_vm.kill() is False
    assert a_vm.stop() == "stopped"


def test_describe_shows_what_vm_list_prints(a_vm, live_qemu):
    assert a_vm.describe() == {
        "name": "node002",
        "role": "vm",
        "mac": "52:54:00:d3:00:0c",
        "expected_ip": "10.211.0.12",
        "state": "running",
        "pid": 4242,
        "firmware": None,
        "tap": "otb0-node002",
        "disk": a_vm.paths.disk,
        "console_log": a_vm.paths.console,
    }


def test_process_alive_checks_the_command_line_and_zombies(tmp_path):
    assert vm._process_alive(os.getpid(), "python") or vm._process_alive(os.getpid(), "pytest")
    assert not vm._process_alive(os.getpid(), "no-such-marker-in-this-command-line")
    assert not vm._process_alive(2**22 + 12345, "x")


# ---- the testbed's machines ----------------------------------------------------------


def test_a_testbed_of_before_has_no_machines(make_testbed):
    bed = make_testbed(compute_nodes=1)
    assert bed.vms() == []
    with pytest.raises(UnknownHostError, match=r"no virtual machine 'node002' \(machines: none\)"):
        bed.vm("node002")


def test_testbed_vm_gives_the_machine_on_the_private_network(make_testbed):
    bed = make_testbed(compute_nodes=1, vms=2)
    machine = bed.vm("node003")
    assert (machine.name, machine.network_name, machine.disk_size) == ("node003", "tb-private", "8G")
    assert machine.paths.directory == bed.path("vms", "node003")
    with pytest.raises(UnknownHostError, match="machines: node002, node003"):
        bed.vm("head")


def test_vms_are_not_in_the_inventory(make_testbed):
    bed = make_testbed(compute_nodes=1, vms=2)
    inventory = bed.inventory(bed.plan())
    hosts = [name for group in inventory["all"]["children"].values() for name in group["hosts"]]
    assert sorted(hosts) == ["head", "node001"]


def test_up_with_vms_makes_their_disks_and_taps_and_registers_only_the_hosts(up_vms):
    bed, effects = up_vms
    plan = bed.up(compute_nodes=2, vms=2, vm_disk_size="4G")
    assert [m.name for m in plan.vms] == ["node003", "node004"]
    assert effects["disks"] == ["node003", "node004"]
    assert effects["taps"] == [("otb5-node003", "podman7", "tb"), ("otb5-node004", "podman7", "tb")]
    assert effects["programs_for_vms"] == [True]
    ((url, hosts, head_url),) = effects["registered"]
    assert hosts == ["head", "node001", "node002"]
    assert url == f"sqlite:{bed.path('oda', 'oda.db')}"
    assert head_url == "sqlite:/var/lib/oscar-oda/oda.db"
    with open(bed.state_file, encoding="utf-8") as handle:
        state = json.load(handle)
    assert (state["vms"], state["vm_disk_size"]) == (2, "4G")
    assert bed.vm("node004").disk_size == "4G"


def test_up_without_vms_needs_no_qemu(up_vms):
    bed, effects = up_vms
    bed.up(compute_nodes=1)
    assert effects["programs_for_vms"] == [False]
    assert "disks" not in effects


@pytest.fixture
def up_vms(up_without_podman, monkeypatch):
    monkeypatch.delenv("OSCAR_ODA_URL", raising=False)
    return up_without_podman


def test_down_kills_the_machines_and_removes_their_taps(make_testbed, monkeypatch):
    bed = make_testbed(compute_nodes=0, vms=2)
    removed = []
    monkeypatch.setattr(vm.Vm, "remove", lambda machine: removed.append(machine.name))
    monkeypatch.setattr(vm.Vm, "running", lambda machine: machine.name == "node001")
    monkeypatch.setattr(vm, "taps_of", lambda name: ["otb0-node002"] if name == "tb" else [])
    monkeypatch.setattr(vm, "remove_tap", removed.append)
    monkeypatch.setattr(commands, "podman", lambda *args, **kwargs: completed())
    bed.down()
    assert removed == ["node001", "node002", "otb0-node002"]
    assert not os.path.exists(bed.directory)


def test_kill_stray_machines_kills_every_live_qemu_under_the_directory(tmp_path, monkeypatch):
    for name, pid in (("node001", "101"), ("node002", "102"), ("node003", "junk")):
        os.makedirs(tmp_path / "vms" / name)
        (tmp_path / "vms" / name / "qemu.pid").write_text(pid)
    monkeypatch.setattr(vm, "_process_alive", lambda pid, marker: pid == 102)
    killed = []
    monkeypatch.setattr(vm.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    assert vm.kill_stray_machines(str(tmp_path)) == ["node002"]
    assert killed == [(102, vm.signal.SIGKILL)]
    assert vm.kill_stray_machines(str(tmp_path / "none")) == []


def test_taps_are_found_by_their_alias(tmp_path, monkeypatch):
    for interface, alias in (
        ("otb0-node001", "oscar.testbed=tb"),
        ("otb1-node001", "oscar.testbed=tb2"),
        ("eth0", ""),
    ):
        os.makedirs(tmp_path / interface)
        (tmp_path / interface / "ifalias").write_text(alias + "\n")
    monkeypatch.setattr(vm, "SYS_CLASS_NET", str(tmp_path))
    assert vm.taps_of("tb") == ["otb0-node001"]
    assert vm.taps_of("other") == []


def test_bridge_of_refuses_a_network_without_a_bridge(monkeypatch, tmp_path):
    monkeypatch.setattr(commands, "podman", lambda *args, **kwargs: completed(stdout="podman9\n"))
    monkeypatch.setattr(vm, "SYS_CLASS_NET", str(tmp_path))
    with pytest.raises(VmError, match=r"bridge podman9 .* does not exist"):
        vm.bridge_of("tb-private")
    os.makedirs(tmp_path / "podman9")
    assert vm.bridge_of("tb-private") == "podman9"
    monkeypatch.setattr(commands, "podman", lambda *args, **kwargs: completed(returncode=125))
    with pytest.raises(VmError, match="has no bridge"):
        vm.bridge_of("tb-private")


# ---- the command line ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up", "--vms", "2"], {"vms": 2, "vm_disk_size": "8G"}),
        (["up"], {"vms": 0}),
        (["up", "--vm-disk-size", "16G"], {"vm_disk_size": "16G"}),
        (
            ["vm", "start", "node003"],
            {
                "vm_verb": "start",
                "machine": ["node003"],
                "uefi": False,
                "memory": 2048,
                "in_dhcp_order": False,
            },
        ),
        (
            ["vm", "start", "node003", "node002", "--in-dhcp-order", "--heard-timeout", "60"],
            {"machine": ["node003", "node002"], "in_dhcp_order": True, "heard_timeout": 60},
        ),
        (["vm", "start", "node003", "--uefi", "--memory", "3072"], {"uefi": True, "memory": 3072}),
        (["vm", "stop", "node003"], {"vm_verb": "stop", "timeout": vm.DEFAULT_STOP_TIMEOUT}),
        (["vm", "stop", "node003", "--timeout", "5"], {"timeout": 5}),
        (["vm", "kill", "node003"], {"vm_verb": "kill", "machine": "node003"}),
        (["vm", "blank", "node003"], {"vm_verb": "blank"}),
        (["vm", "list"], {"vm_verb": "list", "json": False}),
        (["vm", "list", "--json"], {"json": True}),
        (
            ["vm", "wait", "node003", "--pattern", "login:", "--timeout", "30"],
            {"vm_verb": "wait", "pattern": "login:", "timeout": 30, "since_start": False},
        ),
        (["vm", "wait", "node003", "--pattern", "x", "--since-start"], {"since_start": True}),
    ],
)
def test_parser_reads_the_vm_options(argv, expected):
    args = vars(cli.build_parser().parse_args(argv))
    assert {key: args[key] for key in expected} == expected


def test_vm_wait_needs_a_pattern(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["vm", "wait", "node003"])


@pytest.fixture
def cli_bed(make_testbed, monkeypatch):
    bed = make_testbed(compute_nodes=1, vms=2)
    monkeypatch.setattr(cli.testbed, "Testbed", lambda name=None: bed)
    return bed


def test_vm_list_prints_each_machine(cli_bed, capsys):
    assert cli.main(["vm", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VM", "STATE", "PID", "MAC", "EXPECTED", "IP", "CONSOLE", "LOG"]
    assert lines[1].split() == [
        "node002",
        "stopped",
        "-",
        "52:54:00:d3:00:0c",
        "10.211.0.12",
        cli_bed.path("vms", "node002", "console.log"),
    ]
    assert cli.main(["vm", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["node002", "node003"]


def test_status_json_lists_the_machines_apart_from_the_hosts(cli_bed, monkeypatch, capsys):
    monkeypatch.setattr(cli_bed, "status", lambda: [(h, "running") for h in cli_bed.plan().hosts])
    assert cli.main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [h["host"] for h in status["hosts"]] == ["head", "node001"]
    assert [(m["name"], m["state"], m["mac"]) for m in status["vms"]] == [
        ("node002", "stopped", "52:54:00:d3:00:0c"),
        ("node003", "stopped", "52:54:00:d3:00:0d"),
    ]


def test_vm_verbs_call_the_machine(cli_bed, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(
        vm.Vm, "start", lambda machine, uefi, memory_mib: calls.append(("start", uefi, memory_mib))
    )
    monkeypatch.setattr(vm.Vm, "stop", lambda machine, timeout: calls.append(("stop", timeout)))
    monkeypatch.setattr(vm.Vm, "kill", lambda machine: calls.append(("kill",)))
    monkeypatch.setattr(vm.Vm, "blank", lambda machine: calls.append(("blank",)))
    monkeypatch.setattr(vm.Vm, "started_offset", lambda machine: 77)
    monkeypatch.setattr(
        vm.Vm,
        "wait_console",
        lambda machine, pattern, timeout, since: (
            calls.append(("wait", pattern, timeout, since)) or "the line"
        ),
    )
    for argv in (
        ["vm", "start", "node002", "--uefi"],
        ["vm", "stop", "node002", "--timeout", "3"],
        ["vm", "kill", "node002"],
        ["vm", "blank", "node003"],
        ["vm", "wait", "node002", "--pattern", "ok", "--timeout", "9"],
        ["vm", "wait", "node002", "--pattern", "ok", "--since-start"],
    ):
        assert cli.main(argv) == 0
    assert calls == [
        ("start", True, 2048),
        ("stop", 3),
        ("kill",),
        ("blank",),
        ("wait", "ok", 9, None),
        ("wait", "ok", 300, 77),
    ]
    assert capsys.readouterr().out == "the line\nthe line\n"


def test_start_in_dhcp_order_waits_for_each_machine_before_the_next(cli_bed, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(
        vm.Vm, "start", lambda machine, uefi, memory_mib: calls.append(("start", machine.name))
    )
    monkeypatch.setattr(
        cli_bed, "wait_dhcp_request", lambda mac, timeout: calls.append(("heard", mac, timeout))
    )
    assert cli.main(["vm", "start", "node003", "node002", "--in-dhcp-order", "--heard-timeout", "40"]) == 0
    assert calls == [
        ("start", "node003"),
        ("heard", "52:54:00:d3:00:0d", 40),
        ("start", "node002"),
        ("heard", "52:54:00:d3:00:0c", 40),
    ]
    assert "node002: the head heard its DHCP request (52:54:00:d3:00:0c)" in capsys.readouterr().out
    calls.clear()
    assert cli.main(["vm", "start", "node002", "node003"]) == 0
    assert calls == [("start", "node002"), ("start", "node003")]


def test_the_head_hearing_a_machine_is_read_from_its_dnsmasq_journal(cli_bed, monkeypatch):
    journals = iter(
        ["dnsmasq-dhcp: DHCPDISCOVER(eth1) 52:54:00:aa:bb:01\n", "DHCPDISCOVER(eth1) 52:54:00:D3:00:0C\n"]
    )
    seen = []

    def fake_podman(*args, **kwargs):
        seen.append(args)
        return completed(next(journals))

    monkeypatch.setattr(commands, "podman", fake_podman)
    monkeypatch.setattr(testbed.time, "sleep", lambda seconds: None)
    cli_bed.wait_dhcp_request("52:54:00:d3:00:0c", timeout=60)
    assert len(seen) == 2
    assert seen[0][:2] == ("exec", cli_bed.host("head").container) and "dnsmasq" in seen[0]


def test_a_machine_the_head_never_hears_is_a_clear_error(cli_bed, monkeypatch):
    monkeypatch.setattr(commands, "podman", lambda *args, **kwargs: completed("nothing\n"))
    with pytest.raises(NotReadyError, match="no DHCP request from 52:54:00:d3:00:0c in 0 s"):
        cli_bed.wait_dhcp_request("52:54:00:d3:00:0c", timeout=0)


def test_vm_wait_timing_out_exits_non_zero_with_the_message(cli_bed, capsys):
    assert (
        cli.main(["vm", "wait", "node002", "--pattern", "never", "--timeout", "0"]) == NotReadyError.exit_code
    )
    assert "no console line matched /never/" in capsys.readouterr().err


def test_an_unknown_machine_is_a_clear_error(cli_bed, capsys):
    assert cli.main(["vm", "start", "node009"]) == UnknownHostError.exit_code
    assert "no virtual machine 'node009'" in capsys.readouterr().err


def test_prerequisites_include_what_the_machines_need(monkeypatch):
    monkeypatch.setattr(
        host.commands, "which", lambda prog: None if prog == "qemu-img" else f"/usr/bin/{prog}"
    )
    monkeypatch.setattr(host.os.path, "exists", lambda path: path != host.OVMF_VARS)
    assert host.missing_programs() == {}
    assert host.missing_programs(vms=True) == {"qemu-img": "qemu-utils", host.OVMF_VARS: "ovmf"}


def test_testbed_default_disk_size_is_the_layouts():
    assert layout.make_plan("tb", 0, 0, vms=1).vm_disk_size == testbed.DEFAULT_VM_DISK_SIZE


def test_start_warns_when_more_machines_would_run_than_there_are_cores(
    a_vm, quiet_machine, monkeypatch, log_messages
):
    monkeypatch.setattr(vm.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(vm.Vm, "running", lambda machine: machine.name == "node003")
    a_vm.start()
    assert any("2 running machines on 1 cores (running: node003)" in message for message in log_messages)

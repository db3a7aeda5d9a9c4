"""The boot service on a real ODA (SQLite): each caller moves its own install only, in order.

The HTTP side runs on a real socket; the X-Real-IP header stands for the
address nginx saw.  ODA's rules themselves are tested on every backend in
tests/unit/plugins/module_utils/test_oda_install.py.
"""

import http.client
import json
import threading

import pytest
from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_install import install_history, set_boot_action

from oscar_cluster.network_boot import service

ROOT_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HEAD, NODE1, NODE2 = "10.0.0.1", "10.0.0.11", "10.0.0.12"
MAC1 = "52:54:00:00:00:11"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0000000000000000000000000000000000000000000 root@head"


@pytest.fixture
def oda_url(tmp_path):
    url = "sqlite:%s" % (tmp_path / "oda.db")
    oda = Oda.open(url)
    try:
        with oda.db.transaction():
            oda.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.1", domain="cluster.lan")
            oda.images.ensure(
                "debian12", distro="debian-12", arch="x86_64", path="/var/lib/oscar/images/debian12"
            )
            oda.image_versions.ensure("debian12", 1, kernel="6.1.0-28-amd64")
            oda.image_versions.ensure("debian12", 1, boot_kernel="6.1.0-28-amd64", boot_root_sha256=ROOT_SHA)
            oda.images.ensure("debian12", current_version=1)
            oda.nodes.ensure(
                "head",
                groups=["oscar_server"],
                nics=[{"name": "eth1", "mac": "02:00:0a:00:00:01", "ip": HEAD, "network": "cluster"}],
            )
            oda.nodes.define_clients(["node001", "node002"], "cluster", NODE1, image="debian12")
            oda.nodes.assign_macs({"node001": MAC1, "node002": "52:54:00:00:00:12"})
    finally:
        oda.close()
    return url


@pytest.fixture
def served(oda_url, tmp_path):
    config = service.load_config_data(
        {
            "oda_url": oda_url,
            "base_url": "http://10.0.0.1/oscar",
            "authorized_keys": [KEY],
            "kernel_args": "console=ttyS0,115200n8",
            "listen": "127.0.0.1:0",
            "host_keys_dir": str(tmp_path / "host-keys"),
        }
    )
    httpd = service.make_server(config)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def ask(httpd, method, path, address, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=10)
    connection.request(method, path, body=body, headers={"X-Real-IP": address, "X-Real-Port": "700"})
    response = connection.getresponse()
    payload = response.read().decode()
    connection.close()
    return response.status, payload


def report(httpd, address, stage, detail=None):
    body = {"stage": stage} if detail is None else {"stage": stage, "detail": detail}
    status, payload = ask(httpd, "POST", "/oscar/api/v1/report", address, json.dumps(body))
    return status, json.loads(payload)


def mark_install(url, node="node001"):
    oda = Oda.open(url)
    try:
        set_boot_action(oda.db, node, "install")
    finally:
        oda.close()


def history(url, node="node001"):
    oda = Oda.open(url, read_only=True)
    try:
        return [(event["attempt"], event["stage"]) for event in install_history(oda.db, node)]
    finally:
        oda.close()


def test_a_node_that_boots_locally_gets_its_disk(served):
    status, script = ask(served, "GET", "/oscar/node/52-54-00-00-00-11.ipxe", NODE1)
    assert status == 200
    assert script.startswith("#!ipxe\n") and script.rstrip().endswith("exit")


def test_a_node_to_install_gets_its_versions_kernel_and_root_sum(served, oda_url):
    mark_install(oda_url)
    status, script = ask(served, "GET", "/oscar/node/52-54-00-00-00-11.ipxe", NODE1)
    assert status == 200
    assert "kernel http://10.0.0.1/oscar/images/debian12/1/vmlinuz " in script
    assert "oscar.root_sha256=" + ROOT_SHA in script
    assert "console=ttyS0,115200n8" in script


def test_a_mac_that_is_not_the_callers_gets_a_refusal(served, oda_url):
    mark_install(oda_url)
    status, script = ask(served, "GET", "/oscar/node/52-54-00-00-00-11.ipxe", NODE2)
    assert status == 200
    assert "is not a NIC of node002" in script and "kernel" not in script


def test_the_plan_is_the_callers_own_with_the_services_keys(served, oda_url):
    assert ask(served, "GET", "/oscar/api/v1/plan", NODE1)[0] == 403
    mark_install(oda_url)
    status, payload = ask(served, "GET", "/oscar/api/v1/plan", NODE1)
    assert status == 200, payload
    plan = json.loads(payload)
    assert (plan["node"], plan["image"], plan["version"]) == ("node001", "debian12", 1)
    assert plan["authorized_keys"] == [KEY]
    assert plan["kernel_args"] == "console=ttyS0,115200n8"
    assert plan["nameservers"] == [HEAD]
    assert ask(served, "GET", "/oscar/api/v1/plan", HEAD)[0] == 403


def test_an_install_goes_stage_by_stage_then_boots_the_disk(served, oda_url):
    mark_install(oda_url)
    for stage in ("booted", "partitioned", "formatted", "copied", "configured", "bootloader", "installed"):
        status, answer = report(served, NODE1, stage)
        assert status == 200, answer
        assert answer["stage"] == stage
    assert [stage for _attempt, stage in history(oda_url)][-1] == "installed"
    script = ask(served, "GET", "/oscar/node/52-54-00-00-00-11.ipxe", NODE1)[1]
    assert script.rstrip().endswith("exit") and "kernel" not in script
    # Installed: nothing more to report.
    assert report(served, NODE1, "booted")[0] == 403


def test_refused_reports_change_nothing(served, oda_url):
    mark_install(oda_url)
    assert report(served, NODE1, "booted")[0] == 200
    before = history(oda_url)
    assert report(served, NODE1, "copied")[0] == 409
    assert report(served, NODE1, "partying")[0] == 400
    assert report(served, HEAD, "partitioned")[0] == 403
    assert report(served, "10.0.0.99", "partitioned")[0] == 403
    # node002 is not being installed: its report cannot touch node001's install.
    assert report(served, NODE2, "partitioned")[0] == 403
    assert history(oda_url) == before
    assert history(oda_url, "node002") == []


def test_a_cut_install_starts_over_at_the_next_boot(served, oda_url):
    mark_install(oda_url)
    for stage in ("booted", "partitioned", "formatted"):
        assert report(served, NODE1, stage)[0] == 200
    # Power cut; the machine boots the installer again.
    assert report(served, NODE1, "booted")[0] == 200
    assert report(served, NODE1, "partitioned")[0] == 200
    assert history(oda_url) == [
        (1, "booted"),
        (1, "partitioned"),
        (1, "formatted"),
        (2, "booted"),
        (2, "partitioned"),
    ]


def test_the_plan_carries_the_nodes_own_host_keys_the_same_at_every_install(served, oda_url):
    mark_install(oda_url)
    first = json.loads(ask(served, "GET", "/oscar/api/v1/plan", NODE1)[1])["host_keys"]
    assert [key["name"] for key in first] == [
        "ssh_host_rsa_key",
        "ssh_host_ecdsa_key",
        "ssh_host_ed25519_key",
    ]
    assert all(key["private"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----") for key in first)
    assert all(key["public"].rstrip().endswith(" root@node001") for key in first)
    # Installed, then installed again: the same keys.
    for stage in ("booted", "partitioned", "formatted", "copied", "configured", "bootloader", "installed"):
        assert report(served, NODE1, stage)[0] == 200
    mark_install(oda_url)
    assert json.loads(ask(served, "GET", "/oscar/api/v1/plan", NODE1)[1])["host_keys"] == first
    mark_install(oda_url, "node002")
    other = json.loads(ask(served, "GET", "/oscar/api/v1/plan", NODE2)[1])["host_keys"]
    assert {key["public"] for key in other}.isdisjoint({key["public"] for key in first})


def test_no_host_keys_are_made_for_a_caller_refused_its_plan(served, oda_url, tmp_path):
    assert ask(served, "GET", "/oscar/api/v1/plan", NODE1)[0] == 403
    assert ask(served, "GET", "/oscar/api/v1/plan", HEAD)[0] == 403
    assert not (tmp_path / "host-keys" / "node001").exists()

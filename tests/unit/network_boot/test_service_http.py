"""The boot service's HTTP side, on a real socket, with a stand-in for ODA: statuses, limits, callers.

What ODA decides (which node, which stage is next) is tested through the real
library in test_service_oda.py; here, what reaches the data layer and what the
caller gets back.
"""

import grp
import http.client
import json
import os
import socket
import stat
import threading

import pytest
from oscar_cluster.module_utils.oda_errors import OdaInstallOutOfOrder, OdaInstallRefused, OdaUnavailableError

from oscar_cluster.network_boot import service

NODE_IP = "10.211.0.13"
# The source port nginx saw: below 1024, so root on the node asked.
ROOT_PORT = "812"


class FakeData:
    """Records what the handler asked; answers like BootData, or raises what it is told to."""

    def __init__(self):
        self.calls = []
        self.error = None

    def _maybe_raise(self):
        if self.error is not None:
            raise self.error

    def boot_script(self, address, mac):
        self.calls.append(("script", address, mac))
        self._maybe_raise()
        return "#!ipxe\nexit\n"

    def plan(self, address):
        self.calls.append(("plan", address))
        self._maybe_raise()
        return {"node": "node003"}

    def report(self, address, stage, detail):
        self.calls.append(("report", address, stage, detail))
        self._maybe_raise()
        return {"node": "node003", "stage": stage}


@pytest.fixture
def server():
    data = FakeData()
    httpd = service.make_server({"listen": "127.0.0.1:0", "base_url": "http://x/oscar"}, data=data)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd, data
    httpd.shutdown()
    httpd.server_close()


def request(httpd, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=10)
    all_headers = {"X-Real-IP": NODE_IP, "X-Real-Port": ROOT_PORT}
    all_headers.update(headers or {})
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type"), payload


def test_the_caller_is_the_address_nginx_passes(server):
    httpd, data = server
    status, kind, payload = request(httpd, "GET", "/oscar/api/v1/plan")
    assert (status, kind) == (200, "application/json")
    assert json.loads(payload) == {"node": "node003"}
    assert data.calls == [("plan", NODE_IP)]


def test_a_node_script_is_asked_by_mac(server):
    httpd, data = server
    status, kind, payload = request(httpd, "GET", "/oscar/node/52-54-00-d3-00-01.ipxe")
    assert (status, kind, payload) == (200, "text/plain", b"#!ipxe\nexit\n")
    assert data.calls == [("script", NODE_IP, "52:54:00:d3:00:01")]


def test_a_report_reaches_oda_with_its_stage(server):
    httpd, data = server
    body = json.dumps({"stage": "failed", "detail": "disk too small"})
    status, _kind, payload = request(httpd, "POST", "/oscar/api/v1/report", body)
    assert status == 200, payload
    assert data.calls == [("report", NODE_IP, "failed", "disk too small")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"stage": "copied", "node": "node004"}).encode(), "unknown fields: node"),
        (json.dumps({"detail": "x"}).encode(), "needs a stage"),
        (json.dumps({"stage": 3}).encode(), "needs a stage"),
        (json.dumps({"stage": "failed", "detail": "x" * 1001}).encode(), "at most 1000"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_malformed_report_is_refused_before_oda(server, body, message):
    httpd, data = server
    status, _kind, payload = request(httpd, "POST", "/oscar/api/v1/report", body)
    assert status == 400
    assert message in json.loads(payload)["error"]
    assert data.calls == []


def test_an_oversized_report_is_refused_unread(server):
    httpd, data = server
    body = json.dumps({"stage": "failed", "detail": "x" * 5000})
    status, _kind, payload = request(httpd, "POST", "/oscar/api/v1/report", body)
    assert status == 413, payload
    assert data.calls == []


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OdaInstallRefused("10.211.0.99 is no node", "not-a-node"), 403),
        (OdaInstallRefused("node003 is not being installed", "not-installing"), 403),
        (OdaInstallOutOfOrder("copied does not follow booted"), 409),
        (OdaUnavailableError("database is locked"), 503),
    ],
)
def test_odas_refusals_become_statuses(server, error, status):
    httpd, data = server
    data.error = error
    answer, _kind, payload = request(httpd, "POST", "/oscar/api/v1/report", json.dumps({"stage": "copied"}))
    assert answer == status
    assert json.loads(payload)["error"] == str(error)


def test_a_refused_boot_script_is_still_a_script_that_says_why(server):
    httpd, data = server
    data.error = service.Refusal(403, "MAC 52:54:00:d3:00:09 is not a NIC of node003 (10.211.0.13)")
    status, kind, payload = request(httpd, "GET", "/oscar/node/52-54-00-d3-00-09.ipxe")
    assert (status, kind) == (200, "text/plain")
    assert payload.startswith(b"#!ipxe\necho oscar: MAC 52:54:00:d3:00:09 is not a NIC of node003")


@pytest.mark.parametrize(
    "path", ["/oscar/api/v1/nodes", "/oscar/node/../../etc/passwd", "/", "/oscar/node/x.ipxe"]
)
def test_nothing_else_is_served(server, path):
    httpd, data = server
    status, _kind, _payload = request(httpd, "GET", path)
    assert status in (400, 404)
    assert all(call[0] != "plan" for call in data.calls)


def test_a_bad_forwarded_address_is_refused(server):
    httpd, data = server
    status, _kind, _payload = request(httpd, "GET", "/oscar/api/v1/plan", headers={"X-Real-IP": "node003"})
    assert status == 400
    assert data.calls == []


@pytest.mark.parametrize("port", ["1024", "40312", "", "x"])
def test_the_install_api_answers_only_a_privileged_source_port(server, port):
    httpd, data = server
    for method, path, body in (
        ("GET", "/oscar/api/v1/plan", None),
        ("POST", "/oscar/api/v1/report", json.dumps({"stage": "booted"})),
    ):
        status, _kind, payload = request(httpd, method, path, body, headers={"X-Real-Port": port})
        assert status == 403, payload
        assert "privileged source port" in json.loads(payload)["error"]
    assert data.calls == []


def test_a_boot_script_is_served_to_any_source_port(server):
    # iPXE's firmware picks its own ports; the script holds no secret.
    httpd, data = server
    status, _kind, _payload = request(
        httpd, "GET", "/oscar/node/52-54-00-d3-00-01.ipxe", headers={"X-Real-Port": "49152"}
    )
    assert status == 200
    assert data.calls == [("script", NODE_IP, "52:54:00:d3:00:01")]


def test_without_the_web_server_the_callers_own_address_and_port_count():
    """A caller neither on loopback nor on the socket is known by its own address and port, not by headers."""
    handler = service.Handler.__new__(service.Handler)
    handler.client_address = ("10.211.0.13", 51000)
    handler.headers = {"X-Real-IP": "10.211.0.14", "X-Real-Port": "700"}
    assert (handler.caller_address(), handler.caller_port()) == ("10.211.0.13", 51000)
    with pytest.raises(service.Refusal) as refused:
        handler.require_privileged_port("10.211.0.13")
    assert refused.value.status == 403


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def test_on_its_unix_socket_only_root_and_the_web_servers_group_may_connect(tmp_path):
    path = str(tmp_path / "api.sock")
    data = FakeData()
    group = os.getgid()
    name = grp.getgrgid(group).gr_name
    config = service.load_config_data(
        {"listen": "unix:" + path, "socket_group": name, "base_url": "http://x/oscar"}
    )
    httpd = service.make_server(config, data=data)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o660
        assert info.st_gid == group
        connection = UnixConnection(path)
        connection.request(
            "GET", "/oscar/api/v1/plan", headers={"X-Real-IP": NODE_IP, "X-Real-Port": ROOT_PORT}
        )
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"node": "node003"})
        connection.close()
        # The web server must say who asked: no header, no caller.
        connection = UnixConnection(path)
        connection.request("GET", "/oscar/api/v1/plan")
        assert connection.getresponse().status == 400
        connection.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert data.calls == [("plan", NODE_IP)]
    assert not os.path.exists(path), "the socket is removed when the service stops"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"listen": "unix:relative.sock"}, "absolute socket path"),
        ({"listen": "127.0.0.1"}, "not unix:PATH nor HOST:PORT"),
        ({"listen": "127.0.0.1:99999"}, "not unix:PATH nor HOST:PORT"),
        ({"host_keys_dir": "keys"}, "host_keys_dir must be an absolute path"),
        ({"socket_group": ""}, "socket_group must be a non-empty string"),
    ],
)
def test_bad_settings_are_refused_with_what_is_wrong(changes, message):
    with pytest.raises(service.ConfigError, match=message):
        service.load_config_data(dict({"base_url": "http://x/oscar"}, **changes))


def test_a_socket_group_that_does_not_exist_is_refused(tmp_path):
    config = service.load_config_data(
        {
            "listen": "unix:%s" % (tmp_path / "api.sock"),
            "socket_group": "no-such-group-here",
            "base_url": "http://x",
        }
    )
    with pytest.raises(service.ConfigError, match="no-such-group-here"):
        service.make_server(config, data=FakeData())
    assert not (tmp_path / "api.sock").exists()


def test_host_keys_are_made_ahead_by_the_command_and_said(tmp_path, capsys):
    config = tmp_path / "service.json"
    config.write_text(json.dumps({"base_url": "http://x/oscar", "host_keys_dir": str(tmp_path / "keys")}))
    assert service.main(["--config", str(config), "--host-keys", "node001", "node002"]) == 0
    assert json.loads(capsys.readouterr().out) == {"made": ["node001", "node002"], "kept": []}
    assert service.main(["--config", str(config), "--host-keys", "node002", "node003"]) == 0
    assert json.loads(capsys.readouterr().out) == {"made": ["node003"], "kept": ["node002"]}
    assert service.main(["--config", str(config), "--host-keys", "../x"]) == 1
    assert "not a node name" in capsys.readouterr().err
    config.write_text(json.dumps({"base_url": "http://x/oscar"}))
    assert service.main(["--config", str(config), "--host-keys", "node001"]) == 1
    assert "keeps no host keys" in capsys.readouterr().err

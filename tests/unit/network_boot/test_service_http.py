"""The boot service's HTTP side, on a real socket, with a stand-in for ODA: statuses, limits, callers.

What ODA decides (which node, which stage is next) is tested through the real
library in test_service_oda.py; here, what reaches the data layer and what the
caller gets back.
"""

import http.client
import json
import threading

import pytest
from oscar_cluster.module_utils.oda_errors import OdaInstallOutOfOrder, OdaInstallRefused, OdaUnavailableError

from oscar_cluster.network_boot import service

NODE_IP = "10.211.0.13"


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
    all_headers = {"X-Real-IP": NODE_IP}
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

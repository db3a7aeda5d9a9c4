"""The boot service: what nodes ask the head for while they boot and install, answered from ODA.

It listens on the loopback address only, behind the head's web server, which
passes the calling machine's address in X-Real-IP.  The caller is always the
node that address belongs to in ODA, so a node can read only its own plan and
move only its own install forward:

    GET  /oscar/node/<mac>.ipxe   the node's iPXE script (its boot action)
    GET  /oscar/api/v1/plan       the node's install plan (while it is to be installed)
    POST /oscar/api/v1/report     {"stage": ...} or {"stage": "failed", "detail": ...}

Refused: a caller that is no node (403), a MAC that is not the caller's (403),
a plan or report from a node that is not being installed (403), a stage that
is not the next one (409), a malformed body (400), a body over 4 KiB (413).
A refusal changes nothing in ODA.  Run as ``oscar-boot-service --config FILE``.
"""

import argparse
import contextlib
import ipaddress
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from oscar_cluster.module_utils import oda_install
from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_db import mask_url, resolve
from oscar_cluster.module_utils.oda_errors import (
    OdaError,
    OdaInstallRefused,
    OdaUnavailableError,
    OdaValidationError,
)
from oscar_cluster.network_boot import scripts

MAX_BODY = 4096
MAX_DETAIL = 1000
REPORT_FIELDS = frozenset(("stage", "detail"))
# Seconds a connection may stay silent: a stuck node must not hold a thread.
REQUEST_TIMEOUT = 15


class ConfigError(ValueError):
    """The service's configuration file is missing, malformed or incomplete."""


class Refusal(Exception):
    """A request the service answers with an error status and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def load_config(path):
    """The service's settings from its JSON file (written by roles/network_boot)."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise ConfigError("cannot read the configuration %s: %s" % (path, error)) from None
    return load_config_data(config, path)


def load_config_data(config, source="the configuration"):
    """The settings checked, with their defaults: listen, base_url, oda_url, authorized_keys, kernel_args."""
    if not isinstance(config, dict):
        raise ConfigError("%s must hold a JSON object" % source)
    config = dict(config)
    if not isinstance(config.get("base_url"), str) or not config["base_url"]:
        raise ConfigError("%s must give base_url" % source)
    keys = config.setdefault("authorized_keys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise ConfigError("%s: authorized_keys must be a list of public keys" % source)
    config.setdefault("kernel_args", "")
    config.setdefault("listen", "127.0.0.1:8470")
    config.setdefault("oda_url", None)
    return config


class BootData:
    """ODA and the head's boot artifacts, as the service reads and writes them."""

    def __init__(self, config):
        self.config = config
        self.url, self.password = resolve(config.get("oda_url"))
        # One writer at a time from this process: SQLite serialises writers
        # anyway, and this keeps the busy wait inside the service.
        self._write_lock = threading.Lock()

    def _open(self, read_only=True):
        return Oda.open(self.url, password=self.password, read_only=read_only)

    def caller(self, oda, address):
        """The name of the node whose address this is, or Refusal(403)."""
        name = oda_install.node_by_address(oda.db, address)
        if name is None:
            raise Refusal(HTTPStatus.FORBIDDEN, "%s is no node's address in ODA" % address)
        return name

    def boot_script(self, address, mac):
        oda = self._open()
        try:
            name = self.caller(oda, address)
            target = oda_install.boot_target(oda.db, name)
        finally:
            oda.close()
        if mac not in target["macs"]:
            raise Refusal(HTTPStatus.FORBIDDEN, "MAC %s is not a NIC of %s (%s)" % (mac, name, address))
        if target["boot_action"] != "local" and target["version"] is None:
            raise Refusal(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "%s is to boot %s but its image version has no boot artifacts in ODA"
                % (name, target["boot_action"]),
            )
        # The root's sum comes from ODA, recorded when the version was exported:
        # the initramfs refuses a root that differs from what ODA says.
        return scripts.node_script(
            self.config["base_url"], dict(target, name=name), self.config["kernel_args"]
        )

    def plan(self, address):
        oda = self._open()
        try:
            plan = oda_install.install_plan(oda.db, self.caller(oda, address))
        finally:
            oda.close()
        plan["authorized_keys"] = list(self.config["authorized_keys"])
        plan["kernel_args"] = self.config["kernel_args"]
        return plan

    def report(self, address, stage, detail):
        with self._write_lock:
            oda = self._open(read_only=False)
            try:
                return oda_install.record_report(oda.db, self.caller(oda, address), stage, detail)
            finally:
                oda.close()


def parse_report(body):
    """(stage, detail) of a report body, or Refusal(400)."""
    try:
        report = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(HTTPStatus.BAD_REQUEST, "the report is not JSON") from None
    if not isinstance(report, dict):
        raise Refusal(HTTPStatus.BAD_REQUEST, "the report must be a JSON object")
    unknown = sorted(set(report) - REPORT_FIELDS)
    if unknown:
        raise Refusal(HTTPStatus.BAD_REQUEST, "the report has unknown fields: %s" % ", ".join(unknown))
    stage = report.get("stage")
    detail = report.get("detail")
    if not isinstance(stage, str) or not stage:
        raise Refusal(HTTPStatus.BAD_REQUEST, "the report needs a stage (a string)")
    if detail is not None and (not isinstance(detail, str) or len(detail) > MAX_DETAIL):
        raise Refusal(HTTPStatus.BAD_REQUEST, "detail must be a string of at most %d characters" % MAX_DETAIL)
    return stage, detail


class Handler(BaseHTTPRequestHandler):
    """One request; self.server.data is the BootData."""

    server_version = "oscar-boot-service"
    timeout = REQUEST_TIMEOUT
    NODE_PREFIX = "/oscar/node/"
    API_PREFIX = "/oscar/api/v1/"

    def caller_address(self):
        """The node's address: X-Real-IP from the web server on this host, else the peer's own."""
        peer = self.client_address[0]
        forwarded = self.headers.get("X-Real-IP")
        if forwarded and ipaddress.ip_address(peer).is_loopback:
            try:
                return str(ipaddress.ip_address(forwarded.strip()))
            except ValueError:
                raise Refusal(HTTPStatus.BAD_REQUEST, "X-Real-IP %r is not an address" % forwarded) from None
        return peer

    def do_GET(self):
        self._answer(self._get)

    def do_POST(self):
        self._answer(self._post)

    def _get(self, address):
        path = self.path.split("?", 1)[0]
        if path.startswith(self.NODE_PREFIX) and path.endswith(".ipxe"):
            try:
                mac = scripts.mac_from_hyphens(path[len(self.NODE_PREFIX) : -len(".ipxe")])
            except scripts.BootScriptError as error:
                raise Refusal(HTTPStatus.BAD_REQUEST, str(error)) from None
            return HTTPStatus.OK, "text/plain", self.server.data.boot_script(address, mac)
        if path == self.API_PREFIX + "plan":
            return HTTPStatus.OK, "application/json", self.server.data.plan(address)
        raise Refusal(HTTPStatus.NOT_FOUND, "no such resource: %s" % path)

    def _post(self, address):
        if self.path.split("?", 1)[0] != self.API_PREFIX + "report":
            raise Refusal(HTTPStatus.NOT_FOUND, "no such resource: %s" % self.path)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise Refusal(HTTPStatus.LENGTH_REQUIRED, "a report needs a Content-Length")
        if int(length) > MAX_BODY:
            raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a report is at most %d bytes" % MAX_BODY)
        stage, detail = parse_report(self.rfile.read(int(length)))
        return HTTPStatus.OK, "application/json", self.server.data.report(address, stage, detail)

    def _answer(self, handler):
        address = "-"
        try:
            address = self.caller_address()
            status, content_type, body = handler(address)
        except Refusal as refusal:
            status, content_type, body = refusal.status, "application/json", {"error": refusal.message}
        except OdaInstallRefused as error:
            status = HTTPStatus(oda_install.REFUSALS.get(error.reason, HTTPStatus.FORBIDDEN))
            content_type, body = "application/json", {"error": str(error)}
        except (OdaValidationError, scripts.BootScriptError) as error:
            status, content_type, body = HTTPStatus.BAD_REQUEST, "application/json", {"error": str(error)}
        except OdaUnavailableError as error:
            status, content_type, body = (
                HTTPStatus.SERVICE_UNAVAILABLE,
                "application/json",
                {"error": str(error)},
            )
        except OdaError as error:
            status, content_type, body = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "application/json",
                {"error": str(error)},
            )
        if content_type == "text/plain" or not isinstance(body, (dict, list)):
            payload = body.encode("utf-8")
        else:
            payload = (json.dumps(body, sort_keys=True) + "\n").encode("utf-8")
        if self.path.startswith(self.NODE_PREFIX) and status != HTTPStatus.OK:
            # iPXE shows a script, not a JSON error: the reason goes on the console.
            content_type = "text/plain"
            payload = scripts.refusal_script(body.get("error", "refused")).encode("utf-8")
            status = HTTPStatus.OK if status == HTTPStatus.FORBIDDEN else status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)
        self.log_message("%s %s -> %d", address, self.requestline, status)

    def log_message(self, format, *args):
        sys.stderr.write((format % args) + "\n")


def make_server(config, data=None):
    host, _colon, port = config["listen"].rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    server.data = data or BootData(config)
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="oscar-boot-service", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    parser.add_argument("--config", default="/etc/oscar/network-boot/service.json")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        server = make_server(config)
    except (ConfigError, OSError, ValueError) as error:
        sys.stderr.write("oscar-boot-service: %s\n" % error)
        return 1
    sys.stderr.write(
        "oscar-boot-service: listening on %s, ODA %s\n" % (config["listen"], mask_url(server.data.url))
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

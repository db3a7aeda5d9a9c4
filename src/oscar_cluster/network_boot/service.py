"""The boot service: what nodes ask the head for while they boot and install, answered from ODA.

It listens on a Unix socket only the head's web server may connect to (root
and the web server's group), and the web server passes the calling machine's
address and source port in X-Real-IP and X-Real-Port; nobody else can claim
to be a node by setting those headers.  The caller is always the node that
address belongs to in ODA, so a node can read only its own plan and move only
its own install forward:

    GET  /oscar/node/<mac>.ipxe   the node's iPXE script (its boot action)
    GET  /oscar/api/v1/plan       the node's install plan (while it is to be installed)
    POST /oscar/api/v1/report     {"stage": ...} or {"stage": "failed", "detail": ...}

The plan holds the node's SSH host keys, kept on the head (host_keys.py), so
the install API answers only a privileged source port (below 1024): on the
node, only root can ask, as for Warewulf's secure overlays.  Boot scripts
are asked by iPXE's firmware from any port and hold nothing secret.

Refused: a caller that is no node (403), a MAC that is not the caller's (403),
an API call from an unprivileged port (403), a plan or report from a node
that is not being installed (403), a stage that is not the next one (409), a
malformed body (400), a body over 4 KiB (413).  A refusal changes nothing in
ODA.  Run as ``oscar-boot-service --config FILE``.
"""

import argparse
import contextlib
import grp
import ipaddress
import json
import os
import socket
import socketserver
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

from oscar_cluster.module_utils import oda_install
from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_db import mask_url, resolve
from oscar_cluster.module_utils.oda_errors import (
    OdaError,
    OdaInstallRefused,
    OdaUnavailableError,
    OdaValidationError,
)
from oscar_cluster.network_boot import host_keys, scripts

MAX_BODY = 4096
MAX_DETAIL = 1000
REPORT_FIELDS = frozenset(("stage", "detail"))
# Seconds a connection may stay silent: a stuck node must not hold a thread.
REQUEST_TIMEOUT = 15
# Source ports below this one only root may bind (on Linux and the BSDs).
PRIVILEGED_PORTS = 1024
UNIX_PREFIX = "unix:"


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
    """The settings checked, with their defaults.

    listen (unix:PATH or HOST:PORT), socket_group (who may connect to the
    Unix socket besides root: the web server's group), base_url, oda_url,
    authorized_keys, kernel_args, host_keys_dir (None: plans carry no host
    keys and nodes make their own at first boot).
    """
    if not isinstance(config, dict):
        raise ConfigError("%s must hold a JSON object" % source)
    config = dict(config)
    if not isinstance(config.get("base_url"), str) or not config["base_url"]:
        raise ConfigError("%s must give base_url" % source)
    keys = config.setdefault("authorized_keys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise ConfigError("%s: authorized_keys must be a list of public keys" % source)
    config.setdefault("kernel_args", "")
    config.setdefault("listen", "unix:/run/oscar-boot-service/api.sock")
    config.setdefault("oda_url", None)
    config.setdefault("socket_group", None)
    config.setdefault("host_keys_dir", None)
    if not isinstance(config["listen"], str) or not config["listen"]:
        raise ConfigError("%s: listen must be unix:PATH or HOST:PORT" % source)
    if config["listen"].startswith(UNIX_PREFIX):
        if not os.path.isabs(config["listen"][len(UNIX_PREFIX) :]):
            raise ConfigError("%s: listen %r needs an absolute socket path" % (source, config["listen"]))
    else:
        _host, colon, port = config["listen"].rpartition(":")
        if not colon or not port.isdigit() or int(port) > 65535:
            raise ConfigError("%s: listen %r is not unix:PATH nor HOST:PORT" % (source, config["listen"]))
    for name in ("socket_group", "host_keys_dir"):
        if config[name] is not None and (not isinstance(config[name], str) or not config[name]):
            raise ConfigError("%s: %s must be a non-empty string" % (source, name))
    if config["host_keys_dir"] is not None and not os.path.isabs(config["host_keys_dir"]):
        raise ConfigError("%s: host_keys_dir must be an absolute path" % source)
    return config


class BootData:
    """ODA and the head's boot artifacts, as the service reads and writes them."""

    def __init__(self, config):
        self.config = config
        self.url, self.password = resolve(config.get("oda_url"))
        self.host_keys = (
            None if config.get("host_keys_dir") is None else host_keys.HostKeyStore(config["host_keys_dir"])
        )
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
        if self.host_keys is not None:
            try:
                plan["host_keys"] = self.host_keys.keys(plan["node"])
            except host_keys.HostKeyError as error:
                raise Refusal(HTTPStatus.INTERNAL_SERVER_ERROR, str(error)) from None
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

    def _from_proxy(self):
        """Whether the peer is the web server: on the Unix socket, or on the loopback address."""
        if not isinstance(self.client_address, tuple) or not self.client_address:
            return True
        return ipaddress.ip_address(self.client_address[0]).is_loopback

    def caller_address(self):
        """The node's address: X-Real-IP from the web server on this host, else the peer's own."""
        forwarded = self.headers.get("X-Real-IP")
        if self._from_proxy():
            if not forwarded:
                raise Refusal(HTTPStatus.BAD_REQUEST, "the web server passed no X-Real-IP")
            try:
                return str(ipaddress.ip_address(forwarded.strip()))
            except ValueError:
                raise Refusal(HTTPStatus.BAD_REQUEST, "X-Real-IP %r is not an address" % forwarded) from None
        return self.client_address[0]

    def caller_port(self):
        """The node's source port: X-Real-Port from the web server, else the peer's own; None if unknown."""
        if not self._from_proxy():
            return self.client_address[1]
        forwarded = (self.headers.get("X-Real-Port") or "").strip()
        return int(forwarded) if forwarded.isdigit() else None

    def require_privileged_port(self, address):
        port = self.caller_port()
        if port is None or port >= PRIVILEGED_PORTS:
            raise Refusal(
                HTTPStatus.FORBIDDEN,
                "the install API answers %s only from a privileged source port (below %d, so root on the"
                " node), not from %s"
                % (address, PRIVILEGED_PORTS, "an unknown port" if port is None else port),
            )

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
            self.require_privileged_port(address)
            return HTTPStatus.OK, "application/json", self.server.data.plan(address)
        raise Refusal(HTTPStatus.NOT_FOUND, "no such resource: %s" % path)

    def _post(self, address):
        if self.path.split("?", 1)[0] != self.API_PREFIX + "report":
            raise Refusal(HTTPStatus.NOT_FOUND, "no such resource: %s" % self.path)
        self.require_privileged_port(address)
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

    def address_string(self):
        # A Unix socket's peer has no address: the web server's view is in X-Real-IP.
        return self.client_address[0] if isinstance(self.client_address, tuple) else "web-server"

    def log_message(self, format, *args):
        sys.stderr.write((format % args) + "\n")


class UnixHTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    """The HTTP server on a Unix socket made for root and one group only."""

    address_family = socket.AF_UNIX
    daemon_threads = True

    def __init__(self, path, handler, group=None):
        self.group = group
        super().__init__(path, handler)

    def server_bind(self):
        path = self.server_address
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        # Made 0660 by the umask before anyone can connect; then given to the group.
        previous = os.umask(0o117)
        try:
            self.socket.bind(path)
        finally:
            os.umask(previous)
        if self.group is not None:
            os.chown(path, -1, grp.getgrnam(self.group).gr_gid)
        self.server_name, self.server_port = "localhost", 0

    def server_close(self):
        super().server_close()
        with contextlib.suppress(OSError):
            os.unlink(self.server_address)


def make_server(config, data=None):
    listen = config["listen"]
    if listen.startswith(UNIX_PREFIX):
        try:
            server = UnixHTTPServer(listen[len(UNIX_PREFIX) :], Handler, group=config.get("socket_group"))
        except KeyError:
            raise ConfigError("socket_group %r is no group on this host" % config["socket_group"]) from None
    else:
        host, _colon, port = listen.rpartition(":")
        server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
        server.daemon_threads = True
    server.data = data or BootData(config)
    return server


def make_host_keys(config, nodes):
    """The --host-keys action: 0 with {made, kept} on standard output, 1 with the reason on standard error."""
    if config["host_keys_dir"] is None:
        raise ConfigError("the configuration keeps no host keys (host_keys_dir is not set)")
    store = host_keys.HostKeyStore(config["host_keys_dir"])
    made, kept = [], []
    try:
        for node in nodes:
            (made if store.ensure(node) else kept).append(node)
    except host_keys.HostKeyError as error:
        sys.stderr.write("oscar-boot-service: %s\n" % error)
        return 1
    sys.stdout.write(json.dumps({"made": made, "kept": kept}, sort_keys=True) + "\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="oscar-boot-service", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    parser.add_argument("--config", default="/etc/oscar/network-boot/service.json")
    parser.add_argument(
        "--host-keys",
        nargs="+",
        metavar="NODE",
        help="make these nodes' SSH host keys now if they have none (before they install, so that the"
        " cluster's known hosts hold them already), print {made, kept} as JSON, and exit",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.host_keys:
            return make_host_keys(config, args.host_keys)
        server = make_server(config)
    except (ConfigError, OSError, ValueError) as error:
        sys.stderr.write("oscar-boot-service: %s\n" % error)
        return 1
    sys.stderr.write(
        "oscar-boot-service: listening on %s, ODA %s, host keys %s\n"
        % (config["listen"], mask_url(server.data.url), config["host_keys_dir"] or "made by the nodes")
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

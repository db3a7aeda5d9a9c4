"""The ``oscar_dbservers`` command: private MariaDB and PostgreSQL servers for tests and benchmarks.

Exit status: 0 on success, 2 for a command line that does not parse, and the
error's own code (errors.py, or the testbed's for prerequisites and failed
commands) when a server cannot be made or found.
"""

import argparse
import shlex
import sys

from oscar_dbservers import prerequisites, servers
from oscar_dbservers.errors import DbServerError
from oscar_testbed.errors import TestbedError

# The variables every ODA tool reads (oda_db.URL_ENV and PASSWORD_ENV).
URL_ENV = "OSCAR_ODA_URL"
PASSWORD_ENV = "OSCAR_ODA_PASSWORD"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m oscar_dbservers",
        description=(
            "Private, throw-away MariaDB and PostgreSQL servers for ODA's tests and benchmarks, "
            "each in its own data directory, on 127.0.0.1 and a unix socket."
        ),
        epilog=f"Servers live under ${servers.STATE_ENV}, else {servers.default_state_root()}.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser(
        "prerequisites", help="install Debian's mariadb-server and postgresql, without their system daemons"
    )
    start = verbs.add_parser("start", help="start a server (or reuse it if it runs) and print its ODA URL")
    start.add_argument("name")
    start.add_argument("--kind", required=True, choices=servers.KINDS)
    start.add_argument(
        "--durable", action="store_true", help="keep fsync on (slower; for benchmarks of real writes)"
    )
    stop = verbs.add_parser("stop", help="stop a server and remove its data")
    stop.add_argument("name")
    verbs.add_parser("status", help="list the servers, their kind, state and URL")
    url = verbs.add_parser("url", help="print the ODA URL of a server's database (no password in it)")
    url.add_argument("name")
    url.add_argument("--database", default=None, help="another database than the server's own")
    env = verbs.add_parser("env", help=f"print {URL_ENV}=... and {PASSWORD_ENV}=... lines for a shell")
    env.add_argument("name")
    return parser


def run(args):
    if args.verb == "prerequisites":
        installed = prerequisites.ensure_packages()
        print(f"installed {' '.join(installed)}" if installed else "every prerequisite is installed")
        return 0
    if args.verb == "status":
        print(f"{'NAME':<24} {'KIND':<11} {'STATE':<8} URL")
        for server in servers.list_servers():
            print(f"{server.name:<24} {server.kind:<11} {server.status():<8} {server.url()}")
        return 0
    server = servers.Server(args.name, log=lambda message: print(message, file=sys.stderr))
    if args.verb == "start":
        server.ensure(args.kind, durable=args.durable)
        print(server.url())
        return 0
    if args.verb == "stop":
        server.stop()
        return 0
    if args.verb == "url":
        if args.database is not None:
            servers.validate_database_name(args.database)
        print(server.url(args.database))
        return 0
    # env: for `eval "$(python -m oscar_dbservers env NAME)"`.
    print(f"export {URL_ENV}={shlex.quote(server.url())}")
    print(f"export {PASSWORD_ENV}={shlex.quote(server.password)}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (DbServerError, TestbedError) as exc:
        print(f"oscar_dbservers: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("oscar_dbservers: interrupted", file=sys.stderr)
        return 130

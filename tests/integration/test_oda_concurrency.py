"""Sixty-four writers at the same moment lose nothing and corrupt nothing, on every backend.

Each writer is a process of its own with its own connection, released at the
same instant by a barrier: first onto a database that does not exist yet
(every one of them races to create the schema), then with nodes to define.
The backends are SQLite and real MariaDB and PostgreSQL servers
(oscar_dbservers); a server that cannot start fails these tests with the
reason.
"""

import ipaddress
import multiprocessing
import time
import traceback

from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_nodes import changed_nodes
from oscar_cluster.module_utils.oda_schema import SCHEMA_VERSION
from oscar_dbservers import testing

WRITERS = 64
CLIENTS_PER_WRITER = 4  # defined together with define_clients, one transaction
# ...and one node more per writer with nodes.ensure, with a NIC on each network.
JOIN_TIMEOUT = 300


def _mac(address):
    return "02:00:" + ipaddress.ip_address(address).packed.hex(":")


def _client_addresses(writer):
    first = ipaddress.ip_address("10.20.0.0") + 16 + writer * CLIENTS_PER_WRITER
    return [str(first + index) for index in range(CLIENTS_PER_WRITER)]


def _client_names(writer):
    return ["w%02dc%d" % (writer, index) for index in range(CLIENTS_PER_WRITER)]


def _gpu_address(writer, network):
    # Clients take 10.20.0.16 to 10.20.1.15; the extra nodes .2.x on each network.
    return str(ipaddress.ip_address("10.%d.2.0" % (20 if network == "cluster" else 30)) + writer + 1)


def _run_writer(work, url, writer, barrier, failures):
    """A child process: wait for the others, do the work, report a failure with its traceback."""
    try:
        barrier.wait(timeout=JOIN_TIMEOUT)
        work(url, writer)
    except BaseException:  # every failure must reach the parent, named
        failures.put((writer, traceback.format_exc()))
        raise


def _open_only(url, _writer):
    Oda.open(url).close()


def _define_nodes(url, writer):
    oda = Oda.open(url)
    try:
        # Every writer asks for the same networks: idempotent, whoever is first.
        oda.networks.ensure("cluster", "10.20.0.0/16", domain="cluster.lan")
        oda.networks.ensure("ib", "10.30.0.0/16")
        addresses = _client_addresses(writer)
        changed, names = changed_nodes(
            oda.nodes.define_clients(
                _client_names(writer), "cluster", addresses[0], macs=[_mac(a) for a in addresses]
            )
        )
        assert (changed, names) == (True, _client_names(writer))
        oda.nodes.ensure(
            "w%02dgpu" % writer,
            groups=["oscar_clients"],
            nics=[
                {"name": network, "ip": _gpu_address(writer, network), "network": network}
                for network in ("cluster", "ib")
            ],
        )
    finally:
        oda.close()


def _race(work, url):
    """Run work(url, writer) in WRITERS processes released together; fail naming each failed writer."""
    # fork: 64 writers start fast on a small machine; the parent holds no
    # connection to the database they write.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    failures = context.Queue()
    processes = [
        context.Process(target=_run_writer, args=(work, url, writer, barrier, failures))
        for writer in range(WRITERS)
    ]
    for process in processes:
        process.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for process in processes:
        process.join(max(0, deadline - time.monotonic()))
    hung = [index for index, process in enumerate(processes) if process.is_alive()]
    for index in hung:
        processes[index].kill()
        processes[index].join()
    reports = []
    while not failures.empty():
        writer, text = failures.get()
        reports.append("writer %d:\n%s" % (writer, text))
    assert not hung, "writers still running after %d s: %s" % (JOIN_TIMEOUT, hung)
    assert not reports, "\n".join(sorted(reports))
    assert [process.exitcode for process in processes] == [0] * WRITERS


def _count(db, sql, params=()):
    return db.query_one("SELECT COUNT(*) AS n FROM (%s) counted" % sql, params)["n"]


def test_sixty_four_processes_creating_one_new_database_at_once_all_succeed(database_url):
    _race(_open_only, database_url)
    oda = Oda.open(database_url)
    try:
        db = oda.db
        assert db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
        assert oda.clusters.list() == [{"name": "oscar", "description": "the default cluster"}]
        assert [group["name"] for group in oda.groups.list()] == ["oscar_clients", "oscar_server"]
        assert testing.integrity_problems(db) == []
    finally:
        oda.close()


def test_sixty_four_writers_at_once_lose_nothing_and_corrupt_nothing(database_url):
    _race(_define_nodes, database_url)
    oda = Oda.open(database_url)
    try:
        db = oda.db
        nodes = {node["name"]: node for node in oda.nodes.list()}
        expected = {}
        for writer in range(WRITERS):
            for name, address in zip(_client_names(writer), _client_addresses(writer), strict=True):
                expected[name] = [{"name": "eth0", "mac": _mac(address), "ip": address, "network": "cluster"}]
            expected["w%02dgpu" % writer] = [
                {"name": network, "mac": None, "ip": _gpu_address(writer, network), "network": network}
                for network in ("cluster", "ib")
            ]
        # Every node there, once, with exactly its NICs.
        assert sorted(nodes) == sorted(expected)
        assert {name: node["nics"] for name, node in nodes.items()} == expected
        assert all(node["groups"] == ["oscar_clients"] for node in nodes.values())
        # No duplicates behind the API's back, and nothing left dangling.
        assert _count(db, "SELECT name FROM nodes") == len(expected)
        assert _count(db, "SELECT id FROM nics") == WRITERS * (CLIENTS_PER_WRITER + 2)
        assert _count(db, "SELECT node_id FROM group_members") == len(expected)
        orphans = "SELECT x.id FROM nics x LEFT JOIN nodes n ON n.id = x.node_id WHERE n.id IS NULL"
        assert _count(db, orphans) == 0
        assert [network["name"] for network in oda.networks.list()] == ["cluster", "ib"]
        assert [cluster["name"] for cluster in oda.clusters.list()] == ["oscar"]
        assert db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
        assert testing.integrity_problems(db) == []
    finally:
        oda.close()

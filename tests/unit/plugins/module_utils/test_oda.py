"""ODA's entry object: opening, check mode in every store, many writers at once."""

import ipaddress
import multiprocessing
import time

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda import Oda
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import (
    OdaSchemaError,
    OdaUnavailableError,
)
from ansible_collections.oscar.cluster.plugins.module_utils.oda_schema import SCHEMA_VERSION
from oda_store_helpers import nic

# --- opening -------------------------------------------------------------------


def test_open_creates_the_schema_and_the_defaults_and_reopens_unchanged(oda_backend):
    first = oda_backend.open()
    assert [group["name"] for group in first.groups.list()] == ["oscar_clients", "oscar_server"]
    assert first.clusters.list() == [{"name": "oscar", "description": "the default cluster"}]
    first.close()
    before = oda_backend.dump()
    oda_backend.open().close()
    assert oda_backend.dump() == before


def test_readers_never_wait_for_a_writer(oda_backend):
    # A long import holds the write lock; opening and reading must not queue
    # behind it (opening used to take the lock to check the defaults).
    writer = oda_backend.open()
    try:
        with writer.db.transaction():
            writer.groups.ensure("importing")
            for read_only in (False, True):
                started = time.monotonic()
                reader = Oda.open(oda_backend.url, timeout=3, read_only=read_only)
                try:
                    assert "importing" not in [group["name"] for group in reader.groups.list()]
                    assert reader.nodes.list() == []
                finally:
                    reader.close()
                assert time.monotonic() - started < 1
    finally:
        writer.close()


def test_a_read_only_open_creates_nothing(tmp_path):
    path = tmp_path / "typo.db"
    with pytest.raises(OdaUnavailableError, match="does not exist"):
        Oda.open("sqlite:%s" % path, read_only=True)
    assert not path.exists()
    path.touch()
    with pytest.raises(OdaSchemaError, match="holds no ODA schema; create it with 'oda init'"):
        Oda.open("sqlite:%s" % path, read_only=True)
    assert path.stat().st_size == 0


def test_open_takes_the_sqlite_url_with_an_empty_authority_too(tmp_path):
    path = tmp_path / "oda.db"
    Oda.open("sqlite:%s" % path).close()
    oda = Oda.open("sqlite:///%s" % str(path).lstrip("/"))
    assert [cluster["name"] for cluster in oda.clusters.list()] == ["oscar"]
    oda.close()


@pytest.mark.parametrize("oda_backend", ["mariadb", "postgresql"], indirect=True)
def test_a_server_password_may_come_apart_from_the_url(oda_backend):
    assert oda_backend.password not in oda_backend.access.url
    oda = Oda.open(oda_backend.access.url, password=oda_backend.password)
    assert [cluster["name"] for cluster in oda.clusters.list()] == ["oscar"]
    assert oda.db.url == oda_backend.access.url
    oda.close()


# --- check mode everywhere ----------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda oda: oda.clusters.ensure("lab"),
        lambda oda: oda.clusters.ensure("oscar", description="changed"),
        lambda oda: oda.networks.ensure("ib", "192.168.0.0/24"),
        lambda oda: oda.networks.ensure("cluster", "10.0.0.0/24", mtu=9000),
        lambda oda: oda.networks.remove("spare"),
        lambda oda: oda.groups.ensure("gpu"),
        lambda oda: oda.groups.remove("oscar_clients"),
        lambda oda: oda.images.ensure("new"),
        lambda oda: oda.images.ensure("rocky9", arch="aarch64"),
        lambda oda: oda.images.remove("rocky9"),
        lambda oda: oda.nodes.ensure("node9", nics=[nic("eth0", "02:00:00:00:00:99", "10.0.0.99")]),
        lambda oda: oda.nodes.ensure("node1", groups=[], nics=[]),
        lambda oda: oda.nodes.remove("node1"),
        lambda oda: oda.nodes.set_state("node1", "dead"),
        lambda oda: oda.nodes.define_clients("node[1-8]", "cluster", "10.0.0.101"),
        lambda oda: oda.packages.ensure("slurm", version="24.05"),
        lambda oda: oda.config.set("slurm", "max_time", 60),
        lambda oda: oda.steps.set("build_image", "done"),
    ],
)
def test_every_write_in_check_mode_reports_a_change_and_keeps_nothing(cluster, oda_backend, write):
    cluster.networks.ensure("spare", "10.9.0.0/16")
    cluster.nodes.ensure("node1", groups=["oscar_clients"], nics=[nic("eth0", ip="10.0.0.11")])
    cluster.packages.ensure("slurm", version="23.11")
    cluster.config.set("slurm", "max_time", 3600)
    before = oda_backend.dump()
    assert write(_CheckMode(cluster)) is True
    assert oda_backend.dump() == before


class _CheckMode:
    """An Oda whose stores' methods all run with check_mode=True and return only 'changed'."""

    def __init__(self, oda):
        self._oda = oda

    def __getattr__(self, name):
        found = getattr(self._oda, name)
        if not callable(found):
            return _CheckMode(found)

        def checked(*args, **kwargs):
            return found(*args, check_mode=True, **kwargs)[0]

        return checked


# --- many writers at once ----------------------------------------------------

WORKERS = 16
NODES_PER_WORKER = 8


def _add_nodes(url, worker, start):
    """One process: open ODA (maybe creating it), then add its own 8 nodes, one transaction each."""
    start.wait()
    oda = Oda.open(url)
    try:
        oda.networks.ensure("cluster", "10.0.0.0/16")
        for index in range(NODES_PER_WORKER):
            number = worker * NODES_PER_WORKER + index + 1
            address = ipaddress.ip_address("10.0.1.0") + number
            oda.nodes.ensure(
                "node%03d" % number,
                groups=["oscar_clients"],
                nics=[nic("eth0", "02:00:%s" % address.packed.hex(":"), str(address))],
            )
    finally:
        oda.close()


def test_sixteen_processes_writing_at_once_lose_nothing(oda_backend):
    # fork starts 16 workers fast on a small machine; the parent has no open
    # connection to inherit.  tests/integration/test_oda_concurrency.py runs 64.
    context = multiprocessing.get_context("fork")
    start = context.Barrier(WORKERS)
    workers = [
        context.Process(target=_add_nodes, args=(oda_backend.url, worker, start)) for worker in range(WORKERS)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [process.exitcode for process in workers] == [0] * WORKERS
    oda = oda_backend.open()
    nodes = oda.nodes.list()
    assert len(nodes) == WORKERS * NODES_PER_WORKER
    assert len({n["nics"][0]["ip"] for n in nodes}) == WORKERS * NODES_PER_WORKER
    assert oda.groups.members("oscar_clients") == ["node%03d" % i for i in range(1, 129)]
    assert oda_backend.integrity_problems() == []
    assert oda.db.query("SELECT version FROM schema_version") == [{"version": SCHEMA_VERSION}]
    assert [g["name"] for g in oda.groups.list()] == ["oscar_clients", "oscar_server"]
    oda.close()

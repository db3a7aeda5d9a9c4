"""Fixtures of the tests of ODA's stores: ODA on each backend in turn, and a small cluster in it."""

import pytest
from oda_store_helpers import HEAD_MAC, nic


@pytest.fixture
def oda(oda_backend):
    database = oda_backend.open()
    yield database
    database.close()


@pytest.fixture
def cluster(oda):
    """A head node on network 'cluster' and an image: what define_clients starts from."""
    oda.networks.ensure("cluster", "10.0.0.0/24", gateway="10.0.0.1", domain="cluster.lan")
    oda.images.ensure("rocky9", distro="rocky-9", arch="x86_64", path="/var/lib/oscar/images/rocky9")
    oda.nodes.ensure("head", groups=["oscar_server"], nics=[nic("eth1", HEAD_MAC, "10.0.0.1")])
    return oda

"""What the tests of ODA's stores share: a NIC spec, and a refusal that must leave the database as it was."""

import pytest

HEAD_MAC = "02:00:0a:00:00:01"


def nic(name, mac=None, ip=None, network="cluster"):
    return {"name": name, "mac": mac, "ip": ip, "network": network}


def refused(backend, error, text, call):
    """call() raises error with text in its message, and the database is unchanged."""
    before = backend.dump()
    with pytest.raises(error) as raised:
        call()
    assert text in str(raised.value)
    assert backend.dump() == before
    return raised.value

"""Fixtures shared by the molecule scenarios' testinfra tests.

Each scenario's tests/conftest.py imports them; a test file that needs
something else under the same name defines its own, which wins.
"""

import pytest

from oscar_testbed.molecule import connect, scenario_testbed


@pytest.fixture(scope="module")
def head():
    """The head node."""
    return connect("head")


@pytest.fixture(scope="module")
def node():
    """The first compute node."""
    return connect("node001")


@pytest.fixture(scope="module")
def plan():
    """The scenario's testbed plan: every host's addresses and MACs."""
    return scenario_testbed().plan()

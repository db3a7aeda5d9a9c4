"""Scenario testbed names: the same rule for molecule's playbooks and its tests."""

import pytest

from oscar_testbed import molecule


def test_the_default_prefix_is_mol(monkeypatch):
    monkeypatch.delenv(molecule.PREFIX_ENV, raising=False)
    assert molecule.testbed_name("env_switcher") == "mol-env-switcher"


def test_the_scenario_comes_from_molecule(monkeypatch):
    monkeypatch.delenv(molecule.PREFIX_ENV, raising=False)
    monkeypatch.setenv("MOLECULE_SCENARIO_NAME", "Server")
    assert molecule.testbed_name() == "mol-server"


def test_a_prefix_keeps_two_checkouts_apart(monkeypatch):
    monkeypatch.setenv(molecule.PREFIX_ENV, "h2")
    assert molecule.testbed_name("clients") == "h2-clients"


def test_without_a_scenario_it_says_which_variable_is_missing(monkeypatch):
    monkeypatch.delenv("MOLECULE_SCENARIO_NAME", raising=False)
    with pytest.raises(KeyError, match="MOLECULE_SCENARIO_NAME"):
        molecule.testbed_name()

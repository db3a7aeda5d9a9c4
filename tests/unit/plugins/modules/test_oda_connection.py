"""The connection options every ODA module shares, through a real module."""

import sys

from ansible_collections.oscar.cluster.plugins.modules import oda_group, oda_info


def test_the_database_comes_from_the_environment_when_not_given(run_module, monkeypatch, tmp_path):
    path = tmp_path / "from-env.db"
    monkeypatch.setenv("OSCAR_ODA_URL", "sqlite:%s" % path)
    answer = run_module(oda_group, database=None, name="gpu")
    assert (answer["changed"], answer["invocation"]["module_args"]["database"]) == (True, "sqlite:%s" % path)
    assert path.exists()


def test_a_database_option_wins_over_the_environment(run_module, monkeypatch, tmp_path, db_path):
    monkeypatch.setenv("OSCAR_ODA_URL", "sqlite:%s" % (tmp_path / "other.db"))
    run_module(oda_group, name="gpu")
    assert db_path.exists()
    assert not (tmp_path / "other.db").exists()


def test_an_unreachable_server_fails_clearly_with_the_password_masked(run_module):
    answer = run_module(oda_info, database="postgresql://oscar:s3cret@127.0.0.1:1/oda", database_timeout=5)
    assert answer["rc"] == 1
    assert "s3cret" not in str(answer)
    assert "********" in answer["invocation"]["module_args"]["database"]
    # Either the driver is missing or the server does not answer: both say which.
    assert (
        "cannot connect to postgresql database 'oda' at 127.0.0.1:1" in answer["msg"]
        or "Failed to import the required Python library (psycopg)" in answer["msg"]
    ), answer["msg"]
    assert "Traceback" not in answer["msg"]


def test_the_password_option_is_never_shown(run_module, monkeypatch):
    monkeypatch.setenv("OSCAR_ODA_PASSWORD", "t0psecret")
    answer = run_module(oda_info, database="mysql://oscar@127.0.0.1:1/oda", database_timeout=5)
    assert answer["rc"] == 1
    assert "t0psecret" not in str(answer)


def test_a_missing_driver_fails_as_a_missing_library(run_module, monkeypatch):
    monkeypatch.setitem(sys.modules, "pymysql", None)
    answer = run_module(oda_info, database="mariadb://oscar@127.0.0.1/oda")
    assert answer["rc"] == 1
    assert "Failed to import the required Python library (pymysql)" in answer["msg"]
    assert "the mysql backend needs the Python package pymysql" in answer["msg"]


def test_a_bad_url_fails_naming_it(run_module):
    answer = run_module(oda_info, database="oracle://db/oda")
    assert answer["rc"] == 1
    assert "unsupported database URL 'oracle://db/oda': unknown scheme 'oracle'" in answer["msg"]

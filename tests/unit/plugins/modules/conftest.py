"""Run the ODA modules for real, in-process, against a new SQLite file per test.

``run_module(oda_node, name=..., ...)`` runs the module's main() as Ansible
would (arguments through AnsibleModule, the JSON answer on stdout) and
returns that answer with the exit code added as ``rc``.
"""

import contextlib
import io
import json
import sqlite3

import pytest
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "oda.db"


@pytest.fixture
def database(db_path):
    return "sqlite:%s" % db_path


@pytest.fixture
def run_module(database):
    def run(module, check_mode=False, diff=False, **args):
        args.setdefault("database", database)
        if args["database"] is None:
            del args["database"]  # left out, as a play that does not set it
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        output = io.StringIO()
        with (
            patch_module_args(args),
            contextlib.redirect_stdout(output),
            pytest.raises(SystemExit) as exit_info,
        ):
            module.main()
        answer = json.loads(output.getvalue())
        answer["rc"] = exit_info.value.code
        return answer

    return run


@pytest.fixture
def dump(db_path):
    """Every row of the database file as SQL text; equal dumps mean nothing was written."""

    def read():
        if not db_path.exists():
            return None
        connection = sqlite3.connect(str(db_path))
        try:
            return list(connection.iterdump())
        finally:
            connection.close()

    return read


@pytest.fixture
def refused(run_module, dump):
    """run_module that must fail with text in its message and leave the database as it was."""

    def run(text, module, **args):
        before = dump()
        answer = run_module(module, **args)
        assert answer["rc"] == 1, answer
        assert answer.get("failed") is True, answer
        assert text in answer["msg"], answer["msg"]
        assert dump() == before
        return answer

    return run

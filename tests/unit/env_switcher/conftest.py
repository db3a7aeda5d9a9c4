"""The switcher command, imported from the role by path and run with its own files."""

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles" / "env_switcher" / "files" / "switcher.py"

CATALOG = {
    "always": [{"name": "cluster-env", "description": "site settings"}],
    "tags": [
        {
            "name": "mpi",
            "description": "MPI implementation",
            "choices": [
                {"name": "openmpi", "description": "Open MPI"},
                {"name": "mpich", "description": "MPICH"},
            ],
        },
        {
            "name": "compiler",
            "description": "C compiler",
            "choices": [{"name": "gcc", "description": "GNU"}, {"name": "clang", "description": "LLVM"}],
        },
    ],
}


def load_switcher():
    spec = importlib.util.spec_from_file_location("switcher", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def switcher():
    return load_switcher()


class Sandbox:
    """A host's switcher files in temporary directories: catalog and system defaults, and a HOME."""

    def __init__(self, root, switcher, monkeypatch):
        self.etc = root / "etc"
        self.home = root / "home"
        self.etc.mkdir()
        self.home.mkdir()
        self.switcher = switcher
        self.monkeypatch = monkeypatch
        self.write_catalog(CATALOG)
        monkeypatch.setenv("ENV_SWITCHER_CONFIG_DIR", str(self.etc))
        monkeypatch.setenv("HOME", str(self.home))
        self.root_user(False)

    @property
    def system_file(self):
        return self.etc / "system.ini"

    @property
    def user_file(self):
        return self.home / ".switcher.ini"

    def write_catalog(self, catalog):
        (self.etc / "catalog.json").write_text(json.dumps(catalog))

    def root_user(self, root):
        """In-process runs: whether the caller counts as root (the subprocess tests use real users)."""
        self.monkeypatch.setattr(self.switcher, "is_root", lambda: root)

    def run(self, *argv):
        """Run in-process: (status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        status = self.switcher.run(list(argv), out=out, err=err)
        return status, out.getvalue(), err.getvalue()

    def env(self):
        env = dict(os.environ)
        env.update({"ENV_SWITCHER_CONFIG_DIR": str(self.etc), "HOME": str(self.home)})
        return env

    def spawn(self, *argv, prefix=()):
        """Run as a real process (optionally behind prefix, e.g. a change of user)."""
        return subprocess.run(
            [*prefix, sys.executable, str(SCRIPT), *argv],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture()
def sandbox(tmp_path, switcher, monkeypatch):
    return Sandbox(tmp_path, switcher, monkeypatch)

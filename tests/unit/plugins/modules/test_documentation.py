"""Every ODA module renders in ansible-doc, documents exactly its options, and is in the action group."""

import importlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.oscar.cluster.plugins.module_utils.oda_module import ODA_ARGUMENT_SPEC

ROOT = Path(__file__).resolve().parents[4]
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("oda_*.py"))


@pytest.fixture(scope="module")
def docs():
    """ansible-doc's JSON for every ODA module, as a user's ansible-doc would render it."""
    ansible_doc = ROOT / ".venv" / "bin" / "ansible-doc"
    assert ansible_doc.exists(), "ansible-doc is missing from .venv: run scripts/setup"
    names = ["oscar.cluster.%s" % name for name in MODULES]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    done = subprocess.run(
        [str(ansible_doc), "-t", "module", "--json", *names],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def test_every_module_is_in_the_oda_action_group():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert sorted(runtime["action_groups"]["oda"]) == MODULES
    assert len(MODULES) == 12


@pytest.mark.parametrize("name", MODULES)
def test_a_module_documents_exactly_its_options_returns_and_attributes(docs, name):
    doc = docs["oscar.cluster.%s" % name]
    module = importlib.import_module("ansible_collections.oscar.cluster.plugins.modules.%s" % name)
    documented = doc["doc"]["options"]
    assert set(documented) == set(module.OPTIONS) | set(ODA_ARGUMENT_SPEC)
    for option, spec in module.OPTIONS.items():
        assert documented[option]["type"] == spec["type"], option
        assert documented[option].get("default") == spec.get("default"), option
        assert documented[option].get("choices") == spec.get("choices"), option
    attributes = doc["doc"]["attributes"]
    assert attributes["action_group"]["membership"] == ["oscar.cluster.oda"]
    assert attributes["check_mode"]["support"] == "full"
    assert attributes["diff_mode"]["support"] == ("N/A" if name == "oda_info" else "full")
    assert doc["return"], "RETURN is empty"
    examples = yaml.safe_load(doc["examples"])
    tasks = [task for play in examples for task in play.get("block", [play])]
    used = [key for task in tasks for key in task if key.startswith("oscar.cluster.")]
    assert "oscar.cluster.%s" % name in used
    assert all(
        key.startswith(("oscar.cluster.", "ansible.builtin.")) for task in tasks for key in task if "." in key
    )

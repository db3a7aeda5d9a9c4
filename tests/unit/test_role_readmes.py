"""Every role's README variable table matches its argument specs; scripts/role-readme renders it."""

import importlib.util
import io
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def load_generator():
    spec = importlib.util.spec_from_file_location("role_readme", ROOT / "scripts" / "role_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


role_readme = load_generator()


def test_there_are_roles_to_check():
    assert "env_switcher" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_role_has_argument_specs_and_an_up_to_date_readme(role):
    role_dir = ROOT / "roles" / role
    assert (role_dir / "meta" / "argument_specs.yml").is_file(), f"{role} has no meta/argument_specs.yml"
    readme = role_dir / "README.md"
    assert readme.is_file(), f"{role} has no README.md: run scripts/role-readme {role}"
    current = readme.read_text(encoding="utf-8")
    assert role_readme.render(role_dir, current) == current, (
        f"{readme} is out of date: run scripts/role-readme"
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented(role):
    """defaults/main.yml and the argument specs name the same variables."""
    import yaml

    role_dir = ROOT / "roles" / role
    defaults_file = role_dir / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"].get("options", {})
    assert sorted(defaults or {}) == sorted(name for name, o in options.items() if not o.get("required"))
    for name, value in (defaults or {}).items():
        assert options[name].get("default") == value, f"{role}: {name}'s default differs from its spec"


SPECS = """\
argument_specs:
  main:
    options:
      demo_items:
        type: list
        elements: dict
        default: []
        description: ["Things, with C(code)", "and I(stress) and a | pipe."]
        options:
          name: {type: str, required: true, description: The name.}
      demo_mode:
        type: str
        choices: [a, b]
        default: a
        description: O(demo_items) mode.
  extra:
    options: {}
"""


def make_role(tmp_path, readme=None, specs=SPECS):
    role_dir = tmp_path / "roles" / "demo"
    (role_dir / "meta").mkdir(parents=True)
    (role_dir / "meta" / "argument_specs.yml").write_text(specs)
    if readme is not None:
        (role_dir / "README.md").write_text(readme)
    return role_dir


def run(tmp_path, *argv):
    out, err = io.StringIO(), io.StringIO()
    status = role_readme.run(list(argv), root=tmp_path, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_a_missing_readme_is_created_with_the_table(tmp_path):
    role_dir = make_role(tmp_path)
    assert run(tmp_path)[0] == 0
    text = (role_dir / "README.md").read_text()
    assert text.startswith("# demo\n")
    assert "| `demo_items` | list of dict | `[]` | Things, with `code` and *stress* and a \\| pipe. |" in text
    assert "| `demo_items[].name` | str | *required* | The name. |" in text
    assert "| `demo_mode` | str | `a` | `demo_items` mode. Choices: `a`, `b`. |" in text
    assert "### Entry point `main`" in text
    assert text.index("Entry point `main`") < text.index("Entry point `extra`")
    assert "This entry point takes no variables." in text


def test_hand_written_text_is_kept_and_the_table_replaced(tmp_path):
    role_dir = make_role(tmp_path)
    readme = f"# demo\n\nHand-written intro.\n\n{role_readme.BEGIN}\nold table\n{role_readme.END}\n\nOutro.\n"
    (role_dir / "README.md").write_text(readme)
    assert run(tmp_path, "demo")[0] == 0
    text = (role_dir / "README.md").read_text()
    assert text.startswith("# demo\n\nHand-written intro.\n\n")
    assert text.endswith(f"{role_readme.END}\n\nOutro.\n")
    assert "old table" not in text
    # A second run changes nothing.
    assert run(tmp_path, "demo") == (0, "", "")


def test_a_readme_without_markers_gets_the_table_appended(tmp_path):
    role_dir = make_role(tmp_path, readme="# demo\n\nIntro.\n")
    assert run(tmp_path)[0] == 0
    text = (role_dir / "README.md").read_text()
    assert text.startswith("# demo\n\nIntro.\n\n## Role variables\n\n" + role_readme.BEGIN)


def test_check_reports_a_stale_readme_and_writes_nothing(tmp_path):
    role_dir = make_role(tmp_path, readme=f"# demo\n{role_readme.BEGIN}\nstale\n{role_readme.END}\n")
    status, _out, err = run(tmp_path, "--check")
    assert status == 1
    assert "README.md is out of date" in err
    assert "stale" in (role_dir / "README.md").read_text()


@pytest.mark.parametrize(
    ("readme", "specs", "message"),
    [
        (None, "argument_specs: {}\n", "has no argument_specs entry points"),
        (None, "argument_specs: [\n", "is not valid YAML"),
        (f"{role_readme.END}\n{role_readme.BEGIN}\n", SPECS, "markers must appear once each, in order"),
        (f"{role_readme.BEGIN}\n{role_readme.BEGIN}\n{role_readme.END}\n", SPECS, "markers must appear once"),
    ],
)
def test_bad_input_is_refused_naming_the_file(tmp_path, readme, specs, message):
    make_role(tmp_path, readme=readme, specs=specs)
    status, _out, err = run(tmp_path)
    assert status == 1
    assert message in err
    assert "demo" in err


def test_a_role_without_specs_is_refused(tmp_path):
    (tmp_path / "roles" / "bare").mkdir(parents=True)
    status, _out, err = run(tmp_path)
    assert status == 1
    assert "argument_specs.yml does not exist" in err


def test_an_unknown_role_is_refused(tmp_path):
    make_role(tmp_path)
    status, _out, err = run(tmp_path, "nope")
    assert status == 1
    assert "no role 'nope'" in err


def test_the_command_checks_the_repository():
    result = subprocess.run(
        [str(ROOT / "scripts" / "role-readme"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr

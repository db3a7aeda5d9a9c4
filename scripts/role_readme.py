"""Render each role's README variable table from its meta/argument_specs.yml.

The table sits between two markers in roles/<role>/README.md; everything
else in the README is written by hand and kept as it is.  A README without
the markers gets the table appended (a missing README is created).

    scripts/role-readme              rewrite every role's table
    scripts/role-readme ROLE...      only these roles
    scripts/role-readme --check      write nothing; exit 1 naming the READMEs that are out of date

The table lists the options of every entry point (main first), nested
options as ``parent[].child`` (a list of dicts) or ``parent.child`` (a dict).
"""

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

BEGIN = "<!-- BEGIN role-readme: variables (generated from meta/argument_specs.yml; do not edit) -->"
END = "<!-- END role-readme: variables -->"
ROOT = Path(__file__).resolve().parent.parent

# Ansible's documentation markup, as Markdown.
MARKUP = (
    (re.compile(r"[COV]\(([^()]*)\)"), r"`\1`"),
    (re.compile(r"I\(([^()]*)\)"), r"*\1*"),
    (re.compile(r"B\(([^()]*)\)"), r"**\1**"),
    (re.compile(r"U\(([^()]*)\)"), r"<\1>"),
    (re.compile(r"L\(([^(),]*),\s*([^()]*)\)"), r"[\1](\2)"),
)


class ReadmeError(Exception):
    """A role whose README cannot be rendered; the message names the file and the problem."""


def markdown(text):
    for pattern, replacement in MARKUP:
        text = pattern.sub(replacement, text)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def describe(option):
    description = option.get("description", "")
    if isinstance(description, list):
        description = " ".join(str(line) for line in description)
    text = markdown(str(description))
    if "choices" in option:
        choices = ", ".join(f"`{choice}`" for choice in option["choices"])
        text = f"{text} Choices: {choices}.".strip()
    return text


def show_default(option):
    if option.get("required"):
        return "*required*"
    if "default" not in option:
        return ""
    value = option["default"]
    shown = value if isinstance(value, str) else json.dumps(value)
    return f"`{shown}`".replace("|", "\\|") if shown != "" else '`""`'


def show_type(option):
    kind = option.get("type", "str")
    if kind == "list" and "elements" in option:
        return f"list of {option['elements']}"
    return kind


def rows(options, prefix=""):
    for name, option in options.items():
        if not isinstance(option, dict):
            raise ReadmeError(f"option {prefix}{name} is not a mapping")
        full = f"{prefix}{name}"
        yield f"| `{full}` | {show_type(option)} | {show_default(option)} | {describe(option)} |"
        if "options" in option:
            joiner = "[]." if option.get("type") == "list" else "."
            yield from rows(option["options"], full + joiner)


def render_table(specs_path):
    try:
        specs = yaml.safe_load(specs_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReadmeError(f"{specs_path} does not exist: every role documents its variables there") from None
    except yaml.YAMLError as exc:
        raise ReadmeError(f"{specs_path} is not valid YAML: {exc}") from None
    entry_points = (specs or {}).get("argument_specs")
    if not isinstance(entry_points, dict) or not entry_points:
        raise ReadmeError(f"{specs_path} has no argument_specs entry points")
    names = sorted(entry_points, key=lambda name: (name != "main", name))
    lines = []
    for name in names:
        spec = entry_points[name] or {}
        if len(names) > 1:
            lines += [f"### Entry point `{name}`", ""]
        options = spec.get("options") or {}
        if not options:
            lines += ["This entry point takes no variables.", ""]
            continue
        lines += ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
        try:
            lines += list(rows(options))
        except ReadmeError as exc:
            raise ReadmeError(f"{specs_path}: entry point {name}: {exc}") from None
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render(role_dir, current):
    """The README text for role_dir, given its current text (None when there is none)."""
    table = render_table(role_dir / "meta" / "argument_specs.yml")
    block = f"{BEGIN}\n{table}{END}"
    if current is None:
        return f"# {role_dir.name}\n\n## Role variables\n\n{block}\n"
    begins, ends = current.count(BEGIN), current.count(END)
    if begins == ends == 0:
        return current.rstrip("\n") + f"\n\n## Role variables\n\n{block}\n"
    if begins != 1 or ends != 1 or current.index(BEGIN) > current.index(END):
        raise ReadmeError(
            f"{role_dir / 'README.md'}: the role-readme markers must appear once each, in order"
        )
    head, rest = current.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return f"{head}{block}{tail}"


def roles(root, names):
    roles_dir = root / "roles"
    if not names:
        return sorted(p for p in roles_dir.iterdir() if p.is_dir()) if roles_dir.is_dir() else []
    found = []
    for name in names:
        path = roles_dir / name
        if not path.is_dir():
            raise ReadmeError(f"no role '{name}' in {roles_dir}")
        found.append(path)
    return found


def run(argv, root=ROOT, out=sys.stdout, err=sys.stderr):
    parser = argparse.ArgumentParser(
        prog="role-readme", description="Render roles' README variable tables from meta/argument_specs.yml."
    )
    parser.add_argument("roles", nargs="*", help="role names (default: every role under roles/)")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a README is out of date")
    args = parser.parse_args(argv)
    stale = []
    try:
        for role_dir in roles(Path(root), args.roles):
            readme = role_dir / "README.md"
            current = readme.read_text(encoding="utf-8") if readme.exists() else None
            wanted = render(role_dir, current)
            if wanted == current:
                continue
            if args.check:
                stale.append(readme)
            else:
                readme.write_text(wanted, encoding="utf-8")
                print(f"role-readme: wrote {readme}", file=out)
    except ReadmeError as exc:
        print(f"role-readme: {exc}", file=err)
        return 1
    if stale:
        for readme in stale:
            print(f"role-readme: {readme} is out of date: run scripts/role-readme", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

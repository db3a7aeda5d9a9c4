# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""switcher: choose, once, which modules every future shell loads.

OSCAR's env-switcher, rebuilt on Environment Modules.  The role installs
this file as /usr/local/bin/switcher (with the node's python3 in front).

A *tag* (``mpi``) offers several *names* (``openmpi``, ``mpich``), each an
Environment Modules modulefile; exactly one of them, or ``none``, is loaded
in every shell.  The role also lists modules loaded unconditionally.  Both
come from the catalog the role writes (catalog.json).

Defaults are attributes of a tag, kept in INI files: the user's
(~/.switcher.ini) and the administrator's (system.ini, next to the catalog).
The value of an attribute is the first found of: the user's value for the
tag, the user's ``global`` value, the system's value for the tag, the
system's ``global`` value.  The attribute ``default`` names the module the
shells load for the tag.

    switcher --list                          the tags
    switcher TAG --list                      the names of a tag
    switcher TAG = NAME [--system]           set the default of TAG
    switcher TAG ATTR = VALUE [--system]     set any attribute
    switcher TAG --show [--user|--system]    the attributes and where they come from
    switcher TAG --rm-attr ATTR [--system]   remove an attribute

The shells' start-up files call ``switcher --modules`` (the modules to load,
on one line) and load them; ``switcher-reload`` applies a change to the
current shell.  Writes hold a lock and replace the file atomically, so
concurrent changes never lose one another or leave a half-written file.

Exit status: 0 done, 1 refused (the message names the bad value; nothing
changed), 2 usage.
"""

import argparse
import configparser
import contextlib
import fcntl
import json
import os
import re
import sys
import tempfile

VERSION = "2.0.0"

# The directory of the catalog and the system defaults.  The environment
# variable exists for tests (and for trying a catalog out): it only changes
# which files are read, and --system still requires root.
CONFIG_DIR_ENV = "ENV_SWITCHER_CONFIG_DIR"
DEFAULT_CONFIG_DIR = "/etc/env-switcher"
CATALOG_FILE = "catalog.json"
SYSTEM_FILE = "system.ini"
USER_FILE = ".switcher.ini"

GLOBAL = "global"
DEFAULT_ATTR = "default"
NONE = "none"

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
ATTR_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
MAX_VALUE = 256

EXIT_REFUSED = 1
EXIT_USAGE = 2


class SwitcherError(Exception):
    """A refusal: the message names the bad value; nothing was changed."""

    def __init__(self, message, status=EXIT_REFUSED):
        super().__init__(message)
        self.status = status


class UsageError(SwitcherError):
    def __init__(self, message):
        super().__init__(message, EXIT_USAGE)


# ---------------------------------------------------------------- files


def config_dir():
    return os.environ.get(CONFIG_DIR_ENV) or DEFAULT_CONFIG_DIR


def system_path():
    return os.path.join(config_dir(), SYSTEM_FILE)


def user_path():
    home = os.environ.get("HOME") or os.path.expanduser("~")
    if not home or not os.path.isabs(home):
        raise SwitcherError("switcher: HOME is not set to an absolute path: cannot find the user's defaults")
    return os.path.join(home, USER_FILE)


def is_root():
    return os.geteuid() == 0


class Catalog:
    """What the role installed: the tags with their names, and the modules always loaded.

    catalog.json: {"always": [{"name", "description"}],
                   "tags": [{"name", "description", "choices": [{"name", "description"}]}]}
    The modulefile of a tag's name is TAG/NAME; an unconditional module's is its name.
    """

    def __init__(self, tags, always):
        self.tags = tags
        self.always = always

    @classmethod
    def load(cls, directory=None):
        path = os.path.join(directory or config_dir(), CATALOG_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise SwitcherError(
                f"switcher: no catalog at {path}: the env_switcher role has not set this host up"
            ) from None
        except (OSError, ValueError) as exc:
            raise SwitcherError(f"switcher: cannot read the catalog {path}: {exc}") from None
        try:
            tags = {
                tag["name"]: {
                    "description": str(tag.get("description", "")),
                    "choices": {
                        choice["name"]: {
                            "module": f"{tag['name']}/{choice['name']}",
                            "description": str(choice.get("description", "")),
                        }
                        for choice in tag["choices"]
                    },
                }
                for tag in data.get("tags", [])
            }
            always = [
                {"module": str(item["name"]), "description": str(item.get("description", ""))}
                for item in data.get("always", [])
            ]
        except (AttributeError, KeyError, TypeError) as exc:
            raise SwitcherError(f"switcher: the catalog {path} is malformed: {exc!r}") from None
        return cls(tags, always)

    def tag(self, tag):
        """The tag's entry, or a refusal naming the tag and the known ones."""
        if tag not in self.tags:
            known = ", ".join(sorted(self.tags)) or "none"
            raise SwitcherError(f"switcher: unknown tag '{tag}' (known tags: {known})")
        return self.tags[tag]

    def is_choice(self, tag, name):
        return name == NONE or name in self.tags[tag]["choices"]

    def check_name(self, tag, name):
        """Refuse a default that is not one of the tag's names (or none)."""
        if tag == GLOBAL:
            if name != NONE and not any(name in spec["choices"] for spec in self.tags.values()):
                names = sorted({n for spec in self.tags.values() for n in spec["choices"]} | {NONE})
                raise SwitcherError(
                    f"switcher: '{name}' is not a name of any tag (names: {', '.join(names)})"
                )
            return
        if not self.is_choice(tag, name):
            names = [*sorted(self.tags[tag]["choices"]), NONE]
            raise SwitcherError(
                f"switcher: '{name}' is not a name of tag '{tag}' (names: {', '.join(names)})"
            )

    def managed_modules(self):
        modules = [item["module"] for item in self.always]
        for tag in sorted(self.tags):
            choices = self.tags[tag]["choices"]
            modules.extend(choices[name]["module"] for name in sorted(choices))
        return modules


class Defaults:
    """One INI file of attributes: the user's or the system's."""

    def __init__(self, path, scope):
        self.path = path
        self.scope = scope

    @staticmethod
    def _parser():
        parser = configparser.ConfigParser(interpolation=None, default_section="\x00unused")
        parser.optionxform = str  # attribute names keep their case
        return parser

    def read(self):
        """The attributes as {tag: {attr: value}}; empty when the file does not exist."""
        parser = self._parser()
        try:
            with open(self.path, encoding="utf-8") as handle:
                parser.read_file(handle, self.path)
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise SwitcherError(f"switcher: cannot read {self.path}: {exc}") from None
        except configparser.Error as exc:
            message = str(exc).replace("\n", " ")
            raise SwitcherError(
                f"switcher: {self.path} is not a valid defaults file ({message}); "
                "fix or remove it, nothing was changed"
            ) from None
        return {section: dict(parser.items(section)) for section in parser.sections()}

    @contextlib.contextmanager
    def _locked(self):
        directory = os.path.dirname(self.path)
        try:
            fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SwitcherError(f"switcher: cannot lock {self.path}: {exc.strerror} ({directory})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, change):
        """Apply change(data) -> bool under the lock; write atomically if it changed something."""
        with self._locked():
            data = self.read()
            if not change(data):
                return False
            self._write(data)
            return True

    def _write(self, data):
        parser = self._parser()
        for section in sorted(data):
            if data[section]:
                parser[section] = dict(sorted(data[section].items()))
        directory = os.path.dirname(self.path)
        try:
            mode = os.stat(self.path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        fd, temporary = tempfile.mkstemp(prefix=os.path.basename(self.path) + ".", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"# switcher defaults ({self.scope}); change them with the switcher command\n")
                parser.write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ---------------------------------------------------------------- resolution


def layers(user, system):
    """The places an attribute is looked up, in order: (scope, section, attributes)."""
    return (
        ("user", "tag", user),
        ("user", GLOBAL, user),
        ("system", "tag", system),
        ("system", GLOBAL, system),
    )


def resolve(catalog, tag, user, system, warn=None):
    """{attr: (value, where)} for tag: each attribute from the first layer that has it.

    A default that is not (or no longer) one of the tag's names is passed over,
    with a warning, so a stale choice falls back to the next layer.
    """
    found = {}
    for scope, section, data in layers(user, system):
        name = tag if section == "tag" else GLOBAL
        for attr, value in data.get(name, {}).items():
            if attr in found:
                continue
            if attr == DEFAULT_ATTR and tag != GLOBAL and not catalog.is_choice(tag, value):
                if section == "tag" and warn:
                    warn(f"switcher: ignoring {scope} default '{value}' for '{tag}': not one of its names")
                continue
            found[attr] = (value, f"{scope} {name}")
    return found


def chosen_modules(catalog, user, system, warn=None):
    """The modules a new shell loads: the unconditional ones, then one per tag."""
    modules = [item["module"] for item in catalog.always]
    for tag in sorted(catalog.tags):
        value = resolve(catalog, tag, user, system, warn).get(DEFAULT_ATTR, (NONE, ""))[0]
        if value != NONE:
            modules.append(catalog.tags[tag]["choices"][value]["module"])
    return modules


# ---------------------------------------------------------------- verbs


def check_attr(attr):
    if not ATTR_RE.match(attr):
        raise SwitcherError(
            f"switcher: '{attr}' is not a valid attribute name "
            "(a letter, then letters, digits, '_', '.' or '-')"
        )


def check_value(attr, value):
    if attr == DEFAULT_ATTR:
        if not NAME_RE.match(value):
            raise SwitcherError(f"switcher: '{value}' is not a valid name")
        return
    if (
        not value
        or len(value) > MAX_VALUE
        or value != value.strip()
        or any(not ch.isprintable() for ch in value)
    ):
        raise SwitcherError(
            f"switcher: invalid value {value!r} for '{attr}': printable characters only, "
            f"no surrounding spaces, 1 to {MAX_VALUE} of them"
        )


def check_target(catalog, tag):
    if tag != GLOBAL:
        catalog.tag(tag)


def scope_defaults(system):
    if system:
        if not is_root():
            raise SwitcherError("switcher: --system changes every user's defaults: run it as root")
        return Defaults(system_path(), "system")
    return Defaults(user_path(), "user")


def set_attr(catalog, tag, attr, value, system):
    """Set one attribute; True when the file changed."""
    check_target(catalog, tag)
    check_attr(attr)
    check_value(attr, value)
    if attr == DEFAULT_ATTR:
        catalog.check_name(tag, value)
    defaults = scope_defaults(system)

    def change(data):
        if data.get(tag, {}).get(attr) == value:
            return False
        data.setdefault(tag, {})[attr] = value
        return True

    return defaults.update(change)


def remove_attr(catalog, tag, attr, system):
    """Remove one attribute; True when the file changed."""
    check_target(catalog, tag)
    check_attr(attr)
    defaults = scope_defaults(system)

    def change(data):
        if attr not in data.get(tag, {}):
            return False
        del data[tag][attr]
        return True

    return defaults.update(change)


def list_tags(catalog, out):
    if not catalog.tags:
        print("switcher: no tags are defined on this host", file=out)
        return
    width = max(len(tag) for tag in catalog.tags)
    for tag in sorted(catalog.tags):
        print(f"{tag:<{width}}  {catalog.tags[tag]['description']}".rstrip(), file=out)


def list_names(catalog, tag, user, system, out):
    spec = catalog.tag(tag)
    current = resolve(catalog, tag, user, system).get(DEFAULT_ATTR, (NONE, ""))[0]
    system_default = resolve(catalog, tag, {}, system).get(DEFAULT_ATTR, (NONE, ""))[0]
    rows = [(name, choice["description"]) for name, choice in sorted(spec["choices"].items())]
    rows.append((NONE, f"no module for '{tag}'"))
    width = max(len(row[0]) for row in rows)
    for name, description in rows:
        marks = []
        if name == current:
            marks.append("current")
        if name == system_default:
            marks.append("system default")
        mark = f" ({', '.join(marks)})" if marks else ""
        print(f"{name:<{width}}  {description}{mark}".rstrip(), file=out)


def show(catalog, tag, user, system, *, only, out):
    check_target(catalog, tag)
    if only == "user":
        found = resolve(catalog, tag, user, {})
    elif only == "system":
        found = resolve(catalog, tag, {}, system)
    else:
        found = resolve(catalog, tag, user, system)
    if not found:
        print(f"switcher: no attributes for '{tag}'", file=out)
        return
    width = max(len(attr) for attr in found)
    for attr in sorted(found):
        value, where = found[attr]
        print(f"{tag}:{attr:<{width}}  {value}  ({where})", file=out)


def report(tag, attr, value, *, changed, system, out):
    where = "system" if system else "your"
    if value is None:
        what = f"{where} attribute {tag}:{attr} removed" if changed else f"{where} {tag}:{attr} was not set"
    else:
        what = f"{where} {tag}:{attr} = {value}" if changed else f"{where} {tag}:{attr} is already {value}"
    state = "changed" if changed else "unchanged"
    hint = "; new shells use it, run 'switcher-reload' to apply it to this one" if changed else ""
    print(f"switcher: {what} ({state}){hint}", file=out)


# ---------------------------------------------------------------- command line

USAGE = """\
switcher --list
       switcher TAG --list
       switcher TAG = NAME [--system]
       switcher TAG ATTR = VALUE [--system]
       switcher TAG --show [--user | --system]
       switcher TAG --rm-attr ATTR [--system]
       switcher --version"""


def parser():
    result = argparse.ArgumentParser(
        prog="switcher",
        usage=USAGE,
        description=(
            "Choose the modules (an MPI implementation...) that every future shell loads. "
            "A user's choice overrides the system default; 'switcher-reload' applies a change "
            "to the current shell."
        ),
        epilog="examples: switcher mpi --list; switcher mpi = mpich; switcher mpi = openmpi --system",
    )
    result.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    result.add_argument("--list", action="store_true", help="list the tags, or the names of TAG")
    result.add_argument("--show", action="store_true", help="show TAG's attributes and where they come from")
    result.add_argument("--rm-attr", metavar="ATTR", help="remove the attribute ATTR of TAG")
    scope = result.add_mutually_exclusive_group()
    scope.add_argument("--system", action="store_true", help="the system defaults (root only)")
    scope.add_argument("--user", action="store_true", help="only the user's defaults (with --show)")
    result.add_argument("--silent", action="store_true", help="print nothing when a change succeeds")
    result.add_argument("--modules", action="store_true", help=argparse.SUPPRESS)
    result.add_argument("--managed-modules", action="store_true", help=argparse.SUPPRESS)
    result.add_argument("--version", action="version", version=f"switcher {VERSION}")
    return result


def parse(argv):
    command = parser()
    try:
        args = command.parse_intermixed_args(argv)
    except SystemExit as exc:
        # argparse printed its message (or --help / --version)
        raise _Exit(exc.code) from None
    verbs = [args.list, args.show, args.rm_attr is not None, args.modules, args.managed_modules]
    if sum(map(bool, verbs)) > 1:
        raise UsageError("switcher: give one of --list, --show, --rm-attr")
    if args.user and not args.show:
        raise UsageError("switcher: --user only goes with --show")
    if args.system and (args.list or args.modules or args.managed_modules):
        raise UsageError("switcher: --system goes with =, --show and --rm-attr")
    words = args.words
    if args.modules or args.managed_modules:
        if words:
            raise UsageError(f"switcher: unexpected arguments: {' '.join(words)}")
    elif args.list:
        if len(words) > 1:
            raise UsageError(f"switcher: --list takes at most one tag, got: {' '.join(words)}")
    elif args.show or args.rm_attr is not None:
        if len(words) != 1:
            raise UsageError("switcher: --show and --rm-attr take exactly one tag")
    elif len(words) == 3 and words[1] == "=":
        args.attr, args.value = DEFAULT_ATTR, words[2]
    elif len(words) == 4 and words[2] == "=":
        args.attr, args.value = words[1], words[3]
    elif not words:
        raise UsageError("switcher: nothing to do")
    else:
        raise UsageError(f"switcher: cannot understand: {' '.join(words)}")
    return args


class _Exit(Exception):
    def __init__(self, status):
        super().__init__(status)
        self.status = 0 if status is None else status


def run(argv, out=None, err=None):
    """Run the command line argv; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr

    def warn(message):
        print(message, file=err)

    try:
        args = parse(argv)
        if args.modules:
            return print_modules(out, warn)
        catalog = Catalog.load()
        if args.managed_modules:
            print(" ".join(catalog.managed_modules()), file=out)
            return 0
        words = args.words
        if args.list:
            if words:
                list_names(catalog, words[0], read_user(), read_system(), out)
            else:
                list_tags(catalog, out)
        elif args.show:
            only = "user" if args.user else "system" if args.system else None
            user = read_user() if only != "system" else {}
            show(catalog, words[0], user, read_system(), only=only, out=out)
        elif args.rm_attr is not None:
            changed = remove_attr(catalog, words[0], args.rm_attr, args.system)
            if not args.silent:
                report(words[0], args.rm_attr, None, changed=changed, system=args.system, out=out)
        else:
            changed = set_attr(catalog, words[0], args.attr, args.value, args.system)
            if not args.silent:
                report(words[0], args.attr, args.value, changed=changed, system=args.system, out=out)
        return 0
    except _Exit as exc:
        return exc.status
    except SwitcherError as exc:
        print(exc, file=err)
        if exc.status == EXIT_USAGE:
            print(f"usage: {USAGE}", file=err)
        return exc.status


def read_user():
    return Defaults(user_path(), "user").read()


def read_system():
    return Defaults(system_path(), "system").read()


def print_modules(out, warn):
    """For the shells' start-up files: never fails, prints what can be loaded.

    A broken user file must not leave the user without a working shell, so
    each unreadable part is reported on stderr and skipped.
    """
    try:
        catalog = Catalog.load()
    except SwitcherError as exc:
        warn(str(exc))
        print("", file=out)
        return 0
    defaults = []
    for read in (read_user, read_system):
        try:
            defaults.append(read())
        except SwitcherError as exc:
            warn(f"{exc} (ignored at shell start)")
            defaults.append({})
    print(" ".join(chosen_modules(catalog, defaults[0], defaults[1], warn)), file=out)
    return 0


def main():
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()

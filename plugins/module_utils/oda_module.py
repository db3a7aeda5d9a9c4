# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every ODA module shares: connection options, opening ODA, check mode, results, diffs and errors.

A module stays thin: it declares its documentation and its own options,
and a function that calls the ODA stores (which do the lookup and the
comparison themselves) and turns their ``(changed, before, after)`` into
its answer; ``run_module`` does the rest, the same for every module:

    def act(module, oda):
        return present_or_absent(module, oda.groups, "group", module.params["name"])

    def main():
        run_module(OPTIONS, act)

``run_module`` is the one place where ODA errors become failures.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import os
import re

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from . import nodeset
from . import oda_validate as validate
from .oda import Oda
from .oda_db import (
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    PASSWORD_ENV,
    URL_ENV,
    parse_url,
    resolve,
)
from .oda_errors import OdaError, OdaValidationError
from .oda_nodes import changed_nodes

# The connection options of every ODA module, as documented in the
# oscar.cluster.oda doc fragment.  Ansible applies the default and the
# environment before connect() (the invocation shows the URL used); they are
# oda_db.resolve's, which connect() calls for what is still unset.
ODA_ARGUMENT_SPEC = {
    "database": {"type": "str", "default": DEFAULT_URL, "fallback": (env_fallback, [URL_ENV])},
    "database_password": {"type": "str", "no_log": True, "fallback": (env_fallback, [PASSWORD_ENV])},
    "database_timeout": {"type": "int", "default": DEFAULT_TIMEOUT},
}

# What check mode and read-only queries open instead of an SQLite file that
# does not exist yet: an empty database with the schema, answering exactly as
# the new file would, without creating it.
_IN_MEMORY_URL = "sqlite::memory:"

# A number placeholder of a name pattern: {} {:d} {:03d}, or a run of '#'.
_FORMAT_FIELD = re.compile(r"\{(?::(0\d+)?d)?\}")
_HASHES = re.compile(r"#+")


def argument_spec(options):
    """A module's argument spec: the connection options plus its own."""
    spec = copy.deepcopy(ODA_ARGUMENT_SPEC)
    spec.update(options)
    return spec


def _missing_sqlite_file(url):
    dialect, params = parse_url(url)
    return dialect == "sqlite" and params["path"] != ":memory:" and not os.path.exists(params["path"])


@contextlib.contextmanager
def connect(module, read_only=False):
    """ODA from the module's connection options, closed at the end of the block.

    In check mode, and for read-only queries, an SQLite file that does not
    exist stays uncreated: an empty database in memory answers instead.  A
    password inside the URL is masked in every result, like
    database_password; giving it in database_password keeps it out of the
    invocation log as well.
    """
    params = module.params
    url, password = resolve(params["database"], params["database_password"])
    _dialect, parsed = parse_url(url)
    if parsed.get("password"):
        module.no_log_values.add(parsed["password"])
    if (module.check_mode or read_only) and _missing_sqlite_file(url):
        url = _IN_MEMORY_URL
    oda = Oda.open(
        url,
        password=password,
        timeout=params["database_timeout"],
        # The stand-in in memory needs its schema made; a real database is only read.
        read_only=read_only and url != _IN_MEMORY_URL,
    )
    try:
        yield oda
    finally:
        oda.close()


@contextlib.contextmanager
def atomic(oda, check_mode):
    """One transaction around several ODA calls, rolled back at the end in check mode.

    The calls inside run with check_mode=False: they nest as savepoints,
    and it is this outer transaction that keeps or drops everything, so a
    module reading before and after, or writing many objects, sees one
    consistent state and leaves all or nothing.
    """
    with oda.db.transaction(dry_run=check_mode):
        yield oda


def _diff(module, what, before, after):
    """The diff Ansible shows for one object, when --diff asked for it."""
    if not module._diff:
        return {}
    return {
        "diff": {
            "before": before if before is not None else {},
            "after": after if after is not None else {},
            "before_header": what,
            "after_header": what,
        }
    }


def result(module, kind, name, outcome):
    """exit_json arguments for a store's write, (changed, before, after).

    They are changed, the object after the call under the key kind, and the diff.
    """
    changed, before, after = outcome
    answer = {"changed": changed, kind: after}
    answer.update(_diff(module, "%s %s" % (kind, name), before, after))
    return answer


def present_or_absent(module, store, kind, name, *args, stored_name=False, **values):
    """exit_json arguments for one object: store.ensure(name, *args, **values), or store.remove(name)
    when the module's state is absent.

    stored_name: the diff names the object as stored (a node's name in lower case).
    """
    if module.params["state"] == "absent":
        return result(module, kind, name, store.remove(name))
    outcome = store.ensure(name, *args, **values)
    return result(module, kind, outcome[2]["name"] if stored_name else name, outcome)


def run_module(options, act, *, read_only=False, check=None, **module_args):
    """The whole main() of an ODA module.

    Builds the AnsibleModule from options (plus the connection options),
    runs check(params) if given before opening ODA, then act(module, oda)
    inside one transaction, rolled back in check mode (read_only: no
    transaction and no database created), and exits with act's answer; an
    ODA error from any of them fails the module with its message.
    """
    module = AnsibleModule(argument_spec=argument_spec(options), supports_check_mode=True, **module_args)
    try:
        if check is not None:
            check(module.params)
        with connect(module, read_only=read_only) as oda:
            if read_only:
                answer = act(module, oda)
            else:
                with atomic(oda, module.check_mode):
                    answer = act(module, oda)
    except OdaError as error:
        module.fail_json(**failure(error))
    module.exit_json(**answer)


def nodes_result(module, names, outcome, **extra):
    """exit_json's answer for a write over many nodes: changed, which changed, all after, diff."""
    changed, changed_names = changed_nodes(outcome)
    _changed, before, after = outcome
    answer = dict(extra, changed=changed, changed_nodes=changed_names, nodes=list(after.values()))
    answer.update(many_diff(module, "nodes %s" % nodeset.fold(names), before, after))
    return answer


def many_diff(module, kind, before, after):
    """exit_json diff for several objects keyed by name: only the ones that changed are shown."""
    names = [name for name in after if before.get(name) != after.get(name)]
    names += [name for name in before if name not in after]
    shown_before = {name: before.get(name) for name in names if before.get(name) is not None}
    shown_after = {name: after.get(name) for name in names if after.get(name) is not None}
    return _diff(module, kind, shown_before, shown_after)


def _missing_library(error):
    """The name of the Python package whose import failed behind an ODA error, or None.

    oda_db raises its OdaUnavailableError while handling the ImportError of
    a database driver; the ImportError stays on the error as its context.
    """
    context = error.__context__
    while context is not None:
        if isinstance(context, ImportError) and context.name:
            return context.name.split(".")[0]
        context = context.__context__
    return None


def failure(error):
    """fail_json arguments for an OdaError: the one place where ODA errors become failures."""
    library = _missing_library(error)
    if library is not None:
        return {"msg": missing_required_lib(library, reason="to reach this ODA database (%s)" % error)}
    return {"msg": str(error)}


def node_names(oda, value, option):
    """Names of an option that takes a node set (a string such as 'node[001-064]') or a list of names.

    A node set comes back in natural order, a list in its own order.
    """
    if isinstance(value, str):
        return oda.nodes.expand(value)
    if isinstance(value, list):
        return [validate.hostname(name) for name in value]
    raise OdaValidationError(
        "invalid %s '%s': expected a node set such as node[001-064] or a list of names" % (option, value)
    )


def names_from_pattern(pattern, count, start_index=1):
    """Node names from a pattern such as 'node{:03d}' or 'node###', count of them from start_index.

    '{}' and '{:d}' do not pad; '{:03d}' and '###' pad to three digits.
    """
    text = str(pattern)
    fields = [(m.start(), m.end(), int(m.group(1) or 0)) for m in _FORMAT_FIELD.finditer(text)]
    fields += [(m.start(), m.end(), len(m.group(0))) for m in _HASHES.finditer(text)]
    prefix = suffix = ""
    if len(fields) == 1:
        start, end, width = fields[0]
        prefix, suffix = text[:start], text[end:]
    if len(fields) != 1 or any(char in prefix + suffix for char in "{}#"):
        raise OdaValidationError(
            "invalid name pattern '%s': expected one number placeholder such as {:03d}, {} or ###" % text
        )
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= nodeset.MAX_NODES:
        raise OdaValidationError("invalid count %s: expected 1 to %d" % (count, nodeset.MAX_NODES))
    if isinstance(start_index, bool) or not isinstance(start_index, int) or start_index < 0:
        raise OdaValidationError("invalid start index %s: expected 0 or more" % start_index)
    return [
        "%s%0*d%s" % (prefix, width, number, suffix) for number in range(start_index, start_index + count)
    ]

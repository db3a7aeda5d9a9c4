"""The C3 commands' entry points: the console scripts (cexec, cpush ...) and ``python -m oscar_cluster.c3``.

Each imports only ``mux`` (the standard library) before ``mux.prestart``: a
cold run's daemon starts while this process imports the rest and reads the
inventory.
"""

import sys

from . import mux


def _run(argv):
    mux.prestart(argv)
    from .cli import main  # noqa: PLC0415 (after prestart, see above)

    return main(argv)


def main():
    """``c3 COMMAND [arguments]``, also ``c3 mux --stop``."""
    return _run(sys.argv[1:])


def _command(name):
    def run():
        return _run([name, *sys.argv[1:]])

    run.__name__ = run.__qualname__ = name
    run.__doc__ = "The %s command." % name
    return run


cexec = _command("cexec")
cexecs = _command("cexecs")
cpush = _command("cpush")
cget = _command("cget")
crm = _command("crm")
ckill = _command("ckill")
cshutdown = _command("cshutdown")
clist = _command("clist")
cname = _command("cname")
cnum = _command("cnum")

if __name__ == "__main__":
    sys.exit(main())

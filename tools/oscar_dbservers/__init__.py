"""Private, throw-away MariaDB and PostgreSQL servers for ODA's tests and benchmarks.

Each server is a real server of Debian's packages, run from its own data
directory under a state root (``/var/lib/oscar-dbservers/<name>`` for root,
``$OSCAR_DBSERVERS_STATE`` to change it), listening on 127.0.0.1 on a free
TCP port and on a unix socket, with a user and password made for it.  No
systemd is needed: the servers are started and stopped directly.

From Python::

    from oscar_dbservers import servers
    server = servers.ensure_server("oda-tests-mariadb", "mariadb")  # reuses a running one
    with server.fresh_database() as database:   # created now, dropped afterwards
        Oda.open(database.url, password=database.password)

From a shell, ``python -m oscar_dbservers --help`` lists the verbs.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"

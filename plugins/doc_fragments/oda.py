# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What every ODA module shares: its author, check mode, and the connection
    # options (module_utils/oda_module.py holds the matching argument spec).
    # Set the options once for a whole play with module_defaults and the
    # action group oscar.cluster.oda.
    DOCUMENTATION = r"""
author:
  - oscar.cluster developers (!UNKNOWN)
attributes:
  action_group:
    description: Use C(group/oscar.cluster.oda) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - oscar.cluster.oda
  check_mode:
    description: Reports what would change and writes nothing (the same transaction, rolled back).
    support: full
options:
  database:
    description:
      - URL of the ODA database.
      - V(sqlite:/path/to/oda.db) for an SQLite file on the host the module runs on (created with its
        directory, readable by its owner only, when first written),
        V(mysql://user@host:3306/name) or V(mariadb://user@host/name) for MariaDB or MySQL (needs the
        Python package C(pymysql) on that host), V(postgresql://user@host:5432/name) for PostgreSQL
        (needs C(psycopg)).
      - When not given, the environment variable E(OSCAR_ODA_URL) of the host the module runs on is
        used, and when that is not set either, the default.
      - Give the password in O(database_password) rather than in the URL; a password in the URL is
        masked in results but still reaches the module's invocation log.
    type: str
    default: sqlite:/var/lib/oscar/oda.db
  database_password:
    description:
      - Password for a MariaDB, MySQL or PostgreSQL database; it wins over a password in O(database).
      - When not given, the environment variable E(OSCAR_ODA_PASSWORD) is used.
      - Never logged.
    type: str
  database_timeout:
    description:
      - Seconds to wait for a database server to answer, or for another writer of the same SQLite
        file to finish its transaction.
    type: int
    default: 30
notes:
  - The database schema is created, or upgraded to the version this collection knows, when a module
    first opens it.
  - In check mode, and in M(oscar.cluster.oda_info), an SQLite file that does not exist yet is not
    created; the module answers as for an empty database.
  - Every call is one transaction, so a task that fails has written nothing.
"""

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ODA, the cluster database: what modules, the inventory plugin and the CLI open.

``Oda.open`` connects and gives one store per kind of object, all over the
same Database, so that a transaction around several of them is one:

    oda = Oda.open(url)
    with oda.db.transaction():
        oda.networks.ensure("private", "10.0.0.0/24")
        oda.nodes.define_clients("node[001-004]", "private", "10.0.0.11")

What the stores share (results, writes, check mode) is in oda_store.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from .oda_configuration import Clusters, Config, Variables
from .oda_db import DEFAULT_TIMEOUT, Database
from .oda_errors import OdaSchemaError
from .oda_groups import Groups
from .oda_images import Images, ImageVersions
from .oda_networks import Networks
from .oda_nodes import Nodes
from .oda_packages import Packages
from .oda_schema import current_version, ensure_schema, init
from .oda_steps import Steps


class Oda:
    """An open ODA database and its stores: clusters, networks, groups, images, image versions,
    nodes, packages, config (of packages), variables and steps."""

    def __init__(self, db):
        self.db = db
        # What open() found and did: (schema version before, after), and
        # whether it created the default cluster and groups.
        self.schema_versions = None
        self.created_defaults = False
        self.clusters = Clusters(db)
        self.networks = Networks(db)
        self.groups = Groups(db)
        self.images = Images(db)
        self.image_versions = ImageVersions(db)
        self.nodes = Nodes(db)
        self.packages = Packages(db)
        self.config = Config(db)
        self.variables = Variables(db)
        self.steps = Steps(db)

    @classmethod
    def open(cls, url, password=None, timeout=DEFAULT_TIMEOUT, read_only=False):
        """Connect, create or upgrade the schema, make sure the defaults exist; return an Oda.

        read_only: for callers that only read.  They never create anything:
        a missing SQLite file is OdaUnavailableError, a database without
        ODA's schema OdaSchemaError.  An older schema is still upgraded (once,
        under the write lock); a current one costs reads only, so a reader
        never waits for a writer.
        """
        db = Database.connect(url, password=password, timeout=timeout, create=not read_only)
        try:
            if read_only and current_version(db) == 0:
                raise OdaSchemaError("database %s holds no ODA schema; create it with 'oda init'" % db.url)
            versions = ensure_schema(db)
            created = False if read_only else init(db)
        except BaseException:
            db.close()
            raise
        oda = cls(db)
        oda.schema_versions = versions
        oda.created_defaults = created
        return oda

    def close(self):
        """Close the database connection."""
        self.db.close()

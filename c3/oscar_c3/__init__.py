"""C3 reborn: cexec, cexecs, cpush, cget, crm, ckill, cshutdown, clist, cname and cnum.

The nodes and how to reach them come from Ansible's inventory (by default
``oscar_inventory``, i.e. ODA) or from a C3 ``c3.conf``.  Pure logic (machine
definitions, c3.conf, gathering output, the summary and exit status) lives
apart from the SSH transport (``runner``, asyncssh) so it is tested without hosts.
"""

import os
import sys

# The collection's shared parsers (nodeset, c3_ranges) live under collections/.
_COLLECTIONS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "collections"
)
if _COLLECTIONS not in sys.path:
    sys.path.append(_COLLECTIONS)

"""C3 reborn: cexec, cexecs, cpush, cget, crm, ckill, cshutdown, clist, cname and cnum.

The nodes and how to reach them come from ODA (read directly), from Ansible's
inventory, or from a C3 ``c3.conf``.  Pure logic (machine definitions,
c3.conf, gathering output, the summary and exit status) lives apart from the
SSH transport (``runner``, asyncssh) so it is tested without hosts.
"""

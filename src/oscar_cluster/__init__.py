"""OSCAR's commands for the head node: ``oda`` (the cluster database) and the C3 tools (``cexec``...).

``oscar_cluster.module_utils`` is the collection's ``plugins/module_utils``,
installed under a name of its own (pyproject.toml maps it): the commands share
ODA's library with the modules without going through Ansible's loader.
"""

"""The fixtures every scenario's tests share: head, node (node001) and plan."""

from oscar_testbed.molecule_fixtures import head, node, plan  # noqa: F401 (pytest finds them here)

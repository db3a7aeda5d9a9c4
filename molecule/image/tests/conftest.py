"""The fixtures every scenario's tests share: head, node (node001) and plan."""

# pytest finds the fixtures by their names here.
from oscar_testbed.molecule_fixtures import head, node, plan  # noqa: F401 pylint: disable=unused-import

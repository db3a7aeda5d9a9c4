"""The Slurm filters as Ansible calls them: plain results, and bad nodes as filter errors naming them."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.oscar.cluster.plugins.filter.slurm_conf import FilterModule

FILTERS = FilterModule().filters()
FACTS = {"processor_nproc": 2, "memtotal_mb": 1000}


class Mapping:
    """A dict-like that is not a dict, as hostvars and lazy template results are."""

    def __init__(self, data):
        self._data = data

    def items(self):
        return self._data.items()


def test_every_filter_is_offered():
    assert sorted(FILTERS) == ["slurm_conf_nodes", "slurm_nodes", "slurm_restart_signature"]


def test_slurm_nodes_reads_dict_likes_and_returns_lines():
    nodes = [Mapping({"name": "node001", "address": "10.0.0.11", "facts": Mapping(FACTS)})]
    result = FILTERS["slurm_nodes"](nodes, None, 0)
    assert result["lines"] == ["NodeName=node001 NodeAddr=10.0.0.11 CPUs=2 RealMemory=1000 State=UNKNOWN"]
    assert result["nodes"] == "node001"


@pytest.mark.parametrize(
    ("nodes", "reserve", "message"),
    [
        (
            [{"name": "node001", "address": "10.0.0.x"}],
            5,
            "Slurm node node001: invalid IP address '10.0.0.x'",
        ),
        ([{"name": "node001", "address": "10.0.0.1"}], 95, "invalid memory reserve 95"),
    ],
)
def test_bad_input_is_a_filter_error_naming_it(nodes, reserve, message):
    with pytest.raises(AnsibleFilterError, match=message.replace(".", r"\.")):
        FILTERS["slurm_nodes"](nodes, "", reserve)


def test_signature_and_nodes_of_no_file_are_empty():
    assert FILTERS["slurm_restart_signature"](None) == []
    assert FILTERS["slurm_conf_nodes"](None) == {}


def test_slurm_conf_nodes_reads_what_slurm_nodes_writes():
    nodes = [{"name": "node%03d" % n, "address": "10.0.0.%d" % (10 + n), "facts": FACTS} for n in (1, 2, 3)]
    text = "\n".join(FILTERS["slurm_nodes"](nodes, "", 0)["lines"])
    assert FILTERS["slurm_conf_nodes"](text) == {
        "node%03d" % n: {
            "address": "10.0.0.%d" % (10 + n),
            "state": "UNKNOWN",
            "hardware": {"CPUs": 2, "RealMemory": 1000},
        }
        for n in (1, 2, 3)
    }

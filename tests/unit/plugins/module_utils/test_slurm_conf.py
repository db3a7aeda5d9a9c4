"""Slurm's NodeName lines from ODA and facts, and what of a slurm.conf needs a restart."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import slurm_conf
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError

TWO_CORES = {
    "processor_nproc": 2,
    "processor_vcpus": 2,
    "processor_count": 1,
    "processor_cores": 2,
    "processor_threads_per_core": 1,
    "memtotal_mb": 24105,
}
BIG = {
    "processor_nproc": 64,
    "processor_vcpus": 64,
    "processor_count": 2,
    "processor_cores": 16,
    "processor_threads_per_core": 2,
    "memtotal_mb": 515000,
}


def node(number, facts=None, address=None, **extra):
    """A node as the role describes it; facts default to TWO_CORES, {} means none gathered."""
    return dict(
        {
            "name": "node%03d" % number,
            "address": "10.0.0.%d" % (10 + number) if address is None else address,
            "facts": TWO_CORES if facts is None else facts,
        },
        **extra,
    )


# ---------------------------------------------------------------- hardware from facts


def test_hardware_from_facts_with_topology_and_reserve():
    assert slurm_conf.hardware_from_facts(TWO_CORES, 5) == {
        "CPUs": 2,
        "Sockets": 1,
        "CoresPerSocket": 2,
        "ThreadsPerCore": 1,
        "RealMemory": 22899,
    }
    assert slurm_conf.hardware_from_facts(BIG, 0)["RealMemory"] == 515000
    assert slurm_conf.hardware_from_facts(BIG, 10)["RealMemory"] == 463500


def test_cpus_a_cpuset_allows_win_and_drop_a_topology_that_does_not_add_up():
    """A container limited to 2 of the host's 8 CPUs: /proc/cpuinfo's topology would drain the node."""
    facts = dict(TWO_CORES, processor_nproc=2, processor_vcpus=8, processor_count=1, processor_cores=8)
    assert slurm_conf.hardware_from_facts(facts, 5) == {"CPUs": 2, "RealMemory": 22899}


def test_hardware_from_facts_reads_ansible_variable_names_too():
    facts = {"ansible_processor_vcpus": 4, "ansible_memtotal_mb": 1000}
    assert slurm_conf.hardware_from_facts(facts, 0) == {"CPUs": 4, "RealMemory": 1000}


@pytest.mark.parametrize(
    "facts",
    [None, {}, {"processor_nproc": 2}, {"memtotal_mb": 100}, {"processor_nproc": 0, "memtotal_mb": 100}],
)
def test_no_hardware_without_cpus_and_memory(facts):
    assert slurm_conf.hardware_from_facts(facts, 5) is None


def test_real_memory_never_drops_to_zero():
    assert slurm_conf.hardware_from_facts({"processor_nproc": 1, "memtotal_mb": 1}, 90)["RealMemory"] == 1


@pytest.mark.parametrize("reserve", [-1, 91, "x", None, True, 2.5])
def test_a_bad_reserve_is_refused_naming_it(reserve):
    with pytest.raises(
        OdaValidationError, match="invalid memory reserve %s" % repr(reserve).replace(".", r"\.")
    ):
        slurm_conf.node_lines([node(1)], "", reserve)


# ---------------------------------------------------------------- lines


def test_equal_nodes_fold_into_one_line_with_paired_ranges():
    result = slurm_conf.node_lines([node(2), node(1), node(3)], "", 5)
    assert result["lines"] == [
        "NodeName=node[001-003] NodeAddr=10.0.0.[11-13] CPUs=2 Sockets=1 CoresPerSocket=2"
        " ThreadsPerCore=1 RealMemory=22899 State=UNKNOWN"
    ]
    assert result["sources"] == {"node001": "facts", "node002": "facts", "node003": "facts"}
    assert result["nodes"] == "node[001-003]"


def test_different_hardware_gets_its_own_line_in_natural_order():
    result = slurm_conf.node_lines([node(10, BIG), node(2), node(1), node(9, BIG)], "", 5)
    assert [line.split()[0] for line in result["lines"]] == [
        "NodeName=node[001-002]",
        "NodeName=node[009-010]",
    ]
    assert "CPUs=64 Sockets=2 CoresPerSocket=16 ThreadsPerCore=2 RealMemory=489250" in result["lines"][1]
    assert result["nodes"] == "node[001-002,009-010]"


def test_addresses_out_of_order_split_the_line_so_that_slurm_pairs_them_right():
    """Slurm gives the n-th address to the n-th name: node002 must not get node001's address."""
    nodes = [node(1, address="10.0.0.20"), node(2, address="10.0.0.12"), node(3, address="10.0.0.13")]
    lines = slurm_conf.node_lines(nodes, "", 5)["lines"]
    assert [line.split()[:2] for line in lines] == [
        ["NodeName=node001", "NodeAddr=10.0.0.20"],
        ["NodeName=node[002-003]", "NodeAddr=10.0.0.[12-13]"],
    ]


def test_addresses_across_a_byte_boundary_still_pair():
    nodes = [node(1, address="10.0.0.254"), node(2, address="10.0.1.1"), node(3, address="10.0.1.2")]
    lines = slurm_conf.node_lines(nodes, "", 5)["lines"]
    assert lines[0].split()[:2] == ["NodeName=node[001-003]", "NodeAddr=10.0.0.254,10.0.1.[1-2]"]
    assert slurm_conf.expand_hostlist("10.0.0.254,10.0.1.[1-2]") == ["10.0.0.254", "10.0.1.1", "10.0.1.2"]


def test_future_nodes_are_written_apart_with_state_future():
    result = slurm_conf.node_lines([node(1), node(2, future=True), node(3)], "", 5)
    assert [(line.split()[:2], line.split()[-1]) for line in result["lines"]] == [
        (["NodeName=node[001,003]", "NodeAddr=10.0.0.[11,13]"], "State=UNKNOWN"),
        (["NodeName=node002", "NodeAddr=10.0.0.12"], "State=FUTURE"),
    ]
    assert result["nodes"] == "node[001-003]"


def test_a_node_without_facts_keeps_its_previous_line():
    previous = "\n".join(
        [
            "# a comment",
            "NodeName=node[001-002] NodeAddr=10.0.0.[11-12] CPUs=8 Sockets=1 CoresPerSocket=4"
            " ThreadsPerCore=2 RealMemory=30000 State=UNKNOWN",
            "PartitionName=compute Nodes=node[001-002] Default=YES",
        ]
    )
    result = slurm_conf.node_lines([node(1, facts={}), dict(node(2), facts=None)], previous, 5)
    assert result["lines"] == [
        "NodeName=node[001-002] NodeAddr=10.0.0.[11-12] CPUs=8 Sockets=1 CoresPerSocket=4"
        " ThreadsPerCore=2 RealMemory=30000 State=UNKNOWN"
    ]
    assert result["sources"] == {"node001": "previous", "node002": "previous"}


def test_the_rerun_of_a_written_file_gives_the_same_lines():
    nodes = [node(1), node(2), node(3, BIG), node(4, address="10.0.0.99"), node(5, future=True)]
    first = slurm_conf.node_lines(nodes, "", 5)["lines"]
    without_facts = [dict(entry, facts={}) for entry in nodes]
    assert slurm_conf.node_lines(without_facts, "\n".join(first), 5)["lines"] == first


def test_without_facts_or_previous_line_oda_gives_what_it_knows():
    result = slurm_conf.node_lines([node(1, facts={}, cpus=16, memory_mb=64000), node(2, facts={})], "", 5)
    assert result["lines"] == [
        "NodeName=node001 NodeAddr=10.0.0.11 CPUs=16 RealMemory=60800 State=UNKNOWN",
        "NodeName=node002 NodeAddr=10.0.0.12 State=UNKNOWN",
    ]
    assert result["sources"] == {"node001": "oda", "node002": "none"}


def test_no_nodes_no_lines():
    assert slurm_conf.node_lines([], "", 5) == {"lines": [], "sources": {}, "nodes": ""}


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([node(1), node(1, address="10.0.0.99")], "Slurm node node001 is listed twice"),
        (
            [node(1), node(2, address="10.0.0.11")],
            "Slurm nodes node001 and node002 have the same address 10.0.0.11",
        ),
        ([node(1, address="")], "Slurm node node001 has no address"),
        ([node(1, address="10.0.0.300")], "Slurm node node001: invalid IP address '10.0.0.300'"),
        ([dict(node(1), name="bad name")], "invalid Slurm node name 'bad name'"),
        (["node001"], "every Slurm node must be a dict"),
        ("node001", "the Slurm nodes must be a list"),
    ],
)
def test_bad_nodes_are_refused_naming_them(nodes, message):
    with pytest.raises(OdaValidationError, match=message.replace("[", r"\[").replace(".", r"\.")):
        slurm_conf.node_lines(nodes, "", 5)


# ---------------------------------------------------------------- reading back


def test_parse_nodes_expands_names_and_addresses_in_order():
    text = "NodeName=DEFAULT CPUs=4\nNodeName=n[1-2],m7 NodeAddr=10.1.1.[5-6],10.1.2.1 CPUs=4 State=FUTURE\n"
    assert slurm_conf.parse_nodes(text) == {
        "n1": {"address": "10.1.1.5", "state": "FUTURE", "hardware": {"CPUs": 4}},
        "n2": {"address": "10.1.1.6", "state": "FUTURE", "hardware": {"CPUs": 4}},
        "m7": {"address": "10.1.2.1", "state": "FUTURE", "hardware": {"CPUs": 4}},
    }


def test_parse_nodes_skips_lines_it_cannot_read():
    text = "NodeName=node[1-x] CPUs=2\nNodeName=a[1-2] NodeAddr=10.0.0.1\nNodeName=b CPUs=2\n"
    assert slurm_conf.parse_nodes(text) == {
        "a1": {"address": None, "state": "UNKNOWN", "hardware": {}},
        "a2": {"address": None, "state": "UNKNOWN", "hardware": {}},
        "b": {"address": None, "state": "UNKNOWN", "hardware": {"CPUs": 2}},
    }


# ---------------------------------------------------------------- restart or reconfigure


BASE = """# Managed
ClusterName=oscar
SlurmctldHost=head(10.0.0.1)
NodeName=node[001-002] NodeAddr=10.0.0.[11-12] CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=compute Nodes=node[001-002] Default=YES MaxTime=INFINITE State=UP
"""


def signature(text):
    return slurm_conf.restart_signature(text)


def test_comments_spacing_folding_and_partitions_need_no_restart():
    refolded = BASE.replace(
        "NodeName=node[001-002] NodeAddr=10.0.0.[11-12] CPUs=2 RealMemory=1000 State=UNKNOWN",
        "NodeName=node001 NodeAddr=10.0.0.11   CPUs=2 RealMemory=1000 State=UNKNOWN # one\n"
        "NodeName=node002 NodeAddr=10.0.0.12 CPUs=2 RealMemory=1000 State=UNKNOWN",
    )
    repartitioned = BASE.replace("PartitionName=compute", "PartitionName=batch").replace(
        "# Managed", "# Other"
    )
    assert signature(refolded) == signature(BASE)
    assert signature(repartitioned) == signature(BASE)


@pytest.mark.parametrize(
    "changed",
    [
        BASE.replace("node[001-002] NodeAddr=10.0.0.[11-12]", "node[001-003] NodeAddr=10.0.0.[11-13]"),
        BASE.replace("10.0.0.[11-12]", "10.0.0.[21-22]"),
        BASE.replace("CPUs=2", "CPUs=4"),
        BASE.replace("State=UNKNOWN", "State=FUTURE"),
        BASE.replace("head(10.0.0.1)", "head(10.0.0.2)"),
        BASE + "MaxJobCount=20000\n",
        "",
    ],
)
def test_nodes_and_global_settings_need_a_restart(changed):
    assert signature(changed) != signature(BASE)

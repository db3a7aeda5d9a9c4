"""MAC lists from files: plain lists, 'name MAC' lines, /etc/ethers and dnsmasq leases."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError
from ansible_collections.oscar.cluster.plugins.module_utils.oda_macs import (
    macs_for_nodes,
    parse_mac_lines,
    read_mac_file,
)

LEASES = """\
1700000000 02:00:0a:d3:00:0b 10.211.0.11 node001 01:02:00:0a:d3:00:0b
1700000001 02:00:0a:d3:00:0c 10.211.0.12 * *
1700000002 02:00:0a:d3:00:0d 10.211.0.13 My_Laptop *
duid 00:01:00:01:2c:5f:7a:1b:52:54:00:12:34:56
1700000003 123456789012 fd00::11 node001 00:01:00:01:2c:5f:7a:1b:52:54:00:aa:bb:cc
"""


def test_a_plain_list_gives_nameless_macs_in_normal_form_in_file_order():
    text = "# collected on the switch\n52:54:00:12:34:56\n\n52-54-00-12-34-57  # rack 2\n5254.0012.3458\n"
    assert parse_mac_lines(text) == [
        (None, "52:54:00:12:34:56"),
        (None, "52:54:00:12:34:57"),
        (None, "52:54:00:12:34:58"),
    ]


def test_name_and_mac_lines_are_read_in_either_order():
    text = "node001 52:54:00:12:34:56\n52:54:00:12:34:57 NODE002\n"
    assert parse_mac_lines(text) == [("node001", "52:54:00:12:34:56"), ("node002", "52:54:00:12:34:57")]


def test_a_dnsmasq_leases_file_gives_names_and_leaves_dhcpv6_out():
    assert parse_mac_lines(LEASES) == [
        ("node001", "02:00:0a:d3:00:0b"),
        (None, "02:00:0a:d3:00:0c"),
        # A name no node can have stays a name: it must not be handed out as a nameless MAC.
        ("My_Laptop", "02:00:0a:d3:00:0d"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "52:54:00:12:34:56\nzz:54:00:12:34:57\n",
            "MAC list line 2: invalid MAC address 'zz:54:00:12:34:57'",
        ),
        ("node1 node2\n", "MAC list line 1: neither 'node1' nor 'node2' is a MAC address"),
        ("525400123456 525400123457\n", "both '525400123456' and '525400123457' read as MAC addresses"),
        ("no_de 52:54:00:12:34:56\n", "MAC list line 1: invalid host name 'no_de'"),
        ("a b c\n", "MAC list line 1: expected a MAC, 'name MAC', 'MAC name' or a dnsmasq lease"),
        ("1700000000 zz 10.0.0.1 node1 *\n", "MAC list line 1: 'zz' is not a MAC address"),
        (
            "52:54:00:12:34:56\n52-54-00-12-34-56\n",
            "MAC list line 2: MAC 52:54:00:12:34:56 is already on line 1",
        ),
        ("n1 52:54:00:12:34:56\nn1 52:54:00:12:34:57\n", "MAC list line 2: name n1 is already on line 1"),
        ("01:00:5e:00:00:01\n", "a multicast address cannot name a NIC"),
    ],
)
def test_a_bad_line_is_refused_naming_the_line_and_the_value(text, message):
    with pytest.raises(OdaValidationError) as raised:
        parse_mac_lines(text)
    assert message in str(raised.value)


def test_read_mac_file_names_the_file_in_errors(tmp_path):
    good = tmp_path / "macs.txt"
    good.write_text("node001 52:54:00:12:34:56\n")
    assert read_mac_file(str(good)) == [("node001", "52:54:00:12:34:56")]
    bad = tmp_path / "bad.txt"
    bad.write_text("52:54:00:12:34:56\nnonsense\n")
    with pytest.raises(OdaValidationError, match="MAC file %s line 2: invalid MAC address 'nonsense'" % bad):
        read_mac_file(str(bad))
    with pytest.raises(
        OdaValidationError, match="cannot read MAC file %s: No such file" % (tmp_path / "none")
    ):
        read_mac_file(str(tmp_path / "none"))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(OdaValidationError, match="not UTF-8 text"):
        read_mac_file(str(binary))


# --- handing MACs to nodes -------------------------------------------------------

NODES = ["node001", "node002", "node003"]


def test_named_macs_go_to_their_nodes_and_other_hosts_are_left_out():
    entries = [
        ("node003", "52:54:00:00:00:03"),
        ("login", "52:54:00:00:00:99"),
        ("node001", "52:54:00:00:00:01"),
    ]
    assert macs_for_nodes(entries, NODES) == ["52:54:00:00:00:01", None, "52:54:00:00:00:03"]


def test_nameless_macs_fill_the_nodes_no_name_covers_in_order():
    entries = [(None, "52:54:00:00:00:0a"), ("node002", "52:54:00:00:00:02"), (None, "52:54:00:00:00:0b")]
    assert macs_for_nodes(entries, NODES) == ["52:54:00:00:00:0a", "52:54:00:00:00:02", "52:54:00:00:00:0b"]


def test_fewer_macs_than_nodes_leaves_the_rest_to_collect_later():
    assert macs_for_nodes([(None, "52:54:00:00:00:0a")], NODES) == ["52:54:00:00:00:0a", None, None]
    assert macs_for_nodes([], NODES) == [None, None, None]


def test_more_nameless_macs_than_open_nodes_is_refused():
    entries = [("node001", "52:54:00:00:00:01")] + [(None, "52:54:00:00:00:%02x" % n) for n in range(10, 13)]
    with pytest.raises(OdaValidationError, match="3 MAC addresses without a name for 2 nodes without one"):
        macs_for_nodes(entries, NODES)

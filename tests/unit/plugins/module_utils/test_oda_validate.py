"""What ODA accepts, in which normal form, and how it names what it refuses."""

import pytest
from ansible_collections.oscar.cluster.plugins.module_utils import oda_validate as validate
from ansible_collections.oscar.cluster.plugins.module_utils.oda_errors import OdaValidationError


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("52:54:00:12:34:56", "52:54:00:12:34:56"),
        ("52:54:00:AB:CD:EF", "52:54:00:ab:cd:ef"),
        ("52-54-00-ab-cd-ef", "52:54:00:ab:cd:ef"),
        ("5254.00ab.cdef", "52:54:00:ab:cd:ef"),
        ("525400abcdef", "52:54:00:ab:cd:ef"),
        (" 02:00:0a:d3:00:0b ", "02:00:0a:d3:00:0b"),
    ],
)
def test_mac_addresses_take_one_normal_form(given, normal):
    assert validate.mac_address(given) == normal


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("52:54:00:12:34", "expected six hex pairs"),
        ("52:54:00:12:34:5g", "expected six hex pairs"),
        ("52:54-00:12:34:56", "expected six hex pairs"),
        ("", "expected six hex pairs"),
        ("00:00:00:00:00:00", "all zeros"),
        ("01:00:5e:00:00:01", "multicast"),
        ("ff:ff:ff:ff:ff:ff", "multicast"),
    ],
)
def test_bad_mac_addresses_are_named(given, reason):
    with pytest.raises(OdaValidationError) as raised:
        validate.mac_address(given)
    assert f"'{given.strip()}'" in str(raised.value)
    assert reason in str(raised.value)


@pytest.mark.parametrize(("given", "normal"), [("10.0.0.1", "10.0.0.1"), (" fd00::0001 ", "fd00::1")])
def test_ip_addresses(given, normal):
    assert validate.ip_address(given) == normal


@pytest.mark.parametrize("given", ["10.0.0.256", "10.0.0", "node1", "", "10.0.0.1/24"])
def test_bad_ip_addresses_are_named(given):
    with pytest.raises(OdaValidationError, match=f"invalid IP address '{given}'"):
        validate.ip_address(given)


def test_networks_must_be_cidr_without_host_bits():
    assert validate.network("10.211.0.0/24") == "10.211.0.0/24"
    with pytest.raises(OdaValidationError, match=r"invalid network '10\.211\.0\.1/24': .*host bits set"):
        validate.network("10.211.0.1/24")
    with pytest.raises(OdaValidationError, match="invalid network 'x'"):
        validate.network("x")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.0.1", "outside network 10.0.0.0/24"),
        ("10.0.0.0", "network or broadcast address"),
        ("10.0.0.255", "network or broadcast address"),
    ],
)
def test_addresses_must_be_usable_host_addresses_of_their_network(address, reason):
    with pytest.raises(OdaValidationError, match=reason):
        validate.address_in_network(address, "10.0.0.0/24")
    assert validate.address_in_network("10.0.0.7", "10.0.0.0/24") == "10.0.0.7"


def test_point_to_point_networks_use_both_addresses():
    assert validate.address_in_network("10.0.0.0", "10.0.0.0/31") == "10.0.0.0"


@pytest.mark.parametrize(
    ("given", "normal"), [("node001", "node001"), ("Head.Cluster.Local", "head.cluster.local")]
)
def test_host_names(given, normal):
    assert validate.hostname(given) == normal


@pytest.mark.parametrize(
    "given", ["", "node_1", "-node", "node-", "a" * 64, "node..x", "nöde", "a." * 127 + "a"]
)
def test_bad_host_names_are_named(given):
    with pytest.raises(OdaValidationError, match="invalid host name"):
        validate.hostname(given)


def test_object_names():
    assert validate.object_name("oscar_clients", "group") == "oscar_clients"
    with pytest.raises(OdaValidationError, match="invalid group name 'has space'"):
        validate.object_name("has space", "group")
    with pytest.raises(OdaValidationError, match="invalid image name '_x'"):
        validate.object_name("_x", "image")


# A newline must never pass a check: "$" matches before a final "\n", and a
# name with one reached the dhcp-host= line of dnsmasq's configuration.
@pytest.mark.parametrize(
    ("check", "given"),
    [
        (validate.mac_address, "52:54:00:12:34:56\n:"),
        (validate.mac_address, "525400abcdef\n0"),
        (validate.hostname, "node1\n.cluster"),
        (validate.hostname, "cluster\n.local"),
        (validate.variable_name, "slurm_role\n"),
        (validate.ip_address, "fe80::1%eth0\nx"),
        (validate.ip_address, "fe80::1%eth0"),
        (validate.network, "fe80::%a\nb/64"),
        (lambda value: validate.object_name(value, "group"), "compute\n.x"),
    ],
)
def test_a_newline_inside_a_value_is_refused(check, given):
    with pytest.raises(OdaValidationError):
        check(given)

# -*- coding: utf-8 -*-
# Copyright: oscar.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The cluster's hosts on one network, as the head's services serve them.

DHCP leases, DNS records, /etc/hosts and c3.conf all come from one table:
every NIC of every host on the network, with its MAC, address and DNS name.
Building the table checks the data first, so that a service is never
configured from a node without a MAC or an address, from two nodes sharing
a name, a MAC or an address, or from a network that does not hold the head:
the error names the node.  ODA checked every MAC and address when it stored
them; this is the one check on the way out, for hosts that a site describes
in its own inventory rather than in ODA.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from . import nodeset
from . import oda_validate as validate
from .oda_errors import OdaValidationError


def plain(value):
    """Inventory and hostvars values as plain lists, dicts and strings, for the filters."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return dict((str(key), plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _text(value):
    return "" if value is None else str(value).strip()


def _network(network):
    """The network's name, its ip_network and its DNS domain (or None), checked."""
    if not isinstance(network, dict) or not network.get("name") or not network.get("cidr"):
        raise OdaValidationError(
            "the network must be a dict with at least a name and a cidr; got %r" % (network,)
        )
    name = _text(network["name"])
    cidr = ipaddress.ip_network(validate.network(network["cidr"]))
    domain = _text(network.get("domain")) or None
    if domain:
        domain = validate.hostname(domain)
    return name, cidr, domain


def _nics_on(host, network_name):
    """The host's NICs on the network, in natural order of their names."""
    nics = host.get("nics") or []
    if not isinstance(nics, list):
        raise OdaValidationError("node %s: its NICs must be a list; got %r" % (host["name"], nics))
    on_network = [nic for nic in nics if isinstance(nic, dict) and _text(nic.get("network")) == network_name]
    return sorted(on_network, key=lambda nic: nodeset.natural_key(_text(nic.get("name"))))


def _record(host, nic, index, network, is_head):
    """One NIC's entry, or OdaValidationError naming the node and what it lacks.

    network is (name, ip_network, domain or None), as _network returns it.
    """
    network_name, cidr, domain = network
    node = host["name"]
    nic_name = _text(nic.get("name")) or "nic%d" % index
    where = "node %s (NIC %s on network '%s')" % (node, nic_name, network_name)
    ip = _text(nic.get("ip"))
    if not ip:
        raise OdaValidationError("%s has no IP address" % where)
    try:
        ip = validate.ip_address(ip)
        validate.address_in_network(ip, str(cidr), "address")
    except OdaValidationError as error:
        if is_head:
            raise OdaValidationError(
                "network '%s' (%s) does not contain the head %s: %s" % (network_name, cidr, node, error)
            ) from None
        raise OdaValidationError("%s: %s" % (where, error)) from None
    mac = _text(nic.get("mac"))
    if mac:
        try:
            mac = validate.mac_address(mac)
        except OdaValidationError as error:
            raise OdaValidationError("%s: %s" % (where, error)) from None
    elif not is_head and host.get("boot_action") != "install":
        # The head serves DHCP and needs no lease; every other host boots from
        # one.  A node waiting to be installed gets its MAC when its machine is
        # first heard on the network (OSCAR's "Setup Networking"), its lease then.
        raise OdaValidationError("%s has no MAC address, so it cannot get a DHCP lease" % where)
    try:
        hostname = validate.hostname(_text(host.get("hostname")) or node)
    except OdaValidationError as error:
        raise OdaValidationError("node %s: %s" % (node, error)) from None
    # A node's first NIC on the network carries its name; others get name-NIC.
    dns_name = hostname if index == 0 else "%s-%s" % (hostname, validate.hostname(nic_name.replace("_", "-")))
    host_domain = domain or (_text(host.get("domain")) or None)
    return {
        "node": node,
        "hostname": dns_name,
        "fqdn": "%s.%s" % (dns_name, host_domain) if host_domain else dns_name,
        "nic": nic_name,
        "primary": index == 0,
        "mac": mac or None,
        "ip": ip,
        "head": is_head,
    }


def _refuse_duplicates(records, key, what, network_name):
    """Two different nodes with one value of key: OdaValidationError naming both."""
    holders = {}
    for record in records:
        value = record[key]
        if value is None:
            continue
        value = value.lower()
        other = holders.get(value)
        if other is not None and other != record["node"]:
            raise OdaValidationError(
                "nodes %s and %s have the same %s %s on network '%s'"
                % (other, record["node"], what, record[key], network_name)
            )
        if other is not None:
            raise OdaValidationError(
                "node %s has the %s %s twice on network '%s'"
                % (record["node"], what, record[key], network_name)
            )
        holders[value] = record["node"]


def network_hosts(hosts, network, head):
    """Every NIC of hosts on network, as [{node, hostname, fqdn, nic, primary, mac, ip, head}], checked.

    hosts is a list of {name, hostname, domain, nics: [{name, mac, ip, network}], boot_action},
    as the oscar.cluster.oda inventory describes each host (oda_hostname, oda_domain, oda_nics,
    oda_boot_action);
    network is {name, cidr, domain} as ODA stores it; head is the name of the host that
    serves the network.  The head's address must lie in the network; every other host
    needs an address on it, and a MAC unless it waits to be installed (boot_action
    install); names, MACs and addresses are each used once.
    A node's first NIC on the network is its primary one, which carries the node's name.
    Entries come in natural order of the nodes' names (node2 before node10), the head first.
    """
    checked_network = _network(network)
    network_name = checked_network[0]
    head = _text(head)
    if not isinstance(hosts, list):
        raise OdaValidationError("the hosts must be a list; got %r" % (hosts,))
    names = []
    for host in hosts:
        if not isinstance(host, dict) or not _text(host.get("name")):
            raise OdaValidationError("every host needs a name; got %r" % (host,))
        names.append(_text(host["name"]))
    if head not in names:
        raise OdaValidationError(
            "the head %s is not among the hosts (%s)" % (head or "''", nodeset.fold(names))
        )
    repeated = sorted(set(name for name in names if names.count(name) > 1), key=nodeset.natural_key)
    if repeated:
        raise OdaValidationError("node %s is listed twice" % repeated[0])
    records = []
    ordered = sorted(
        hosts, key=lambda host: (_text(host["name"]) != head, nodeset.natural_key(_text(host["name"])))
    )
    for given in ordered:
        host = dict(given, name=_text(given["name"]))
        is_head = host["name"] == head
        nics = _nics_on(host, network_name)
        if not nics:
            if is_head:
                raise OdaValidationError(
                    "network '%s' (%s) does not contain the head %s: it has no NIC on it"
                    % (network_name, checked_network[1], head)
                )
            raise OdaValidationError(
                "node %s has no NIC on network '%s', so it has no MAC or IP address there"
                % (host["name"], network_name)
            )
        for index, nic in enumerate(nics):
            records.append(_record(host, nic, index, checked_network, is_head))
    _refuse_duplicates(records, "hostname", "name", network_name)
    _refuse_duplicates(records, "mac", "MAC", network_name)
    _refuse_duplicates(records, "ip", "address", network_name)
    return records


def find_network(networks, name):
    """The IPv4 network called name among networks (as oda_networks lists them), or OdaValidationError."""
    if not isinstance(networks, list):
        raise OdaValidationError(
            "the networks must be a list, as oda_networks gives them; got %r" % (networks,)
        )
    found = [network for network in networks if isinstance(network, dict) and network.get("name") == name]
    if len(found) != 1 or ":" in _text(found[0].get("cidr")):
        known = [_text(network.get("name")) for network in networks if isinstance(network, dict)]
        raise OdaValidationError(
            "network %s is not an IPv4 network in ODA; ODA has %s"
            % (_text(name) or "''", ", ".join(known) or "no network")
        )
    return found[0]


def host_table(hostvars, names, networks, network_name, head):
    """network_hosts for the inventory hosts names on the network called network_name of networks.

    Each host is read from hostvars as the oscar.cluster.oda inventory describes it
    (oda_hostname, oda_domain, oda_nics); networks is the list oda_networks holds.
    """
    network = find_network(plain(networks), network_name)
    hosts = []
    for name in names:
        if name not in hostvars:
            raise OdaValidationError("host %s is not in the inventory" % name)
        host = hostvars[name]
        hosts.append(
            {
                "name": name,
                "hostname": plain(host.get("oda_hostname")) or name,
                "domain": plain(host.get("oda_domain")),
                "nics": plain(host.get("oda_nics")) or [],
                "boot_action": plain(host.get("oda_boot_action")),
            }
        )
    return network_hosts(hosts, network, head)

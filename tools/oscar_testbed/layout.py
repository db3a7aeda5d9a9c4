"""The address plan of a testbed: pure data, no side effects.

Every testbed takes one *slot*, a number that places its two networks in
address space no other testbed uses:

    public   10.210.<slot>.0/24   head .10, standby .11, host gateway .254
    private  10.211.<slot>.0/24   head .1,  standby .2,  nodeNNN .(10+N),
                                  host gateway .254

.3 to .9 on both networks stay free for service addresses (a floating head
address, for instance).  A host's MAC address is 02:00 followed by its IPv4
address in hex: locally administered, unique across testbeds because the
addresses are, and readable back into the address it belongs to.
"""

import ipaddress
import re
from dataclasses import dataclass, field

from oscar_testbed.errors import CapacityError, TestbedError

MAX_SLOTS = 256
PUBLIC_PREFIX = "10.210"
PRIVATE_PREFIX = "10.211"
GATEWAY_HOST = 254
FIRST_COMPUTE_HOST = 11
# .11 .. .253: the compute nodes' range on the private /24.
MAX_COMPUTE_NODES = GATEWAY_HOST - FIRST_COMPUTE_HOST

HEAD = "head"
STANDBY = "standby"
COMPUTE = "compute"

NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,23}")


def validate_name(name):
    """A testbed name becomes part of container and network names."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise TestbedError(
            f"invalid testbed name '{name}': use 1-24 lower-case letters, digits or '-', "
            "starting with a letter"
        )
    return name


def mac_for(ip):
    """The MAC address the plan gives to an interface holding ``ip``."""
    octets = ipaddress.IPv4Address(ip).packed
    return "02:00:" + ":".join(f"{byte:02x}" for byte in octets)


def compute_name(index, width=3):
    """Name of compute node number ``index`` (1-based): node001, node002..."""
    return f"node{index:0{width}d}"


@dataclass(frozen=True)
class Network:
    """One podman network of the testbed."""

    role: str  # "public" or "private"
    name: str  # podman network name
    subnet: str
    gateway: str
    internal: bool

    @property
    def prefixlen(self):
        return ipaddress.ip_network(self.subnet).prefixlen


@dataclass(frozen=True)
class Interface:
    """One host's attachment to one network."""

    network: str  # network role: "public" or "private"
    ip: str
    mac: str


@dataclass(frozen=True)
class Host:
    """One test host: a container with systemd and sshd."""

    name: str  # host name inside the cluster, also the inventory name
    container: str  # podman container name, unique across testbeds
    role: str  # head, standby or compute
    interfaces: tuple = field(default_factory=tuple)

    def interface(self, network_role):
        for iface in self.interfaces:
            if iface.network == network_role:
                return iface
        return None

    @property
    def management_ip(self):
        """Where the controller reaches the host: public if it has one, else private."""
        iface = self.interface("public") or self.interface("private")
        return iface.ip


@dataclass(frozen=True)
class Plan:
    """Everything that defines a testbed before it exists."""

    name: str
    slot: int
    compute_nodes: int
    standby: bool
    route_out: bool
    networks: tuple
    hosts: tuple

    def host(self, name):
        for host in self.hosts:
            if name in (host.name, host.container):
                return host
        return None

    def network(self, role):
        for network in self.networks:
            if network.role == role:
                return network
        raise KeyError(role)

    def to_dict(self):
        return {
            "name": self.name,
            "slot": self.slot,
            "compute_nodes": self.compute_nodes,
            "standby": self.standby,
            "route_out": self.route_out,
        }


def subnets_for_slot(slot):
    """The (public, private) subnets of a slot."""
    if not 0 <= slot < MAX_SLOTS:
        raise CapacityError(f"slot {slot} is outside 0-{MAX_SLOTS - 1}")
    return f"{PUBLIC_PREFIX}.{slot}.0/24", f"{PRIVATE_PREFIX}.{slot}.0/24"


def make_plan(name, slot, compute_nodes, standby=False, route_out=False):
    """Compute the networks and hosts of a testbed."""
    validate_name(name)
    if compute_nodes < 0:
        raise CapacityError(f"node count must not be negative (got {compute_nodes})")
    if compute_nodes > MAX_COMPUTE_NODES:
        raise CapacityError(
            f"{compute_nodes} compute nodes do not fit the testbed's private /24 network "
            f"(at most {MAX_COMPUTE_NODES})"
        )
    public_subnet, private_subnet = subnets_for_slot(slot)
    public_base = public_subnet.rsplit(".", 2)[0] + f".{slot}"
    private_base = private_subnet.rsplit(".", 2)[0] + f".{slot}"
    networks = (
        Network("public", f"{name}-public", public_subnet, f"{public_base}.{GATEWAY_HOST}", False),
        # The private network has no route out unless asked for, like a real
        # cluster's: nodes reach the outside through the head.
        Network(
            "private",
            f"{name}-private",
            private_subnet,
            f"{private_base}.{GATEWAY_HOST}",
            not route_out,
        ),
    )

    def iface(role, base, host_number):
        ip = f"{base}.{host_number}"
        return Interface(role, ip, mac_for(ip))

    hosts = [
        Host(
            HEAD,
            f"{name}-{HEAD}",
            HEAD,
            (iface("public", public_base, 10), iface("private", private_base, 1)),
        )
    ]
    if standby:
        hosts.append(
            Host(
                STANDBY,
                f"{name}-{STANDBY}",
                STANDBY,
                (iface("public", public_base, 11), iface("private", private_base, 2)),
            )
        )
    for index in range(1, compute_nodes + 1):
        node = compute_name(index)
        hosts.append(
            Host(
                node,
                f"{name}-{node}",
                COMPUTE,
                (iface("private", private_base, FIRST_COMPUTE_HOST + index - 1),),
            )
        )
    return Plan(name, slot, compute_nodes, standby, route_out, networks, tuple(hosts))

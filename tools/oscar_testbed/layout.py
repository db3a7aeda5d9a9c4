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

Virtual machines (``up --vms N``) follow the compute containers: their names
continue the nodeNNN numbering and their addresses the compute range.  They
are blank machines that boot from the network; the address is the one the
cluster is expected to give them, not one the testbed sets.  Their MAC is
QEMU's prefix 52:54:00 followed by the last three bytes of that address
(d3 for 211, the slot, the host number): unique across testbeds as well, and
apart from the containers' 02:00 addresses.
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
VM = "vm"
# A tap device's name is at most 15 characters (IFNAMSIZ less the NUL).
MAX_INTERFACE_NAME = 15

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


def vm_mac_for(ip):
    """The MAC of the virtual machine expected at ``ip``: QEMU's prefix and the address's last 3 bytes."""
    octets = ipaddress.IPv4Address(ip).packed[1:]
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in octets)


def tap_name(slot, node_name):
    """The tap device of a virtual machine: unique across testbeds because slots are."""
    name = f"otb{slot}-{node_name}"
    if len(name) > MAX_INTERFACE_NAME:
        raise CapacityError(f"tap device name '{name}' is longer than {MAX_INTERFACE_NAME} characters")
    return name


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
class VirtualMachine:
    """One blank QEMU machine on the private network, booting from it.

    interface holds the address the cluster is expected to give it (its DHCP
    server does; nothing in the testbed sets it) and its fixed MAC.
    """

    name: str  # the node name the cluster will give it: nodeNNN
    qemu_name: str  # QEMU's -name, unique across testbeds: <testbed>-<name>
    tap: str  # its tap device on the private network's bridge
    interface: Interface
    role: str = VM

    @property
    def ip(self):
        return self.interface.ip

    @property
    def mac(self):
        return self.interface.mac


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
    # Virtual machines are no hosts of the testbed's inventory: the cluster
    # defines them (from their MACs) when they first boot.
    vms: tuple = ()
    vm_disk_size: str = "8G"

    def host(self, name):
        for host in self.hosts:
            if name in (host.name, host.container):
                return host
        return None

    def vm(self, name):
        for machine in self.vms:
            if name in (machine.name, machine.qemu_name):
                return machine
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
            "vms": len(self.vms),
            "vm_disk_size": self.vm_disk_size,
        }


def subnets_for_slot(slot):
    """The (public, private) subnets of a slot."""
    if not 0 <= slot < MAX_SLOTS:
        raise CapacityError(f"slot {slot} is outside 0-{MAX_SLOTS - 1}")
    return f"{PUBLIC_PREFIX}.{slot}.0/24", f"{PRIVATE_PREFIX}.{slot}.0/24"


DISK_SIZE_PATTERN = re.compile(r"[1-9][0-9]*[MGT]")


def validate_disk_size(size):
    """A qemu-img size: a positive number of MiB, GiB or TiB (512M, 8G, 1T)."""
    if not DISK_SIZE_PATTERN.fullmatch(str(size or "")):
        raise TestbedError(f"invalid disk size '{size}': use a whole number with M, G or T (8G, 512M)")
    return size


def make_plan(name, slot, compute_nodes, standby=False, route_out=False, *, vms=0, vm_disk_size="8G"):
    """Compute the networks, hosts and virtual machines of a testbed."""
    validate_name(name)
    validate_disk_size(vm_disk_size)
    if compute_nodes < 0:
        raise CapacityError(f"node count must not be negative (got {compute_nodes})")
    if vms < 0:
        raise CapacityError(f"virtual machine count must not be negative (got {vms})")
    if compute_nodes + vms > MAX_COMPUTE_NODES:
        raise CapacityError(
            f"{compute_nodes} compute nodes and {vms} virtual machines do not fit the testbed's "
            f"private /24 network (at most {MAX_COMPUTE_NODES} together)"
            if vms
            else f"{compute_nodes} compute nodes do not fit the testbed's private /24 network "
            f"(at most {MAX_COMPUTE_NODES})"
        )
    if vms and route_out:
        # A virtual machine is a real machine booting from whatever answers on
        # its network; on a private network with a route out its traffic could
        # leave this machine.  It stays on the testbed's own bridge.
        raise TestbedError("virtual machines need the private network without a route out (no --route-out)")
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
    machines = []
    for index in range(compute_nodes + 1, compute_nodes + vms + 1):
        node = compute_name(index)
        ip = f"{private_base}.{FIRST_COMPUTE_HOST + index - 1}"
        machines.append(
            VirtualMachine(
                node, f"{name}-{node}", tap_name(slot, node), Interface("private", ip, vm_mac_for(ip))
            )
        )
    return Plan(
        name,
        slot,
        compute_nodes,
        standby,
        route_out,
        networks,
        tuple(hosts),
        vms=tuple(machines),
        vm_disk_size=vm_disk_size,
    )

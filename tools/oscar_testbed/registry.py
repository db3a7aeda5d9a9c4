"""The testbed's hosts in ODA, the cluster database: what `oscar_inventory` reads.

`testbed up` registers the networks and hosts it made, with the variables
Ansible needs to reach them (user, key, SSH configuration), so playbooks run
with `-i oscar_inventory` and nothing else.  `testbed down` takes them out
again.  Every write goes through the collection's own ODA library, the one the
modules, the inventory plugin and the `oda` command use.
"""

import os
from urllib.parse import urlsplit, urlunsplit

from oscar_cluster.module_utils import oda_db
from oscar_cluster.module_utils.oda import Oda
from oscar_cluster.module_utils.oda_errors import OdaError

from . import layout
from .errors import RegistryError

CLUSTER = "oscar"
STANDBY_GROUP = "oscar_standby"
GROUP_OF_ROLE = {layout.HEAD: "oscar_server", layout.STANDBY: STANDBY_GROUP, layout.COMPUTE: "oscar_clients"}
# The private network's DNS domain, as the head will serve it.
PRIVATE_DOMAIN = "cluster"
# Cluster variables the testbed owns; `down` removes exactly these.
CLUSTER_VARIABLES = (
    "ansible_user",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_control_path_dir",
    "ansible_python_interpreter",
    "oscar_testbed_name",
    "oscar_testbed_networks",
)


# Where the head sees the directory of the controller's SQLite ODA, mounted
# read-write: the boot service on the head writes install stages into ODA.
HEAD_ODA_DIR = "/var/lib/oscar-oda"
# The head's variable naming that database as the head reaches it.
HEAD_ODA_VARIABLE = "network_boot_oda_url"


def own_url(directory):
    """The database a testbed keeps in its state directory, removed with it.

    In a directory of its own: the head mounts the directory of an SQLite
    ODA, which must not be the one holding the testbed's SSH key.
    """
    return "sqlite:%s" % os.path.join(directory, "oda", "oda.db")


def sqlite_directory(url):
    """The directory of an SQLite ODA's file (absolute), or None for a server URL or no URL."""
    if not url:
        return None
    try:
        dialect, params = oda_db.parse_url(url)
    except OdaError as error:
        raise RegistryError("ODA URL %s: %s" % (oda_db.mask_url(url), error)) from None
    if dialect != "sqlite":
        return None
    return os.path.dirname(os.path.abspath(params["path"]))


def head_oda_url(url):
    """ODA's URL as the head reaches it: an SQLite file through HEAD_ODA_DIR, a server's URL itself.

    A password in a server's URL is left out: the URL is written into the
    inventory and ODA's variables, where no secret belongs.
    """
    if sqlite_directory(url) is None:
        if url and "@" in url:
            parts = urlsplit(url)
            if parts.password is not None:
                netloc = "%s@%s" % (parts.username, parts.netloc.rpartition("@")[2])
                return urlunsplit(parts._replace(netloc=netloc))
        return url
    return "sqlite:%s/%s" % (HEAD_ODA_DIR, os.path.basename(oda_db.parse_url(url)[1]["path"]))


def host_variables(plan, host_plan, head_url=None):
    """The testbed's variables of one host, as the inventory file and ODA hold them."""
    variables = {
        "oscar_testbed_role": host_plan.role,
        "oscar_testbed_container": host_plan.container,
        "oscar_testbed_interfaces": interfaces_of(plan, host_plan),
    }
    if host_plan.role == layout.HEAD and head_url:
        variables[HEAD_ODA_VARIABLE] = head_url
    return variables


def default_url(directory):
    """ODA of a testbed: $OSCAR_ODA_URL when set, else a database of its own in its state directory."""
    return oda_db.resolve(default=own_url(directory))[0]


def interfaces_of(plan, host_plan):
    """The host's interfaces by network role: device, ip, mac, prefix, network."""
    interfaces = {}
    for position, iface in enumerate(host_plan.interfaces):
        network = plan.network(iface.network)
        interfaces[iface.network] = {
            # podman names interfaces in the order networks are given.
            "device": "eth%d" % position,
            "ip": iface.ip,
            "mac": iface.mac,
            "prefix": network.prefixlen,
            "network": network.subnet,
        }
    return interfaces


def cluster_variables(plan, access):
    """What every host needs to be reached: access holds key_file, ssh_config_file, control_dir."""
    variables = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": access["key_file"],
        "ansible_ssh_common_args": "-F %s" % access["ssh_config_file"],
        "ansible_control_path_dir": access["control_dir"],
        "ansible_python_interpreter": "/usr/bin/python3",
        "oscar_testbed_name": plan.name,
        "oscar_testbed_networks": {
            n.role: {"subnet": n.subnet, "gateway": n.gateway, "internal": n.internal} for n in plan.networks
        },
    }
    if plan.vms and access.get("public_key"):
        # Machines the head installs let the testbed's key in, as they let the head's.
        variables["network_boot_authorized_keys"] = [access["public_key"]]
    return variables


def _open(url):
    try:
        return Oda.open(*oda_db.resolve(url))
    except OdaError as error:
        raise RegistryError("ODA at %s: %s" % (oda_db.mask_url(url), error)) from None


def register(url, plan, access, head_oda_url=None):
    """Write the testbed's networks, hosts and access variables into ODA, all or nothing.

    head_oda_url: ODA as the head reaches it (HEAD_ODA_VARIABLE on the head).
    The testbed's virtual machines are not written: they are blank machines
    the cluster defines when they boot.
    """
    oda = _open(url)
    try:
        with oda.db.transaction():
            for network in plan.networks:
                oda.networks.ensure(
                    network.role,
                    network.subnet,
                    gateway=network.gateway,
                    domain=PRIVATE_DOMAIN if network.role == "private" else None,
                    cluster=CLUSTER,
                )
            if plan.standby:
                oda.groups.ensure(STANDBY_GROUP, description="the standby head node")
            for host_plan in plan.hosts:
                interfaces = interfaces_of(plan, host_plan)
                nics = [
                    {"name": nic["device"], "mac": nic["mac"], "ip": nic["ip"], "network": role}
                    for role, nic in interfaces.items()
                ]
                oda.nodes.ensure(
                    host_plan.name,
                    groups=[GROUP_OF_ROLE[host_plan.role]],
                    nics=nics,
                    state="up",
                    cluster=CLUSTER,
                )
                oda.variables.set(
                    "node", host_plan.name, host_variables(plan, host_plan, head_oda_url), replace=True
                )
            oda.variables.set("cluster", CLUSTER, cluster_variables(plan, access))
    except OdaError as error:
        raise RegistryError("cannot register testbed '%s' in ODA: %s" % (plan.name, error)) from None
    finally:
        oda.close()


def unregister(url, plan):
    """Remove the testbed's hosts, its networks once unused, and the variables it set."""
    oda = _open(url)
    try:
        with oda.db.transaction():
            for host_plan in plan.hosts:
                oda.nodes.remove(host_plan.name)
            for network in plan.networks:
                if oda.networks.get(network.role) is not None and not _network_in_use(oda, network.role):
                    oda.networks.remove(network.role)
            oda.variables.set("cluster", CLUSTER, dict.fromkeys(CLUSTER_VARIABLES))
    except OdaError as error:
        raise RegistryError("cannot remove testbed '%s' from ODA: %s" % (plan.name, error)) from None
    finally:
        oda.close()


def _network_in_use(oda, name):
    return any(nic["network"] == name for node in oda.nodes.list() for nic in node["nics"])

"""The nodes and how to reach them: from ODA itself, or from Ansible's inventory machinery.

The sources: ``--inventory``, else $OSCAR_C3_INVENTORY, else ``oscar_inventory``
in the working directory (a clone of the collection), all read by ansible-core;
else ODA at its URL (oda_db.resolve), read directly through the inventory
plugin's own rules (module_utils/oda_inventory.py): a head node needs no
ansible-core for ``cexec hostname``.

Loading an inventory through ansible-core costs about half a second of CPU
before the first SSH packet, more than a warm run of a whole command.  The
answer is therefore cached per user, keyed by the sources, and checked on every
run against a fingerprint of everything it was made from: the source files,
group_vars/host_vars, ansible.cfg, the ANSIBLE_* and OSCAR_ODA_* environment,
and the ODA database file itself.  An ODA on a database server has no file to
look at; its answer is reused for SERVER_CACHE_SECONDS at most.  ``--refresh``
skips the cache.
"""

import hashlib
import json
import os
import shlex
import time

from oscar_cluster.module_utils import nodeset, oda_db, oda_inventory
from oscar_cluster.module_utils.oda_errors import OdaError

from . import ranges, sshconfig
from .model import C3Error, Cluster, Host, Inventory
from .paths import cache_dir

# The working directory's, as `ansible-playbook -i oscar_inventory` reads it.
DEFAULT_SOURCE = "oscar_inventory"
SOURCE_ENV = "OSCAR_C3_INVENTORY"
SERVER_CACHE_SECONDS = 30
CLUSTER_PREFIX = oda_inventory.CLUSTER_PREFIX
HEAD_GROUPS = ("oscar_server",)
STANDBY_GROUPS = ("oscar_standby",)
DEAD_GROUP = oda_inventory.DEAD_GROUP
EXCLUDED_GROUP = oda_inventory.EXCLUDED_GROUP
# Ansible's connection variables that decide how a host is reached.
_CONNECTION_VARS = (
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "ansible_connection",
)


# ---- connection settings from ssh arguments -------------------------------


def _port(name, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise C3Error("host '%s': port '%s' is not a number" % (name, value)) from None


def _read_ssh_words(name, words):
    """(config files, key files, options) from ssh arguments: -F, -i, -p and -l, and -o Key=Value."""
    configs, keys, options = [], [], {}
    position = 0
    while position < len(words):
        word = words[position]
        flag, attached = word[:2], word[2:]
        position += 1
        if flag not in ("-F", "-i", "-p", "-l", "-o"):
            continue
        if attached:
            value = attached
        elif position < len(words):
            value = words[position]
            position += 1
        else:
            raise C3Error("host '%s': ssh option %s has no value" % (name, flag))
        if flag == "-F":
            configs.append(os.path.expanduser(value))
        elif flag == "-i":
            keys.append(os.path.expanduser(value))
        elif flag in ("-p", "-l"):
            options["port" if flag == "-p" else "user"] = value
        else:
            key, _blank, option_value = value.replace("=", " ", 1).partition(" ")
            options[key.strip().lower()] = option_value.strip()
    return configs, keys, options


def host_from_vars(name, hostvars, default_ssh_args=""):
    """A Host from a host's Ansible variables, reading -F, -i, -p, -l and -o options of its ssh arguments."""
    connection = hostvars.get("ansible_connection") or "ssh"
    if connection not in ("ssh", "smart", "paramiko", "paramiko_ssh"):
        raise C3Error(
            "host '%s' uses ansible_connection=%s; the C3 commands reach hosts over SSH only"
            % (name, connection)
        )
    host = Host(name=name, address=str(hostvars.get("ansible_host") or name))
    args = " ".join(
        str(hostvars.get(var) or "")
        for var in ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")
    )
    if not hostvars.get("ansible_ssh_args"):
        args = default_ssh_args + " " + args
    try:
        words = shlex.split(args)
    except ValueError as error:
        raise C3Error("host '%s': cannot read its ssh arguments: %s" % (name, error)) from None
    host.config, host.keys, options = _read_ssh_words(name, words)
    if host.config:
        _apply_ssh_config(name, host)
    if options.get("identityfile"):
        options["identityfile"] = [os.path.expanduser(options["identityfile"])]
    _apply_settings(name, host, options)
    # Ansible's own variables win over ssh arguments, as with ansible-playbook.
    if hostvars.get("ansible_port"):
        host.port = _port(name, hostvars["ansible_port"])
    if hostvars.get("ansible_user"):
        host.user = str(hostvars["ansible_user"])
    if hostvars.get("ansible_ssh_private_key_file"):
        host.keys.insert(0, os.path.expanduser(str(hostvars["ansible_ssh_private_key_file"])))
    return host


def _apply_ssh_config(name, host):
    """Take the host's settings from its -F files now, so that connecting parses nothing.

    OpenSSH's precedence holds: what the command line gives (-i, -p, -l, -o,
    applied after this) and Ansible's own variables win over the files.
    """
    resolved = sshconfig.resolve(host.config, host.address)
    if resolved is None:
        return  # asyncssh reads the files itself at connection time
    host.resolved = True
    host.address = resolved.get("hostname", host.address)
    _apply_settings(name, host, resolved)


def _apply_settings(name, host, settings):
    """Apply OpenSSH settings (lower-case keywords) to a host, from -o options or from ssh_config files."""
    if settings.get("port"):
        host.port = _port(name, settings["port"])
    if settings.get("user"):
        host.user = settings["user"]
    host.keys = host.keys + [key for key in settings.get("identityfile", ()) if key not in host.keys]
    if settings.get("userknownhostsfile"):
        host.known_hosts = [os.path.expanduser(p) for p in settings["userknownhostsfile"].split()]
    if settings.get("stricthostkeychecking", "").lower() in ("no", "off", "false"):
        host.check_host_keys = False
    if settings.get("kexalgorithms"):
        host.kex = settings["kexalgorithms"]
    if settings.get("ciphers"):
        host.ciphers = settings["ciphers"]
    if settings.get("connecttimeout"):
        host.connect_timeout = float(settings["connecttimeout"])


# ---- clusters from groups ---------------------------------------------------


def clusters_from_groups(groups, hostvars):
    """C3 clusters from the inventory's groups: cluster_<name>, with the head from oscar_server."""

    def roles(host, group_names):
        oda_groups = hostvars.get(host, {}).get("oda_groups")
        return set(oda_groups) if oda_groups else set(g for g in group_names if host in groups.get(g, ()))

    cluster_groups = sorted(g for g in groups if g.startswith(CLUSTER_PREFIX))
    if not cluster_groups:
        members = {"default": list(groups.get("all", []))}
    else:
        members = {g[len(CLUSTER_PREFIX) :]: list(groups[g]) for g in cluster_groups}
    dead = set(groups.get(DEAD_GROUP, ()))
    excluded = set(groups.get(EXCLUDED_GROUP, ()))
    special = HEAD_GROUPS + STANDBY_GROUPS
    clusters = {}
    for name, hosts in members.items():
        heads, nodes = [], []
        for host in sorted(hosts, key=nodeset.natural_key):
            host_roles = roles(host, special)
            if host_roles & set(HEAD_GROUPS):
                heads.append(host)
            elif host_roles & set(STANDBY_GROUPS):
                continue
            else:
                state = ranges.DEAD if host in dead else ranges.EXCLUDED if host in excluded else ranges.UP
                nodes.append((host, state))
        clusters[name] = Cluster(name=name, head=heads[0] if heads else None, nodes=nodes)
    return clusters


# ---- the cache ---------------------------------------------------------------


def _stat_entries(path, depth=2):
    """(path, mtime, size) of a file, or of a directory's files to a small depth."""
    entries = []
    try:
        info = os.stat(path)
    except OSError:
        return [(path, None)]
    entries.append((path, info.st_mtime_ns, info.st_size))
    if os.path.isdir(path) and depth > 0:
        for child in sorted(os.listdir(path)):
            entries += _stat_entries(os.path.join(path, child), depth - 1)
    return entries


def _oda_url_of(source):
    """The ODA URL an oscar.cluster.oda source reads, or None for other sources."""
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read(65536)
    except (OSError, UnicodeDecodeError):
        return None
    if "oscar.cluster.oda" not in text:
        return None
    config = {}
    if "database" in text:
        # Only then is there anything to read: importing yaml takes about 20 ms, a tenth of a warm run.
        import yaml  # noqa: PLC0415

        try:
            config = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            return None
    return oda_db.resolve((isinstance(config, dict) and config.get("database")) or None)[0]


def _database_entries(url):
    """What tells that an ODA has changed: its SQLite files' stamps, or the time for a server."""
    try:
        dialect, params = oda_db.parse_url(url)
    except OdaError:
        return [("unreadable", url)]  # reading it says why
    if dialect == "sqlite":
        return _stat_entries(params["path"]) + _stat_entries(params["path"] + "-wal")
    return [("server", url, int(time.time() // SERVER_CACHE_SECONDS))]


def fingerprint(sources, oda_url=None):
    """A digest of everything the inventory's answer depends on; no secret is stored, only the digest.

    oda_url: the ODA read directly, when there is no source.
    """
    parts = _database_entries(oda_url) if oda_url else []
    places = {os.getcwd()}
    for source in sources:
        parts += _stat_entries(source)
        places.add(source if os.path.isdir(source) else os.path.dirname(source))
        url = _oda_url_of(source)
        if url:
            parts += _database_entries(url)
    for place in sorted(places):
        parts += _stat_entries(os.path.join(place, "group_vars")) + _stat_entries(
            os.path.join(place, "host_vars")
        )
    for config in (
        os.environ.get("ANSIBLE_CONFIG", ""),
        os.path.join(os.getcwd(), "ansible.cfg"),
        os.path.expanduser("~/.ansible.cfg"),
        "/etc/ansible/ansible.cfg",
    ):
        if config:
            parts += _stat_entries(config, depth=0)
    parts += sorted((k, v) for k, v in os.environ.items() if k.startswith(("ANSIBLE_", "OSCAR_ODA_")))
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _cache_file(sources):
    key = hashlib.sha256(json.dumps([os.getcwd(), sources]).encode()).hexdigest()[:24]
    return os.path.join(cache_dir(), "inventory-%s.json" % key)


def _read_cache(path, digest):
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
    except (OSError, ValueError):
        return None
    if stored.get("fingerprint") != digest:
        return None
    inventory = Inventory.from_dict(stored["inventory"])
    # Hosts hold settings resolved from ssh_config files: those files must not have changed.
    if stored.get("ssh_configs") != sshconfig.file_stats(_ssh_configs(inventory)):
        return None
    return inventory


def _ssh_configs(inventory):
    return [path for host in inventory.hosts.values() for path in host.config]


def _write_cache(path, digest, inventory):
    import tempfile  # noqa: PLC0415 (only when the cache is written: a run that reads it never pays)

    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # A cache that cannot be written only costs the next run a reload.
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".inventory-", delete=False, encoding="utf-8"
    ) as handle:
        json.dump(
            {
                "fingerprint": digest,
                "ssh_configs": sshconfig.file_stats(_ssh_configs(inventory)),
                "inventory": inventory.to_dict(),
            },
            handle,
        )
    try:
        os.replace(handle.name, path)
    except OSError:
        os.unlink(handle.name)


# ---- loading -----------------------------------------------------------------


def default_sources():
    """$OSCAR_C3_INVENTORY, else ./oscar_inventory when there is one, else none: ODA is read directly."""
    source = os.environ.get(SOURCE_ENV)
    if source:
        return [source]
    return [DEFAULT_SOURCE] if os.path.exists(DEFAULT_SOURCE) else []


def oda_found():
    """Whether the ODA read without a source has a database: a server's URL, or an SQLite file."""
    url = oda_db.resolve()[0]
    try:
        dialect, params = oda_db.parse_url(url)
    except OdaError:
        return True  # reading it says what is wrong
    return dialect != "sqlite" or os.path.exists(params["path"])


def load(sources=None, refresh=False):
    """The Inventory of Ansible inventory sources, else of ODA itself (see above), cached while valid."""
    sources = [os.path.abspath(s) if os.path.exists(s) else s for s in (sources or default_sources())]
    for source in sources:
        if not os.path.exists(source) and "," not in source:
            raise C3Error("inventory source %s does not exist" % source)
    url, password = oda_db.resolve() if not sources else (None, None)
    digest = fingerprint(sources, oda_url=url)
    path = _cache_file(sources or ["oda", url])
    if not refresh:
        cached = _read_cache(path, digest)
        if cached is not None:
            return cached
    inventory = _load_with_ansible(sources) if sources else _load_from_oda(url, password)
    _write_cache(path, digest, inventory)
    return inventory


def _inventory(source, groups, hostvars, hosts):
    """The Inventory of hosts, their groups and the variables C3 reads ({host: {name: value}})."""
    groups = {name: sorted(members, key=nodeset.natural_key) for name, members in groups.items()}
    groups["all"] = sorted(hosts, key=nodeset.natural_key)
    return Inventory(
        source=source, clusters=clusters_from_groups(groups, hostvars), hosts=hosts, groups=groups
    )


def _load_from_oda(url, password):
    """ODA's nodes as the inventory plugin makes them hosts, without ansible-core: nothing is templated."""
    shown = oda_db.mask_url(url)
    try:
        snapshot = oda_inventory.read_snapshot(url, password=password)
    except OdaError as error:
        raise C3Error("cannot read the nodes from ODA (%s): %s" % (shown, error)) from None
    network = os.environ.get(oda_inventory.MANAGEMENT_NETWORK_ENV)
    groups = {name: [] for name in snapshot["groups"]}
    hostvars, hosts = {}, {}
    for name, (member_of, variables) in oda_inventory.hosts(snapshot, network).items():
        for group in member_of:
            groups.setdefault(group, []).append(name)
        hostvars[name] = {
            key: variables[key] for key in (*_CONNECTION_VARS, "oda_groups") if variables.get(key) is not None
        }
        hosts[name] = host_from_vars(name, hostvars[name])
    return _inventory("ODA " + shown, groups, hostvars, hosts)


def _load_with_ansible(sources):
    # ansible-core is imported here only: a cached run never pays for it.
    from ansible import constants as C  # noqa: PLC0415
    from ansible.errors import AnsibleError  # noqa: PLC0415
    from ansible.inventory.manager import InventoryManager  # noqa: PLC0415
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.plugins.loader import connection_loader, init_plugin_loader  # noqa: PLC0415
    from ansible.template import Templar  # noqa: PLC0415
    from ansible.vars.manager import VariableManager  # noqa: PLC0415

    init_plugin_loader()
    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=sources)
    except AnsibleError as error:
        raise C3Error("cannot read the inventory %s: %s" % (", ".join(sources), error)) from None
    variables = VariableManager(loader=loader, inventory=manager)
    connection_loader.get("ssh", class_only=True)
    default_ssh_args = (
        C.config.get_config_value("ssh_args", plugin_type="connection", plugin_name="ssh") or ""
    )
    hosts, hostvars = {}, {}
    for host in manager.get_hosts():
        values = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=values)
        wanted = {}
        for key in (*_CONNECTION_VARS, "oda_groups"):
            if values.get(key) is not None:
                try:
                    wanted[key] = templar.template(values[key])
                except AnsibleError as error:
                    raise C3Error("host '%s': cannot template %s: %s" % (host.name, key, error)) from None
        hostvars[host.name] = wanted
        hosts[host.name] = host_from_vars(host.name, wanted, default_ssh_args)
    groups = {name: [h.name for h in group.get_hosts()] for name, group in manager.groups.items()}
    return _inventory("inventory " + ", ".join(sources), groups, hostvars, hosts)

"""What the commands work on: clusters of nodes, and how to reach each host."""

from dataclasses import asdict, dataclass, field

from . import ranges


class C3Error(Exception):
    """A problem the user can fix; the command prints it and exits with EXIT_USAGE before running anything."""


@dataclass
class Host:
    """How to reach one host over SSH, as Ansible would (ansible_host, user, port, key, ssh arguments)."""

    name: str
    address: str
    port: int | None = None
    user: str | None = None
    keys: list = field(default_factory=list)
    config: list = field(default_factory=list)  # ssh_config files given with -F
    known_hosts: list = field(default_factory=list)  # UserKnownHostsFile given with -o
    check_host_keys: bool = True
    kex: str | None = None  # KexAlgorithms, OpenSSH's syntax
    ciphers: str | None = None  # Ciphers, OpenSSH's syntax
    connect_timeout: float | None = None
    resolved: bool = False  # the config files' settings are already in the fields above

    def with_user(self, user):
        """The same host, logged in as another user (C3's -l and user@cluster:)."""
        values = asdict(self)
        values["user"] = user
        return Host(**values)

    def pool_key(self):
        """Two hosts with the same key can share one SSH connection."""
        return (
            self.address,
            self.port,
            self.user,
            tuple(self.keys),
            tuple(self.config),
            tuple(self.known_hosts),
            self.check_host_keys,
            self.kex,
            self.ciphers,
        )

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        return cls(**values)


@dataclass
class Cluster:
    """A C3 cluster: a head node, and compute nodes whose list order gives C3's positions."""

    name: str
    head: str | None = None
    nodes: list = field(default_factory=list)  # [name, state] pairs, state up/dead/excluded
    indirect: bool = False

    def usable(self):
        return [name for name, state in self.nodes if state == ranges.UP]

    def to_dict(self):
        return {
            "name": self.name,
            "head": self.head,
            "nodes": [list(n) for n in self.nodes],
            "indirect": self.indirect,
        }

    @classmethod
    def from_dict(cls, values):
        return cls(values["name"], values["head"], [tuple(n) for n in values["nodes"]], values["indirect"])


@dataclass
class Inventory:
    """Clusters (the first is the default), hosts by name, and groups for @group in node sets."""

    source: str
    clusters: dict = field(default_factory=dict)
    hosts: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)

    def default_cluster(self):
        if not self.clusters:
            raise C3Error("%s defines no cluster" % self.source)
        return next(iter(self.clusters.values()))

    def cluster(self, name):
        if name is None:
            return self.default_cluster()
        try:
            return self.clusters[name]
        except KeyError:
            known = ", ".join(self.clusters) or "none"
            raise C3Error("unknown cluster '%s' in %s (known: %s)" % (name, self.source, known)) from None

    def host(self, name):
        try:
            return self.hosts[name]
        except KeyError:
            raise C3Error("unknown node '%s': %s has no such host" % (name, self.source)) from None

    def to_dict(self):
        return {
            "source": self.source,
            "clusters": [cluster.to_dict() for cluster in self.clusters.values()],
            "hosts": {name: host.to_dict() for name, host in self.hosts.items()},
            "groups": self.groups,
        }

    @classmethod
    def from_dict(cls, values):
        clusters = [Cluster.from_dict(c) for c in values["clusters"]]
        return cls(
            values["source"],
            {c.name: c for c in clusters},
            {name: Host.from_dict(h) for name, h in values["hosts"].items()},
            values["groups"],
        )

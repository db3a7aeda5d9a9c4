"""The oscar.cluster testbed: real test hosts for the collection's tests.

A testbed is a small cluster of podman containers running systemd as PID 1
and sshd, wired like an OSCAR cluster: a head node (and optionally a standby
head) on a public and a private network, compute nodes on the private
network only.  Ansible reaches every host over SSH with a key pair made for
that testbed, exactly as it reaches real nodes.

The same package serves molecule (create/destroy), the integration tests,
the benchmarks and the demo; ``python -m oscar_testbed --help`` lists its
verbs.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"

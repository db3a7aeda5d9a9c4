"""Typed errors of the testbed; only the CLI turns them into messages."""


class TestbedError(Exception):
    """Base class: something the user asked for cannot be done."""

    # Not a pytest test class, despite the name.
    __test__ = False

    exit_code = 1


class PrerequisiteError(TestbedError):
    """A program or system setting the testbed needs is missing and cannot be provided."""

    exit_code = 3


class CapacityError(TestbedError):
    """The machine or the address plan cannot hold the requested testbed."""

    exit_code = 4


class UnknownTestbedError(TestbedError):
    """No testbed of that name exists."""

    exit_code = 5


class UnknownHostError(TestbedError):
    """The testbed has no host of that name."""

    exit_code = 6


class TestbedExistsError(TestbedError):
    """A testbed of that name already exists."""

    exit_code = 7


class CommandError(TestbedError):
    """An external command (podman, debootstrap, ssh...) failed."""

    exit_code = 8

    def __init__(self, argv, returncode, stderr):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"{argv[0]} {' '.join(argv[1:3])}... exited {returncode}: {detail}")


class NotReadyError(TestbedError):
    """Hosts did not come up (systemd and sshd) within the time allowed."""

    exit_code = 9


class RegistryError(TestbedError):
    """The testbed's hosts could not be written to (or removed from) ODA."""

    exit_code = 10


class VmError(TestbedError):
    """A virtual machine cannot do what was asked (running already, no bridge, QMP failed...)."""

    exit_code = 11

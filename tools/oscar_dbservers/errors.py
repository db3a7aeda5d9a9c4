"""Typed errors of the database servers; only the CLI turns them into messages.

Missing programs and failed commands are the testbed's PrerequisiteError and
CommandError: both tools install and run things through the same code.
"""


class DbServerError(Exception):
    """Base class: something asked of a database server cannot be done."""

    exit_code = 1


class UnknownServerError(DbServerError):
    """No server of that name exists."""

    exit_code = 5


class ServerExistsError(DbServerError):
    """A server of that name already exists."""

    exit_code = 7


class ServerStartError(DbServerError):
    """A server did not start, or did not answer within the time allowed."""

    exit_code = 9

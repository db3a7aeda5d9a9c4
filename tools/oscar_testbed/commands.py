"""One wrapper for every external command the testbed runs.

argv is always a list (never a shell string), the locale is fixed so that
output can be parsed, and a failure raises CommandError with the command's
own error text.
"""

import os
import shutil
import subprocess

from oscar_testbed.errors import CommandError, PrerequisiteError

# Debian's podman 4.3 defaults to crun, which fails on this kind of machine
# ("cgroups in hybrid mode not supported"); runc works.  Passing it on every
# call leaves the machine's containers.conf alone.
PODMAN_GLOBAL_ARGS = ("--runtime", "runc")
EXTRA_PROGRAM_DIRS = "/usr/sbin:/sbin:/usr/lib/podman:/usr/libexec/podman"


def command_env(extra=None):
    """Environment for child processes: the caller's, with a fixed locale."""
    env = dict(os.environ)
    env["LANG"] = "C"
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def which(name):
    """Absolute path of a program, or None.

    sbin is often missing from a user's PATH, and podman keeps its helper
    programs (netavark) in its own directory, so those are searched as well;
    programs anywhere else must be on PATH.
    """
    return shutil.which(name) or shutil.which(name, path=EXTRA_PROGRAM_DIRS)


def find_program(name):
    """Absolute path of a program, or PrerequisiteError naming it."""
    path = which(name)
    if path is None:
        raise PrerequisiteError(f"required program '{name}' is not installed")
    return path


def run(argv, *, check=True, input_text=None, timeout=None, env=None):
    """Run argv and return the CompletedProcess (text mode, output captured)."""
    try:
        result = subprocess.run(
            argv,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=command_env(env),
            check=False,
        )
    except FileNotFoundError as exc:
        raise PrerequisiteError(f"required program '{argv[0]}' is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(argv, -1, f"timed out after {timeout} s") from exc
    if check and result.returncode != 0:
        raise CommandError(argv, result.returncode, result.stderr or result.stdout)
    return result


def podman(*args, check=True, input_text=None, timeout=None):
    """Run one podman command with the testbed's global options."""
    return run(
        [find_program("podman"), *PODMAN_GLOBAL_ARGS, *args],
        check=check,
        input_text=input_text,
        timeout=timeout,
    )


def pipe(producer_argv, consumer_argv, *, timeout=None):
    """Run ``producer | consumer``; raise CommandError for whichever failed."""
    env = command_env()
    # pylint: disable-next=consider-using-with
    producer = subprocess.Popen(producer_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        consumer = subprocess.run(
            consumer_argv,
            stdin=producer.stdout,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    finally:
        producer.stdout.close()
        producer_stderr = producer.stderr.read().decode(errors="replace")
        producer.stderr.close()
        producer_rc = producer.wait()
    if producer_rc != 0:
        raise CommandError(producer_argv, producer_rc, producer_stderr)
    if consumer.returncode != 0:
        raise CommandError(consumer_argv, consumer.returncode, consumer.stderr)
    return consumer

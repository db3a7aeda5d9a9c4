"""The typed errors and their exit codes."""

import inspect

import pytest

from oscar_testbed import errors

ERROR_CLASSES = [
    obj for _name, obj in inspect.getmembers(errors, inspect.isclass) if issubclass(obj, errors.TestbedError)
]


def test_the_module_defines_the_expected_error_classes():
    assert {cls.__name__ for cls in ERROR_CLASSES} == {
        "TestbedError",
        "PrerequisiteError",
        "CapacityError",
        "UnknownTestbedError",
        "UnknownHostError",
        "TestbedExistsError",
        "CommandError",
        "NotReadyError",
        "RegistryError",
        "VmError",
    }


def test_every_error_class_has_its_own_exit_code():
    codes = [cls.exit_code for cls in ERROR_CLASSES]
    assert len(set(codes)) == len(codes), codes


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_exit_code_is_non_zero_and_distinct_from_usage_and_interrupt(cls):
    assert isinstance(cls.exit_code, int)
    # 0 is success, 2 is argparse's usage error, 130 is an interrupt.
    assert cls.exit_code not in (0, 2, 130)
    assert 0 < cls.exit_code < 126


def test_command_error_names_the_program_its_status_and_the_last_stderr_line():
    exc = errors.CommandError(
        ["/usr/bin/podman", "network", "create", "--subnet", "10.210.0.0/24", "tb-public"],
        125,
        'time=... level=warning msg="cgroup"\nError: network name tb-public already used\n',
    )
    assert str(exc) == (
        "/usr/bin/podman network create... exited 125: Error: network name tb-public already used"
    )
    assert exc.argv[0] == "/usr/bin/podman"
    assert exc.returncode == 125
    assert "cgroup" in exc.stderr
    assert exc.exit_code == 8


@pytest.mark.parametrize("stderr", ["", "   \n\n"])
def test_command_error_without_error_output_says_so(stderr):
    exc = errors.CommandError(("ssh-keyscan", "-T", "10"), 1, stderr)
    assert str(exc).startswith("ssh-keyscan -T 10")
    assert str(exc).endswith("exited 1: no error output")
    assert exc.argv == ["ssh-keyscan", "-T", "10"]


def test_error_classes_are_not_collected_as_tests():
    assert errors.TestbedError.__test__ is False

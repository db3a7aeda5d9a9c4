"""The machine holds a full-size testbed: 1 head, 1 standby and 64 compute nodes."""

import os

from testbed_helpers import ansible_ping, podman_objects


def test_sixty_four_nodes_come_up_answer_ansible_and_leave_nothing_behind(cli):
    name = "it-scale"
    cli("--name", name, "up", "--nodes", "64", "--standby", timeout=1800)
    try:
        status = cli.status(name)
        assert len(status["hosts"]) == 66
        assert {h["state"] for h in status["hosts"]} == {"running"}
        code, answered, problems = ansible_ping(status["inventory"])
        assert code == 0, problems
        assert answered == {"head", "standby"} | {f"node{i:03d}" for i in range(1, 65)}
    finally:
        cli("--name", name, "down")
    assert podman_objects(name) == []
    assert not os.path.exists(os.path.join(cli.state_root, name))

"""Where the server role takes each host's SSH host keys from: the head's kept keys, else a read over SSH.

The expressions of roles/server/vars/main.yml, evaluated by ansible-playbook
on this machine as the role evaluates them (only the result is written, to a
test's own directory).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VARS = ROOT / "roles" / "server" / "vars" / "main.yml"


def evaluate(tmp_path, kept_lines, reads, all_hosts):
    # Extra variables: above the role's vars file, as the role's registered results and host list are.
    given = {
        "__server_all_hosts": all_hosts,
        "__server_ssh_host_keys_kept_text": {"stdout_lines": kept_lines},
        "__server_ssh_host_key_reads": {"results": reads},
    }
    (tmp_path / "given.json").write_text(json.dumps(given))
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars_files": [str(VARS)],
            "tasks": [
                {
                    "ansible.builtin.copy": {
                        "content": "{{ {'kept': __server_ssh_host_keys_kept,"
                        " 'read': __server_ssh_host_keys_read} | to_json }}",
                        "dest": str(tmp_path / "result.json"),
                        "mode": "0600",
                    }
                }
            ],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    playbook = str(Path(sys.executable).parent / "ansible-playbook")
    result = subprocess.run(
        [
            playbook,
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=" + sys.executable,
            "-e",
            "@%s" % (tmp_path / "given.json"),
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((tmp_path / "result.json").read_text())


def test_kept_keys_stand_for_a_read_and_only_for_the_clusters_hosts(tmp_path):
    kept = [
        "node001 ssh-ed25519 AAAAkept1 root@node001",
        "node001 ssh-rsa AAAAkept2 root@node001",
        "oldnode ssh-ed25519 AAAAgone root@oldnode",
    ]
    reads = [
        {"item": "head", "rc": 0, "stdout_lines": ["ssh-ed25519 AAAAhead root@head"]},
        {"item": "node002", "rc": 255, "stdout_lines": []},
        {"item": "node003", "unreachable": True},
    ]
    result = evaluate(tmp_path, kept, reads, ["head", "node001", "node002", "node003"])
    assert result["kept"] == {
        "node001": ["ssh-ed25519 AAAAkept1 root@node001", "ssh-rsa AAAAkept2 root@node001"]
    }
    assert result["read"] == {
        "head": ["ssh-ed25519 AAAAhead root@head"],
        "node001": ["ssh-ed25519 AAAAkept1 root@node001", "ssh-rsa AAAAkept2 root@node001"],
    }


def test_no_kept_keys_leave_the_reads_as_they_are(tmp_path):
    reads = [{"item": "head", "rc": 0, "stdout_lines": ["ssh-ed25519 AAAAhead root@head"]}]
    result = evaluate(tmp_path, [], reads, ["head"])
    assert result == {"kept": {}, "read": {"head": ["ssh-ed25519 AAAAhead root@head"]}}

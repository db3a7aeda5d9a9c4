"""The probes the server scenario's tests connect with.

PROBE_SCRIPT opens one TCP or UDP exchange with a port and says what came of
it, the same script whether it runs here (the testbed's host) or on a test
host.
"""

import shlex
import subprocess
import sys

# argv: tcp|udp|connect ADDRESS PORT TIMEOUT.  Prints "connected" (connect:
# a TCP connection, nothing more), "answered <first line>" (tcp, udp: what
# came back), "refused", "silent" (nothing came back: dropped, or no answer)
# or "failed <reason>" (no way there, such as no route).
PROBE_SCRIPT = r"""
import socket, sys
proto, address, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
sock.settimeout(timeout)
try:
    sock.connect((address, port))
    if proto == "connect":
        print("connected")
    else:
        if proto == "udp":
            sock.send(b"oscar-probe\n")
        print("answered", sock.recv(512).decode(errors="replace").splitlines()[0])
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("silent")
except OSError as error:
    print("failed", error.strerror)
"""


def probe_here(proto, address, port, timeout=3):
    """PROBE_SCRIPT's answer for a probe from this machine."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT, proto, address, str(port), str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def probe_from(host, proto, address, port, timeout=3):
    """PROBE_SCRIPT's answer for a probe from a test host (a testinfra host)."""
    result = host.run(f"python3 -c {shlex.quote(PROBE_SCRIPT)} {proto} {address} {port} {timeout}")
    assert result.rc == 0, result.stderr
    return result.stdout.strip()

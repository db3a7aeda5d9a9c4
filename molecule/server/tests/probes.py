"""Probes run on the testbed's hosts with their own python3: a DHCP client that only asks.

The compute nodes may not configure their interfaces (no CAP_NET_ADMIN) and
have no DHCP client, so DISCOVER_SCRIPT speaks DHCP itself: it broadcasts a
DHCPDISCOVER for a given MAC from UDP port 68 and prints the first OFFER for
that transaction as JSON (or null when none comes), without taking a lease.
"""

DISCOVER_SCRIPT = r"""
import json, os, socket, struct, sys, time

mac = bytes.fromhex(sys.argv[1].replace(":", ""))
timeout = float(sys.argv[2])
xid = os.urandom(4)
# op, htype, hlen, hops, xid, secs, flags (broadcast), ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file
packet = struct.pack("!BBBB4sHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                     b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"", b"")
# magic cookie, message type DISCOVER, parameter request list (mask, router, dns, host name,
# domain, ntp), end
packet += b"\x63\x82\x53\x63" + b"\x35\x01\x01" + b"\x37\x06\x01\x03\x06\x0c\x0f\x2a" + b"\xff"
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
# Out of the node's one interface, as a DHCP client sends: a node on a network
# without a route out has no default route to carry 255.255.255.255.
interface = next(name for _, name in socket.if_nameindex() if name != "lo")
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
sock.bind(("0.0.0.0", 68))
sock.settimeout(0.5)
deadline = time.monotonic() + timeout
sock.sendto(packet, ("255.255.255.255", 67))
offer = None
while offer is None and time.monotonic() < deadline:
    try:
        data = sock.recv(4096)
    except socket.timeout:
        continue
    if len(data) < 240 or data[0] != 2 or data[4:8] != xid or data[236:240] != b"\x63\x82\x53\x63":
        continue
    options, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, length = data[i], data[i + 1]
        options[code] = data[i + 2:i + 2 + length]
        i += 2 + length
    if options.get(53) != b"\x02":
        continue

    def addresses(code):
        value = options.get(code, b"")
        return [socket.inet_ntoa(value[j:j + 4]) for j in range(0, len(value), 4)]

    offer = {
        "address": socket.inet_ntoa(data[16:20]),
        "server": addresses(54),
        "netmask": addresses(1),
        "router": addresses(3),
        "dns": addresses(6),
        "domain": options.get(15, b"").decode(),
        "ntp": addresses(42),
        "hostname": options.get(12, b"").decode(),
    }
print(json.dumps(offer))
"""

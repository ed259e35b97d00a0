"""A link taken down for a moment, and what the kernel removed with it put back; the packets its
nodes could not route meanwhile.

When a device goes down the kernel drops its IPv6 addresses (keep_addr_on_down is off) and every
route through it, in every table, IPv4 and IPv6: the topology's static routes, SRv6's locator
routes, the seg6 routes of policies and the seg6local SIDs bound to it. Before the link goes down,
both ends' addresses and the routes through them are dumped over rtnetlink as the kernel holds them
(raw messages); once it is up again (the endpoint's peer first, then the endpoint) they are
replayed as RTM_NEWADDR / RTM_NEWROUTE with create-exclusive: what `ip address save/restore` and
`ip route save/restore` do, in-process. What the kernel put back by itself (link-local addresses, prefix routes), and a route a run-time step
replaced meanwhile (an srv6_policy step), stays as it is (EEXIST). The kernel's own routes (proto
kernel) and the local table are left to the kernel, which makes them again from the addresses.

While a device is down, the packets its node would send through it meet no route and are dropped
there (not on the link: nothing is sent); `no_route()` reads those drops per namespace (the IP MIB's
InNoRoutes/OutNoRoutes, /proc/net/snmp, snmp6 and netstat), for the fault's count and the monitor.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

from ...deploy.kernel import netlink, netns

_HDR = struct.Struct("=LHHLL")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
RTA_OIF, RTA_TABLE = 4, 15
IFLA_CARRIER_DOWN_COUNT = 48
RTPROT_KERNEL, RT_TABLE_LOCAL, RTM_F_CLONED = 2, 255, 0x200
EEXIST = 17


def _align(n: int) -> int:
    return (n + 3) & ~3


def _dump(sock: netlink.Socket, typ: int, body: bytes) -> list[bytes]:
    """The payloads (after the netlink header) of a dump request's answers."""
    sock.seq += 1
    sock.sock.send(_HDR.pack(_HDR.size + len(body), typ, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP,
                             sock.seq, 0) + body)
    out, done = [], False
    while not done:
        data = sock.sock.recv(1 << 20)
        off = 0
        while off + _HDR.size <= len(data):
            ln, t, _flags, _seq, _pid = _HDR.unpack_from(data, off)
            if ln < _HDR.size or t in (netlink.NLMSG_DONE, netlink.NLMSG_ERROR):
                done = True
                break
            if t == typ - 2:   # RTM_NEWADDR / RTM_NEWROUTE answer RTM_GETADDR / RTM_GETROUTE
                out.append(bytes(data[off + _HDR.size: off + ln]))
            off += _align(ln)
    return out


def _attr_u32(payload: bytes, start: int, kind: int) -> int | None:
    for atype, p in netlink.attrs(payload, start):
        if atype == kind and len(p) >= 4:
            return struct.unpack_from("=I", p)[0]
    return None


@dataclass
class End:
    key: str          # node:if
    netns: str
    device: str
    index: int
    addrs: list[bytes] = field(default_factory=list)    # ifaddrmsg payloads of this device
    routes: list[bytes] = field(default_factory=list)   # rtmsg payloads of routes through it

    def save(self) -> None:
        with netlink.Socket(self.netns) as s:
            self.addrs = [p for p in _dump(s, netlink.RTM_GETADDR, _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
                          if _IFADDR.unpack_from(p, 0)[4] == self.index]
            self.routes = []
            for fam in (socket.AF_INET, socket.AF_INET6):
                for p in _dump(s, netlink.RTM_GETROUTE, _RTMSG.pack(fam, 0, 0, 0, 0, 0, 0, 0, 0)):
                    _f, _dl, _sl, _tos, table, proto, _scope, _type, flags = _RTMSG.unpack_from(p, 0)
                    table = _attr_u32(p, _RTMSG.size, RTA_TABLE) or table
                    if (proto == RTPROT_KERNEL or table == RT_TABLE_LOCAL or flags & RTM_F_CLONED
                            or _attr_u32(p, _RTMSG.size, RTA_OIF) != self.index):
                        continue
                    self.routes.append(p)

    def drain(self, limit: float = 1.0) -> None:
        """Wait (at most LIMIT s) until this end has received what was on its way: its peer went down
        first, and what it sent may still wait in this end's receive backlog, which going down would
        throw away (the packets would look lost on the link, not on the node that lost its route)."""
        end, prev = time.monotonic() + limit, None
        with netlink.Socket(self.netns) as s:
            while time.monotonic() < end:
                now = [l.get("stats", {}).get("rx_packets") for l in s.get_links([self.index])]
                if now == prev:
                    return
                prev = now
                time.sleep(0.02)

    def set(self, up: bool) -> None:
        b = netlink.Batch()
        (b.link_up if up else b.link_down)(self.index, f"{self.key} {'up' if up else 'down'}")
        with netlink.Socket(self.netns) as s:
            s.check(b)

    def restore(self, what: str) -> list[str]:
        """Replay the saved "addresses" or "routes" (the device up: a route needs it, and the kernel
        adds the prefix routes of the addresses); the requests the kernel refused (but EEXIST)."""
        b = netlink.Batch()
        excl = netlink.NLM_F_CREATE | netlink.NLM_F_EXCL
        typ, msgs = (netlink.RTM_NEWADDR, self.addrs) if what == "addresses" else (netlink.RTM_NEWROUTE, self.routes)
        for p in msgs:
            b.add(netlink.Request(typ, excl, p, f"{self.key} {what[:-1]}", ignore=(EEXIST,)))
        with netlink.Socket(self.netns) as s:
            return [str(e) for e in s.run(b)]


def no_route(ns: str) -> int:
    """IP packets a namespace has dropped for want of a route so far (received to forward, or its own)."""
    want = {("Ip6", "Ip6InNoRoutes"), ("Ip6", "Ip6OutNoRoutes"), ("Ip", "OutNoRoutes"), ("IpExt", "InNoRoutes")}
    total = 0
    with netns.entered(ns):
        texts = []
        for name in ("snmp", "snmp6", "netstat"):
            with open(f"/proc/thread-self/net/{name}") as f:
                texts.append((name, f.read()))
    for name, text in texts:
        if name == "snmp6":
            for line in text.splitlines():
                k, _, v = line.partition(" ")
                if ("Ip6", k) in want:
                    total += int(v.strip())
            continue
        lines = text.splitlines()
        for head, vals in zip(lines[::2], lines[1::2]):   # "Ip: a b c" / "Ip: 1 2 3" pairs
            proto, keys = head.split(":", 1)
            for k, v in zip(keys.split(), vals.split(":", 1)[1].split()):
                if (proto, k) in want:
                    total += int(v)
    return total


def link_states(namespaces: dict[str, list[str]]) -> dict[tuple[str, str], tuple[bool, int]]:
    """(netns, device) -> (whether it is down, admin or carrier; how often its carrier went down so
    far: a change tells a down shorter than the time between two reads) for the given devices."""
    out = {}
    for ns, devs in namespaces.items():
        with netlink.Socket(ns) as s:
            links = {l.get("name"): l for l in s.dump_links(parse=_name_state)}
        for d in devs:
            l = links.get(d)
            down = l is None or not l["up"] or l.get("operstate") not in (netlink.IF_OPER_UP, 0)
            out[(ns, d)] = (down, (l or {}).get("carrier_down", 0))
    return out


def _name_state(b: bytes) -> dict:
    _fam, _type, _index, flags, _change = struct.unpack_from("=BxHiII", b, 0)
    out = {"up": bool(flags & netlink.IFF_UP)}
    for atype, p in netlink.attrs(b, 16):
        if atype == netlink.IFLA_IFNAME:
            out["name"] = p.rstrip(b"\0").decode()
        elif atype == netlink.IFLA_OPERSTATE and p:
            out["operstate"] = p[0]
        elif atype == IFLA_CARRIER_DOWN_COUNT and len(p) >= 4:
            out["carrier_down"] = struct.unpack_from("=I", p)[0]
    return out

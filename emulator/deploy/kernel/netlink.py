"""A small rtnetlink client: batched requests on a socket opened inside a namespace.

Only what the emulator needs is encoded (links, veth, bridges, addresses,
routes). Requests carry the interface index the planner chose, so a whole
lab is built without a single lookup by name: one sendmsg carries hundreds
of requests, and the acknowledgements come back in order.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass, field

from . import netns

# message types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
# flags
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 1, 2, 4
NLM_F_ROOT, NLM_F_MATCH = 0x100, 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200
SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 270, 10, 11
NLMSGERR_ATTR_MSG = 1
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33
# link attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_PROTINFO, IFLA_OPERSTATE = 12, 16
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFLA_STATS64 = 23
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
VETH_INFO_PEER = 1
IFLA_BR_FORWARD_DELAY, IFLA_BR_HELLO_TIME, IFLA_BR_MAX_AGE, IFLA_BR_STP_STATE = 1, 2, 3, 5
IFLA_BRPORT_STATE = 1
# bridge port states (IFLA_BRPORT_STATE) and RFC 2863 operational states (IFLA_OPERSTATE)
BR_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
BR_STATE_FORWARDING, BR_STATE_BLOCKING = 3, 4
OPERSTATES = {0: "unknown", 1: "notpresent", 2: "down", 3: "lowerlayerdown", 4: "testing", 5: "dormant",
              6: "up"}
IF_OPER_UP = 6
IFF_UP = 1
# address / route attributes
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_VIA = 1, 4, 5, 6, 18
RT_TABLE_MAIN, RTPROT_STATIC = 254, 4
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTN_UNICAST = 1

_HDR = struct.Struct("=LHHLL")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTA = struct.Struct("=HH")

# keep a sendmsg well under the socket buffer; acks for one chunk fit easily
_CHUNK_BYTES = 64 * 1024


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    n = _RTA.size + len(payload)
    return _RTA.pack(n, kind) + payload + b"\0" * (_align(n) - n)


def attr_str(kind: int, s: str) -> bytes:
    return attr(kind, s.encode() + b"\0")


def attr_u32(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=I", v))


def attr_i32(kind: int, v: int) -> bytes:
    return attr(kind, struct.pack("=i", v))


def attr_mac(kind: int, mac: str) -> bytes:
    return attr(kind, bytes(int(x, 16) for x in mac.split(":")))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def frame(req: "Request", seq: int) -> bytes:
    """One request as it goes on the wire: nlmsghdr (asking for an ack) + body, padded."""
    n = _HDR.size + len(req.body)
    return (_HDR.pack(n, req.type, NLM_F_REQUEST | NLM_F_ACK | req.flags, seq, 0) + req.body
            + b"\0" * (_align(n) - n))


class NetlinkError(OSError):
    """A request the kernel refused; `what` names the object, `kmsg` the kernel's extended message."""

    def __init__(self, err: int, what: str, kmsg: str = ""):
        self.what = what
        self.kmsg = kmsg
        text = os.strerror(err)
        if kmsg:
            text += f" ({kmsg})"
        super().__init__(err, f"{what}: {text}")


@dataclass
class Request:
    type: int
    flags: int
    body: bytes
    what: str  # human description for errors
    ignore: tuple[int, ...] = ()  # errnos that count as success (idempotent deletes)


@dataclass
class Batch:
    """Requests to send on one namespace's socket."""
    requests: list[Request] = field(default_factory=list)

    def add(self, req: Request) -> None:
        self.requests.append(req)

    def __len__(self) -> int:
        return len(self.requests)

    # -- request builders -------------------------------------------------
    def link_up(self, index: int, what: str, mtu: int | None = None, mac: str | None = None) -> None:
        attrs = b""
        if mtu:
            attrs += attr_u32(IFLA_MTU, mtu)
        if mac:
            attrs += attr_mac(IFLA_ADDRESS, mac)
        self.add(Request(RTM_NEWLINK, 0, ifinfo(index, IFF_UP, IFF_UP) + attrs, what))

    def link_down(self, index: int, what: str) -> None:
        self.add(Request(RTM_NEWLINK, 0, ifinfo(index, 0, IFF_UP), what))

    def bridge(self, name: str, index: int, alias: str, mtu: int | None = None, stp: bool = False,
               stp_timers: tuple[int, int, int] | None = None) -> None:
        """stp_timers: (forward delay, hello time, max age) in centiseconds, set before STP starts."""
        data = b""
        if stp and stp_timers:
            for kind, v in zip((IFLA_BR_FORWARD_DELAY, IFLA_BR_HELLO_TIME, IFLA_BR_MAX_AGE), stp_timers):
                data += attr_u32(kind, v)
        data = attr(IFLA_INFO_DATA, data + attr_u32(IFLA_BR_STP_STATE, 1 if stp else 0))
        attrs = attr_str(IFLA_IFNAME, name) + attr_str(IFLA_IFALIAS, alias)
        if mtu:
            attrs += attr_u32(IFLA_MTU, mtu)
        attrs += attr(IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "bridge") + data)
        self.add(Request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                         ifinfo(index, IFF_UP, IFF_UP) + attrs, f"bridge {name}"))

    def veth(self, name: str, index: int, peer_name: str, peer_index: int, peer_ns_fd: int | None,
             alias: str, what: str, *, mac: str | None = None, peer_mac: str | None = None,
             mtu: int | None = None, master: int | None = None, up: bool = True) -> None:
        peer = ifinfo(peer_index) + attr_str(IFLA_IFNAME, peer_name) + attr_str(IFLA_IFALIAS, alias)
        if peer_ns_fd is not None:
            peer += attr_u32(IFLA_NET_NS_FD, peer_ns_fd)
        if peer_mac:
            peer += attr_mac(IFLA_ADDRESS, peer_mac)
        if mtu:
            peer += attr_u32(IFLA_MTU, mtu)
        info = attr_str(IFLA_INFO_KIND, "veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer))
        attrs = attr_str(IFLA_IFNAME, name) + attr_str(IFLA_IFALIAS, alias)
        if mac:
            attrs += attr_mac(IFLA_ADDRESS, mac)
        if mtu:
            attrs += attr_u32(IFLA_MTU, mtu)
        if master:
            attrs += attr_u32(IFLA_MASTER, master)
        attrs += attr(IFLA_LINKINFO, info)
        flags = IFF_UP if up else 0
        self.add(Request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                         ifinfo(index, flags, flags) + attrs, what))

    def del_link(self, index: int, what: str) -> None:
        self.add(Request(RTM_DELLINK, 0, ifinfo(index), what, ignore=(19,)))  # ENODEV

    def address(self, index: int, cidr: str, what: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        fam = socket.AF_INET if iface.version == 4 else socket.AF_INET6
        flags = IFA_F_NODAD if iface.version == 6 else 0
        raw = iface.ip.packed
        body = _IFADDR.pack(fam, iface.network.prefixlen, flags, RT_SCOPE_UNIVERSE, index)
        body += attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
        self.add(Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, what))

    def route(self, dst: str, what: str, via: str | None = None, oif: int | None = None,
              metric: int | None = None) -> None:
        net = ipaddress.ip_network(dst, strict=False)
        fam = socket.AF_INET if net.version == 4 else socket.AF_INET6
        scope = RT_SCOPE_UNIVERSE if via else RT_SCOPE_LINK
        body = _RTMSG.pack(fam, net.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_STATIC, scope, RTN_UNICAST, 0)
        if net.prefixlen:
            body += attr(RTA_DST, net.network_address.packed)
        if via:
            gw = ipaddress.ip_address(via)
            if gw.version == net.version:
                body += attr(RTA_GATEWAY, gw.packed)
            else:  # IPv4 route via an IPv6 next hop
                body += attr(RTA_VIA, struct.pack("=H", socket.AF_INET6) + gw.packed)
        if oif:
            body += attr_u32(RTA_OIF, oif)
        if metric is not None:
            body += attr_u32(RTA_PRIORITY, metric)
        self.add(Request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, what))


class Socket:
    """A NETLINK_ROUTE socket bound to the namespace it was opened in."""

    def __init__(self, ns_name: str | None = None):
        if ns_name is None:
            self.sock = self._open()
        else:
            with netns.entered(ns_name):
                self.sock = self._open()
        self.seq = 0

    @staticmethod
    def _open() -> socket.socket:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        for opt, val in ((SO_SNDBUFFORCE, 1 << 20), (SO_RCVBUFFORCE, 4 << 20)):
            try:
                s.setsockopt(socket.SOL_SOCKET, opt, val)
            except OSError:
                pass
        for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
            try:
                s.setsockopt(SOL_NETLINK, opt, 1)
            except OSError:
                pass
        s.bind((0, 0))
        return s

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, batch: Batch) -> list[NetlinkError]:
        """Send every request; return the errors (in request order), never stop early."""
        errors: list[NetlinkError] = []
        reqs = batch.requests
        i = 0
        while i < len(reqs):
            buf = bytearray()
            pending: dict[int, Request] = {}
            while i < len(reqs) and (not buf or len(buf) < _CHUNK_BYTES):
                r = reqs[i]
                self.seq += 1
                buf += frame(r, self.seq)
                pending[self.seq] = r
                i += 1
            self.sock.send(buf)
            while pending:
                for seq, err, kmsg in self._read_acks():
                    r = pending.pop(seq, None)
                    if r is not None and err and -err not in r.ignore:
                        errors.append(NetlinkError(-err, r.what, kmsg))
        return errors

    def check(self, batch: Batch) -> None:
        errors = self.run(batch)
        if errors:
            raise errors[0]

    def _read_acks(self):
        data = self.sock.recv(1 << 20)
        off = 0
        while off + _HDR.size <= len(data):
            ln, typ, flags, seq, _pid = _HDR.unpack_from(data, off)
            if ln < _HDR.size:
                break
            if typ == NLMSG_ERROR:
                (err,) = struct.unpack_from("=i", data, off + _HDR.size)
                kmsg = ""
                if flags & NLM_F_ACK_TLVS:
                    # error code, then the echoed header (payload too unless capped), then TLVs
                    inner_len = _HDR.unpack_from(data, off + _HDR.size + 4)[0]
                    tlv = off + _HDR.size + 4 + (_HDR.size if flags & NLM_F_CAPPED else _align(inner_len))
                    end = off + ln
                    while tlv + 4 <= end:
                        alen, atype = _RTA.unpack_from(data, tlv)
                        if alen < 4:
                            break
                        if atype == NLMSGERR_ATTR_MSG:
                            kmsg = data[tlv + 4: tlv + alen].rstrip(b"\0").decode(errors="replace")
                        tlv += _align(alen)
                yield seq, err, kmsg
            off += _align(ln)

    # -- dumps (inspection) -------------------------------------------------
    def dump_links(self, indexes=None, parse=None, family: int = socket.AF_UNSPEC) -> list[dict]:
        """Name, index, state, alias and byte/packet counters of every link (with `indexes`, of
        those links only: the others are skipped unparsed). `parse` replaces the parser
        (`parse_state`: index and forwarding state only). With `family` AF_BRIDGE, the bridge
        ports alone, in the bridge's short form (`parse_bridge_port`: a fraction of the bytes)."""
        parse = parse or _parse_link
        self.seq += 1
        body = _IFINFO.pack(family, 0, 0, 0, 0)
        msg = _HDR.pack(_HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0) + body
        self.sock.send(msg)
        links = []
        done = False
        while not done:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + _HDR.size <= len(data):
                ln, typ, _flags, _seq, _pid = _HDR.unpack_from(data, off)
                if typ == NLMSG_DONE or typ == NLMSG_ERROR:
                    done = True
                    break
                if typ == RTM_NEWLINK and (indexes is None or _IFINFO.unpack_from(data, off + _HDR.size)[2] in indexes):
                    links.append(parse(data[off + _HDR.size: off + ln]))
                off += _align(ln)
        return links

    def get_links(self, indexes, parse=None) -> list[dict]:
        """The links with these indexes, one RTM_GETLINK request each, sent in batches (for a
        few links of a namespace that has thousands: a dump reads them all). Links that do not
        exist are left out."""
        parse = parse or _parse_link
        idx = list(indexes)
        links = []
        for start in range(0, len(idx), 256):   # 256 replies fit the receive buffer
            buf = bytearray()
            pending = set()
            for i in idx[start:start + 256]:
                self.seq += 1
                body = ifinfo(i)
                buf += _HDR.pack(_HDR.size + len(body), RTM_GETLINK, NLM_F_REQUEST, self.seq, 0) + body
                pending.add(self.seq)
            self.sock.send(buf)
            while pending:
                data = self.sock.recv(1 << 20)
                off = 0
                while off + _HDR.size <= len(data):
                    ln, typ, _flags, seq, _pid = _HDR.unpack_from(data, off)
                    if ln < _HDR.size:
                        break
                    if seq in pending:
                        pending.discard(seq)
                        if typ == RTM_NEWLINK:
                            links.append(parse(data[off + _HDR.size: off + ln]))
                        # NLMSG_ERROR: no such link (ENODEV)
                    off += _align(ln)
        return links


def lo_alias() -> str:
    """The alias of `lo` (a lab's tag) in the calling thread's namespace: one request."""
    with Socket() as s:
        lo = next(iter(s.get_links([1], parse_alias)), {})
    return lo.get("alias", "")


def parse_alias(b: bytes) -> dict:
    """A link's index and alias, and nothing else (the alias comes early in the message)."""
    out = {"index": _IFINFO.unpack_from(b, 0)[2]}
    off = _IFINFO.size
    while off + 4 <= len(b):
        alen, atype = _RTA.unpack_from(b, off)
        if alen < 4:
            break
        if atype == IFLA_IFALIAS:
            out["alias"] = b[off + 4: off + alen].rstrip(b"\0").decode()
            break
        off += _align(alen)
    return out


def _parse_link(b: bytes) -> dict:
    _fam, _type, index, flags, _change = _IFINFO.unpack_from(b, 0)
    out = {"index": index, "up": bool(flags & IFF_UP), "flags": flags}
    off = _IFINFO.size
    while off + 4 <= len(b):
        alen, atype = _RTA.unpack_from(b, off)
        if alen < 4:
            break
        payload = b[off + 4: off + alen]
        if atype == IFLA_IFNAME:
            out["name"] = payload.rstrip(b"\0").decode()
        elif atype == IFLA_IFALIAS:
            out["alias"] = payload.rstrip(b"\0").decode()
        elif atype == IFLA_MTU:
            out["mtu"] = struct.unpack("=I", payload[:4])[0]
        elif atype == IFLA_ADDRESS:
            out["mac"] = ":".join(f"{x:02x}" for x in payload)
        elif atype == IFLA_MASTER:
            out["master"] = struct.unpack("=I", payload[:4])[0]
        elif atype == IFLA_OPERSTATE:
            out["operstate"] = payload[0]
        elif atype == IFLA_LINKINFO:
            _parse_linkinfo(payload, out)
        elif atype == IFLA_STATS64 and len(payload) >= 32:
            rxp, txp, rxb, txb = struct.unpack_from("=QQQQ", payload, 0)
            out["stats"] = {"rx_packets": rxp, "tx_packets": txp, "rx_bytes": rxb, "tx_bytes": txb}
        off += _align(alen)
    return out


def parse_state(b: bytes) -> dict:
    """What the ready check needs of a link: its index, operstate and bridge port state."""
    index = _IFINFO.unpack_from(b, 0)[2]
    out = {"index": index}
    off = _IFINFO.size
    while off + 4 <= len(b):
        alen, atype = _RTA.unpack_from(b, off)
        if alen < 4:
            break
        if atype == IFLA_OPERSTATE:
            out["operstate"] = b[off + 4]
        elif atype == IFLA_LINKINFO:
            _parse_linkinfo(b[off + 4: off + alen], out)
        off += _align(alen)
    return out


def parse_operstate(b: bytes) -> dict:
    """A link's index and operstate (one of the first attributes: the rest is not read)."""
    out = {"index": _IFINFO.unpack_from(b, 0)[2]}
    off = _IFINFO.size
    while off + 4 <= len(b):
        alen, atype = _RTA.unpack_from(b, off)
        if alen < 4:
            break
        if atype == IFLA_OPERSTATE:
            out["operstate"] = b[off + 4]
            break
        off += _align(alen)
    return out


def parse_bridge_port(b: bytes) -> dict:
    """What the ready check needs of a bridge port from an AF_BRIDGE dump: index, operstate, and
    the STP port state (IFLA_PROTINFO's IFLA_BRPORT_STATE)."""
    out = {"index": _IFINFO.unpack_from(b, 0)[2]}
    for atype, payload in attrs(b, _IFINFO.size):
        if atype == IFLA_OPERSTATE and payload:
            out["operstate"] = payload[0]
        elif atype == IFLA_PROTINFO:
            for t, p in attrs(payload):
                if t == IFLA_BRPORT_STATE and p:
                    out["brport_state"] = p[0]
                    break
            break
    return out


def attrs(b: bytes, off: int = 0):
    """(type, payload) of each netlink attribute of B from OFF on (a caller may stop early). The
    parsers of the ready wait and of large dumps (parse_state, parse_operstate, parse_alias,
    _parse_link) walk the attributes inline instead: they slice only the payloads they keep, and
    this generator's slicing of every payload made them 1.5-2.2x slower (µs per link, measured on
    the root namespace's links)."""
    while off + 4 <= len(b):
        alen, atype = _RTA.unpack_from(b, off)
        if alen < 4:
            break
        yield atype & 0x3FFF, b[off + 4: off + alen]   # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
        off += _align(alen)


def _parse_linkinfo(b: bytes, out: dict) -> None:
    """The device kind, and for a bridge port (slave kind "bridge") its STP port state."""
    for atype, payload in attrs(b):
        if atype == IFLA_INFO_KIND:
            out["link_kind"] = payload.rstrip(b"\0").decode()
        elif atype == IFLA_INFO_SLAVE_KIND:
            out["slave_kind"] = payload.rstrip(b"\0").decode()
        elif atype == IFLA_INFO_SLAVE_DATA:
            for t, p in attrs(payload):
                if t == IFLA_BRPORT_STATE and p:
                    out["brport_state"] = p[0]

"""The hand-written rtnetlink requests (emulator/deploy/kernel/netlink.py) against pyroute2's encoding.

Each case builds one request with the project's Batch and the same message with pyroute2's
ifinfmsg/ifaddrmsg/rtmsg classes (header: type, flags and sequence number set alike, pid 0), and
compares the bytes. pyroute2 writes attributes in the order it is given them; the cases give them
in netlink.py's order, so the bytes are equal. Where the order differs (a pyroute2 user's natural
order), `same_message` falls back to comparing the decoded attributes, nested ones included,
as sets: the kernel does not care about attribute order. No root needed: nothing is sent.
"""
from __future__ import annotations

import socket
import struct

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from emulator.deploy.kernel import netlink as nl

SEQ = 7
ACK = nl.NLM_F_REQUEST | nl.NLM_F_ACK
NEW = ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL


def ours(build) -> bytes:
    b = nl.Batch()
    build(b)
    assert len(b) == 1
    return nl.frame(b.requests[0], SEQ)


def theirs(cls, msg_type: int, hdr_flags: int, attrs: list, **fields) -> bytes:
    m = cls()
    m["header"]["type"] = msg_type
    m["header"]["flags"] = hdr_flags
    m["header"]["sequence_number"] = SEQ
    m["header"]["pid"] = 0
    for k, v in fields.items():
        m[k] = v
    m["attrs"] = attrs
    m.encode()
    return bytes(m.data)


def _norm(v):
    """A decoded pyroute2 value with attribute order (and pyroute2's bookkeeping) taken out."""
    if isinstance(v, dict):
        out = {k: _norm(x) for k, x in v.items() if k not in ("attrs", "header", "__align", "state")}
        out["attrs"] = frozenset((a[0], _freeze(_norm(a[1]))) for a in v.get("attrs", ()))
        return out
    return v


def _freeze(v):
    if isinstance(v, dict):
        return frozenset((k, _freeze(x)) for k, x in v.items())
    return v


def decoded(data: bytes):
    msgs = list(MarshalRtnl().parse(data))
    assert len(msgs) == 1
    m = msgs[0]
    hdr = {k: m["header"][k] for k in ("length", "type", "flags", "sequence_number", "pid")}
    return type(m).__name__, hdr, _norm(dict(m))


def same_message(a: bytes, b: bytes) -> str:
    """'bytes' when identical, 'attributes' when only the attribute order differs; fails otherwise."""
    if a == b:
        return "bytes"
    assert decoded(a) == decoded(b), f"\nours   {a.hex()}\ntheirs {b.hex()}"
    return "attributes"


def link(index, flags=0, change=0):
    return {"index": index, "flags": flags, "change": change, "family": 0}


CASES = {
    "link up with mtu and mac": (
        lambda b: b.link_up(4, "x", mtu=9000, mac="02:aa:00:00:00:04"),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, ACK,
                       [("IFLA_MTU", 9000), ("IFLA_ADDRESS", "02:aa:00:00:00:04")], **link(4, 1, 1))),
    "link up": (
        lambda b: b.link_up(4, "x"),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, ACK, [], **link(4, 1, 1))),
    "link down": (
        lambda b: b.link_down(9, "x"),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, ACK, [], **link(9, 0, 1))),
    "bridge with alias and mtu": (
        lambda b: b.bridge("br-emu", 2, "emulator:lab", mtu=1400),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, NEW, [
            ("IFLA_IFNAME", "br-emu"), ("IFLA_IFALIAS", "emulator:lab"), ("IFLA_MTU", 1400),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge"),
                                         ("IFLA_INFO_DATA", {"attrs": [("IFLA_BR_STP_STATE", 0)]})]})],
            **link(2, 1, 1))),
    "bridge with stp": (
        lambda b: b.bridge("br1", 3, "emulator:l", stp=True),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, NEW, [
            ("IFLA_IFNAME", "br1"), ("IFLA_IFALIAS", "emulator:l"),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge"),
                                         ("IFLA_INFO_DATA", {"attrs": [("IFLA_BR_STP_STATE", 1)]})]})],
            **link(3, 1, 1))),
    "veth, peer in another netns by fd, macs, mtu, master": (
        lambda b: b.veth("s1-eth0", 11, "eth0", 2, 17, "emulator:lab", "x", mac="02:00:00:00:01:01",
                         peer_mac="02:00:00:00:01:02", mtu=9000, master=5),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, NEW, [
            ("IFLA_IFNAME", "s1-eth0"), ("IFLA_IFALIAS", "emulator:lab"),
            ("IFLA_ADDRESS", "02:00:00:00:01:01"), ("IFLA_MTU", 9000), ("IFLA_MASTER", 5),
            ("IFLA_LINKINFO", {"attrs": [
                ("IFLA_INFO_KIND", "veth"),
                ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {
                    **link(2), "attrs": [("IFLA_IFNAME", "eth0"), ("IFLA_IFALIAS", "emulator:lab"),
                                         ("IFLA_NET_NS_FD", 17), ("IFLA_ADDRESS", "02:00:00:00:01:02"),
                                         ("IFLA_MTU", 9000)]})]})]})],
            **link(11, 1, 1))),
    "veth down, peer in the same netns": (
        lambda b: b.veth("a", 20, "b", 21, None, "emulator:q", "x", up=False),
        lambda: theirs(ifinfmsg, nl.RTM_NEWLINK, NEW, [
            ("IFLA_IFNAME", "a"), ("IFLA_IFALIAS", "emulator:q"),
            ("IFLA_LINKINFO", {"attrs": [
                ("IFLA_INFO_KIND", "veth"),
                ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {
                    **link(21), "attrs": [("IFLA_IFNAME", "b"), ("IFLA_IFALIAS", "emulator:q")]})]})]})],
            **link(20))),
    "link delete": (
        lambda b: b.del_link(12, "x"),
        lambda: theirs(ifinfmsg, nl.RTM_DELLINK, ACK, [], **link(12))),
    "address v4": (
        lambda b: b.address(3, "10.0.1.5/24", "x"),
        lambda: theirs(ifaddrmsg, nl.RTM_NEWADDR, NEW, [("IFA_LOCAL", "10.0.1.5"), ("IFA_ADDRESS", "10.0.1.5")],
                       family=socket.AF_INET, prefixlen=24, flags=0, scope=0, index=3)),
    "address v6 (no DAD)": (
        lambda b: b.address(3, "fd00:1::5/64", "x"),
        lambda: theirs(ifaddrmsg, nl.RTM_NEWADDR, NEW, [("IFA_LOCAL", "fd00:1::5"), ("IFA_ADDRESS", "fd00:1::5")],
                       family=socket.AF_INET6, prefixlen=64, flags=nl.IFA_F_NODAD, scope=0, index=3)),
}


def route(family, dst_len, scope, attrs):
    return lambda: theirs(rtmsg, nl.RTM_NEWROUTE, NEW, attrs, family=family, dst_len=dst_len, src_len=0, tos=0,
                          table=254, proto=4, scope=scope, type=1, flags=0)


CASES.update({
    "route v4 via gateway with metric": (
        lambda b: b.route("10.2.0.0/16", "x", via="10.0.1.1", metric=20),
        route(socket.AF_INET, 16, 0, [("RTA_DST", "10.2.0.0"), ("RTA_GATEWAY", "10.0.1.1"),
                                      ("RTA_PRIORITY", 20)])),
    "route v4 via gateway and oif": (
        lambda b: b.route("10.2.0.0/16", "x", via="10.0.1.1", oif=4),
        route(socket.AF_INET, 16, 0, [("RTA_DST", "10.2.0.0"), ("RTA_GATEWAY", "10.0.1.1"), ("RTA_OIF", 4)])),
    "route v4 on a link (oif only, scope link)": (
        lambda b: b.route("10.3.0.0/24", "x", oif=6),
        route(socket.AF_INET, 24, nl.RT_SCOPE_LINK, [("RTA_DST", "10.3.0.0"), ("RTA_OIF", 6)])),
    "default route v6 via gateway": (
        lambda b: b.route("::/0", "x", via="fd00::1", oif=2),
        route(socket.AF_INET6, 0, 0, [("RTA_GATEWAY", "fd00::1"), ("RTA_OIF", 2)])),
    "route v6 via gateway": (
        lambda b: b.route("fd00:9::/48", "x", via="fd00::1"),
        route(socket.AF_INET6, 48, 0, [("RTA_DST", "fd00:9::"), ("RTA_GATEWAY", "fd00::1")])),
    "route v4 via an IPv6 next hop (RTA_VIA)": (
        lambda b: b.route("0.0.0.0/0", "x", via="fe80::1", oif=3),
        route(socket.AF_INET, 0, 0, [("RTA_VIA", {"family": socket.AF_INET6, "addr": "fe80::1"}),
                                     ("RTA_OIF", 3)])),
})


@pytest.mark.parametrize("case", list(CASES))
def test_request_bytes_equal_pyroute2(case):
    build, ref = CASES[case]
    assert same_message(ours(build), ref()) == "bytes"


def test_attribute_order_is_the_only_difference_in_pyroute2_natural_order():
    """oif before gateway (as `ip route` users write it): other bytes, the same message decoded."""
    mine = ours(lambda b: b.route("10.2.0.0/16", "x", via="10.0.1.1", oif=4))
    other = route(socket.AF_INET, 16, 0, [("RTA_OIF", 4), ("RTA_DST", "10.2.0.0"),
                                          ("RTA_GATEWAY", "10.0.1.1")])()
    assert mine != other
    assert same_message(mine, other) == "attributes"
    # and a real difference is not hidden by the order-free comparison
    wrong = route(socket.AF_INET, 16, 0, [("RTA_OIF", 5), ("RTA_DST", "10.2.0.0"),
                                          ("RTA_GATEWAY", "10.0.1.1")])()
    with pytest.raises(AssertionError):
        same_message(mine, wrong)


class _FakeSock:
    """Stands in for the netlink socket: keeps what is sent, acks every request (errno for some)."""

    def __init__(self, refuse: dict[int, int] | None = None):
        self.sent: list[bytes] = []
        self.refuse = refuse or {}
        self.acks = b""

    def send(self, buf):
        self.sent.append(bytes(buf))
        off = 0
        while off < len(buf):
            ln, _t, _f, seq, _p = nl._HDR.unpack_from(buf, off)
            body = struct.pack("=i", -self.refuse.get(seq, 0)) + bytes(buf[off:off + nl._HDR.size])
            self.acks += nl._HDR.pack(nl._HDR.size + len(body), nl.NLMSG_ERROR, nl.NLM_F_CAPPED, seq, 0) + body
            off += (ln + 3) & ~3
        return len(buf)

    def recv(self, _n):
        data, self.acks = self.acks, b""
        return data


def test_a_batch_on_the_wire_is_the_requests_in_order_with_increasing_sequence_numbers():
    b = nl.Batch()
    b.bridge("br0", 2, "emulator:w")
    b.veth("v1", 3, "eth0", 2, 9, "emulator:w", "veth v1", master=2)
    b.address(3, "192.0.2.1/24", "addr")
    b.route("198.51.100.0/24", "route", via="192.0.2.254")
    b.link_up(3, "up", mtu=1500)
    s = nl.Socket.__new__(nl.Socket)
    s.sock, s.seq = _FakeSock(refuse={3: 17}), 0
    errors = s.run(b)
    wire = b"".join(s.sock.sent)
    msgs = list(MarshalRtnl().parse(wire))
    assert [type(m).__name__ for m in msgs] == ["ifinfmsg", "ifinfmsg", "ifaddrmsg", "rtmsg", "ifinfmsg"]
    assert [m["header"]["sequence_number"] for m in msgs] == [1, 2, 3, 4, 5]
    assert msgs[1].get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "VETH_INFO_PEER").get_attr("IFLA_NET_NS_FD") == 9
    assert msgs[2].get_attr("IFA_LOCAL") == "192.0.2.1" and msgs[3].get_attr("RTA_GATEWAY") == "192.0.2.254"
    # each message is exactly what frame() encodes, back to back
    assert wire == b"".join(nl.frame(r, i + 1) for i, r in enumerate(b.requests))
    assert [(e.errno, e.what) for e in errors] == [(17, "addr")]


def test_link_dump_parser_reads_pyroute2_encoded_links():
    m = ifinfmsg()
    m["header"]["type"] = nl.RTM_NEWLINK
    m["index"], m["flags"], m["change"] = 42, 1, 0
    m["attrs"] = [("IFLA_IFNAME", "eth7"), ("IFLA_MTU", 1450), ("IFLA_ADDRESS", "02:01:02:03:04:05"),
                  ("IFLA_MASTER", 3), ("IFLA_OPERSTATE", "UP"), ("IFLA_IFALIAS", "emulator:z"),
                  ("IFLA_STATS64", {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 300, "tx_bytes": 400})]
    m.encode()
    body = bytes(m.data)[nl._HDR.size:]
    got = nl._parse_link(body)
    assert got == {"index": 42, "up": True, "flags": 1, "name": "eth7", "mtu": 1450, "mac": "02:01:02:03:04:05",
                   "master": 3, "operstate": 6, "alias": "emulator:z",
                   "stats": {"rx_packets": 1, "tx_packets": 2, "rx_bytes": 300, "tx_bytes": 400}}

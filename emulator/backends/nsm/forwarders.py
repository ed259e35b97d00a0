"""The forwarder-type registry: which mechanisms a forwarder cross-connects, and with which link type.

`kernel` (NSM's kernel forwarder) makes a veth pair directly between the two namespaces of a
cross-connect and configures addresses and routes through netlink; a DPDK end reads its veth
through af_packet. `dpdk` connects two DPDK ends by memif, the two testpmd processes sharing
one socket (what NSM's VPP forwarder does with direct memif), the endpoint side as the server,
or by vhost-user (the client side virtio, the endpoint side the vhost backend).
`vpp` (NSM's VPP forwarder) runs one VPP that cross-connects TAP to kernel ends and memif to
VPP ends (a memif proxy when both are memif): see vppfwd.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...registry import Registry

_REGISTRY: Registry["ForwarderType"] = Registry("forwarder type")


@dataclass(frozen=True)
class ForwarderType:
    name: str
    summary: str
    link_types: dict                   # mechanism it builds -> emulator link type of the cross-connect

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return tuple(self.link_types)


register, get, names, all_types = _REGISTRY.register, _REGISTRY.get, _REGISTRY.names, _REGISTRY.values


register(ForwarderType("kernel", "NSM kernel forwarder: a veth pair per cross-connect, routes by netlink",
                       {"kernel": "veth"}))
register(ForwarderType("dpdk", "memif or vhost-user between DPDK endpoints and clients: the two testpmd share "
                                "one socket (NSM's direct memif); memif: the endpoint side serves, vhost-user: the "
                                "endpoint side is the vhost backend", {"memif": "memif", "vhost-user": "vhost-user"}))
register(ForwarderType("vpp", "NSM's VPP forwarder: one VPP cross-connects (l2 xconnect) a TAP to kernel ends "
                              "(veth + af_packet where /dev/vhost-net is missing) and memif to VPP ends; memif on "
                              "both sides: a memif proxy", {"kernel": "tap", "memif": "memif"}))

"""Link types to and from vpp nodes, chosen by the pair of ends.

    veth (default)  VPP <-> a kernel node (host, router) or a Linux bridge: a veth pair, VPP takes
                    its end through af_packet (`create host-interface`). Also VPP <-> VPP.
    tap             VPP <-> a kernel node (host, router, NSM nse/nsc: NSM's VPP forwarder): VPP's tap
                    with its host side in the peer's namespace.
                    It needs /dev/vhost-net; where that is missing (this kernel) the link is built
                    as the veth + af_packet above, and `plan` says so. The tap itself is generated
                    configuration only for now (config.tap_command), not deployed.
    memif           VPP <-> VPP, VPP <-> dpdk-app (testpmd's net_memif): registered by the dpdk
                    backend; the vpp driver declares a memif end (`link_ends`), which is all it takes.
"""
from __future__ import annotations

from ...core import linktypes
from ..dpdk.links import socket_path

KERNEL_PEERS = ("host", "router", "nse", "nsc")   # network service ends: NSM's VPP forwarder (TAP)


def memif_socket(lab, link) -> str:
    return socket_path(lab, link)   # the same path the dpdk-app side uses


def _kinds(lab, link):
    return lab.nodes[link.a.node].kind, lab.nodes[link.b.node].kind


class Tap(linktypes.LinkType):
    name = "tap"
    summary = ("a VPP tap to a kernel node (host side in its namespace); where /dev/vhost-net is missing, "
               "a veth with af_packet on VPP's side")

    def check(self, lab, link):
        ka, kb = _kinds(lab, link)
        if sorted((ka, kb)) not in ([k, "vpp"] for k in KERNEL_PEERS):
            return [(("type",), f"a tap link joins a vpp node to a host or router; this one joins {ka} "
                                f"'{link.a.node}' and {kb} '{link.b.node}'",
                     "between two vpp nodes use type: memif; to a bridge a veth (the default)")]
        out = []
        for f in ("bandwidth", "delay", "jitter", "loss"):
            if getattr(link.impairment, f):
                out.append(((f,), f"a tap link takes no {f} (VPP owns one side)",
                            "impair traffic in VPP: nsim: {delay: 10ms, loss: 1%} on the vpp node"))
        return out

    def plan(self, lab, link):
        return linktypes.Veth().plan(lab, link)   # the af_packet fallback (see the module text)


LINK_TYPES = (Tap,)

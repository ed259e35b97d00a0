"""The link-type registry: how a link between two interfaces is built.

`veth` (the default) is a kernel veth pair. Later types (vhost-user, memif...) register here;
a link type checks that its two ends can take it and plans the actions that build it.
"""
from __future__ import annotations

from ..deploy import actions as A
from . import drivers
from .model import Lab, Link
from .. import registry



class LinkType:
    name: str = ""
    summary: str = ""

    def check(self, lab: Lab, link: Link) -> list[tuple[tuple, str, str | None]]:
        """Problems as (path under the link, message, hint)."""
        return []

    def plan(self, lab: Lab, link: Link) -> list[A.Action]:
        raise NotImplementedError


def get(name: str) -> "LinkType":
    return registry.active().link_types.get(name)


def names() -> list[str]:
    return registry.active().link_types.names()


class Veth(LinkType):
    name = "veth"
    summary = "a kernel veth pair between two namespaces (the default)"

    def check(self, lab, link):
        # a veth pair has one MTU: the link's, or its ends', and they must agree
        given = ([f"{link.mtu} on the link"] if link.mtu else []) + \
            [f"{e.mtu} on {e.key}" for e in (link.a, link.b) if e.mtu]
        if len({int(g.split()[0]) for g in given}) > 1:
            return [(("mtu",) if link.mtu else (), f"the MTUs of this veth disagree: {', '.join(given)}",
                     "a veth pair has one MTU: give it once (on the link, or the same on both ends)")]
        return []

    def plan(self, lab, link):
        a, b = link.a, link.b
        # create from the forwarder's side, so most links are made in one namespace and one batch
        if drivers.get(lab.nodes[b.node].kind).forwarder and not drivers.get(lab.nodes[a.node].kind).forwarder:
            a, b = b, a
        mtu = link.mtu or a.mtu or b.mtu
        return [A.CreateVeth(netns=a.netns, device=a.device, index=a.index, peer_netns=b.netns,
                             peer_device=b.device, peer_index=b.index, mac=a.mac, peer_mac=b.mac, mtu=mtu,
                             label=f"{link.a.key} -- {link.b.key}")]


def register(regs) -> None:
    """veth, the core's own link type (backends add theirs: vhost-user, memif)."""
    regs.link_types.register(Veth())

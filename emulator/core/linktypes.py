"""The link-type registry: how a link between two interfaces is built.

`veth` (the default) is a kernel veth pair. Later types (vhost-user, memif...) register here;
a link type checks that its two ends can take it and plans the actions that build it.

Ends: a link type may name the roles its two ends play (`role_pairs`: memif's server and client,
vhost-user's virtio and vhost); each node kind says which link types it can end, and in which
roles, through its driver (`Driver.link_ends` / `link_end`, core/driver.py). `roles(lab, link)`
picks the first pair both ends declare; `end_problems` refuses a link no pair fits, naming the
kinds that can take it. So a new kind joins an existing link type by declaring an end, without
an edit to the backend that owns the link type.
"""
from __future__ import annotations

from ..deploy import actions as A
from . import drivers
from .model import Interface, Lab, Link
from .. import registry



class LinkType:
    name: str = ""
    summary: str = ""
    #: (role of the first endpoint, role of the second), in order of preference; empty: any two
    #: nodes (veth)
    role_pairs: tuple[tuple[str, str], ...] = ()

    def check(self, lab: Lab, link: Link) -> list[tuple[tuple, str, str | None]]:
        """Problems as (path under the link, message, hint)."""
        return []

    def plan(self, lab: Lab, link: Link) -> list[A.Action]:
        raise NotImplementedError


def end_spec(lab: Lab, iface: Interface, link_type: str):
    """The EndSpec of `iface`'s node for `link_type` (None: its kind cannot end it)."""
    node = lab.nodes[iface.node]
    try:
        drv = drivers.get(node.kind)
    except drivers.UnknownKind:
        return None
    return drv.link_end(link_type, lab, node, iface)


def roles(lab: Lab, link: Link) -> tuple[str, str] | None:
    """The roles the link's (first, second) endpoints play: the first of its type's role_pairs
    both ends' drivers declare; None when none fits (or the type has no roles)."""
    pairs = get(link.type).role_pairs
    if not pairs:
        return None
    ea, eb = end_spec(lab, link.a, link.type), end_spec(lab, link.b, link.type)
    if ea is None or eb is None:
        return None
    return next(((ra, rb) for ra, rb in pairs if ra in ea.roles and rb in eb.roles), None)


def role_of(lab: Lab, link: Link, iface: Interface) -> str | None:
    r = roles(lab, link)
    return None if r is None else r[0 if iface is link.a else 1]


def kinds_with_end(link_type: str, role: str | None = None) -> list[str]:
    """The kinds whose drivers declare an end of `link_type` (in `role`), in registration order."""
    out = []
    for d in drivers.all_drivers():
        spec = d.link_ends.get(link_type)
        if spec is not None and (role is None or role in spec.roles):
            out.append(d.kind)
    return out


def end_problems(lab: Lab, link: Link, hint: str | None = None) -> list[tuple[tuple, str, str | None]]:
    """A problem when no role pair of the link's type fits its two ends."""
    lt = get(link.type)
    if not lt.role_pairs or roles(lab, link) is not None:
        return []
    ka, kb = lab.nodes[link.a.node].kind, lab.nodes[link.b.node].kind
    seen: list[tuple[str, str]] = []
    for ra, rb in lt.role_pairs:
        if (rb, ra) not in seen:
            seen.append((ra, rb))

    def end(role: str) -> str:
        return f"a {role} end ({', '.join(kinds_with_end(lt.name, role)) or 'no kind declares one'})"

    joins = " or ".join(f"{end(ra)} and {end(rb)}" for ra, rb in seen)
    return [(("type",), f"a {lt.name} link joins {joins}; this one joins {ka} '{link.a.node}' and {kb} "
                        f"'{link.b.node}'", hint)]


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
        # create from the switch's side, so most links are made in one namespace and one batch
        if drivers.get(lab.nodes[b.node].kind).switch and not drivers.get(lab.nodes[a.node].kind).switch:
            a, b = b, a
        mtu = link.mtu or a.mtu or b.mtu
        return [A.CreateVeth(netns=a.netns, device=a.device, index=a.index, peer_netns=b.netns,
                             peer_device=b.device, peer_index=b.index, mac=a.mac, peer_mac=b.mac, mtu=mtu,
                             label=f"{link.a.key} -- {link.b.key}")]


def register(regs) -> None:
    """veth, the core's own link type (backends add theirs: vhost-user, memif)."""
    regs.link_types.register(Veth())

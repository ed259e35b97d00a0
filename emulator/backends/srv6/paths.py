"""The SRv6 core on the resolved lab: link addresses between srv6-routers, locator routes
(shortest paths, fewest hops), next hops of End.X/End.DX* SIDs, and each policy's path hop by hop."""
from __future__ import annotations

import collections
import ipaddress
from dataclasses import dataclass, field

from ...core.model import Interface, Lab
from .spec import Model, Policy, Sid


@dataclass
class Adj:
    node: str
    iface: Interface        # this router's end
    peer: str
    peer_iface: Interface
    peer_addr: str          # the neighbour's IPv6 link address (no prefix length)


@dataclass
class Core:
    model: Model
    addrs: dict[str, str] = field(default_factory=dict)     # node:if -> its IPv6 link address with /64
    adj: dict[str, list[Adj]] = field(default_factory=dict)
    first_hop: dict[tuple[str, str], Adj] = field(default_factory=dict)   # (from, to router) -> adjacency

    def route(self, src: str, dst: str) -> list[Adj]:
        """The links a packet crosses from router SRC to router DST along the locator routes."""
        hops, cur = [], src
        while cur != dst:
            a = self.first_hop.get((cur, dst))
            if a is None:
                raise PathError(f"no path from {src} to {dst}: the srv6-routers are not connected")
            hops.append(a)
            cur = a.peer
        return hops


class PathError(ValueError):
    pass


def core(lab: Lab, model: Model) -> Core:
    c = Core(model)
    prefix = ipaddress.ip_network(model.link_prefix)
    subnets = prefix.subnets(new_prefix=64)
    next(subnets)   # the prefix's first /64 stays free
    for name in model.routers:
        c.adj[name] = []
    for link in lab.links:
        a, b = link.a, link.b
        if a.node not in model.routers or b.node not in model.routers:   # SRv6 routers of any kind
            continue
        net = next(subnets)
        aa, ba = net.network_address + 1, net.network_address + 2
        c.addrs[a.key], c.addrs[b.key] = f"{aa}/64", f"{ba}/64"
        c.adj[a.node].append(Adj(a.node, a, b.node, b, str(ba)))
        c.adj[b.node].append(Adj(b.node, b, a.node, a, str(aa)))
    for src in model.routers:   # BFS: the first hop of a shortest path to every other router
        seen = {src: None}
        q = collections.deque([src])
        while q:
            cur = q.popleft()
            for a in c.adj[cur]:
                if a.peer not in seen:
                    seen[a.peer] = seen[cur] or a
                    q.append(a.peer)
        for dst, first in seen.items():
            if first is not None:
                c.first_hop[(src, dst)] = first
    return c


def next_hop(lab: Lab, router: str, nh: str, family: int) -> tuple[str, Interface]:
    """A SID's nh (a node name or an address) -> (address, the router's interface towards it)."""
    node = lab.nodes[router]
    try:
        addr = ipaddress.ip_address(nh)
    except ValueError:
        addr = None
    for iface in node.interfaces.values():
        if iface.link < 0:
            continue
        link = lab.links[iface.link]
        peer = link.b if link.a is iface else link.a
        if addr is None and peer.node == nh:
            for a in peer.addresses:
                if ipaddress.ip_interface(a).version == family:
                    return a.split("/")[0], iface
        if addr is not None:
            for a in iface.addresses:
                if addr in ipaddress.ip_interface(a).network:
                    return str(addr), iface
    raise PathError(f"{router}: next hop '{nh}' has no IPv{family} address on a link of {router}")


def end_x_adj(c: Core, sid: Sid) -> Adj:
    for a in c.adj[sid.node]:
        if a.peer == sid.nh or a.peer_addr == sid.nh:
            return a
    raise PathError(f"{sid.label}: End.X next hop '{sid.nh}' is not a neighbouring srv6-router of {sid.node}")


@dataclass
class Hop:
    node: str
    what: str                      # "headend: encap ...", "End", "End.DX4 -> h2", "transit"
    link: tuple[str, str] | None = None   # the link taken to get here (from node:if, to node:if)


def policy_path(lab: Lab, c: Core, pol: Policy, segments: list[Sid] | None = None) -> list[Hop]:
    """Hop by hop: every router (and the final node) a packet steered by POL crosses."""
    segs = segments if segments is not None else pol.segments
    hops = [Hop(pol.headend, f"headend: {pol.mode} SRH with {len(segs)} segment(s), traffic to {pol.to}"
                + (f" from {'' if pol.src in lab.nodes else 'service chain '}{pol.src} (ip rule, table {pol.table})"
                   if pol.src else ""))]
    cur = pol.headend
    for i, sid in enumerate(segs):
        route = c.route(cur, sid.node)
        what = f"segment {i}: {sid.behaviour} ({sid.label} {sid.addr})"
        for j, a in enumerate(route):
            hops.append(Hop(a.peer, what if j == len(route) - 1 else f"transit towards {sid.label}",
                            (a.iface.key, a.peer_iface.key)))
        if not route:   # already there (an End.X before it led here)
            hops[-1].what += f"; {what}"
        cur = sid.node
        if sid.behaviour == "End.X":
            a = end_x_adj(c, sid)
            hops.append(Hop(a.peer, f"via End.X of {sid.label}", (a.iface.key, a.peer_iface.key)))
            cur = a.peer
        elif sid.behaviour in ("End.DX4", "End.DX6"):
            fam = 4 if sid.behaviour == "End.DX4" else 6
            addr, iface = next_hop(lab, sid.node, sid.nh, fam)
            link = lab.links[iface.link]
            peer = link.b if link.a is iface else link.a
            hops.append(Hop(peer.node, f"decapsulated IPv{fam} packet delivered to {addr}", (iface.key, peer.key)))
        elif sid.behaviour.startswith("End.DT"):
            hops[-1].what += ": decapsulated, looked up in the main table"
    return hops


def links_of(hops: list[Hop]) -> list[tuple[str, str]]:
    return [h.link for h in hops if h.link]


def explain(lab: Lab, c: Core) -> str:
    out = []
    for r in c.model.routers.values():
        out.append(f"router {r.name}: locator {r.locator}; SIDs " +
                   ", ".join(f"{s.name}={s.addr} ({s.behaviour}{' nh ' + s.nh if s.nh else ''})"
                             for s in r.sids.values()))
    for pol in c.model.policies.values():
        src = f" from {pol.src}" if pol.src else ""
        out.append(f"policy {pol.name}: {pol.headend} steers {pol.to}{src} ({pol.mode}) over "
                   + " -> ".join(s.label for s in pol.segments))
        try:
            for h in policy_path(lab, c, pol):
                via = f"  [{h.link[0]} -> {h.link[1]}]" if h.link else ""
                out.append(f"    {h.node:12s} {h.what}{via}")
        except PathError as e:
            out.append(f"    no path: {e}")
    return "\n".join(out) + "\n"

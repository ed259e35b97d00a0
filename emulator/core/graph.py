"""Stage 4: the lab as a networkx multigraph, and its layer-2 segments.

Nodes carry their kind and namespace; each link is an edge keyed by its id
with both interfaces. A *segment* is a broadcast domain: a point-to-point
link between two namespace nodes, or every namespace-node interface attached
to one connected group of switches (Linux bridges, OVS).
"""
from __future__ import annotations

import json

import networkx as nx

from . import drivers
from .model import Interface, Lab


def build(lab: Lab) -> nx.MultiGraph:
    g = nx.MultiGraph(name=lab.name)
    for n in lab.nodes.values():
        g.add_node(n.name, kind=n.kind, netns=n.netns, switch=drivers.get(n.kind).switch)
    for link in lab.links:
        g.add_edge(link.a.node, link.b.node, key=link.id, id=link.id,
                   a=link.a.key, b=link.b.key, type=link.type)
    return g


def segments(lab: Lab, g: nx.MultiGraph) -> list[tuple[str, list[Interface]]]:
    """Broadcast domains in link order: ("p2p" | "lan", the namespace-node interfaces on it)."""
    switches = [n for n, d in g.nodes(data=True) if d["switch"]]
    component: dict[str, int] = {}
    for i, comp in enumerate(nx.connected_components(g.subgraph(switches))):
        for n in comp:
            component[n] = i
    by_comp: dict[int, list[Interface]] = {}
    order: list[tuple[str, object]] = []
    for link in lab.links:
        a_sw, b_sw = link.a.node in component, link.b.node in component
        if not a_sw and not b_sw:
            order.append(("p2p", [link.a, link.b]))
            continue
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if end.node in component and other.node not in component:
                cid = component[end.node]
                if cid not in by_comp:
                    by_comp[cid] = []
                    order.append(("lan", cid))
                by_comp[cid].append(other)
    return [(kind, v if kind == "p2p" else by_comp[v]) for kind, v in order]


def _bridge(lab: Lab, node: str) -> bool:
    return lab.nodes[node].kind == "bridge"


def bridge_problems(lab: Lab, src) -> list[tuple[tuple, str, str | None]]:
    """Loops of Linux bridges without STP, and bridged segments whose MTUs differ:
    (YAML path, message, hint) each, for resolve's collector.

    Links are taken in file order; a link between two bridges already connected through
    bridges closes a loop (union-find, so a 2000-bridge chain costs no path search), and only
    then networkx finds the loop it closes, for the message.
    """
    problems: list[tuple[tuple, str, str | None]] = []
    parent: dict[str, str] = {}

    def root(n: str) -> str:
        parent.setdefault(n, n)
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    seen = nx.MultiGraph()   # bridge-to-bridge links so far
    for link in lab.links:
        a, b = link.a.node, link.b.node
        if not (_bridge(lab, a) and _bridge(lab, b)):
            continue
        if a == b:
            problems.append((link.path, f"this link joins bridge '{a}' to itself ({link.a.name} and "
                                        f"{link.b.name}): what the bridge floods comes back to it, a loop",
                             "remove this link"))
            continue
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
            seen.add_edge(a, b, key=link.id)
            continue
        loop = nx.shortest_path(seen, a, b)
        without = [n for n in loop if not lab.nodes[n].props.get("stp")]
        if without:
            if len(loop) == 2:
                other = lab.links[next(iter(seen.get_edge_data(a, b)))]
                what = (f"it is a second link between bridges '{a}' and '{b}' (the other is at "
                        f"{src.issue(other.path, '').location()})")
            else:
                what = f"it closes a loop of bridges: {' - '.join(loop + [a])}"
            problems.append((link.path, f"{what}; without STP, every broadcast (ARP...) would circle the "
                                        f"loop forever and multiply (a broadcast storm)",
                             f"set stp: true on {', '.join(without)} (the kernel's spanning tree then "
                             f"blocks one port of the loop), or remove this link"))
        seen.add_edge(a, b, key=link.id)
    problems.extend(_segment_mtus(lab, src, root))
    return problems


def _segment_mtus(lab: Lab, src, root) -> list[tuple[tuple, str, str | None]]:
    """A Linux bridge forwards a frame only if it fits the egress port's MTU, and drops it silently
    otherwise: every veth of a bridged segment must have the same MTU."""
    by_segment: dict[str, list] = {}
    nodes = lab.nodes
    for link in lab.links:   # every link of a large lab: what a message needs is made only for one
        a, b = link.a, link.b
        if link.type != "veth" or a.node == b.node:
            continue
        br = a.node if nodes[a.node].kind == "bridge" else b.node if nodes[b.node].kind == "bridge" else None
        if br is None:
            continue
        mtu = link.mtu or a.mtu or b.mtu
        by_segment.setdefault(root(br), []).append((mtu or 1500, link))
    problems = []
    for pairs in by_segment.values():
        counts: dict[int, int] = {}
        for mtu, _ in pairs:
            counts[mtu] = counts.get(mtu, 0) + 1
        if len(counts) < 2:
            continue
        items = [_mtu_item(link, src) for _, link in pairs]
        # the segment's MTU: the most common; on a tie the default's (1500), then the first link's
        defaults = {mtu for mtu, default, *_ in items if default}
        ref = max(counts, key=lambda m: (counts[m], m in defaults, -[i[0] for i in items].index(m)))
        sample = next(i for i in items if i[0] == ref)
        bridges = sorted({e.node for *_, link in items for e in link.ends() if _bridge(lab, e.node)})
        seg = f"bridge{'s' if len(bridges) > 1 else ''} {', '.join(bridges)}"
        for mtu, default, where, who, link in items:
            if mtu == ref:
                continue
            other = f"{'the default ' if sample[1] else ''}{ref} on {sample[3]}"
            fix = "remove this mtu" if sample[1] else f"give mtu: {ref} here"
            problems.append((where, f"{'the default ' if default else ''}MTU {mtu} of {who} differs from the "
                                    f"rest of the segment bridged by {seg} ({other}): the bridge silently "
                                    f"drops frames larger than the port they leave by",
                             f"a bridged segment has one MTU: {fix}, or give mtu: {mtu} to every link of "
                             f"{seg}"))
    return problems


def _mtu_item(link, src) -> tuple:
    """(MTU, whether it is the default, where it is said, what says it, the link)."""
    if link.mtu:
        mtu, where, who = link.mtu, link.path + ("mtu",), f"link {link.a.key} -- {link.b.key}"
    else:
        end = next((e for e in link.ends() if e.mtu), None)
        if end is not None:
            where = end.path + ("mtu",) if end.path + ("mtu",) in src.values else end.path
            mtu, who = end.mtu, end.key
        else:
            mtu, where, who = None, link.path, f"link {link.a.key} -- {link.b.key}"
    return mtu or 1500, mtu is None, where, who, link


def to_json(lab: Lab, g: nx.MultiGraph) -> str:
    data = {
        "name": lab.name,
        # "forwarder": the published JSON's name for a switch (kept: `graph -f json` readers use it)
        "nodes": [{"name": n, **{("forwarder" if k == "switch" else k): v for k, v in d.items()}}
                  for n, d in g.nodes(data=True)],
        "links": [{"id": l.id, "a": {"node": l.a.node, "interface": l.a.name, "device": l.a.device,
                                      "netns": l.a.netns, "addresses": l.a.addresses},
                   "b": {"node": l.b.node, "interface": l.b.name, "device": l.b.device,
                         "netns": l.b.netns, "addresses": l.b.addresses}} for l in lab.links],
    }
    if lab.endpoints:   # single-ended links
        data["endpoints"] = [{"id": e.id, "type": e.type, "host_interface": e.host_interface,
                              "node": e.iface.node, "interface": e.iface.name, "device": e.iface.device,
                              "netns": e.iface.netns, "addresses": e.iface.addresses} for e in lab.endpoints]
    return json.dumps(data, indent=2)


def to_dot(lab: Lab, g: nx.MultiGraph) -> str:
    shapes = {True: "box", False: "ellipse"}
    lines = [f'graph "{lab.name}" {{', "  node [fontname=Helvetica];"]
    for n, d in g.nodes(data=True):
        lines.append(f'  "{n}" [shape={shapes[d["switch"]]}, label="{n}\\n({d["kind"]})"];')
    for l in lab.links:
        lab_a = l.a.name + (f"\\n{l.a.addresses[0]}" if l.a.addresses else "")
        lab_b = l.b.name + (f"\\n{l.b.addresses[0]}" if l.b.addresses else "")
        lines.append(f'  "{l.a.node}" -- "{l.b.node}" [taillabel="{lab_a}", headlabel="{lab_b}", fontsize=9];')
    for e in lab.endpoints:   # single-ended links: the host's side drawn as a note
        host = f"{e.type}:{e.host_interface}"
        lab_a = e.iface.name + (f"\\n{e.iface.addresses[0]}" if e.iface.addresses else "")
        lines.append(f'  "{host}" [shape=note, label="{host}"];')
        lines.append(f'  "{e.iface.node}" -- "{host}" [taillabel="{lab_a}", style=dashed, fontsize=9];')
    lines.append("}")
    return "\n".join(lines)


def to_text(lab: Lab, g: nx.MultiGraph) -> str:
    lines = [f"lab {lab.name}: {g.number_of_nodes()} nodes, {g.number_of_edges() + len(lab.endpoints)} links"]
    for n in lab.nodes.values():
        lines.append(f"  {n.name} ({n.kind}, netns {n.netns})")
        for i in n.interfaces.values():
            if i.endpoint >= 0:
                ep = lab.endpoints[i.endpoint]
                peer_key = f"{ep.type}:{ep.host_interface}"
            elif i.link >= 0:
                link = lab.links[i.link]
                peer_key = (link.b if link.a is i else link.a).key
            else:
                continue
            addrs = " ".join(i.addresses) or "-"
            lines.append(f"    {i.name:<10} -> {peer_key:<24} {addrs}")
    return "\n".join(lines)

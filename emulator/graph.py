"""Stage 4: the lab as a networkx multigraph, and its layer-2 segments.

Nodes carry their kind and namespace; each link is an edge keyed by its id
with both interfaces. A *segment* is a broadcast domain: a point-to-point
link between two namespace nodes, or every namespace-node interface attached
to one connected group of forwarders (bridges).
"""
from __future__ import annotations

import json

import networkx as nx

from . import drivers
from .model import Interface, Lab


def build(lab: Lab) -> nx.MultiGraph:
    g = nx.MultiGraph(name=lab.name)
    for n in lab.nodes.values():
        g.add_node(n.name, kind=n.kind, netns=n.netns, forwarder=drivers.get(n.kind).forwarder)
    for link in lab.links:
        g.add_edge(link.a.node, link.b.node, key=link.id, id=link.id,
                   a=link.a.key, b=link.b.key, type=link.type)
    return g


def segments(lab: Lab, g: nx.MultiGraph) -> list[tuple[str, list[Interface]]]:
    """Broadcast domains in link order: ("p2p" | "lan", the namespace-node interfaces on it)."""
    fwd_nodes = [n for n, d in g.nodes(data=True) if d["forwarder"]]
    component: dict[str, int] = {}
    for i, comp in enumerate(nx.connected_components(g.subgraph(fwd_nodes))):
        for n in comp:
            component[n] = i
    by_comp: dict[int, list[Interface]] = {}
    order: list[tuple[str, object]] = []
    for link in lab.links:
        a_fwd, b_fwd = link.a.node in component, link.b.node in component
        if not a_fwd and not b_fwd:
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


def to_json(lab: Lab, g: nx.MultiGraph) -> str:
    data = {
        "name": lab.name,
        "nodes": [{"name": n, **d} for n, d in g.nodes(data=True)],
        "links": [{"id": l.id, "a": {"node": l.a.node, "interface": l.a.name, "device": l.a.device,
                                      "netns": l.a.netns, "addresses": l.a.addresses},
                   "b": {"node": l.b.node, "interface": l.b.name, "device": l.b.device,
                         "netns": l.b.netns, "addresses": l.b.addresses}} for l in lab.links],
    }
    return json.dumps(data, indent=2)


def to_dot(lab: Lab, g: nx.MultiGraph) -> str:
    shapes = {True: "box", False: "ellipse"}
    lines = [f'graph "{lab.name}" {{', "  node [fontname=Helvetica];"]
    for n, d in g.nodes(data=True):
        lines.append(f'  "{n}" [shape={shapes[d["forwarder"]]}, label="{n}\\n({d["kind"]})"];')
    for l in lab.links:
        lab_a = l.a.name + (f"\\n{l.a.addresses[0]}" if l.a.addresses else "")
        lab_b = l.b.name + (f"\\n{l.b.addresses[0]}" if l.b.addresses else "")
        lines.append(f'  "{l.a.node}" -- "{l.b.node}" [taillabel="{lab_a}", headlabel="{lab_b}", fontsize=9];')
    lines.append("}")
    return "\n".join(lines)


def to_text(lab: Lab, g: nx.MultiGraph) -> str:
    lines = [f"lab {lab.name}: {g.number_of_nodes()} nodes, {g.number_of_edges()} links"]
    for n in lab.nodes.values():
        lines.append(f"  {n.name} ({n.kind}, netns {n.netns})")
        for i in n.interfaces.values():
            if i.link < 0:
                continue
            link = lab.links[i.link]
            peer = link.b if link.a is i else link.a
            addrs = " ".join(i.addresses) or "-"
            lines.append(f"    {i.name:<10} -> {peer.key:<24} {addrs}")
    return "\n".join(lines)

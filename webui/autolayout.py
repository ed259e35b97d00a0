"""Automatic layout of a drawing: layered along chains, with end hosts off the lines.

The nodes that carry traffic on (degree > 1: bridges, routers, chain endpoints) are laid out in
layers by breadth-first distance from one end of their component (for a network service chain, its
client, so the hops run left to right); long runs of layers wrap into rows, snake-wise. Nodes with a
single neighbour (end hosts) hang below their neighbour, to the side, so that no host sits on a
line between two other nodes (a 500-node linear lab drew h34 between s35 and s34). Pure: positions
only, milliseconds for 1000 nodes. The force-directed layout runs in the browser (cytoscape's cose).
"""
from __future__ import annotations

from collections import deque

from . import model

GRID = model.GRID
ROW_LAYERS = 16   # layers per row before the chain wraps


def _adjacency(topo: dict, hops: list[tuple[str, str]]) -> dict[str, list[str]]:
    nodes = topo.get("nodes") or {}
    adj: dict[str, list[str]] = {n: [] for n in nodes}
    pairs = [tuple(model.endpoint_node(e) for e in model.link_endpoints(l)) for l in topo.get("links") or []]
    for a, b in [p for p in pairs if len(p) == 2] + list(hops):
        if a in adj and b in adj and a != b:
            if b not in adj[a]:
                adj[a].append(b)
            if a not in adj[b]:
                adj[b].append(a)
    return adj


def _far_end(start: str, adj: dict, allowed: set) -> str:
    """The node farthest from `start` (one end of a chain)."""
    seen, q, last = {start}, deque([start]), start
    while q:
        last = q.popleft()
        for m in adj[last]:
            if m in allowed and m not in seen:
                seen.add(m)
                q.append(m)
    return last


def layered(topo: dict, hops: list[tuple[str, str]] = (), starts: list[str] = ()) -> dict:
    """Every node placed again (positions replaced). `hops`: directed chain hops (client first);
    `starts`: nodes to begin components from (chain clients)."""
    t = {**topo, "nodes": {n: (dict(v) if isinstance(v, dict) else v) for n, v in (topo.get("nodes") or {}).items()}}
    adj = _adjacency(t, list(hops))
    names = [n for n, v in t["nodes"].items() if isinstance(v, dict)]
    on_chains = {n for h in hops for n in h}   # chain members stay on the chain's line
    leaves = {n for n in names if len(adj[n]) == 1 and len(adj[adj[n][0]]) > 1 and n not in on_chains}
    core = [n for n in names if n not in leaves]
    core_set = set(core)
    placed: dict[str, tuple[float, float]] = {}
    y0 = 100.0
    order = [s for s in starts if s in core_set] + core
    for start in order:
        if start in placed:
            continue
        first = start if start in starts else _far_end(_far_end(start, adj, core_set), adj, core_set)
        layers: list[list[str]] = []
        dist = {first: 0}
        q = deque([first])
        while q:
            n = q.popleft()
            if dist[n] == len(layers):
                layers.append([])
            layers[dist[n]].append(n)
            for m in adj[n]:
                if m in core_set and m not in dist:
                    dist[m] = dist[n] + 1
                    q.append(m)
        width = max(len(l) for l in layers)
        has_leaves = any(m in leaves for l in layers for n in l for m in adj[n])
        row_h = (width + (2 if has_leaves else 1)) * GRID
        for li, layer in enumerate(layers):
            row, col = divmod(li, ROW_LAYERS)
            if row % 2:
                col = ROW_LAYERS - 1 - col   # a snake: the chain stays connected from row to row
            for k, n in enumerate(layer):
                placed[n] = (100 + col * GRID, y0 + row * row_h + k * GRID)
        rows = (len(layers) - 1) // ROW_LAYERS + 1
        y0 += rows * row_h + GRID
    for n in names:   # end hosts: below their neighbour, to the side (off any line through it)
        if n in leaves:
            continue
        mine = [m for m in adj[n] if m in leaves]
        x, y = placed[n]
        for k, m in enumerate(mine):
            side = -1 if k % 2 else 1
            placed[m] = (x + side * GRID * (0.35 + 0.3 * (k // 2)), y + GRID * 0.7)
    lone = [n for n in names if n not in placed]   # two nodes linked only to each other
    for i, n in enumerate(lone):
        placed[n] = (100 + (i % 8) * GRID, y0 + (i // 8) * GRID)
    for n, (x, y) in placed.items():
        t["nodes"][n]["position"] = {"x": round(x), "y": round(y)}
    return t


def chain_hops(topo: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """The hops of the topology's network service chains (client first), and the chains' clients."""
    from . import services
    hops, starts = [], []
    for ch in services.chains(topo):
        starts.append(ch["client"])
        hops += [(h["client"].split(":", 1)[0], h["endpoint"].split(":", 1)[0]) for h in ch["hops"]]
    return hops, starts


def arrange(topo: dict) -> dict:
    """The layered layout, chains included."""
    hops, starts = chain_hops(topo)
    return layered(topo, hops, starts)


def auto(topo: dict) -> dict:
    """Positions for an opened topology: the layered layout when it has none at all, else only the
    missing ones (the drawing as saved stays as it was)."""
    nodes = [v for v in (topo.get("nodes") or {}).values() if isinstance(v, dict)]
    if nodes and not any(model._has_pos(v) for v in nodes):
        return arrange(topo)
    return model.layout_missing(topo)

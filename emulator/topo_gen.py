"""Mininet-style generated topologies: single,N  linear,N  tree,DEPTH,FANOUT.

They produce the same raw data a YAML file would, so they go through the same
pipeline. Names follow Mininet: hosts h1..hN, switches s1..sN.
"""
from __future__ import annotations

from .errors import UsageError
from .core.loader import Source

SHAPES = {
    "single": "single,N: one bridge s1 with hosts h1..hN",
    "linear": "linear,N: a chain of N bridges s1..sN, host hI on bridge sI",
    "tree": "tree,DEPTH,FANOUT: a tree of bridges, FANOUT hosts under each leaf",
}


def _ints(spec: str, parts: list[str], n: int) -> list[int]:
    if len(parts) != n:
        raise UsageError(f"--topo {spec}: expected {SHAPES[spec.split(',')[0]]}")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"--topo {spec}: sizes must be integers") from None
    if any(v < 1 for v in vals):
        raise UsageError(f"--topo {spec}: sizes must be at least 1")
    return vals


def generate(spec: str, name: str | None = None) -> Source:
    shape, *parts = [p.strip() for p in spec.split(",")]   # "single, 2" is single,2
    if shape not in SHAPES:
        raise UsageError(f"--topo: unknown shape '{shape}'; known: " + "; ".join(SHAPES.values()))
    nodes: dict = {}
    links: list = []
    if shape == "single":
        sizes = (n,) = _ints(spec, parts, 1)
        nodes["s1"] = {"kind": "bridge"}
        for i in range(1, n + 1):
            nodes[f"h{i}"] = {"kind": "host"}
            links.append([f"h{i}:eth0", "s1"])
    elif shape == "linear":
        sizes = (n,) = _ints(spec, parts, 1)
        for i in range(1, n + 1):
            nodes[f"h{i}"] = {"kind": "host"}
        for i in range(1, n + 1):
            nodes[f"s{i}"] = {"kind": "bridge"}
            links.append([f"h{i}:eth0", f"s{i}"])
        for i in range(1, n):
            links.append([f"s{i}", f"s{i + 1}"])
    else:
        sizes = depth, fanout = _ints(spec, parts, 2)
        if fanout ** depth > 5000:
            raise UsageError(f"--topo {spec}: {fanout ** depth} hosts is more than this tool generates (5000)")
        counter = {"s": 0, "h": 0}

        def add(d: int) -> str:
            if d == 0:
                counter["h"] += 1
                name_ = f"h{counter['h']}"
                nodes[name_] = {"kind": "host"}
                return name_
            counter["s"] += 1
            sw = f"s{counter['s']}"
            nodes[sw] = {"kind": "bridge"}
            for _ in range(fanout):
                child = add(d - 1)
                links.append([sw, child + (":eth0" if child.startswith("h") else "")])
            return sw
        add(depth)
    lab = name or (shape + "".join(str(v) for v in sizes))
    data = {"name": lab, "nodes": nodes, "links": links}
    return Source(data, file=f"<--topo {spec}>")

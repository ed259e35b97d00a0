"""The web UI's automatic layouts without a browser: layered along chains (nsm-chain4's hops left to
right), end hosts off the lines of a chain of bridges, positions kept when a file has them."""
import math
import os

import pytest

pytest.importorskip("dash")

from emulator.topo_gen import generate  # noqa: E402
from webui import autolayout, forms, layout, model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _seg_dist(p, a, b) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / ((dx * dx + dy * dy) or 1)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def test_hosts_stay_off_the_lines_of_a_chain_of_bridges():
    topo = model.from_yaml(model.to_yaml(generate("linear,250").data))
    t = autolayout.auto(topo)   # no positions in the file: the layered layout
    pos = {n: (v["position"]["x"], v["position"]["y"]) for n, v in t["nodes"].items()}
    assert len(set(pos.values())) == 500
    kinds = {n: v["kind"] for n, v in t["nodes"].items()}
    pairs = [[model.endpoint_node(e) for e in model.link_endpoints(l)] for l in t["links"]]
    lines = [(pos[a], pos[b]) for a, b in pairs if kinds[a] != "host" and kinds[b] != "host"]
    hosts = [n for n, k in kinds.items() if k == "host"]
    assert len(lines) == 249 and len(hosts) == 250
    worst = min(_seg_dist(pos[h], a, b) for h in hosts for a, b in lines)
    assert worst > 40, worst   # no host drawn on (or next to) a line between two bridges


def test_a_service_chain_is_layered_in_hop_order():
    with open(os.path.join(ROOT, "topologies", "nsm-chain4.yaml")) as f:
        t = autolayout.auto(model.from_yaml(f.read()))
    xs = [t["nodes"][n]["position"]["x"] for n in ("client", "firewall", "pt1", "pt2", "gateway")]
    ys = {t["nodes"][n]["position"]["y"] for n in ("client", "firewall", "pt1", "pt2", "gateway")}
    assert xs == sorted(xs) and len(set(xs)) == 5 and len(ys) == 1


def test_positions_in_the_file_are_kept():
    t = model.from_yaml("name: x\nnodes: {a: {kind: host, position: {x: 5, y: 6}}, b: {kind: host}}\nlinks: [[a, b]]\n")
    out = autolayout.auto(t)
    assert out["nodes"]["a"]["position"] == {"x": 5, "y": 6} and "position" in out["nodes"]["b"]
    assert autolayout.arrange(t)["nodes"]["a"]["position"] != {"x": 5, "y": 6}   # Arrange places every node


def test_palette_and_forms_come_from_the_registry():
    from emulator import registry
    from emulator.core import schema
    kinds = set(schema.node_schema()["properties"]["kind"]["enum"])
    assert set(forms.kinds()) == kinds
    assert {item.id["kind"] for item in layout.palette()} == kinds
    assert set(forms.kind_summaries()) == kinds
    assert registry.active() is not None

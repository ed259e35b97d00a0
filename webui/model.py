"""The drawing's document: a topology as plain data, its YAML, its cytoscape elements.

Everything here is pure (no Dash, no host access) so it is unit-tested without a browser.
The document is the same data a topology file holds; positions live in each node's
`position: {x, y}` (a field of the schema), so a drawing saved and opened again is the
same topology, drawn at the same places.
"""
from __future__ import annotations

import copy
import re
from collections import deque

import yaml

from emulator import lab as api
from emulator.core import schema as schema_mod
from emulator.errors import EmulatorError, Issue, TopologyError, format_path
from emulator.core.loader import load_text

PREFIX = {"host": "h", "router": "r", "bridge": "sw"}
TOP_ORDER = ["name", "description", "addressing", "nodes", "links"]
NODE_ORDER = ["kind", "description", "labels", "ip", "interfaces", "routes", "sysctls", "exec"]
GRID = 180  # distance between preset positions


def empty(name: str = "lab1") -> dict:
    return {"name": name, "nodes": {}, "links": []}


# ---------------------------------------------------------------------------------------
# YAML


def _ordered(d: dict, order: list[str]) -> dict:
    out = {k: d[k] for k in order if k in d}
    out.update({k: v for k, v in d.items() if k not in out and k != "position"})
    if "position" in d:
        out["position"] = d["position"]
    return out


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    pass


def _str(dumper, s):  # multi-line strings (exec scripts) as blocks
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


_Dumper.add_representer(str, _str)


def to_yaml(topo: dict) -> str:
    t = _ordered(topo, TOP_ORDER)
    if isinstance(t.get("nodes"), dict):
        t["nodes"] = {n: _ordered(v, NODE_ORDER) if isinstance(v, dict) else v for n, v in t["nodes"].items()}
    return yaml.dump(t, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)


def from_yaml(text: str, file: str = "<drawing>") -> dict:
    """Parse with the emulator's own loader (located errors, no custom tags); a topology must be a mapping."""
    src = load_text(text, file)
    if not isinstance(src.data, dict):
        raise TopologyError([Issue((), "a topology is a mapping with name:, nodes: and links:", None, file)])
    topo = copy.deepcopy(src.data)
    if not isinstance(topo.get("nodes"), dict):
        topo["nodes"] = {} if topo.get("nodes") is None else topo["nodes"]
    if topo.get("links") is None:
        topo["links"] = []
    return topo


# ---------------------------------------------------------------------------------------
# links and endpoints


def endpoint_node(ep) -> str | None:
    if isinstance(ep, str):
        return ep.split(":", 1)[0]
    if isinstance(ep, dict) and isinstance(ep.get("node"), str):
        return ep["node"]
    return None


def endpoint_interface(ep) -> str | None:
    if isinstance(ep, str) and ":" in ep:
        return ep.split(":", 1)[1]
    if isinstance(ep, dict):
        return ep.get("interface")
    return None


def link_endpoints(link) -> list:
    if isinstance(link, list):
        return link
    if isinstance(link, dict) and isinstance(link.get("endpoints"), list):
        return link["endpoints"]
    return []


def rename_endpoint(ep, old: str, new: str):
    if isinstance(ep, str):
        node, sep, rest = ep.partition(":")
        return new + sep + rest if node == old else ep
    if isinstance(ep, dict) and ep.get("node") == old:
        return {**ep, "node": new}
    return ep


# ---------------------------------------------------------------------------------------
# edits (each returns a new document; the caller keeps the old one for undo)


def new_name(topo: dict, kind: str) -> str:
    prefix = PREFIX.get(kind) or re.sub(r"[^A-Za-z0-9]", "", kind)[:6] or "n"
    i = 1
    while f"{prefix}{i}" in topo.get("nodes", {}):
        i += 1
    return f"{prefix}{i}"


def free_position(topo: dict) -> dict:
    """The next free grid spot, left to right, so nodes added by click never overlap."""
    taken = {(round(n["position"]["x"]), round(n["position"]["y"]))
             for n in topo.get("nodes", {}).values()
             if isinstance(n, dict) and isinstance(n.get("position"), dict)
             and isinstance(n["position"].get("x"), (int, float)) and isinstance(n["position"].get("y"), (int, float))}
    for i in range(100000):
        x, y = 100 + (i % 8) * GRID, 100 + (i // 8) * GRID
        if all(abs(x - tx) > GRID / 2 or abs(y - ty) > GRID / 2 for tx, ty in taken):
            return {"x": x, "y": y}
    return {"x": 100, "y": 100}


def add_node(topo: dict, kind: str, position: dict | None = None) -> tuple[dict, str]:
    t = copy.deepcopy(topo)
    name = new_name(t, kind)
    t.setdefault("nodes", {})[name] = {"kind": kind, "position": position or free_position(t)}
    return t, name


def add_link(topo: dict, a: str, b: str) -> dict:
    t = copy.deepcopy(topo)
    t.setdefault("links", []).append([a, b])
    return t


def copy_nodes(topo: dict, names: list[str], offset: int = 60) -> tuple[dict, list[str]]:
    """Copies of the nodes (fields kept, new names of the same prefix, placed `offset` down-right)
    and of the links among them; links to nodes not copied are not."""
    t = copy.deepcopy(topo)
    nodes = t.setdefault("nodes", {})
    renamed: dict[str, str] = {}
    for n in names:
        v = nodes.get(n)
        if not isinstance(v, dict) or n in renamed:
            continue
        base = re.sub(r"\d+$", "", n) or "n"
        i = 1
        while f"{base}{i}" in nodes:
            i += 1
        new = f"{base}{i}"
        c = copy.deepcopy(v)
        if _has_pos(c):
            c["position"] = {"x": c["position"]["x"] + offset, "y": c["position"]["y"] + offset}
        else:
            c["position"] = free_position(t)
        nodes[new] = c
        renamed[n] = new
    for l in list(t.get("links") or []):
        eps = link_endpoints(l)
        if len(eps) == 2 and all(endpoint_node(e) in renamed for e in eps):
            new_eps = [rename_endpoint(e, endpoint_node(e), renamed[endpoint_node(e)]) for e in eps]
            t["links"].append(new_eps if isinstance(l, list) else {**copy.deepcopy(l), "endpoints": new_eps})
    return t, list(renamed.values())


def move_nodes(topo: dict, positions: dict) -> dict:
    t = copy.deepcopy(topo)
    for name, p in positions.items():
        if name in t.get("nodes", {}) and isinstance(t["nodes"][name], dict):
            t["nodes"][name]["position"] = {"x": round(float(p["x"])), "y": round(float(p["y"]))}
    return t


def delete(topo: dict, nodes: list[str], links: list[int]) -> dict:
    t = copy.deepcopy(topo)
    gone = set(nodes)
    for n in gone:
        t.get("nodes", {}).pop(n, None)
    t["links"] = [l for i, l in enumerate(t.get("links", []))
                  if i not in set(links) and not any(endpoint_node(e) in gone for e in link_endpoints(l))]
    return t


def rename_node(topo: dict, old: str, new: str) -> dict:
    t = copy.deepcopy(topo)
    nodes = t.get("nodes", {})
    if old not in nodes or new == old:
        return t
    if new in nodes:
        raise ValueError(f"there is already a node named '{new}'")
    if not re.fullmatch(schema_mod.NAME_PATTERN, new):
        raise ValueError(f"'{new}' is not a valid node name (letters, digits, '-' and '_')")
    t["nodes"] = {(new if k == old else k): v for k, v in nodes.items()}
    links = []
    for l in t.get("links", []):
        if isinstance(l, list):
            l = [rename_endpoint(e, old, new) for e in l]
        elif isinstance(l, dict) and isinstance(l.get("endpoints"), list):
            l = {**l, "endpoints": [rename_endpoint(e, old, new) for e in l["endpoints"]]}
        links.append(l)
    t["links"] = links
    for v in t["nodes"].values():   # routes through the node: `via: OLD` follows the rename
        routes = v.get("routes") if isinstance(v, dict) else None
        if isinstance(routes, list):
            v["routes"] = [{**r, "via": new} if isinstance(r, dict) and r.get("via") == old else r for r in routes]
    return t


def set_node_props(topo: dict, name: str, props: dict) -> dict:
    """Replace the node's fields by props (position kept unless given)."""
    t = copy.deepcopy(topo)
    old = t["nodes"].get(name) or {}
    new = {k: v for k, v in props.items() if v is not None}
    if "position" not in new and isinstance(old, dict) and "position" in old:
        new["position"] = old["position"]
    t["nodes"][name] = new
    return t


def set_link_props(topo: dict, index: int, props: dict) -> dict:
    t = copy.deepcopy(topo)
    props = {k: v for k, v in props.items() if v is not None}
    eps = props.pop("endpoints", None) or link_endpoints(t["links"][index])
    t["links"][index] = {"endpoints": eps, **props} if props else list(eps)
    return t


def set_top_props(topo: dict, props: dict) -> dict:
    t = copy.deepcopy(topo)
    for k, v in props.items():
        if v is None:
            t.pop(k, None)
        else:
            t[k] = v
    return t


# ---------------------------------------------------------------------------------------
# layout


def layout_missing(topo: dict) -> dict:
    """Give every node without a position one: a grid in breadth-first order of the links, so
    neighbours land near each other. No force simulation: 500 nodes take milliseconds."""
    nodes = topo.get("nodes") or {}
    missing = [n for n, v in nodes.items() if isinstance(v, dict) and not _has_pos(v)]
    if not missing:
        return topo
    t = copy.deepcopy(topo)
    adj: dict[str, list[str]] = {n: [] for n in nodes}
    for l in t.get("links", []):
        eps = [endpoint_node(e) for e in link_endpoints(l)]
        if len(eps) == 2 and eps[0] in adj and eps[1] in adj:
            adj[eps[0]].append(eps[1])
            adj[eps[1]].append(eps[0])
    order, seen = [], set()
    for start in missing:
        if start in seen:
            continue
        q = deque([start])
        seen.add(start)
        while q:
            n = q.popleft()
            order.append(n)
            for m in adj[n]:
                if m not in seen and m in missing:
                    seen.add(m)
                    q.append(m)
    placed = [v["position"] for v in t["nodes"].values() if isinstance(v, dict) and _has_pos(v)]
    y0 = max((p["y"] for p in placed), default=-GRID) + GRID
    cols = max(4, int(len(order) ** 0.5 * 1.6))
    for i, n in enumerate(order):
        row, col = divmod(i, cols)
        if row % 2:
            col = cols - 1 - col  # a snake: chains stay connected from row to row
        t["nodes"][n]["position"] = {"x": 100 + col * GRID, "y": y0 + row * GRID}
    return t


def _has_pos(v: dict) -> bool:
    p = v.get("position")
    return isinstance(p, dict) and isinstance(p.get("x"), (int, float)) and isinstance(p.get("y"), (int, float))


# ---------------------------------------------------------------------------------------
# cytoscape elements


def edge_id(i: int, a: str, b: str) -> str:
    return f"link-{i}~{a}~{b}"


def elements(topo: dict, errors: dict[str, list[str]] | None = None) -> list[dict]:
    errors = errors or {}
    out = []
    nodes = topo.get("nodes") or {}
    for name, n in nodes.items():
        n = n if isinstance(n, dict) else {}
        kind = n.get("kind", "?")
        el = {"data": {"id": name, "label": name, "kind": str(kind)},
              "classes": " ".join(c for c in (f"kind-{kind}", "error" if name in errors else "") if c)}
        if _has_pos(n):
            el["position"] = {"x": n["position"]["x"], "y": n["position"]["y"]}
        if name in errors:
            el["data"]["errors"] = "\n".join(errors[name])
        out.append(el)
    for i, l in enumerate(topo.get("links") or []):
        eps = link_endpoints(l)
        if len(eps) != 2:
            continue
        a, b = endpoint_node(eps[0]), endpoint_node(eps[1])
        if a not in nodes or b not in nodes:
            continue
        eid = f"link-{i}"
        label = " ".join(x for x in (endpoint_interface(eps[0]) or "", endpoint_interface(eps[1]) or "") if x)
        # the element id names its ends: cytoscape cannot move an edge to other nodes, so a link
        # whose ends changed (a node renamed, an earlier link deleted) must be a new element, not
        # a patch of the old one (which went with the old node); "lid" is the link's index name
        el = {"data": {"id": edge_id(i, a, b), "lid": eid, "source": a, "target": b, "index": i, "ifaces": label},
              "classes": "error" if eid in errors else ""}
        if eid in errors:
            el["data"]["errors"] = "\n".join(errors[eid])
        out.append(el)
    return out


# ---------------------------------------------------------------------------------------
# validation


def element_of(path: tuple) -> str | None:
    """The drawing element an issue path concerns: nodes.X... -> X, links[i]... -> link-i."""
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], str):
        return path[1]
    if len(path) >= 2 and path[0] == "links" and isinstance(path[1], int):
        return f"link-{path[1]}"
    return None


def validate(text: str, check_host: bool = False) -> list[dict]:
    """Every problem of the topology text, each with the element it concerns (or None)."""
    try:
        api.compile(load_text(text, "<drawing>"), check_host=check_host)
    except TopologyError as e:
        return [{"element": element_of(i.path), "path": format_path(i.path), "message": i.message,
                 "hint": i.hint, "line": i.line} for i in e.issues]
    except EmulatorError as e:
        return [{"element": None, "path": "", "message": str(e), "hint": None, "line": None}]
    return []


def errors_by_element(issues: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for i in issues:
        if i["element"]:
            out.setdefault(i["element"], []).append(i["message"])
    return out

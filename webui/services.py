"""Network services on the drawing: services, forwarders and the chains `emulator explain` computes.

For a topology with `services:`, the drawing gets an overlay computed by the emulator itself
(emulator.lab.compile, no host checks): one node per service (linked to its endpoints by dotted
lines), one per forwarder, and for every client request its chain, hop by hop, as numbered arrows
labelled with the hop's mechanism and forwarder. Overlay ids contain ':' or '~', which node names
cannot, so they never collide with the topology's own elements. The overlay is not part of the
topology: it is recomputed after every edit, and a topology that does not compile draws none.
"""
from __future__ import annotations

from emulator import lab as api
from emulator.core.loader import load_text
from emulator.errors import EmulatorError

from . import model

SVC, FWD = "svc:", "fwd:"   # overlay node ids: svc:NAME, fwd:NAME


def chains(topo: dict) -> list[dict]:
    """The chains of the topology's requests (Chain.as_dict), [] when it has none or does not compile."""
    if not topo.get("services") and not any(isinstance(n, dict) and n.get("requests")
                                            for n in (topo.get("nodes") or {}).values()):
        return []
    try:
        c = api.compile(load_text(model.to_yaml(topo), "<drawing>"), check_host=False)
    except (EmulatorError, ValueError, KeyError, TypeError):
        return []
    return [ch.as_dict() for ch in c.services]


def _centre(points: list[dict]) -> dict:
    if not points:
        return {"x": 100, "y": 100}
    return {"x": sum(p["x"] for p in points) / len(points), "y": sum(p["y"] for p in points) / len(points)}


def overlay(topo: dict) -> list[dict]:
    """Cytoscape elements for services, forwarders and chains (empty without services)."""
    nodes = topo.get("nodes") or {}
    services = topo.get("services") if isinstance(topo.get("services"), dict) else {}
    forwarders = topo.get("forwarders") if isinstance(topo.get("forwarders"), dict) else {}
    if not services and not forwarders:
        return []
    pos = {n: v["position"] for n, v in nodes.items() if isinstance(v, dict) and model._has_pos(v)}
    top = min((p["y"] for p in pos.values()), default=100)
    bottom = max((p["y"] for p in pos.values()), default=100)
    out: list[dict] = []
    for i, (name, spec) in enumerate(services.items()):
        members = [n for n, v in nodes.items() if isinstance(v, dict) and isinstance(v.get("services"), list)
                   and name in v["services"]]
        c = _centre([pos[m] for m in members if m in pos])
        out.append({"data": {"id": SVC + name, "label": f"service {name}", "overlay": "service", "name": name},
                    "position": {"x": c["x"] + i * 160, "y": top - 150}, "classes": "overlay svc"})
        out += [{"data": {"id": f"member~{name}~{m}", "source": SVC + name, "target": m, "overlay": "member"},
                 "classes": "overlay member"} for m in members]
    xs = sorted(p["x"] for p in pos.values()) or [100]
    for i, (name, spec) in enumerate(forwarders.items()):
        kind = spec.get("type", "?") if isinstance(spec, dict) else "?"
        out.append({"data": {"id": FWD + name, "label": f"forwarder {name} ({kind})", "overlay": "forwarder",
                             "name": name},
                    "position": {"x": xs[len(xs) // 2] + i * 200, "y": bottom + 170}, "classes": "overlay fwd"})
    for ci, ch in enumerate(chains(topo)):
        for hi, h in enumerate(ch["hops"]):
            a, b = h["client"].split(":", 1)[0], h["endpoint"].split(":", 1)[0]
            if a not in nodes or b not in nodes:
                continue
            label = f"{ci + 1}.{hi + 1} {h['mechanism']} · {h['forwarder']}"
            out.append({"data": {"id": f"hop-{ci}-{hi}~{a}~{b}", "source": a, "target": b, "overlay": "hop",
                                 "label": label, "chain": ci, "hop": hi + 1, "client": ch["client"],
                                 "service": ch["service"], "ends": f"{h['client']} -> {h['endpoint']}"},
                        "classes": "overlay hop"})
    return out


def elements(topo: dict) -> list[dict]:
    """The drawing: the topology's elements, then the services overlay."""
    return model.elements(topo) + overlay(topo)

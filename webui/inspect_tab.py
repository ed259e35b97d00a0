"""The Inspect tab: the selected node's interfaces, addresses and routes, and, once the lab runs,
each interface's state and its packet/byte/drop counters per direction.

Before deploy the addresses are the ones the emulator will give (the automatic ones included),
from compiling the drawing; while the lab runs they are read in the node (`ip -j -s addr`,
`ip -j route`, argv lists through the public exec API).
"""
from __future__ import annotations

import json

import dash
from dash import Input, Output, State, html, no_update

from emulator import lab as api
from emulator.core.loader import load_text
from emulator.errors import EmulatorError

from . import model
from .docs import doc


def planned(topo: dict, node: str) -> dict | None:
    """The node as the emulator would build it: {interfaces: [{name, addresses, peer}], routes: [str]}."""
    try:
        c = api.compile(load_text(model.to_yaml(topo), "<drawing>"), check_host=False)
    except EmulatorError:
        return None
    n = c.lab.nodes.get(node)
    if n is None:
        return None
    ifs = []
    for i in n.interfaces.values():
        peer = ""
        if 0 <= i.link < len(c.lab.links):
            link = c.lab.links[i.link]
            peer = (link.b if link.a is i else link.a).key
        ifs.append({"name": i.name, "addresses": list(i.addresses), "peer": peer})
    routes = [f"{r.to}" + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else "") for r in n.routes]
    return {"interfaces": ifs, "routes": routes}


def live(lab: str, node: str) -> dict:
    """The node as its kernel sees it now."""
    r = api.exec_in(lab, node, ["ip", "-j", "-s", "addr", "show"], timeout=10)
    ifs = []
    for i in json.loads(r.stdout or "[]"):
        if i.get("ifname") == "lo":
            continue
        s = i.get("stats64") or {}
        rx, tx = s.get("rx") or {}, s.get("tx") or {}
        ifs.append({"name": i.get("ifname"), "state": i.get("operstate", "?"), "mtu": i.get("mtu"),
                    "mac": i.get("address", ""),
                    "addresses": [f"{a['local']}/{a['prefixlen']}" for a in i.get("addr_info", [])
                                  if a.get("scope") != "link"],
                    "rx": (rx.get("packets", 0), rx.get("bytes", 0), rx.get("dropped", 0)),
                    "tx": (tx.get("packets", 0), tx.get("bytes", 0), tx.get("dropped", 0))})
    routes = []
    for argv in (["ip", "-j", "route", "show"], ["ip", "-j", "-6", "route", "show"]):
        rr = api.exec_in(lab, node, argv, timeout=10)
        for x in json.loads(rr.stdout or "[]") if rr.ok else []:
            if x.get("dst", "").startswith("fe80"):
                continue
            routes.append(f"{x.get('dst')}" + (f" via {x['gateway']}" if x.get("gateway") else "")
                          + (f" dev {x['dev']}" if x.get("dev") else ""))
    return {"interfaces": ifs, "routes": routes}


def render(node: str, info: dict | None, running: bool) -> list:
    if info is None:
        return [html.Div(f"{node}: the drawing does not compile yet (see Problems)", className="hint")]
    head = ["interface", "state", "addresses", "peer"] if not running else \
        ["interface", "state", "addresses", "rx pkts", "rx bytes", "rx drop", "tx pkts", "tx bytes", "tx drop"]
    rows = []
    for i in info["interfaces"]:
        cells = [i["name"], i.get("state", "planned"), " ".join(i["addresses"]) or "-"]
        cells += [i.get("peer", "")] if not running else [*map(str, i["rx"]), *map(str, i["tx"])]
        rows.append(html.Tr([html.Td(c) for c in cells], **{"data-if": i["name"]}))
    return [html.Div(f"node {node}: " + ("running, read from its kernel" if running else
                                        "as it will be deployed (automatic addresses included)"),
                     className="props-title"),
            html.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)], className="inspect"),
            html.H5("routes"), html.Pre("\n".join(info["routes"]) or "(none)", className="routes")]


def register(app: dash.Dash) -> None:
    # its own timer, running only while the tab is shown (no request per tick otherwise)
    app.clientside_callback("function (tab) { return tab !== 'inspect'; }", Output("inspect-tick", "disabled"),
                            Input("tabs", "value"))

    @app.callback(Output("inspect", "children"), Input("cy", "selectedNodeData"),
                  Input("inspect-tick", "n_intervals"), Input("tabs", "value"), State("sid", "data"),
                  State("live", "data"))
    def inspect(sel, _n, tab, sid, live_data):
        if tab != "inspect":
            return no_update
        nodes = [n["id"] for n in sel or [] if ":" not in n["id"]]
        if len(nodes) != 1:
            return html.Div("select one node to inspect it", className="hint")
        node = nodes[0]
        topo = doc(sid).topo
        lab = str(topo.get("name") or "")
        if live_data and live_data.get("status") == "running" and node in (live_data.get("nodes") or {}):
            try:
                return render(node, live(lab, node), True)
            except (EmulatorError, OSError, ValueError) as e:
                return html.Div(f"cannot read {node}: {e}", className="bad")
        return render(node, planned(topo, node), False)

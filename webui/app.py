"""The Dash app: palette, drawing, property form, problems, YAML, lab state, scenarios.

The document being drawn lives on the server, one per browser tab (a session id in a Store),
with its undo/redo history, so a callback carries a small request and the browser never ships
a 500-node topology back and forth. Drawing-side gestures that Dash cannot see (dragging a node,
dropping a palette item, connecting two nodes) are caught by assets/emu.js and handed to Dash
with dash_clientside.set_props on small Stores.
"""
from __future__ import annotations

import base64
import copy
import os
import threading
import time
import uuid

import dash
import dash_cytoscape as cyto
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update

from emulator import lab as api
from emulator.errors import EmulatorError
from emulator.units import human_rate

from . import forms, jobs, model, server
from .files import Roots

HISTORY = 100


class Doc:
    def __init__(self, topo: dict):
        self.topo = topo
        self.undo: list[dict] = []
        self.redo: list[dict] = []
        self.rev = 0
        self.target: tuple = ("top",)  # what the property form edits
        self.orphan = False
        self.lock = threading.Lock()

    def change(self, topo: dict) -> bool:
        """Make `topo` the drawing; False (and no history entry) when it changes nothing, e.g. a
        click that "dragged" a node by zero pixels, or a move of a node deleted meanwhile: otherwise
        the next Undo would undo that non-change instead of the user's last edit."""
        if topo == self.topo:
            return False
        self.undo.append(self.topo)
        del self.undo[:-HISTORY]
        self.redo.clear()
        self.topo = topo
        self.rev += 1
        return True


DOCS: dict[str, Doc] = {}
_docs_lock = threading.Lock()
RATES: dict[str, tuple[float, dict]] = {}  # lab -> (time, {endpoint: stats}) of the previous sample


MAX_DOCS = 64  # drawings of the most recently used browser tabs kept on the server


def doc(sid: str | None, initial: dict | None = None, page: bool = False) -> Doc:
    """The drawing of a browser tab; one the server does not know (it was restarted) is new and empty,
    and marked so that the page can say so instead of editing a drawing it does not show."""
    with _docs_lock:
        d = DOCS.pop(sid, None)
        if d is None:
            d = Doc(copy.deepcopy(initial) if initial else model.empty())
            d.orphan = not page
        DOCS[sid] = d  # most recently used last
        while len(DOCS) > MAX_DOCS:
            DOCS.pop(next(iter(DOCS)))
        return d


KIND_LOOK = {  # shape, colour; kinds not listed get a colour from FALLBACK
    "host": ("round-rectangle", "#3e7cb1"), "router": ("ellipse", "#2f9e6e"), "bridge": ("rectangle", "#8a63d2"),
    "ovs": ("rectangle", "#5b3fa6"), "ovs-dpdk": ("rectangle", "#b83280"), "nse": ("hexagon", "#dd6b20"),
    "nsc": ("round-triangle", "#0f766e"), "dpdk-app": ("diamond", "#c05621"),
}
FALLBACK = ["#2c7a7b", "#975a16", "#6b46c1", "#2b6cb0", "#9b2c2c", "#276749"]


def kind_look(kind: str) -> tuple[str, str]:
    if kind in KIND_LOOK:
        return KIND_LOOK[kind]
    return "round-pentagon", FALLBACK[sum(map(ord, kind)) % len(FALLBACK)]


def kind_styles() -> list[dict]:
    out = []
    for kind in forms.kinds():
        shape, colour = kind_look(kind)
        st = {"shape": shape, "background-color": colour}
        if shape == "rectangle":
            st.update(width=46, height=22)
        out.append({"selector": f"node.kind-{kind}", "style": st})
    return out


STYLE = [
    {"selector": "node", "style": {
        "label": "data(label)", "text-valign": "bottom", "text-margin-y": 4, "font-size": 12,
        "font-family": "system-ui, sans-serif", "color": "#1f2933", "min-zoomed-font-size": 7,
        "width": 34, "height": 34, "background-color": "#7b8794", "border-width": 2, "border-color": "#fff"}},
    "KINDS",
    {"selector": "edge", "style": {"width": 2, "line-color": "#9aa5b1", "curve-style": "bezier"}},
    {"selector": "edge[rate]", "style": {"label": "data(rate)", "font-size": 10, "text-margin-y": -10, "color": "#52606d",
                                   "text-background-color": "#fff", "text-background-opacity": 0.85,
                                   "text-background-padding": 2, "min-zoomed-font-size": 8}},
    {"selector": "edge[ifa]", "style": {"source-label": "data(ifa)", "target-label": "data(ifb)",
                                        "source-text-offset": 28, "target-text-offset": 28, "font-size": 9,
                                        "source-text-margin-y": 9, "target-text-margin-y": 9,
                                        "color": "#7b8794", "min-zoomed-font-size": 9}},
    {"selector": ":selected", "style": {"overlay-color": "#2563eb", "overlay-opacity": 0.25,
                                        "overlay-padding": 6}},
    {"selector": "edge:selected", "style": {"line-color": "#2563eb", "width": 4}},
    {"selector": ".error", "style": {"border-color": "#d64545", "border-width": 4, "line-color": "#d64545",
                                     "line-style": "dashed"}},
    {"selector": "node.error[errlabel]", "style": {"label": "data(errlabel)", "text-wrap": "wrap",
                                                   "text-max-width": 180, "color": "#b91c1c"}},
    {"selector": "edge.error[errlabel]", "style": {"label": "data(errlabel)", "text-wrap": "wrap",
                                                   "text-max-width": 180, "color": "#b91c1c", "font-size": 10,
                                                   "text-background-color": "#fff", "text-background-opacity": 0.9}},
    {"selector": "node.st-up", "style": {"border-color": "#27ab83", "border-width": 4}},
    {"selector": "node.st-partial", "style": {"border-color": "#f0b429", "border-width": 4}},
    {"selector": "node.st-down", "style": {"border-color": "#9aa5b1", "border-width": 4, "opacity": 0.6}},
    {"selector": "edge.st-up", "style": {"line-color": "#27ab83", "width": 3}},
    {"selector": "edge.st-down", "style": {"line-color": "#d64545", "line-style": "dotted", "width": 3}},
    {"selector": "node.connect-src", "style": {"border-color": "#f97316", "border-width": 5}},
]


TAB = {"padding": "7px 4px", "fontSize": "13px", "lineHeight": "18px"}
TAB_SEL = {**TAB, "fontWeight": 600, "borderTop": "2px solid #2563eb"}


def stylesheet() -> list[dict]:
    out = []
    for st in STYLE:
        out.extend(kind_styles() if st == "KINDS" else [st])
    return out


def _palette() -> list:
    items = []
    for kind, summary in forms.kind_summaries().items():
        shape, colour = kind_look(kind)
        items.append(html.Button([html.Span(className=f"swatch shape-{shape}", style={"background": colour}),
                                  html.Span(kind)],
                                 id={"type": "palette", "kind": kind}, className="palette-item",
                                 title=f"{summary}\nclick to add, or drag onto the drawing", draggable="true",
                                 **{"data-kind": kind}))
    return items


def layout_factory(initial: dict | None, roots: Roots):
    def layout():
        sid = uuid.uuid4().hex
        d = doc(sid, initial, page=True)
        return html.Div([
            dcc.Store(id="sid", data=sid),
            dcc.Store(id="rev", data=d.rev),
            dcc.Store(id="drop"), dcc.Store(id="moved"), dcc.Store(id="link-req"),
            dcc.Store(id="errs"), dcc.Store(id="live"), dcc.Store(id="job"), dcc.Store(id="fit"),
            dcc.Download(id="download"),
            html.Div(id="sink-errs", hidden=True), html.Div(id="sink-live", hidden=True),
            html.Div(id="sink-fit", hidden=True),
            dcc.Interval(id="tick", interval=1500),
            html.Header([
                html.Div([html.Span("emulator", className="brand"), html.Span(" topology designer", className="sub")]),
                html.Div([
                    html.Button("New", id="btn-new", className="btn"),
                    dcc.Upload(html.Button("Open…", className="btn"), id="upload", accept=".yaml,.yml",
                               className="upload"),
                    html.Button("Save YAML", id="btn-save", className="btn"),
                ], className="group"),
                html.Div([
                    dcc.Dropdown(id="labs-dd", placeholder="running labs…", className="labs-dd", clearable=False,
                                 searchable=False, options=[]),
                    html.Span(id="lab-status", className="lab-status"),
                    html.Button("Deploy", id="btn-deploy", className="btn primary"),
                    html.Button("Destroy", id="btn-destroy", className="btn danger"),
                ], className="group"),
                html.Div(id="progress", className="progress"),
            ], className="topbar"),
            html.Div([
                html.Aside([
                    html.H4("Add node"),
                    html.Div(_palette(), id="palette", className="palette"),
                    html.H4("Edit"),
                    html.Button("Connect", id="btn-connect", className="btn tool",
                                title="click a node, then another, to link them (Esc cancels)"),
                    html.Button("Delete", id="btn-delete", className="btn tool", title="delete the selection (Del)"),
                    html.Button("Undo", id="btn-undo", className="btn tool", title="Ctrl+Z"),
                    html.Button("Redo", id="btn-redo", className="btn tool", title="Ctrl+Y"),
                    html.Button("Fit", id="btn-fit", className="btn tool", title="show the whole drawing"),
                    html.Div(id="msg", className="msg"),
                    html.Div(id="counts", className="counts"),
                ], className="left"),
                html.Main([
                    cyto.Cytoscape(id="cy", elements=model.elements(d.topo), layout={"name": "preset", "fit": True,
                                                                                      "animate": False},
                                   stylesheet=stylesheet(), style={"width": "100%", "height": "100%"},
                                   minZoom=0.05, maxZoom=3, boxSelectionEnabled=True, autoRefreshLayout=False,
                                   ),
                    html.Div("Click a kind in the palette, or drag it here, to add a node. "
                             "Then Connect two nodes to link them.", id="empty-hint", className="empty-hint",
                             hidden=bool(d.topo.get("nodes"))),
                    html.Div([html.Span([html.I(className="lg lg-up"), "up"]),
                              html.Span([html.I(className="lg lg-down"), "down"]),
                              html.Span([html.I(className="lg lg-err"), "problem"]),
                              html.Span([html.I(className="lg lg-sel"), "connecting"])], className="legend"),
                    html.Div([html.Div([html.Span(id="report-title"),
                                        html.A("open in a new tab", id="report-newtab", target="_blank"),
                                        html.Button("Close", id="report-close", className="btn")],
                                       className="report-bar"),
                              html.Iframe(id="report-frame", className="report-frame")],
                             id="report-overlay", className="report-overlay", hidden=True),
                ], className="canvas", id="canvas"),
                html.Aside([
                    dcc.Tabs(id="tabs", value="props", children=[
                        dcc.Tab(label="Properties", value="props", id="tab-props", style=TAB, selected_style=TAB_SEL, children=[
                            html.Div(id="props-title", className="props-title"),
                            html.Div(id="props-form", className="props-form"),
                            html.Div([html.Button("Apply", id="btn-apply", className="btn primary"),
                                      html.Span(id="props-actions")], className="props-buttons"),
                            html.Div(id="props-msg", className="msg"),
                        ]),
                        dcc.Tab(label="Problems", value="problems", id="tab-problems", style=TAB,
                                selected_style=TAB_SEL,
                                children=[html.Div(id="problems", className="problems")]),
                        dcc.Tab(label="YAML", value="yaml", id="tab-yaml", style=TAB, selected_style=TAB_SEL, children=[
                            dcc.Textarea(id="yaml", className="yaml", spellCheck=False),
                            html.Button("Apply YAML", id="btn-yaml", className="btn"),
                        ]),
                        dcc.Tab(label="Scenario", value="scenario", id="tab-scenario", style=TAB, selected_style=TAB_SEL, children=[
                            html.Div([
                                dcc.Dropdown(id="scn-file", options=roots.scenario_files(), placeholder="scenario file",
                                             className="scn-dd"),
                                html.Button("Run", id="btn-run", className="btn primary", disabled=True,
                                            title="choose a scenario file first"),
                            ], className="scn-row"),
                            html.Pre(id="scn-log", className="scn-log"),
                            html.Div(id="scn-report", className="scn-report"),
                        ]),
                    ], className="tabs"),
                ], className="right"),
            ], className="body"),
        ], className="app")
    return layout


def create_app(token: str, port: int, topology: str | None = None, roots: Roots | None = None) -> dash.Dash:
    roots = roots or Roots.for_server(topology)  # where scenario and topology files may come from
    initial = None
    if topology:
        with open(topology, encoding="utf-8") as f:
            initial = model.layout_missing(model.from_yaml(f.read(), topology))
    app = dash.Dash(__name__, title="emulator", update_title=None,
                    assets_folder=os.path.join(server.HERE, "assets"),
                    external_scripts=["/vendor/xterm/lib/xterm.js", "/vendor/xterm-fit/lib/addon-fit.js"],
                    external_stylesheets=["/vendor/xterm/css/xterm.css"])
    server.install_guard(app.server, token, port)
    server.install_vendor(app.server)
    server.install_consoles(app.server)
    server.install_reports(app.server)
    server.install_assets_guard(app.server, app.config.assets_folder)
    app.layout = layout_factory(initial, roots)
    register(app, roots)
    return app


# ---------------------------------------------------------------------------------------
# callbacks


def _selection(nodes, edges) -> tuple[list[str], list[int]]:
    return [n["id"] for n in nodes or []], [int(e["index"]) for e in edges or [] if "index" in e]


def register(app: dash.Dash, roots: Roots) -> None:
    app.clientside_callback(ClientsideFunction("emu", "errors"), Output("sink-errs", "children"),
                            Input("errs", "data"))
    app.clientside_callback(ClientsideFunction("emu", "live"), Output("sink-live", "children"),
                            Input("live", "data"))
    app.clientside_callback(ClientsideFunction("emu", "fit"), Output("sink-fit", "children"),
                            Input("fit", "data"), prevent_initial_call=True)

    @app.callback(
        Output("cy", "elements"), Output("rev", "data"), Output("msg", "children"), Output("fit", "data"),
        Input({"type": "palette", "kind": ALL}, "n_clicks"), Input("drop", "data"), Input("moved", "data"),
        Input("link-req", "data"), Input("btn-delete", "n_clicks"), Input("btn-undo", "n_clicks"),
        Input("btn-redo", "n_clicks"), Input("btn-new", "n_clicks"), Input("upload", "contents"),
        Input("btn-yaml", "n_clicks"), Input("btn-apply", "n_clicks"), Input("labs-dd", "value"),
        State("sid", "data"), State("cy", "selectedNodeData"), State("cy", "selectedEdgeData"),
        State("upload", "filename"), State("yaml", "value"),
        State({"type": "prop", "form": ALL, "key": ALL, "w": ALL}, "value"),
        State({"type": "prop", "form": ALL, "key": ALL, "w": ALL}, "id"),
        prevent_initial_call=True)
    def edit(_pal, drop, moved, link_req, _del, _undo, _redo, _new, upload, _yaml, _apply, lab_pick,
             sid, sel_nodes, sel_edges, filename, yaml_text, prop_values, prop_ids):
        out = _edit(sid, drop, moved, link_req, upload, sel_nodes, sel_edges, filename, yaml_text, prop_values,
                    prop_ids, lab_pick)
        refit = ctx.triggered_id in ("upload", "btn-new", "btn-yaml", "labs-dd") and out[1] is not no_update
        return (*out, {"t": time.time()} if refit else no_update)

    def _edit(sid, drop, moved, link_req, upload, sel_nodes, sel_edges, filename, yaml_text, prop_values,
              prop_ids, lab_pick=None):
        d = doc(sid)
        trig = ctx.triggered_id
        msg = ""
        redraw = True
        if d.orphan and trig not in ("upload", "btn-new", "labs-dd", "btn-yaml"):
            return no_update, no_update, html.Span("the server was restarted and no longer has this drawing: "
                                                   "save it from the YAML tab, then reload the page",
                                                   className="bad")
        d.orphan = False
        with d.lock:
            t = d.topo
            try:
                if isinstance(trig, dict) and trig.get("type") == "palette":
                    t, name = model.add_node(t, trig["kind"])
                    msg = f"added {name}"
                elif trig == "drop" and drop:
                    t, name = model.add_node(t, drop["kind"], {"x": round(drop["x"]), "y": round(drop["y"])})
                    msg = f"added {name}"
                elif trig == "moved" and moved:
                    t = model.move_nodes(t, moved["positions"])
                    redraw = False  # the drawing already shows it
                elif trig == "link-req" and link_req:
                    t = model.add_link(t, link_req["a"], link_req["b"])
                    msg = f"linked {link_req['a']} and {link_req['b']}"
                elif trig == "btn-delete":
                    nodes, links = _selection(sel_nodes, sel_edges)
                    if not nodes and not links:
                        return no_update, no_update, "select something to delete"
                    t = model.delete(t, nodes, links)
                    msg = f"deleted {len(nodes)} node(s), {len(links)} link(s)"
                elif trig in ("btn-undo", "btn-redo"):
                    src, dst = (d.undo, d.redo) if trig == "btn-undo" else (d.redo, d.undo)
                    if not src:
                        return no_update, no_update, f"nothing to {trig[4:]}"
                    dst.append(d.topo)
                    d.topo = src.pop()
                    d.rev += 1
                    return model.elements(d.topo), d.rev, trig[4:] + " done"
                elif trig == "btn-new":
                    t = model.empty()
                    msg = "new drawing"
                elif trig == "upload" and upload:
                    text = base64.b64decode(upload.split(",", 1)[1]).decode("utf-8")
                    t = model.layout_missing(model.from_yaml(text, filename or "<upload>"))
                    msg = f"opened {filename}"
                elif trig == "btn-yaml":
                    t = model.layout_missing(model.from_yaml(yaml_text or "", "<yaml>"))
                    msg = "YAML applied"
                elif trig == "labs-dd" and lab_pick:
                    t = model.layout_missing(_lab_topology(lab_pick, roots))
                    msg = f"opened running lab {lab_pick}"
                elif trig == "btn-apply":
                    t = _apply_form(t, d.target, prop_ids, prop_values)
                    msg = "properties applied"
                else:
                    return no_update, no_update, no_update
            except EmulatorError as e:
                return no_update, no_update, html.Span(str(e), className="bad")
            except (ValueError, KeyError, IndexError, UnicodeDecodeError) as e:
                return no_update, no_update, html.Span(str(e), className="bad")
            if not d.change(t):
                return no_update, no_update, msg or no_update
            return (model.elements(t) if redraw else no_update), d.rev, msg

    @app.callback(
        Output("yaml", "value"), Output("problems", "children"), Output("errs", "data"),
        Output("tab-problems", "label"), Output("counts", "children"), Output("empty-hint", "hidden"),
        Input("rev", "data"), State("sid", "data"))
    def changed(_rev, sid):
        d = doc(sid)
        topo = d.topo
        text = model.to_yaml(topo)
        issues = model.validate(text) if topo.get("nodes") else [
            {"element": None, "path": "nodes", "message": "add a node from the palette", "hint": None, "line": None}]
        rows = [html.Div([html.Span(i["path"] or "(top level)", className="ppath"), html.Span(i["message"]),
                          html.Div(i["hint"], className="hint") if i["hint"] else None],
                         className="problem", **{"data-element": i["element"] or ""}) for i in issues[:300]]
        if not rows:
            rows = [html.Div("no problems: the topology is valid", className="ok")]
        label = f"Problems ({len(issues)})" if issues else "Problems"
        counts = f"{len(topo.get('nodes') or {})} nodes, {len(topo.get('links') or [])} links"
        return (text, rows, {"errors": model.errors_by_element(issues), "rev": d.rev}, label, counts,
                bool(topo.get("nodes")))

    @app.callback(
        Output("props-title", "children"), Output("props-form", "children"),
        Input("cy", "selectedNodeData"), Input("cy", "selectedEdgeData"), Input("rev", "data"),
        State("sid", "data"))
    def props(sel_nodes, sel_edges, _rev, sid):
        d = doc(sid)
        topo = d.topo
        nodes, links = _selection(sel_nodes, sel_edges)
        if len(nodes) == 1 and not links and nodes[0] in topo.get("nodes", {}):
            d.target = ("node", nodes[0])
            return f"node {nodes[0]}", forms.node_form(nodes[0], topo["nodes"][nodes[0]])
        if len(links) == 1 and not nodes and links[0] < len(topo.get("links", [])):
            d.target = ("link", links[0])
            return f"link {links[0]}", forms.link_form(links[0], topo["links"][links[0]])
        d.target = ("top",) if not (nodes or links) else ("many",)
        if nodes or links:
            return f"{len(nodes)} nodes, {len(links)} links selected", []
        return "topology", forms.top_form(topo)

    @app.callback(Output("props-actions", "children"), Input("cy", "selectedNodeData"), Input("live", "data"))
    def props_actions(sel_nodes, live):
        nodes = [n["id"] for n in sel_nodes or []]
        if len(nodes) != 1:
            return None
        running = bool(live and live.get("status") == "running" and nodes[0] in live.get("nodes", {}))
        return html.Button("Open console", className="btn console-btn", disabled=not running,
                           title="a shell inside the node (or double-click the node)" if running
                           else "deploy the lab first",
                           **{"data-lab": (live or {}).get("lab", ""), "data-node": nodes[0]})

    @app.callback(Output("btn-run", "disabled"), Input("scn-file", "value"))
    def run_enabled(scn):
        return not scn   # Run waits for a file: a click cannot race the choice

    @app.callback(Output("labs-dd", "value"), Input("rev", "data"), prevent_initial_call=True)
    def _labs_reset(_rev):
        return None  # so that the same lab can be picked again

    @app.callback(Output("report-overlay", "hidden", allow_duplicate=True),
                  Input("report-close", "n_clicks"), Input("scn-report", "n_clicks"), prevent_initial_call=True)
    def report_overlay(_close, _show):
        return ctx.triggered_id == "report-close"

    @app.callback(Output("download", "data"), Input("btn-save", "n_clicks"), State("sid", "data"),
                  prevent_initial_call=True)
    def save(_n, sid):
        topo = doc(sid).topo
        return dict(content=model.to_yaml(topo), filename=f"{topo.get('name') or 'topology'}.yaml")

    @app.callback(Output("job", "data"), Output("progress", "children", allow_duplicate=True),
                  Input("btn-deploy", "n_clicks"), Input("btn-destroy", "n_clicks"), Input("btn-run", "n_clicks"),
                  State("sid", "data"), State("scn-file", "value"), prevent_initial_call=True)
    def start(_d, _x, _r, sid, scn):
        topo = doc(sid).topo
        name = str(topo.get("name") or "")
        try:
            if ctx.triggered_id == "btn-run":
                if not scn:
                    return no_update, html.Span("choose a scenario file", className="bad")
                return jobs.scenario(roots.scenario(scn)).id, "scenario started"
            if jobs.busy(name):
                return no_update, html.Span(f"lab {name} is busy", className="bad")
            if ctx.triggered_id == "btn-deploy":
                text = model.to_yaml(topo)
                issues = model.validate(text, check_host=True)
                if issues:
                    return no_update, html.Span(f"not deployed: {len(issues)} problem(s), see Problems",
                                                className="bad")
                return jobs.deploy(text, name).id, "deploying…"
            return jobs.destroy(name).id, "destroying…"
        except EmulatorError as e:
            return no_update, html.Span(str(e), className="bad")

    @app.callback(
        Output("live", "data"), Output("lab-status", "children"), Output("progress", "children"),
        Output("btn-deploy", "disabled"), Output("btn-destroy", "disabled"),
        Output("scn-log", "children"), Output("scn-report", "children"),
        Output("report-overlay", "hidden"), Output("report-frame", "src"), Output("report-newtab", "href"),
        Output("report-title", "children"), Output("labs-dd", "options"),
        Input("tick", "n_intervals"), State("sid", "data"), State("job", "data"), State("live", "data"))
    def tick(_n, sid, job_id, prev_live):
        topo = doc(sid).topo
        name = str(topo.get("name") or "")
        job = jobs.get(job_id) if job_id else None
        progress, scn_log, scn_report = no_update, no_update, no_update
        overlay = (no_update,) * 4
        if job:
            j = job.as_dict()
            if job.kind == "scenario":
                scn_log = j["log"][-6000:]
                if j["status"] != "running" and j["result"].get("html") and os.path.exists(j["result"]["html"]) \
                        and not getattr(job, "shown", False):
                    job.shown = True
                    url = f"/report/{job.id}/report.html"
                    scn_report = html.Button("Show the report", id="report-show", className="btn")
                    overlay = (False, url, url, f"report of {job.target}")
            if j["status"] == "running":
                pct = int(100 * j["count"] / j["total"]) if j["total"] else 0
                progress = html.Div([html.Span(f"{j['kind']} {j['target']}: {j['phase']} {j['count']}/{j['total']}"),
                                     html.Div(html.Div(style={"width": f"{pct}%"}, className="bar-fill"),
                                              className="bar")], className="job")
            else:
                cls = "good" if j["status"] == "done" else "bad"
                progress = html.Span(f"{j['kind']} {j['target']}: {j['message'] or j['status']} "
                                     f"({j['elapsed']:.2f} s)", className=cls)
        all_labs = api.labs()
        lab_options = [{"label": f"{s['name']} ({s.get('status')}, {len(s.get('nodes', {}))} nodes)",
                        "value": s["name"]} for s in all_labs]
        live = _live(name, topo, all_labs)
        status = live["status"]
        busy = jobs.busy(name) is not None
        label = html.Span(["lab ", html.B(name or "?"), ": ", html.Span(status, className=f"st st-{status}")])
        if live == prev_live:
            live = no_update
        return (live, label, progress, busy or status in ("running", "deploying"),
                busy or status in ("absent", "deploying"), scn_log, scn_report, *overlay, lab_options)


def _apply_form(topo: dict, target: tuple, ids: list[dict], values: list) -> dict:
    if not ids or target[0] == "many":
        raise ValueError("nothing to apply: select one node or one link")
    props: dict = {}
    for fid, v in zip(ids, values):
        try:
            props[fid["key"]] = forms.parse(fid["w"], v)
        except ValueError as e:
            raise ValueError(f"{fid['key']}: {e}") from None
    if target[0] == "top":
        return model.set_top_props(topo, props)
    if target[0] == "node":
        old = target[1]
        if old not in topo.get("nodes", {}):
            raise ValueError("the node being edited is gone")
        new_name = props.pop("__name__", None)
        t = model.set_node_props(topo, old, props)
        if new_name and str(new_name) != old:
            t = model.rename_node(t, old, str(new_name))
        return t
    if target[0] == "link":
        i = target[1]
        if i >= len(topo.get("links", [])):
            raise ValueError("the link being edited is gone")
        eps = [props.pop("__ep0__", None), props.pop("__ep1__", None)]
        return model.set_link_props(topo, i, {**props, "endpoints": eps})
    raise ValueError(f"unknown form {target}")


def _lab_topology(name: str, roots: Roots) -> dict:
    """A running lab as a drawing: its topology file if still there (in a topology dir), else its state."""
    st = api.get(name)
    path = roots.topology(st["file"]) if isinstance(st.get("file"), str) else None
    if path:
        with open(path, encoding="utf-8") as f:
            topo = model.from_yaml(f.read(), path)
        if topo.get("name") == name:
            return topo
    nodes = {n: {"kind": v.get("kind", "host")} for n, v in st.get("nodes", {}).items()}
    links = [[l["a"], l["b"]] for l in st.get("links", [])]
    return {"name": name, "nodes": nodes, "links": links}


def _live(name: str, topo: dict, all_labs: list[dict] | None = None) -> dict:
    """Lab status, node status and per-link rates for the drawing (public API only)."""
    st = next((s for s in (api.labs() if all_labs is None else all_labs) if s.get("name") == name), None)
    if st is None:
        return {"lab": name, "status": "absent", "nodes": {}, "links": {}}
    out = {"lab": name, "status": st.get("status", "unknown"), "nodes": {}, "links": {}}
    if out["status"] != "running":
        return out
    try:
        live = api.live_interfaces(st)
    except (OSError, EmulatorError):
        return out
    now = time.monotonic()
    prev_t, prev = RATES.get(name, (None, {}))
    RATES[name] = (now, {k: v.get("stats", {}) for k, v in live.items()})
    for node, n in st.get("nodes", {}).items():
        ifs = [f"{node}:{i}" for i in n.get("interfaces", {})]
        ups = [bool(live.get(k, {}).get("up")) for k in ifs]
        out["nodes"][node] = "up" if all(ups) else ("partial" if any(ups) else "down") if ifs else "up"
    # the lab's links in order, matched to the drawing's links by their pair of nodes
    by_pair: dict[tuple, list] = {}
    for l in st.get("links", []):
        by_pair.setdefault(tuple(sorted((l["a"].split(":")[0], l["b"].split(":")[0]))), []).append(l)
    for i, l in enumerate(topo.get("links") or []):
        eps = model.link_endpoints(l)
        if len(eps) != 2:
            continue
        pair = tuple(sorted((model.endpoint_node(eps[0]) or "", model.endpoint_node(eps[1]) or "")))
        cands = by_pair.get(pair)
        if not cands:
            continue
        sl = cands.pop(0)
        la, lb = live.get(sl["a"], {}), live.get(sl["b"], {})
        up = bool(la.get("up") and lb.get("up"))
        rate = ""
        if prev_t is not None and sl["a"] in prev:
            dt = max(now - prev_t, 1e-3)
            s0, s1 = prev[sl["a"]], la.get("stats", {})
            pkts = (s1.get("tx_packets", 0) - s0.get("tx_packets", 0) + s1.get("rx_packets", 0)
                    - s0.get("rx_packets", 0)) / dt
            bits = 8 * (s1.get("tx_bytes", 0) - s0.get("tx_bytes", 0) + s1.get("rx_bytes", 0)
                        - s0.get("rx_bytes", 0)) / dt
            if pkts > 0:
                rate = f"{pkts:.0f} pkt/s · {human_rate(bits)}"
        src = model.endpoint_node(eps[0])
        a_end, b_end = (sl["a"], sl["b"]) if sl["a"].split(":")[0] == src else (sl["b"], sl["a"])
        out["links"][f"link-{i}"] = {"up": up, "rate": rate, "ifa": a_end.split(":", 1)[1],
                                     "ifb": b_end.split(":", 1)[1]}
    return out

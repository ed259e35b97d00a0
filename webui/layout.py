"""The page: how each kind looks (palette, drawing stylesheet) and the layout of the components."""
from __future__ import annotations

import uuid

import dash_cytoscape as cyto
from dash import dcc, html

from . import forms, services
from .docs import doc
from .files import Roots

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
    {"selector": "node.svc", "style": {"shape": "round-tag", "background-color": "#fde68a", "border-color": "#d97706",
                                       "border-width": 2, "width": 44, "height": 26, "font-size": 11}},
    {"selector": "node.fwd", "style": {"shape": "barrel", "background-color": "#e2e8f0", "border-color": "#64748b",
                                       "border-width": 2, "width": 50, "height": 24, "font-size": 11}},
    {"selector": "edge.member", "style": {"line-style": "dotted", "line-color": "#d97706", "width": 1, "opacity": 0.6}},
    {"selector": "edge.hop", "style": {"line-color": "#dd6b20", "width": 3, "target-arrow-shape": "triangle",
                                       "target-arrow-color": "#dd6b20", "curve-style": "bezier",
                                       "label": "data(label)", "font-size": 10, "color": "#9c4221",
                                       "text-background-color": "#fff", "text-background-opacity": 0.9,
                                       "text-background-padding": 2, "text-rotation": "autorotate"}},
    {"selector": "node.connect-src", "style": {"border-color": "#f97316", "border-width": 5}},
]


TAB = {"padding": "7px 4px", "fontSize": "13px", "lineHeight": "18px"}
TAB_SEL = {**TAB, "fontWeight": 600, "borderTop": "2px solid #2563eb"}


def stylesheet() -> list[dict]:
    out = []
    for st in STYLE:
        out.extend(kind_styles() if st == "KINDS" else [st])
    return out


def palette() -> list:
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
            dcc.Store(id="restore"), dcc.Store(id="keep"), dcc.Store(id="link-op"), dcc.Store(id="paste"), dcc.Store(id="report-shown"),
            dcc.Download(id="download"),
            html.Div(id="sink-errs", hidden=True), html.Div(id="sink-live", hidden=True),
            html.Div(id="sink-fit", hidden=True), html.Div(id="sink-keep", hidden=True),
            dcc.Interval(id="tick", interval=1500),
            dcc.Interval(id="inspect-tick", interval=2000, disabled=True),
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
                    html.Div(palette(), id="palette", className="palette"),
                    html.H4("Edit"),
                    html.Button("Connect", id="btn-connect", className="btn tool",
                                title="click a node, then another, to link them (Esc cancels)"),
                    html.Button("Delete", id="btn-delete", className="btn tool", title="delete the selection (Del)"),
                    html.Button("Undo", id="btn-undo", className="btn tool", title="Ctrl+Z"),
                    html.Button("Redo", id="btn-redo", className="btn tool", title="Ctrl+Y"),
                    html.Button("Fit", id="btn-fit", className="btn tool", title="show the whole drawing"),
                    html.Button("Arrange", id="btn-arrange", className="btn tool",
                                title="layered layout along the links and chains, end hosts off the lines"),
                    html.Button("Force layout", id="btn-force", className="btn tool",
                                title="force-directed layout (undo brings the previous places back)"),
                    dcc.Input(id="search", type="search", placeholder="find a node…", className="prop-in search",
                              debounce=False, autoComplete="off"),
                    html.Div(id="msg", className="msg"),
                    html.Div(id="counts", className="counts"),
                ], className="left"),
                html.Main([
                    cyto.Cytoscape(id="cy", elements=services.elements(d.topo), layout={"name": "preset", "fit": True,
                                                                                      "animate": False},
                                   stylesheet=stylesheet(), style={"width": "100%", "height": "100%"},
                                   minZoom=0.05, maxZoom=3, boxSelectionEnabled=True, autoRefreshLayout=False,
                                   ),
                    html.Div("Click a kind in the palette, or drag it here, to add a node. "
                             "Then Connect two nodes to link them.", id="empty-hint", className="empty-hint",
                             hidden=bool(d.topo.get("nodes"))),
                    html.Div(id="link-msg", className="link-msg"),
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
                        dcc.Tab(label="Inspect", value="inspect", id="tab-inspect", style=TAB, selected_style=TAB_SEL,
                                children=[html.Div(id="inspect", className="inspect-pane")]),
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
                            html.Div([
                                dcc.Input(id="scn-set", type="text", className="prop-in", debounce=False,
                                          placeholder="parameters: KEY=VALUE KEY=VALUE (as --set)"),
                                dcc.Input(id="scn-lab", type="text", className="prop-in", debounce=False,
                                          placeholder="lab name (as --name; default: the scenario's)"),
                            ], className="scn-opts"),
                            html.Pre(id="scn-log", className="scn-log"),
                            html.Div(id="scn-report", className="scn-report"),
                        ]),
                    ], className="tabs"),
                ], className="right"),
            ], className="body"),
        ], className="app")
    return layout

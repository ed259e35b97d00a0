"""Callbacks of the drawing: edits (through the table in edits.py), the YAML and Problems tabs, the
property form, Save. Gestures Dash cannot see (dragging a node, dropping a palette item, connecting
two nodes) are caught by assets/emu.js and handed to Dash with dash_clientside.set_props on small Stores.
"""
from __future__ import annotations

import time

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, ctx, html, no_update

from emulator.errors import EmulatorError

from . import forms, model, services
from .docs import Doc, doc
from .edits import EDITS, HISTORY_STEPS, Req
from .files import Roots

ORPHAN = "the server was restarted and no longer has this drawing: save it from the YAML tab, then reload the page"
EDIT_ERRORS = (EmulatorError, ValueError, KeyError, IndexError, UnicodeDecodeError)


def _selection(nodes, edges) -> tuple[list[str], list[int]]:
    return [n["id"] for n in nodes or []], [int(e["index"]) for e in edges or [] if "index" in e]


def run_edit(d: Doc, trig, req: Req) -> tuple:
    """(elements, rev, message, fit) for the gesture `trig` on drawing `d`, each no_update when unchanged.
    The steps every edit shares: refuse a drawing the server lost (unless the edit replaces it), hold
    the drawing's lock, record the change in the history, turn a bad input into the message."""
    key = trig.get("type") if isinstance(trig, dict) else trig
    edit, back = EDITS.get(key), HISTORY_STEPS.get(key)
    if edit is None and back is None:
        return no_update, no_update, no_update, no_update
    if d.orphan and not (edit and edit.replaces):
        return no_update, no_update, html.Span(ORPHAN, className="bad"), no_update
    d.orphan = False
    with d.lock:
        if key == "restore":
            d.restored = True
        if edit is None:
            word = "undo" if back else "redo"
            if not d.step(back):
                return no_update, no_update, f"nothing to {word}", no_update
            return services.elements(d.topo), d.rev, f"{word} done", no_update
        try:
            t, msg = edit.apply(d.topo, req)
        except EDIT_ERRORS as e:
            return no_update, no_update, html.Span(str(e), className="bad"), no_update
        if not d.change(t):
            return no_update, no_update, msg or no_update, no_update
        if edit.clean and edit.clean(req):
            d.clean_rev = d.rev
        return ((services.elements(t) if edit.redraw else no_update), d.rev, msg,
                {"t": time.time()} if edit.refit else no_update)


def _overlay_target(nodes: list[str], topo: dict) -> tuple | None:
    """A service or forwarder selected on the drawing: ("services" | "forwarders", name)."""
    if len(nodes) != 1:
        return None
    for prefix, section in ((services.SVC, "services"), (services.FWD, "forwarders")):
        name = nodes[0][len(prefix):]
        if nodes[0].startswith(prefix) and isinstance(topo.get(section), dict) and name in topo[section]:
            return section, name
    return None


def problems(topo: dict, text: str | None = None) -> list[dict]:
    """The Problems tab: what `emulator validate` says, host checks included (the kernel's qdiscs
    are probed once per server), so Deploy never refuses for a problem this tab did not show."""
    if not topo.get("nodes"):
        return [{"element": None, "path": "nodes", "message": "add a node from the palette", "hint": None,
                 "line": None}]
    issues = model.validate(text if text is not None else model.to_yaml(topo), check_host=True)
    # an earlier error stops compile before its host checks: say those too, so that fixing one
    # problem does not reveal another (impairments the kernel cannot do)
    seen = {i["path"] for i in issues}
    return issues + [i for i in _host_issues(topo) if i["path"] not in seen and issues]


def _host_issues(topo: dict) -> list[dict]:
    from emulator.deploy import capabilities
    out = []
    for n, link in enumerate(topo.get("links") or []):
        if not isinstance(link, dict):
            continue
        try:
            netem_field = next((f for f in ("delay", "jitter", "loss") if link.get(f)), None)
            checks = ([(netem_field, capabilities.netem, "netem")] if netem_field else []) + \
                ([("bandwidth", capabilities.tbf, "tbf")] if link.get("bandwidth") else [])
            for f, probe, qdisc in checks:
                ok, why = probe()
                if not ok:
                    out.append({"element": f"link-{n}", "path": f"links[{n}].{f}", "hint": None, "line": None,
                                "message": f"{f} needs the kernel's {qdisc} qdisc (sch_{qdisc}), which this kernel "
                                           f"does not provide ({why})"})
        except EmulatorError:
            continue
    return out


def register(app: dash.Dash, roots: Roots) -> None:
    app.clientside_callback(ClientsideFunction("emu", "errors"), Output("sink-errs", "children"),
                            Input("errs", "data"))
    app.clientside_callback(ClientsideFunction("emu", "fit"), Output("sink-fit", "children"),
                            Input("fit", "data"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("emu", "keep"), Output("sink-keep", "children"),
                            Input("keep", "data"))

    # One callback for every edit: they all write the same four outputs, and Dash lets only one
    # callback own an output (allow_duplicate on all four for a dozen callbacks would be the same
    # dispatch spread over more code). The table in edits.py says what each trigger does.
    @app.callback(
        Output("cy", "elements"), Output("rev", "data"), Output("msg", "children"), Output("fit", "data"),
        Input({"type": "palette", "kind": ALL}, "n_clicks"), Input("drop", "data"), Input("moved", "data"),
        Input("link-req", "data"), Input("btn-delete", "n_clicks"), Input("btn-undo", "n_clicks"),
        Input("btn-redo", "n_clicks"), Input("btn-new", "n_clicks"), Input("upload", "contents"),
        Input("btn-yaml", "n_clicks"), Input("btn-apply", "n_clicks"), Input("labs-dd", "value"),
        Input("restore", "data"), Input("btn-run", "n_clicks"), Input("btn-arrange", "n_clicks"), Input("paste", "data"), State("scn-file", "value"),
        State("scn-set", "value"), State("scn-lab", "value"), State("sid", "data"), State("cy", "selectedNodeData"), State("cy", "selectedEdgeData"),
        State("upload", "filename"), State("yaml", "value"),
        State({"type": "prop", "form": ALL, "key": ALL, "w": ALL}, "value"),
        State({"type": "prop", "form": ALL, "key": ALL, "w": ALL}, "id"),
        prevent_initial_call=True)
    def edit(_pal, drop, moved, link_req, _del, _undo, _redo, _new, upload, _yaml, _apply, lab_pick,
             kept, _run, _arrange, pasted, scn, scn_set, scn_lab, sid, sel_nodes, sel_edges, filename, yaml_text, prop_values, prop_ids):
        d = doc(sid)
        trig = ctx.triggered_id
        nodes, links = _selection(sel_nodes, sel_edges)
        req = Req(kind=trig.get("kind", "") if isinstance(trig, dict) else "", drop=drop, moved=moved,
                  link=link_req, nodes=nodes, links=links, upload=upload, filename=filename, yaml=yaml_text,
                  target=d.target, prop_ids=prop_ids or [], prop_values=prop_values or [], lab=lab_pick,
                  restore=kept, paste=pasted, scenario=scn, scn_set=scn_set, scn_lab=scn_lab, roots=roots)
        return run_edit(d, trig, req)

    @app.callback(
        Output("yaml", "value"), Output("problems", "children"), Output("errs", "data"),
        Output("tab-problems", "label"), Output("counts", "children"), Output("empty-hint", "hidden"),
        Output("keep", "data"), Input("rev", "data"), State("sid", "data"))
    def changed(_rev, sid):
        d = doc(sid)
        topo = d.topo
        text = model.to_yaml(topo)
        issues = problems(topo, text)
        rows = [html.Div([html.Span(i["path"] or "(top level)", className="ppath"), html.Span(i["message"]),
                          html.Div(i["hint"], className="hint") if i["hint"] else None],
                         className="problem", **{"data-element": i["element"] or ""}) for i in issues[:300]]
        if not rows:
            rows = [html.Div("no problems: the topology is valid", className="ok")]
        label = f"Problems ({len(issues)})" if issues else "Problems"
        counts = f"{len(topo.get('nodes') or {})} nodes, {len(topo.get('links') or [])} links"
        keep = {"text": text, "dirty": d.rev != d.clean_rev, "restored": d.restored}
        return (text, rows, {"errors": model.errors_by_element(issues), "rev": d.rev}, label, counts,
                bool(topo.get("nodes")), keep)

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
        over = _overlay_target(nodes, topo)
        if over and not links:
            d.target = over
            return f"{over[0][:-1]} {over[1]}", forms.entry_form(over[0], over[1], topo[over[0]][over[1]])
        if len(links) == 1 and not nodes and links[0] < len(topo.get("links", [])):
            d.target = ("link", links[0])
            return f"link {links[0]}", forms.link_form(links[0], topo["links"][links[0]])
        d.target = ("top",) if not (nodes or links) else ("many",)
        if nodes or links:
            return f"{len(nodes)} nodes, {len(links)} links selected", []
        return "topology", forms.top_form(topo)

    @app.callback(Output("labs-dd", "value"), Input("rev", "data"), prevent_initial_call=True)
    def _labs_reset(_rev):
        return None  # so that the same lab can be picked again

    @app.callback(Output("download", "data"), Input("btn-save", "n_clicks"), State("sid", "data"),
                  prevent_initial_call=True)
    def save(_n, sid):
        d = doc(sid)
        topo = d.topo
        d.clean_rev = d.rev   # saved: the page stops warning (emu.js clears its flag on the click)
        return dict(content=model.to_yaml(topo), filename=f"{topo.get('name') or 'topology'}.yaml")

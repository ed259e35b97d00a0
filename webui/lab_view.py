"""Callbacks of the running lab: Deploy/Destroy (and Run: one callback owns the job Store), the status poll (lab state, node and link status,
link rates, the labs list, job progress) and the node's console button."""
from __future__ import annotations

import time

import dash
from dash import ClientsideFunction, Input, Output, State, ctx, html, no_update

from emulator import lab as api
from emulator.errors import EmulatorError
from emulator.units import human_rate

from . import jobs, link_ops, model, scenario_tab
from .docs import doc
from .files import Roots

RATES: dict[str, tuple[float, dict]] = {}  # lab -> (time, {endpoint: stats}) of the previous sample


def register(app: dash.Dash, roots: Roots) -> None:
    app.clientside_callback(ClientsideFunction("emu", "live"), Output("sink-live", "children"),
                            Input("live", "data"))

    @app.callback(Output("props-actions", "children"), Input("cy", "selectedNodeData"), Input("live", "data"))
    def props_actions(sel_nodes, live):
        nodes = [n["id"] for n in sel_nodes or []]
        if len(nodes) != 1:
            return None
        running = bool(live and live.get("status") == "running" and nodes[0] in live.get("nodes", {}))
        lab = (live or {}).get("lab", "")
        shell = html.Button("Open console", className="btn console-btn", disabled=not running,
                            title="a shell inside the node (or double-click the node)" if running
                            else "deploy the lab first",
                            **{"data-lab": lab, "data-node": nodes[0], "data-tool": "shell"})
        from .console import tools   # a vpp node: its vppctl, on the node's own CLI socket, as well
        extra = [html.Button(t, className="btn console-btn", disabled=not running, id=f"console-tool-{t}",
                             title=f"{t} on this node", **{"data-lab": lab, "data-node": nodes[0], "data-tool": t})
                 for t in (tools(lab, nodes[0])[1:] if running else [])]
        return html.Span([shell, *extra]) if extra else shell

    @app.callback(Output("job", "data"), Output("progress", "children", allow_duplicate=True),
                  Input("btn-deploy", "n_clicks"), Input("btn-destroy", "n_clicks"), Input("btn-run", "n_clicks"),
                  State("sid", "data"), State("scn-file", "value"), State("scn-set", "value"),
                  State("scn-lab", "value"), prevent_initial_call=True)
    def start(_d, _x, _r, sid, scn, params, scn_lab):
        topo = doc(sid).topo
        name = str(topo.get("name") or "")
        try:
            if ctx.triggered_id == "btn-run":
                return scenario_tab.start(roots, scn, params, scn_lab)
            if jobs.busy(name):
                return no_update, html.Span(f"lab {name} is busy", className="bad")
            if ctx.triggered_id == "btn-deploy":
                text = model.to_yaml(topo)
                issues = model.validate(text, check_host=True)
                if issues:
                    first = f"{issues[0]['path'] or 'topology'}: {issues[0]['message']}"
                    return no_update, html.Span(f"not deployed: {len(issues)} problem(s), see Problems ({first})",
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
        Output("report-title", "children"), Output("labs-dd", "options"), Output("report-shown", "data"),
        Input("tick", "n_intervals"), State("sid", "data"), State("job", "data"), State("live", "data"),
        State("report-shown", "data"))
    def tick(_n, sid, job_id, prev_live, shown):
        topo = doc(sid).topo
        name = str(topo.get("name") or "")
        job = jobs.get(job_id) if job_id else None
        progress, scn_log, scn_report = no_update, no_update, no_update
        overlay, now_shown = (no_update,) * 4, no_update
        if job:
            j = job.as_dict()
            if job.kind == "scenario":
                scn_log, scn_report, overlay, now_shown = scenario_tab.view(job, j, shown)
            progress = _progress(j)
        all_labs = api.labs()
        lab_options = lab_list(all_labs, jobs.labs_made_here())
        live = _live(name, topo, all_labs)
        status = live["status"]
        busy = jobs.busy(name) is not None
        label = html.Span(["lab ", html.B(name or "?"), ": ", html.Span(status, className=f"st st-{status}")])
        if live == prev_live:
            live = no_update
        return (live, label, progress, busy or status in ("running", "deploying"),
                busy or status in ("absent", "deploying"), scn_log, scn_report, *overlay, lab_options, now_shown)


def lab_list(all_labs: list[dict], mine: set[str]) -> list[dict]:
    """The running labs dropdown; labs this server did not deploy (the CLI, another user's UI, a
    test run) are marked, so that nobody destroys someone else's lab by mistake."""
    out = []
    for s in all_labs:
        text = f"{s['name']} ({s.get('status')}, {len(s.get('nodes', {}))} nodes)"
        if s["name"] not in mine:
            text += f" · not from this UI (pid {s.get('pid', '?')})"
        out.append({"label": text, "value": s["name"], "title": "deployed elsewhere" if s["name"] not in mine else ""})
    return out


def _progress(j: dict):
    if j["status"] == "running":
        pct = int(100 * j["count"] / j["total"]) if j["total"] else 0
        count = f" {j['count']}/{j['total']}" if j["total"] else ""   # no "0/0" before the total is known
        return html.Div([html.Span(f"{j['kind']} {j['target']}: {j['phase']}{count}"),
                         html.Div(html.Div(style={"width": f"{pct}%"}, className="bar-fill"),
                                  className="bar")], className="job")
    cls = "good" if j["status"] == "done" else "bad"
    return html.Span(f"{j['kind']} {j['target']}: {j['message'] or j['status']} ({j['elapsed']:.2f} s)",
                     className=cls)


def _live(name: str, topo: dict, all_labs: list[dict] | None = None) -> dict:
    """Lab status, node status and per-link rates for the drawing (public API only)."""
    st = next((s for s in (api.labs() if all_labs is None else all_labs) if s.get("name") == name), None)
    if st is None:
        return {"lab": name, "status": "absent", "nodes": {}, "links": {}}
    out = {"lab": name, "status": st.get("status", "unknown"), "nodes": {}, "links": {}}
    if out["status"] != "running":
        return out
    out["can"] = link_ops.can()   # what the link menu may offer (netem: delay/loss, tbf: bandwidth)
    try:
        live = api.live_interfaces(st)
    except (OSError, EmulatorError):
        return out
    try:
        loss = api.link_loss(st)   # live per-link loss where the lab keeps link counters (SRv6 labs)
    except Exception:
        loss = {}
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
        lost = sum(loss.get(k, {}).get("lost", 0) for k in (f"{sl['a']} -> {sl['b']}", f"{sl['b']} -> {sl['a']}"))
        if lost:
            rate = (rate + " · " if rate else "") + f"{lost} lost"
        src = model.endpoint_node(eps[0])
        a_end, b_end = (sl["a"], sl["b"]) if sl["a"].split(":")[0] == src else (sl["b"], sl["a"])
        out["links"][f"link-{i}"] = {"up": up, "rate": rate, "ifa": a_end.split(":", 1)[1],
                                     "ifb": b_end.split(":", 1)[1]}
    return out

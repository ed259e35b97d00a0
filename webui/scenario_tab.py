"""Callbacks of the Scenario tab: pick a scenario file, run it, show its log and its report."""
from __future__ import annotations

import copy
import os

import dash
from dash import Input, Output, ctx, html, no_update

from emulator import names
from emulator.errors import UsageError
from emulator.scenario import spec
from emulator.scenario.params import parse_overrides

from . import jobs
from .files import Roots


def view(job, j: dict, shown=None) -> tuple:
    """(log, report button, (overlay hidden, frame src, new-tab href, title), shown) of a scenario
    job; the report opens once, when the run has written it. Which job's report the page has shown
    is the page's (the "report-shown" Store): a poll whose answer the page dropped (a newer poll
    was already out) shows it at the next one, instead of never."""
    log, button, overlay = j["log"][-6000:], no_update, (no_update,) * 4
    if j["status"] != "running" and j["result"].get("html") and os.path.exists(j["result"]["html"]) \
            and shown != job.id:
        url = f"/report/{job.id}/report.html"
        button = html.Button("Show the report", id="report-show", className="btn")
        overlay = (False, url, url, f"report of {job.target}")
        return log, button, overlay, job.id
    return log, button, overlay, no_update


def parse_set(text: str | None) -> dict:
    """The parameters box: KEY=VALUE items (spaces or commas between them), values as `--set` reads them."""
    return parse_overrides((text or "").replace(",", " ").split(), "parameters:")


def running() -> bool:
    return any(j.kind == "scenario" and j.status == "running" for j in list(jobs.JOBS.values()))


def start(roots: Roots, scn: str | None, params: str | None = None, lab: str | None = None) -> tuple:
    """(job id, message) for Run; the Deploy/Destroy/Run callback in lab_view.py owns the job Store.
    One scenario at a time: a second Run while one runs is refused (its report stays)."""
    if not scn:
        return no_update, html.Span("choose a scenario file", className="bad")
    if running():
        return no_update, html.Span("a scenario is running: wait for its report", className="bad")
    lab = (lab or "").strip() or None
    if lab:
        names.check_lab(lab)
    return jobs.scenario(roots.scenario(scn), parse_set(params), lab).id, "scenario started"


def scenario_topology(roots: Roots, scn: str | None, params: str | None, lab: str | None) -> dict:
    """The topology the scenario deploys (its first point, with the parameters and lab name), to
    draw while it runs; raises the loader's located errors."""
    if not scn:
        raise UsageError("choose a scenario file")
    sc = spec.load(roots.scenario(scn), parse_set(params), (lab or "").strip() or None)
    return copy.deepcopy(sc.points[0].topology.data)


def register(app: dash.Dash) -> None:
    # (progress changes while a job runs and when it ends: no request on every tick)
    @app.callback(Output("btn-run", "disabled"), Output("btn-run", "title"), Input("scn-file", "value"),
                  Input("progress", "children"), Input("job", "data"))
    def run_enabled(scn, _progress, _job):
        # Run waits for a file (a click cannot race the choice) and for the running scenario to end
        if not scn:
            return True, "choose a scenario file first"
        if running():
            return True, "a scenario is running"
        return False, "deploy the scenario's lab, run its steps, show the report"

    @app.callback(Output("report-overlay", "hidden", allow_duplicate=True),
                  Input("report-close", "n_clicks"), Input("scn-report", "n_clicks"), prevent_initial_call=True)
    def report_overlay(_close, _show):
        return ctx.triggered_id == "report-close"

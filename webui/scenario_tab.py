"""Callbacks of the Scenario tab: pick a scenario file, run it, show its log and its report."""
from __future__ import annotations

import os

import dash
from dash import Input, Output, ctx, html, no_update

from . import jobs
from .files import Roots


def view(job, j: dict) -> tuple:
    """(log, report button, (overlay hidden, frame src, new-tab href, title)) of a scenario job;
    the report opens once, when the run has written it."""
    log, button, overlay = j["log"][-6000:], no_update, (no_update,) * 4
    if j["status"] != "running" and j["result"].get("html") and os.path.exists(j["result"]["html"]) \
            and not getattr(job, "shown", False):
        job.shown = True
        url = f"/report/{job.id}/report.html"
        button = html.Button("Show the report", id="report-show", className="btn")
        overlay = (False, url, url, f"report of {job.target}")
    return log, button, overlay


def start(roots: Roots, scn: str | None) -> tuple:
    """(job id, message) for Run; the Deploy/Destroy/Run callback in lab_view.py owns the job Store."""
    if not scn:
        return no_update, html.Span("choose a scenario file", className="bad")
    return jobs.scenario(roots.scenario(scn)).id, "scenario started"


def register(app: dash.Dash) -> None:
    @app.callback(Output("btn-run", "disabled"), Input("scn-file", "value"))
    def run_enabled(scn):
        return not scn   # Run waits for a file: a click cannot race the choice

    @app.callback(Output("report-overlay", "hidden", allow_duplicate=True),
                  Input("report-close", "n_clicks"), Input("scn-report", "n_clicks"), prevent_initial_call=True)
    def report_overlay(_close, _show):
        return ctx.triggered_id == "report-close"

"""The Dash app: palette, drawing, property form, problems, YAML, lab state, scenarios.

Built from: docs.py (the drawing of each browser tab and its history), layout.py (the page),
edits.py (one small function per edit of the drawing), drawing.py (the callbacks that edit and
show the drawing), lab_view.py (deploy, destroy, the lab's live state, consoles) and
scenario_tab.py (running a scenario and showing its report).
"""
from __future__ import annotations

import os

import dash

from emulator import backends

from . import autolayout, drawing, inspect_tab, lab_view, link_ops, model, scenario_tab, server
from .docs import Doc, doc  # noqa: F401  (webui.app.Doc / doc: the names the tests and tools use)
from .edits import _apply_form  # noqa: F401
from .files import Roots
from .layout import layout_factory


def create_app(token: str, port: int, topology: str | None = None, roots: Roots | None = None) -> dash.Dash:
    backends.ensure_loaded()   # kinds, link types and steps for the forms, the schema and the checks
    roots = roots or Roots.for_server(topology)  # where scenario and topology files may come from
    initial = None
    if topology:
        with open(topology, encoding="utf-8") as f:
            initial = autolayout.auto(model.from_yaml(f.read(), topology))
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
    drawing.register(app, roots)
    lab_view.register(app, roots)
    scenario_tab.register(app)
    inspect_tab.register(app)
    link_ops.register(app)
    return app

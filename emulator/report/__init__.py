"""Reports of a scenario's results: JSON, Markdown, self-contained HTML, JUnit XML, terminal.

Every writer takes the results dict the scenario runner produces (or a results.Results) and is
pure: no network, no external files, nothing but the standard library. Any key may be missing or
null (a run interrupted early); the writers then show what there is and never raise.

    write_all(results, out_dir) -> {"json": ..., "markdown": ..., "html": ..., "junit": ...}
    summary_markdown(results) -> str      markdown.py
    report_html(results) -> str           html.py (charts: chart.py, styles: report.css)
    junit_xml(results) -> str             junit.py
    summary_table(results) -> str         table.py
    results.load(path) -> Results         results.py: the typed results

Values are formatted by emulator/units.py (human_value, human_rate, ...).
"""
from __future__ import annotations

import html
import json
import os
import tempfile
import traceback

from .html import report_html
from .junit import error_xml, junit_xml
from .markdown import summary_markdown
from .results import Results, load, scenario_name
from .table import summary_table

__all__ = ["write_all", "summary_markdown", "report_html", "junit_xml", "summary_table",
           "Results", "load", "FILES"]

FILES = {"json": "results.json", "markdown": "summary.md", "html": "report.html",
         "junit": "junit.xml"}


def _atomic_write(path: str, text: str) -> None:
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_all(results: dict, out_dir: str) -> dict[str, str]:
    """Write results.json, summary.md, report.html and junit.xml into out_dir (created if
    missing). Returns {"json": path, "markdown": path, "html": path, "junit": path}.

    results.json is written first. Should a renderer fail on unforeseen input, its file
    still gets written, holding the error, so the other reports are never lost."""
    results = results if isinstance(results, dict) else {}
    os.makedirs(out_dir, exist_ok=True)
    paths = {kind: os.path.join(out_dir, name) for kind, name in FILES.items()}
    _atomic_write(paths["json"], json.dumps(results, indent=1, default=str) + "\n")
    renderers = {"markdown": summary_markdown, "html": report_html, "junit": junit_xml}
    for kind, render in renderers.items():
        try:
            text = render(results)
        except Exception:  # a report bug must not lose the other reports
            tb = traceback.format_exc()
            if kind == "html":
                text = ("<!DOCTYPE html><meta charset='utf-8'><title>report error</title>"
                        f"<h1>Report could not be rendered</h1><pre>{html.escape(tb)}</pre>")
            elif kind == "junit":
                text = error_xml(scenario_name(results), tb)
            else:
                text = f"# Report could not be rendered\n\n```\n{tb}```\n"
        _atomic_write(paths[kind], text)
    return paths

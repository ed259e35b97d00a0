"""summary.md: headings, runs and steps, aggregates with reference ratios, failed assertions
and errors."""
from __future__ import annotations

import html

from ..units import human_duration, text
from .links import link_loss_markdown
from .results import AGG_COLUMNS, Results, aggregate_row, as_results, params_text, status_word


def _md(x) -> str:
    """Text for a Markdown table cell or line."""
    t = " ".join(text(x).split())
    t = html.escape(t, quote=False)
    return t.replace("|", "\\|")


def _md_code(x) -> str:
    t = " ".join(text(x).split()).replace("`", "'").replace("|", "\\|")
    return f"`{t}`" if t else ""


def _md_status(st: str) -> str:
    return f"**{st.upper()}**" if st in ("failed", "error", "interrupted") else st


def summary_markdown(results: Results | dict) -> str:
    """A Markdown summary of the results."""
    results = as_results(results)
    st = results.status
    out = [f"# Scenario {_md(results.name)}: {status_word(st) if st != 'passed' else 'passed'}", ""]
    if results.scenario.get("description"):
        out += [_md(results.scenario.get("description")), ""]
    facts = [f"{label} {_md_code(val) if code else _md(val)}" for label, val, code in results.header_facts()]
    facts.append(_md(results.counts_text()))
    out += ["- " + f for f in facts] + [""]

    env = results.environment_items()
    if env:
        out += ["## Environment", "", "| " + " | ".join(_md(k) for k, _ in env) + " |",
                "|" + "---|" * len(env), "| " + " | ".join(_md(v) for _, v in env) + " |", ""]

    out += ["## Runs", ""]
    if not results.runs:
        out += ["No runs were recorded.", ""]
    else:
        out += ["| run | params | repeat | step | type | status | duration | measurement | assertions |",
                "|---|---|---|---|---|---|---|---|---|"]
        for run in results.runs:
            head = [_md(run.id), _md(params_text(run.params)), _md(run.repeat)]
            if not run.steps:
                out.append("| " + " | ".join(head + ["*(no steps)*", "", _md_status(run.status),
                                                     human_duration(run.duration_s), "",
                                                     _md(run.error)]) + " |")
                continue
            for i, step in enumerate(run.steps):
                cells = (head if i == 0 else ["", "", ""]) + [
                    _md(step.name), _md(step.type), _md_status(step.status),
                    human_duration(step.duration_s) if step.duration_s is not None else "",
                    _md(step.key_measurement()), _md(step.assertion_summary())]
                out.append("| " + " | ".join(cells) + " |")
        out.append("")

    if results.aggregates:
        out += ["## Aggregates", "",
                "| step | metric | params | n | mean | stdev | min | max | reference | ratio |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for a in results.aggregates:
            c = aggregate_row(a)
            ref = c["reference"] + (f" ({c['source']})" if c["source"] else "")
            cells = [_md(c[k]) for k in AGG_COLUMNS[:-2]] + [_md(ref), c["ratio"]]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    per_link = link_loss_markdown(results)   # the link monitor's tables (emulator/report/links.py)
    if per_link:
        out += ["## Per-link loss", ""] + per_link

    failed = list(results.failed_assertions())
    out += ["## Failed assertions", ""]
    if not failed:
        out += ["None.", ""]
    else:
        for run, step, a in failed:
            out.append(f"- **{_md(run.title)}** / step **{_md(step.name)}**: "
                       f"{_md_code(a.expr)}, got {_md(a.got)}")
        out.append("")
    errors = list(results.errors())
    if errors or results.error:
        out += ["## Errors", ""]
        if results.error:
            out.append(f"- scenario: {_md(results.error)}")
        for where, msg in errors:
            out.append(f"- {' / step '.join(f'**{_md(w)}**' for w in where)}: {_md(msg)}")
        out.append("")
    return "\n".join(out)

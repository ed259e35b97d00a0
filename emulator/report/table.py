"""The terminal summary: a plain-text table at most TABLE_WIDTH columns wide."""
from __future__ import annotations

from ..units import finite, human_duration, human_value, text
from .results import Aggregate, Results, as_results, params_text, status_word

TABLE_WIDTH = 100


def _clip(s: str, width: int) -> str:
    s = " ".join(text(s).split())
    if len(s) <= width:
        return s
    return s[: max(0, width - 1)] + "…" if width > 0 else ""


def aggregate_line(a: Aggregate) -> str:
    """'tcp throughput_bps bandwidth=100mbit: 93.8 Mbit/s ± 1.1 Mbit/s n=2; ref 100 Mbit/s ratio 0.94'"""
    metric, unit = a.metric, a.unit
    txt = f"{text(a.step, '?')} {text(metric, '?')}"
    p = params_text(a.params, " ")
    if p:
        txt += f" {p}"
    txt += f": {human_value(metric, a.mean, unit)}"
    if finite(a.stdev) is not None:
        txt += f" ± {human_value(metric, a.stdev, unit)}"
    if a.n is not None:
        txt += f" n={text(a.n)}"
    if a.reference:
        txt += f"; ref {human_value(metric, a.reference.value, a.ref_unit)}"
        r = a.ratio
        if r is not None:
            txt += f" ratio {r:.2f}"
    return txt


def summary_table(results: Results | dict) -> str:
    """One row per step (run, params, step, status, key measurement(s), assertion results),
    then the totals and the aggregates."""
    results = as_results(results)
    headers = ["run", "params", "step", "status", "measurement", "assertions"]
    rows: list[list[str]] = []
    for run in results.runs:
        rid = run.id
        if run.repeat is not None:
            rid += f" #{text(run.repeat)}"
        params = params_text(run.params, " ")
        if not run.steps:
            rows.append([rid, params, "(no steps)", status_word(run.status), "", run.error])
            continue
        for i, step in enumerate(run.steps):
            asr = step.assertion_summary()
            if step.status == "error" and step.error:
                asr = (asr + "; " if asr else "") + "error: " + step.error
            rows.append([rid if i == 0 else "", params if i == 0 else "", step.label,
                         status_word(step.status), step.key_measurement(), asr])
    sep = "  "
    mins = [3, 6, 4, 6, 11, 10]
    widths = [max([len(h)] + [len(" ".join(r[i].split())) for r in rows]) for i, h in
              enumerate(headers)]
    widths = [min(w, 40) for w in widths]
    budget = TABLE_WIDTH - len(sep) * (len(headers) - 1)
    while sum(widths) > budget:
        # shrink the widest column that may still shrink
        cand = [i for i in range(len(widths)) if widths[i] > mins[i]]
        if not cand:
            break
        i = max(cand, key=lambda j: widths[j] - mins[j] * 0.5)
        widths[i] -= 1
    # the last column takes what is left
    widths[-1] = max(mins[-1], budget - sum(widths[:-1]))

    def line(cells):
        out = sep.join(_clip(c, w).ljust(w) for c, w in zip(cells, widths))
        return out.rstrip()[:TABLE_WIDTH]

    out = [line(headers), line(["-" * w for w in widths])]
    for r in rows:
        out.append(line(r))
    if not rows:
        out.append("(no runs)")
    tail = f"{results.name}: {status_word(results.status)}"
    if results.duration_s is not None:
        tail += f" in {human_duration(results.duration_s)}"
    tail += f" — {len(results.runs)} runs, {results.counts_text()}"
    out.append("")
    out.append(_clip(tail, TABLE_WIDTH))
    if results.aggregates:
        out.append("aggregates:")
        for a in results.aggregates:
            out.append("  " + _clip(aggregate_line(a), TABLE_WIDTH - 2))
    return "\n".join(out) + "\n"

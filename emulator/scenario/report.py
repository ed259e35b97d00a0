"""Report writers for scenario results: JSON, Markdown, self-contained HTML, JUnit XML, terminal.

Every function takes the results dict the scenario runner produces and is pure: no network,
no external files, nothing but the standard library. Any key may be missing or null (a run
interrupted early); the writers then show what there is and never raise.

    write_all(results, out_dir) -> {"json": ..., "markdown": ..., "html": ..., "junit": ...}
    summary_markdown(results) -> str
    report_html(results) -> str
    junit_xml(results) -> str
    summary_table(results) -> str

The HTML charts are inline SVG drawn by the small helpers at the end of this module.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
import traceback
import xml.etree.ElementTree as ET

__all__ = ["write_all", "summary_markdown", "report_html", "junit_xml", "summary_table",
           "human_value", "human_rate"]

FILES = {"json": "results.json", "markdown": "summary.md", "html": "report.html",
         "junit": "junit.xml"}
TABLE_WIDTH = 100

# ---------------------------------------------------------------------------------------
# reading partial results safely


def _d(x) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _s(x, default: str = "") -> str:
    if x is None:
        return default
    return x if isinstance(x, str) else str(x)


def _num(x):
    """A finite float, or None."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _runs(results) -> list[dict]:
    return [r for r in _l(_d(results).get("runs")) if isinstance(r, dict)]


def _steps(run) -> list[dict]:
    return [s for s in _l(_d(run).get("steps")) if isinstance(s, dict)]


def _aggregates(results) -> list[dict]:
    return [a for a in _l(_d(results).get("aggregates")) if isinstance(a, dict)]


def _assertions(step) -> list[dict]:
    return [a for a in _l(_d(step).get("assertions")) if isinstance(a, dict)]


def _status(obj) -> str:
    """Normalised status of a result, run or step: passed, failed, error, interrupted,
    skipped or unknown; inferred from error/assertions when missing."""
    obj = _d(obj)
    s = obj.get("status")
    if isinstance(s, str) and s.strip():
        s = s.strip().lower()
        return {"pass": "passed", "ok": "passed", "success": "passed", "fail": "failed",
                "failure": "failed", "errored": "error", "skip": "skipped",
                "not_run": "skipped", "not run": "skipped", "pending": "skipped",
                "cancelled": "interrupted", "canceled": "interrupted"}.get(s, s)
    if obj.get("error"):
        return "error"
    asserts = _assertions(obj)
    if any(a.get("ok") is False for a in asserts):
        return "failed"
    if asserts and all(a.get("ok") is True for a in asserts):
        return "passed"
    return "unknown"


def _run_label(run) -> str:
    run = _d(run)
    rid = _s(run.get("id"), "?")
    return rid


def _params_text(params, sep: str = ", ") -> str:
    params = _d(params)
    return sep.join(f"{k}={_s(v, 'null')}" for k, v in params.items())


def _run_title(run) -> str:
    """'r1 · bandwidth=100mbit · #1'"""
    run = _d(run)
    parts = [_run_label(run)]
    p = _params_text(run.get("params"))
    if p:
        parts.append(p)
    if run.get("repeat") is not None:
        parts.append(f"#{_s(run.get('repeat'))}")
    return " · ".join(parts)


def _scenario_name(results) -> str:
    return _s(_d(_d(results).get("scenario")).get("name"), "scenario") or "scenario"


# ---------------------------------------------------------------------------------------
# human units

_RATE_UNITS = (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3))
_UNIT_TO_BPS = {"bit/s": 1, "bps": 1, "b/s": 1, "bit": 1, "kbit/s": 1e3, "kbps": 1e3,
                "mbit/s": 1e6, "mbps": 1e6, "gbit/s": 1e9, "gbps": 1e9, "tbit/s": 1e12}
_UNIT_TO_S = {"s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _sig(x: float) -> str:
    """About three significant digits, never scientific notation for ordinary values."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.001:
        return f"{x:.3g}"
    return f"{x:.2e}"


def _pct(v: float) -> str:
    """16.7 -> '16.7%', 8.0 -> '8%', 0.05 -> '0.05%'."""
    t = _sig(v)
    if "." in t and "e" not in t:
        t = t.rstrip("0").rstrip(".")
    return t + "%"


def human_rate(bps) -> str:
    """9.4e7 -> '94.0 Mbit/s'."""
    v = _num(bps)
    if v is None:
        return _s(bps, "—")
    for unit, f in _RATE_UNITS:
        if abs(v) >= f:
            return f"{_sig(v / f)} {unit}"
    return f"{_sig(v)} bit/s"


def _human_bytes(n: float) -> str:
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= f:
            return f"{_sig(n / f)} {unit}"
    return f"{n:.0f} B"


def _human_seconds(s: float) -> str:
    a = abs(s)
    if a >= 3600:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    if a >= 60:
        return f"{int(s // 60)} min {s % 60:.0f} s"
    if a >= 1 or a == 0:
        return f"{_sig(s)} s"
    if a >= 1e-3:
        return f"{_sig(s * 1e3)} ms"
    return f"{_sig(s * 1e6)} µs"


def _kind(metric, unit=None) -> str:
    """rate | ms | s | pct | bytes | count | plain."""
    m = _s(metric).lower()
    u = _s(unit).strip().lower()
    if u in _UNIT_TO_BPS or m.endswith("_bps") or m in ("throughput", "bandwidth"):
        return "rate"
    if u in ("ms",) or (not u and m.endswith("_ms")):
        return "ms"
    if u in ("s", "sec", "seconds") or (not u and m.endswith("_s")):
        return "s"
    if u in ("%", "pct", "percent") or (not u and (m.endswith("_pct") or m.endswith("_percent"))):
        return "pct"
    if u in ("b", "byte", "bytes") or (not u and m.endswith("_bytes")):
        return "bytes"
    return "plain"


def _to_base(value, unit, kind):
    """Convert a value in `unit` to the base unit of its kind (bit/s, ms, s)."""
    v = _num(value)
    if v is None:
        return None
    u = _s(unit).strip().lower()
    if kind == "rate":
        return v * _UNIT_TO_BPS.get(u, 1)
    if kind == "ms" and u in _UNIT_TO_S:
        return v * _UNIT_TO_S[u] * 1e3
    if kind == "s" and u in _UNIT_TO_S:
        return v * _UNIT_TO_S[u]
    return v


def human_value(metric, value, unit=None) -> str:
    """A measurement as a person reads it: ('throughput_bps', 9.4e7) -> '94.0 Mbit/s',
    ('loss_pct', 16.7) -> '16.7%', ('rtt_avg_ms', 0.05) -> '0.05 ms'."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    kind = _kind(metric, unit)
    v = _num(value)
    if v is None:
        return _s(value)
    v = _to_base(v, unit, kind)
    if kind == "rate":
        return human_rate(v)
    if kind == "ms":
        if v and abs(v) < 0.01:
            return f"{_sig(v * 1e3)} µs"
        return f"{_sig(v)} ms"
    if kind == "s":
        return _human_seconds(v)
    if kind == "pct":
        return _pct(v)
    if kind == "bytes":
        return _human_bytes(v)
    if isinstance(value, int):
        text = str(value)
    else:
        text = _sig(v)
    u = _s(unit).strip()
    return f"{text} {u}" if u else text


def _duration(x) -> str:
    v = _num(x)
    return "—" if v is None else _human_seconds(v)


# ---------------------------------------------------------------------------------------
# what a step measured, in a few words


def _key_measurement(step) -> str:
    step = _d(step)
    m = _d(step.get("measurements"))
    typ = _s(step.get("type")).lower()
    parts = []
    if typ == "pingall" or "matrix" in m or ("pairs" in m and "reachable" in m):
        if m.get("reachable") is not None or m.get("pairs") is not None:
            parts.append(f"{_s(m.get('reachable'), '?')}/{_s(m.get('pairs'), '?')} reachable")
        elif m.get("loss_pct") is not None:
            parts.append(f"{human_value('loss_pct', m.get('loss_pct'))} loss")
    elif typ == "ping" or "rtt_avg_ms" in m:
        if m.get("loss_pct") is not None:
            parts.append(f"{human_value('loss_pct', m.get('loss_pct'))} loss")
        if m.get("rtt_avg_ms") is not None:
            parts.append(f"rtt {human_value('rtt_avg_ms', m.get('rtt_avg_ms'))}")
    elif typ.startswith("iperf") or "throughput_bps" in m:
        if m.get("throughput_bps") is not None:
            parts.append(human_rate(m.get("throughput_bps")))
        if m.get("retransmits") is not None:
            parts.append(f"{_s(m.get('retransmits'))} retr")
        for k in ("lost_pct", "loss_pct"):
            if m.get(k) is not None:
                parts.append(f"{human_value(k, m.get(k))} lost")
                break
        if m.get("jitter_ms") is not None:
            parts.append(f"jitter {human_value('jitter_ms', m.get('jitter_ms'))}")
    elif typ == "exec" or "exit_code" in m:
        if m.get("exit_code") is not None:
            parts.append(f"exit {_s(m.get('exit_code'))}")
    if not parts:
        for k, v in m.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                parts.append(f"{k} {human_value(k, v)}")
            if len(parts) == 2:
                break
    return ", ".join(parts)


def _assertion_expr(a) -> str:
    a = _d(a)
    if a.get("expr"):
        return _s(a.get("expr"))
    return " ".join(_s(a.get(k)) for k in ("metric", "op", "bound") if a.get(k) is not None) or "?"


def _assertion_got(a) -> str:
    a = _d(a)
    if "value" not in a or a.get("value") is None:
        return "no value"
    return human_value(a.get("metric"), a.get("value"))


def _failed_assertions(step) -> list[dict]:
    return [a for a in _assertions(step) if a.get("ok") is False]


def _assertion_summary(step) -> str:
    asserts = _assertions(step)
    if not asserts:
        return ""
    failed = _failed_assertions(step)
    unknown = [a for a in asserts if a.get("ok") is not True and a.get("ok") is not False]
    if not failed and not unknown:
        return f"{len(asserts)}/{len(asserts)} ok"
    out = []
    for a in failed:
        out.append(f"FAIL {_assertion_expr(a)} (got {_assertion_got(a)})")
    for a in unknown:
        out.append(f"n/a {_assertion_expr(a)}")
    return "; ".join(out)


def _all_failed_assertions(results):
    """(run, step, assertion) for every failed assertion."""
    for run in _runs(results):
        for step in _steps(run):
            for a in _failed_assertions(step):
                yield run, step, a


def _all_errors(results):
    """(run, step-or-None, message) for every error."""
    for run in _runs(results):
        if run.get("error"):
            yield run, None, _s(run.get("error"))
        for step in _steps(run):
            if step.get("error"):
                yield run, step, _s(step.get("error"))


def _step_counts(results) -> dict:
    counts: dict[str, int] = {}
    for run in _runs(results):
        for step in _steps(run):
            st = _status(step)
            counts[st] = counts.get(st, 0) + 1
    return counts


def _counts_text(counts: dict) -> str:
    total = sum(counts.values())
    order = ["passed", "failed", "error", "interrupted", "skipped", "unknown"]
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order)
    inner = ", ".join(f"{counts[k]} {k}" for k in keys)
    return f"{total} step{'s' if total != 1 else ''}" + (f": {inner}" if inner else "")


def _env_items(results) -> list[tuple[str, str]]:
    env = _d(_d(results).get("environment"))
    known = ["hostname", "kernel", "cpu", "cores", "python", "emulator", "iperf3", "ovs", "dpdk"]
    keys = [k for k in known if k in env] + [k for k in env if k not in known]
    return [(k, "—" if env.get(k) is None else _s(env.get(k))) for k in keys]


# ---------------------------------------------------------------------------------------
# write_all


def _header_facts(results) -> list[tuple[str, str, bool]]:
    """(label, text, is it code) for a report's header: file, topology, start, duration, exit code,
    parameters. The markdown and HTML reports format the same facts."""
    results = _d(results)
    sc = _d(results.get("scenario"))
    facts = []
    for label, val in (("file", sc.get("file")), ("topology", sc.get("topology")),
                       ("started", results.get("started"))):
        if val is not None:
            facts.append((label, _s(val), True))
    if results.get("duration_s") is not None:
        facts.append(("duration", _duration(results.get("duration_s")), False))
    if results.get("exit_code") is not None:
        facts.append(("exit code", _s(results.get("exit_code")), False))
    par = _d(results.get("parameters"))
    if par:
        txt = ", ".join(_s(n) for n in _l(par.get("names"))) or "—"
        if par.get("points") is not None:
            txt += f" ({_s(par.get('points'))} points"
            txt += f" × {_s(par.get('repeat'))} repeats)" if par.get("repeat") is not None else ")"
        facts.append(("parameters", txt, False))
    return facts


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
                root = ET.Element("testsuites", name=_scenario_name(results), tests="1",
                                  failures="0", errors="1", skipped="0")
                suite = ET.SubElement(root, "testsuite", name=_scenario_name(results), tests="1",
                                      failures="0", errors="1", skipped="0", time="0")
                case = ET.SubElement(suite, "testcase", classname=_scenario_name(results),
                                     name="report")
                ET.SubElement(case, "error", message="junit report could not be rendered").text = \
                    _xml_text(tb)
                text = _xml_doc(root)
            else:
                text = f"# Report could not be rendered\n\n```\n{tb}```\n"
        _atomic_write(paths[kind], text)
    return paths


# ---------------------------------------------------------------------------------------
# terminal table


def _clip(text: str, width: int) -> str:
    text = " ".join(_s(text).split())
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…" if width > 0 else ""


def _status_word(st: str) -> str:
    return st.upper() if st in ("failed", "error", "interrupted", "unknown") else st


def summary_table(results) -> str:
    """A plain-text table for the terminal, at most 100 columns wide: one row per step
    (run, params, step, status, key measurement(s), assertion results), then the totals and
    the aggregates."""
    results = _d(results)
    headers = ["run", "params", "step", "status", "measurement", "assertions"]
    rows: list[list[str]] = []
    for run in _runs(results):
        rid = _run_label(run)
        if run.get("repeat") is not None:
            rid += f" #{_s(run.get('repeat'))}"
        params = _params_text(run.get("params"), " ")
        steps = _steps(run)
        if not steps:
            rows.append([rid, params, "(no steps)", _status_word(_status(run)),
                         "", _s(run.get("error"))])
            continue
        for i, step in enumerate(steps):
            st = _status(step)
            meas = _key_measurement(step)
            asr = _assertion_summary(step)
            if st == "error" and step.get("error"):
                asr = (asr + "; " if asr else "") + "error: " + _s(step.get("error"))
            rows.append([rid if i == 0 else "", params if i == 0 else "",
                         _s(step.get("name"), "?"), _status_word(st), meas, asr])
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
    # totals
    st = _status(results)
    name = _scenario_name(results)
    tail = f"{name}: {_status_word(st)}"
    if results.get("duration_s") is not None:
        tail += f" in {_duration(results.get('duration_s'))}"
    tail += f" — {len(_runs(results))} runs, {_counts_text(_step_counts(results))}"
    out.append("")
    out.append(_clip(tail, TABLE_WIDTH))
    aggs = _aggregates(results)
    if aggs:
        out.append("aggregates:")
        for a in aggs:
            out.append("  " + _clip(_aggregate_line(a), TABLE_WIDTH - 2))
    return "\n".join(out) + "\n"


def _aggregate_line(a) -> str:
    a = _d(a)
    metric, unit = a.get("metric"), a.get("unit")
    txt = f"{_s(a.get('step'), '?')} {_s(metric, '?')}"
    p = _params_text(a.get("params"), " ")
    if p:
        txt += f" {p}"
    txt += f": {human_value(metric, a.get('mean'), unit)}"
    if _num(a.get("stdev")) is not None:
        txt += f" ± {human_value(metric, a.get('stdev'), unit)}"
    if a.get("n") is not None:
        txt += f" n={_s(a.get('n'))}"
    ref = _d(a.get("reference"))
    if ref:
        txt += f"; ref {human_value(metric, ref.get('value'), ref.get('unit') or unit)}"
        r = _ratio(a)
        if r is not None:
            txt += f" ratio {r:.2f}"
    return txt


AGG_COLUMNS = ("step", "metric", "params", "n", "mean", "stdev", "min", "max", "reference", "ratio")


def _aggregate_row(a) -> dict:
    """The texts of one aggregate's row (the AGG_COLUMNS and the reference's source), unescaped:
    the markdown and HTML tables only format them."""
    m, u = a.get("metric"), a.get("unit")
    ref = _d(a.get("reference"))
    r = _ratio(a)
    row = {"step": _s(a.get("step")), "metric": _s(m), "params": _params_text(a.get("params")),
           "n": _s(a.get("n")), "mean": human_value(m, a.get("mean"), u),
           "reference": human_value(m, ref.get("value"), ref.get("unit") or u) if ref else "",
           "source": _s(ref.get("source")) if ref and ref.get("source") else "",
           "ratio": f"{r:.2f}" if r is not None else ""}
    for k in ("stdev", "min", "max"):
        row[k] = human_value(m, a.get(k), u) if a.get(k) is not None else ""
    return row


def _ratio(a) -> float | None:
    a = _d(a)
    r = _num(a.get("ratio"))
    if r is not None:
        return r
    ref = _d(a.get("reference"))
    kind = _kind(a.get("metric"), a.get("unit"))
    mean = _to_base(a.get("mean"), a.get("unit"), kind)
    rv = _to_base(ref.get("value"), ref.get("unit") or a.get("unit"), kind)
    if mean is None or not rv:
        return None
    if _s(ref.get("unit") or a.get("unit")).lower() != _s(a.get("unit")).lower() and \
            kind not in ("rate", "ms", "s"):
        return None
    return mean / rv


# ---------------------------------------------------------------------------------------
# Markdown


def _md(text) -> str:
    """Text for a Markdown table cell or line."""
    t = " ".join(_s(text).split())
    t = html.escape(t, quote=False)
    return t.replace("|", "\\|")


def _md_code(text) -> str:
    t = " ".join(_s(text).split()).replace("`", "'").replace("|", "\\|")
    return f"`{t}`" if t else ""


def summary_markdown(results) -> str:
    """A Markdown summary: headings, runs and steps, aggregates with reference ratios,
    failed assertions and errors."""
    results = _d(results)
    sc = _d(results.get("scenario"))
    name = _scenario_name(results)
    st = _status(results)
    out = [f"# Scenario {_md(name)}: {_status_word(st) if st != 'passed' else 'passed'}", ""]
    if sc.get("description"):
        out += [_md(sc.get("description")), ""]
    facts = [f"{label} {_md_code(val) if code else _md(val)}" for label, val, code in _header_facts(results)]
    facts.append(_md(_counts_text(_step_counts(results))))
    out += ["- " + f for f in facts] + [""]

    env = _env_items(results)
    if env:
        out += ["## Environment", "", "| " + " | ".join(_md(k) for k, _ in env) + " |",
                "|" + "---|" * len(env), "| " + " | ".join(_md(v) for _, v in env) + " |", ""]

    out += ["## Runs", ""]
    runs = _runs(results)
    if not runs:
        out += ["No runs were recorded.", ""]
    else:
        out += ["| run | params | repeat | step | type | status | duration | measurement | assertions |",
                "|---|---|---|---|---|---|---|---|---|"]
        for run in runs:
            steps = _steps(run)
            head = [_md(_run_label(run)), _md(_params_text(run.get("params"))),
                    _md(run.get("repeat"))]
            if not steps:
                out.append("| " + " | ".join(head + ["*(no steps)*", "", _md_status(_status(run)),
                                                     _duration(run.get("duration_s")), "",
                                                     _md(run.get("error"))]) + " |")
                continue
            for i, step in enumerate(steps):
                cells = (head if i == 0 else ["", "", ""]) + [
                    _md(step.get("name")), _md(step.get("type")), _md_status(_status(step)),
                    _duration(step.get("duration_s")) if step.get("duration_s") is not None else "",
                    _md(_key_measurement(step)), _md(_assertion_summary(step))]
                out.append("| " + " | ".join(cells) + " |")
        out.append("")

    aggs = _aggregates(results)
    if aggs:
        out += ["## Aggregates", "",
                "| step | metric | params | n | mean | stdev | min | max | reference | ratio |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for a in aggs:
            c = _aggregate_row(a)
            ref = c["reference"] + (f" ({c['source']})" if c["source"] else "")
            cells = [_md(c[k]) for k in AGG_COLUMNS[:-2]] + [_md(ref), c["ratio"]]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    failed = list(_all_failed_assertions(results))
    out += ["## Failed assertions", ""]
    if not failed:
        out += ["None.", ""]
    else:
        for run, step, a in failed:
            out.append(f"- **{_md(_run_title(run))}** / step **{_md(step.get('name'))}**: "
                       f"{_md_code(_assertion_expr(a))}, got {_md(_assertion_got(a))}")
        out.append("")
    errors = list(_all_errors(results))
    if errors or _d(results).get("error"):
        out += ["## Errors", ""]
        if results.get("error"):
            out.append(f"- scenario: {_md(results.get('error'))}")
        for run, step, msg in errors:
            where = f"**{_md(_run_title(run))}**"
            if step is not None:
                where += f" / step **{_md(step.get('name'))}**"
            out.append(f"- {where}: {_md(msg)}")
        out.append("")
    return "\n".join(out)


def _md_status(st: str) -> str:
    return f"**{st.upper()}**" if st in ("failed", "error", "interrupted") else st


# ---------------------------------------------------------------------------------------
# JUnit XML

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(x) -> str:
    return _XML_BAD.sub("\ufffd", _s(x))


def _xml_doc(root) -> str:
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _secs(x) -> str:
    v = _num(x)
    return f"{max(v, 0.0):.3f}" if v is not None else "0.000"


def _measurement_text(step) -> str:
    step = _d(step)
    lines = []
    meas = _d(step.get("measurements"))
    for k, v in meas.items():
        if k in ("stdout", "stderr"):
            continue
        if isinstance(v, (dict, list)):
            if k == "matrix":
                for src, row in _d(v).items():
                    cells = " ".join(f"{dst}:{'ok' if ok is True else 'FAIL' if ok is False else _s(ok, '?')}"
                                     for dst, ok in _d(row).items())
                    lines.append(f"matrix {src} -> {cells}")
                continue
            v = json.dumps(v, default=str)
            lines.append(f"{k} = {v}")
            continue
        hv = human_value(k, v)
        raw = _s(v, "null")
        lines.append(f"{k} = {hv}" + (f" ({raw})" if hv != raw else ""))
    for a in _assertions(step):
        ok = a.get("ok")
        word = "ok" if ok is True else "FAILED" if ok is False else "not evaluated"
        lines.append(f"assert {_assertion_expr(a)}: {word} (got {_assertion_got(a)})")
    series = _d(step.get("series"))
    if series:
        lines.append("series: " + ", ".join(f"{k}[{len(_l(v))}]" for k, v in series.items()))
    for art in _l(step.get("artifacts")):
        lines.append(f"artifact {_s(art)}")
    if meas.get("stdout"):
        lines += ["--- stdout ---", _s(meas.get("stdout")).rstrip("\n")]
    return "\n".join(lines)


def junit_xml(results) -> str:
    """JUnit XML: one <testsuite> named after the scenario, one <testcase> per step
    (classname "<scenario>.<run id>", name the step name). Failed steps get a <failure>
    listing their failed assertions, steps in error an <error>, skipped or never-run steps
    <skipped/>. A run without steps (interrupted early) is reported as one testcase."""
    results = _d(results)
    name = _scenario_name(results)
    cases = []   # (classname, name, time, outcome, message, body, stdout, stderr)
    for run in _runs(results):
        cls = f"{name}.{_run_label(run)}"
        steps = _steps(run)
        params = _params_text(run.get("params"))
        prefix = f"run {_run_title(run)}\n" if params or run.get("repeat") is not None else ""
        if not steps:
            st = _status(run)
            outcome = {"passed": None, "failed": "failure", "skipped": "skipped"}.get(st, "error")
            msg = _s(run.get("error")) or f"run {st} before any step ran"
            cases.append((cls, "(run)", run.get("duration_s"), outcome, msg, msg, prefix, ""))
            continue
        for step in steps:
            st = _status(step)
            body = _measurement_text(step)
            stderr = _s(_d(step.get("measurements")).get("stderr"))
            msg = ""
            if st == "passed":
                outcome = None
            elif st == "failed":
                outcome = "failure"
                failed = _failed_assertions(step)
                if failed:
                    msg = "; ".join(f"{_assertion_expr(a)} (got {_assertion_got(a)})" for a in failed)
                else:
                    msg = _s(step.get("error")) or "step failed"
            elif st == "skipped":
                outcome = "skipped"
                msg = _s(step.get("error")) or _s(step.get("reason")) or "skipped"
            else:  # error, interrupted, unknown
                outcome = "error"
                msg = _s(step.get("error")) or f"step {st}"
            detail = ""
            if outcome in ("failure", "error"):
                detail = "\n".join(x for x in (msg, body, stderr.rstrip("\n")) if x)
            cases.append((cls, _s(step.get("name"), "?"), step.get("duration_s"), outcome, msg,
                          detail, prefix + body, stderr))
    if not cases and _status(results) in ("error", "interrupted", "failed"):
        msg = _s(results.get("error")) or f"scenario {_status(results)} before any run"
        cases.append((name, "(scenario)", results.get("duration_s"), "error", msg, msg, "", ""))

    n = len(cases)
    nf = sum(1 for c in cases if c[3] == "failure")
    ne = sum(1 for c in cases if c[3] == "error")
    ns = sum(1 for c in cases if c[3] == "skipped")
    total = results.get("duration_s")
    if _num(total) is None:
        total = sum(_num(c[2]) or 0.0 for c in cases)
    attrs = {"name": _xml_text(name), "tests": str(n), "failures": str(nf), "errors": str(ne),
             "skipped": str(ns), "time": _secs(total)}
    root = ET.Element("testsuites", attrs)
    suite_attrs = dict(attrs)
    if results.get("started"):
        suite_attrs["timestamp"] = _xml_text(results.get("started"))
    host = _d(results.get("environment")).get("hostname")
    if host:
        suite_attrs["hostname"] = _xml_text(host)
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    props = [(f"environment.{k}", v) for k, v in _env_items(results)]
    sc = _d(results.get("scenario"))
    props += [(f"scenario.{k}", _s(sc.get(k))) for k in ("file", "topology") if sc.get(k)]
    props += [("status", _status(results))]
    if results.get("exit_code") is not None:
        props.append(("exit_code", _s(results.get("exit_code"))))
    if props:
        pe = ET.SubElement(suite, "properties")
        for k, v in props:
            ET.SubElement(pe, "property", name=_xml_text(k), value=_xml_text(v))
    for cls, cname, t, outcome, msg, body, sysout, syserr in cases:
        tc = ET.SubElement(suite, "testcase", classname=_xml_text(cls), name=_xml_text(cname),
                           time=_secs(t))
        if outcome == "skipped":
            ET.SubElement(tc, "skipped", message=_xml_text(msg))
        elif outcome in ("failure", "error"):
            el = ET.SubElement(tc, outcome, message=_xml_text(msg),
                               type="AssertionError" if outcome == "failure" else "StepError")
            el.text = _xml_text(body or msg)
        if sysout:
            ET.SubElement(tc, "system-out").text = _xml_text(sysout)
        if syserr:
            ET.SubElement(tc, "system-err").text = _xml_text(syserr)
    return _xml_doc(root)


# ---------------------------------------------------------------------------------------
# HTML

_STATUS_COLORS = {  # badge background, cell background, text
    "passed": ("#1e8e3e", "#e6f4ea", "#0d652d"),
    "failed": ("#d93025", "#fce8e6", "#a50e0e"),
    "error": ("#b06000", "#fef0d9", "#7a4100"),
    "interrupted": ("#8430ce", "#f3e8fd", "#5e1f95"),
    "skipped": ("#70757a", "#f1f3f4", "#3c4043"),
    "unknown": ("#70757a", "#f1f3f4", "#3c4043"),
}

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#202124;
 background:#f6f7f9;margin:0}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 12px 0 0;display:inline-block;vertical-align:middle}
h2{font-size:18px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid #dadce0}
h3{font-size:15px;margin:18px 0 6px}
header{background:#fff;border:1px solid #dadce0;border-radius:10px;padding:18px 22px}
.badge{display:inline-block;padding:3px 12px;border-radius:14px;color:#fff;font-weight:600;
 font-size:13px;letter-spacing:.04em;text-transform:uppercase;vertical-align:middle}
.desc{margin:8px 0 6px;color:#3c4043}
.facts{color:#5f6368;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:2px 18px}
.facts span{white-space:nowrap}
.facts b{color:#202124;font-weight:600}
.env{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:4px 18px;
 margin-top:12px;padding-top:10px;border-top:1px dashed #dadce0;font-size:13px}
.env div{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.env .k{color:#5f6368;margin-right:6px}
.counts span{display:inline-block;margin:0 8px 6px 0;padding:2px 10px;border-radius:12px;font-size:13px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dadce0;padding:5px 9px;text-align:left;vertical-align:top}
th{background:#f1f3f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.matrix td.cell{min-width:120px}
.cell .st{font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.cell .m{font-variant-numeric:tabular-nums}
.cell .a{font-size:12px}
.runhead{white-space:nowrap}
.runhead .p{color:#5f6368;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:8px 10px}
figure svg{display:block;max-width:100%;height:auto}
figcaption{font-size:12px;color:#5f6368;margin-top:4px}
.reach{display:flex;flex-wrap:wrap;gap:16px}
.reach table td,.reach table th{text-align:center;padding:4px 8px}
.reach .ok{background:#ceead6;color:#0d652d}
.reach .bad{background:#f6aea9;color:#a50e0e;font-weight:700}
.reach .part{background:#fde293;color:#7a4100}
.reach .na{background:#f1f3f4;color:#9aa0a6}
.problems li{margin:3px 0}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
code{background:#f1f3f4;padding:1px 4px;border-radius:3px}
pre{background:#f8f9fa;border:1px solid #e8eaed;padding:8px;overflow:auto;max-height:320px;white-space:pre-wrap}
.tables{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
details{background:#fff;border:1px solid #dadce0;border-radius:8px;margin:8px 0;padding:6px 12px}
summary{cursor:pointer;font-weight:600}
.muted{color:#5f6368}
footer{margin-top:36px;color:#9aa0a6;font-size:12px}
"""


def _e(x) -> str:
    return html.escape(_s(x), quote=True)


def _badge(st: str) -> str:
    bg = _STATUS_COLORS.get(st, _STATUS_COLORS["unknown"])[0]
    return f'<span class="badge" style="background:{bg}">{_e(st)}</span>'


def _cell_style(st: str) -> str:
    _, bg, fg = _STATUS_COLORS.get(st, _STATUS_COLORS["unknown"])
    return f"background:{bg};color:{fg}"


def report_html(results) -> str:
    """A self-contained HTML report (inline CSS and SVG, no scripts, no external files)."""
    results = _d(results)
    sc = _d(results.get("scenario"))
    name = _scenario_name(results)
    st = _status(results)
    body = []

    # header
    h = ['<header>', f'<h1>{_e(name)}</h1>{_badge(st)}']
    if sc.get("description"):
        h.append(f'<p class="desc">{_e(sc.get("description"))}</p>')
    facts = [f'<span>{label} <b>{_e(val)}</b></span>' for label, val, _code in _header_facts(results)]
    facts.append(f'<span>runs <b>{len(_runs(results))}</b></span>')
    h.append(f'<p class="facts">{"".join(facts)}</p>')
    env = _env_items(results)
    if env:
        h.append('<div class="env">' + "".join(
            f'<div title="{_e(k)}: {_e(v)}"><span class="k">{_e(k)}</span>{_e(v)}</div>'
            for k, v in env) + '</div>')
    h.append('</header>')
    body += h

    # summary: counts + run x step matrix
    body.append('<h2>Summary</h2>')
    counts = _step_counts(results)
    if counts:
        body.append('<div class="counts">' + "".join(
            f'<span style="{_cell_style(k)}"><b>{v}</b> {_e(k)}</span>'
            for k, v in sorted(counts.items(), key=lambda kv: list(_STATUS_COLORS).index(kv[0])
                               if kv[0] in _STATUS_COLORS else 99)) + '</div>')
    body.append(_html_matrix(results))

    # problems
    failed = list(_all_failed_assertions(results))
    errors = list(_all_errors(results))
    if failed or errors or results.get("error"):
        body.append('<h2>Problems</h2><ul class="problems">')
        if results.get("error"):
            body.append(f'<li>{_badge("error")} scenario: {_e(results.get("error"))}</li>')
        for run, step, a in failed:
            body.append(f'<li>{_badge("failed")} <b>{_e(_run_title(run))}</b> / '
                        f'<b>{_e(step.get("name"))}</b>: <code>{_e(_assertion_expr(a))}</code>, '
                        f'got <b>{_e(_assertion_got(a))}</b></li>')
        for run, step, msg in errors:
            where = f'<b>{_e(_run_title(run))}</b>'
            if step is not None:
                where += f' / <b>{_e(step.get("name"))}</b>'
            body.append(f'<li>{_badge("error")} {where}: {_e(msg)}</li>')
        body.append('</ul>')

    # charts
    for title, figs in (("Throughput per interval", _series_charts(results)),
                        ("Parameter sweeps", _sweep_charts(results)),
                        ("Measured vs reference", _reference_charts(results))):
        if figs:
            body.append(f'<h2>{_e(title)}</h2><div class="charts">')
            body += figs
            body.append('</div>')

    reach = _reachability(results)
    if reach:
        body.append('<h2>Reachability</h2><div class="reach">')
        body += reach
        body.append('</div>')

    aggs = _aggregates(results)
    if aggs:
        body.append('<h2>Aggregates</h2>')
        body.append(_html_aggregates(aggs))

    details = _html_details(results)
    if details:
        body.append('<h2>Details</h2>')
        body += details

    body.append(f'<footer>generated by emulator scenario report · {_e(name)}</footer>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{_e(name)}: {_e(st)}</title><style>{_CSS}</style></head>\n<body><main>\n"
            + "\n".join(body) + "\n</main></body></html>\n")


def _step_columns(results) -> list[str]:
    cols: list[str] = []
    for run in _runs(results):
        for step in _steps(run):
            n = _s(step.get("name"), "?")
            if n not in cols:
                cols.append(n)
    return cols


def _html_matrix(results) -> str:
    runs = _runs(results)
    if not runs:
        return '<p class="muted">No runs were recorded.</p>'
    cols = _step_columns(results)
    out = ['<table class="matrix"><thead><tr><th>run</th><th>status</th><th>duration</th>']
    out += [f'<th>{_e(c)}</th>' for c in cols]
    out.append('</tr></thead><tbody>')
    for run in runs:
        rst = _status(run)
        p = _params_text(run.get("params"))
        rep = f" · repeat {_s(run.get('repeat'))}" if run.get("repeat") is not None else ""
        out.append(f'<tr><td class="runhead"><b>{_e(_run_label(run))}</b><br>'
                   f'<span class="p">{_e(p)}{_e(rep)}</span></td>'
                   f'<td class="cell" style="{_cell_style(rst)}"><span class="st">{_e(rst)}</span></td>'
                   f'<td class="num">{_e(_duration(run.get("duration_s")))}</td>')
        by_name: dict[str, list[dict]] = {}
        for step in _steps(run):
            by_name.setdefault(_s(step.get("name"), "?"), []).append(step)
        for c in cols:
            steps = by_name.get(c)
            if not steps:
                out.append('<td class="cell muted">—</td>')
                continue
            step = steps[0]
            sst = _status(step)
            meas = _key_measurement(step)
            asr = _assertion_summary(step)
            tip = f"{c} ({_s(step.get('type'))}): {sst}"
            if step.get("error"):
                tip += f" — {_s(step.get('error'))}"
            more = f' <span class="a">(+{len(steps) - 1})</span>' if len(steps) > 1 else ""
            out.append(f'<td class="cell" style="{_cell_style(sst)}" title="{_e(tip)}">'
                       f'<span class="st">{_e(sst)}</span>{more}'
                       + (f'<br><span class="m">{_e(meas)}</span>' if meas else "")
                       + (f'<br><span class="a">{_e(asr)}</span>' if asr else "")
                       + '</td>')
        out.append('</tr>')
    out.append('</tbody></table>')
    return "".join(out)


def _html_aggregates(aggs) -> str:
    out = ['<table><thead><tr><th>step</th><th>metric</th><th>params</th><th>n</th><th>mean</th>'
           '<th>stdev</th><th>min</th><th>max</th><th>reference</th><th>ratio</th></tr></thead><tbody>']
    for a in aggs:
        c = {k: _e(v) for k, v in _aggregate_row(a).items()}
        ref = c["reference"] + (f'<br><span class="muted">{c["source"]}</span>' if c["source"] else "")
        out.append(f'<tr><td>{c["step"]}</td><td>{c["metric"]}</td><td>{c["params"]}</td>'
                   f'<td class="num">{c["n"]}</td><td class="num"><b>{c["mean"]}</b></td>'
                   f'<td class="num">{c["stdev"]}</td><td class="num">{c["min"]}</td><td class="num">{c["max"]}</td>'
                   f'<td>{ref}</td><td class="num">{c["ratio"]}</td></tr>')
    out.append('</tbody></table>')
    return "".join(out)


def _html_details(results) -> list[str]:
    out = []
    for run in _runs(results):
        rst = _status(run)
        steps = _steps(run)
        parts = [f'<details{" open" if rst in ("failed", "error", "interrupted") else ""}>'
                 f'<summary>{_e(_run_title(run))} {_badge(rst)} '
                 f'<span class="muted">{_e(_duration(run.get("duration_s")))}</span></summary>']
        if run.get("error"):
            parts.append(f'<p><b>error:</b> {_e(run.get("error"))}</p>')
        if not steps:
            parts.append('<p class="muted">No steps ran.</p>')
        for step in steps:
            sst = _status(step)
            parts.append(f'<h3>{_e(step.get("name"))} <span class="muted">'
                         f'{_e(step.get("type"))}</span> {_badge(sst)} '
                         f'<span class="muted">{_e(_duration(step.get("duration_s")))}</span></h3>')
            if step.get("error"):
                parts.append(f'<p><b>error:</b> {_e(step.get("error"))}</p>')
            meas = _d(step.get("measurements"))
            rows = []
            for k, v in meas.items():
                if k in ("stdout", "stderr", "matrix") or isinstance(v, (dict, list)):
                    continue
                hvv = human_value(k, v)
                raw = _s(v, "null")
                rows.append(f'<tr><td>{_e(k)}</td><td class="num"><b>{_e(hvv)}</b></td>'
                            f'<td class="num muted">{_e(raw) if raw != hvv else ""}</td></tr>')
            parts.append('<div class="tables">')
            if rows:
                parts.append('<table><tr><th>measurement</th><th>value</th><th>raw</th></tr>'
                             + "".join(rows) + '</table>')
            asserts = _assertions(step)
            if asserts:
                parts.append('<table><tr><th>assertion</th><th>got</th>'
                             '<th>result</th></tr>')
                for a in asserts:
                    ok = a.get("ok")
                    ast = "passed" if ok is True else "failed" if ok is False else "unknown"
                    parts.append(f'<tr><td><code>{_e(_assertion_expr(a))}</code></td>'
                                 f'<td class="num">{_e(_assertion_got(a))}</td>'
                                 f'<td style="{_cell_style(ast)}">{_e("ok" if ok is True else "FAILED" if ok is False else "not evaluated")}</td></tr>')
                parts.append('</table>')
            parts.append('</div>')
            for k in ("stdout", "stderr"):
                if meas.get(k):
                    text = _s(meas.get(k))
                    if len(text) > 8000:
                        text = text[:8000] + "\n… (truncated)"
                    parts.append(f'<div class="muted">{k}</div><pre>{_e(text)}</pre>')
            arts = _l(step.get("artifacts"))
            if arts:
                parts.append('<p class="muted">artifacts: ' + ", ".join(
                    f'<a href="{_e(a)}">{_e(a)}</a>' if isinstance(a, str) else _e(json.dumps(a, default=str))
                    for a in arts) + '</p>')
        parts.append('</details>')
        out.append("".join(parts))
    return out


def _reachability(results) -> list[str]:
    out = []
    for run in _runs(results):
        for step in _steps(run):
            matrix = _d(_d(step.get("measurements")).get("matrix"))
            if not matrix:
                continue
            nodes: list[str] = []
            for src, row in matrix.items():
                for n in [src] + list(_d(row).keys()):
                    if _s(n) not in nodes:
                        nodes.append(_s(n))
            t = ['<figure><table><tr><th title="from \\ to">from \\ to</th>']
            t += [f'<th>{_e(n)}</th>' for n in nodes]
            t.append('</tr>')
            for src in nodes:
                row = _d(matrix.get(src))
                t.append(f'<tr><th>{_e(src)}</th>')
                for dst in nodes:
                    if dst == src:
                        t.append('<td class="na">·</td>')
                        continue
                    v = row.get(dst)
                    cls, txt = _reach_cell(v)
                    t.append(f'<td class="{cls}" title="{_e(src)} → {_e(dst)}: {_e(txt)}">{_e(txt)}</td>')
                t.append('</tr>')
            m = _d(step.get("measurements"))
            cap = f'{_run_title(run)} / {_s(step.get("name"))}'
            if m.get("reachable") is not None:
                cap += f' — {_s(m.get("reachable"))}/{_s(m.get("pairs"), "?")} reachable'
            t.append(f'</table><figcaption>{_e(cap)}</figcaption></figure>')
            out.append("".join(t))
    return out


def _reach_cell(v):
    if v is True:
        return "ok", "✓"
    if v is False:
        return "bad", "✗"
    if isinstance(v, dict):  # {"ok": .., "loss_pct": ..}
        if "ok" in v:
            return _reach_cell(v.get("ok"))
        v = v.get("loss_pct")
    n = _num(v)
    if n is None:
        return "na", "?"
    if n <= 0:
        return "ok", "✓"
    if n >= 100:
        return "bad", "✗"
    return "part", _pct(n)


# ---------------------------------------------------------------------------------------
# charts from results

_PALETTE = ["#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#12b5cb", "#e52592",
            "#795548", "#5f6368", "#f9ab00"]
_DASHES = ["", "7 4", "2 3", "10 3 2 3", "4 2"]


def _series_charts(results) -> list[str]:
    """One chart per (step name, series metric): every run's series overlaid."""
    runs = _runs(results)
    groups: dict[tuple[str, str], list] = {}
    param_keys: list[str] = []
    for run in runs:
        pk = _params_text(run.get("params"))
        if pk not in param_keys:
            param_keys.append(pk)
    for run in runs:
        for step in _steps(run):
            series = _d(step.get("series"))
            if not series:
                continue
            xkey = next((k for k in ("t_s", "time_s", "t", "interval_s") if k in series), None)
            for ykey, ys in series.items():
                if ykey == xkey or not isinstance(ys, (list, tuple)):
                    continue
                ys = list(ys)
                xs = _l(series.get(xkey)) if xkey else list(range(1, len(ys) + 1))
                pts = [(_num(x), _num(y)) for x, y in zip(xs, ys)]
                pts = [(x, y, None) for x, y in pts if x is not None and y is not None]
                if not pts:
                    continue
                groups.setdefault((_s(step.get("name"), "?"), _s(ykey)), []).append((run, pts))
    figs = []
    for (sname, ykey), all_lines in groups.items():
        by_params: dict[str, list] = {}
        for run, pts in all_lines:
            by_params.setdefault(_params_text(run.get("params")), []).append((run, pts))
        means = [sum(abs(p[1]) for _, pts in ls for p in pts) / max(1, sum(len(pts) for _, pts in ls))
                 for ls in by_params.values()]
        # lines of very different magnitude (100 Mbit/s next to 1 Gbit/s) would flatten the
        # small ones: then one chart per parameter combination, repeats overlaid
        split = len(by_params) > 1 and min(means) >= 0 and (
            min(means) == 0 or max(means) / min(means) > 4)
        chunks = list(by_params.items()) if split else [("", all_lines)]
        for pkey, lines in chunks:
            figs.append(_series_figure(sname, ykey, lines, pkey, param_keys))
    return figs


def _series_figure(sname, ykey, lines, pkey, param_keys) -> str:
    """One throughput-per-interval figure: the given runs' series overlaid."""
    series = []
    for run, pts in lines:
        ci = param_keys.index(_params_text(run.get("params")))
        rep = _num(run.get("repeat"))
        di = int(rep - 1) % len(_DASHES) if rep is not None and rep >= 1 else 0
        label = _run_title(run)
        if pkey:  # the parameters are in the title
            label = _run_label(run) + (f" · repeat {_s(run.get('repeat'))}"
                                       if run.get("repeat") is not None else "")
        series.append({"label": label, "points": pts,
                       "color": _PALETTE[ci % len(_PALETTE)], "dash": _DASHES[di]})
    kind = _kind(ykey)
    title = f"{sname}: {_metric_title(ykey)} per interval"
    if pkey:
        title += f", {pkey}"
    svg = line_chart(series, title=title, x_label="time (s)", y_label=_metric_title(ykey),
                     y_kind=kind, markers=max(len(s["points"]) for s in series) <= 40,
                     x_from_zero=True)
    cap = f"{len(series)} run{'s' if len(series) != 1 else ''}"
    if len(series) > 1:
        cap += "; colour = parameters, dash = repeat" if not pkey else "; dash = repeat"
    return f'<figure>{svg}<figcaption>{_e(cap)}</figcaption></figure>'


def _metric_title(metric) -> str:
    m = _s(metric)
    for suf in ("_bps", "_ms", "_pct", "_s", "_bytes"):
        if m.endswith(suf):
            m = m[: -len(suf)]
            break
    return m.replace("_", " ")


_PARAM_NUM = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?\d+)?)\s*([a-zµ%/]*)\s*$", re.I)
_PARAM_MULT = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
               "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12, "bit": 1,
               "kbit/s": 1e3, "mbit/s": 1e6, "gbit/s": 1e9, "bit/s": 1,
               "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "%": 1, "b": 1,
               "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _param_number(v):
    """'100mbit' -> 1e8, '2ms' -> 0.002, '0.1%' -> 0.1, 64 -> 64; None when not numeric."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return _num(v)
    m = _PARAM_NUM.match(_s(v))
    if not m:
        return None
    mult = _PARAM_MULT.get(m.group(2).lower())
    if mult is None:
        return None
    return float(m.group(1)) * mult


def _sweep_charts(results) -> list[str]:
    """Mean vs a varying parameter, stdev error bars, one line per combination of the other
    varying parameters; one chart per (step, metric)."""
    aggs = _aggregates(results)
    order = [_s(n) for n in _l(_d(_d(results).get("parameters")).get("names"))]
    groups: dict[tuple[str, str], list[dict]] = {}
    for a in aggs:
        if _num(a.get("mean")) is None:
            continue
        groups.setdefault((_s(a.get("step")), _s(a.get("metric"))), []).append(a)
    figs = []
    for (sname, metric), items in groups.items():
        values: dict[str, list] = {}
        for a in items:
            for k, v in _d(a.get("params")).items():
                vals = values.setdefault(_s(k), [])
                if _s(v) not in [_s(x) for x in vals]:
                    vals.append(v)
        varying = [k for k, vs in values.items() if len(vs) > 1]
        if not varying:
            continue
        varying.sort(key=lambda k: order.index(k) if k in order else len(order))
        # the x parameter: the first numeric one in the declared order, else the first
        xp = next((k for k in varying if all(_param_number(v) is not None for v in values[k])),
                  varying[0])
        others = [k for k in varying if k != xp]
        xvals = values[xp]
        numeric = all(_param_number(v) is not None for v in xvals)
        if numeric:
            xvals = sorted(xvals, key=_param_number)
            nums = [_param_number(v) for v in xvals]
            log = min(nums) > 0 and max(nums) / min(nums) >= 20
            pos = {_s(v): (math.log10(n) if log else n) for v, n in zip(xvals, nums)}
        else:
            pos = {_s(v): float(i) for i, v in enumerate(xvals)}
        ticks = [(pos[_s(v)], _s(v)) for v in xvals]
        unit = next((a.get("unit") for a in items if a.get("unit")), None)
        kind = _kind(metric, unit)
        lines: dict[str, list] = {}
        for a in items:
            p = _d(a.get("params"))
            if _s(p.get(xp)) not in pos:
                continue
            key = ", ".join(f"{k}={_s(p.get(k), '—')}" for k in others)
            lines.setdefault(key, []).append(
                (pos[_s(p.get(xp))], _to_base(a.get("mean"), unit, kind),
                 _to_base(a.get("stdev"), unit, kind)))
        series = []
        for i, (key, pts) in enumerate(lines.items()):
            pts.sort()
            series.append({"label": key or metric, "points": pts,
                           "color": _PALETTE[i % len(_PALETTE)], "dash": ""})
        ns = sorted({_s(a.get("n")) for a in items if a.get("n") is not None})
        title = f"{sname}: {_metric_title(metric)} vs {xp}"
        svg = line_chart(series, title=title, x_label=xp, y_label=f"mean {_metric_title(metric)}",
                         y_kind=kind, y_unit=unit if kind == "plain" else None, x_ticks=ticks,
                         markers=True, legend=len(series) > 1)
        cap = "mean ± stdev" + (f", n = {', '.join(ns)}" if ns else "")
        figs.append(f'<figure>{svg}<figcaption>{_e(cap)}</figcaption></figure>')
    return figs


def _reference_charts(results) -> list[str]:
    """Bars of measured mean (± stdev) next to the reference, ratio printed; one chart per
    (step, metric)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for a in _aggregates(results):
        ref = _d(a.get("reference"))
        if not ref or _num(ref.get("value")) is None or _num(a.get("mean")) is None:
            continue
        groups.setdefault((_s(a.get("step")), _s(a.get("metric"))), []).append(a)
    figs = []
    for (sname, metric), items in groups.items():
        unit = next((a.get("unit") for a in items if a.get("unit")), None)
        kind = _kind(metric, unit)
        bars = []
        sources = []
        for a in items:
            ref = _d(a.get("reference"))
            r = _ratio(a)
            label = _params_text(a.get("params")) or metric
            bars.append({"label": label,
                         "values": [(_to_base(a.get("mean"), a.get("unit"), kind),
                                     _to_base(a.get("stdev"), a.get("unit"), kind)),
                                    (_to_base(ref.get("value"), ref.get("unit") or a.get("unit"), kind),
                                     None)],
                         "note": f"ratio {r:.2f}" if r is not None else ""})
            if ref.get("source") and _s(ref.get("source")) not in sources:
                sources.append(_s(ref.get("source")))
        svg = bar_chart(bars, ["measured", "reference"], ["#1a73e8", "#bdc1c6"],
                        title=f"{sname}: {_metric_title(metric)}, measured vs reference",
                        y_label=_metric_title(metric), y_kind=kind,
                        y_unit=unit if kind == "plain" else None)
        cap = "measured: mean ± stdev"
        if sources:
            cap += "; reference: " + "; ".join(sources)
        figs.append(f'<figure>{svg}<figcaption>{_e(cap)}</figcaption></figure>')
    return figs


# ---------------------------------------------------------------------------------------
# a tiny SVG chart kit

_FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,DejaVu Sans,sans-serif"'


def _text_w(text: str, size: float = 12) -> float:
    return len(text) * size * 0.58


def _nice_step(span: float, target: int = 5) -> float:
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = (0.0, hi + pad) if lo >= 0 and hi - pad < 0 else (lo - pad, hi + pad)
    step = _nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = start
    while v < hi - 1e-9 * step:
        ticks.append(v)
        v += step
    ticks.append(v)
    return [round(t, 12) for t in ticks]


def _axis_scale(kind: str, maxabs: float, unit=None):
    """(factor, unit label) so that axis numbers read in human units."""
    if kind == "rate":
        for u, f in _RATE_UNITS:
            if maxabs >= f:
                return f, u
        return 1.0, "bit/s"
    if kind == "ms":
        return (1e-3, "µs") if 0 < maxabs < 0.01 else (1.0, "ms")
    if kind == "s":
        if 0 < maxabs < 0.01:
            return 1e-6, "µs"
        if 0 < maxabs < 1:
            return 1e-3, "ms"
        return 1.0, "s"
    if kind == "pct":
        return 1.0, "%"
    if kind == "bytes":
        for u, f in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if maxabs >= f:
                return float(f), u
        return 1.0, "B"
    return 1.0, _s(unit)


def _tick_label(v: float, step: float) -> str:
    if step >= 1 or step <= 0:
        decimals = 0
    else:
        decimals = min(6, max(0, math.ceil(-math.log10(step) - 1e-9)))
        if abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6:  # e.g. 0.25
            decimals += 1
    s = f"{v:.{decimals}f}"
    return "0" if s.strip("-0.") == "" else s


def _svg_open(width, height, title):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}" {_FONT}>',
            f'<title>{_e(title)}</title>',
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
            f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="14" '
            f'font-weight="600" fill="#202124">{_e(title)}</text>']


def _legend(items, x0, y0, width):
    """items: (label, color, dash, kind 'line'|'box'); returns (svg parts, height used)."""
    parts, x, y = [], x0, y0
    row_h = 18
    for label, color, dash, kind in items:
        w = 28 + _text_w(label, 12) + 18
        if x > x0 and x + w > x0 + width:
            x, y = x0, y + row_h
        if kind == "box":
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="18" height="11" fill="{color}"/>')
        else:
            da = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 22:.1f}" y2="{y - 4:.1f}" '
                         f'stroke="{color}" stroke-width="2.5"{da}/>')
        parts.append(f'<text x="{x + 28:.1f}" y="{y:.1f}" font-size="12" fill="#3c4043">{_e(label)}</text>')
        x += w
    return parts, (y - y0 + row_h) if items else 0


def _legend_height(items, width) -> int:
    return int(_legend(items, 0, 0, width)[1])


def _y_axis(parts, ticks, factor, ymap, left, right, y_title, plot_top, plot_bottom):
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    for t in ticks:
        y = ymap(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     f'stroke="{"#9aa0a6" if t == 0 else "#e8eaed"}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#5f6368">{_e(_tick_label(t / factor, step / factor))}</text>')
    cy = (plot_top + plot_bottom) / 2
    parts.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="12" fill="#3c4043" '
                 f'transform="rotate(-90 14 {cy:.1f})">{_e(y_title)}</text>')


def line_chart(series, *, title: str, x_label: str, y_label: str, y_kind: str = "plain",
               y_unit=None, x_ticks=None, markers: bool = True, legend=None,
               x_from_zero: bool = False,
               width: int = 500, height: int = 300) -> str:
    """An SVG line chart. series: [{"label", "points": [(x, y, err|None)], "color", "dash"}].
    y values in the base unit of y_kind (bit/s, ms, s, %); the axis is labelled in human
    units. x_ticks: [(x, label)] to label the x axis at given positions (sweeps);
    x_from_zero starts a numeric x axis at 0 (time)."""
    series = [s for s in series if s.get("points")]
    legend = len(series) > 1 if legend is None else legend
    left, right_pad, top = 70, 20, 34
    plot_w = width - left - right_pad
    items = [(s["label"], s["color"], s.get("dash", ""), "line") for s in series] if legend else []
    leg_h = _legend_height(items, plot_w)
    total_h = height + leg_h + (4 if leg_h else 0)
    bottom = height - 48
    parts = _svg_open(width, total_h, title)
    ys = [p[1] for s in series for p in s["points"]]
    ys_hi = [p[1] + (p[2] or 0) for s in series for p in s["points"]]
    ys_lo = [p[1] - (p[2] or 0) for s in series for p in s["points"]]
    xs = [p[0] for s in series for p in s["points"]]
    if not ys:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#9aa0a6">'
                     f'no data</text></svg>')
        return "".join(parts)
    lo = min(ys_lo)
    hi = max(ys_hi)
    if lo >= 0:
        lo = 0.0
    yt = _nice_ticks(lo, hi)
    factor, unit = _axis_scale(y_kind, max(abs(yt[0]), abs(yt[-1])), y_unit)
    y0, y1 = yt[0], yt[-1]
    if x_ticks:
        xlo = min(t[0] for t in x_ticks)
        xhi = max(t[0] for t in x_ticks)
        pad = (xhi - xlo) * 0.08 or 0.5
        xlo, xhi = xlo - pad, xhi + pad
        xt = list(x_ticks)
    else:
        xlo, xhi = min(xs), max(xs)
        if xlo > 0 and x_from_zero:
            xlo = 0.0
        xticks = _nice_ticks(xlo, xhi, 8) if xhi > xlo else [xlo - 1, xlo, xlo + 1]
        if all(float(x).is_integer() for x in xs) and xticks[1] - xticks[0] < 1:
            xticks = [float(v) for v in range(math.floor(xlo), math.ceil(xhi) + 1)]
        xlo, xhi = xticks[0], xticks[-1]
        xstep = xticks[1] - xticks[0]
        xt = [(t, _tick_label(t, xstep)) for t in xticks]

    def X(x):
        return left + (x - xlo) / ((xhi - xlo) or 1) * plot_w

    def Y(y):
        return bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top)

    _y_axis(parts, yt, factor, Y, left, left + plot_w,
            f"{y_label} ({unit})" if unit else y_label, top, bottom)
    for x, label in xt:
        px = X(x)
        parts.append(f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 5}" stroke="#5f6368"/>')
        parts.append(f'<text x="{px:.1f}" y="{bottom + 18}" text-anchor="middle" font-size="11" '
                     f'fill="#5f6368">{_e(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#5f6368"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#5f6368"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{bottom + 38}" text-anchor="middle" '
                 f'font-size="12" fill="#3c4043">{_e(x_label)}</text>')
    for s in series:
        pts = sorted(s["points"], key=lambda p: p[0])
        color = s["color"]
        da = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        for x, y, err in pts:
            if err:
                px, ya, yb = X(x), Y(y - err), Y(y + err)
                parts.append(f'<path d="M{px:.1f},{ya:.1f}V{yb:.1f}M{px - 5:.1f},{ya:.1f}h10'
                             f'M{px - 5:.1f},{yb:.1f}h10" stroke="{color}" stroke-width="1.5" fill="none"/>')
        if len(pts) > 1:
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y, _ in pts)
            parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2.2" '
                         f'stroke-linejoin="round"{da}/>')
        if markers or len(pts) == 1:
            for x, y, err in pts:
                tip = f"{s['label']}: {_fmt_axis_value(y, y_kind, y_unit)}"
                if err:
                    tip += f" ± {_fmt_axis_value(err, y_kind, y_unit)}"
                parts.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3.5" fill="{color}" '
                             f'stroke="#fff" stroke-width="1"><title>{_e(tip)}</title></circle>')
    if items:
        lp, _ = _legend(items, left, height + 8, plot_w)
        parts += lp
    parts.append('</svg>')
    return "".join(parts)


def _fmt_axis_value(v, kind, unit=None) -> str:
    if kind == "rate":
        return human_rate(v)
    if kind == "ms":
        return human_value("x_ms", v)
    if kind == "s":
        return _human_seconds(v)
    if kind == "pct":
        return _pct(v)
    if kind == "bytes":
        return _human_bytes(v)
    return f"{_sig(v)} {_s(unit)}".strip()


def bar_chart(groups, series_labels, colors, *, title: str, y_label: str, y_kind: str = "plain",
              y_unit=None, width: int = 500, height: int = 300) -> str:
    """An SVG grouped bar chart. groups: [{"label", "values": [(value, err|None), ...],
    "note"}] with one value per series label; the note (e.g. the ratio) is printed above
    the group."""
    left, right_pad, top = 70, 20, 34
    plot_w = width - left - right_pad
    items = [(lab, col, "", "box") for lab, col in zip(series_labels, colors)]
    leg_h = _legend_height(items, plot_w)
    total_h = height + leg_h
    bottom = height - 48
    parts = _svg_open(width, total_h, title)
    vals = [v + (e or 0) for g in groups for v, e in g["values"] if v is not None]
    if not vals:
        parts.append('</svg>')
        return "".join(parts)
    hi = max(vals) * 1.12  # room for the note
    lo = min(0.0, min(v for g in groups for v, _ in g["values"] if v is not None))
    yt = _nice_ticks(lo, hi)
    factor, unit = _axis_scale(y_kind, max(abs(yt[0]), abs(yt[-1])), y_unit)
    y0, y1 = yt[0], yt[-1]

    def Y(y):
        return bottom - (y - y0) / ((y1 - y0) or 1) * (bottom - top)

    _y_axis(parts, yt, factor, Y, left, left + plot_w,
            f"{y_label} ({unit})" if unit else y_label, top, bottom)
    n = max(1, len(groups))
    gw = plot_w / n
    nb = max(1, max(len(g["values"]) for g in groups))
    bw = min(70.0, gw * 0.7 / nb)
    for gi, g in enumerate(groups):
        cx = left + gw * (gi + 0.5)
        x0 = cx - bw * nb / 2
        for bi, (v, err) in enumerate(g["values"]):
            if v is None:
                continue
            col = colors[bi % len(colors)]
            x = x0 + bi * bw
            ya, yb = Y(max(v, 0)), Y(min(v, 0))
            tip = f"{series_labels[bi] if bi < len(series_labels) else ''}: {_fmt_axis_value(v, y_kind, y_unit)}"
            parts.append(f'<rect x="{x + 2:.1f}" y="{ya:.1f}" width="{bw - 4:.1f}" '
                         f'height="{max(yb - ya, 0.5):.1f}" fill="{col}"><title>{_e(tip)}</title></rect>')
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{Y(max(v, 0) + (err or 0)) - 5:.1f}" '
                         f'text-anchor="middle" font-size="11" fill="#3c4043">'
                         f'{_e(_fmt_axis_value(v, y_kind, y_unit))}</text>')
            if err:
                px, ea, eb = x + bw / 2, Y(v - err), Y(v + err)
                parts.append(f'<path d="M{px:.1f},{ea:.1f}V{eb:.1f}M{px - 5:.1f},{ea:.1f}h10'
                             f'M{px - 5:.1f},{eb:.1f}h10" stroke="#202124" stroke-width="1.3" fill="none"/>')
        if g.get("note"):
            top_v = max((v + (e or 0)) for v, e in g["values"] if v is not None)
            parts.append(f'<text x="{cx:.1f}" y="{Y(top_v) - 22:.1f}" text-anchor="middle" '
                         f'font-size="13" font-weight="600" fill="#202124">{_e(g["note"])}</text>')
        parts.append(f'<text x="{cx:.1f}" y="{bottom + 18}" text-anchor="middle" font-size="12" '
                     f'fill="#3c4043">{_e(g["label"])}</text>')
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#5f6368"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#5f6368"/>')
    lp, _ = _legend(items, left, height - 14, plot_w)
    parts += lp
    parts.append('</svg>')
    return "".join(parts)

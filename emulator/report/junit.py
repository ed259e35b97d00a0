"""junit.xml: one <testsuite> named after the scenario, one <testcase> per step."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from ..units import finite, human_value, text
from .results import Results, Step, as_results, params_text

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(x) -> str:
    return _XML_BAD.sub("\ufffd", text(x))


def _xml_doc(root) -> str:
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _secs(x) -> str:
    v = finite(x)
    return f"{max(v, 0.0):.3f}" if v is not None else "0.000"


def _measurement_text(step: Step) -> str:
    lines = []
    meas = step.measurements
    for k, v in meas.items():
        if k in ("stdout", "stderr"):
            continue
        if isinstance(v, (dict, list)):
            if k == "matrix":
                for src, row in (v if isinstance(v, dict) else {}).items():
                    row = row if isinstance(row, dict) else {}
                    cells = " ".join(f"{dst}:{'ok' if ok is True else 'FAIL' if ok is False else text(ok, '?')}"
                                     for dst, ok in row.items())
                    lines.append(f"matrix {src} -> {cells}")
                continue
            lines.append(f"{k} = {json.dumps(v, default=str)}")
            continue
        hv = human_value(k, v)
        raw = text(v, "null")
        lines.append(f"{k} = {hv}" + (f" ({raw})" if hv != raw else ""))
    for a in step.assertions:
        lines.append(f"assert {a.expr}: {a.result_word} (got {a.got})")
    if step.series:
        lines.append("series: " + ", ".join(
            f"{k}[{len(v) if isinstance(v, (list, tuple)) else 0}]" for k, v in step.series.items()))
    for art in step.artifacts:
        lines.append(f"artifact {text(art)}")
    if meas.get("stdout"):
        lines += ["--- stdout ---", text(meas.get("stdout")).rstrip("\n")]
    return "\n".join(lines)


def junit_xml(results: Results | dict) -> str:
    """JUnit XML: one <testsuite> named after the scenario, one <testcase> per step
    (classname "<scenario>.<run id>", name the step name). Failed steps get a <failure>
    listing their failed assertions, steps in error an <error>, skipped or never-run steps
    <skipped/>. A run without steps (interrupted early) is reported as one testcase."""
    results = as_results(results)
    name = results.name
    cases = []   # (classname, name, time, outcome, message, body, stdout, stderr)
    for run in results.runs:
        cls = f"{name}.{run.id}"
        prefix = f"run {run.title}\n" if params_text(run.params) or run.repeat is not None else ""
        if not run.steps:
            st = run.status
            outcome = {"passed": None, "failed": "failure", "skipped": "skipped"}.get(st, "error")
            msg = run.error or f"run {st} before any step ran"
            cases.append((cls, "(run)", run.duration_s, outcome, msg, msg, prefix, ""))
            continue
        for step in run.steps:
            st = step.status
            body = _measurement_text(step)
            stderr = text(step.measurements.get("stderr"))
            msg = ""
            if st == "passed":
                outcome = None
            elif st == "failed":
                outcome = "failure"
                failed = step.failed_assertions
                if failed:
                    msg = "; ".join(f"{a.expr} (got {a.got})" for a in failed)
                else:
                    msg = step.error or "step failed"
            elif st == "skipped":
                outcome = "skipped"
                msg = step.error or step.reason or "skipped"
            else:  # error, interrupted, unknown
                outcome = "error"
                msg = step.error or f"step {st}"
            detail = ""
            if outcome in ("failure", "error"):
                detail = "\n".join(x for x in (msg, body, stderr.rstrip("\n")) if x)
            cases.append((cls, step.label, step.duration_s, outcome, msg, detail, prefix + body, stderr))
    if not cases and results.status in ("error", "interrupted", "failed"):
        msg = results.error or f"scenario {results.status} before any run"
        cases.append((name, "(scenario)", results.duration_s, "error", msg, msg, "", ""))

    n = len(cases)
    nf = sum(1 for c in cases if c[3] == "failure")
    ne = sum(1 for c in cases if c[3] == "error")
    ns = sum(1 for c in cases if c[3] == "skipped")
    total = results.duration_s
    if total is None:
        total = sum(c[2] or 0.0 for c in cases)
    attrs = {"name": _xml_text(name), "tests": str(n), "failures": str(nf), "errors": str(ne),
             "skipped": str(ns), "time": _secs(total)}
    root = ET.Element("testsuites", attrs)
    suite_attrs = dict(attrs)
    if results.started:
        suite_attrs["timestamp"] = _xml_text(results.started)
    host = results.environment.get("hostname")
    if host:
        suite_attrs["hostname"] = _xml_text(host)
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    props = [(f"environment.{k}", v) for k, v in results.environment_items()]
    props += [(f"scenario.{k}", text(results.scenario.get(k))) for k in ("file", "topology")
              if results.scenario.get(k)]
    props += [("status", results.status)]
    if results.exit_code is not None:
        props.append(("exit_code", text(results.exit_code)))
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


def error_xml(name: str, tb: str) -> str:
    """A junit.xml holding one error: the report could not be rendered (the traceback)."""
    root = ET.Element("testsuites", name=name, tests="1", failures="0", errors="1", skipped="0")
    suite = ET.SubElement(root, "testsuite", name=name, tests="1", failures="0", errors="1",
                          skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname=name, name="report")
    ET.SubElement(case, "error", message="junit report could not be rendered").text = _xml_text(tb)
    return _xml_doc(root)

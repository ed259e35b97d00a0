"""Report writers: results.json, summary.md, report.html, junit.xml (no root needed)."""
import copy
import json
import os
import xml.etree.ElementTree as ET

import pytest

from emulator.scenario import report

SAMPLE = os.path.join(os.path.dirname(__file__), "data", "results-sample.json")


@pytest.fixture
def sample():
    with open(SAMPLE) as f:
        return json.load(f)


def _steps(results):
    return [s for r in results["runs"] for s in r["steps"]]


def test_write_all_creates_the_four_files(sample, tmp_path):
    paths = report.write_all(sample, str(tmp_path))
    names = {os.path.basename(p) for p in paths.values()}
    assert {"results.json", "summary.md", "report.html", "junit.xml"} <= names
    assert json.loads((tmp_path / "results.json").read_text())["scenario"] == sample["scenario"]


def test_junit_counts_match_the_results(sample):
    root = ET.fromstring(report.junit_xml(sample))
    suites = list(root.iter("testsuite"))
    steps = _steps(sample)
    assert sum(int(s.get("tests")) for s in suites) == len(steps)
    assert sum(int(s.get("failures")) for s in suites) == sum(1 for s in steps if s["status"] == "failed")
    assert sum(int(s.get("errors")) for s in suites) == sum(1 for s in steps if s["status"] == "error")
    cases = list(root.iter("testcase"))
    assert len(cases) == len(steps)
    assert sum(1 for c in cases if c.find("failure") is not None) == 1


def test_html_is_self_contained_with_charts_and_escapes_text(sample):
    evil = copy.deepcopy(sample)
    evil["runs"][0]["steps"][0]["name"] = "<script>alert(1)</script>"
    html = report.report_html(evil)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    # a throughput chart per iperf3 step series, a sweep chart, a reference chart, a matrix
    assert html.count("<svg") >= 3


def test_markdown_lists_the_failed_assertion(sample):
    md = report.summary_markdown(sample)
    failed = [a for s in _steps(sample) for a in s.get("assertions", []) if not a["ok"]]
    assert failed
    assert failed[0]["expr"] in md


def test_terminal_table_fits_100_columns_and_uses_human_units(sample):
    text = report.summary_table(sample)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "Mbit/s" in text or "Gbit/s" in text


@pytest.mark.parametrize("partial", [
    {},
    {"status": "interrupted", "runs": []},
    {"scenario": {"name": "x"}, "runs": [{"id": "r1", "steps": [{"name": "s", "type": "ping"}]}]},
    {"scenario": None, "runs": [{"steps": None}], "aggregates": [{"metric": "throughput_bps"}]},
])
def test_partial_results_never_crash(partial, tmp_path):
    report.write_all(partial, str(tmp_path))
    assert report.summary_table(partial) is not None
    ET.fromstring(report.junit_xml(partial))

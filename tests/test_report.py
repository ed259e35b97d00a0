"""Report writers of the scenario runner: emulator/report/."""
import copy
import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from emulator import report, units

SAMPLE = os.path.join(os.path.dirname(__file__), "data", "results-sample.json")
WRITERS = (report.summary_markdown, report.report_html, report.junit_xml, report.summary_table)


@pytest.fixture
def sample():
    with open(SAMPLE, encoding="utf-8") as f:
        return json.load(f)


def _svgs(page):
    return re.findall(r"<svg\b", page)


def _suite(xml_text):
    root = ET.fromstring(xml_text)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return root, suites[0]


def _step(name="s", typ="ping", status="passed", **kw):
    d = {"name": name, "type": typ, "status": status, "duration_s": 0.5, "measurements": {},
         "series": {}, "assertions": [], "error": None, "artifacts": []}
    d.update(kw)
    return d


# --- the sample --------------------------------------------------------------------------


def test_sample_has_the_documented_shape(sample):
    assert sample["parameters"] == {"names": ["bandwidth"], "points": 2, "repeat": 2}
    assert len(sample["runs"]) == 4
    types = {s["type"] for r in sample["runs"] for s in r["steps"]}
    assert types == {"ping", "pingall", "iperf3", "exec"}
    failed = [a for r in sample["runs"] for s in r["steps"] for a in s["assertions"] if not a["ok"]]
    assert len(failed) == 1
    assert sum(1 for a in sample["aggregates"] if a["reference"]) == 1


def test_write_all_creates_the_four_files(sample, tmp_path):
    out = tmp_path / "out" / "nested"
    paths = report.write_all(sample, str(out))
    assert set(paths) == {"json", "markdown", "html", "junit"}
    names = {os.path.basename(p) for p in paths.values()}
    assert names == {"results.json", "summary.md", "report.html", "junit.xml"}
    for p in paths.values():
        assert os.path.isfile(p) and os.path.getsize(p) > 0
    with open(paths["json"], encoding="utf-8") as f:
        assert json.load(f) == sample
    assert sorted(os.listdir(out)) == sorted(names)  # no temporary files left behind
    # rewriting into the same directory works (a rerun)
    assert report.write_all(sample, str(out)) == paths


def test_junit_counts_the_sample(sample):
    root, suite = _suite(report.junit_xml(sample))
    for el in (root, suite):
        assert el.get("name") == "smoke"
        assert el.get("tests") == "16"
        assert el.get("failures") == "1"
        assert el.get("errors") == "1"
        assert el.get("skipped") == "0"
        assert float(el.get("time")) == pytest.approx(31.4)
    cases = suite.findall("testcase")
    assert len(cases) == 16
    assert {c.get("classname") for c in cases} == {"smoke.r1", "smoke.r2", "smoke.r3", "smoke.r4"}
    assert [c.get("name") for c in cases[:4]] == ["reach", "all", "tcp", "fw rules"]
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failures] == [("smoke.r1", "all")]
    assert [(c.get("classname"), c.get("name")) for c in errors] == [("smoke.r1", "fw rules")]
    assert "loss_pct <= 0" in failures[0].find("failure").get("message")
    assert "16.7%" in failures[0].find("failure").get("message")
    assert "command failed" in errors[0].find("error").get("message")
    tcp = cases[2]
    assert float(tcp.get("time")) == pytest.approx(5.21)
    assert "94.2 Mbit/s" in tcp.find("system-out").text
    assert "No chain/target" in errors[0].find("system-err").text


def test_html_sample_charts(sample):
    page = report.report_html(sample)
    # throughput per interval: one per bandwidth (100 Mbit/s and 1 Gbit/s differ tenfold);
    # sweeps: tcp throughput and reach rtt vs bandwidth; reference: tcp at 100mbit
    assert len(_svgs(page)) == 5
    assert page.count("per interval") >= 2
    assert "tcp: throughput vs bandwidth" in page
    assert "reach: rtt avg vs bandwidth" in page
    assert "measured vs reference" in page and "ratio 0.94" in page
    assert "throughput (Mbit/s)" in page and "throughput (Gbit/s)" in page  # axis units
    # pingall reachability matrices: one per run, the one unreachable pair in red
    assert page.count("— 5/6 reachable") == 1 and page.count("— 6/6 reachable") == 3
    assert page.count('class="bad"') == 1
    # header
    assert "<h1>smoke</h1>" in page and ">failed</span>" in page
    assert "6.1.0-27-amd64" in page and "31.4 s" in page


def test_html_is_self_contained(sample):
    page = report.report_html(sample)
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "@import" not in page and "url(" not in page
    assert set(re.findall(r"https?://[^\"' ]+", page)) == {"http://www.w3.org/2000/svg"}


def test_html_escapes_text(sample):
    evil = copy.deepcopy(sample)
    evil["runs"][0]["steps"][2]["name"] = "<script>alert(1)</script>"
    evil["scenario"]["name"] = "a&b <i>"
    evil["runs"][0]["steps"][3]["measurements"]["stdout"] = "</pre><img src=x onerror=alert(1)>"
    page = report.report_html(evil)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b &lt;i&gt;" in page
    assert "<img" not in page
    # the other writers survive it too
    ET.fromstring(report.junit_xml(evil))
    assert "<script>" not in report.summary_markdown(evil)


def test_summary_markdown_lists_failures(sample):
    md = report.summary_markdown(sample)
    assert md.startswith("# Scenario smoke: FAILED")
    assert "## Runs" in md and "## Aggregates" in md and "## Failed assertions" in md
    section = md.split("## Failed assertions", 1)[1]
    assert "`loss_pct <= 0`" in section and "got 16.7%" in section and "step **all**" in section
    assert "command failed" in md.split("## Errors", 1)[1]
    # every table row has the same number of cells as its header
    for block in re.findall(r"((?:^\|.*\|\n)+)", md, flags=re.M):
        rows = block.strip("\n").split("\n")
        widths = {len(re.split(r"(?<!\\)\|", r)) for r in rows}
        assert len(widths) == 1, block
    agg = [l for l in md.splitlines() if l.startswith("| tcp | throughput_bps | bandwidth=100mbit")][0]
    assert "93.8 Mbit/s" in agg and "100 Mbit/s (seed 000, table 5.2)" in agg and "| 0.94 |" in agg


def test_summary_table(sample):
    text = report.summary_table(sample)
    lines = text.splitlines()
    assert all(len(l) <= 100 for l in lines), max(lines, key=len)
    assert lines[0].split() == ["run", "params", "step", "status", "measurement", "assertions"]
    assert any("FAILED" in l and "loss_pct <= 0" in l for l in lines)
    assert any("ERROR" in l and "fw rules" in l for l in lines)
    assert "94.2 Mbit/s" in text and "930 Mbit/s" in text
    assert "smoke: FAILED in 31.4 s — 4 runs, 16 steps: 14 passed, 1 failed, 1 error" in text
    assert "ratio 0.94" in text


def test_summary_table_stays_narrow_with_long_names(sample):
    wide = copy.deepcopy(sample)
    wide["runs"][0]["params"] = {"bandwidth": "100mbit", "delay": "20ms", "loss": "0.5%",
                                 "chain": "fw-nat-ids-lb-" * 5}
    wide["runs"][0]["steps"][0]["name"] = "a very long step name " * 4
    wide["runs"][0]["steps"][0]["assertions"][0]["ok"] = False
    wide["runs"][0]["steps"][0]["assertions"][0]["expr"] = "loss_pct <= 0 and " * 10
    wide["aggregates"][0]["params"] = wide["runs"][0]["params"]
    lines = report.summary_table(wide).splitlines()
    assert all(len(l) <= 100 for l in lines), max(lines, key=len)
    assert any("…" in l for l in lines)


# --- units -------------------------------------------------------------------------------


@pytest.mark.parametrize("metric,value,unit,text", [
    ("throughput_bps", 9.4e7, None, "94.0 Mbit/s"),
    ("throughput_bps", 1.25e9, None, "1.25 Gbit/s"),
    ("throughput_bps", 940e6, None, "940 Mbit/s"),
    ("throughput_bps", 512e3, None, "512 kbit/s"),
    ("throughput_bps", 0, None, "0 bit/s"),
    ("mean", 94.0, "Mbit/s", "94.0 Mbit/s"),
    ("loss_pct", 16.7, None, "16.7%"),
    ("loss_pct", 8.0, None, "8%"),
    ("loss_pct", 0.0, None, "0%"),
    ("rtt_avg_ms", 0.05, None, "0.05 ms"),
    ("rtt_avg_ms", 12.34, None, "12.3 ms"),
    ("rtt_avg_ms", 0.0021, None, "2.10 µs"),
    ("duration_s", 3.2, None, "3.20 s"),
    ("duration_s", 0.04, None, "40.0 ms"),
    ("sent_bytes", 3 * 2**20, None, "3.00 MiB"),
    ("retransmits", 3, None, "3"),
    ("protocol", "tcp", None, "tcp"),
    ("ok", True, None, "yes"),
    ("x", None, None, "—"),
    ("x", float("nan"), None, "nan"),
])
def test_human_value(metric, value, unit, text):
    assert units.human_value(metric, value, unit) == text


def test_human_units_in_reports(sample):
    s = copy.deepcopy(sample)
    s["runs"][0]["steps"][2]["measurements"]["throughput_bps"] = 9.4e7
    assert "94.0 Mbit/s" in report.summary_table(s)
    assert "94.0 Mbit/s" in report.summary_markdown(s)
    assert "94.0 Mbit/s" in report.report_html(s)
    assert "94.0 Mbit/s" in report.junit_xml(s)


# --- partial and odd results ---------------------------------------------------------------

PARTIAL = {
    "empty": {},
    "nulls": {"scenario": None, "environment": None, "runs": None, "aggregates": None,
              "parameters": None, "status": None, "duration_s": None, "started": None},
    "no runs": {"scenario": {"name": "x"}, "status": "error", "exit_code": 3, "runs": [],
                "error": "lab deploy failed"},
    "interrupted, no runs": {"status": "interrupted", "runs": []},
    "bare step": {"scenario": {"name": "x"}, "runs": [{"id": "r1", "steps": [{"name": "s", "type": "ping"}]}]},
    "null steps": {"scenario": None, "runs": [{"steps": None}], "aggregates": [{"metric": "throughput_bps"}]},
    "interrupted": {
        "scenario": {"name": "int"}, "status": "interrupted", "exit_code": 130,
        "parameters": {"names": ["bandwidth"], "points": 2, "repeat": 1},
        "runs": [
            {"id": "r1", "params": {"bandwidth": "10mbit"}, "repeat": 1, "status": "passed",
             "steps": [_step("p", measurements={"loss_pct": 0.0, "rtt_avg_ms": 0.1})]},
            {"id": "r2", "params": {"bandwidth": "20mbit"}, "status": "interrupted",
             "steps": [_step("p", status="interrupted", duration_s=None, measurements=None,
                             series=None, assertions=None, error=None, artifacts=None),
                       {"name": "q"}]},
            {"id": "r3", "status": "interrupted"},
            None, "junk", {},
        ],
        "aggregates": [{"step": "p", "metric": "rtt_avg_ms"}, None,
                       {"step": "p", "metric": "rtt_avg_ms", "params": {"bandwidth": "10mbit"},
                        "mean": 0.1, "reference": {"value": None}},
                       {"step": "p", "metric": "rtt_avg_ms", "params": {"bandwidth": "20mbit"},
                        "mean": "oops", "stdev": None, "reference": {"unit": "ms"}}]},
    "odd types": {
        "scenario": "smoke", "environment": ["x"], "runs": [
            {"id": 7, "params": ["x"], "repeat": "one", "duration_s": "slow",
             "steps": [_step(None, typ=None, status=None, measurements=[1, 2], series=[1],
                             assertions=[None, {"ok": None}, {"metric": "m", "op": "<",
                                                              "bound": 1, "value": 2, "ok": False}],
                             artifacts="x"),
                       _step("t", typ="iperf3", series={"t_s": [1, 2, None, "x"],
                                                        "throughput_bps": [1e6, None, 3e6]}),
                       _step("m", typ="pingall", measurements={"matrix": {"a": {"b": None, "c": 50.0},
                                                                          "b": "x", "c": {"a": True}}})]}],
        "aggregates": [{"params": {"k": [1]}, "mean": 1, "stdev": "x"},
                       {"params": {"k": {"a": 1}}, "mean": 2}]},
}


@pytest.mark.parametrize("name", sorted(PARTIAL))
def test_partial_results_never_crash(name, tmp_path):
    results = copy.deepcopy(PARTIAL[name])
    for fn in WRITERS:
        assert isinstance(fn(results), str)
    paths = report.write_all(results, str(tmp_path))
    assert len(paths) == 4 and all(os.path.getsize(p) > 0 for p in paths.values())
    root, suite = _suite(open(paths["junit"], encoding="utf-8").read())
    assert int(root.get("tests")) == len(suite.findall("testcase"))
    assert all(len(l) <= 100 for l in report.summary_table(results).splitlines())
    with open(paths["html"], encoding="utf-8") as f:
        assert "Report could not be rendered" not in f.read()


def test_interrupted_results_in_junit_and_html():
    results = copy.deepcopy(PARTIAL["interrupted"])
    root, suite = _suite(report.junit_xml(results))
    cases = suite.findall("testcase")
    # r1: p passed; r2: p interrupted (error), q never ran (no status: unknown -> error);
    # r3: no steps -> one error testcase; the empty run {} too
    assert root.get("tests") == str(len(cases)) == "5"
    assert root.get("errors") == "4" and root.get("failures") == "0"
    r3 = [c for c in cases if c.get("classname") == "int.r3"]
    assert r3 and r3[0].get("name") == "(run)" and r3[0].find("error") is not None
    page = report.report_html(results)
    assert ">interrupted</span>" in page
    assert "No steps ran." in page


def test_no_runs_reports_the_scenario_error():
    results = PARTIAL["no runs"]
    root, suite = _suite(report.junit_xml(results))
    assert root.get("tests") == "1" and root.get("errors") == "1"
    assert "lab deploy failed" in suite.find("testcase/error").get("message")
    assert "No runs were recorded." in report.summary_markdown(results)
    assert "lab deploy failed" in report.report_html(results)
    assert "(no runs)" in report.summary_table(results)


def test_empty_results():
    root, _ = _suite(report.junit_xml({}))
    assert root.get("tests") == "0"
    assert _svgs(report.report_html({})) == []


def test_skipped_steps_and_inferred_status():
    results = {"scenario": {"name": "sk"}, "runs": [{"id": "r1", "steps": [
        _step("a", status="skipped"),
        _step("b", status=None, assertions=[{"expr": "x < 1", "value": 2, "ok": False}]),
        _step("c", status=None, error="boom"),
        _step("d", status=None, assertions=[{"expr": "x < 1", "value": 0, "ok": True}])]}]}
    root, suite = _suite(report.junit_xml(results))
    assert (root.get("tests"), root.get("skipped"), root.get("failures"), root.get("errors")) == \
        ("4", "1", "1", "1")
    assert suite.find("testcase[@name='a']/skipped") is not None
    assert suite.find("testcase[@name='b']/failure") is not None
    assert suite.find("testcase[@name='c']/error").get("message") == "boom"


def test_every_missing_key_of_the_sample(sample):
    """Remove, or null, every key of the sample in turn: nothing may raise."""
    def paths(obj, prefix=()):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield prefix + (k,)
                if k not in ("series", "matrix"):
                    yield from paths(v, prefix + (k,))
        elif isinstance(obj, list):
            for i, v in enumerate(obj[:2]):
                yield from paths(v, prefix + (i,))
    all_paths = list(paths(sample))
    assert len(all_paths) > 100
    for path in all_paths:
        for mode in ("del", "null"):
            r = copy.deepcopy(sample)
            parent = r
            for k in path[:-1]:
                parent = parent[k]
            if mode == "del":
                del parent[path[-1]]
            else:
                parent[path[-1]] = None
            for fn in WRITERS:
                try:
                    fn(r)
                except Exception as exc:  # pragma: no cover - the message names the path
                    raise AssertionError(f"{fn.__name__} failed with {mode} {path}") from exc


def test_junit_survives_control_characters(sample):
    s = copy.deepcopy(sample)
    s["runs"][0]["steps"][3]["measurements"]["stdout"] = "\x1b[31mred\x1b[0m \x00 done"
    s["runs"][0]["steps"][3]["error"] = "bad\x07bell"
    _, suite = _suite(report.junit_xml(s))
    case = suite.findall("testcase")[3]
    assert "red" in case.find("system-out").text
    assert case.find("error").get("message").startswith("bad")


# --- charts --------------------------------------------------------------------------------


def _sweep_results():
    aggs = []
    for delay in ("1ms", "10ms"):
        for bw, mean in (("10mbit", 9.5e6), ("100mbit", 9.4e7), ("1gbit", 9.1e8)):
            aggs.append({"step": "tcp", "metric": "throughput_bps", "unit": "bit/s",
                         "params": {"bandwidth": bw, "delay": delay}, "n": 3,
                         "mean": mean * (1 if delay == "1ms" else 0.8), "stdev": mean * 0.02})
    return {"scenario": {"name": "sweep"}, "parameters": {"names": ["bandwidth", "delay"]},
            "runs": [], "aggregates": aggs}


def test_sweep_chart_one_line_per_other_parameter():
    page = report.report_html(_sweep_results())
    assert len(_svgs(page)) == 1
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count("<polyline") == 2              # delay=1ms and delay=10ms
    assert "delay=1ms" in svg and "delay=10ms" in svg  # the legend
    assert "tcp: throughput vs bandwidth" in svg
    # x ticks at the sweep points, in numeric order
    xs = [svg.index(f">{v}</text>") for v in ("10mbit", "100mbit", "1gbit")]
    assert xs == sorted(xs)
    assert "Gbit/s" in svg                           # y axis in human units
    assert svg.count("<path") == 6                   # an error bar per point


def test_series_overlay_with_legend():
    runs = [{"id": f"r{i}", "params": {"cc": cc}, "repeat": 1,
             "steps": [_step("tcp", typ="iperf3",
                             series={"t_s": [1, 2, 3], "throughput_bps": [9e7, 9.2e7, 9.1e7]})]}
            for i, cc in enumerate(("cubic", "bbr", "reno"))]
    page = report.report_html({"runs": runs})
    assert len(_svgs(page)) == 1                     # similar magnitudes: one overlaid chart
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count("<polyline") == 3
    assert all(f"cc={cc}" in svg for cc in ("cubic", "bbr", "reno"))
    assert "throughput (Mbit/s)" in svg and "time (s)" in svg


def test_reference_with_other_unit():
    agg = {"step": "tcp", "metric": "throughput_bps", "unit": "bit/s", "params": {}, "n": 1,
           "mean": 4.7e8, "reference": {"value": 500, "unit": "Mbit/s", "source": "paper"},
           "ratio": None}
    results = {"aggregates": [agg]}
    page = report.report_html(results)
    assert "ratio 0.94" in page and len(_svgs(page)) == 1
    assert "ratio 0.94" in report.summary_table(results)
    assert "| 0.94 |" in report.summary_markdown(results)


# --- typed results (emulator/report/results.py) ------------------------------------------------


def test_typed_results_read_the_sample():
    from emulator.report.results import load
    r = load(SAMPLE)
    assert (r.name, r.status, r.duration_s, r.parameter_names) == ("smoke", "failed", 31.4, ["bandwidth"])
    assert [run.id for run in r.runs] == ["r1", "r2", "r3", "r4"]
    r1 = r.runs[0]
    assert r1.title == "r1 · bandwidth=100mbit · #1"
    assert [s.type for s in r1.steps] == ["ping", "pingall", "iperf3", "exec"]
    tcp = r1.steps[2]
    assert tcp.measurements["throughput_bps"] == 94200000.0 and tcp.key_measurement().startswith("94.2 Mbit/s")
    assert tcp.assertion_summary() == "2/2 ok"
    [(run, step, a)] = list(r.failed_assertions())
    assert (run.id, step.name, a.expr, a.got, a.ok) == ("r1", "all", "loss_pct <= 0", "16.7%", False)
    assert [(w, m[:14]) for w, m in r.errors()] == [(("r1 · bandwidth=100mbit · #1", "fw rules"), "command failed")]
    assert r.counts_text() == "16 steps: 14 passed, 1 failed, 1 error"
    [ref] = [a for a in r.aggregates if a.reference]
    assert ref.reference.source and round(ref.ratio, 2) == 0.94


def test_typed_results_normalise_what_is_odd():
    from emulator.report.results import Results
    r = Results.from_dict({"scenario": "x", "status": " OK ", "duration_s": "slow", "runs": [
        None, "junk",
        {"id": 7, "status": "cancelled", "steps": [
            {"name": None, "status": None, "error": "boom"},
            {"name": "b", "assertions": [{"metric": "m", "op": "<", "bound": 1, "value": 2, "ok": False}]},
            {"name": "c", "assertions": [{"ok": True}, {"ok": "yes"}]},
            {"name": "d", "status": "skip", "duration_s": float("nan"), "measurements": [1]}]}],
        "aggregates": [{"metric": "rtt_avg_ms", "unit": "ms", "mean": 0.05, "reference": {"value": 100, "unit": "us"}},
                       {"metric": "count", "unit": "pkts", "mean": 4, "reference": {"value": 2, "unit": "kpkts"}}]})
    assert (r.name, r.status, r.duration_s) == ("scenario", "passed", None)
    [run] = r.runs
    assert (run.id, run.status) == ("7", "interrupted")
    a, b, c, d = run.steps
    assert (a.label, a.status, a.error) == ("?", "error", "boom")
    assert (b.status, b.assertions[0].expr, b.assertion_summary()) == ("failed", "m < 1", "FAIL m < 1 (got 2)")
    assert c.status == "unknown" and c.assertions[1].ok is None and "n/a ?" in c.assertion_summary()
    assert (d.status, d.duration_s, d.measurements) == ("skipped", None, {})
    rtt, count = r.aggregates
    assert rtt.ratio == pytest.approx(0.5)   # 0.05 ms / 100 us: same kind, converted
    assert count.ratio is None               # unknown units that differ: no ratio


# --- the chart module (emulator/report/chart.py) -------------------------------------------------


def test_chart_panels_side_by_side_are_one_valid_svg_with_escaped_labels():
    from emulator.report import chart
    series = [{"label": "a<b & c", "color": "#000", "points": [(1, 1e9, None), (2, 2e9, 1e8)]},
              {"label": "d", "color": "#111", "dash": "2 3", "points": [(1, 5e8, None), (2, 9e8, None)]}]
    one = chart.line_chart(series, title="t <1>", x_label="x", y_label="throughput", y_kind="rate")
    bars = chart.bar_chart([{"label": "g", "values": [(3.0, None), (4.0, 0.5)], "note": "ratio 0.75"}],
                           ["m", "r"], ["#000", "#111"], title="b", y_label="v", y_unit="pkts")
    both = chart.side_by_side([one, bars], title="both")
    root = ET.fromstring(both)   # well-formed: the labels are escaped
    inner = root.findall("{http://www.w3.org/2000/svg}svg")
    assert len(inner) == 2 and [s.get("x") for s in inner] == ["10", "520"]
    assert float(root.get("width")) == 500 + 500 + 3 * 10
    assert "a&lt;b &amp; c" in both and "throughput (Gbit/s)" in both and "v (pkts)" in both
    assert both.count("<polyline") == 2 and "ratio 0.75" in both
    assert 'stroke-dasharray="2 3"' in both


def test_dpdk_plot_escapes_step_names_and_uses_the_shared_chart(tmp_path):
    from emulator.backends.dpdk import plot
    runs = [{"id": f"r{i}", "params": {"size": size, "burst": 32}, "steps": [
        {"name": "a<b", "type": "dpdk_traffic", "status": "passed", "measurements": {"mpps": 2.0, "gbps": 1.5}},
        {"name": "lat", "type": "dpdk_latency", "status": "passed", "measurements": {"rtt_avg_us": 150.0}}]}
        for i, size in enumerate((64, 1518))]
    (tmp_path / "results.json").write_text(json.dumps({"runs": runs}))
    written = plot.write(str(tmp_path))
    assert sorted(os.path.basename(p) for p in written) == ["latency-burst-32.svg", "throughput-burst-32.svg"]
    thr = (tmp_path / "seed003/throughput-burst-32.svg").read_text()
    ET.fromstring(thr)
    assert "a&lt;b" in thr and "throughput (Gbit/s)" in thr and "rate (Mpps)" in thr
    lat = (tmp_path / "seed003/latency-burst-32.svg").read_text()
    ET.fromstring(lat)
    assert "round trip (µs)" in lat and lat.count("<polyline") == 2   # p99 falls back to the mean
    assert (tmp_path / "seed003/burst-32/a-b/size-1518/measurements.json").exists()

"""The web UI's Scenario tab without a browser: parameters and lab name, one run at a time,
progress read from the runner's log, the scenario's topology drawn for its run."""
import os

import pytest

pytest.importorskip("dash")
pytest.importorskip("dash_cytoscape")

from emulator.errors import EmulatorError  # noqa: E402
from webui import edits, jobs, lab_view, scenario_tab  # noqa: E402
from webui.edits import Req  # noqa: E402
from webui.files import Roots  # noqa: E402

LAB = f"t{os.getpid() % 100000}x810"   # the test-lab pattern conftest knows (nothing here deploys)

SCN = """\
name: tab
topology:
  name: scnlab
  nodes: {a: {kind: host}, b: {kind: host}}
  links: [{endpoints: [a, b], bandwidth: "${rate}"}]
parameters: {rate: 10mbit}
steps:
  - pingall: {}
"""


@pytest.fixture
def roots(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "tab.yaml").write_text(SCN)
    return Roots.for_server(cwd=str(tmp_path))


def test_parameters_box_reads_like_set():
    assert scenario_tab.parse_set("rate=5mbit, count=3 x=1.5 on=true") == \
        {"rate": "5mbit", "count": 3, "x": 1.5, "on": True}
    assert scenario_tab.parse_set("") == {} and scenario_tab.parse_set(None) == {}
    with pytest.raises(EmulatorError, match="KEY=VALUE"):
        scenario_tab.parse_set("rate")


def test_run_draws_the_scenarios_topology_with_its_parameters_and_lab_name(roots):
    t, msg = edits.show_scenario({"name": "mine", "nodes": {}, "links": []},
                                 Req(scenario="scenarios/tab.yaml", scn_set="rate=7mbit", scn_lab=LAB, roots=roots))
    assert t["name"] == LAB and set(t["nodes"]) == {"a", "b"} and "tab.yaml" in msg
    assert t["links"][0]["bandwidth"] == "7mbit"
    assert all("position" in n for n in t["nodes"].values())
    with pytest.raises(EmulatorError):   # a bad lab name is the loader's error, shown as the message
        edits.show_scenario({}, Req(scenario="scenarios/tab.yaml", scn_lab="no/slash", roots=roots))


def test_one_scenario_at_a_time(roots, monkeypatch):
    running = jobs.Job("scenario", "other.yaml")   # a run going on (not started: nothing runs)
    monkeypatch.setitem(jobs.JOBS, running.id, running)
    assert scenario_tab.running()
    job, msg = scenario_tab.start(roots, "scenarios/tab.yaml")
    assert job is dash_no_update() and "running" in str(msg.children)
    running.status = "done"
    assert not scenario_tab.running()


def dash_no_update():
    from dash import no_update
    return no_update


def test_progress_comes_from_the_runners_log():
    job = jobs.Job("scenario", "tab.yaml")
    assert "0/0" not in str(lab_view._progress(job.as_dict()).children[0].children)
    out = jobs.scenario_printer(job)
    out.line(f"deployed lab {LAB} (2 nodes, 1 links) in 0.50 s")
    assert job.result["lab"] == LAB
    out.line("run 2/3 [rate=1]")
    assert (job.phase, job.count, job.total) == ("run", 1, 3)
    assert "run 1/3" in str(lab_view._progress(job.as_dict()).children[0].children)
    assert "deployed lab" in job.log.getvalue()


def test_the_report_opens_until_the_page_says_it_has_shown_it(tmp_path):
    from dash import no_update
    job = jobs.Job("scenario", "tab.yaml")
    (tmp_path / "report.html").write_text("<html></html>")
    job.status, job.result = "done", {"dir": str(tmp_path), "html": str(tmp_path / "report.html")}
    log, button, overlay, shown = scenario_tab.view(job, job.as_dict(), None)
    assert overlay[0] is False and overlay[1] == f"/report/{job.id}/report.html" and shown == job.id
    # the page dropped that answer (a newer poll was out): the next poll opens it again
    assert scenario_tab.view(job, job.as_dict(), None)[3] == job.id
    assert scenario_tab.view(job, job.as_dict(), job.id)[2:] == ((no_update,) * 4, no_update)

"""Integration tests of `emulator run`: real labs, real traffic, result files and exit codes."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import pytest

from emulator.deploy import state
from emulator.deploy.kernel import netns

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "emulator", "run", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def scenario(tmp_path, lab_name, body, name="sc.yaml"):
    # pieces joined with TWO are dedented one by one
    text = "\n".join(textwrap.dedent(part) for part in body.split("\x00")).replace("{lab}", lab_name)
    p = tmp_path / name
    p.write_text(text)
    return str(p)


TWO = """
topology:
  name: {lab}
  nodes:
    a: {kind: host, ip: [10.7.0.1/30]}
    b: {kind: host, ip: [10.7.0.2/30]}
  links:
    - {endpoints: [a, b], bandwidth: "${bw}"}
"""


def test_smoke_scenario_passes_and_writes_every_result_file(tmp_path, lab_name):
    res = tmp_path / "res"
    junit = tmp_path / "junit.xml"
    r = run("scenarios/smoke.yaml", "--set", "duration=2", "--results", str(res), "--junit", str(junit),
            "--name", lab_name)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("results.json", "summary.md", "report.html", "junit.xml"):
        assert (res / f).exists(), f
    data = json.loads((res / "results.json").read_text())
    assert data["status"] == "passed" and data["exit_code"] == 0
    assert data["environment"]["kernel"] and data["environment"]["cores"]
    steps = {s["type"]: s for s in data["runs"][0]["steps"]}
    assert steps["pingall"]["measurements"]["reachable"] == 6
    assert steps["iperf3"]["measurements"]["throughput_bps"] > 1e8
    assert len(steps["iperf3"]["series"]["throughput_bps"]) >= 2
    suite = ET.parse(junit).getroot()
    assert sum(int(s.get("failures")) for s in suite.iter("testsuite")) == 0
    assert lab_name not in state.list_labs()


def test_a_failed_assertion_exits_1_and_is_reported(tmp_path, lab_name):
    p = scenario(tmp_path, lab_name, """
        parameters: {bw: 50mbit}
    """ + "\x00" + TWO + "\x00" + """
        steps:
          - ping: {from: a, to: b, count: 1}
          - ping: {from: a, to: 10.7.0.99, count: 1, timeout: 1}
            name: unreachable
          - exec: {node: a, cmd: "echo hello"}
            expect: {stdout: "/goodbye/"}
    """)
    res = tmp_path / "res"
    r = run(p, "--results", str(res))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED" in r.stderr and "expected loss_pct == 0 (got 100" in r.stderr
    data = json.loads((res / "results.json").read_text())
    assert [s["status"] for s in data["runs"][0]["steps"]] == ["passed", "failed", "failed"]
    suite = ET.parse(res / "junit.xml").getroot()
    assert sum(int(s.get("failures")) for s in suite.iter("testsuite")) == 2
    assert lab_name not in state.list_labs()


def test_invalid_scenario_exits_2_and_creates_nothing(tmp_path, lab_name):
    p = scenario(tmp_path, lab_name, """
        parameters: {bw: 50mbit}
    """ + "\x00" + TWO + "\x00" + """
        steps:
          - ping: {from: a, to: b, cuont: 3}
    """)
    r = run(p, "--results", str(tmp_path / "res"))
    assert r.returncode == 2
    assert "error in scenario" in r.stderr and "sc.yaml:15:28" in r.stderr and "cuont" in r.stderr and "count" in r.stderr
    assert "Traceback" not in r.stderr
    ours = [n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
            if n == f"emu-{lab_name}" or n.startswith(f"emu-{lab_name}.")]
    assert ours == [], "an invalid topology must create nothing"
    r = run(p, "--set", "bw=10mbit", "--set", "bw", "--results", str(tmp_path / "res"))   # no =VALUE
    assert r.returncode == 2 and "--set 'bw': write KEY=VALUE" in r.stderr, r.stderr


def test_ctrl_c_in_the_middle_of_a_step_removes_the_lab(tmp_path, lab_name):
    p = scenario(tmp_path, lab_name, """
        parameters: {bw: 50mbit}
    """ + "\x00" + TWO + "\x00" + """
        steps:
          - background: {node: a, cmd: "sleep 300"}
          - wait: 60
    """)
    res = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "run", p, "--results", str(res)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and not netns.exists(f"emu-{lab_name}.a"):
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert not netns.exists(f"emu-{lab_name}.a")
    assert lab_name not in state.list_labs()
    data = json.loads((res / "results.json").read_text())
    assert data["status"] == "interrupted"


def test_sweep_with_repeats_redeploys_per_point_and_aggregates(tmp_path, lab_name):
    p = scenario(tmp_path, lab_name, """
        sweep: {bw: [20mbit, 40mbit]}
        repeat: 2
    """ + "\x00" + TWO + "\x00" + """
        steps:
          - iperf3: {client: b, server: a, duration: 2}
            reference: {throughput_bps: 40M, source: "the link's own limit"}
    """)
    res = tmp_path / "res"
    r = run(p, "--results", str(res))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.count("deployed lab") == 2  # once per sweep point, reused across repeats
    data = json.loads((res / "results.json").read_text())
    assert len(data["runs"]) == 4
    aggs = {a["params"]["bw"]: a for a in data["aggregates"] if a["metric"] == "throughput_trimmed_bps"}
    assert aggs["20mbit"]["n"] == 2 and aggs["40mbit"]["n"] == 2
    assert 12e6 < aggs["20mbit"]["mean"] < 22e6
    assert 25e6 < aggs["40mbit"]["mean"] < 44e6
    ref = [a for a in data["aggregates"] if a["metric"] == "throughput_bps" and a["params"]["bw"] == "40mbit"][0]
    assert 0.6 < ref["ratio"] < 1.1


def _pcap_packets(path):
    with open(path, "rb") as f:
        data = f.read()
    assert struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D), "not a pcap file"
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack("<I", data[off + 8:off + 12])[0]
        off += 16 + incl
        n += 1
    return n


def test_capture_background_wait_for_and_link_changes(tmp_path, lab_name):
    p = scenario(tmp_path, lab_name, """
        parameters: {bw: 100mbit}
    """ + "\x00" + TWO + "\x00" + """
        steps:
          - capture: {node: b, interface: eth0, filter: icmp}
          - background: {node: b, cmd: "python3 -m http.server 8080 --bind 10.7.0.2"}
          - wait_for: {node: a, cmd: "timeout 1 bash -c '</dev/tcp/10.7.0.2/8080'", timeout: 10}
          - ping: {from: a, to: b, count: 4, interval: 0.2}
          - link: {endpoint: "a:eth0", state: down}
          - ping: {from: a, to: b, count: 1, timeout: 1}
            name: down
            expect: {loss_pct: 100}
          - link: {endpoint: "a:eth0", state: up}
          - link: {endpoint: "b:eth0", bandwidth: 10mbit}
          - exec: {node: a, cmd: "tc qdisc show dev eth0"}
            expect: {stdout: "/rate 10Mbit/"}
          - ping: {from: a, to: b, count: 1}
            name: up again
    """)
    res = tmp_path / "res"
    r = run(p, "--results", str(res))
    assert r.returncode == 0, r.stdout + r.stderr
    pcap = res / "r1" / "capture-b-eth0.pcap"
    assert pcap.exists()
    assert _pcap_packets(pcap) >= 8  # 4 requests + 4 replies, at least
    data = json.loads((res / "results.json").read_text())
    assert "capture-b-eth0.pcap" in data["runs"][0]["steps"][0]["artifacts"]


@pytest.mark.parametrize("name", ["1s1c", "1s2c-iptables", "1s2c-bridge", "1s2c-user-app"])
def test_seed_000_reproductions_report_the_papers_figure(tmp_path, name, lab_name):
    res = tmp_path / "res"
    r = run(f"scenarios/{name}.yaml", "--set", "duration=2", "--results", str(res), "--name", lab_name)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((res / "results.json").read_text())
    ref = [a for a in data["aggregates"] if a.get("reference")]
    assert ref and ref[0]["ratio"] > 0
    assert "ratio" in r.stderr


def test_link_failure_scenario_reports_the_outage(tmp_path, lab_name):
    res = tmp_path / "res"
    r = run("scenarios/link-failure.yaml", "--set", "duration=6", "--results", str(res), "--name", lab_name)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((res / "results.json").read_text())
    steps = {s["name"]: s for s in data["runs"][0]["steps"]}
    loss = steps["ping through the outage"]["measurements"]["loss_pct"]
    assert 5 <= loss <= 80
    assert steps["reachable again"]["status"] == "passed"


def test_a_lab_destroyed_by_another_process_during_a_step_is_reported(tmp_path, lab_name):
    """Another process runs `emulator destroy LAB` while step 2 runs: the run stops, says so in
    every result file, does not touch the lab again, and exits 1 (it said "lab is busy" and wrote
    nothing before)."""
    destroy = json.dumps([sys.executable, "-m", "emulator", "destroy", lab_name])
    p = scenario(tmp_path, lab_name, """
        parameters: {bw: 50mbit}
    """ + "\x00" + TWO + "\x00" + f"""
        steps:
          - ping: {{from: a, to: b, count: 1}}
          - exec: {{node: a, cmd: {destroy}}}
          - ping: {{from: a, to: b}}
    """)
    res = tmp_path / "res"
    r = run(p, "--results", str(res), "--junit", str(tmp_path / "j.xml"))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "busy" not in r.stderr
    why = f"lab '{lab_name}' was destroyed by another process during step 2"
    assert why in r.stderr
    data = json.loads((res / "results.json").read_text())
    assert data["status"] == "error" and why in data["error"] and data["exit_code"] == 1
    (run_rec,) = data["runs"]
    assert [s["status"] for s in run_rec["steps"]] == ["passed", "error", "skipped"]
    assert why in run_rec["steps"][1]["error"] and run_rec["steps"][1]["measurements"]["exit_code"] == 0
    assert why in (res / "summary.md").read_text()
    for junit in (res / "junit.xml", tmp_path / "j.xml"):
        errors = [e.get("message") for e in ET.parse(junit).getroot().iter("error")]
        assert any(why in (m or "") for m in errors), errors
    assert lab_name not in state.list_labs() and not netns.exists(f"emu-{lab_name}.a")


def test_iperf3_result_names_what_failed_and_keeps_the_output(tmp_path):
    """A real iperf3 that reports an error (JSON) and one that writes no JSON: both are step errors
    naming the run, and what iperf3 wrote is kept as the artifact."""
    from emulator.deploy import hostcmd
    from emulator.scenario.steps import StepError, iperf3_result
    with socket.socket() as s:    # a port nobody listens on: bound, not listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = hostcmd.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-J", "-t", "1"], timeout=30)
    path = tmp_path / "a.json"
    with pytest.raises(StepError, match="^iperf3 over VCL: unable to connect"):
        iperf3_result(r, str(path), "iperf3 over VCL", tail=True)
    assert json.loads(path.read_text())["error"]
    r = hostcmd.run(["iperf3", "--no-such-option", "-J"], timeout=30)
    with pytest.raises(StepError, match=r"^iperf3 failed \(exit 1\): iperf3: unrecognized option"):
        iperf3_result(r, str(tmp_path / "b.json"))
    with pytest.raises(StepError, match=r"(?s)^iperf3 failed \(exit 1\): .*Report bugs to"):
        iperf3_result(r, str(tmp_path / "b.json"), tail=True)

"""Scenario files: conditions, sweeps, parameters and located errors (no root needed)."""
import textwrap

import pytest

from emulator.errors import TopologyError
from emulator.scenario import expect, spec

TOPO = """
topology:
  name: sc
  nodes:
    a: {kind: host}
    b: {kind: host}
  links:
    - {endpoints: [a, b], bandwidth: "${bw}"}
"""


def write(tmp_path, text, name="s.yaml"):
    """Write a scenario; `text` is pieces joined with TOPO, each dedented on its own."""
    parts = [textwrap.dedent(t) for t in text.split("\x00")]
    p = tmp_path / name
    p.write_text("\n".join(parts))
    return str(p)


@pytest.mark.parametrize("cond,value,ok", [
    (0, 0, True), (0, 0.0, True), (0, 1, False),
    ("< 5", 4.9, True), ("< 5", 5, False), ("<= 0", 0, True),
    (">= 50M", 5e7, True), (">= 50M", 4.9e7, False), ("> 1.5G", 2e9, True),
    ("!= 0", 3, True), ("== 3", 3, True),
    ("1..5", 5, True), ("1..5", 5.01, False), ("10M..1G", 5e8, True),
    ("/ACCEPT/", "-A FORWARD -j ACCEPT", True), ("/^x$/", "y", False),
    (True, True, True), ("text", "text", True), ("text", "other", False),
])
def test_conditions(cond, value, ok):
    c = expect.parse("m", cond)
    assert c.check(value) is ok
    assert expect.evaluate([c], {"m": value})[0]["ok"] is ok


def test_missing_metric_fails_the_condition():
    assert expect.evaluate([expect.parse("loss_pct", 0)], {})[0]["ok"] is False


@pytest.mark.parametrize("bad", ["< fast", "/[/", "5..1"])
def test_bad_conditions_are_refused(bad):
    with pytest.raises(ValueError):
        expect.parse("m", bad)


def test_sweep_ranges_in_seed_003_form():
    src = None
    assert spec.expand_values("64..64..320", ("sweep", "x"), src) == [64, 128, 192, 256, 320]
    assert spec.expand_values("1..3", ("sweep", "x"), src) == [1, 2, 3]
    assert spec.expand_values([1, "a"], ("sweep", "x"), src) == [1, "a"]
    assert spec.expand_values("0.5..0.5..1.5", ("sweep", "x"), src) == [0.5, 1.0, 1.5]


def test_sweep_cross_product_and_parameter_substitution(tmp_path):
    p = write(tmp_path, """
        name: sw
        parameters: {duration: 2}
        sweep: {bw: [10mbit, 20mbit], size: 100..100..300}
        repeat: 2
    """ + "\x00" + TOPO + "\x00" + """
        steps:
          - iperf3: {client: a, server: b, duration: "${duration}", length: "${size}"}
    """)
    sc = spec.load(p)
    assert len(sc.points) == 6 and sc.repeat == 2 and sc.param_names == ["bw", "size"]
    first = sc.points[0]
    assert first.params == {"duration": 2, "bw": "10mbit", "size": 100}
    assert first.topology.data["links"][0]["bandwidth"] == "10mbit"
    assert first.steps[0].args["length"] == 100 and first.steps[0].args["duration"] == 2
    # --set overrides a default and pins a swept parameter
    sc = spec.load(p, {"duration": 9, "bw": "1gbit"})
    assert len(sc.points) == 3 and sc.points[0].params["duration"] == 9
    assert all(pt.topology.data["links"][0]["bandwidth"] == "1gbit" for pt in sc.points)


def test_default_expectations_and_references(tmp_path):
    p = write(tmp_path, """
        sweep: {bw: [1gbit]}
    """ + "\x00" + TOPO + "\x00" + """
        steps:
          - ping: {from: a, to: b}
          - exec: {node: a, cmd: "true"}
          - iperf3: {client: a, server: b}
            reference: {throughput_bps: 75.5G, source: "seed 000"}
    """)
    sc = spec.load(p)
    ping, ex, ip = sc.points[0].steps
    assert [c.metric for c in ping.conditions] == ["loss_pct"]
    assert [c.metric for c in ex.conditions] == ["exit_code"]
    assert ip.reference == {"metric": "throughput_bps", "value": 75.5e9, "unit": "bit/s", "source": "seed 000"}


def _errors(tmp_path, text):
    with pytest.raises(TopologyError) as e:
        spec.load(write(tmp_path, text))
    return e.value.issues


def test_errors_are_located_and_all_reported(tmp_path):
    issues = _errors(tmp_path, """
        sweep: {bw: [1gbit]}
    """ + "\x00" + TOPO + "\x00" + """
        steps:
          - pnig: {from: a, to: b}
          - ping: {from: a, to: b}
            expect: {latency: "< 5"}
          - iperf3: {client: a, server: b, duration: "${nope}"}
          - exec: {node: a}
          - ping: {from: a, to: b}
            expect: {loss_pct: "< fast"}
    """)
    text = "\n".join(i.format() for i in issues)
    assert "s.yaml:15:5: steps[0].pnig" in text and "unknown step type 'pnig'" in text and "did you mean 'ping'" in text
    assert "s.yaml:17:" in text and "no metric 'latency'" in text and "rtt_avg_ms" in text
    assert "unknown parameter ${nope}" in text
    assert "missing required field 'cmd'" in text
    assert "'fast' is not a number" in text
    assert len(issues) == 5


def test_topology_errors_inside_a_scenario_point_at_the_scenario_file(tmp_path):
    issues = _errors(tmp_path, """
        topology:
          name: sc
          nodes: {a: {kind: host}}
          links: [[a, ghost]]
        steps:
          - wait: 1
    """)
    assert issues[0].file.endswith("s.yaml") and issues[0].line == 5
    assert "ghost" in issues[0].message


def test_bad_sweep_and_unknown_override(tmp_path):
    issues = _errors(tmp_path, """
        sweep: {bw: "fast..slow"}
    """ + "\x00" + TOPO + "\x00" + """
        steps: [{wait: 1}]
    """)
    assert "min..step..max" in issues[0].format()
    p = write(tmp_path, TOPO.replace("${bw}", "1gbit") + "\nsteps: [{wait: 1}]\n", "ok.yaml")
    with pytest.raises(TopologyError, match="--set nope: no such parameter"):
        spec.load(p, {"nope": 1})


def test_shipped_scenarios_are_valid():
    import glob
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = sorted(glob.glob(os.path.join(root, "scenarios", "*.yaml")))
    names = {os.path.basename(f) for f in files}
    assert {"smoke.yaml", "1s1c.yaml", "1s2c-iptables.yaml", "1s2c-bridge.yaml", "1s2c-user-app.yaml",
            "link-failure.yaml"} <= names
    for f in files:
        sc = spec.load(f)
        assert sc.points and sc.points[0].steps
        if os.path.basename(f).startswith("1s"):
            refs = [s.reference for s in sc.points[0].steps if s.reference]
            assert refs and refs[0]["metric"] == "throughput_bps", f


def test_a_bad_parameter_value_is_found_before_deploy(tmp_path):
    """`--set duration=abc` used to pass the schema (a string) and fail at run time, mid-scenario."""
    p = write(tmp_path, """
        parameters: {duration: 2, bw: 1gbit}
    """ + "\x00" + TOPO + "\x00" + """
        steps:
          - ping: {from: a, to: b, interval: "${duration}"}
          - iperf3: {client: a, server: b, duration: "${duration}"}
          - wait: "${duration}"
          - link: {endpoint: "a:eth0", delay: "${duration}", loss: "${duration}"}
    """)
    assert spec.load(p).points[0].steps[1].args["duration"] == 2
    with pytest.raises(TopologyError) as e:
        spec.load(p, {"duration": "abc"})
    text = e.value.format()
    for where in ("s.yaml:15:38: steps[0].ping.interval", "s.yaml:16:46: steps[1].iperf3.duration",
                  "s.yaml:17:11: steps[2].wait", "s.yaml:18:39: steps[3].link.delay"):
        assert where + ": 'abc' is not a duration" in text, text
    assert "s.yaml:18:60: steps[3].link.loss: 'abc' is not" in text
    assert len(e.value.issues) == 5


def test_nodes_and_interfaces_that_steps_name_must_exist(tmp_path):
    issues = _errors(tmp_path, """
        sweep: {bw: [1gbit]}
    """ + "\x00" + TOPO + "\x00" + """
        steps:
          - ping: {from: c, to: 10.0.0.9}
          - ping: {from: a, to: bb}
          - pingall: {nodes: [a, z]}
          - link: {endpoint: "a:eth7", state: down}
          - link: {endpoint: "b", state: down}
          - capture: {node: a, interface: eth3}
          - parallel:
              - iperf3: {client: a, server: ghost}
              - exec: {node: a, cmd: "true"}
    """)
    text = "\n".join(i.format() for i in issues)
    assert "s.yaml:15:18: steps[0].ping.from: the topology has no node 'c'" in text
    assert "s.yaml:16:25: steps[1].ping.to: the topology has no node 'bb'" in text and "did you mean 'b'?" in text
    assert "s.yaml:17:26: steps[2].pingall.nodes[1]: the topology has no node 'z'" in text
    assert "steps[3].link.endpoint: node 'a' has no interface 'eth7' on a link" in text and "eth0" in text
    assert "steps[4].link.endpoint: 'b' is not a link end" in text
    assert "steps[5].capture.interface: node 'a' has no interface 'eth3'" in text
    assert "s.yaml:22:37: steps[6].parallel[0].iperf3.server: the topology has no node 'ghost'" in text
    assert len(issues) == 7
    ok = write(tmp_path, TOPO.replace("${bw}", "1gbit") + """
steps:
  - ping: {from: a, to: 10.0.0.9}
  - link: {endpoint: "a:eth0", state: down}
  - capture: {node: b, interface: any}
""", "ok.yaml")
    assert len(spec.load(ok).points[0].steps) == 3

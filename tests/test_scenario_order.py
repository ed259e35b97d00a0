"""Event-driven ordering inside a `parallel:` group: `after: NAME` / `after: {started|finished: NAME}`
starts a step once a sibling has started or finished, `until: NAME` ends a step that runs for a
while once a sibling has finished, `wait_packets` waits for a link end's counters. Located errors
for names that are not siblings, cycles, and steps that cannot be ended early."""
import json
import subprocess
import sys
import textwrap

import pytest

from emulator.errors import TopologyError
from emulator.scenario import spec

TOPO = """\
topology:
  name: {lab}
  nodes:
    a: {kind: host, ip: [10.7.0.1/30]}
    b: {kind: host, ip: [10.7.0.2/30]}
  links: [[a, b]]
"""


def write(tmp_path, steps: str, lab="sc") -> str:
    p = tmp_path / "s.yaml"
    p.write_text(TOPO.replace("{lab}", lab) + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  "))
    return str(p)


def _located(tmp_path, steps):
    p = write(tmp_path, steps)
    with pytest.raises(TopologyError) as e:
        spec.load(p)
    return {(".".join(map(str, i.path)), i.line): (i.message, i.hint) for i in e.value.issues}, p




def test_order_mistakes_are_located(tmp_path):
    issues, _ = _located(tmp_path, """\
        - parallel:
            - wait: 1
              name: w
              after: nowhere
            - exec: {node: a, cmd: "true"}
              after: {started: w}
              until: w
            - wait: 2
              after: {begun: w}
        - wait: 1
          after: w
        """)
    assert issues[("steps.0.parallel.0.after", 11)][0] == "no step named 'nowhere' in this parallel group"
    assert "'w'" in issues[("steps.0.parallel.0.after", 11)][1]
    assert issues[("steps.0.parallel.1.until", 14)][0] == "a exec step cannot be ended early"
    assert "link_monitor" in issues[("steps.0.parallel.1.until", 14)][1]
    assert "{started: NAME}" in issues[("steps.0.parallel.2.after", 16)][0]
    assert "names another step of the same parallel group" in issues[("steps.1.after", 18)][0]


def test_a_cycle_and_an_ambiguous_name_are_located(tmp_path):
    issues, _ = _located(tmp_path, """\
        - parallel:
            - wait: 1
              name: x
              after: {finished: y}
            - wait: 1
              name: y
              after: x
            - wait: 1
              name: z
            - wait: 1
              name: z
            - wait: 1
              name: self
              after: self
            - wait: 1
              until: z
        """)
    msg = issues[("steps.0.parallel.0.after", 11)][0]
    assert msg == "the steps wait for each other: 'x' -> 'y' -> 'x' (none would start)"
    assert issues[("steps.0.parallel.5.until", 23)][0] == "2 steps of this parallel group are named 'z'"
    assert issues[("steps.0.parallel.4.after", 21)][0] == "step 'self' cannot wait for itself"


def test_valid_order_is_parsed(tmp_path):
    s = spec.load(write(tmp_path, """\
        - parallel:
            - wait: 30
              name: w
              until: e
            - exec: {node: a, cmd: "true"}
              name: e
              after: {started: w}
            - wait: 1
              after: e
        """))
    group = s.points[0].steps[0]
    assert [(c.after, c.until) for c in group.children] == [
        (None, "e"), (("started", "w", ("started",)), None), (("finished", "e", ()), None)]


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_steps_run_in_the_order_after_says_and_until_ends_a_wait(tmp_path, lab_name):
    """Without after:, `check` would run at once and find no file (exit code 1); without until:,
    the 600 s wait and the 10000-packet ping would hold the run past the subprocess's timeout."""
    mark = tmp_path / "mark"
    p = write(tmp_path, f"""\
        - parallel:
            - wait: 600
              name: hold
              until: check
              expect: {{cut_short: true}}
            - exec: {{node: a, cmd: "test -e {mark}"}}
              name: check
              after: make
              expect: {{exit_code: 0}}
            - wait_packets: {{endpoint: "b:eth0", received: 5}}
              name: five
            - exec: {{node: a, cmd: "touch {mark}"}}
              name: make
              after: five
            - ping: {{from: a, to: b, count: 10000, interval: 0.05}}
              name: traffic
              until: check
              expect: {{loss_pct: "< 50"}}
        """, lab=lab_name)
    res = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "emulator", "run", p, "--results", str(res)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    steps = {s["name"]: s for s in json.loads((res / "results.json").read_text())["runs"][0]["steps"]}
    assert steps["hold"]["measurements"]["cut_short"] is True
    assert steps["five"]["measurements"]["packets"] >= 5
    assert steps["check"]["measurements"]["exit_code"] == 0
    # ended (SIGINT) once `check` had; b:eth0's five packets include ARP and IPv6 neighbour discovery,
    # so the ping itself may have sent fewer than five
    assert 0 < steps["traffic"]["measurements"]["received"] <= steps["traffic"]["measurements"]["sent"] < 10000


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_wait_packets_fails_after_its_timeout_when_nothing_flows(tmp_path, lab_name):
    p = write(tmp_path, """\
        - wait_packets: {endpoint: "a:eth0", sent: 1000, timeout: 1}
        """, lab=lab_name)
    res = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "emulator", "run", p, "--results", str(res)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    st = json.loads((res / "results.json").read_text())["runs"][0]["steps"][0]
    assert st["status"] == "error" and "waiting for 1000" in st["error"]

"""The nsm_chain scenario step without a lab: finding a client's chain, and the NSM scenarios
loading (step schema, expect metrics, topology compiled) before anything is deployed."""
import glob
import os

import pytest

from emulator.errors import TopologyError
from emulator.backends.nsm.step import find_chain
from emulator.scenario import spec, steps
from emulator.scenario.steps import StepError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = {"name": "lab", "services": [
    {"client": "c", "service": "a", "nodes": ["c", "x"]},
    {"client": "c", "service": "b", "nodes": ["c", "y"]},
    {"client": "d", "service": "a", "nodes": ["d", "x"]}]}


def test_find_chain():
    assert find_chain(STATE, "d")["nodes"] == ["d", "x"]
    assert find_chain(STATE, "c", "b")["nodes"] == ["c", "y"]
    assert find_chain(STATE, "c", request=1)["service"] == "b"
    with pytest.raises(StepError, match="2 chains"):
        find_chain(STATE, "c")
    with pytest.raises(StepError, match="chains: c \\(a\\), c \\(b\\), d \\(a\\)"):
        find_chain(STATE, "e")
    with pytest.raises(StepError, match="no network services"):
        find_chain({"name": "x"}, "c")


def test_step_is_registered_with_its_metrics():
    st = steps.get("nsm_chain")
    assert {"in_order", "crossed", "per_hop", "routed_hops"} <= set(st.metrics)
    assert st.default_expect({"client": "c"}) == {"in_order": True, "loss_pct": "== 0"}


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "scenarios", "nsm-*.yaml"))),
                         ids=os.path.basename)
def test_nsm_scenarios_load(path):
    sc = spec.load(path)
    types = [s.type for s in sc.points[0].steps]
    assert "nsm_chain" in types and ("iperf3" in types or "dpdk_traffic" in types)


def test_nsm_chain_of_a_dpdk_client_says_which_step_drives_it():
    from emulator.backends.nsm.step import NsmChain
    from emulator.scenario.steps import RunContext
    st = {"name": "lab", "nodes": {"gen": {"kind": "dpdk-app"}},
          "services": [{"client": "gen", "service": "bulk", "payload": "ETHERNET", "nodes": ["gen", "relay", "sink"],
                        "hops": [{"client": "gen:mem0", "endpoint": "relay:in0", "endpoint_ip": None},
                                 {"client": "relay:out0", "endpoint": "sink:in0", "endpoint_ip": None}]}]}
    with pytest.raises(StepError, match=r"DPDK app and cannot ping.*dpdk_traffic: \{sender: gen, receiver: sink, "
                                        r"via: \[relay\]\}"):
        NsmChain().run(RunContext(lab="lab", state=st, artifacts_dir="/nonexistent"), {"client": "gen"})


def test_bad_nsm_chain_step_is_located(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(f"topology: {os.path.join(ROOT, 'topologies', 'nsm-2s1c.yaml')}\n"
                 "steps:\n  - nsm_chain: {client: client, hops: 3}\n"
                 "  - nsm_chain: {client: client}\n    expect: {hop_count: 2}\n")
    with pytest.raises(TopologyError) as e:
        spec.load(str(p))
    text = e.value.format()
    assert "s.yaml:3:" in text and "unknown field 'hops'" in text
    assert "s.yaml:5:" in text and "no metric 'hop_count'" in text


def test_inspect_text_lists_chains_hop_by_hop():
    from emulator.backends.nsm.cli import chains_text
    st = {"services": [{"client": "c", "service": "s", "payload": "IP", "nodes": ["c", "x"],
                        "hops": [{"client": "c:nsm0", "client_ip": "10.0.0.1/30", "endpoint": "x:in0",
                                  "endpoint_ip": "10.0.0.2/30"}]}]}
    assert chains_text(st).splitlines() == ["network service chains:", "  c: s (IP): c -> x",
                                            "      c:nsm0 10.0.0.1/30 -> x:in0 10.0.0.2/30"]
    assert chains_text({}) == ""


def test_explain_json_carries_the_reasons(monkeypatch):
    import json
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "emulator", "explain", "-f", "json", "topologies/nsm-chain4.yaml"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    (ch,) = json.loads(r.stdout)
    assert ch["nodes"] == ["client", "firewall", "pt1", "pt2", "gateway"]
    first = ch["hops"][0]
    assert first["match"] == 3 and [t["verdict"] for t in first["trace"]] == ["skipped"] * 3 + ["chosen"]
    assert {x["endpoint"] for x in first["rejected"]} == {"pt1", "pt2", "gateway"}
    assert ch["end"].startswith("gateway")

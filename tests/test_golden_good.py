"""Golden good topologies: the compiled graph (JSON) and the plan (one action per line).

tests/golden/NAME.yaml -> NAME.graph.json (emulator.core.graph.to_json) and NAME.plan.txt (the
describe() line of every planned action). Mininet-style generated topologies are checked
the same way, under the names topo_<shape>_<sizes>. Regenerate after a deliberate change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden_good.py

and review the diff (git diff tests/golden) before committing.
"""
import ipaddress
import json
from pathlib import Path

import pytest

from emulator.core import graph
from emulator import lab, topo_gen
from emulator.core.model import FIRST_INDEX
from conftest import check_golden

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
FILES = sorted(p.stem for p in GOLDEN.glob("*.yaml"))
GENERATED = {"topo_linear_3": "linear,3", "topo_single_3": "single,3", "topo_tree_2_2": "tree,2,2"}


def compiled(name: str, monkeypatch):
    if name in GENERATED:
        return lab.compile(topo_gen.generate(GENERATED[name]), check_host=False)
    monkeypatch.chdir(ROOT)
    return lab.compile(f"tests/golden/{name}.yaml", check_host=False)


def test_every_required_case_exists():
    assert {"two_hosts_auto", "routed_chain", "bridged_lan", "mixed_explicit_auto", "endpoint_mapping",
            "impairments", "ipv6"} <= set(FILES)


@pytest.mark.parametrize("name", FILES + sorted(GENERATED))
def test_golden(name, monkeypatch):
    c = compiled(name, monkeypatch)
    check_golden(GOLDEN / f"{name}.graph.json", graph.to_json(c.lab, c.graph) + "\n")
    check_golden(GOLDEN / f"{name}.plan.txt", "".join(a.describe() + "\n" for a in c.actions))


@pytest.mark.parametrize("name", FILES + sorted(GENERATED))
def test_invariants(name, monkeypatch):
    """What every compiled lab satisfies, whatever the golden text says."""
    c = compiled(name, monkeypatch)
    seen_dev, seen_idx, seen_ip = set(), set(), set()
    for iface in c.lab.interfaces():
        if iface.link < 0:
            continue
        assert 0 < len(iface.device) <= 15
        assert (iface.netns, iface.device) not in seen_dev
        assert (iface.netns, iface.index) not in seen_idx and iface.index >= FIRST_INDEX
        seen_dev.add((iface.netns, iface.device))
        seen_idx.add((iface.netns, iface.index))
        for a in iface.addresses:
            ip = ipaddress.ip_interface(a).ip
            assert ip not in seen_ip
            seen_ip.add(ip)
    assert c.graph.number_of_edges() == len(c.lab.links)
    # the same input always gives the same output
    again = compiled(name, monkeypatch)
    assert graph.to_json(again.lab, again.graph) == graph.to_json(c.lab, c.graph)
    assert [a.describe() for a in again.actions] == [a.describe() for a in c.actions]


def test_two_hosts_get_a_p2p_30(monkeypatch):
    c = compiled("two_hosts_auto", monkeypatch)
    data = json.loads(graph.to_json(c.lab, c.graph))
    (link,) = data["links"]
    assert link["a"]["addresses"] == ["10.255.0.1/30"] and link["b"]["addresses"] == ["10.255.0.2/30"]


def test_routed_chain_resolves_via_node(monkeypatch):
    c = compiled("routed_chain", monkeypatch)
    routes = {n.name: [(r.to, r.via, r.via_node) for r in n.routes] for n in c.lab.nodes.values()}
    assert routes["client"] == [("0.0.0.0/0", "10.255.0.2", "r1")]
    assert routes["server"] == [("0.0.0.0/0", "10.255.0.9", "r2")]
    assert routes["r1"] == [("10.255.0.8/30", "10.255.0.6", "r2")]


def test_impairments_in_plan(monkeypatch):
    c = compiled("impairments", monkeypatch)
    text = "\n".join(a.describe() for a in c.actions)
    assert "netem delay 5000us" in text and "tbf rate 100000000bit" in text
    assert "netem delay 2000us 500us loss 0.5%" in text


def test_ipv6_routes(monkeypatch):
    c = compiled("ipv6", monkeypatch)
    h1, h2 = c.lab.nodes["h1"], c.lab.nodes["h2"]
    assert [(r.to, r.via) for r in h1.routes] == [("2001:db8:2::/64", "2001:db8:1::1"),
                                                  ("::/0", "2001:db8:1::1")]
    assert [(r.to, r.via, r.metric) for r in h2.routes] == [("::/0", "2001:db8:2::1", 100)]
    assert all(":" in a for i in c.lab.interfaces() for a in i.addresses)  # auto: false


def test_endpoint_mapping_attributes(monkeypatch):
    c = compiled("endpoint_mapping", monkeypatch)
    a, b = c.lab.nodes["a"], c.lab.nodes["b"]
    assert a.interfaces["data0"].mac == "02:00:00:00:00:0a" and a.interfaces["data0"].mtu == 1400
    assert b.interfaces["eth0"].mac == "02:00:00:00:00:0b"
    assert b.interfaces["mgmt"].addresses == []          # ip: [] means no address at all
    assert a.interfaces["eth0"].addresses == ["10.255.0.1/30"]
    veth = next(x for x in c.actions if type(x).__name__ == "CreateVeth" and x.device == "data0")
    assert (veth.mac, veth.peer_mac, veth.mtu) == ("02:00:00:00:00:0a", "02:00:00:00:00:0b", 1400)

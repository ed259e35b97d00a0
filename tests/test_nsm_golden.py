"""Golden network-service chains: tests/nsm/NAME.yaml -> NAME.explain.txt (emulator explain),
NAME.graph.txt (the compiled graph) and NAME.plan.txt (the planned actions the services add:
links, addresses, routes, sysctls, VNF commands). Regenerate after a deliberate change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_nsm_golden.py

and review the diff (git diff tests/nsm) before committing.
"""
import ipaddress
from pathlib import Path

import pytest

from emulator.core import graph
from emulator import lab
from emulator.backends.nsm.explain import explain
from conftest import check_golden

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(p.stem for p in (ROOT / "tests" / "nsm").glob("*.yaml"))


def compiled(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    return lab.compile(f"tests/nsm/{name}.yaml", check_host=False)


def test_cases_exist():
    assert {"secure_intranet_v1", "secure_intranet_v1alpha1", "round_robin", "fallthrough_metadata",
            "ethernet_chain", "two_services"} <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_golden(name, monkeypatch):
    c = compiled(name, monkeypatch)
    base = ROOT / "tests" / "nsm" / name
    check_golden(base.with_suffix(".explain.txt"), explain(c.services))
    check_golden(base.with_suffix(".graph.txt"), graph.to_text(c.lab, c.graph) + "\n")
    check_golden(base.with_suffix(".plan.txt"), "".join(a.describe() + "\n" for a in c.actions if _ours(a.describe())))


def _ours(line: str) -> bool:
    """The actions the services add (not the core's per-node set-up, which has golden tests of its own)."""
    return any(k in line for k in (" type veth ", "ip addr add", "ip route add", "sysctl net.ipv4", "/bin/sh -c"))


@pytest.mark.parametrize("name", CASES)
def test_chain_invariants(name, monkeypatch):
    """Whatever the golden text says: hops join consecutive chain nodes over one link each, IP
    hops are /30s (client .1, endpoint .2) inside the endpoint's cidr, and every chain address is
    routable from every node of the chain."""
    c = compiled(name, monkeypatch)
    assert c.services
    for ch in c.services:
        assert len(set(ch.nodes)) == len(ch.nodes), "a chain visits a node once"
        for h, (a, b) in zip(ch.hops, zip(ch.nodes, ch.nodes[1:])):
            assert (h.client, h.endpoint) == (a, b)
            ia, ib = c.lab.nodes[a].interfaces[h.client_if], c.lab.nodes[b].interfaces[h.endpoint_if]
            assert ia.link == ib.link >= 0
            if ch.payload == "IP":
                ca, ea = ipaddress.ip_interface(h.client_ip), ipaddress.ip_interface(h.endpoint_ip)
                assert ca.network == ea.network and ca.network.prefixlen in (30, 31)
                assert int(ea.ip) - int(ca.ip) == 1 or ca.network.prefixlen == 31
                assert ia.addresses == [h.client_ip] and ib.addresses == [h.endpoint_ip]
        if ch.payload == "IP":
            subnets = {ipaddress.ip_network(h.subnet) for h in ch.hops}
            for node in ch.nodes:
                n = c.lab.nodes[node]
                reach = {ipaddress.ip_interface(a).network for i in n.interfaces.values() for a in i.addresses}
                reach |= {ipaddress.ip_network(r.to) for r in n.routes}
                assert subnets <= reach, f"{node} cannot reach {subnets - reach}"
        else:
            inner = ch.nodes[1:-1]
            for node in inner:
                assert all(not i.addresses for i in c.lab.nodes[node].interfaces.values())


def test_v1alpha1_spelling_gives_the_same_chain(monkeypatch):
    a = compiled("secure_intranet_v1", monkeypatch).services
    b = compiled("secure_intranet_v1alpha1", monkeypatch).services
    def strip(chs):  # the files differ in the request's spelling and the forwarder's name only
        out = []
        for ch in chs:
            d = {k: v for k, v in ch.as_dict().items() if k not in ("request", "forwarder")}
            d["hops"] = [{k: v for k, v in h.items() if k != "forwarder"} for h in d["hops"]]
            out.append(d)
        return out
    assert strip(a) == strip(b) and len(a) == 1 and len(a[0].hops) == 2

"""`ipam: nsm`: NSM's point-to-point IPAM (sdk point2pointipam + ippool + cidr.Groups) in the lab:
the endpoint the lowest free address of its pool, the client the next, one pair per cidr group."""
import pytest

from emulator import lab
from emulator.backends.nsm.ipam import Pool, parse_groups
from emulator.core.loader import load_text
from emulator.errors import TopologyError


def topo(cidr, clients=1, extra=""):
    c = "" if cidr is None else f", cidr: '{cidr}'"
    lines = ["name: ipam", "nodes:", f"  e: {{kind: nse, services: [s], ipam: nsm{c}{extra}}}"]
    lines += [f"  c{i}: {{kind: nsc, requests: ['kernel://s/nsm-1']}}" for i in range(clients)]
    return lab.compile(load_text("\n".join(lines) + "\n", "t.yaml"), check_host=False)


@pytest.mark.parametrize("cidr, clients, pairs", [
    ("172.16.1.100/31", 1, [("172.16.1.101/31", "172.16.1.100/31")]),
    ("10.0.0.0/30", 2, [("10.0.0.1/31", "10.0.0.0/31"), ("10.0.0.3/31", "10.0.0.2/31")]),
    ("10.0.0.0/29", 4, [(f"10.0.0.{2 * i + 1}/31", f"10.0.0.{2 * i}/31") for i in range(4)]),
    ("10.0.0.5/29", 1, [("10.0.0.1/31", "10.0.0.0/31")]),          # host bits dropped, as net.ParseCIDR does
    (None, 2, [("169.254.0.1/31", "169.254.0.0/31"), ("169.254.0.3/31", "169.254.0.2/31")]),
    ("2001:db8::/116", 1, [("2001:db8::1/127", "2001:db8::/127")]),
    ("[10.0.0.0/31,10.0.1.0/31]", 2, [("10.0.0.1/31", "10.0.0.0/31"), ("10.0.1.1/31", "10.0.1.0/31")]),
])
def test_addresses(cidr, clients, pairs):
    c = topo(cidr, clients)
    assert [(ch.hops[0].client_ip, ch.hops[0].endpoint_ip) for ch in c.services] == pairs


def test_dual_stack_one_pair_per_group_and_addresses_on_both_ends():
    c = topo("10.0.0.0/30,2001:db8::/116")
    (ch,) = c.services
    assert ch.hops[0].more_ips == [("2001:db8::1/127", "2001:db8::/127")]
    assert c.lab.nodes["c0"].interfaces["nsm-1"].addresses == ["10.0.0.1/31", "2001:db8::1/127"]
    assert set(c.lab.nodes["e"].interfaces["in0"].addresses) == {"10.0.0.0/31", "2001:db8::/127"}


def test_a_full_pool_is_an_error_at_the_cidr():
    with pytest.raises(TopologyError, match=r"t.yaml:3:.*no two addresses left"):
        topo("172.16.1.100/31", clients=2)
    with pytest.raises(TopologyError, match="not a list of prefixes"):
        topo("10.0.0.0/33")


def test_groups_as_nsm_parses_them():
    assert [[str(n) for n in g] for g in parse_groups("[10.0.0.0/24, 10.0.1.0/24], 2001:db8::/64")] == \
        [["10.0.0.0/24", "10.0.1.0/24"], ["2001:db8::/64"]]
    for bad in ("[10.0.0.0/24", "10.0.0.0/24,", "10.0.0.0/24]"):
        with pytest.raises(ValueError):
            parse_groups(bad)
    p = Pool(parse_groups("10.0.0.0/30"))
    import ipaddress
    assert p.take({ipaddress.ip_address("10.0.0.0")}) == [("10.0.0.1/32", "10.0.0.2/32")]   # excluded skipped


def test_a_dual_stack_chain_routes_and_forwards_both_families():
    text = """name: ds
services:
  s: {matches: [{source_selector: {app: fw}, routes: [{destination_selector: {app: srv}}]},
                {routes: [{destination_selector: {app: fw}}]}]}
nodes:
  c: {kind: nsc, requests: ['kernel://s/nsm-1']}
  fw: {kind: nse, services: [s], labels: {app: fw}, ipam: nsm, cidr: '10.0.0.0/30,2001:db8::/116'}
  srv: {kind: nse, services: [s], labels: {app: srv}, ipam: nsm, cidr: '10.0.1.0/30,2001:db8:1::/116'}
"""
    c = lab.compile(load_text(text, "t.yaml"), check_host=False)
    routes = {(r.to, r.via) for r in c.lab.nodes["c"].routes}
    assert routes == {("10.0.1.0/31", "10.0.0.0"), ("2001:db8:1::/127", "2001:db8::")}
    assert {(r.to, r.via) for r in c.lab.nodes["srv"].routes} == {("10.0.0.0/31", "10.0.1.1"),
                                                                   ("2001:db8::/127", "2001:db8:1::1")}
    assert c.lab.nodes["fw"].sysctls["net.ipv6.conf.all.forwarding"] == "1"

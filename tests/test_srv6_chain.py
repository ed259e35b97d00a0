"""SRv6 policies from a service chain (`from: SERVICE`, seed 004's TE for the traffic of a chain): the
headend steers the traffic of every node on the NSM chains of that network service (an ip rule per
address), checked and located, and for real: a chain's client reaches the headend through its
gateway endpoint and is steered over the segment list, a host beside it is not."""
import json
import os

import pytest

from emulator import lab as api
from emulator.backends.srv6 import monitor
from emulator.core.loader import load_text
from emulator.deploy import hostcmd, state
from emulator.errors import TopologyError

# client (nsc) -> gw (nse, the chain's last endpoint) -> e1 (headend) -> r1 -> e2 -> h2;
# h3 sits on e1 too, outside the chain. gw answers ARP for the chain's addresses on its uplink
# (proxy_arp), so e1's End.DX4 (nh gw) can hand the replies to it.
CHAIN = """\
name: {lab}
services:
  edge:
    payload: IP
    matches:
      - routes: [{destination_selector: {app: gateway}}]
forwarders:
  fwd: {type: kernel}
nodes:
  client: {kind: nsc, requests: ["kernel://edge/nsm0"], routes: [{to: 10.2.0.0/24, via: 172.16.1.2}]}
  gw:
    kind: nse
    services: [edge]
    labels: {app: gateway}
    cidr: 172.16.1.0/24
    vnf: passthrough
    sysctls: {net.ipv4.ip_forward: "1", net.ipv4.conf.all.proxy_arp: "1"}
    interfaces: {up0: {ip: [10.1.0.2/24]}}
    routes: [{to: 10.2.0.0/24, via: 10.1.0.1}]
  h3: {kind: host, interfaces: {eth0: {ip: [10.3.0.2/24]}}, routes: [{to: default, via: 10.3.0.1}]}
  h2: {kind: host, interfaces: {eth0: {ip: [10.2.0.2/24]}}, routes: [{to: default, via: 10.2.0.1}]}
  e1:
    kind: srv6-router
    locator: "fc00:0:e1::/48"
    sids: {dxgw: {behaviour: End.DX4, nh: gw}, dx3: {behaviour: End.DX4, nh: h3}}
    interfaces: {eth0: {ip: [10.1.0.1/24]}, eth2: {ip: [10.3.0.1/24]}}
  e2: {kind: srv6-router, locator: "fc00:0:e2::/48", sids: {dx4: {behaviour: End.DX4, nh: h2}},
       interfaces: {eth0: {ip: [10.2.0.1/24]}}}
  r1: {kind: srv6-router, locator: "fc00:0:1::/48"}
links: [[gw:up0, e1:eth0], [h3:eth0, e1:eth2], [h2:eth0, e2:eth0], [e1:eth1, r1:eth0], [r1:eth1, e2:eth1]]
srv6:
  policies:
    chain: {headend: e1, to: 10.2.0.0/24, from: FROM, segments: [r1, e2.dx4]}
    back: {headend: e2, to: 172.16.1.0/24, segments: [r1, e1.dxgw]}
    back3: {headend: e2, to: 10.3.0.0/24, segments: [r1, e1.dx3]}
"""
FROM_LINE = next(i for i, line in enumerate(CHAIN.splitlines(), 1) if "from: FROM" in line)


def _text(lab="s6c", src="edge"):
    return CHAIN.replace("{lab}", lab).replace("FROM", src)


def test_from_a_service_plans_a_rule_per_address_of_the_chains_nodes():
    c = api.compile(load_text(_text(), "c.yaml"), check_host=False)
    described = "\n".join(a.describe() for a in c.actions)
    for a in ("172.16.1.1", "172.16.1.2", "10.1.0.2"):   # the client's and the gateway endpoint's
        assert f"[emu-s6c.e1] ip -4 rule add from {a}/32 to 10.2.0.0/24 table 6000 pref 6000" in described
    assert "from 10.3.0.2/32" not in described and "from 10.2.0.2/32" not in described
    assert "table 6000" in next(line for line in described.splitlines() if "encap seg6 mode encap" in line
                                and "10.2.0.0/24" in line)


def test_from_neither_a_node_nor_a_service_is_located():
    with pytest.raises(TopologyError) as e:
        api.compile(load_text(_text(src="edgy"), "c.yaml"), check_host=False)
    i = next(i for i in e.value.issues if i.path == ("srv6", "policies", "chain", "from"))
    assert i.message == "from names 'edgy', which is neither a node nor a network service"
    assert "services: edge" in i.hint and i.file == "c.yaml" and i.line == FROM_LINE


def test_a_service_no_client_requests_has_no_traffic_to_steer():
    from emulator.errors import DeployError
    client = '{kind: nsc, requests: ["kernel://edge/nsm0"], routes: [{to: 10.2.0.0/24, via: 172.16.1.2}]}'
    text = _text().replace(client, "{kind: host}")
    with pytest.raises(DeployError, match="from: edge is a network service no client requests"):
        api.compile(load_text(text, "c.yaml"), check_host=False)


def test_the_srv6_verb_says_the_policy_is_from_a_service_chain(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(_text())
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "emulator", "srv6", str(p)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "traffic to 10.2.0.0/24 from service chain edge (ip rule, table 6000)" in r.stdout


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_a_chains_traffic_is_steered_at_the_headend_and_a_hosts_beside_it_is_not(topo, lab_name):
    api.deploy(topo(_text(lab="{lab}")))
    try:
        st = state.read_state(lab_name)
        with open(os.path.join(state.lab_dir(lab_name), "srv6.json")) as f:
            data = json.load(f)
        assert sorted(data["policies"]["chain"]["from_nodes"]) == ["client", "gw"]
        routers = data["routers"]
        c0, l0 = monitor.sid_counters(st, routers), api.link_loss(st)
        r = api.exec_in(lab_name, "client", ["ping", "-c", "4", "-i", "0.2", "-W", "2", "10.2.0.2"])
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout
        c1, l1 = monitor.sid_counters(st, routers), api.link_loss(st)
        # through the chain (client -> gw), then the policy's path e1 -> r1 (End) -> e2 (End.DX4) -> h2
        assert l1["client:nsm0 -> gw:in0"]["received"] - l0["client:nsm0 -> gw:in0"]["received"] == 4
        assert l1["gw:up0 -> e1:eth0"]["received"] - l0["gw:up0 -> e1:eth0"]["received"] == 4
        assert c1["r1"] - c0["r1"] == 8                   # the requests and the replies (policy back)
        assert c1["e2.dx4"] - c0["e2.dx4"] == 4 and c1["e1.dxgw"] - c0["e1.dxgw"] == 4
        # h3's traffic to the same prefix is not the chain's: not steered, and e1's main table has no route
        r = api.exec_in(lab_name, "h3", ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.2.0.2"])
        assert r.returncode != 0
        c2, l2 = monitor.sid_counters(st, routers), api.link_loss(st)
        assert c2["e2.dx4"] == c1["e2.dx4"] and c2["r1"] == c1["r1"]
        assert l2["e1:eth1 -> r1:eth0"]["sent"] == l1["e1:eth1 -> r1:eth0"]["sent"]
        rules = hostcmd.run(["ip", "-4", "rule"], netns=st["nodes"]["e1"]["netns"]).stdout
        assert "from 172.16.1.1 to 10.2.0.0/24 lookup 6000" in rules and "10.3.0.2" not in rules
    finally:
        api.destroy(lab_name)

"""NSM's VPP forwarder and VPP endpoints, compiled (no VPP needed): hops, links, commands, explain, errors."""
import os
import re
import textwrap

import pytest

from emulator import lab as api
from emulator.backends.nsm.explain import explain
from emulator.backends.vpp import config
from emulator.core.loader import load_text
from emulator.errors import TopologyError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compiled(path):
    return api.compile(os.path.join(ROOT, "topologies", path), check_host=False)


def commands(c, node):
    n = c.lab.nodes[node]
    return [cmd for cmd, _p in config.create_commands(c.lab, n) + config.role_commands(c.lab, n)]


def test_3s1c_tap_to_kernel_ends_memif_to_the_vpp_firewall(monkeypatch):
    monkeypatch.setenv("EMULATOR_VHOST_NET", "0")
    c = compiled("nsm-3s1c.yaml")
    assert {n: c.lab.nodes[n].kind for n in ("client", "fw", "server", "fwd")} == \
        {"client": "nsc", "fw": "vpp", "server": "nse", "fwd": "vpp"}
    types = {(lk.a.key, lk.b.key): lk.type for lk in c.lab.links}
    assert types == {("client:nsm0", "fwd:c0"): "tap", ("fw:in0", "fwd:e0"): "memif",      # the NSE serves
                     ("fwd:c1", "fw:out0"): "memif", ("server:in0", "fwd:e1"): "tap"}     # the forwarder serves
    fwd = commands(c, "fwd")
    assert "create host-interface name c0" in fwd   # the tap's fallback: af_packet on the veth
    xc = [x for x in fwd if "l2 xconnect" in x]
    assert len(xc) == 4 and "set interface l2 xconnect host-c0 memif2/0" in xc and \
        "set interface l2 xconnect host-e1 memif3/0" in xc
    fw = commands(c, "fw")
    assert "set interface ip address memif2/0 172.16.31.2/30" in fw
    assert any(x.startswith("set acl-plugin acl permit proto 1") and x.endswith("deny tag emulator") for x in fw)
    assert "set acl-plugin interface memif3/0 input acl 0" in fw
    # the kernel ends send their frames into VPP's af_packet with checksums filled in
    assert any("ethtool -K nsm0 tx off" in " ".join(a) for a in c.lab.nodes["client"].exec)
    text = explain(c.services)
    assert "(kernel->memif, forwarder fwd)" in text and "(memif->kernel, forwarder fwd)" in text
    assert "client:nsm0 [tap: veth + af_packet, no /dev/vhost-net] fwd:c0 =l2 xconnect= fwd:e0 [memif] fw:in0" in text
    monkeypatch.setenv("EMULATOR_VHOST_NET", "1")
    assert "the tap is not deployed yet" in explain(compiled("nsm-3s1c.yaml").services)


def test_2s2c_every_hop_through_one_vpp_and_the_chain_keeps_its_addresses():
    c = compiled("nsm-2s2c.yaml")
    hops = c.services[0].hops
    assert [h.via["client_port"] for h in hops] == ["fwd:c0", "fwd:c1"]
    assert [(h.client_ip, h.endpoint_ip) for h in hops] == [("172.16.21.1/30", "172.16.21.2/30"),
                                                            ("172.16.22.1/30", "172.16.22.2/30")]
    assert not c.lab.nodes["fwd"].interfaces["c0"].addresses   # the forwarder passes frames
    assert c.lab.nodes["fw"].kind == "nse" and c.lab.nodes["fw"].sysctls.get("net.ipv4.ip_forward") == "1"


def test_a_vpp_endpoint_in_the_middle_of_an_ethernet_chain_cross_connects():
    c = api.compile(load_text(textwrap.dedent("""
        name: eth
        services:
          s: {payload: ETHERNET, matches: [{source_selector: {app: mid}, routes: [{destination_selector: {app: end}}]},
                                          {routes: [{destination_selector: {app: mid}}]}]}
        forwarders: {vf: {type: vpp}}
        nodes:
          c: {kind: nsc, requests: ["kernel://s/nsm0"]}
          mid: {kind: nse, services: [s], labels: {app: mid}, vpp: {}}
          end: {kind: nse, services: [s], labels: {app: end}, cidr: 172.16.9.0/30}
        """), "eth.yaml"), check_host=False)
    assert c.lab.nodes["mid"].props["mode"] == "xconnect"
    assert not any(i.addresses for i in c.lab.nodes["mid"].interfaces.values())


def test_cli_names_interfaces_in_braces():
    c = compiled("nsm-2s2c.yaml")
    n = c.lab.nodes["fwd"]
    assert "set interface l2 xconnect host-c1 host-e1" in [x for x, _p in config.role_commands(c.lab, n)]
    assert config._ifnames("show {nope} {c0}", {"c0": "host-c0"}) == "show {nope} host-c0"


@pytest.mark.parametrize("extra,want", [
    ("forwarders: {server: {type: vpp}}", r"forwarders.server: VPP forwarder 'server' runs as a vpp node"),
    ("", r"nodes.server.ip: 'server' is a VPP nse: its ports and addresses come from its connections"),
    ("", r"nodes.server.vnf: 'server' is a VPP nse: its role is its vpp: settings"),
])
def test_bad_vpp_ends_are_located_errors(extra, want):
    text = textwrap.dedent("""
        name: bad
        services: {svc: {payload: IP}}
        nodes:
          client: {kind: nsc, requests: ["kernel://svc/nsm0"]}
          server: {kind: nse, services: [svc], vpp: {}, vnf: passthrough, ip: [10.0.0.1/24]}
        """) + extra + "\n"
    with pytest.raises(TopologyError) as e:
        api.compile(load_text(text, "bad.yaml"), check_host=False)
    texts = [i.format() for i in e.value.issues]
    assert any(re.search(want, t) for t in texts), texts
    assert all(i.line for i in e.value.issues), texts


def test_nsm_chain_of_a_vpp_client_says_which_step_drives_it():
    from emulator.backends.nsm.step import NsmChain
    from emulator.scenario.steps import RunContext, StepError
    st = {"name": "lab", "nodes": {"c": {"kind": "vpp"}},
          "services": [{"client": "c", "service": "s", "payload": "IP", "nodes": ["c", "e"],
                        "hops": [{"client": "c:nsm0", "endpoint": "e:in0", "endpoint_ip": "172.16.1.2/30"}]}]}
    with pytest.raises(StepError, match=r"'c' is a VPP.*vcl_iperf3"):
        NsmChain().run(RunContext(lab="lab", state=st, artifacts_dir="/nonexistent"), {"client": "c"})


def test_inspect_lists_a_hop_through_the_vpp_forwarder():
    from emulator.backends.nsm.cli import chains_text
    c = compiled("nsm-3s1c.yaml")
    text = chains_text({"services": [ch.as_dict() for ch in c.services]})
    assert "client:nsm0 172.16.31.1/30 -> fw:in0 172.16.31.2/30   via fwd:c0 = fwd:e0 (kernel->memif)" in text

"""NSM's VPP forwarder and VPP endpoints with real VPP processes (at most two at once).

Where VPP comes from and when these tests skip: tests/vpp_helpers.py."""
import os
import time

import pytest

from emulator import lab as api
from emulator.deploy import state
from emulator.errors import DeployError
from emulator.scenario.steps import RunContext, get as get_step
from vpp_helpers import vpp_marks, vpp_pids

pytestmark = vpp_marks()

SERVICE = """
name: {lab}
services:
  svc:
    payload: IP
    matches:
      - source_selector: {app: firewall}
        routes: [{destination_selector: {app: server}}]
      - routes: [{destination_selector: {app: %s}}]
forwarders:
  vfwd: {type: vpp}
nodes:
  client: {kind: nsc, requests: ["kernel://svc/nsm0"]}
  server: {kind: nse, services: [svc], labels: {app: server}, cidr: 172.16.72.0/24}
"""
FIREWALL = """
  fw:
    kind: nse
    services: [svc]
    labels: {app: firewall}
    cidr: 172.16.71.0/24
    vpp: {acl: {allow: [icmp, tcp/5201]}}
"""


def chain_step(lab_name, tmp_path, **args):
    ctx = RunContext(lab=lab_name, state=state.read_state(lab_name), artifacts_dir=str(tmp_path))
    return get_step("nsm_chain").run(ctx, args).measurements


def test_kernel_client_through_vpp_forwarder_to_kernel_endpoint(topo, lab_name, tmp_path):
    st = api.deploy(topo(SERVICE % "server"))
    try:
        assert st["nodes"]["vfwd"]["kind"] == "vpp"
        hop = st["services"][0]["hops"][0]
        assert hop["via"]["client_port"] == "vfwd:c0" and hop["via"]["endpoint_port"] == "vfwd:e0"
        assert hop["via"]["client_link"].startswith("tap")
        # the forwarder only passes frames: the client and the endpoint share the hop's /30
        out = api.exec_in(lab_name, "vfwd", ["vppctl", "show", "mode"]).stdout
        assert "l2 xconnect host-c0 host-e0" in out and "l2 xconnect host-e0 host-c0" in out
        api.ping(lab_name, "client", "172.16.72.2", count=1, timeout=2)   # the ARP entries
        m = chain_step(lab_name, tmp_path, client="client", count=10, interval="0.05")
        assert m["in_order"] and m["crossed"] == 1 and m["loss_pct"] == 0, m
        fwd = m["per_hop"][0]["forwarder"]
        assert fwd["node"] == "vfwd" and fwd["forward_packets"] >= 10 and fwd["return_packets"] >= 10
        # without the forwarder's cross-connect nothing passes, and the step says the hop was not crossed
        api.exec_in(lab_name, "vfwd", ["vppctl", "set", "interface", "state", "host-e0", "down"])
        m = chain_step(lab_name, tmp_path, client="client", count=3, interval="0.05", timeout="1")
        assert m["received"] == 0 and not m["in_order"] and m["per_hop"][0]["forwarder"]["forward_packets"] == 0
    finally:
        api.destroy(lab_name)
    assert not vpp_pids(lab_name)


def test_vpp_firewall_nse_on_memif_drops_a_denied_port(topo, lab_name, tmp_path):
    st = api.deploy(topo(SERVICE % "firewall" + FIREWALL))
    try:
        assert st["nodes"]["fw"]["kind"] == "vpp"
        hops = st["services"][0]["hops"]
        assert [h["mechanism"] for h in hops] == ["kernel->memif", "memif->kernel"]
        assert hops[0]["via"]["endpoint_link"] == "memif" and hops[1]["via"]["client_link"] == "memif"
        assert "memif" in api.exec_in(lab_name, "fw", ["vppctl", "show", "interface"]).stdout
        api.ping(lab_name, "client", "172.16.72.2", count=2, timeout=2)   # VPP's ARP for its neighbours
        m = chain_step(lab_name, tmp_path, client="client", count=10, interval="0.05")
        assert m["in_order"] and m["crossed"] == 2 and m["routed_hops"] == 1, m   # the VPP NSE routed
        for port in ("5201", "5301"):   # a listener on each port (one connection each, then it exits)
            assert api.exec_in(lab_name, "server", ["iperf3", "-s", "-1", "-D", "-p", port]).ok
        listening = ""
        end = time.monotonic() + 15   # iperf3 -D returns before its daemon listens
        while listening != "2" and time.monotonic() < end:
            listening = api.exec_in(lab_name, "server", ["sh", "-c", "ss -ltn | grep -c ':5[23]01 '"]).stdout.strip()
            time.sleep(0.1)
        assert listening == "2"
        probe = "timeout 2 bash -c '</dev/tcp/172.16.72.2/{}'"
        assert api.exec_in(lab_name, "client", ["sh", "-c", probe.format(5201)]).ok       # allowed
        assert not api.exec_in(lab_name, "client", ["sh", "-c", probe.format(5301)]).ok   # denied by the ACL
        acl = api.exec_in(lab_name, "fw", ["vppctl", "show", "acl-plugin", "acl"]).stdout
        assert "deny" in acl and "5201" in acl
    finally:
        api.destroy(lab_name)
    assert not vpp_pids(lab_name)


VCL = """
name: {lab}
services:
  svc: {payload: IP}
forwarders:
  vfwd: {type: vpp}
nodes:
  client: {kind: nsc, requests: ["memif://svc/nsm0"], vpp: {host_stack: true}}
  server: {kind: nse, services: [svc], cidr: 172.16.73.0/24, vpp: {host_stack: true}}
"""


def test_vpp_client_and_endpoint_through_a_memif_proxy_carry_iperf3_over_vcl(topo, lab_name, tmp_path):
    st = api.deploy(topo(VCL))
    try:
        hop = st["services"][0]["hops"][0]
        assert hop["mechanism"] == "memif" and hop["via"]["client_link"] == hop["via"]["endpoint_link"] == "memif"
        assert {st["nodes"][n]["kind"] for n in ("client", "server", "vfwd")} == {"vpp"}
        before = api.live_interfaces(state.read_state(lab_name))
        ctx = RunContext(lab=lab_name, state=state.read_state(lab_name), artifacts_dir=str(tmp_path))
        r = get_step("vcl_iperf3").run(ctx, {"client": "client", "server": "server", "duration": 2})
        assert r.measurements["throughput_bps"] > 1e6
        after = api.live_interfaces(state.read_state(lab_name))
        # the stream crossed the forwarder's memif proxy: its endpoint side sent what its client side got
        got = after["vfwd:c0"]["stats"]["rx_bytes"] - before["vfwd:c0"]["stats"]["rx_bytes"]
        sent = after["vfwd:e0"]["stats"]["tx_bytes"] - before["vfwd:e0"]["stats"]["tx_bytes"]
        assert got > 1e6 and sent >= got * 0.99
        # VPP's TCP, not the kernel's: the server namespace's kernel has no socket on the port
        tcp = api.exec_in(lab_name, "server", ["cat", "/proc/net/tcp"]).stdout
        assert ":1451 " not in tcp
    finally:
        api.destroy(lab_name)
    assert not vpp_pids(lab_name)


KERNEL_TO_VPP = """
name: {lab}
services:
  svc: {payload: IP}
nodes:
  client: {kind: nsc, requests: ["kernel://svc/nsm0"]}
  server:
    kind: nse
    services: [svc]
    cidr: 172.16.74.0/24
    vpp:
      cli: ["show version", "%s"]
"""


def test_vpp_endpoint_behind_the_kernel_forwarder_and_a_command_it_rejects(topo, lab_name):
    with pytest.raises(DeployError, match=r"topo.yaml:12: vpp node 'server' rejected `bogus words`"):
        api.deploy(topo(KERNEL_TO_VPP % "bogus words"))
    assert not vpp_pids(lab_name) and not os.path.exists(os.path.join("/run/emulator", lab_name))
    st = api.deploy(topo(KERNEL_TO_VPP % "show version"))
    try:
        assert st["services"][0]["hops"][0]["mechanism"] == "kernel" and st["nodes"]["server"]["kind"] == "vpp"
        # a veth from the kernel forwarder, taken by VPP through af_packet; VPP answers for its address
        r = api.exec_in(lab_name, "client", ["ping", "-c", "3", "-i", "0.2", "-W", "1", "172.16.74.2"])
        assert " 0% packet loss" in r.stdout
    finally:
        api.destroy(lab_name)
    assert not vpp_pids(lab_name)

"""Integration: network service chains deployed for real; traffic and per-hop counters checked."""
import json
import os
import subprocess
import sys
import time

import pytest

from emulator import lab as api
from emulator.deploy import state
from emulator.scenario.steps import RunContext, get as get_step

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHAIN3 = """
name: {lab}
services:
  sfc:
    matches:
      - source_selector: {app: fw}
        routes: [{destination_selector: {app: nat}}]
      - source_selector: {app: nat}
        routes: [{destination_selector: {app: srv}}]
      - routes: [{destination_selector: {app: fw}}]
forwarders: {fwd: {type: kernel}}
nodes:
  fw:  {kind: nse, services: [sfc], labels: {app: fw}, cidr: 172.31.1.0/24,
        vnf: {type: iptables-firewall, allow: [icmp]}}
  nat: {kind: nse, services: [sfc], labels: {app: nat}, cidr: 172.31.2.0/24, vnf: nat}
  srv: {kind: nse, services: [sfc], labels: {app: srv}, cidr: 172.31.3.0/24, vnf: icmp-responder}
  c1: {kind: nsc, requests: ["kernel://sfc/nsm0"]}
  c2: {kind: nsc, requests: ["kernel://sfc/nsm0"]}
"""

L2 = """
name: {lab}
services:
  l2:
    payload: ETHERNET
    matches:
      - source_selector: {app: bfw}
        routes: [{destination_selector: {app: ufwd}}]
      - source_selector: {app: ufwd}
        routes: [{destination_selector: {app: srv}}]
      - routes: [{destination_selector: {app: bfw}}]
nodes:
  client: {kind: nsc, requests: ["kernel://l2/nsm0"]}
  bfw:  {kind: nse, services: [l2], labels: {app: bfw}, vnf: {type: bridge-firewall, allow: [icmp]}}
  ufwd: {kind: nse, services: [l2], labels: {app: ufwd}, vnf: user-space-forwarder}
  srv:  {kind: nse, services: [l2], labels: {app: srv}, cidr: 172.31.9.0/24}
"""


def _alive(pid) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return bool(f.read())          # a zombie's is empty
    except OSError:
        return False


def kill_in_netns(ns, needle):
    """Stop the processes of one namespace whose command line has `needle` (pkill would hit every lab)."""
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    killed = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle.encode() in f.read():
                    os.kill(int(pid), 15)
                    killed.append(pid)
        except (OSError, ValueError):
            pass
    assert killed, f"no process '{needle}' in {ns}"
    end = time.monotonic() + 10   # gone, not only told to go
    while any(_alive(p) for p in killed):
        assert time.monotonic() < end, f"'{needle}' in {ns} did not end"
        time.sleep(0.05)


def chain_step(lab_name, tmp_path, **args):
    st = state.read_state(lab_name)
    ctx = RunContext(lab=lab_name, state=st, artifacts_dir=str(tmp_path))
    return get_step("nsm_chain").run(ctx, args).measurements


def test_three_endpoint_chain_two_clients_routes_nat_and_counters(topo, lab_name, tmp_path):
    st = api.deploy(topo(CHAIN3))
    try:
        chains = {c["client"]: c for c in st["services"]}
        assert chains["c1"]["nodes"] == ["c1", "fw", "nat", "srv"]
        assert chains["c2"]["nodes"] == ["c2", "fw", "nat", "srv"]
        # every connection has its own /30: the two clients' chains share no address
        a1 = {h["client_ip"] for h in chains["c1"]["hops"]} | {h["endpoint_ip"] for h in chains["c1"]["hops"]}
        a2 = {h["client_ip"] for h in chains["c2"]["hops"]} | {h["endpoint_ip"] for h in chains["c2"]["hops"]}
        assert not a1 & a2
        m = chain_step(lab_name, tmp_path, client="c1", count=10)
        assert m["in_order"] and m["crossed"] == 3 and m["received"] == 10
        assert m["routed_hops"] == 2 and m["min_forward_packets"] >= 10
        assert [h["link"] for h in m["per_hop"]] == ["c1:nsm0 -> fw:in0", "fw:out0 -> nat:in0", "nat:out0 -> srv:in0"]
        # c2's pings do not cross c1's connections: c1's hop counters stay still meanwhile
        m2 = chain_step(lab_name, tmp_path, client="c2", count=5)
        assert m2["in_order"] and m2["crossed"] == 3
        # the NAT endpoint masquerades: the server sees the NAT's address, not the client's
        srv_dst = chains["c1"]["hops"][-1]["endpoint_ip"].split("/")[0]
        nat_out = chains["c1"]["hops"][-1]["client_ip"].split("/")[0]
        cap = subprocess.Popen(["ip", "netns", "exec", st["nodes"]["srv"]["netns"], "tcpdump", "-l", "-n", "-c", "1",
                                "-i", "any", "icmp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in cap.stderr:   # tcpdump says so once it captures
            if "listening on" in line:
                break
        try:
            assert api.ping(lab_name, "c1", srv_dst, count=1)
            out = cap.communicate(timeout=10)[0]
        finally:
            if cap.poll() is None:
                cap.kill()
                cap.wait()
        assert f"{nat_out} > {srv_dst}" in out, out
        # the firewall lets only ICMP through
        r = api.exec_in(lab_name, "c1", ["sh", "-c", f"timeout 1 bash -c '</dev/tcp/{srv_dst}/22'"])
        assert not r.ok
        assert "policy DROP" in api.exec_in(lab_name, "fw", ["iptables", "-L", "FORWARD"]).stdout
    finally:
        api.destroy(lab_name)


def test_counters_catch_a_chain_that_is_not_crossed(topo, lab_name, tmp_path):
    """The step must fail when an endpoint stops forwarding: turn the firewall's forwarding off."""
    api.deploy(topo(CHAIN3))
    try:
        api.exec_in(lab_name, "fw", ["sysctl", "-qw", "net.ipv4.ip_forward=0"])
        m = chain_step(lab_name, tmp_path, client="c1", count=3, timeout=1)
        assert not m["in_order"] and m["received"] == 0
        # the pings reached the firewall (hop 1 crossed), and went no further
        assert m["crossed"] == 1 and m["per_hop"][0]["forward_packets"] >= 3
        assert m["per_hop"][0]["passed_on"] is False
        assert m["per_hop"][1]["forward_packets"] == 0 and not m["per_hop"][1]["crossed"]
    finally:
        api.destroy(lab_name)


def test_ethernet_chain_bridge_firewall_and_user_space_forwarder(topo, lab_name, tmp_path):
    st = api.deploy(topo(L2))
    try:
        (ch,) = st["services"]
        assert ch["nodes"] == ["client", "bfw", "ufwd", "srv"]
        for node in ("bfw", "ufwd"):
            out = api.exec_in(lab_name, node, ["ip", "-4", "-o", "addr", "show", "scope", "global"]).stdout
            assert not out.strip(), f"{node} must carry no address: {out}"
        m = chain_step(lab_name, tmp_path, client="client", count=10)
        assert m["in_order"] and m["crossed"] == 3, m
        assert m["routed_hops"] == 0       # frames, not routed: the TTL is untouched
        # the bridge firewall only lets ICMP (and ARP) through
        r = api.exec_in(lab_name, "client", ["sh", "-c", "timeout 1 bash -c '</dev/tcp/172.31.9.2/22'"])
        assert not r.ok
        # without the user-space forwarder nothing passes
        kill_in_netns(st["nodes"]["ufwd"]["netns"], "emulator.tools.pktfwd")
        assert not api.ping(lab_name, "client", "172.31.9.2", count=1, timeout=1)
    finally:
        api.destroy(lab_name)


def test_scenario_2s1c_runs_and_reports_the_chain(tmp_path, lab_name):
    # the shipped scenario and topology, under this test's own lab name (runs side by side never collide)
    topo_text = open(os.path.join(ROOT, "topologies", "nsm-2s1c.yaml")).read()
    assert "\nname: nsm-2s1c\n" in topo_text
    (tmp_path / "topo.yaml").write_text(topo_text.replace("\nname: nsm-2s1c\n", f"\nname: {lab_name}\n"))
    sc_text = open(os.path.join(ROOT, "scenarios", "nsm-2s1c.yaml")).read()
    assert "topology: ../topologies/nsm-2s1c.yaml" in sc_text
    (tmp_path / "sc.yaml").write_text(sc_text.replace("topology: ../topologies/nsm-2s1c.yaml", "topology: topo.yaml"))
    out = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "sc.yaml"),
                        "--set", "duration=2", "--results", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((out / "results.json").read_text())
    steps = {s["type"]: s for s in res["runs"][0]["steps"]}
    chain = steps["nsm_chain"]["measurements"]
    assert chain["path"] == "client -> fw -> server" and chain["in_order"] and chain["crossed"] == 2
    assert steps["iperf3"]["measurements"]["throughput_bps"] > 1e9
    assert steps["iperf3"]["reference"]["value"] == pytest.approx(61.1e9)

"""Deploy returns a lab that forwards: ports up, bridge ports forwarding; STP rings; README example."""
import re
import socket
import time
from pathlib import Path

import pytest

from emulator import lab as api
from emulator.deploy import ready
from emulator.errors import DeployError
from emulator.deploy.kernel import netlink
from emulator.core.loader import load_text
from conftest import LAN, addr

ROOT = Path(__file__).resolve().parent.parent

RING = """
name: {lab}
nodes:
  s1: {kind: bridge, stp: true}
  s2: {kind: bridge, stp: true}
  s3: {kind: bridge, stp: true}
  a: {kind: host}
  b: {kind: host}
links:
  - [s1, s2]
  - [s2, s3]
  - [s3, s1]
  - [a, s1]
  - [b, s3]
"""


def bridge_ports(st):
    return {f"{n}:{i}" for n, node in st["nodes"].items() if node["kind"] == "bridge"
            for i in node["interfaces"]}


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_right_after_deploy_every_port_is_up_and_every_bridge_port_forwards(topo, lab_name):
    st = api.deploy(topo(LAN))
    try:
        live = api.live_interfaces(st)   # read at once: no sleep, no retry
        ends = {f"{n}:{i}" for n, node in st["nodes"].items() for i in node["interfaces"]}
        assert set(live) == ends and len(ends) == 8
        for key, link in live.items():
            assert link["operstate"] == netlink.IF_OPER_UP, (key, link)
        ports = bridge_ports(st)
        assert len(ports) == 5
        for key in ports:
            assert live[key]["slave_kind"] == "bridge"
            assert live[key]["brport_state"] == netlink.BR_STATE_FORWARDING, (key, live[key])
        assert api.ping(lab_name, "a", addr(st, "c"), count=1, timeout=2)
    finally:
        api.destroy(lab_name)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_the_wait_gives_up_after_its_bound_and_says_what_does_not_forward(topo, lab_name):
    st = api.deploy(topo(LAN))
    try:
        c = api.compile(st["file"], check_host=False)
        (wait,) = [a for a in c.actions if isinstance(a, ready.WaitForwarding)]
        assert len(wait.ports) == 8 and sum(p.bridge for p in wait.ports) == 5
        assert ready.wait(wait.ports, 5) < 5   # the running lab is ready: returns at once
        api.exec_in(lab_name, "c", ["ip", "link", "set", "eth0", "down"])
        t0 = time.monotonic()
        with pytest.raises(DeployError) as exc:
            ready.wait(wait.ports, 0.5)
        assert time.monotonic() - t0 >= 0.5
        msg = str(exc.value)
        assert re.search(r"after waiting \d+\.\d s, 2 of 8 interfaces did not forward yet", msg), msg
        assert "c:eth0 (operstate down)" in msg
        assert "sw2:eth2 (operstate " in msg   # its peer is down: no carrier
    finally:
        api.destroy(lab_name)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_the_wait_dumps_each_namespace_once_then_asks_only_for_the_ports_still_pending(topo, lab_name, monkeypatch):
    # a dump of the fabric costs the same whatever is pending (linear,5000: 20,000 links per
    # round): only the first round dumps (the bridge ports, in the bridge's short form), the
    # other ports and the later rounds request the ports by index
    st = api.deploy(topo(LAN))
    try:
        c = api.compile(st["file"], check_host=False)
        (wait,) = [a for a in c.actions if isinstance(a, ready.WaitForwarding)]
        calls = []
        parsed = []
        dump, get = netlink.Socket.dump_links, netlink.Socket.get_links
        parsers = {n: getattr(netlink, n) for n in ("parse_state", "parse_operstate", "parse_bridge_port")}
        monkeypatch.setattr(netlink.Socket, "dump_links",
                            lambda s, i=None, *a: calls.append(("dump", sorted(i or ()))) or dump(s, i, *a))
        monkeypatch.setattr(netlink.Socket, "get_links",
                            lambda s, i, *a: calls.append(("get", sorted(i))) or get(s, i, *a))
        for n, f in parsers.items():
            monkeypatch.setattr(netlink, n, lambda b, f=f: parsed.append(1) or f(b))
        bridged = {p.index for p in wait.ports if p.bridge}
        (fabric,) = {p.netns for p in wait.ports if p.bridge}
        hosts = {p.netns for p in wait.ports} - {fabric}
        assert ready.check(wait.ports) == {}
        assert sorted(calls) == sorted([("dump", sorted(bridged))] + [("get", [p.index]) for p in wait.ports
                                                                      if not p.bridge])
        assert len(parsed) == len(wait.ports) == 8   # the fabric's bridges and lo are skipped unparsed
        api.exec_in(lab_name, "c", ["ip", "link", "set", "eth0", "down"])
        calls.clear()
        with pytest.raises(DeployError):
            ready.wait(wait.ports, 0.3)
        first = 1 + len(hosts)
        assert len([k for k, _ in calls[:first] if k == "dump"]) == 1   # the first round
        later = calls[first:]
        assert later and all(k == "get" for k, _ in later)
        c_eth0 = next(p for p in wait.ports if p.label == "c:eth0")
        sw2_eth2 = next(p for p in wait.ports if p.label == "sw2:eth2")
        assert {tuple(i) for _, i in later} == {(c_eth0.index,), (sw2_eth2.index,)}
        # a request for a link that is not there: left out, and the port reads as missing
        gone = ready.Port(c_eth0.netns, 999, "c:gone")
        assert ready.check([gone], dump=False) == {"c:gone": "missing"}
        # the same state by request as by dump, once it is stable (the kernel applies it late),
        # and the bridge's short form says what the full one says of each bridge port
        api.exec_in(lab_name, "c", ["ip", "link", "set", "eth0", "up"])
        ready.wait(wait.ports, 10)
        parse = parsers["parse_state"]
        for ns in {p.netns for p in wait.ports}:
            idx = [p.index for p in wait.ports if p.netns == ns]
            with netlink.Socket(ns) as s:
                by_dump = {l["index"]: l for l in dump(s, set(idx), parse)}
                by_get = get(s, idx, parse)
                short = {l["index"]: l for l in dump(s, set(idx), parsers["parse_bridge_port"], socket.AF_BRIDGE)}
            assert len(by_get) == len(by_dump) == len(idx) and all(l == by_dump[l["index"]] for l in by_get)
            assert set(short) == (set(idx) if ns == fabric else set())
            for i, l in short.items():
                assert l == {k: by_dump[i][k] for k in ("index", "operstate", "brport_state")}
                assert l["brport_state"] == netlink.BR_STATE_FORWARDING
        monkeypatch.undo()
    finally:
        api.destroy(lab_name)


def _rx(live, key):
    return live[key]["stats"]["rx_packets"]


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_a_ring_of_stp_bridges_deploys_forwards_and_does_not_multiply_broadcasts(topo, lab_name):
    st = api.deploy(topo(RING))
    try:
        live = api.live_interfaces(st)
        states = {k: live[k]["brport_state"] for k in bridge_ports(st)}
        # STP has decided when deploy returns: every port forwards or blocks, and the loop is cut
        assert set(states.values()) <= {netlink.BR_STATE_FORWARDING, netlink.BR_STATE_BLOCKING}, states
        assert list(states.values()).count(netlink.BR_STATE_BLOCKING) == 1, states
        assert api.ping(lab_name, "a", addr(st, "b"), count=1, timeout=2)
        before = api.live_interfaces(st)
        # 3 broadcast frames from a: each reaches b once, not over and over
        api.exec_in(lab_name, "a", ["ping", "-b", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.255"])
        time.sleep(0.5)
        after = api.live_interfaces(st)
        assert 3 <= _rx(after, "b:eth0") - _rx(before, "b:eth0") < 20
        total = sum(_rx(after, k) - _rx(before, k) for k in bridge_ports(st))
        assert total < 60, f"{total} frames crossed the bridges' ports"
    finally:
        api.destroy(lab_name)


def test_stp_bridges_get_short_timers_and_the_wait_allows_for_convergence():
    c = api.compile(load_text(RING.replace("{lab}", "ring"), "ring.yaml"), check_host=False)
    bridges = [a for a in c.actions if a.describe().endswith("stp_state 1 forward_delay 200 hello_time 100 max_age 600")]
    assert len(bridges) == 3
    (wait,) = [a for a in c.actions if isinstance(a, ready.WaitForwarding)]
    assert wait.stp and wait.timeout >= ready.BASE_TIMEOUT + ready.stp_convergence()
    assert wait.phase_label().startswith("STP convergence")


def test_the_readme_topology_example_is_valid():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Topology format\s+```yaml\n(.*?)```", text, re.S).group(1)
    c = api.compile(load_text(block, "README.md"), check_host=False)
    assert {"client", "fw", "server", "sw1"} <= set(c.lab.nodes)

"""SRv6 on vpp routers (emulator/backends/vpp/srv6.py): the srv6-router's YAML on a `kind: vpp` node,
its VPP commands with their lines, the refusals located, and with real VPPs: a mixed lab (VPP and
kernel routers) and a VPP-only one carry traffic with the SRH on the wire, decap delivers to the
right host, and destroy leaves no VPP process, /dev/shm file or directory.

Where VPP comes from and when the tests that run it skip: tests/vpp_helpers.py."""
import json
import os
import subprocess
import sys
import time

import pytest

from emulator import lab as api
from emulator.backends.srv6 import routes
from emulator.backends.vpp.instance import StartVpp
from emulator.backends.vpp.srv6 import VppNeighbours, localsid_packets
from emulator.core.loader import load_file
from emulator.errors import TopologyError

from conftest import compile_text, wait_listening
from vpp_helpers import leftovers, needs_vpp
from test_srv6 import _srh_packets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "topologies", "vpp-srv6.yaml")

# h1 - v1 (vpp) - r1 - e2 - h2: every behaviour VPP has, on v1
MIXED = """\
name: vs
nodes:
  h1: {kind: host, interfaces: {eth0: {ip: [10.1.0.2/24, "2001:db8:1::2/64"]}}}
  h2: {kind: host, interfaces: {eth0: {ip: [10.2.0.2/24]}}}
  v1:
    kind: vpp
    locator: fc00:0:a1::/48
    sids:
      dx4: {behaviour: End.DX4, nh: h1}
      x: {behaviour: End.X, nh: r1}
      dx6: {behaviour: End.DX6, nh: h1}
      dt4: {behaviour: End.DT4}
      dt6: {behaviour: End.DT6}
    interfaces: {eth0: {ip: [10.1.0.1/24, "2001:db8:1::1/64"]}}
  r1: {kind: srv6-router, locator: "fc00:0:1::/48"}
  e2: {kind: srv6-router, locator: "fc00:0:e2::/48", sids: {dx4: {behaviour: End.DX4, nh: h2}}}
links:
  - [h1:eth0, v1:eth0]
  - [h2:eth0, e2:eth0]
  - [v1:eth1, r1:eth0]
  - [r1:eth1, e2:eth1]
srv6:
  policies:
    fwd: {headend: v1, to: 10.2.0.0/24, segments: [r1, e2.dx4]}
    six: {headend: v1, to: "2001:db8:9::/64", segments: [r1], mode: inline}
    back: {headend: e2, to: 10.1.0.0/24, segments: [r1, v1.dx4]}
"""


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _start(c, node) -> StartVpp:
    return next(a for a in c.actions if isinstance(a, StartVpp) and a.node == node)


def test_a_vpp_router_takes_the_srv6_routers_yaml_as_commands_with_their_lines():
    c = compile_text(MIXED)
    where = dict(_start(c, "v1").commands)
    at = {cmd: int(w.rsplit(":", 1)[1]) for cmd, w in where.items()}
    link = "fd00:5:0:1"   # the first core link's /64 (srv6.link_prefix): v1 ::1, r1 ::2
    assert at[f"set interface ip address host-eth1 {link}::1/64"] == _line(MIXED, "[v1:eth1, r1:eth0]")
    assert at[f"ip route add fc00:0:1::/48 via {link}::2 host-eth1"] == _line(MIXED, "locator: fc00:0:a1::/48")
    assert f"ip route add fc00:0:e2::/48 via {link}::2 host-eth1" in at
    assert at["set sr encaps source addr fc00:0:a1::1"] == _line(MIXED, "locator: fc00:0:a1::/48")
    assert at["sr localsid address fc00:0:a1::1 behavior end"] == _line(MIXED, "locator: fc00:0:a1::/48")
    for cmd, needle in [("sr localsid address fc00:0:a1::100 behavior end.dx4 host-eth0 10.1.0.2", "dx4: {"),
                        (f"sr localsid address fc00:0:a1::101 behavior end.x host-eth1 {link}::2", "x: {"),
                        ("sr localsid address fc00:0:a1::102 behavior end.dx6 host-eth0 2001:db8:1::2", "dx6: {"),
                        ("sr localsid address fc00:0:a1::103 behavior end.dt4 0", "dt4: {"),
                        ("sr localsid address fc00:0:a1::104 behavior end.dt6 0", "dt6: {")]:
        assert at[cmd] == _line(MIXED, needle), cmd
    # policies: the BSIDs are the locator's last addresses, one per policy of this headend
    bsid1, bsid2 = "fc00:0:a1:ffff:ffff:ffff:ffff:ffff", "fc00:0:a1:ffff:ffff:ffff:ffff:fffe"
    assert at[f"sr policy add bsid {bsid1} next fc00:0:1::1 next fc00:0:e2::100 encap"] == _line(MIXED, "fwd: {")
    assert at[f"sr steer l3 10.2.0.0/24 via bsid {bsid1}"] == _line(MIXED, "fwd: {")
    assert f"sr policy add bsid {bsid2} next fc00:0:1::1 insert" in at
    assert f"sr steer l3 2001:db8:9::/64 via bsid {bsid2}" in at
    assert not any("10.1.0.0/24" in cmd for cmd in at)   # `back` is e2's (the kernel's)
    cmds = [cmd for cmd, _w in _start(c, "v1").commands]   # SRv6 after the addresses, before the ports go up
    assert cmds.index("set sr encaps source addr fc00:0:a1::1") > cmds.index(f"set interface ip address host-eth1 "
                                                                              f"{link}::1/64")
    assert cmds[-1].startswith("set interface state")
    # the next hops of End.X/End.DX4/End.DX6: static neighbours with the MAC read at deploy
    (nb,) = [a for a in c.actions if isinstance(a, VppNeighbours)]
    assert [(i, a, k) for i, a, _ns, _d, k, _w in nb.entries] == [
        ("host-eth0", "10.1.0.2", "h1:eth0"), ("host-eth1", f"{link}::2", "r1:eth0"), ("host-eth0", "2001:db8:1::2", "h1:eth0")]
    assert nb.phase > _start(c, "v1").phase
    # the kernel side treats v1 as an SRv6 router: an address on its link to v1, a route to v1's locator
    descr = "\n".join(a.describe() for a in c.actions)
    assert f"[emu-vs.r1] ip route add fc00:0:a1::/48 via {link}::1 dev eth0" in descr
    assert "segs fc00:0:1::1,fc00:0:a1::100" in descr    # e2's policy ends at VPP's End.DX4
    assert sum(type(a).__name__ == "WriteSrv6State" for a in c.actions) == 1


def test_a_lab_of_vpp_routers_only_writes_its_srv6_state_once():
    text = """\
    name: vv
    nodes:
      h1: {kind: host, interfaces: {eth0: {ip: [10.1.0.2/24]}}}
      v1: {kind: vpp, locator: "fc00:0:a1::/48", interfaces: {eth0: {ip: [10.1.0.1/24]}},
           sids: {dt4: {behaviour: End.DT4}}}
      v2: {kind: vpp, locator: "fc00:0:a2::/48"}
    links:
      - [h1:eth0, v1:eth0]
      - [v1:eth1, v2:eth0]
    srv6:
      policies:
        p: {headend: v2, to: 10.1.0.0/24, segments: [v1.dt4]}
    """
    c = compile_text(text)
    (st,) = [a for a in c.actions if type(a).__name__ == "WriteSrv6State"]
    assert st.data["policies"]["p"]["hops"][1] == ["v1", "segment 0: End.DT4 (v1.dt4 fc00:0:a1::100): "
                                                         "decapsulated, looked up in the main table"]
    assert "sr steer l3 10.1.0.0/24 via bsid fc00:0:a2:ffff:ffff:ffff:ffff:ffff" in [
        cmd for cmd, _w in _start(c, "v2").commands]
    assert not [a for a in c.actions if isinstance(a, VppNeighbours)]   # End.DT4 has no next hop


def _issues(text):
    with pytest.raises(TopologyError) as e:
        compile_text(text)
    return e.value.issues


@pytest.mark.parametrize("old, new, path, words", [
    ("dt6: {behaviour: End.DT6}", "dt6: {behaviour: End.DT46}", ("nodes", "v1", "sids", "dt6", "behaviour"),
     "VPP has no SRv6 behaviour End.DT46"),
    ("fwd: {headend: v1,", "fwd: {from: h1, headend: v1,", ("srv6", "policies", "fwd", "from"),
     "steers traffic by its destination only"),
    ("    kind: vpp\n    locator: fc00:0:a1::/48", "    kind: vpp\n    mode: bridge\n    locator: fc00:0:a1::/48",
     ("nodes", "v1", "locator"), "a vpp node in mode bridge is not an SRv6 router: it takes no locator"),
    ("    locator: fc00:0:a1::/48\n", "", ("nodes", "v1"), "vpp 'v1' has no locator"),
    ("x: {behaviour: End.X, nh: r1}", "x: {behaviour: End.X, nh: h1}", ("nodes", "v1", "sids", "x", "nh"),
     "End.X goes to a neighbouring srv6-router; 'h1' is a host"),
])
def test_what_vpp_cannot_do_is_refused_at_its_line(old, new, path, words):
    assert old in MIXED
    text = MIXED.replace(old, new, 1)
    issues = _issues(text)
    assert any(i.path == path and words in i.message for i in issues), [(i.path, i.message) for i in issues]
    i = next(i for i in issues if i.path == path)
    assert i.line is not None


def test_a_segment_on_a_vpp_node_without_locator_is_not_a_sid():
    text = MIXED.replace("  r1: {kind: srv6-router", "  v9: {kind: vpp}\n  r1: {kind: srv6-router").replace(
        "segments: [r1, e2.dx4]", "segments: [v9, e2.dx4]")
    (i,) = _issues(text)
    assert i.path == ("srv6", "policies", "fwd", "segments", 0) and "'v9' is a vpp, not an srv6-router" in i.message


def test_the_cli_refuses_with_exit_2_and_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(MIXED.replace("dt4: {behaviour: End.DT4}", "dt4: {behaviour: End.DT46}"))
    r = subprocess.run([sys.executable, "-m", "emulator", "validate", str(p)], capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{p}:{_line(MIXED, 'dt4: {')}" in r.stderr and "VPP has no SRv6 behaviour End.DT46" in r.stderr


def test_the_kernel_probe_judges_the_kernels_routers_only(monkeypatch):
    """A kernel without VRFs cannot install End.DT4: the kernel routers' SIDs are refused, VPP's are not."""
    if os.geteuid() != 0:
        pytest.skip("the kernel probe runs as root only")
    monkeypatch.setattr(routes, "probe", lambda what: (False, "no VRF") if what in ("End.DT4", "inline")
                        else (True, ""))
    api.compile(load_text_(MIXED), check_host=True)   # v1's End.DT4 and inline policy are VPP's
    with pytest.raises(TopologyError) as e:
        api.compile(load_text_(MIXED.replace("sids: {dx4: {behaviour: End.DX4, nh: h2}}",
                                             "sids: {dx4: {behaviour: End.DX4, nh: h2}, t: {behaviour: End.DT4}}")),
                    check_host=True)
    (i,) = e.value.issues
    assert i.path == ("nodes", "e2", "sids", "t", "behaviour") and "cannot install SRv6 End.DT4" in i.message


def load_text_(text):
    from emulator.core.loader import load_text
    return load_text(text, "vs.yaml")


def test_srv6_verb_prints_the_vpp_hops():
    r = subprocess.run([sys.executable, "-m", "emulator", "srv6", SHIPPED], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "router v1: locator fc00:0:a1::/48; SIDs end=fc00:0:a1::1 (End), dx4=fc00:0:a1::100 (End.DX4 nh h1)" \
        in r.stdout
    assert "v1           headend: encap SRH with 2 segment(s), traffic to 10.2.0.0/24" in r.stdout
    assert "v1           segment 1: End.DX4 (v1.dx4 fc00:0:a1::100)  [r1:eth0 -> v1:eth1]" in r.stdout
    assert "h1           decapsulated IPv4 packet delivered to 10.1.0.2  [v1:eth0 -> h1:eth0]" in r.stdout


def test_a_run_time_segment_list_for_a_vpp_headend_is_checked_like_any():
    from emulator.scenario.steps import get as get_step
    c = api.compile(SHIPPED, check_host=False)
    step = get_step("srv6_policy")
    assert step.check_topology(c.lab, {"policy": "fwd", "segments": ["r2", "e2.dx4"]}) == []
    p = step.check_topology(c.lab, {"policy": "fwd", "segments": ["r2", "v1"]})
    assert (("segments", 1), "loop: segment 'v1' is a SID of the headend 'v1' itself") in p, p
    assert step.check_topology(c.lab, {"policy": "back", "segments": ["r2", "v1.dx4"]}) == []


# -- real VPPs -------------------------------------------------------------------------------------

def _until_reply(lab, src, dst, within=60):
    """A VPP drops the packet that makes it resolve a neighbour: ping until one answer comes back."""
    end = time.monotonic() + within
    while not api.ping(lab, src, dst, count=1, timeout=1):
        assert time.monotonic() < end, f"{src} -> {dst}: no answer within {within} s"


class _Capture:
    """tcpdump of COUNT IPv6 packets with a routing header (next header 43) on DEV in NETNS, started
    once tcpdump says it listens."""

    def __init__(self, netns, dev, count, pcap):
        self.pcap = pcap
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, "tcpdump", "-i", dev, "-n", "-U", "-Z", "root",
                                      "-c", str(count), "-w", pcap, "ip6[6] == 43"],
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()   # "tcpdump: listening on DEV, ..." (or why it could not)
        assert "listening on" in line, line

    def packets(self, timeout=30):
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait()
        return _srh_packets(self.pcap)


def _localsid_packets(lab, node) -> dict[str, int]:
    """SID address -> packets VPP's SR localsid processed ("Good traffic")."""
    return localsid_packets(api.exec_in(lab, node, ["vppctl", "show", "sr", "localsids"]).stdout)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_vpp
def test_mixed_lab_srh_from_vpp_on_the_wire_decap_in_vpp_and_nothing_left(lab_name, tmp_path):
    src = load_file(SHIPPED)
    src.data["name"] = lab_name
    st = api.deploy(src)
    try:
        _until_reply(lab_name, "h1", "10.2.0.2")
        # on r1:eth0 (the kernel's end of v1's link): VPP's encapsulation of h1 -> h2 over `fwd` (segments
        # left 1: r1 next), and the kernel's of h2 -> h1 over `back` after r1's End (v1.dx4 next)
        cap = _Capture(st["nodes"]["r1"]["netns"], "eth0", 4, str(tmp_path / "r1.pcap"))
        before = _localsid_packets(lab_name, "v1")
        r = api.exec_in(lab_name, "h1", ["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "10.2.0.2"])
        assert r.ok and "2 received" in r.stdout, r.stdout   # decap at e2 reached h2; VPP's decap reached h1
        srh = cap.packets()
        assert srh.count((1, ["fc00:0:e2::100", "fc00:0:1::1"])) == 2, srh
        assert srh.count((0, ["fc00:0:a1::100", "fc00:0:1::1"])) == 2, srh
        after = _localsid_packets(lab_name, "v1")
        assert after["fc00:0:a1::100"] - before["fc00:0:a1::100"] == 2   # the two replies, decapsulated by VPP
        # h2 -> h1 on its own: steered by the kernel at e2, delivered by VPP's End.DX4
        r = api.exec_in(lab_name, "h2", ["ping", "-n", "-c", "1", "-W", "2", "10.1.0.2"])
        assert r.ok, r.stdout
        # inspect shows VPP's per-SID counters beside the kernel routers'
        r = subprocess.run([sys.executable, "-m", "emulator", "inspect", lab_name], capture_output=True, text=True,
                           timeout=60)
        n = _localsid_packets(lab_name, "v1")["fc00:0:a1::100"]
        assert f"SRv6 packets per SID in VPP: v1 0, v1.dx4 {n}" in r.stdout, r.stdout
        # TCP both ways (full-size segments: jumbo core links; checksums by the kernel ends VPP faces)
        for reverse in ([], ["-R"]):
            assert api.exec_in(lab_name, "h2", ["iperf3", "-s", "-1", "-D", "-p", "5301"]).ok
            wait_listening(lab_name, "h2", 5301)
            r = api.exec_in(lab_name, "h1", ["iperf3", "-c", "10.2.0.2", "-p", "5301", "-t", "1", "-J", *reverse],
                            timeout=60)
            assert r.ok, r.stdout[-1500:] + r.stderr
            assert json.loads(r.stdout)["end"]["sum_received"]["bytes"] > 1_000_000, reverse
        # traffic engineering at run time on VPP's headend: `fwd` moves from r1 to r2
        from emulator.scenario.steps import RunContext, get as get_step
        ctx = RunContext(lab=lab_name, state=api.get(lab_name), artifacts_dir=str(tmp_path))
        res = get_step("srv6_policy").run(ctx, {"policy": "fwd", "segments": ["r2", "e2.dx4"]})
        assert res.measurements["path"] == "v1:eth2 -> r2:eth0, r2:eth1 -> e2:eth2", res.measurements
        _until_reply(lab_name, "h1", "10.2.0.2")   # VPP resolves r2, its new first hop
        cap = _Capture(st["nodes"]["r2"]["netns"], "eth0", 2, str(tmp_path / "r2.pcap"))
        r = api.exec_in(lab_name, "h1", ["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "10.2.0.2"])
        assert r.ok and "2 received" in r.stdout, r.stdout
        assert cap.packets() == [(1, ["fc00:0:e2::100", "fc00:0:2::1"])] * 2
        pols = api.exec_in(lab_name, "v1", ["vppctl", "show", "sr", "policies"]).stdout
        assert pols.count("BSID:") == 1 and "fc00:0:2::1" in pols, pols   # the old policy is gone
    finally:
        api.destroy(lab_name)
    assert leftovers(lab_name, ["v1"]) == ([], [], False)


TWO = """
name: {lab}
nodes:
  h1:
    kind: host
    interfaces: {eth0: {ip: [10.1.0.2/24, "2001:db8:1::2/64"]}}
    routes: [{to: default, via: 10.1.0.1}, {to: "::/0", via: "2001:db8:1::1"}]
  h2:
    kind: host
    interfaces: {eth0: {ip: [10.2.0.2/24, "2001:db8:2::2/64"]}}
    routes: [{to: default, via: 10.2.0.1}, {to: "::/0", via: "2001:db8:2::1"}]
    sysctls: {net.ipv6.conf.all.seg6_enabled: 1, net.ipv6.conf.default.seg6_enabled: 1}   # takes an SRH
  v1:
    kind: vpp
    locator: fc00:0:a1::/48
    sids: {dt4: {behaviour: End.DT4}, dx6: {behaviour: End.DX6, nh: h1}}
    interfaces: {eth0: {ip: [10.1.0.1/24, "2001:db8:1::1/64"]}}
  v2:
    kind: vpp
    locator: fc00:0:a2::/48
    sids: {dx4: {behaviour: End.DX4, nh: h2}}
    interfaces: {eth0: {ip: [10.2.0.1/24, "2001:db8:2::1/64"]}}
links:
  - [h1:eth0, v1:eth0]
  - [v1:eth1, v2:eth1]
  - [h2:eth0, v2:eth0]
srv6:
  policies:
    a4: {headend: v1, to: 10.2.0.0/24, segments: [v2.dx4]}
    b4: {headend: v2, to: 10.1.0.0/24, segments: [v1.dt4]}
    a6: {headend: v1, to: "2001:db8:2::/64", segments: [v2], mode: inline}
    b6: {headend: v2, to: "2001:db8:1::/64", segments: [v1.dx6]}
"""


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
@needs_vpp
def test_two_vpp_routers_ipv4_and_ipv6_encap_inline_and_decap(topo, lab_name, tmp_path):
    st = api.deploy(topo(TWO))
    try:
        _until_reply(lab_name, "h1", "10.2.0.2")
        _until_reply(lab_name, "h1", "2001:db8:2::2")
        v1, v2 = _localsid_packets(lab_name, "v1"), _localsid_packets(lab_name, "v2")
        # inline: h1's IPv6 packets reach h2 with the SRH VPP inserted (h2 last, v2's End done: 0 left)
        cap = _Capture(st["nodes"]["h2"]["netns"], "eth0", 2, str(tmp_path / "h2.pcap"))
        r = api.exec_in(lab_name, "h1", ["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "2001:db8:2::2"])
        assert r.ok and "2 received" in r.stdout, r.stdout
        assert cap.packets() == [(0, ["2001:db8:2::2", "fc00:0:a2::1"])] * 2
        r = api.exec_in(lab_name, "h1", ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.2"])
        assert r.ok and "3 received" in r.stdout, r.stdout
        v1b, v2b = _localsid_packets(lab_name, "v1"), _localsid_packets(lab_name, "v2")
        assert v2b["fc00:0:a2::1"] - v2["fc00:0:a2::1"] == 2       # End: the inline requests
        assert v1b["fc00:0:a1::101"] - v1["fc00:0:a1::101"] == 2   # End.DX6: the IPv6 replies to h1
        assert v2b["fc00:0:a2::100"] - v2["fc00:0:a2::100"] == 3   # End.DX4: the IPv4 requests to h2
        assert v1b["fc00:0:a1::100"] - v1["fc00:0:a1::100"] == 3   # End.DT4: the IPv4 replies to h1
    finally:
        api.destroy(lab_name)
    assert leftovers(lab_name, ["v1", "v2"]) == ([], [], False)

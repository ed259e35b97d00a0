"""SRv6 (emulator/backends/srv6/): located validation errors, the kernel probe, policy paths, and in real
namespaces: the SRH on the wire, packets on the policy's path, decap, a policy switch under traffic,
the link monitor's loss count against the drop filter's, and nothing left after destroy."""
import functools
import ipaddress
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

import pytest

from emulator import lab as api
from emulator.backends.srv6 import driver as srv6_driver
from emulator.backends.srv6 import fault, monitor, routes
from emulator.core.loader import load_file, load_text
from emulator.deploy import hostcmd, state
from emulator.errors import TopologyError
from emulator.scenario.steps import RunContext, get as get_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOPO = os.path.join(ROOT, "topologies", "srv6-te.yaml")

BASE = """\
name: s6
nodes:
  h1: {kind: host, interfaces: {eth0: {ip: [10.1.0.2/24]}}}
  h2: {kind: host, interfaces: {eth0: {ip: [10.2.0.2/24]}}}
  e1: {kind: srv6-router, locator: "fc00:0:e1::/48", sids: {dx4: {behaviour: End.DX4, nh: h1}}}
  e2:
    kind: srv6-router
    locator: "fc00:0:e2::/48"
    sids: {dx4: {behaviour: End.DX4, nh: h2}, dt6: {behaviour: End.DT6}}
  r1: {kind: srv6-router, locator: "fc00:0:1::/48"}
links:
  - [h1:eth0, e1:eth0]
  - [h2:eth0, e2:eth0]
  - [e1:eth1, r1:eth0]
  - [r1:eth1, e2:eth1]
srv6:
  policies:
    p: {headend: e1, to: 10.2.0.0/24, segments: SEGMENTS}
"""


def _compile(segments="[r1, e2.dx4]", extra="", check_host=False, **repl):
    text = BASE.replace("SEGMENTS", segments) + extra
    for k, v in repl.items():
        text = text.replace(k, v)
    return api.compile(load_text(text, "s6.yaml"), check_host=check_host)


def _issues(**kw):
    with pytest.raises(TopologyError) as e:
        _compile(**kw)
    return e.value.issues


def test_a_valid_policy_resolves_nodes_to_their_sids_and_its_path():
    c = _compile()
    core = srv6_driver.core(c.lab)
    pol = core.model.policies["p"]
    assert [s.addr for s in pol.segments] == ["fc00:0:1::1", "fc00:0:e2::100"]
    d = srv6_driver.state_dict(c.lab, core)["policies"]["p"]
    assert d["links"] == [["e1:eth1", "r1:eth0"], ["r1:eth1", "e2:eth1"], ["e2:eth0", "h2:eth0"]]
    described = "\n".join(a.describe() for a in c.actions)
    assert "[emu-s6.e1] ip route add 10.2.0.0/24 encap seg6 mode encap segs fc00:0:1::1,fc00:0:e2::100 dev eth1" \
        in described
    assert "fc00:0:e2::100/128 encap seg6local action End.DX4 nh4 10.2.0.2 count dev eth0" in described
    assert "[emu-s6.r1] sysctl net.ipv6.conf.default.seg6_enabled=1" in described
    assert "[emu-s6.e1] ip route add fc00:0:e2::/48 via fd00:5:0:1::2 dev eth1" in described
    assert "[emu-s6.r1] ip route add fc00:0:e2::/48 via fd00:5:0:2::2 dev eth1" in described


@pytest.mark.parametrize("segments,path,words", [
    ("[r1, 'fc00:0:2::1']", ("srv6", "policies", "p", "segments", 1), "fc00:0:2::1 is not a SID"),
    ("[h2, e2.dx4]", ("srv6", "policies", "p", "segments", 0), "'h2' is a host, not an srv6-router"),
    ("[r1, e2.dx6]", ("srv6", "policies", "p", "segments", 1), "'e2' has no SID 'dx6'"),
    ("[r1, r1, e2.dx4]", ("srv6", "policies", "p", "segments", 1), "loop"),
    ("[e1, r1, e2.dx4]", ("srv6", "policies", "p", "segments", 0), "loop: segment 'e1' is a SID of the headend"),
    ("[r1, e2]", ("srv6", "policies", "p", "segments", 1), "an IPv4 payload (10.2.0.0/24) needs a decap SID"),
    ("[e2.dx4, r1]", ("srv6", "policies", "p", "segments", 0), "decapsulates"),
])
def test_bad_segments_are_located(segments, path, words):
    issues = _issues(segments=segments)
    assert any(i.path == path and words in i.message for i in issues), [(i.path, i.message) for i in issues]
    i = next(i for i in issues if i.path == path)
    assert i.file == "s6.yaml" and i.line == 18 and i.column > 30   # the policy's line, at the segment


def test_other_srv6_mistakes_are_located():
    issues = _issues(**{'locator: "fc00:0:1::/48"': 'locator: "fc00:0:e2:5::/64"'})
    assert any(i.path == ("nodes", "r1", "locator") and "overlaps the locator of 'e2'" in i.message for i in issues)
    issues = _issues(**{"p: {headend: e1,": "p: {headend: h1,"})
    assert any(i.path == ("srv6", "policies", "p", "headend") and "a host, not an srv6-router" in i.message
               for i in issues)
    issues = _issues(**{"nh: h2}": "nh: nowhere}"})
    assert any(i.path == ("nodes", "e2", "sids", "dx4", "nh") for i in issues)
    issues = _issues(**{"to: 10.2.0.0/24, segments: [r1, e2.dx4]}": "to: 10.2.0.0/24, segments: [r1, e2.dx4], mode: inline}"})
    assert any(i.path == ("srv6", "policies", "p", "mode") and "inline" in i.message for i in issues)


def test_the_cli_refuses_with_exit_2_and_the_location(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(BASE.replace("SEGMENTS", "[r1, 'fc00:0:2::1']"))
    r = subprocess.run([sys.executable, "-m", "emulator", "validate", str(p)], capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{p}:18" in r.stderr + r.stdout and "segments[1]" in r.stderr + r.stdout


def test_a_behaviour_the_kernel_lacks_is_a_located_error(monkeypatch):
    monkeypatch.setattr(routes, "probe", lambda what: (False, "Invalid argument") if what == "End.DT6" else (True, ""))
    with pytest.raises(TopologyError) as e:
        _compile(check_host=True)
    (i,) = e.value.issues
    assert i.path == ("nodes", "e2", "sids", "dt6", "behaviour") and "cannot install SRv6 End.DT6" in i.message


def test_srv6_verb_prints_each_policy_hop_by_hop():
    r = subprocess.run([sys.executable, "-m", "emulator", "srv6", TOPO], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "policy fast: e1 steers 10.2.0.0/24 (encap) over r1 -> e2.dx4" in out
    assert "r1           segment 0: End (r1 fc00:0:1::1)  [e1:eth1 -> r1:eth0]" in out
    assert "h2           decapsulated IPv4 packet delivered to 10.2.0.2" in out
    assert "policy back: e2 steers 10.1.0.0/24 (encap) over r3 -> r2 -> e1.dx4" in out


def test_monitor_counts_loss_once_packets_in_flight_have_arrived():
    d = monitor.Direction(monitor.End("a:eth0", "x", "eth0"), monitor.End("b:eth0", "y", "eth0"))
    m = monitor.Monitor([], 1.0)
    m.dirs = [d]
    # (t, sent, received before the egress read, after it): 5 in flight at t=1 (arrived by t=2),
    # 7 lost between t=2 and t=3, of which 2 looked in flight at t=3 (proven lost at the last sample)
    d.raw = [(0, 0, 0, 0), (1, 100, 95, 103), (2, 200, 200, 204), (3, 300, 293, 305), (4, 300, 293, 293)]
    (link,) = m.report()["links"]
    assert [r["lost"] for r in link["intervals"]] == [0, 0, 0, 7] and link["lost"] == 7
    d.raw = [(0, 0, 0, 0), (1, 100, 95, 103), (2, 200, 190, 195), (3, 300, 290, 290)]
    (link,) = m.report()["links"]
    assert [r["lost"] for r in link["intervals"]] == [0, 5, 5] and link["lost"] == 10


@pytest.mark.integration
def test_drop_filter_drops_ip_but_not_neighbour_discovery():
    """The filter's program, on a veth in a throwaway namespace: pings (IPv4, IPv6) dropped, ND not."""
    script = "; ".join([
        "ip link add va type veth peer name vb", "ip link set va up", "ip link set vb up",
        "ip addr add 10.9.0.1/24 dev va", "ip neigh add 10.9.0.2 lladdr 02:00:00:00:00:02 dev va",
        "ip -6 addr add fd09::1/64 dev va nodad", "tc qdisc add dev va clsact",
        f"tc filter add dev va egress pref 7 bpf da bytecode '{fault.bytecode(100)}'",
        "ping -c 3 -i 0.01 -W 0.2 -w 3 -q 10.9.0.2 >/dev/null", "ping -6 -c 2 -i 0.01 -W 0.2 -w 3 -q fd09::2 >/dev/null",
        "tc -s -j qdisc show dev va", "ip -s -j link show dev vb"])
    # (a new namespace may wait long while the kernel frees others on a busy machine)
    r = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=180)
    qd, link = r.stdout.strip().splitlines()[-2:]
    cls = next(q for q in json.loads(qd) if q["kind"] == "clsact")
    # every echo request dropped (ping retries a packet dropped at its own host: at least 5), and
    # what was not dropped (neighbour solicitations, MLD reports) arrived at the peer
    assert cls["drops"] >= 5, r.stdout + r.stderr
    assert 0 < cls["packets"] - cls["drops"] <= json.loads(link)[0]["stats64"]["rx"]["packets"]
    n, *ins = fault.bytecode(25).split(",")
    assert int(n) == len(ins) and f"53 1 0 {2 ** 30}" in ins


def test_report_shows_the_per_link_table_with_the_lossy_cell_and_the_event():
    from emulator.report.html import report_html
    from emulator.report.markdown import summary_markdown
    rows = [{"t": 1.0, "sent": 5, "received": 5, "lost": 0}, {"t": 2.0, "sent": 5, "received": 2, "lost": 3}]
    idle = [{"t": 1.0, "sent": 0, "received": 0, "lost": 0}, {"t": 2.0, "sent": 0, "received": 0, "lost": 0}]
    ll = {"interval_s": 1.0, "links": [
        {"link": "a:eth0 -> b:eth0", "sent": 10, "received": 7, "lost": 3, "intervals": rows},
        {"link": "b:eth0 -> a:eth0", "sent": 0, "received": 0, "lost": 0, "intervals": idle}],
        "events": [{"link": "a:eth0 -> b:eth0", "t": 2.0, "lost": 3}]}
    res = {"name": "x", "status": "passed", "runs": [{"id": "r1", "status": "passed", "steps": [
        {"name": "mon", "type": "link_monitor", "status": "passed", "measurements": {"link_loss": ll}}]}]}
    md = summary_markdown(res)
    assert "| a:eth0 -> b:eth0 | 10 | 7 | 3 | 5/5 | 5/2 **-3** |" in md
    assert "b:eth0 -> a:eth0" not in md   # idle directions are left out
    assert "Loss events: a:eth0 -> b:eth0 at t=2.0 s: 3 lost." in md
    html = report_html(res)
    assert "<h2>Per-link loss</h2>" in html and '<td class="bad" title="sent/received">5/2 -3</td>' in html


def test_scenario_checks_the_monitors_link_ends_before_deploying(tmp_path):
    (tmp_path / "sc.yaml").write_text(
        f"name: s\ntopology: {TOPO}\nsteps:\n"
        "  - link_monitor: {duration: 1, links: [r1:eth1, r1:eth7, r9:eth0]}\n")
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "sc.yaml"), "--results",
                        str(tmp_path / "res")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "links[1]: node 'r1' has no interface 'eth7' on a link" in r.stderr
    assert "links[2]: the topology has no node 'r9'" in r.stderr and "links[0]" not in r.stderr


def test_scenario_checks_a_new_segment_list_before_deploying(tmp_path):
    (tmp_path / "sc.yaml").write_text(
        f"name: s\ntopology: {TOPO}\nsteps:\n"
        "  - srv6_policy: {policy: fast, segments: [r2, r2, e2.dx4]}\n"
        "  - srv6_policy: {policy: fast, segments: [r2, e2]}\n"
        "  - srv6_policy: {policy: slow, segments: [r2]}\n")
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "sc.yaml"), "--results",
                        str(tmp_path / "res")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "steps[0].srv6_policy.segments[1]: loop" in r.stderr
    assert "steps[1].srv6_policy.segments[1]: an IPv4 payload (10.2.0.0/24) needs a decap SID" in r.stderr
    assert "steps[2].srv6_policy.policy: no SRv6 policy 'slow'" in r.stderr


# -- real namespaces -------------------------------------------------------------------------------

def _deploy(lab_name):
    src = load_file(TOPO)
    src.data["name"] = lab_name
    return api.deploy(src)


def _ctx(lab_name, tmp_path):
    return RunContext(lab=lab_name, state=state.read_state(lab_name), artifacts_dir=str(tmp_path))


def _srh_packets(pcap: str) -> list[tuple[int, list[str]]]:
    """(segments left, segment list) of every IPv6 packet with a routing header in an Ethernet pcap."""
    data = open(pcap, "rb").read()
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack_from("=I", data, off + 8)[0]
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 54 or pkt[12:14] != b"\x86\xdd" or pkt[14 + 6] != 43:   # IPv6, next header 43
            continue
        srh = pkt[54:]
        assert srh[2] == 4   # routing type 4: segment routing header
        segs = [str(ipaddress.IPv6Address(srh[8 + 16 * k: 24 + 16 * k])) for k in range(srh[4] + 1)]
        out.append((srh[3], segs))
    return out


@pytest.fixture
def decoy(lab_name):
    """A namespace named like one of another lab's (emu-<lab>d.r1), with a table and qdisc named like
    the monitor's: what this test's lab does must leave it alone."""
    name = f"emu-{lab_name}d.r1"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        sh = ("ip link add va type veth peer name vb && ip link set va up && tc qdisc add dev va clsact && "
              "nft add table netdev emulator_mon && nft add chain netdev emulator_mon c && "
              "nft add rule netdev emulator_mon c counter packets 7 bytes 700")
        subprocess.run(["ip", "netns", "exec", name, "sh", "-c", sh], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name])


def wait_counted(flow, netns, chain, more, within=60):
    """Until NETNS's link-monitor counter CHAIN has grown by MORE packets; FLOW (the traffic) must go on."""
    base = monitor.read(netns).get(chain, 0)
    deadline = time.monotonic() + within
    while monitor.read(netns).get(chain, 0) < base + more:
        assert time.monotonic() < deadline and flow.poll() is None, "the flow did not go on"
        time.sleep(0.05)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_srh_on_the_wire_path_decap_switch_and_monitor(lab_name, tmp_path, decoy):
    st = _deploy(lab_name)
    try:
        ctx = _ctx(lab_name, tmp_path)
        # the SRH on the wire between e1 and r1: IPv6 next header 43, segments in reverse order
        pcap = str(tmp_path / "r1.pcap")
        cap = subprocess.Popen(["nsenter", f"--net=/run/netns/{st['nodes']['r1']['netns']}", "--", "tcpdump",
                                "-i", "eth0", "-n", "-U", "-Z", "root", "-c", "3", "-w", pcap, "ip6[6] == 43"],
                               stderr=subprocess.PIPE, text=True)
        try:
            for line in cap.stderr:                       # tcpdump says so once it captures
                if "listening on" in line:
                    break
            ping = get_step("ping").run(ctx, {"from": "h1", "to": "h2", "count": 3, "interval": 0.2})
            assert ping.measurements["received"] == 3     # decap delivers: h2 answered (its reply over `back`)
            cap.wait(timeout=10)                          # -c 3: tcpdump ends after the three SRv6 packets
        finally:
            if cap.poll() is None:
                cap.terminate()
                cap.wait()
        srh = _srh_packets(pcap)
        assert len(srh) >= 3, srh
        assert all(s == (1, ["fc00:0:e2::100", "fc00:0:1::1"]) for s in srh)

        # packets follow the policy: the monitor sees the flow on e1 -> r1 -> e2 and not on r2/r3;
        # a drop filter on r1:eth1 loses packets there and only there; the policy switch moves the
        # flow. Each phase waits for the one before (no timing), so a loaded machine only slows it.
        mon = monitor.Monitor(monitor.ends_of(st), 0.5)
        mon.start()
        assert mon.settled_start
        routers = json.load(open(os.path.join(state.lab_dir(lab_name), "srv6.json")))["routers"]
        sids0 = monitor.sid_counters(st, routers)
        log = str(tmp_path / "flow.log")
        # the flow runs until the last phase is seen (SIGINT: ping prints its summary), however slow the machine
        flow = hostcmd.start(["ping", "-n", "-q", "-c", "1000000", "-i", "0.01", "10.2.0.2"],
                             netns=st["nodes"]["h1"]["netns"], log=log)
        e1, r1 = st["nodes"]["e1"]["netns"], st["nodes"]["r1"]["netns"]

        wait_sent = functools.partial(wait_counted, flow)

        try:
            wait_sent(e1, "o_eth1", 50)              # the flow runs over r1
            drop = fault.DropFilter(r1, "eth1")
            drop.install()
            try:
                wait_sent(r1, "o_eth1", 30)          # 30+ packets sent into the filter
            finally:
                dropped = drop.remove()
            wait_sent(e1, "o_eth1", 30)              # and some more after it, over r1
            switch = get_step("srv6_policy").run(ctx, {"policy": "fast", "segments": ["r2", "r3", "e2.dx4"]})
            assert switch.measurements["segments"] == "r2 -> r3 -> e2.dx4"
            wait_sent(e1, "o_eth2", 50)              # now over r2
        finally:
            if flow.poll() is None:
                flow.send_signal(signal.SIGINT)
            flow.wait(timeout=60)
            mon.stop()
        out = open(log).read()
        sent, received = (int(x) for x in re.search(r"(\d+) packets transmitted, (\d+) received", out).groups())
        loss = mon.report()
        loss["sids"] = {k: v - sids0.get(k, 0) for k, v in monitor.sid_counters(st, routers).items()}
        assert loss["settled"]
        by = {l["link"]: l for l in loss["links"]}
        assert dropped >= 30
        assert by["r1:eth1 -> e2:eth1"]["lost"] == dropped
        assert [l["link"] for l in loss["links"] if l["lost"]] == ["r1:eth1 -> e2:eth1"]
        assert all(e["link"] == "r1:eth1 -> e2:eth1" for e in loss["events"]) and loss["events"]
        # before the switch the flow took r1, after it r2 -> r3: per-link counts
        fast = by["e1:eth1 -> r1:eth0"]["sent"]
        moved = by["e1:eth2 -> r2:eth0"]["sent"]
        assert by["r2:eth1 -> r3:eth0"]["sent"] == moved == by["r3:eth1 -> e2:eth2"]["sent"]
        assert fast >= 110 and moved >= 50 and fast + moved == sent
        assert by["e1:eth1 -> r1:eth0"]["intervals"][-1]["sent"] == 0   # nothing left on the old path
        assert sent - dropped - 1 <= received <= sent - dropped   # the last reply may be on its way at SIGINT
        # per SID (seg6local counters): r1's End forwarded what reached r1 (those the filter dropped
        # behind it are its errors), e2's End.DX4 decapsulated what reached h2
        sids = loss["sids"]
        assert sids["r1"] == by["e1:eth1 -> r1:eth0"]["received"] - dropped
        assert sids["e2.dx4"] == sent - dropped == by["e2:eth0 -> h2:eth0"]["received"]
        assert sids["r3"] >= moved and sids["e1.dx4"] == by["e1:eth0 -> h1:eth0"]["received"]
        # a decoy lab's namespace, named like ours, with our table and qdisc: untouched
        out = subprocess.run(["ip", "netns", "exec", decoy, "nft", "-j", "list", "table", "netdev", "emulator_mon"],
                             capture_output=True, text=True).stdout
        assert '"packets": 7' in out
    finally:
        api.destroy(lab_name)
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"emu-{lab_name}.")]
    assert not os.path.exists(state.lab_dir(lab_name))
    assert decoy in os.listdir("/run/netns")   # destroy left the decoy lab's namespace alone


@pytest.mark.integration
def test_the_kernel_probe_runs_in_a_throwaway_namespace():
    before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    routes.probe.cache_clear()
    assert routes.probe("End") == (True, "")
    assert routes.probe("encap") == (True, "")
    ok, why = routes.probe("End.DT4")   # needs a VRF device: this kernel has none (CONFIG_NET_VRF off)
    if not ok:
        assert why
    after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert after - before == set()


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_shipped_scenario_names_the_link_and_recovers(tmp_path, lab_name):
    text = open(TOPO).read()
    (tmp_path / "topo.yaml").write_text(text.replace("\nname: srv6-te\n", f"\nname: {lab_name}\n"))
    sc = open(os.path.join(ROOT, "scenarios", "srv6-te.yaml")).read()
    (tmp_path / "sc.yaml").write_text(sc.replace("topology: ../topologies/srv6-te.yaml", "topology: topo.yaml"))
    out = tmp_path / "res"
    r = subprocess.run([sys.executable, "-m", "emulator", "run", str(tmp_path / "sc.yaml"), "--results", str(out)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads((out / "results.json").read_text())
    steps = {s["type"]: s["measurements"] for s in res["runs"][0]["steps"]}
    assert steps["link_monitor"]["loss_links"] == "r1:eth1 -> e2:eth1"
    assert steps["link_monitor"]["lost_total"] == steps["link_fault"]["dropped"] > 0
    assert steps["srv6_policy"]["segments"] == "r2 -> r3 -> e2.dx4"
    assert "r1:eth1 -> e2:eth1" in (out / "summary.md").read_text()


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_deploy_refuses_a_behaviour_this_kernel_lacks_before_anything_exists(tmp_path, lab_name):
    routes.probe.cache_clear()
    if routes.probe("End.DT4")[0]:
        pytest.skip("this kernel has End.DT4 (VRF devices)")
    text = open(TOPO).read().replace("\nname: srv6-te\n", f"\nname: {lab_name}\n").replace(
        "sids: {dx4: {behaviour: End.DX4, nh: h2}}", "sids: {dx4: {behaviour: End.DX4, nh: h2}, dt4: {behaviour: End.DT4}}")
    p = tmp_path / "dt4.yaml"
    p.write_text(text)
    r = subprocess.run([sys.executable, "-m", "emulator", "deploy", str(p)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "End.DT4" in l)
    assert f"{p}:{line}:" in r.stderr and "nodes.e2.sids.dt4.behaviour" in r.stderr
    assert "cannot install SRv6 End.DT4" in r.stderr
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"emu-{lab_name}.")]
    assert not os.path.exists(state.lab_dir(lab_name))


V6 = """\
name: {lab}
nodes:
  h1: {kind: host, interfaces: {eth0: {ip: ["2001:db8:1::2/64"]}}, routes: [{to: "::/0", via: "2001:db8:1::1"}]}
  h2: {kind: host, interfaces: {eth0: {ip: ["2001:db8:2::2/64"]}}, routes: [{to: "::/0", via: "2001:db8:2::1"}]}
  e1: {kind: srv6-router, locator: "fc00:0:e1::/48", sids: {dx6: {behaviour: End.DX6, nh: h1}},
       interfaces: {eth0: {ip: ["2001:db8:1::1/64"]}}}
  e2: {kind: srv6-router, locator: "fc00:0:e2::/48", sids: {dt6: {behaviour: End.DT6}},
       interfaces: {eth0: {ip: ["2001:db8:2::1/64"]}}}
  r1: {kind: srv6-router, locator: "fc00:0:1::/48", sids: {x: {behaviour: End.X, nh: e1}}}
links: [[h1:eth0, e1:eth0], [h2:eth0, e2:eth0], [e1:eth1, r1:eth0], [r1:eth1, e2:eth1]]
srv6:
  policies:
    there: {headend: e1, to: "2001:db8:2::/64", segments: [r1, e2.dt6]}
    back: {headend: e2, to: "2001:db8:1::/64", segments: [r1.x, e1.dx6]}
"""


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_ipv6_payload_end_x_dt6_and_dx6(topo, lab_name):
    api.deploy(topo(V6))
    try:
        r = api.exec_in(lab_name, "h1", ["ping", "-6", "-c", "4", "-i", "0.2", "2001:db8:2::2"])
        assert r.returncode == 0 and " 0% packet loss" in r.stdout
        st = state.read_state(lab_name)
        with open(os.path.join(state.lab_dir(lab_name), "srv6.json")) as f:
            counts = monitor.sid_counters(st, json.load(f)["routers"])
        # requests: r1's End, then e2's End.DT6; replies: r1's End.X (to e1), then e1's End.DX6
        assert counts["r1"] == counts["e2.dt6"] == 4 and counts["r1.x"] == counts["e1.dx6"] == 4
        assert counts["e1"] == counts["e2"] == 0
    finally:
        api.destroy(lab_name)


@pytest.mark.parametrize("src,words", [("nowhere", "from names 'nowhere', which is neither a node nor a network "
                                                    "service"),
                                        ("e1", "from is the headend 'e1' itself")])
def test_a_policy_from_a_node_is_checked_and_located(src, words):
    issues = _issues(**{"to: 10.2.0.0/24,": f"to: 10.2.0.0/24, from: {src},"})
    i = next(i for i in issues if i.path == ("srv6", "policies", "p", "from"))
    assert words in i.message and i.file == "s6.yaml" and i.line == 18


def test_a_policy_from_a_node_plans_a_rule_and_a_table_of_its_own():
    c = _compile(**{"to: 10.2.0.0/24,": "to: 10.2.0.0/24, from: h1,"})
    described = "\n".join(a.describe() for a in c.actions)
    assert "[emu-s6.e1] ip route add 10.2.0.0/24 encap seg6 mode encap segs fc00:0:1::1,fc00:0:e2::100 dev eth1 " \
        "table 6000" in described
    assert "[emu-s6.e1] ip -4 rule add from 10.1.0.2/32 to 10.2.0.0/24 table 6000 pref 6000" in described


FROM = """\
name: {lab}
nodes:
  h1: {kind: host, interfaces: {eth0: {ip: [10.1.0.2/24]}}, routes: [{to: default, via: 10.1.0.1}]}
  h3: {kind: host, interfaces: {eth0: {ip: [10.3.0.2/24]}}, routes: [{to: default, via: 10.3.0.1}]}
  h2: {kind: host, interfaces: {eth0: {ip: [10.2.0.2/24]}}, routes: [{to: default, via: 10.2.0.1}]}
  e1:
    kind: srv6-router
    locator: "fc00:0:e1::/48"
    sids: {dx1: {behaviour: End.DX4, nh: h1}, dx3: {behaviour: End.DX4, nh: h3}}
    interfaces: {eth0: {ip: [10.1.0.1/24]}, eth2: {ip: [10.3.0.1/24]}}
  e2: {kind: srv6-router, locator: "fc00:0:e2::/48", sids: {dx4: {behaviour: End.DX4, nh: h2}},
       interfaces: {eth0: {ip: [10.2.0.1/24]}}}
  r1: {kind: srv6-router, locator: "fc00:0:1::/48"}
links: [[h1:eth0, e1:eth0], [h3:eth0, e1:eth2], [h2:eth0, e2:eth0], [e1:eth1, r1:eth0], [r1:eth1, e2:eth1]]
srv6:
  policies:
    only-h1: {headend: e1, to: 10.2.0.0/24, from: h1, segments: [r1, e2.dx4]}
    back1: {headend: e2, to: 10.1.0.0/24, segments: [r1, e1.dx1]}
    back3: {headend: e2, to: 10.3.0.0/24, segments: [r1, e1.dx3]}
"""


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_a_policy_from_a_node_steers_that_nodes_traffic_only(topo, lab_name):
    api.deploy(topo(FROM))
    try:
        st = state.read_state(lab_name)
        with open(os.path.join(state.lab_dir(lab_name), "srv6.json")) as f:
            routers = json.load(f)["routers"]
        c0 = monitor.sid_counters(st, routers)
        r = api.exec_in(lab_name, "h1", ["ping", "-c", "4", "-i", "0.2", "-W", "2", "10.2.0.2"])
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout
        c1 = monitor.sid_counters(st, routers)
        assert c1["e2.dx4"] - c0["e2.dx4"] == 4 and c1["e1.dx1"] - c0["e1.dx1"] == 4   # steered, both ways
        # h3's traffic to the same prefix is not steered: e1's main table has no route to it
        r = api.exec_in(lab_name, "h3", ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.2.0.2"])
        assert r.returncode != 0
        c2 = monitor.sid_counters(st, routers)
        assert c2["e2.dx4"] == c1["e2.dx4"] and c2["r1"] == c1["r1"] and c2["e1.dx3"] == c1["e1.dx3"]
        rules = hostcmd.run(["ip", "-4", "rule"], netns=st["nodes"]["e1"]["netns"]).stdout
        assert "from 10.1.0.2 to 10.2.0.0/24 lookup 6000" in rules
    finally:
        api.destroy(lab_name)


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_inspect_and_the_web_ui_show_live_per_link_loss(lab_name):
    import yaml
    from webui import lab_view
    st = _deploy(lab_name)
    try:
        assert api.exec_in(lab_name, "h1", ["ping", "-c", "3", "-i", "0.2", "10.2.0.2"]).returncode == 0
        before = api.link_loss(st)
        assert before["e1:eth1 -> r1:eth0"]["sent"] >= 3 and not any(v["lost"] for v in before.values())
        end = st["nodes"]["r1"]["interfaces"]["eth1"]
        f = fault.DropFilter(end["netns"], end["device"])
        f.install()
        try:
            r = api.exec_in(lab_name, "h1", ["ping", "-c", "5", "-i", "0.2", "-W", "1", "10.2.0.2"])
            assert r.returncode != 0
        finally:
            dropped = f.remove()
        assert dropped >= 5
        loss = api.link_loss(st)
        assert loss["r1:eth1 -> e2:eth1"]["lost"] == dropped
        assert not [k for k, v in loss.items() if v["lost"] and k != "r1:eth1 -> e2:eth1"]
        r = subprocess.run([sys.executable, "-m", "emulator", "inspect", lab_name], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rows = {c[0]: c[1:] for c in ([x.strip() for x in line.strip("|").split("|")]
                                      for line in r.stdout.split("Per-link loss")[1].splitlines() if " -> " in line)}
        assert rows["r1:eth1 -> e2:eth1"][2] == str(dropped) and rows["e1:eth1 -> r1:eth0"][2] == "-"
        assert [k for k, v in rows.items() if v[2] != "-"] == ["r1:eth1 -> e2:eth1"]
        with open(TOPO) as fh:
            drawing = yaml.safe_load(fh)
        live = lab_view._live(lab_name, drawing)
        lossy = {k: v["rate"] for k, v in live["links"].items() if "lost" in v["rate"]}
        assert list(lossy) == ["link-3"] and lossy["link-3"].endswith(f"{dropped} lost"), lossy  # [r1:eth1, e2:eth1]
    finally:
        api.destroy(lab_name)

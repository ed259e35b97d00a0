"""Loss from a link taken down for a moment (link_fault mode: down): both ends go down, come back,
and every address and route the kernel removed with them (IPv6 link addresses, SRv6 locator
routes, seg6local SIDs and seg6 policy routes through them, static routes) is put back; the link
monitor finds the packets lost on that link and only there; the policy's flow runs over it again."""
import functools
import os
import re
import signal

import pytest

from emulator import lab as api
from emulator.backends.srv6 import monitor
from emulator.core.loader import load_file
from emulator.deploy import hostcmd, state
from emulator.scenario.steps import RunContext, get as get_step

from test_srv6 import wait_counted

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOPO = os.path.join(ROOT, "topologies", "srv6-te.yaml")


def _routes(netns: str) -> str:
    """What the kernel removes with a device: every route of every table but its own, the addresses."""
    out = []
    for argv in (["ip", "-6", "route", "show", "table", "all"], ["ip", "-4", "route", "show", "table", "all"],
                 ["ip", "-6", "-o", "addr", "show"]):
        out += [line for line in hostcmd.run(argv, netns=netns).stdout.splitlines()
                if " proto kernel" not in line and not line.startswith(("local ", "multicast ", "broadcast "))]
    return "\n".join(sorted(re.sub(r"(valid_lft|preferred_lft) \S+", "", line) for line in out))


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_link_down_puts_everything_back_and_the_monitor_finds_the_loss_there_only(lab_name, tmp_path):
    src = load_file(TOPO)
    src.data["name"] = lab_name
    st = api.deploy(src)
    try:
        ctx = RunContext(lab=lab_name, state=state.read_state(lab_name), artifacts_dir=str(tmp_path))
        r1, e2 = (st["nodes"][n]["netns"] for n in ("r1", "e2"))
        before = {ns: _routes(ns) for ns in (r1, e2)}
        assert "fc00:0:e2::/48 via" in before[r1] and "fd00:5:" in before[r1]   # what goes with r1:eth1

        mon = monitor.Monitor(monitor.ends_of(st), 0.5)
        mon.start()
        log = str(tmp_path / "flow.log")
        flow = hostcmd.start(["ping", "-n", "-q", "-c", "6000", "-i", "0.01", "10.2.0.2"],
                             netns=st["nodes"]["h1"]["netns"], log=log)

        wait_sent = functools.partial(wait_counted, flow)

        try:
            wait_sent(r1, "o_eth1", 50)              # the flow runs over r1:eth1 (policy fast)
            res = get_step("link_fault").run(ctx, {"endpoint": "r1:eth1", "mode": "down", "packets": 30})
            rx0 = monitor.read(e2).get("i_eth1", 0)
            wait_sent(r1, "o_eth1", 50)              # and over it again once the link is back,
            back = monitor.read(e2).get("i_eth1", 0) - rx0   # received at its far end
        finally:
            if flow.poll() is None:
                flow.send_signal(signal.SIGINT)      # ping's summary (the flow spans the fault, however slow)
            flow.wait(timeout=120)
            mon.stop()
        m = res.measurements
        assert m["link"] == "r1:eth1 -- e2:eth1" and m["dropped"] >= 30 and m["restored"] >= 4
        after = {ns: _routes(ns) for ns in (r1, e2)}
        assert after == before                       # every address and route came back as it was
        sent, received = (int(x) for x in re.search(r"(\d+) packets transmitted, (\d+) received",
                                                    open(log).read()).groups())
        rep = mon.report()
        by = {l["link"]: l for l in rep["links"]}
        assert [l["link"] for l in rep["links"] if l["lost"]] == ["r1:eth1 -> e2:eth1"]
        # the monitor counts what found no route at r1 while the link was down (the fault's count) and
        # what was on the link when it went down; the flow lost that, and maybe a few packets more that
        # waited for r1 to find e2's link address again (the neighbour queue: counted nowhere), and
        # SIGINT may leave its last reply on its way
        lost = by["r1:eth1 -> e2:eth1"]["lost"]
        assert m["dropped"] <= lost <= sent - received + 1 and sent - received - m["dropped"] <= 5
        assert any(r.get("down") for r in by["r1:eth1 -> e2:eth1"]["intervals"])
        assert all(e["link"] == "r1:eth1 -> e2:eth1" and e.get("down") for e in rep["events"])
        assert back >= 50   # after the link came back, the policy's traffic crossed it
        r = api.exec_in(lab_name, "h1", ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.2"])
        assert r.returncode == 0, r.stdout
    finally:
        api.destroy(lab_name)
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"emu-{lab_name}.")]


def test_a_loss_share_with_mode_down_is_located(tmp_path):
    from emulator.errors import TopologyError
    from emulator.scenario import spec
    p = tmp_path / "s.yaml"
    p.write_text(f"name: s\ntopology: {TOPO}\nsteps:\n"
                 "  - link_fault: {endpoint: r1:eth1, mode: down, loss: 50%}\n")
    with pytest.raises(TopologyError) as e:
        spec.load(str(p))
    (i,) = e.value.issues
    assert i.path == ("steps", 0, "link_fault", "loss") and i.line == 4
    assert "a link that is down loses all" in i.message


def test_the_report_marks_intervals_and_events_of_a_link_down():
    from emulator.report.markdown import summary_markdown
    rows = [{"t": 1.0, "sent": 5, "received": 5, "lost": 0}, {"t": 2.0, "sent": 0, "received": 0, "lost": 9,
                                                                "down": True}]
    ll = {"interval_s": 1.0, "links": [{"link": "a:eth0 -> b:eth0", "sent": 5, "received": 5, "lost": 9,
                                        "intervals": rows}],
          "events": [{"link": "a:eth0 -> b:eth0", "t": 2.0, "lost": 9, "down": True}]}
    res = {"name": "x", "status": "passed", "runs": [{"id": "r1", "status": "passed", "steps": [
        {"name": "mon", "type": "link_monitor", "status": "passed", "measurements": {"link_loss": ll}}]}]}
    md = summary_markdown(res)
    assert "| a:eth0 -> b:eth0 | 5 | 5 | 9 | 5/5 | 0/0 **-9** (down) |" in md
    assert "a:eth0 -> b:eth0 at t=2.0 s: 9 lost (link down)." in md

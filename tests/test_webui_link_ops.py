"""The web UI's link menu and Inspect tab without a browser: real labs (root) for link down/up,
bandwidth and a capture; the planned view (automatic addresses) from compiling the drawing."""
import os

import pytest

pytest.importorskip("dash")
pytest.importorskip("dash_cytoscape")

from emulator import lab as api  # noqa: E402
from emulator.errors import EmulatorError, UsageError  # noqa: E402
from webui import inspect_tab, link_ops, model  # noqa: E402
from webui.app import create_app  # noqa: E402

TWO = """\
name: {lab}
nodes: {a: {kind: host}, b: {kind: host}}
links: [[a, b]]
"""


def test_planned_view_shows_the_automatic_addresses_before_deploy():
    t = model.from_yaml("name: x\nnodes: {h1: {kind: host, routes: [{to: default, via: r1}]}, r1: {kind: router}}\n"
                        "links: [[h1, r1]]\n")
    info = inspect_tab.planned(t, "h1")
    assert info["interfaces"] == [{"name": "eth0", "addresses": ["10.255.0.1/30"], "peer": "r1:eth0"}]
    assert info["routes"] == ["0.0.0.0/0 via 10.255.0.2"]   # `via: r1` resolved to r1's address
    assert inspect_tab.planned(t, "nosuch") is None
    assert inspect_tab.planned({"name": "x", "nodes": {"a": {"kind": "no-such-kind"}}, "links": []}, "a") is None


def test_link_operations_refuse_what_is_not_a_link_of_the_lab():
    with pytest.raises(UsageError):
        link_ops.apply("x", "../../etc:passwd", "down")
    with pytest.raises(UsageError):
        link_ops._impairment("delay", "soon")
    assert link_ops._impairment("bandwidth", "10mbit") == {"bandwidth": 10_000_000}
    assert link_ops._impairment("clear", None) == {}
    with pytest.raises(UsageError, match="0 to"):
        link_ops.capture("x", "a:eth0", 999)


def test_capture_route_serves_only_this_servers_captures(tmp_path):
    client = create_app("t", 8050).server.test_client()
    assert client.get("/capture/999999.pcap", headers={"X-Emulator-Token": "t"}).status_code == 404


@pytest.mark.integration
@pytest.mark.usefixtures("clean_host")
def test_link_down_up_bandwidth_and_capture_on_a_running_lab(topo, lab_name):
    if os.geteuid() != 0:
        pytest.skip("deploying needs root")
    api.deploy(topo(TWO))
    try:
        assert api.ping(lab_name, "a", "10.255.0.2", count=1, timeout=2)
        msg, cid = link_ops.apply(lab_name, "a:eth0", "down")
        assert cid is None and "down" in msg
        assert not api.ping(lab_name, "a", "10.255.0.2", count=1, timeout=1)
        link_ops.apply(lab_name, "a:eth0", "up")
        assert api.ping(lab_name, "a", "10.255.0.2", count=2, timeout=2)
        if link_ops.can()["tbf"]:
            link_ops.apply(lab_name, "b:eth0", "bandwidth", "10mbit")
            assert api.get(lab_name)["links"][0]["impairment"] == {"bandwidth": 10_000_000}
            qd = api.exec_in(lab_name, "a", ["tc", "qdisc", "show", "dev", "eth0"]).stdout
            assert "tbf" in qd, qd
            link_ops.apply(lab_name, "a:eth0", "clear")
        # the live view reads the node's kernel: counters per direction
        info = inspect_tab.live(lab_name, "a")
        eth0 = next(i for i in info["interfaces"] if i["name"] == "eth0")
        assert eth0["state"] == "UP" and eth0["addresses"] == ["10.255.0.1/30"] and eth0["tx"][0] > 0
        # a capture while pinging: the pcap holds the packets
        import threading
        import time
        def pings():
            time.sleep(0.5)
            for _ in range(4):
                api.ping(lab_name, "a", "10.255.0.2", count=1, timeout=1)
                time.sleep(0.2)
        t = threading.Thread(target=pings)
        t.start()
        msg, cid = link_ops.apply(lab_name, "b:eth0", "capture", "2")
        t.join()
        with open(link_ops.pcap_path(cid), "rb") as f:
            data = f.read()
        assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4") and len(data) > 24 + 16, len(data)
        with pytest.raises(EmulatorError):
            link_ops.apply(lab_name, "a:eth9", "down")
    finally:
        api.destroy(lab_name)

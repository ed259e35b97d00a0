"""The Mininet and containerlab corpus deploys and passes pingall; the Python API and the verbs."""
import os
import subprocess

import pytest

from emulator import cli
from emulator import lab as api
from emulator.formats import generated, load_file, mininet
from emulator.net import Net, Topo, pingall

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clean_host")]
DATA = os.path.join(os.path.dirname(__file__), "data", "formats")


def deploy_and_pingall(src):
    st = api.deploy(src)
    try:
        m = pingall(st["name"])
        assert m["pairs"] > 0 and m["loss_pct"] == 0, m["failed"]
        return st, m
    finally:
        api.destroy(st["name"])


@pytest.mark.parametrize("custom,spec", [
    ("mn_two_switches.py", "twosw,bw=10"), ("mn_router.py", "router"), ("mn_ring.py", "ring"),
    ("mn_ovs_extras.py", "extras"),
])
def test_mininet_custom_files_deploy_and_pingall(lab_name, custom, spec):
    st, m = deploy_and_pingall(mininet.load(spec, os.path.join(DATA, custom), lab_name))
    assert m["reachable"] == m["pairs"]


@pytest.mark.parametrize("spec", ["minimal", "reversed,3", "torus,3,3"])
def test_mininet_shapes_deploy_and_pingall(lab_name, spec):
    deploy_and_pingall(generated(spec, name=lab_name))


@pytest.mark.parametrize("f,pairs", [("linux-pair.clab.yml", 2), ("bridge-lan.clab.yml", 6)])
def test_containerlab_files_deploy_and_pingall(lab_name, f, pairs):
    st, m = deploy_and_pingall(load_file(os.path.join(DATA, f), lab_name))
    assert m["pairs"] == pairs   # linux-pair: the addresses its exec commands gave


def test_pingall_and_iperf_verbs(lab_name, capsys):
    assert cli.main(["deploy", "--topo", "minimal", "--name", lab_name]) == 0
    try:
        capsys.readouterr()
        assert cli.main(["pingall", lab_name]) == 0
        out = capsys.readouterr().out
        assert "h1 -> h2" in out and "0% dropped (2/2 received)" in out
        assert cli.main(["iperf", lab_name, "h1", "h2", "-t", "1"]) == 0
        assert "bit/s" in capsys.readouterr().out
        api.exec_in(lab_name, "h2", ["ip", "link", "set", "eth0", "down"])
        assert cli.main(["pingall", lab_name]) == 1
        assert "h1 -> X" in capsys.readouterr().out
    finally:
        assert cli.main(["destroy", lab_name]) == 0


def test_python_api_context_manager(lab_name):
    t = Topo(lab_name)
    t.addHost("h1", ip="10.31.0.1/24")
    t.addHost("h2", ip="10.31.0.2/24")
    t.addSwitch("s1")
    t.addLink("h1", "s1", bw=100)
    t.addLink("h2", "s1")
    with Net(t) as net:
        assert "10.31.0.1/24" in net["h1"].cmd("ip -br addr show eth0")
        assert net["h2"].IP() == "10.31.0.2"
        assert net.pingall() == 0.0
        assert "1 received" in net["h1"].cmd(["ping", "-c1", "-W2", net["h2"].IP()])
    assert lab_name not in [s["name"] for s in api.labs()]


def test_containerlab_host_link(lab_name, tmp_path):
    host_if = f"c{lab_name}"[:15]
    text = open(os.path.join(DATA, "host-link.clab.yml")).read().replace("HOSTIF", host_if)
    f = tmp_path / "host-link.clab.yml"
    f.write_text(text)
    st = api.deploy(load_file(str(f), lab_name))
    try:
        assert os.path.exists(f"/sys/class/net/{host_if}")   # the host's end, in the host's namespace
        subprocess.run(["ip", "addr", "add", "203.0.113.62/30", "dev", host_if], check=True)
        assert api.exec_in(lab_name, "n1", ["ping", "-c1", "-W2", "203.0.113.62"]).ok
    finally:
        api.destroy(st["name"])
    assert not os.path.exists(f"/sys/class/net/{host_if}")

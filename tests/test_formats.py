"""Mininet custom files and shapes, containerlab files, the Python API: conversion and errors (no root)."""
import os
import textwrap

import pytest

from emulator import cli
from emulator import lab as api
from emulator.core.loader import load_file
from emulator.errors import TopologyError, UsageError
from emulator.formats import convert, generated, mininet, notes

DATA = os.path.join(os.path.dirname(__file__), "data", "formats")


def data(name):
    return os.path.join(DATA, name)


def compiled(src):
    return api.compile(src, check_host=False)


@pytest.mark.parametrize("spec,hosts,switches", [
    ("minimal", ["h1", "h2"], ["s1"]), ("single", ["h1", "h2"], ["s1"]), ("single,k=3", ["h1", "h2", "h3"], ["s1"]),
    ("reversed,2", ["h1", "h2"], ["s1"]), ("linear,2,2", ["h1s1", "h1s2", "h2s1", "h2s2"], ["s1", "s2"]),
    ("tree,2", ["h1", "h2", "h3", "h4"], ["s1", "s2", "s3"]),
    ("torus,3,3", [f"h{i}x{j}" for i in (1, 2, 3) for j in (1, 2, 3)], [f"s{i}x{j}" for i in (1, 2, 3) for j in (1, 2, 3)]),
])
def test_mininet_shapes_have_mininets_names_and_addresses(spec, hosts, switches):
    c = compiled(generated(spec))
    assert sorted(n for n, v in c.lab.nodes.items() if v.kind == "host") == sorted(hosts)
    assert sorted(n for n, v in c.lab.nodes.items() if v.kind == "bridge") == sorted(switches)
    for i, h in enumerate(sorted(hosts, key=lambda s: [int(x) if x.isdigit() else x for x in __import__("re").split(r"(\d+)", s)]), 1):
        assert c.lab.nodes[h].interfaces["eth0"].addresses == [f"10.0.0.{i}/8"]


def test_torus_is_a_loop_given_stp_with_a_note():
    src = generated("torus,3,3")
    assert all(n.get("stp") for n in src.data["nodes"].values() if n["kind"] == "bridge")
    assert any("loop" in n.message for n in notes(src))
    compiled(src)   # the validator refuses a bridge loop without stp


def test_reversed_numbers_ports_backwards():
    links = generated("reversed,2").data["links"]
    assert links == [{"endpoints": ["h1:eth0", "s1:eth2"]}, {"endpoints": ["h2:eth0", "s1:eth1"]}]


def test_own_generator_still_builds_its_shapes():
    assert generated("linear,3").file == "<--topo linear,3>"
    assert "addressing" not in generated("linear,3").data   # topo_gen, not Mininet's LinearTopo


def test_custom_file_topos_dict_args_and_kwargs():
    src = mininet.load("twosw,bw=10", data("mn_two_switches.py"))
    c = compiled(src)
    assert src.data["name"] == "twosw"
    assert c.lab.nodes["h3"].interfaces["eth0"].mac == "00:00:00:00:00:03"
    assert [l for l in src.data["links"] if l.get("bandwidth")] == [{"endpoints": ["s1:eth3", "s2:eth3"],
                                                                     "bandwidth": "10mbit"}]
    assert compiled(mininet.load("twosw_fast", data("mn_two_switches.py"))).lab.links[-1].impairment.bandwidth == 100_000_000
    # a Topo class of the file named on the command line, with a positional argument
    assert len(mininet.load("TwoSwitches,1", data("mn_two_switches.py")).data["nodes"]) == 4


def test_router_idiom():
    c = compiled(mininet.load("router", data("mn_router.py")))
    r0 = c.lab.nodes["r0"]
    assert r0.kind == "router"
    assert r0.interfaces["eth1"].addresses == ["192.168.1.1/24"]
    assert r0.interfaces["eth2"].addresses == ["172.16.0.1/12"]
    assert [(r.to, r.via) for r in c.lab.nodes["h1"].routes] == [("0.0.0.0/0", "192.168.1.1")]


def test_impairments_carried_over():
    src = mininet.load("impaired", data("mn_impaired.py"))
    assert src.data["links"][0] == {"endpoints": ["h1:eth0", "s1:eth1"], "bandwidth": "10mbit", "delay": "5ms",
                                    "jitter": "1ms", "loss": "1%"}
    imp = compiled(src).lab.links[0].impairment
    assert (imp.bandwidth, imp.delay, imp.jitter, imp.loss) == (10_000_000, 0.005, 0.001, 1.0)


def test_what_has_no_equivalent_is_a_warning_with_its_line(capsys):
    assert cli.main(["validate", "--custom", data("mn_ovs_extras.py"), "--topo", "extras"]) == 0
    err = capsys.readouterr().err
    f = data("mn_ovs_extras.py")
    for what in ("controller", "VLANHost", "cpu=0.5", "max_queue_size=100", "protocols="):
        assert what in err, what
    assert f"{f}:17:1: nodes.h2.cpu" in err   # the addHost line
    assert f"{f}:14:1: nodes.s1.protocols" in err
    src = mininet.load("extras", f)
    assert src.data["nodes"]["s1"]["kind"] == "ovs"


def test_custom_file_errors_name_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text(textwrap.dedent("""\
        from mininet.topo import Topo
        class T(Topo):
            def build(self):
                s = self.addSwitch('s1')
                self.addLink(self.addHost('h.1'), s)
        topos = {'t': T}
        """))
    with pytest.raises(TopologyError) as e:
        compiled(mininet.load("t", str(bad)))
    assert f"{bad}:5:1: nodes" in str(e.value)
    syntax = tmp_path / "syntax.py"
    syntax.write_text("from mininet.topo import Topo\ndef oops(:\n")
    assert cli.main(["validate", "--custom", str(syntax), "--topo", "x"]) == 2
    assert f"{syntax}:2:" in capsys.readouterr().err
    boom = tmp_path / "boom.py"
    boom.write_text("from mininet.topo import Topo\nclass B(Topo):\n    def build(self):\n        raise ValueError('no')\n"
                    "topos = {'b': B}\n")
    assert cli.main(["validate", "--custom", str(boom), "--topo", "b"]) == 2
    assert f"{boom}:4:" in capsys.readouterr().err
    assert cli.main(["validate", "--custom", str(boom), "--topo", "nope"]) == 2
    assert "known:" in capsys.readouterr().err
    assert cli.main(["validate", "--custom", str(boom)]) == 2
    with pytest.raises(UsageError):
        mininet.load("minimal,1,2,3")   # MinimalTopo takes no arguments


def test_containerlab_file_converted():
    src = convert(load_file(data("bridge-lan.clab.yml")))
    c = compiled(src)
    assert {n: v.kind for n, v in c.lab.nodes.items()} == {"br1": "bridge", "c1": "host", "c2": "host", "gw": "host"}
    assert c.lab.nodes["c1"].interfaces["eth1"].mac == "02:00:00:00:00:01"
    assert c.lab.nodes["gw"].interfaces["eth1"].addresses == ["10.20.0.254/24"]
    assert all(l.mtu == 1400 for l in c.lab.links)
    pair = convert(load_file(data("linux-pair.clab.yml")))
    assert pair.data["nodes"]["srv2"]["exec"][0][:3] == ["env", "PEER=192.168.10.1", "sh"]
    msgs = [n.format() for n in notes(pair)]
    assert any("mgmt" in m and "linux-pair.clab.yml:3:" in m for m in msgs)
    assert any("srv2: image, binds need a container runtime" in m for m in msgs)


@pytest.mark.parametrize("body,where,says", [
    ("name: x\ntopology:\n  nodes:\n    a: {kind: linux, colour: red}\n", ":4:", "unknown containerlab node field"),
    ("name: x\ntopology:\n  nodes:\n    a: {kind: nokia_srlinux}\n", ":4:", "container image"),
    ("name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n    - endpoints: [a:eth1, mgmt-net:x]\n",
     ":6:", "mgmt-net: endpoints"),
    ("name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n    - {type: macvlan, endpoint: {node: a, interface: eth1}}\n",
     ":6:", "a macvlan link needs the host's interface name"),
    ("name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n    - {type: vxlan, endpoint: {node: a, interface: eth1}}\n",
     ":6:", "link type 'vxlan' is not supported"),
    ("name: x\ntopology: [a]\n", ":2:", "topology: must be a mapping"),
    ("name: x\ntopology:\n  nodez: {}\n", ":3:", "unknown containerlab field"),
])
def test_containerlab_errors_say_containerlab_with_line(tmp_path, capsys, body, where, says):
    f = tmp_path / "bad.clab.yml"
    f.write_text(body)
    assert cli.main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "containerlab topology" in err and f"{f}{where}" in err and says in err, err


def test_python_api_topology_is_validated_at_the_calling_line():
    from emulator.net import Topo
    t = Topo("pyapi")
    t.addHost("h1", ip="10.9.0.1/24")
    t.addSwitch("s1")
    t.addLink("h1", "s1")
    t.addLink("h1:eth0", "nowhere")   # the line the error names
    line = t.values[("links", 1)][0]
    with pytest.raises(TopologyError) as e:
        compiled(t.source())
    assert f"{__file__}:{line}:" in str(e.value)


def test_containerlab_host_and_macvlan_links_are_single_ended(tmp_path):
    f = tmp_path / "single.clab.yml"
    f.write_text("name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n  links:\n"
                 "    - endpoints: [a:eth1, host:veth-a]\n      mtu: 1400\n"
                 "    - {type: macvlan, endpoint: {node: a, interface: eth2, mac: '02:00:00:00:00:02'},"
                 " host-interface: enp3s0, mode: private}\n"
                 "    - {type: host, endpoint: {node: a, interface: eth3, ipv4: 192.0.2.1/24}, host-interface: veth-b}\n")
    src = convert(load_file(str(f)))
    assert src.data["links"] == [
        {"type": "host-veth", "endpoint": {"node": "a", "interface": "eth1"}, "host-interface": "veth-a", "mtu": 1400},
        {"type": "macvlan", "endpoint": {"node": "a", "interface": "eth2", "mac": "02:00:00:00:00:02"},
         "host-interface": "enp3s0", "mode": "private"},
        {"type": "host-veth", "endpoint": {"node": "a", "interface": "eth3", "ip": ["192.0.2.1/24"]},
         "host-interface": "veth-b"}]
    c = compiled(src)
    assert c.lab.nodes["a"].interfaces["eth3"].addresses == ["192.0.2.1/24"]


def test_mininet_private_dirs_carried_over(tmp_path):
    f = tmp_path / "priv.py"
    f.write_text("from mininet.topo import Topo\nclass P(Topo):\n    def build(self):\n"
                 f"        s = self.addSwitch('s1')\n"
                 f"        self.addLink(self.addHost('h1', privateDirs=['{tmp_path}']), s)\n"
                 f"        self.addLink(self.addHost('h2', privateDirs=[('{tmp_path}', '/srv/x')]), s)\n"
                 "topos = {'p': P}\n")
    src = mininet.load("p", str(f))
    assert src.data["nodes"]["h1"]["private_dirs"] == [str(tmp_path)]
    assert src.data["nodes"]["h2"]["private_dirs"] == [str(tmp_path)]
    assert any("h2: privateDirs" in n.message and n.line == 6 for n in notes(src))
    compiled(src)

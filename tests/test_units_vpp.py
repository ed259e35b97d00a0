"""vpp nodes without running VPP: the generated startup.conf and CLI, link-type checks, finding VPP."""
import os

import pytest

from emulator import names
from emulator.backends.vpp import config, find, live
from emulator.backends.vpp.instance import StartVpp, rejected
from emulator.backends.vpp.driver import RequireVpp
from emulator.errors import EnvironmentProblem, TopologyError

from conftest import compile_text

ROUTER = """
name: vu
nodes:
  h1: {kind: host, interfaces: {eth0: {ip: [10.0.1.2/24]}}}
  h2: {kind: host, interfaces: {eth0: {ip: [10.0.2.2/24]}}}
  r1:
    kind: vpp
    interfaces: {eth0: {ip: [10.0.1.1/24]}, eth1: {ip: [10.0.2.1/24]}}
    routes: [{to: 10.9.0.0/16, via: 10.0.2.2}]
    acl: {allow: [icmp, tcp/5201-5210]}
links:
  - [h1:eth0, r1:eth0]
  - [h2:eth0, r1:eth1]
"""


def _start(c, node) -> StartVpp:
    return next(a for a in c.actions if isinstance(a, StartVpp) and a.node == node)


def test_router_commands_name_their_lines():
    c = compile_text(ROUTER)
    a = _start(c, "r1")
    cmds = [cmd for cmd, _w in a.commands]
    assert cmds[:2] == ["create host-interface name eth0", "create host-interface name eth1"]
    assert "set interface ip address host-eth0 10.0.1.1/24" in cmds
    assert "ip route add 10.9.0.0/16 via 10.0.2.2" in cmds
    acl = next(cmd for cmd in cmds if cmd.startswith("set acl-plugin acl "))
    assert "permit proto 1" in acl and "permit proto 6 dport 5201-5210" in acl
    assert "permit proto 6 sport 5201-5210" in acl
    assert acl.endswith("deny tag emulator")
    assert cmds[-2:] == ["set interface state host-eth0 up", "set interface state host-eth1 up"]
    where = dict(a.commands)
    assert where["ip route add 10.9.0.0/16 via 10.0.2.2"] == "test.yaml:9"
    assert where["set interface ip address host-eth1 10.0.2.1/24"] == "test.yaml:8"
    assert a.ifmap == {"host-eth0": "eth0", "host-eth1": "eth1"}
    # refused before anything exists when VPP is missing: the check is a preflight action
    assert any(isinstance(x, RequireVpp) for x in c.actions)
    assert min(x.phase for x in c.actions if isinstance(x, RequireVpp)) < min(
        x.phase for x in c.actions if type(x).__name__ == "CreateNetns")


def test_startup_conf_is_the_nodes_own():
    c = compile_text(ROUTER)
    conf = _start(c, "r1").conf
    d = config.run_dir("vu", "r1")
    assert f"cli-listen {d}/cli.sock" in conf and f"socket-name {d}/api.sock" in conf
    assert f"socket-name {d}/stats.sock" in conf and f"log {d}/vpp.log" in conf
    assert f"prefix {names.vpp_prefix('vu', 'r1')}" in conf
    assert "page-size 4K" in conf and "main-heap-page-size 4K" in conf and "poll-sleep-usec 100" in conf
    assert "dpdk" not in conf and "/run/vpp" not in conf
    # two labs' nodes never share a prefix (lab a-b node c vs lab a node b-c)
    assert names.vpp_prefix("a-b", "c") != names.vpp_prefix("a", "b-c")


def test_xconnect_bridge_nsim_memif():
    c = compile_text("""
    name: vx
    nodes:
      a: {kind: host, interfaces: {eth0: {ip: [10.0.0.1/24]}}}
      x: {kind: vpp, mode: xconnect, nsim: {delay: 10ms, bandwidth: 100mbit, loss: 5%}}
      s: {kind: vpp, mode: bridge}
      b: {kind: host, interfaces: {eth0: {ip: [10.0.0.2/24]}}}
    links:
      - [a:eth0, x:eth0]
      - {endpoints: [x:eth1, s:eth0], type: memif}
      - [s:eth1, b:eth0]
    """)
    x = [cmd for cmd, _w in _start(c, "x").commands]
    assert "create memif socket id 2 filename " in x[1] and x[2] == "create interface memif id 0 socket-id 2 master"
    assert "set nsim delay 10 ms bandwidth 100 mbps packet-size 1500 drop-fraction 0.05" in x
    assert "nsim cross-connect enable-disable host-eth0 memif2/0" in x
    assert not any("l2 xconnect" in cmd for cmd in x)   # nsim's cross-connect joins them
    s = [cmd for cmd, _w in _start(c, "s").commands]
    assert "create interface memif id 0 socket-id 2 slave" in s
    assert "set interface l2 bridge memif2/0 1" in s and "set interface l2 bridge host-eth1 1" in s
    # the L2 ports get no pool address; the memif socket is the one a dpdk-app would use
    assert not c.lab.nodes["s"].interfaces["eth0"].addresses
    assert x[1].split("filename ")[1] == s[0].split("filename ")[1]


@pytest.mark.parametrize("text,where,msg", [
    ("""
    name: ve
    nodes:
      x: {kind: vpp, mode: xconnect}
      a: {kind: host}
    links: [[x:eth0, a:eth0]]
    """, "test.yaml:4", "mode xconnect joins exactly two interfaces; it has 1"),
    ("""
    name: ve
    nodes:
      x: {kind: vpp}
      b: {kind: bridge}
    links: [{endpoints: [x:eth0, b:p0], type: tap}]
    """, "test.yaml:6", "a tap link joins a vpp node to a host or router"),
    ("""
    name: ve
    nodes:
      x: {kind: vpp}
      b: {kind: bridge}
    links: [{endpoints: [x:eth0, b:p0], type: memif}]
    """, "test.yaml:6", "a memif link joins a server end (dpdk-app, vpp) and a client end (dpdk-app, vpp); "
                   "this one joins vpp 'x' and bridge 'b'"),
    ("""
    name: ve
    nodes:
      x: {kind: vpp, mode: bridge, interfaces: {eth0: {ip: [10.0.0.1/24]}}}
      a: {kind: host}
    links: [[x:eth0, a:eth0]]
    """, "test.yaml:4", "takes no addresses"),
    ("""
    name: ve
    nodes:
      x: {kind: vpp, acl: {allow: [tcp/http]}}
    """, "test.yaml:4", "acl"),
    ("""
    name: ve
    nodes:
      x: {kind: vpp, mode: xconnect,
          nsim: {delay: soon}}
    """, "test.yaml:5", "nsim"),
    ("""
    name: ve
    nodes:
      x: {kind: vpp, nsim: {delay: 1ms, loss: 100%}}
    """, "test.yaml:4", "nsim loss must be"),
])
def test_bad_vpp_topologies_are_located(text, where, msg):
    with pytest.raises(TopologyError) as e:
        compile_text(text)
    text = str(e.value)
    assert where in text and msg in text, text


def test_tap_falls_back_to_af_packet_and_says_so(monkeypatch):
    text = """
    name: vt
    nodes:
      x: {kind: vpp}
      h: {kind: host, interfaces: {eth0: {ip: [10.0.3.2/24]}}}
    links: [{endpoints: [x:eth0, h:eth0], type: tap}]
    """
    monkeypatch.setenv("EMULATOR_VHOST_NET", "0")
    c = compile_text(text)
    a = _start(c, "x")
    assert "create host-interface name eth0" in [cmd for cmd, _w in a.commands]
    assert "tap -> af_packet on a veth (/dev/vhost-net is missing)" in a.describe()
    assert any(type(x).__name__ == "CreateVeth" for x in c.actions)
    # the tap itself, as generated configuration: host side in the peer's namespace, its address
    x = c.lab.nodes["x"].interfaces["eth0"]
    assert config.tap_command(c.lab, x) == (f"create tap id 0 host-ns {names.node_netns('vt', 'h')} "
                                            "host-if-name eth0 host-ip4-addr 10.0.3.2/24")


def test_find_vpp(monkeypatch, tmp_path):
    monkeypatch.setenv(find.ENV, str(tmp_path))
    vpp, _ctl, why = find.locate()
    assert vpp is None and "bin/vpp" in why
    with pytest.raises(EnvironmentProblem) as e:
        find.require()
    assert e.value.exit_code == 3 and "apt-get install vpp" in str(e.value)
    (tmp_path / "bin").mkdir()
    for b in ("vpp", "vppctl"):
        (tmp_path / "bin" / b).write_text("#!/bin/sh\n")
        os.chmod(tmp_path / "bin" / b, 0o755)
    assert find.locate()[0] == str(tmp_path / "bin" / "vpp")
    monkeypatch.delenv(find.ENV)
    monkeypatch.setenv("PATH", str(tmp_path))   # no vpp on PATH
    assert find.missing() and "not on PATH" in find.missing()


def test_cli_errors_and_show_int_parsing():
    assert rejected("set interface state foo up", "set interface state: unknown interface `foo up'")
    assert rejected("bogus", "unknown input `bogus'")
    assert not rejected("create host-interface name eth0", "host-eth0")
    assert not rejected("set interface state host-eth0 up", "")
    table = live.parse_show_int(
        "              Name               Idx    State  MTU (L3/IP4/IP6/MPLS)     Counter          Count     \n"
        "host-eth0                         1      up          9000/0/0/0     rx packets                     5\n"
        "                                                                    rx bytes                     420\n"
        "                                                                    tx packets                     3\n"
        "                                                                    drops                          2\n"
        "local0                            0     down          0/0/0/0       \n")
    assert table["host-eth0"] == {"up": True, "stats": {"rx_packets": 5, "rx_bytes": 420, "tx_packets": 3, "drops": 2}}
    assert table["local0"]["up"] is False


def test_acl_takes_the_iptables_firewall_words():
    from emulator.backends.nsm.vnf import ALLOW
    from emulator.backends.vpp.driver import ACL_ALLOW
    assert ACL_ALLOW["items"]["pattern"] == ALLOW["items"]["pattern"]
    assert config.acl_rules(["all"]) == ["permit", "deny"]
    assert config.acl_rules(["udp"]) == ["permit proto 17", "deny"]


def test_stats_segment_vectors_sum_over_threads():
    # two threads, three interfaces (index 1 deleted: its name is empty), as VPPStats returns them
    names = ["local0", "", "host-eth0"]
    rx = [[(0, 0), (9, 900), (3, 294)], [(0, 0), (0, 0), (2, 196)]]
    tx = [[(0, 0), (0, 0), (1, 98)], [(0, 0), (0, 0), (4, 392)]]
    drops = [[0, 0, 1], [0, 0, 2]]
    out = live.counters_from(names, rx, tx, drops)
    assert set(out) == {"local0", "host-eth0"}
    assert out["host-eth0"] == {"rx_packets": 5, "rx_bytes": 490, "tx_packets": 5, "tx_bytes": 490, "drops": 3}
    assert live.api_dir("/opt/vpp/bin/vpp") == "/opt/vpp/share/vpp/api/core"


def test_vpp_papi_is_not_imported_by_registration():
    import subprocess
    import sys
    code = ("import sys\nfrom emulator import backends\nbackends.ensure_loaded()\n"
            "print('emulator.backends.vpp' in sys.modules, 'emulator.backends.vpp.driver' in sys.modules,\n"
            "      sorted(m for m in sys.modules if 'vpp_papi' in m))\n"
            "from emulator.core import drivers\ndrivers.get('vpp')\n"
            "print('emulator.backends.vpp.driver' in sys.modules, sorted(m for m in sys.modules if 'vpp_papi' in m))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    # the backend is registered without its driver; the driver comes with the first lookup of its kind;
    # vpp_papi with neither
    assert r.stdout.split("\n")[:2] == ["True False []", "True []"], r.stdout + r.stderr

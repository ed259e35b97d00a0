"""Single-ended links in the file: schema, resolve and plan (no root, nothing on the host)."""
from __future__ import annotations

import textwrap

import pytest

from emulator import lab as api
from emulator.core.loader import load_text
from emulator.errors import TopologyError


def compile_(text: str):
    return api.compile(load_text(textwrap.dedent(text), "t.yaml"), check_host=False)


def errors(text: str) -> str:
    with pytest.raises(TopologyError) as e:
        compile_(text)
    return str(e.value)


def test_endpoint_types_resolve_and_plan():
    c = compile_("""\
        name: pv
        nodes:
          r1: {kind: router}
          sw: {kind: bridge}
        links:
          - {type: host-device, endpoint: {node: r1, interface: up0, ip: [198.51.100.1/24]}, host-interface: enp3s0}
          - [r1:eth1, host:enp4s0]
          - {type: macvlan, endpoint: r1, host-interface: enp3s1}
          - {type: host-device, endpoint: sw, host-interface: enp5s0}
          - [sw, r1]
        """)
    lab = c.lab
    assert [(e.type, e.iface.key, e.host_interface) for e in lab.endpoints] == [
        ("host-device", "r1:up0", "enp3s0"), ("host-device", "r1:eth1", "enp4s0"),
        ("macvlan", "r1:eth0", "enp3s1"), ("host-device", "sw:eth1", "enp5s0")]
    r1 = lab.nodes["r1"]
    assert r1.interfaces["up0"].addresses == ["198.51.100.1/24"]
    assert r1.interfaces["eth1"].addresses == [] and r1.interfaces["eth0"].addresses == []  # no auto address
    assert r1.interfaces["eth2"].addresses      # the veth to the bridge still gets one
    # a moved device gets the planned ifindex, the node's side is planned as for any interface
    moves = [a for a in c.actions if type(a).__name__ == "MoveDevice"]
    assert [(m.host_device, m.netns, m.device, m.index) for m in moves] == [
        ("enp3s0", r1.netns, "up0", r1.interfaces["up0"].index),
        ("enp4s0", r1.netns, "eth1", r1.interfaces["eth1"].index),
        ("enp5s0", lab.fabric, lab.nodes["sw"].interfaces["eth1"].device, lab.nodes["sw"].interfaces["eth1"].index)]
    checks = [a for a in c.actions if type(a).__name__ == "Check"]
    assert len(checks) == 4 and all(a.phase < moves[0].phase for a in checks)   # preflight first
    st = api.lab_state(c, "x")
    assert st["nodes"]["r1"]["interfaces"]["eth1"]["peer"] == "host-device:enp4s0"


def test_errors_are_located_and_name_the_fix():
    msg = errors("""\
        name: pv
        nodes:
          r1: {kind: host}
        links:
          - {type: host-device, endpoint: r1, host-interface: ens1, mode: bridge}
          - {type: macvlan, endpoint: r1}
          - {type: host-veth, endpoint: r1, host-interface: averyveryverylongname}
          - {type: host-veth, endpoint: r1, host-interface: h1, host-ip: [10.0.0.1]}
        """)
    assert "t.yaml:5:" in msg and "unknown field 'mode' for type 'host-device'" in msg
    assert "t.yaml:6:" in msg and "missing required field 'host-interface'" in msg
    assert "t.yaml:7:" in msg and "longer than 15 characters" in msg


def test_a_device_serves_one_endpoint_and_shorthands_are_checked():
    msg = errors("""\
        name: pv
        nodes:
          r1: {kind: host}
          r2: {kind: host}
        links:
          - [r1:eth0, host:ens1]
          - {type: macvlan, endpoint: r2, host-interface: ens1}
          - {endpoints: [r1:eth1, host:ens2], bandwidth: 1gbit}
          - [host:ens3, host:ens4]
          - {type: host-veth, endpoint: r2, host-interface: h1, host-ip: [10.0.0.1]}
        """)
    assert "t.yaml:7:" in msg and "host device 'ens1' is already used by r1:eth0 (host-device)" in msg
    assert "the shorthand host:ens2 takes no bandwidth" in msg
    assert "the other end must be a node" in msg
    assert "'10.0.0.1' is not an address with prefix length" in msg


def test_a_node_named_host_keeps_its_meaning():
    c = compile_("""\
        name: pv
        nodes:
          r1: {kind: host}
          host: {kind: host}
        links:
          - [r1:eth0, host:eth0]
        """)
    assert not c.lab.endpoints and len(c.lab.links) == 1


def test_host_device_names_the_kernel_would_refuse_are_errors():
    msg = errors("""\
        name: pv
        nodes: {r1: {kind: host}}
        links:
          - {type: host-veth, endpoint: r1, host-interface: "a/b"}
          - {type: host-device, endpoint: r1, host-interface: ".."}
        """)
    assert "t.yaml:4:" in msg and "invalid value 'a/b'" in msg
    assert "t.yaml:5:" in msg and "invalid value '..'" in msg


def test_graph_shows_the_hosts_side():
    from emulator.core import graph
    c = compile_("""\
        name: pv
        nodes: {r1: {kind: host}}
        links: [[r1:eth1, host:enp4s0]]
        """)
    assert '"r1" -- "host-device:enp4s0"' in graph.to_dot(c.lab, c.graph)
    assert "eth1       -> host-device:enp4s0" in graph.to_text(c.lab, c.graph)
    import json
    assert json.loads(graph.to_json(c.lab, c.graph))["endpoints"][0]["host_interface"] == "enp4s0"

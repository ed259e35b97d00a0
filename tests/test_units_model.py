"""Unit tests of the input side: units, addressing, graph segments, resolve, topo_gen, schema, drivers.

Nothing here needs root or touches the host: compile(check_host=False) only computes.
"""
import ipaddress
import math
import textwrap
from pathlib import Path

import jsonschema
import pytest

from emulator.core import drivers, graph, schema
from emulator import lab, registry, topo_gen, units
from emulator.core.driver import Driver
from emulator.errors import TopologyError, UsageError
from emulator.core.loader import Source, load_text


def compile_text(text: str):
    return lab.compile(load_text(textwrap.dedent(text), "test.yaml"), check_host=False)


def addrs(c, key):
    node, _, ifname = key.partition(":")
    return c.lab.nodes[node].interfaces[ifname].addresses


def messages(text):
    with pytest.raises(TopologyError) as exc:
        compile_text(text)
    return [i.message for i in exc.value.issues]


# -- units ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, bits", [
    ("100mbit", 100_000_000), ("1gbit", 10**9), ("100Mbit", 10**8), ("10M", 10**7), ("2.5G", 2_500_000_000),
    ("64kbit", 64_000), ("1tbit", 10**12), ("100 mbit/s", 10**8), ("8bit", 8), (1_000_000, 1_000_000),
    (1e6, 1_000_000), (" 5mb/s ", 5_000_000),
])
def test_rate(value, bits):
    assert units.rate(value) == bits


@pytest.mark.parametrize("value, fragment", [
    ("100Mbps", "ambiguous"), ("1gbps", "ambiguous"), ("100 bps", "ambiguous"), ("fast", "not a rate"),
    ("100mb", "not a rate"), ("100MB", "not a rate"), ("-5mbit", "not a rate"), ("1e6", "not a rate"),
    ("", "not a rate"), (0, "positive"), (-1, "positive"), (True, "expected a rate"), ("4bit", "too small"),
    (5, "too small"), (float("inf"), "too large"), (float("nan"), "not a rate"), ("9" * 400 + "mbit", "too large"),
])
def test_rate_errors(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        units.rate(value)


@pytest.mark.parametrize("value, secs", [
    ("2ms", 0.002), ("100us", 0.0001), ("100µs", 0.0001), ("1s", 1.0), ("1.5s", 1.5), ("5", 0.005),
    (5, 0.005), (0, 0.0), (2.5, 0.0025), ("3600s", 3600.0), (" 10 MS ", 0.01),
])
def test_duration(value, secs):
    assert math.isclose(units.duration(value), secs)


@pytest.mark.parametrize("value, fragment", [
    ("10 msec", "not a duration"), ("1h", "not a duration"), ("-1ms", "not a duration"), ("fast", "not a duration"),
    (True, "expected a duration"), (-1, "out of range"), ("3601s", "out of range"), (float("nan"), "out of range"),
    (float("inf"), "out of range"),
])
def test_duration_errors(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        units.duration(value)


@pytest.mark.parametrize("value, pct", [("0.1%", 0.1), ("100%", 100.0), ("0%", 0.0), (0.5, 0.5), (3, 3.0),
                                        ("7", 7.0), (" 2.5 % ", 2.5)])
def test_percent(value, pct):
    assert units.percent(value) == pct


@pytest.mark.parametrize("value, fragment", [("150%", "between"), (101, "between"), (-1, "between"),
                                             ("-1%", "not a percentage"), ("1%%", "not a percentage"),
                                             ("lots", "not a percentage"), (False, "expected a percentage"),
                                             (float("nan"), "between")])
def test_percent_errors(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        units.percent(value)


def test_tc_formatting():
    assert units.tc_rate(units.rate("100mbit")) == "100000000bit"
    assert units.tc_time(units.duration("2ms")) == "2000us"
    assert units.human_rate(2.5e9) == "2.50 Gbit/s" and units.human_rate(999) == "999 bit/s"


# -- addressing -----------------------------------------------------------------------------------


def test_p2p_links_get_consecutive_30s():
    c = compile_text("""
        name: x
        nodes: {a: {kind: host}, b: {kind: router}, d: {kind: host}}
        links: [[a, b], [b, d]]
    """)
    assert addrs(c, "a:eth0") == ["10.255.0.1/30"] and addrs(c, "b:eth0") == ["10.255.0.2/30"]
    assert addrs(c, "b:eth1") == ["10.255.0.5/30"] and addrs(c, "d:eth0") == ["10.255.0.6/30"]


def test_allocation_is_deterministic():
    text = "name: x\nnodes: {s: {kind: bridge}, h1: {kind: host}, h2: {kind: host}, h3: {kind: host}}\n" \
           "links: [[h1, s], [h2, s], [h1, h3]]\n"
    runs = [{i.key: i.addresses for i in compile_text(text).lab.interfaces()} for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0]["h1:eth0"] == ["10.0.0.1/24"] and runs[0]["h1:eth1"] == ["10.255.0.1/30"]


def test_lan_is_sized_to_the_segment():
    c = lab.compile(topo_gen.generate("single,1000"), check_host=False)
    assert addrs(c, "h1:eth0") == ["10.0.0.1/22"]
    assert addrs(c, "h1000:eth0") == ["10.0.3.232/22"]
    small = lab.compile(topo_gen.generate("single,3"), check_host=False)
    assert addrs(small, "h3:eth0") == ["10.0.0.3/24"]  # at least a /24
    c = lab.compile(topo_gen.generate("single,254"), check_host=False)
    assert addrs(c, "h254:eth0") == ["10.0.0.254/24"]  # exactly fills a /24
    c = lab.compile(topo_gen.generate("single,255"), check_host=False)
    assert addrs(c, "h255:eth0") == ["10.0.0.255/23"]  # one more needs a /23


def test_pool_skips_prefixes_that_overlap_explicit_addresses():
    c = compile_text("""
        name: x
        nodes:
          s1: {kind: bridge}
          s2: {kind: bridge}
          a: {kind: host, ip: [10.0.0.77/25]}
          b: {kind: host}
          d: {kind: host}
          e: {kind: host, ip: [10.255.0.2/30]}
          f: {kind: host}
          g: {kind: host}
        links: [[a, s1], [b, s2], [d, s2], [e, f], [g, d]]
    """)
    assert addrs(c, "b:eth0") == ["10.0.1.1/24"]  # 10.0.0.0/24 overlaps a's 10.0.0.0/25
    assert addrs(c, "f:eth0") == ["10.255.0.1/30"]  # the explicit subnet's free address
    assert addrs(c, "g:eth0") == ["10.255.0.5/30"]  # the next /30: 10.255.0.0/30 is taken


def test_overlapping_pools_do_not_hand_out_overlapping_prefixes():
    c = compile_text("""
        name: x
        addressing: {lan: 10.0.0.0/16, p2p: 10.0.0.0/16}
        nodes: {h1: {kind: host}, h2: {kind: host}, h3: {kind: host}, s: {kind: bridge}}
        links: [[h1, h2], [h1, s], [h3, s]]
    """)
    nets = [ipaddress.ip_interface(a).network for i in c.lab.interfaces() for a in i.addresses]
    distinct = set(nets)
    assert len(distinct) == 2
    a, b = distinct
    assert not a.overlaps(b)


def test_explicit_31_is_filled_not_replaced():
    c = compile_text("""
        name: x
        nodes: {a: {kind: host, ip: [10.9.0.0/31]}, b: {kind: host}}
        links: [[a, b]]
    """)
    assert addrs(c, "b:eth0") == ["10.9.0.1/31"]


def test_full_explicit_subnet_is_reported():
    msgs = messages("""
        name: x
        nodes: {s: {kind: bridge}, a: {kind: host, ip: [10.0.0.1/30]}, b: {kind: host, ip: [10.0.0.2/30]},
                d: {kind: host}}
        links: [[a, s], [b, s], [d, s]]
    """)
    assert msgs == ["subnet 10.0.0.0/30 has no free address for d:eth0"]


def test_auto_false_and_empty_ip():
    c = compile_text("""
        name: x
        addressing: {auto: false}
        nodes: {a: {kind: host}, b: {kind: host, ip: [10.0.0.2/24]}}
        links: [[a, b]]
    """)
    assert addrs(c, "a:eth0") == [] and addrs(c, "b:eth0") == ["10.0.0.2/24"]
    c = compile_text("""
        name: x
        nodes: {a: {kind: host, ip: []}, b: {kind: host}}
        links: [[a, b]]
    """)
    assert addrs(c, "a:eth0") == [] and addrs(c, "b:eth0") == ["10.255.0.1/30"]


def test_bad_pools():
    msgs = messages("""
        name: x
        addressing: {lan: "fd00::/64", p2p: 10.0.0.1/16}
        nodes: {a: {kind: host}}
    """)
    assert msgs[0] == "automatic address pools are IPv4 prefixes"
    assert msgs[1].startswith("not a network prefix: 10.0.0.1/16 has host bits set")


def test_duplicate_link_local_only_within_a_segment():
    ok = compile_text("""
        name: x
        nodes:
          a: {kind: host, ip: ["fe80::1/64"]}
          b: {kind: host, ip: ["fe80::1/64"]}
          r: {kind: router, interfaces: {eth0: {ip: ["fe80::2/64"]}, eth1: {ip: ["fe80::2/64"]}}}
        links: [[a, r:eth0], [b, r:eth1]]
    """)
    assert addrs(ok, "a:eth0") == addrs(ok, "b:eth0") == ["fe80::1/64"]
    assert messages("""
        name: x
        nodes: {a: {kind: host, ip: ["fe80::1/64"]}, b: {kind: host, ip: ["fe80::1/64"]}}
        links: [[a, b]]
    """) == ["address fe80::1 is used twice: on b:eth0 and a:eth0"]


# -- graph segments ------------------------------------------------------------------------------


def test_segments():
    c = compile_text("""
        name: x
        nodes:
          s1: {kind: bridge}
          s2: {kind: bridge}
          s3: {kind: bridge}
          h1: {kind: host}
          h2: {kind: host}
          h3: {kind: host}
          r: {kind: router}
        links: [[h1, r], [h2, s1], [s1, s2], [s2, r], [h3, s3], [r, s3]]
    """)
    segs = [(kind, [i.key for i in ifaces]) for kind, ifaces in graph.segments(c.lab, c.graph)]
    assert segs == [("p2p", ["h1:eth0", "r:eth0"]),
                    ("lan", ["h2:eth0", "r:eth1"]),   # s1 and s2 are one broadcast domain
                    ("lan", ["h3:eth0", "r:eth2"])]
    assert c.graph.number_of_nodes() == 7 and c.graph.number_of_edges() == 6
    assert c.graph.nodes["s1"]["switch"] and not c.graph.nodes["r"]["switch"]


# -- resolve -------------------------------------------------------------------------------------


def test_implicit_interface_names_skip_explicit_ones():
    c = compile_text("""
        name: x
        nodes: {a: {kind: host}, b: {kind: host}, d: {kind: host}, s: {kind: bridge}}
        links: [[a, b], [a, d:eth0], [a:eth0, s], [a, s:eth1], [b, s]]
    """)
    assert sorted(c.lab.nodes["a"].interfaces) == ["eth0", "eth1", "eth2", "eth3"]
    peers = {l.a.key: l.b.key for l in c.lab.links}
    assert peers == {"a:eth1": "b:eth0", "a:eth2": "d:eth0", "a:eth0": "s:eth2", "a:eth3": "s:eth1",
                     "b:eth1": "s:eth3"}


def test_bridge_port_devices_are_mininet_like():
    c = lab.compile(topo_gen.generate("single,2"), check_host=False)
    s1 = c.lab.nodes["s1"]
    assert s1.device == "s1" and s1.netns == c.lab.fabric == "emu-single2"
    assert [(i.name, i.device, i.master) for i in s1.interfaces.values()] == [
        ("eth1", "s1-eth1", "s1"), ("eth2", "s1-eth2", "s1")]


def test_long_bridge_names_fall_back_to_short_unique_devices():
    c = compile_text("""
        name: x
        nodes:
          core-switch-building-a: {kind: bridge}
          core-switch-building-b: {kind: bridge}
          abcdefghijklmno: {kind: bridge}
          h1: {kind: host}
          h2: {kind: host}
        links:
          - [h1, core-switch-building-a]
          - [core-switch-building-a, core-switch-building-b]
          - [h2, abcdefghijklmno:a-long-portname]
          - [abcdefghijklmno, core-switch-building-b]
    """)
    devices = [i.device for i in c.lab.interfaces() if i.netns == c.lab.fabric]
    devices += [n.device for n in c.lab.nodes.values() if n.device]
    assert all(0 < len(d) <= 15 for d in devices), devices
    assert len(devices) == len(set(devices)), devices
    assert c.lab.nodes["core-switch-building-a"].device == "br32"  # br<its ifindex>
    assert c.lab.nodes["core-switch-building-b"].device == "br33"
    assert c.lab.nodes["abcdefghijklmno"].device == "abcdefghijklmno"
    port = c.lab.nodes["abcdefghijklmno"].interfaces["a-long-portname"]
    assert port.device.startswith("abcdefgh-p") and port.master == "abcdefghijklmno"


def test_interface_indexes_are_unique_per_namespace():
    c = lab.compile(topo_gen.generate("tree,2,3"), check_host=False)
    seen = {}
    for i in c.lab.interfaces():
        assert (i.netns, i.index) not in seen
        seen[(i.netns, i.index)] = i.key
    for n in c.lab.nodes.values():
        if n.device:
            assert (n.netns, n.index) not in seen
            seen[(n.netns, n.index)] = n.name


def test_node_level_ip_and_interface_ip_given_twice():
    assert messages("""
        name: x
        nodes:
          a: {kind: host, ip: [10.0.0.1/24], interfaces: {eth0: {ip: [10.0.0.3/24]}}}
          b: {kind: host}
        links: [[a, b]]
    """) == ["addresses for a:eth0 are given twice"]


def test_issues_are_in_file_order():
    with pytest.raises(TopologyError) as exc:
        compile_text("""
            name: x
            nodes:
              a: {kind: host, interfaces: {eth5: {}}}
            links: [[a, b], [a, a]]
        """)
    lines = [i.line for i in exc.value.issues]
    assert len(lines) == 2 and lines == sorted(lines)


# -- loader ---------------------------------------------------------------------------------------


def test_loader_positions():
    src = load_text("name: x\nnodes:\n  h1: {kind: host}\nlinks:\n  - [h1, h2]\n", "f.yml")
    assert src.where(("nodes", "h1", "kind")) == (3, 14)
    assert src.where(("nodes", "h1"), key=True) == (3, 3)
    assert src.where(("links", 0, 1)) == (5, 10)
    assert src.where(("links", 0, 7, "x")) == (5, 5)  # nearest located ancestor: links[0]
    assert src.where(("nope",)) == (1, 1)


@pytest.mark.parametrize("text, fragment, line", [
    ("a: [1, 2\nb: 3\n", "flow sequence that starts at line 1, column 4", 2),
    ("a:\n\tb: 1\n", "'\\t'", 2),
    ("a: 1\n---\nb: 2\n", "expected a single document", 2),
    ("a: *nope\n", "undefined alias", 1),
    ("a: !!python/object:os.system x\n", "unsupported YAML tag", 1),
    ("? [a, b]\n: 1\n", "keys must be plain names", 1),
    ("base: &b {x: 1}\nc:\n  <<: *b\n", "keys must be plain names", 3),
    ("a: 1\nb: \x07\n", "U+0007", 2),
    ("# only a comment\n", "the file is empty", 1),
])
def test_loader_errors(text, fragment, line):
    with pytest.raises(TopologyError) as exc:
        load_text(text, "f.yml")
    (issue,) = exc.value.issues
    assert fragment in issue.message
    assert issue.line == line and issue.file == "f.yml"


def test_loader_stops_alias_bombs():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))
    with pytest.raises(TopologyError, match="aliases expand this value to more than"):
        load_text(bomb)


# -- topo_gen ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, hosts, bridges, links", [
    ("single,1", 1, 1, 1), ("single,5", 5, 1, 5), ("linear,1", 1, 1, 1), ("linear,4", 4, 4, 7),
    ("tree,1,3", 3, 1, 3), ("tree,2,2", 4, 3, 6), ("tree,3,2", 8, 7, 14),
])
def test_topo_gen_counts(spec, hosts, bridges, links):
    src = topo_gen.generate(spec)
    kinds = [n["kind"] for n in src.data["nodes"].values()]
    assert kinds.count("host") == hosts and kinds.count("bridge") == bridges
    assert len(src.data["links"]) == links
    c = lab.compile(src, check_host=False)
    assert c.graph.number_of_edges() == links
    assert c.lab.name == spec.replace(",", "", 1).replace(",", "")


def test_topo_gen_name_override():
    assert topo_gen.generate("linear,2", name="mine").data["name"] == "mine"


@pytest.mark.parametrize("spec, fragment", [
    ("ring,3", "unknown shape 'ring'"), ("", "unknown shape ''"), ("single", "expected single,N"),
    ("single,2,3", "expected single,N"), ("linear,x", "sizes must be integers"), ("linear,0", "at least 1"),
    ("tree,2", "expected tree,DEPTH,FANOUT"), ("tree,2,-1", "at least 1"), ("tree,13,2", "more than"),
    ("single,1.5", "integers"),
])
def test_topo_gen_bad_specs(spec, fragment):
    with pytest.raises(UsageError, match=fragment):
        topo_gen.generate(spec)


def test_topo_gen_spec_with_spaces_compiles_to_the_same_lab():
    c = lab.compile(topo_gen.generate("single, 2"), check_host=False)
    assert c.lab.name == "single2" and sorted(c.lab.nodes) == ["h1", "h2", "s1"]
    assert topo_gen.generate(" tree , 2, 02").data["name"] == "tree22"


# -- schema and drivers ---------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    s = schema.topology_schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)
    assert jsonschema.validators.validator_for(s) is jsonschema.Draft202012Validator


def test_schema_kinds_follow_the_registry():
    node = schema.topology_schema()["properties"]["nodes"]["additionalProperties"]
    assert node["properties"]["kind"]["enum"] == drivers.kinds()
    assert [b["if"]["properties"]["kind"]["const"] for b in node["allOf"]] == drivers.kinds()
    assert {"host", "router", "bridge"} <= set(drivers.kinds())


def test_schema_accepts_the_shipped_example():
    import yaml
    with open(Path(__file__).resolve().parent.parent / "topologies" / "fw-chain.yaml") as f:
        jsonschema.Draft202012Validator(schema.topology_schema()).validate(yaml.safe_load(f))


def test_registering_a_kind_twice_is_refused():
    class Dup(Driver):
        kind = "host"
    with pytest.raises(ValueError, match="registered twice"):
        registry.active().kinds.register(Dup())

    class Nameless(Driver):
        pass
    with pytest.raises(ValueError, match="has no kind"):
        registry.active().kinds.register(Nameless())
    assert type(drivers.get("host")).__name__ == "HostDriver"


def test_unknown_kind_lists_known_kinds():
    with pytest.raises(drivers.UnknownKind) as exc:
        drivers.get("nope")
    assert exc.value.kind == "nope"
    assert exc.value.hint() == "known kinds: " + ", ".join(drivers.kinds())
    with pytest.raises(KeyError):
        drivers.get("hots")
    assert drivers.UnknownKind("hots").hint().startswith("did you mean 'host'? known kinds: ")


def test_source_without_text_still_validates():
    with pytest.raises(TopologyError) as exc:
        lab.compile(Source({"name": "x", "nodes": {"a": {"kind": "nope"}}}, "<api>"), check_host=False)
    (issue,) = exc.value.issues
    assert issue.file == "<api>" and issue.line is None
    assert issue.format().startswith("<api>: nodes.a.kind: unknown kind 'nope'")


def test_taken_prefixes_overlap_exactly_as_ipaddress_says():
    import random
    from emulator.core.addressing import Taken
    rnd = random.Random(7)
    nets = [ipaddress.ip_network((rnd.randrange(0, 1 << 32) & ~((1 << (32 - p)) - 1), p))
            for p in (rnd.choice([8, 16, 20, 24, 28, 30, 31, 32]) for _ in range(60))]
    taken = Taken(nets[:30])
    for cand in nets[30:] + [ipaddress.ip_network("0.0.0.0/0")] + [n.supernet() for n in nets[:30]]:
        want = any(cand.overlaps(t) for t in nets[:30])
        assert taken.overlaps(int(cand.network_address), cand.prefixlen) == want, cand
    for n in nets[:30]:   # a taken prefix, and every prefix inside it, overlaps
        assert taken.overlaps(int(n.network_address), n.prefixlen)
        assert taken.overlaps(int(n.broadcast_address), 32)


def test_ovs_port_numbers_are_computed_in_one_pass_and_follow_the_interfaces():
    """ethN is OpenFlow port N; other names number by position. One scan of the bridge's
    interfaces for the whole bridge (it was one per port: 2000 ports, 2000 scans)."""
    from emulator.backends.ovs import driver as ovs
    n = 300
    links = "\n".join(f"  - [h{i}, sw]" for i in range(n))
    hosts = "\n".join(f"  h{i}: {{kind: host}}" for i in range(n))
    c = compile_text(f"name: o\nnodes:\n  sw: {{kind: ovs, datapath: netdev}}\n{hosts}\nlinks:\n{links}\n"
                     "  - [h0:eth1, sw:uplink]\n")
    sw = c.lab.nodes["sw"]

    class Counting(dict):
        scans = 0

        def values(self):
            Counting.scans += 1
            return super().values()

    sw.interfaces = Counting(sw.interfaces)
    (cfg,) = [a for a in ovs.OvsDriver().plan_node(c.lab, sw) if isinstance(a, ovs.O.ConfigureBridge)]
    assert Counting.scans <= 3
    # not every name is eth<N>: numbers by position (uplink is the last, n + 1)
    assert [p.ofport for p in cfg.ports] == list(range(1, n + 2))
    sw.interfaces = dict(sw.interfaces)
    del sw.interfaces["uplink"]
    assert ovs.ofports(sw) == {f"eth{i}": i for i in range(1, n + 1)}


def test_the_collector_is_off_while_pipelines_run_and_on_again_after_the_last():
    import gc
    import threading
    from emulator import lab
    assert gc.isenabled()
    inside = threading.Event()
    leave = threading.Event()
    seen = []

    def other():
        with lab._gc_paused():
            inside.set()
            leave.wait(10)
            seen.append(gc.isenabled())

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with lab._gc_paused():           # a second pipeline (the web UI's threads) overlapping the first
        seen.append(gc.isenabled())
    seen.append(gc.isenabled())      # the first still runs: still off
    leave.set()
    t.join(10)
    assert seen == [False, False, False] and gc.isenabled()
    gc.disable()                     # a caller that turned it off keeps it off
    try:
        with lab._gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError):  # and an error inside turns it back on
        with lab._gc_paused():
            raise ValueError("x")
    assert gc.isenabled()

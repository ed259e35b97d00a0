"""Property-based fuzzing of the input pipeline: load_text + compile(check_host=False).

Whatever the input, the pipeline returns a Compiled or raises TopologyError (or UsageError)
with located, non-empty issues; it never lets another exception escape. Nothing touches the
host: compile() without check_host only computes.
"""
import copy
import os
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.core import drivers
from emulator import lab, topo_gen
from emulator.errors import TopologyError, UsageError
from emulator.core.loader import Source, load_text

# EMULATOR_FUZZ_SCALE=10 runs ten times the examples (a longer local campaign); any
# --hypothesis-seed=N must pass: no strategy may depend on the seed to be drawable.
SCALE = float(os.environ.get("EMULATOR_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


FUZZ = settings(max_examples=examples(150), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID = {
    "name": "fz",
    "addressing": {"lan": "10.0.0.0/16", "p2p": "10.255.0.0/16"},
    "nodes": {
        "h1": {"kind": "host", "ip": ["10.1.0.1/24"], "routes": [{"to": "default", "via": "r1"}],
               "sysctls": {"net.ipv4.conf.all.rp_filter": 0}, "labels": {"role": "client"}},
        "r1": {"kind": "router", "interfaces": {"eth0": {"ip": ["10.1.0.2/24"]}, "eth1": {"mtu": 1500}},
               "exec": ["true", ["echo", "hi"]]},
        "sw1": {"kind": "bridge", "stp": False},
        "h2": {"kind": "host", "routes": [{"to": "10.1.0.0/24", "via": "r1", "metric": 5}]},
        "h3": {"kind": "host", "position": {"x": 1, "y": 2.5}},
    },
    "links": [
        ["h1:eth0", "r1:eth0"],
        {"endpoints": ["r1:eth1", "sw1"], "bandwidth": "100mbit", "delay": "2ms", "jitter": "1ms",
         "loss": "0.1%", "mtu": 1500},
        {"endpoints": [{"node": "sw1"}, {"node": "h2", "interface": "eth0", "mac": "02:00:00:00:00:02"}]},
        ["sw1", "h3"],
    ],
}

FIELDS = ["name", "nodes", "links", "kind", "ip", "interfaces", "routes", "to", "via", "dev", "metric",
          "sysctls", "exec", "endpoints", "node", "interface", "mtu", "mac", "bandwidth", "delay", "jitter",
          "loss", "addressing", "lan", "p2p", "auto", "stp", "labels", "position", "x", "y", "description",
          "type", "h1", "r1", "sw1", "host", "router", "bridge", "default", "eth0", "eth1"]
VALUES = ["10.0.0.1/24", "10.0.0.0/24", "10.0.0.255/24", "10.0.0.1", "fd00::1/64", "::/0", "default",
          "h1", "r1", "sw1", "h1:eth0", "r1:eth1", "sw1:eth1", "nope", "nope:eth0", "h1:", ":eth0", ":",
          "100mbit", "100Mbps", "1gbit", "0bit", "2ms", "-1ms", "1h", "0.1%", "150%", "nan", ".inf",
          "02:00:00:00:00:01", "zz", "", " ", "a" * 20, "eth 0", "eth/0", "net.ipv4.ip_forward",
          "kernel.x", "10.255.0.0/30", "10.0.0.0/33", "host", "router", "bridge", "veth", "-x", "é"]

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
keys = st.one_of(st.sampled_from(FIELDS), text)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(VALUES), text)
structures = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)), max_leaves=30)


def dump(data, flow: bool) -> str:
    return yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True, sort_keys=False)


_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # what YAML counts as line breaks


def run(source) -> object:
    """The property: a Compiled, or a TopologyError/UsageError whose issues say what and where."""
    from_text = isinstance(source, str)
    try:
        src = load_text(source, "fuzz.yaml") if from_text else source
        return lab.compile(src, check_host=False)
    except TopologyError as e:
        assert e.issues
        text_ = e.format()
        assert text_.startswith(f"{len(e.issues)} error")
        for issue in e.issues:
            assert isinstance(issue.message, str) and issue.message.strip(), issue
            assert issue.hint is None or issue.hint.strip(), issue
            if from_text:
                assert issue.file == "fuzz.yaml"
                assert issue.line is not None and issue.line >= 1, issue.format()
                assert issue.column is not None and issue.column >= 1, issue.format()
                assert issue.line <= len(_LINE_BREAK.findall(source)) + 2, issue.format()
        return e
    except UsageError as e:
        assert str(e).strip()
        return e


# -- arbitrary text ---------------------------------------------------------------------


@settings(FUZZ, max_examples=examples(600))
@given(st.text(max_size=300))
def test_arbitrary_text(s):
    run(s)


@settings(FUZZ, max_examples=examples(600))
@given(st.lists(st.sampled_from(["name: x\n", "nodes:\n", "  h1: {kind: host}\n", "  h2:\n", "    kind: ",
                                 "host\n", "links:\n", "  - [h1, h2]\n", "  - ", "{", "}", "[", "]", ":",
                                 "- ", "\t", "  ", "\n", "&a ", "*a ", "!!str ", "!x ", "? ", "---\n",
                                 "'", '"', "#c\n", "<<: *a\n", "\x00", "\ufeff", "|\n  x\n", "@"]),
                max_size=40))
def test_yamlish_token_soup(parts):
    run("".join(parts))


# -- arbitrary YAML structures ----------------------------------------------------------------


@FUZZ
@given(structures, st.booleans())
def test_arbitrary_structures(data, flow):
    run(dump(data, flow))


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "nodes", "links", "addressing", "description"]),
                       structures, max_size=5), st.booleans())
def test_arbitrary_top_level(data, flow):
    run(dump(data, flow))


# -- mutations of a valid topology ------------------------------------------------------------


def _paths(data, path=()):
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, path + (i,))


def _get(data, path):
    for p in path:
        data = data[p]
    return data


@st.composite
def mutated(draw, base=VALID):
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["value", "key", "delete", "add", "node", "link", "endpoint",
                                   "same-type", "same-type", "same-type"]))
        parent = _get(data, path[:-1]) if path else None
        if op == "value" and path:
            parent[path[-1]] = draw(structures)
        elif op == "same-type" and path:  # keeps the schema happy, so resolve and addressing get fuzzed
            old = parent[path[-1]]
            if isinstance(old, bool):
                parent[path[-1]] = draw(st.booleans())
            elif isinstance(old, (int, float)):
                parent[path[-1]] = draw(st.one_of(st.integers(-10, 70000), st.sampled_from([68, 1500, 9000])))
            elif isinstance(old, str):
                parent[path[-1]] = draw(st.sampled_from(VALUES))
            elif isinstance(old, list) and all(isinstance(x, str) for x in old):
                parent[path[-1]] = draw(st.lists(st.sampled_from(VALUES), max_size=3))
        elif op == "key" and path and isinstance(parent, dict):
            new_key = draw(keys)
            parent[new_key] = parent.pop(path[-1])
        elif op == "delete" and path:
            del parent[path[-1]]
        elif op == "add":
            target = _get(data, path)
            if isinstance(target, dict):
                target[draw(keys)] = draw(structures)
            elif isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(structures))
        elif op == "node" and isinstance(data.get("nodes"), dict):
            data["nodes"][draw(st.sampled_from(["h9", "r1", "sw2", "x" * 49, "h 1", "-a"]))] = {
                "kind": draw(st.sampled_from(drivers.kinds() + ["hots", "ovs"])),
                **draw(st.dictionaries(st.sampled_from(["ip", "interfaces", "routes", "stp", "mtu"]),
                                       structures, max_size=2))}
        elif op == "link" and isinstance(data.get("links"), list):
            # (the mutations so far may have removed every node: sampling needs a non-empty list)
            names = [n for n in data["nodes"] if isinstance(n, str)] if isinstance(data.get("nodes"), dict) else []
            names = names or ["h1"]
            end = st.one_of(st.sampled_from(names), st.builds(lambda n, i: f"{n}:{i}", st.sampled_from(names),
                                                              st.sampled_from(["eth0", "eth1", "eth7", "x" * 16])))
            ends = draw(st.lists(end, min_size=1, max_size=3))
            data["links"].append(draw(st.sampled_from([ends, {"endpoints": ends}])))
        elif op == "endpoint" and isinstance(data.get("links"), list) and data["links"]:
            li = draw(st.integers(0, len(data["links"]) - 1))
            data["links"][li] = {"endpoints": [{"node": draw(st.sampled_from(["h1", "r1", "sw1", "h4"])),
                                                "interface": draw(st.sampled_from(["eth0", "eth5", ""])),
                                                "ip": draw(st.lists(st.sampled_from(VALUES), max_size=2))},
                                               draw(st.sampled_from(["h2", "h3", "sw1", "r1:eth0"]))],
                                 **draw(st.dictionaries(st.sampled_from(["bandwidth", "delay", "jitter", "loss",
                                                                         "mtu"]), scalars, max_size=2))}
    return data


def test_valid_base_compiles():
    c = lab.compile(load_text(dump(VALID, False), "fuzz.yaml"), check_host=False)
    assert set(c.lab.nodes) == set(VALID["nodes"]) and len(c.lab.links) == len(VALID["links"])


@settings(FUZZ, max_examples=examples(600))
@given(mutated(), st.booleans())
def test_mutated_topology(data, flow):
    run(dump(data, flow))


EMPTY = {"name": "fz", "nodes": {}, "links": []}


@FUZZ
@given(mutated(EMPTY), st.booleans())
def test_mutated_empty_topology(data, flow):
    """Mutations of a topology without nodes: every operation must still be drawable (a 'link'
    between the nodes of an empty topology once sampled from an empty list)."""
    run(dump(data, flow))


@FUZZ
@given(mutated())
def test_mutated_topology_without_text(data):
    """Data that did not come from text (the web UI, generators) is handled the same way."""
    result = run(Source(data, "<api>"))
    if isinstance(result, TopologyError):
        assert all(i.file == "<api>" and i.line is None for i in result.issues)


@FUZZ
@given(st.sampled_from(["single", "linear", "tree", "ring", ""]),
       st.lists(st.one_of(st.integers(-2, 6).map(str), st.sampled_from(["", "x", "1.5", "0x2"])), max_size=3))
def test_generated_specs(shape, sizes):
    """--topo specs: a UsageError naming the spec, or a lab that compiles (hosts in one tree of bridges)."""
    spec = ",".join([shape] + sizes)
    try:
        src = topo_gen.generate(spec)
    except UsageError as e:
        assert f"--topo {spec}:" in str(e) or f"unknown shape '{shape}'" in str(e)
        return
    c = lab.compile(src, check_host=False)
    assert c.graph.number_of_edges() == c.graph.number_of_nodes() - 1  # a tree: every node connected once
    for n in c.lab.nodes.values():
        if n.kind == "host":
            (iface,) = n.interfaces.values()
            assert iface.name == "eth0" and len(iface.addresses) == 1

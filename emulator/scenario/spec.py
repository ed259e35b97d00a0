"""Loading and checking a scenario file: topology, parameters, sweep, repeat, steps.

    name: smoke
    topology: ../topologies/fw-chain.yaml      # a path (relative to this file) or an inline mapping
    parameters: {duration: 10}                  # defaults; `--set duration=60` overrides
    sweep: {bandwidth: [10mbit, 100mbit], size: 64..64..1500}   # cross product, one run per point
    repeat: 3                                   # runs per point: mean and stdev in the results
    steps:
      - ping: {from: client, to: server}
        expect: {loss_pct: 0}
      - iperf3: {client: client, server: server, duration: "${duration}"}
        expect: {throughput_bps: "> 1G"}
        reference: {throughput_bps: 66.5G, source: "seed 000, 1S2C iptables"}

`${name}` in any string of the topology or the steps is replaced by the parameter's value.
Every problem is reported with file:line:column before anything is deployed.
"""
from __future__ import annotations

import copy
import ipaddress
import itertools
import os
import re
from dataclasses import dataclass, field

import jsonschema

from .. import backends
from .. import lab as api
from ..core import loader
from ..errors import Issue, TopologyError
from ..core.loader import Source
from ..core.validate import _issues_for
from . import expect, steps

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SCALAR = {"type": ["string", "number", "boolean"]}
COMMON_STEP_KEYS = {"name", "expect", "reference", "start_after", "after", "until"}
AFTER_EVENTS = ("started", "finished")   # after: {started: NAME} | {finished: NAME} | NAME (finished)
SCENARIO_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["topology", "steps"],
    "properties": {
        "name": {"type": "string", "pattern": NAME},
        "description": {"type": "string"},
        "topology": {"type": ["string", "object"]},
        "parameters": {"type": "object", "additionalProperties": SCALAR},
        "sweep": {"type": "object", "additionalProperties": {
            "anyOf": [{"type": "array", "items": SCALAR, "minItems": 1}, {"type": "string"}]}},
        "repeat": {"type": "integer", "minimum": 1, "maximum": 1000},
        "stop_on_failure": {"type": "boolean"},
        "steps": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    },
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class StepSpec:
    type: str
    args: object
    name: str
    conditions: list = field(default_factory=list)
    reference: dict | None = None   # {"metric", "value", "unit", "source"}
    start_after: float | None = None
    after: tuple | None = None     # (event, sibling's name, path suffix): start once it has started/finished
    until: str | None = None       # a sibling's name: a step that runs for a while ends when it finishes
    children: list = field(default_factory=list)  # for `parallel`
    path: tuple = ()


@dataclass
class Point:
    params: dict
    topology: Source
    steps: list[StepSpec]


@dataclass
class Scenario:
    name: str
    file: str
    description: str
    points: list[Point]
    repeat: int
    param_names: list[str]
    stop_on_failure: bool = False
    topology_label: str = ""


class _Prefixed:
    """A Source view that locates paths under a prefix (for sub-documents checked on their own)."""

    def __init__(self, src: Source, prefix: tuple):
        self.src, self.prefix = src, prefix

    def issue(self, path, message, hint=None, key=False):
        return self.src.issue(self.prefix + tuple(path), message, hint, key)


def expand_values(spec, where: tuple, src: Source) -> list:
    """A sweep list, or 'min..step..max' (seed 003's form), or 'min..max' (step 1)."""
    if isinstance(spec, list):
        return spec
    num = r"(-?[0-9]+(?:\.[0-9]+)?)"
    m = re.fullmatch(rf"\s*{num}\s*\.\.\s*{num}\s*(?:\.\.\s*{num}\s*)?", str(spec))
    if not m:
        raise TopologyError([src.issue(where, f"'{spec}' is neither a list nor min..step..max",
                                       "write e.g. [64, 512, 1500] or 64..64..1500")])
    nums = [float(x) for x in m.groups() if x is not None]
    lo, step, hi = (nums[0], 1.0, nums[1]) if len(nums) == 2 else nums
    if step <= 0 or hi < lo:
        raise TopologyError([src.issue(where, f"'{spec}' is an empty or endless range")])
    n = int((hi - lo) / step + 1e-9) + 1
    if n > 10000:
        raise TopologyError([src.issue(where, f"'{spec}' has {n} values; at most 10000")])
    vals = [lo + i * step for i in range(n)]
    return [int(v) if all(float(x).is_integer() for x in nums) else round(v, 9) for v in vals]


def substitute(data, params: dict, issues: list, src_issue, path=()):
    if isinstance(data, dict):
        return {k: substitute(v, params, issues, src_issue, path + (k,)) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute(v, params, issues, src_issue, path + (i,)) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        names = _VAR.findall(data)
        for n in names:
            if n not in params:
                issues.append(src_issue(path, f"unknown parameter ${{{n}}}",
                                        "known: " + (", ".join(params) or "none: declare it under parameters:")))
                return data
        whole = _VAR.fullmatch(data)
        if whole:
            return params[whole.group(1)]
        return _VAR.sub(lambda m: str(params[m.group(1)]), data)
    return data


def _check_schema(instance, schema, src_view) -> list[Issue]:
    v = jsonschema.validators.validator_for(schema)(schema)
    out = []
    for err in sorted(v.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        out.extend(_issues_for(err, src_view))
    return out


def _parse_step(raw, path: tuple, src: Source, issues: list, in_group: bool = False) -> StepSpec | None:
    kinds = [k for k in raw if k not in COMMON_STEP_KEYS]
    known = steps.names() + ["parallel"]
    if len(kinds) != 1:
        what = f"has {', '.join(kinds)}" if kinds else "has none"
        issues.append(src.issue(path, f"a step has exactly one step type ({what})", "step types: " + ", ".join(known)))
        return None
    kind = kinds[0]
    for k in raw:
        if k not in COMMON_STEP_KEYS and k != kind:
            issues.append(src.issue(path + (k,), f"unknown step field '{k}'", None, key=True))
    if kind == "parallel":
        if not isinstance(raw[kind], list) or not raw[kind]:
            issues.append(src.issue(path + (kind,), "parallel: takes a list of steps"))
            return None
        children = []
        for i, sub in enumerate(raw[kind]):
            if not isinstance(sub, dict):
                issues.append(src.issue(path + (kind, i), "a step is a mapping such as {ping: {...}}"))
                continue
            c = _parse_step(sub, path + (kind, i), src, issues, in_group=True)
            if c:
                children.append(c)
        _check_order(children, src, issues)
        spec = StepSpec("parallel", None, raw.get("name") or "parallel", children=children, path=path)
        _parse_order(spec, raw, path, src, issues, in_group)
        return spec
    if kind not in steps.names():
        import difflib
        close = difflib.get_close_matches(kind, known, n=1)
        issues.append(src.issue(path + (kind,), f"unknown step type '{kind}'",
                                (f"did you mean '{close[0]}'? " if close else "") + "step types: " + ", ".join(known),
                                key=True))
        return None
    st = steps.get(kind)
    args = raw[kind]
    found = _check_schema(args, st.schema, _Prefixed(src, path + (kind,)))
    found += [src.issue(path + (kind,) + sub, message) for sub, message in st.check(args)
              if "${" not in str(_at(args, sub))]   # (an unknown parameter is reported already)
    issues.extend(found)
    if found:
        return None
    spec = StepSpec(kind, args, str(raw.get("name") or st.default_name(args)), path=path)
    exp = raw.get("expect")
    if exp is not None and not isinstance(exp, dict):
        issues.append(src.issue(path + ("expect",), "expect: is a mapping of metric: condition"))
        exp = None
    merged = {**st.default_expect(args), **(exp or {})}
    for metric, cond in merged.items():
        if st.metrics and metric not in st.metrics:
            issues.append(src.issue(path + ("expect", metric), f"step {kind} has no metric '{metric}'",
                                    "metrics: " + ", ".join(st.metrics), key=True))
            continue
        try:
            spec.conditions.append(expect.parse(metric, cond))
        except ValueError as e:
            issues.append(src.issue(path + ("expect", metric), str(e)))
    ref = raw.get("reference")
    if ref is not None:
        if not isinstance(ref, dict):
            issues.append(src.issue(path + ("reference",), "reference: is {METRIC: VALUE, source: TEXT}"))
        else:
            metrics = [k for k in ref if k not in ("source", "unit", "note")]
            if len(metrics) != 1:
                issues.append(src.issue(path + ("reference",), "reference: names exactly one metric",
                                        "e.g. {throughput_bps: 75.5G, source: 'seed 000, 1S1C'}"))
            else:
                try:
                    spec.reference = {"metric": metrics[0], "value": expect.number(ref[metrics[0]]),
                                      "unit": ref.get("unit") or _unit(metrics[0]), "source": ref.get("source")}
                except ValueError as e:
                    issues.append(src.issue(path + ("reference", metrics[0]), str(e)))
    if raw.get("start_after") is not None:
        try:
            spec.start_after = steps.seconds(raw["start_after"])
        except ValueError as e:
            issues.append(src.issue(path + ("start_after",), str(e)))
    _parse_order(spec, raw, path, src, issues, in_group)
    return spec


def _parse_order(spec: StepSpec, raw: dict, path: tuple, src: Source, issues: list, in_group: bool) -> None:
    """`after:` and `until:` of a step in a parallel group: the sibling it waits for, and the
    sibling whose end ends it (steps that run for a while: Step.stoppable)."""
    for key in ("after", "until"):
        if raw.get(key) is not None and not in_group:
            issues.append(src.issue(path + (key,), f"{key}: names another step of the same parallel group",
                                    "the steps of a list run one after another already; put both in a parallel:"))
            return
    v = raw.get("after")
    if isinstance(v, str):
        spec.after = ("finished", v, ())
    elif (isinstance(v, dict) and len(v) == 1 and next(iter(v)) in AFTER_EVENTS
          and isinstance(next(iter(v.values())), str)):
        (event, name), = v.items()
        spec.after = (event, name, (event,))
    elif v is not None:
        issues.append(src.issue(path + ("after",), "after: is a step's name, {started: NAME} or {finished: NAME}",
                                "NAME is the name: of another step of the same parallel group"))
    v = raw.get("until")
    if v is None:
        return
    if not isinstance(v, str):
        issues.append(src.issue(path + ("until",), "until: is the name of another step of the same parallel group"))
    elif spec.type == "parallel" or not steps.get(spec.type).stoppable:
        stoppable = [n for n in steps.names() if steps.get(n).stoppable]
        issues.append(src.issue(path + ("until",), f"a {spec.type} step cannot be ended early",
                                "until: ends steps that run for a while: " + ", ".join(stoppable)))
    else:
        spec.until = v


def _check_order(children: list, src: Source, issues: list) -> None:
    """Every after:/until: names exactly one other step of the group; no step waits for itself
    through a chain of after:s (it would never start)."""
    names = [c.name for c in children]
    ok = {}
    for c in children:
        for key, ref in (("after", c.after[1] if c.after else None), ("until", c.until)):
            if ref is None:
                continue
            where = c.path + (key,) + (c.after[2] if key == "after" else ())
            if ref == c.name:
                issues.append(src.issue(where, f"step '{ref}' cannot wait for itself"))
            elif names.count(ref) != 1:
                issues.append(src.issue(where, f"no step named '{ref}' in this parallel group" if ref not in names
                                        else f"{names.count(ref)} steps of this parallel group are named '{ref}'",
                                        "its steps: " + ", ".join(repr(n) for n in names)
                                        + ("; give one a name:" if ref in names else "")))
            elif key == "after":
                ok[c.name] = ref
    for start in ok:
        seen, cur = [start], ok[start]
        while cur in ok and cur not in seen:
            seen.append(cur)
            cur = ok[cur]
        if cur == start:
            c = children[names.index(start)]
            issues.append(src.issue(c.path + ("after",), "the steps wait for each other: "
                                    + " -> ".join(repr(n) for n in seen + [start]) + " (none would start)"))
            break


def _at(data, path: tuple):
    for p in path:
        data = data[p]
    return data


def check_references(s: StepSpec, lab, src: Source, issues: list) -> None:
    """Every node, address and NODE:IF a step names exists in the compiled topology."""
    if s.type == "parallel":
        for c in s.children:
            check_references(c, lab, src, issues)
        return
    st, args, base = steps.get(s.type), s.args if isinstance(s.args, dict) else {}, s.path + (s.type,)
    names = list(lab.nodes)

    def no_node(where, name):
        import difflib
        close = difflib.get_close_matches(str(name), names, n=1)
        issues.append(src.issue(base + where, f"the topology has no node '{name}'",
                                (f"did you mean '{close[0]}'? " if close else "") + "nodes: "
                                + ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")))

    for f in st.node_fields:
        v = args.get(f)
        for where, name in ([((f,), v)] if isinstance(v, str) else
                            [((f, i), x) for i, x in enumerate(v)] if isinstance(v, list) else []):
            if name not in lab.nodes:
                no_node(where, name)
    for f in st.target_fields:
        v = args.get(f)
        if isinstance(v, str) and v not in lab.nodes:
            try:
                ipaddress.ip_address(v)
            except ValueError:
                no_node((f,), v)
    for f in st.endpoint_fields:
        v = args.get(f)
        for where, v in ([((f,), v)] if isinstance(v, str) else   # a NODE:IF, or a list of them
                         [((f, i), x) for i, x in enumerate(v) if isinstance(x, str)] if isinstance(v, list) else []):
            node, sep, ifname = v.partition(":")
            if not sep:
                issues.append(src.issue(base + where, f"'{v}' is not a link end", "write NODE:INTERFACE, e.g. a:eth0"))
            elif node not in lab.nodes:
                no_node(where, node)
            else:
                linked = [i.name for i in lab.nodes[node].interfaces.values() if i.link >= 0]
                if ifname not in linked:
                    issues.append(src.issue(base + where, f"node '{node}' has no interface '{ifname}' on a link",
                                            "its linked interfaces: " + (", ".join(linked) or "none")))
    for where, msg in st.check_topology(lab, args):   # what only the step's backend knows (SRv6 segments)
        issues.append(src.issue(base + where, msg))
    for f, node_field in st.interface_fields.items():
        v, node = args.get(f), args.get(node_field)
        if isinstance(v, str) and node in lab.nodes and v not in ("any", "lo") and v not in lab.nodes[node].interfaces:
            issues.append(src.issue(base + (f,), f"node '{node}' has no interface '{v}'",
                                    "its interfaces: " + ", ".join(["any", "lo", *lab.nodes[node].interfaces])))


def _unit(metric: str) -> str:
    if metric.endswith("_bps"):
        return "bit/s"
    if metric.endswith("_ms"):
        return "ms"
    if metric.endswith("_pct"):
        return "%"
    return ""


def load(path: str, overrides: dict | None = None, lab_name: str | None = None) -> Scenario:
    """Load and check a scenario; `lab_name` replaces the topology's name (two runs side by side)."""
    backends.ensure_loaded()   # the step types of every backend
    src = loader.load_file(path)
    data = src.data
    if not isinstance(data, dict):
        raise TopologyError([src.issue((), "a scenario is a mapping with topology: and steps:")])
    issues = _check_schema(data, SCENARIO_SCHEMA, src)
    if issues:
        raise TopologyError(issues, what="scenario")
    base = os.path.dirname(os.path.abspath(path))
    params = dict(data.get("parameters") or {})
    for k, v in (overrides or {}).items():
        if k not in params and k not in (data.get("sweep") or {}):
            raise TopologyError([src.issue(("parameters",), f"--set {k}: no such parameter",
                                           "parameters: " + ", ".join(params) if params else "none declared")])
        params[k] = v
    sweep = {k: expand_values(v, ("sweep", k), src) for k, v in (data.get("sweep") or {}).items()
             if k not in (overrides or {})}
    # topology: a file (relative to the scenario) or inline
    if isinstance(data["topology"], str):
        tpath = os.path.join(base, data["topology"])
        topo_src = loader.load_file(tpath if os.path.exists(tpath) else data["topology"])
        topo_label = data["topology"]
    else:
        topo_src = Source(data["topology"], src.file,
                          {p[1:]: v for p, v in src.values.items() if p[:1] == ("topology",)},
                          {p[1:]: v for p, v in src.keys.items() if p[:1] == ("topology",)})
        topo_label = str(data["topology"].get("name", "inline"))
    points = []
    names = list(sweep)
    combos = list(itertools.product(*[sweep[n] for n in names])) or [()]
    if len(combos) > 10000:
        raise TopologyError([src.issue(("sweep",), f"the sweep has {len(combos)} points; at most 10000")])
    seen_issue = set()
    for combo in combos:
        p = {**params, **dict(zip(names, combo))}
        sub_issues: list[Issue] = []
        tdata = substitute(copy.deepcopy(topo_src.data), p, sub_issues,
                           lambda path, m, h=None: topo_src.issue(path, m, h))
        if lab_name and isinstance(tdata, dict):
            tdata["name"] = lab_name
        t = Source(tdata, topo_src.file, topo_src.values, topo_src.keys)
        step_specs = []
        for i, raw in enumerate(data["steps"]):
            sraw = substitute(raw, p, sub_issues, lambda path, m, h=None, i=i: src.issue(("steps", i) + path, m, h))
            s = _parse_step(sraw, ("steps", i), src, sub_issues)
            if s:
                step_specs.append(s)
        if not sub_issues:
            try:
                compiled = api.compile(t)
            except TopologyError as e:
                sub_issues.extend(e.issues)
            else:
                for s in step_specs:
                    check_references(s, compiled.lab, src, sub_issues)
        for iss in sub_issues:
            k = (iss.file, iss.line, iss.column, iss.message)
            if k not in seen_issue:
                seen_issue.add(k)
                issues.append(iss)
        points.append(Point(p, t, step_specs))
    if issues:
        raise TopologyError(issues, what="scenario")
    name = data.get("name") or os.path.splitext(os.path.basename(path))[0]
    return Scenario(name=name, file=path, description=data.get("description", ""), points=points,
                    repeat=data.get("repeat", 1), param_names=names, stop_on_failure=data.get("stop_on_failure", False),
                    topology_label=topo_label)

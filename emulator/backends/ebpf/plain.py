"""VNF roles on plain nodes (`kind: host` or `router`): the field `vnf:` names a role and where
it works, and this expand stage turns it into the node's sysctls and startup commands, as the
network-service stage does for endpoints:

    fw:  {kind: router, vnf: {type: ebpf-firewall, interfaces: [eth0], allow: [icmp, tcp/5201]}}
    fwd: {kind: host, vnf: {type: ebpf-forwarder, between: [eth0, eth1], mode: l2}}

`between: [IN, OUT]` is a pair the node forwards between (traffic enters by IN); `interfaces:` are
interfaces where traffic ends (the node's own, e.g. a server's veth)."""
from __future__ import annotations

import copy

from ...core.loader import Source
from ...errors import TopologyError
from ..nsm import vnf
from . import PLAIN_KINDS

KINDS = PLAIN_KINDS
WHERE = {
    "between": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2,
                "description": "plain nodes: the two interfaces it forwards between [IN, OUT]"},
    "interfaces": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "description": "plain nodes: interfaces where traffic ends (e.g. a server's own veth)"},
}


def schema() -> dict:
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"type": "string", "description": "the role: " + ", ".join(vnf.names())},
                           **WHERE},
            "description": "a VNF role this node plays on its own interfaces, e.g. "
                           "{type: ebpf-firewall, interfaces: [eth0], allow: [icmp, tcp/5201]}"}


def _ifnames(raw: dict, node: str) -> set[str]:
    rn = raw["nodes"][node]
    out = set((rn.get("interfaces") or {}).keys()) if isinstance(rn.get("interfaces"), dict) else set()
    ends_here = 0
    for link in raw.get("links") or []:
        ends = link if isinstance(link, list) else (link.get("endpoints") if isinstance(link, dict) else [])
        for e in ends or []:
            if isinstance(e, str) and e.split(":", 1)[0] == node:
                ends_here += 1
                if ":" in e:
                    out.add(e.split(":", 1)[1])
            elif isinstance(e, dict) and e.get("node") == node:
                ends_here += 1
                if e.get("interface"):
                    out.add(e["interface"])
    # links that name only the node get eth0, eth1... (the names not taken)
    return out | {f"eth{k}" for k in range(ends_here)}


def expand(raw: dict, src: Source):
    users = [n for n, rn in raw["nodes"].items()
             if isinstance(rn, dict) and rn.get("kind") in KINDS and "vnf" in rn]
    if not users:
        return raw, src, []
    import jsonschema
    from ...core.validate import _issues_for
    out = copy.deepcopy(raw)
    values, keys = dict(src.values), dict(src.keys)
    issues = []
    for name in users:
        v = raw["nodes"][name]["vnf"]
        path = ("nodes", name, "vnf")
        if not isinstance(v, dict):
            issues.append(src.issue(path, f"vnf '{v}' on a plain node needs to say where it works",
                                    "e.g. {type: ebpf-firewall, interfaces: [eth0]} or "
                                    "{type: ebpf-forwarder, between: [eth0, eth1]}"))
            continue
        try:
            role = vnf.get(v["type"])
        except KeyError:
            issues.append(src.issue(path + ("type",), f"unknown vnf role '{v['type']}'", vnf.hint(str(v["type"]))))
            continue
        params = {k: x for k, x in v.items() if k not in ("type", *WHERE)}
        sch = {"type": "object", "additionalProperties": False, "properties": role.params}

        class _View:
            def issue(self, p, message, hint=None, key=False):
                return src.issue(path + tuple(p), message, hint, key)
        errs = list(jsonschema.validators.validator_for(sch)(sch).iter_errors(params))
        for err in errs:
            issues += _issues_for(err, _View())
        if errs:
            continue
        if not v.get("between") and not v.get("interfaces"):
            issues.append(src.issue(path, f"vnf '{role.name}' on node '{name}' says neither `between` "
                                          f"(two interfaces it forwards between) nor `interfaces`"))
            continue
        known = _ifnames(raw, name)
        bad = [i for i in (v.get("between") or []) + (v.get("interfaces") or []) if i not in known]
        if bad:
            issues.append(src.issue(path, f"node '{name}' has no interface {', '.join(map(repr, bad))}",
                                    "its interfaces: " + (", ".join(sorted(known)) or "none")))
            continue
        payload = role.plain_payload(params)
        w = vnf.Wiring(name, payload, [tuple(v["between"])] if v.get("between") else [],
                       list(v.get("interfaces") or []))
        problems = role.check(w, params)
        for p in problems:
            issues.append(src.issue(path, p, f"{role.name}: {role.summary}"))
        if problems:
            continue
        b = role.build(w, params)
        rn = out["nodes"][name]
        del rn["vnf"]
        sysctls = rn.setdefault("sysctls", {})
        for k, val in b.sysctls.items():
            if k not in sysctls:
                sysctls[k] = val
                values[("nodes", name, "sysctls", k)] = src.where(path)
                keys[("nodes", name, "sysctls", k)] = src.where(path)
        if b.exec:
            ex = rn.setdefault("exec", [])
            if not isinstance(raw["nodes"][name].get("exec"), list):
                values[("nodes", name, "exec")] = src.where(path)
            for cmd in b.exec:
                values[("nodes", name, "exec", len(ex))] = src.where(path)
                ex.append(cmd)
    if issues:
        raise TopologyError(issues)
    return out, Source(out, src.file, values, keys), []

"""The topology's JSON Schema, built from the driver registry.

`python -m emulator schema` prints it, so editors (VS Code's YAML extension,
for one) complete and check topology files; the validator and the web UI's
property forms use the same schema.
"""
from __future__ import annotations

from . import drivers
from .. import names, registry
from .driver import MAC, MTU

NAME_PATTERN = names.NAME_PATTERN
LAB_NAME = {"type": "string", "pattern": NAME_PATTERN, "maxLength": names.LAB_MAX,
            "description": "lab name: prefixes every namespace the lab creates (emu-<name>...)"}
RATE = {"type": ["string", "integer"], "description": "bandwidth limit, e.g. 100mbit, 1gbit (tc tbf)"}
TIME = {"type": ["string", "number"], "description": "e.g. 2ms, 100us (netem)"}
PCT = {"type": ["string", "number"], "description": "packet loss, e.g. 0.1% (netem)"}

ENDPOINT = {
    "anyOf": [
        {"type": "string", "description": "NODE or NODE:INTERFACE"},
        {"type": "object", "additionalProperties": False, "required": ["node"],
         "properties": {"node": {"type": "string"}, "interface": {"type": "string"},
                        "ip": {"type": "array", "items": {"type": "string"}}, "mac": MAC, "mtu": MTU}},
    ]
}
LINK_PROPERTIES = {
    "endpoints": {"type": "array", "items": ENDPOINT, "minItems": 2, "maxItems": 2},
    "type": {"enum": ["veth"], "description": "link type (default veth)"},  # filled from linktypes
    "mtu": MTU,
    "bandwidth": RATE,
    "delay": TIME,
    "jitter": TIME,
    "loss": PCT,
    "description": {"type": "string"},
}
LINK = {
    "anyOf": [
        {"type": "array", "items": ENDPOINT, "minItems": 2, "maxItems": 2,
         "description": "shorthand: [a:eth0, b:eth0]"},
        {"type": "object", "additionalProperties": False, "required": ["endpoints"],
         "properties": LINK_PROPERTIES},
    ]
}
COMMON_NODE_PROPERTIES = {
    "kind": {"type": "string"},
    "description": {"type": "string"},
    "labels": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "position": {"type": "object", "additionalProperties": False,
                 "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                 "description": "where the web UI draws the node"},
}
ADDRESSING = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "lan": {"type": "string", "description": "pool for bridged segments (default 10.0.0.0/16)"},
        "p2p": {"type": "string", "description": "pool for point-to-point links, a /30 each (default 10.255.0.0/16)"},
        "auto": {"type": "boolean", "description": "give addresses to interfaces that have none (default true)"},
    },
}


def node_schema(kinds=None) -> dict:
    """Nodes of KINDS (default: every registered kind) with each kind's own fields; the `kind:`
    enum always lists them all. Only the drivers of KINDS are imported."""
    names = drivers.kinds()
    return {
        "type": "object", "required": ["kind"],
        "properties": {"kind": {"enum": names, "description": "node kind: " + ", ".join(names)}},
        "allOf": [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]}, "then": kind_schema(k)}
                  for k in (names if kinds is None else [k for k in names if k in kinds])],
    }


def kind_schema(kind: str, fields=None) -> dict:
    """The fields a node of KIND takes (its driver's, and those other backends add to it; of the
    latter, with FIELDS, only the schemas of FIELDS: the others are allowed, not imported)."""
    d = drivers.get(kind)
    return {"properties": {**COMMON_NODE_PROPERTIES, **d.properties, **extra_node_properties(kind, fields)},
            "additionalProperties": False,
            "description": d.summary}


def extra_node_properties(kind: str, fields=None) -> dict:
    """Fields a backend adds to other backends' kinds (registry.node_properties): the eBPF backend's vnf: on hosts."""
    regs = registry.active()
    return {k: regs.node_property(k)[0] if fields is None or k in fields else {}
            for k, (_, kinds) in list(regs.node_properties.items()) if kind in kinds}


def link_schema() -> dict:
    from . import linktypes
    props = dict(LINK_PROPERTIES)
    props["type"] = {"enum": linktypes.names(), "description": "link type (default veth)"}
    single = single_ended_schema()
    return {"anyOf": [LINK["anyOf"][0], {**LINK["anyOf"][1], "properties": props}] + ([single] if single else [])}


def single_ended_schema() -> dict | None:
    """`{type: T, endpoint: NODE[:IF], ...}`: a single-ended link of an endpoint type (endpoints.py),
    each type with its own fields."""
    from . import endpoints
    types = endpoints.all_types()
    if not types:
        return None
    common = {"type": {"enum": [t.name for t in types],
                       "description": "endpoint type: " + "; ".join(f"{t.name}: {t.summary}" for t in types)},
              "endpoint": ENDPOINT, "mtu": MTU, "description": {"type": "string"}}
    props = dict(common)
    for t in types:   # a field two types define differently (mode:) is checked by each type's branch
        for k, v in t.properties.items():
            props[k] = v if props.get(k, v) == v else {"description": f"{k}: depends on the type"}
    return {"type": "object", "additionalProperties": False, "required": ["type", "endpoint"],
            "properties": props,
            "description": "a single-ended link: one node's interface and a device of the host",
            "allOf": [{"if": {"properties": {"type": {"const": t.name}}, "required": ["type"]},
                       "then": {"required": list(t.required), "properties": t.properties,
                                "propertyNames": {"enum": list(common) + list(t.properties)}}}
                      for t in types]}


DRAFT = "https://json-schema.org/draft/2020-12/schema"


def topology_schema(lab_fields=None, nodes: bool = True, links: bool = True) -> dict:
    """The whole schema (what `emulator schema` prints). The validator builds parts of it: the
    skeleton with only the schemas of the top-level fields a document has (LAB_FIELDS; the others
    are allowed but not imported), without nodes' and links' own schemas."""
    regs = registry.active()
    return {
        "$schema": DRAFT,
        "$id": "https://emulator.invalid/topology.schema.json",
        "title": "emulator topology",
        "type": "object",
        "required": ["name", "nodes"],
        "additionalProperties": False,
        "properties": {
            "name": LAB_NAME,
            "description": {"type": "string"},
            "addressing": ADDRESSING,
            "ipv6": {"enum": ["auto", "on", "off"],
                     "description": "IPv6 in the nodes: auto (default) enables it only when the lab has an IPv6 "
                                    "address, which keeps large labs free of router-solicitation floods; "
                                    "on: link-local IPv6 everywhere; off: none"},
            "nodes": {"type": "object", "minProperties": 1,
                      "description": "the nodes by name, each with its kind, e.g. h1: {kind: host}",
                      "propertyNames": {"pattern": NAME_PATTERN, "maxLength": names.NODE_MAX},
                      "additionalProperties": node_schema() if nodes else {}},
            "links": {"type": "array", "items": link_schema() if links else {}},
            # the backends' top-level fields: hugepages:, ovs:, services:, srv6:, placement:, sriov:...
            **{k: regs.lab_property(k) if lab_fields is None or k in lab_fields else {}
               for k in list(regs.lab_properties)},
        },
    }

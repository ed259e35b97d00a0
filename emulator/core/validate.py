"""Stage 2: check the raw topology against the JSON Schema, collecting every error.

jsonschema's messages are rewritten into what a user can act on, located by
YAML path (and so by line and column) with a hint.
"""
from __future__ import annotations

import difflib
import json

import jsonschema

from .. import registry
from . import drivers
from .. import names
from ..errors import Issue, TopologyError, quote
from .loader import Source
from .schema import DRAFT, kind_schema, link_schema, node_schema, topology_schema

_NAME_RULE = names.RULE
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "nothing"}


_show = quote   # a user's value in a message: escaped, and cut when long (emulator/errors.py)


def _type_of(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "integer", float: "number",
            type(None): "null"}.get(type(v), type(v).__name__)


def _want(types) -> str:
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types)


def _matches_type(schema: dict, value) -> bool:
    t = schema.get("type")
    if t is None:
        return True
    types = [t] if isinstance(t, str) else t
    vt = _type_of(value)
    return vt in types or (vt == "integer" and "number" in types)


def _issues_for(err: jsonschema.ValidationError, src: Source) -> list[Issue]:
    path = tuple(err.absolute_path)
    v, inst, schema = err.validator, err.instance, err.schema
    if v in ("anyOf", "oneOf"):
        # pick the alternative that has the value's type and report its own errors
        alts = err.validator_value
        # the alternative of the value's type whose required fields it has (a link with endpoint:
        # is a single-ended one), else the first of its type
        fits = [i for i, a in enumerate(alts) if _matches_type(a, inst)]
        fits.sort(key=lambda i: -sum(r in inst for r in alts[i].get("required", ())) if isinstance(inst, dict) else 0)
        for i in fits:
            sub = [e for e in err.context if e.schema_path and e.schema_path[0] == i]
            out: list[Issue] = []
            for e in sub:
                out.extend(_issues_for(e, src))
            if out:
                return out
        want = " or ".join(_want(a.get("type", "?")) for a in alts)
        return [src.issue(path, f"expected {want}, got {_TYPE_NAMES.get(_type_of(inst), _type_of(inst))}")]
    if v == "additionalProperties" and isinstance(inst, dict):
        known = list(schema.get("properties", {}))
        out = []
        for k in inst:
            if k not in known:
                close = difflib.get_close_matches(k, known, n=1)
                hint = (f"did you mean '{close[0]}'? " if close else "") + \
                    ("known fields: " + ", ".join(known) if known else "")
                kind = inst.get("kind") if isinstance(inst.get("kind"), str) else None
                where = f" for kind '{kind}'" if kind and len(path) == 2 and path[0] == "nodes" else ""
                out.append(src.issue(path + (k,), f"unknown field {_show(k)}{where}", hint or None, key=True))
        return out
    if v == "required":
        missing = [r for r in err.validator_value if isinstance(inst, dict) and r not in inst]
        props = schema.get("properties", {})
        return [src.issue(path, f"missing required field '{m}'", props.get(m, {}).get("description"))
                for m in missing]
    if v == "enum" and "propertyNames" in err.relative_schema_path:   # a field another type takes
        link = src.data
        for p in path:
            link = link[p] if isinstance(link, (dict, list)) else None
        typ = link.get("type") if isinstance(link, dict) else None
        return [src.issue(path + (inst,), f"unknown field {_show(inst)}" + (f" for type '{typ}'" if typ else ""),
                          "known fields: " + ", ".join(map(str, err.validator_value)), key=True)]
    if v == "enum" and path[-1:] == ("kind",) and not isinstance(inst, str):
        return [src.issue(path, f"expected a kind name, got {_TYPE_NAMES.get(_type_of(inst), _type_of(inst))}",
                          "known kinds: " + ", ".join(drivers.kinds()))]
    if v == "enum" and path[-1:] == ("kind",):
        hint = drivers.UnknownKind(str(inst)).hint()
        return [src.issue(path, f"unknown kind {_show(inst)}", hint)]
    if v == "enum":
        return [src.issue(path, f"{_show(inst)} is not one of: {', '.join(map(str, err.validator_value))}")]
    if v == "type":
        hint = schema.get("description")
        if err.validator_value == "array" and isinstance(inst, (str, int, float)) and not isinstance(inst, bool):
            hint = f"write a list, even of one item: [{inst}]"
        elif err.validator_value == "string" and isinstance(inst, (int, float)):  # bool is an int
            hint = "YAML reads this value as " + _TYPE_NAMES[_type_of(inst)] + "; quote it to make it a string"
        return [src.issue(path, f"expected {_want(err.validator_value)}, got "
                                f"{_TYPE_NAMES.get(_type_of(inst), _type_of(inst))}", hint)]
    if v == "pattern" and err.relative_schema_path and "propertyNames" in err.relative_schema_path:
        what = "node name" if path == ("nodes",) else "name"
        return [src.issue(path + (inst,), f"invalid {what} {_show(inst)}", _NAME_RULE, key=True)]
    if v == "pattern" and path == ("name",):
        return [src.issue(path, f"invalid lab name {_show(inst)}",
                          _NAME_RULE + "; the lab name prefixes every namespace (emu-<name>.<node>)")]
    if v == "pattern":
        return [src.issue(path, f"invalid value {_show(inst)}", schema.get("description"))]
    if v == "maxLength" and "propertyNames" in err.relative_schema_path:
        return [src.issue(path + (inst,), f"name {_show(inst)} is longer than {err.validator_value} characters",
                          None, key=True)]
    if v == "maxLength":
        return [src.issue(path, f"{_show(inst)} is longer than {err.validator_value} characters",
                          schema.get("description"))]
    if v in ("minItems", "maxItems") and path and path[-1] == "endpoints" or \
            (v in ("minItems", "maxItems") and len(path) == 2 and path[0] == "links"):
        return [src.issue(path, f"a link has exactly two endpoints, this one has {len(inst)}")]
    if v == "minProperties":
        return [src.issue(path, "must not be empty")]
    return [src.issue(path, err.message, schema.get("description"))]




def _strict(schema: dict):
    cls = jsonschema.validators.validator_for({"$schema": DRAFT})
    # JSON Schema counts 9000.0 as an integer; the kernel takes MTUs and metrics as integers only
    strict = cls.TYPE_CHECKER.redefine(
        "integer", lambda checker, inst: isinstance(inst, int) and not isinstance(inst, bool))
    return jsonschema.validators.extend(cls, type_checker=strict)(schema)


def _get_validator(part: str = "", kind: str | None = None, fields: frozenset = frozenset()):
    """Validators for the document's skeleton, for one node of a kind, and for one link.

    Nodes and links are checked one by one (a node against its own kind's schema only), and
    identical ones only once: a 1000-node generated lab validates in milliseconds. Each part's
    schema is built alone, so that only the backends a document uses are imported: the skeleton
    with the schemas of the top-level fields it has, a node of KIND with its driver's fields and of
    the fields other backends add to its kind those it has (FIELDS: those a part has).
    """
    key = (part, kind, fields)
    _validators = registry.active().cache.setdefault("validators", {})   # per registries: their kinds
    if key not in _validators:
        if part == "skeleton":
            schema = topology_schema(fields, nodes=False, links=False)
        elif part == "node":
            node = node_schema(kinds=())
            if kind is not None:
                branch = kind_schema(kind, fields)
                node = {**branch, "type": "object", "required": ["kind"],
                        "properties": {**branch["properties"], "kind": node["properties"]["kind"]}}
            schema = node
        elif part == "link":
            schema = link_schema()
        else:
            schema = topology_schema()
        _validators[key] = _strict(schema)
    return _validators[key]


def _errors(src: Source):
    data = src.data
    regs = registry.active()
    yield from _get_validator("skeleton", fields=frozenset(k for k in data if k in regs.lab_properties)).iter_errors(data)
    seen_ok: set = set()
    parts = []
    if isinstance(data.get("nodes"), dict):
        parts += [(("nodes", k), v, "node") for k, v in data["nodes"].items()]
    if isinstance(data.get("links"), list):
        parts += [(("links", i), v, "link") for i, v in enumerate(data["links"])]
    known = set(drivers.kinds())
    for prefix, value, part in parts:
        if part == "link" and isinstance(value, list) and len(value) == 2 and \
                all(isinstance(x, str) for x in value):
            continue  # the shorthand [a:eth0, b]: any two strings match the schema (resolve checks them)
        kind = value.get("kind") if part == "node" and isinstance(value, dict) else None
        kind = kind if isinstance(kind, str) and kind in known else None
        try:
            memo = (part, kind, json.dumps(value, sort_keys=True, default=repr))
        except (TypeError, ValueError):
            memo = None
        if memo is not None and memo in seen_ok:
            continue
        found = False
        fields = frozenset(k for k in value if k in regs.node_properties) if kind is not None else frozenset()
        for err in _get_validator(part, kind, fields).iter_errors(value):
            found = True
            err.path.extendleft(reversed(prefix))
            yield err
        if not found and memo is not None:
            seen_ok.add(memo)


def check(src: Source) -> dict:
    """Return the raw topology if it matches the schema; raise TopologyError with every problem."""
    if not isinstance(src.data, dict):
        raise TopologyError([src.issue((), f"a topology is a mapping with name:, nodes: and links:, "
                                           f"not {_TYPE_NAMES.get(_type_of(src.data), 'this')}")])
    issues: list[Issue] = []
    seen = set()
    errors = sorted(_errors(src), key=lambda e: [str(p) for p in e.absolute_path])
    for err in errors:
        for i in _issues_for(err, src):
            k = (i.path, i.message)
            if k not in seen:
                seen.add(k)
                issues.append(i)
    if issues:
        issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise TopologyError(issues)
    return src.data

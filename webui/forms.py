"""Property forms generated from the topology JSON Schema (emulator.core.schema.topology_schema).

Each field of the selected element's schema becomes one input: a text box for strings, a number
box for numbers, a switch for booleans, a drop-down for enums and, for lists and mappings
(addresses, routes, interfaces, startup commands...), a one-line YAML box. The same schema
validates the result, so a form can never accept what the CLI would refuse.
"""
from __future__ import annotations

import json

import yaml
from dash import dcc, html

from emulator.core import schema as schema_mod

HIDDEN = {"position", "endpoints"}


def node_fields(kind: str) -> dict:
    """The properties a node of this kind takes (the driver's branch of the schema)."""
    for branch in schema_mod.node_schema()["allOf"]:
        if branch["if"]["properties"]["kind"].get("const") == kind:
            return branch["then"]["properties"]
    return dict(schema_mod.COMMON_NODE_PROPERTIES)


def link_fields() -> dict:
    return schema_mod.link_schema()["anyOf"][1]["properties"]


def top_fields() -> dict:
    """Every top-level field but nodes and links (drawn): services, forwarders and whatever the
    registered backends add to the schema."""
    props = schema_mod.topology_schema()["properties"]
    return {k: v for k, v in props.items() if k not in ("nodes", "links")}


def entry_fields(section: str) -> dict:
    """The fields of one entry of a top-level mapping (services: NAME, forwarders: NAME)."""
    spec = schema_mod.topology_schema()["properties"].get(section, {}).get("additionalProperties") or {}
    for branch in [spec] + list(spec.get("anyOf", [])):
        if isinstance(branch, dict) and branch.get("properties"):
            return branch["properties"]
    return {}


def kinds() -> list[str]:
    return list(schema_mod.node_schema()["properties"]["kind"]["enum"])


def kind_summaries() -> dict[str, str]:
    return {b["if"]["properties"]["kind"]["const"]: b["then"].get("description", "")
            for b in schema_mod.node_schema()["allOf"]}


def _types(spec: dict) -> set[str]:
    t = spec.get("type")
    if t is None and "anyOf" in spec:
        out = set()
        for s in spec["anyOf"]:
            out |= _types(s)
        return out
    if isinstance(t, list):
        return set(t)
    return {t} if t else set()


def widget(spec: dict) -> str:
    if "enum" in spec:
        return "enum"
    if "const" in spec:
        return "const"
    t = _types(spec)
    if t & {"array", "object"}:
        return "yaml"
    if t == {"boolean"}:
        return "bool"
    if t and t <= {"integer", "number"}:
        return "number"
    return "text"


def _show(value, w: str):
    if value is None:
        return "" if w in ("text", "yaml") else None
    if w == "yaml":
        return yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
    if w == "bool":
        return [True] if value else []
    return value


def field(form: str, key: str, spec: dict, value) -> html.Div:
    w = widget(spec)
    fid = {"type": "prop", "form": form, "key": key, "w": w}
    desc = spec.get("description", "")
    if w == "enum":
        inp = dcc.Dropdown(id=fid, options=[{"label": str(o), "value": o} for o in spec["enum"]],
                           value=value, clearable=key != "kind", className="prop-dd")
    elif w == "bool":
        inp = dcc.Checklist(id=fid, options=[{"label": "", "value": True}], value=_show(value, w),
                            className="prop-bool")
    elif w == "number":
        inp = dcc.Input(id=fid, type="number", value=value, debounce=True, className="prop-in")
    else:
        inp = dcc.Input(id=fid, type="text", value=_show(value, w), debounce=True, className="prop-in",
                        placeholder=("YAML, e.g. " + _example(key)) if w == "yaml" else "")
    return html.Div([html.Label(key, title=desc, htmlFor=json.dumps(fid, sort_keys=True)), inp],
                    className="prop-row", title=desc)


def _example(key: str) -> str:
    return {"ip": "[10.0.0.1/24]", "routes": "[{to: default, via: r1}]", "exec": "['sysctl -w ...']",
            "interfaces": "{eth0: {ip: [10.0.0.1/24]}}", "labels": "{app: fw}", "sysctls": "{net.ipv4.ip_forward: 1}",
            "addressing": "{lan: 10.0.0.0/16}"}.get(key, "[...]")


def parse(w: str, value):
    """A widget's value back to topology data; None = the field is not set."""
    if w == "bool":
        return True if value else None
    if w == "number":
        return value if value not in ("", None) else None
    if w == "enum":
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if w == "yaml":
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise ValueError(f"not valid YAML: {str(e).splitlines()[0]}") from None
    if isinstance(value, str):
        v = value.strip()
        try:  # '100' in a string-or-integer field stays what the user meant
            return int(v) if v.isdigit() else v
        except ValueError:
            return v
    return value


def node_form(name: str, node: dict) -> list:
    kind = node.get("kind", "host")
    fields = node_fields(kind)
    rows = [html.Div([html.Label("name"), dcc.Input(id={"type": "prop", "form": "node", "key": "__name__",
                                                         "w": "text"}, value=name, type="text", debounce=True,
                                                     className="prop-in")], className="prop-row")]
    for key, spec in fields.items():
        if key in HIDDEN:
            continue
        if key == "kind":
            spec = {"enum": kinds(), "description": "node kind"}
        rows.append(field("node", key, spec, node.get(key)))
    extra = {k: v for k, v in node.items() if k not in fields and k not in HIDDEN}
    for key, v in extra.items():  # fields this kind does not take: shown so they can be fixed
        rows.append(field("node", key, {"type": ["object", "array", "string"]}, v))
    return rows


def link_form(index: int, link) -> list:
    eps = link if isinstance(link, list) else (link.get("endpoints") or [])
    props = {} if isinstance(link, list) else link
    rows = [html.Div([html.Label(f"endpoint {i}"),
                      dcc.Input(id={"type": "prop", "form": "link", "key": f"__ep{i}__", "w": "yaml"},
                                value=_show(ep, "yaml") if not isinstance(ep, str) else ep, type="text",
                                debounce=True, className="prop-in")], className="prop-row")
            for i, ep in enumerate(eps[:2])]
    for key, spec in link_fields().items():
        if key in HIDDEN:
            continue
        rows.append(field("link", key, spec, props.get(key)))
    return rows


def entry_form(section: str, name: str, entry) -> list:
    """The form of a service or a forwarder (selected on the drawing)."""
    entry = entry if isinstance(entry, dict) else {}
    fields = entry_fields(section)
    rows = [field(section, key, spec, entry.get(key)) for key, spec in fields.items()]
    rows += [field(section, k, {"type": ["object", "array", "string"]}, v) for k, v in entry.items() if k not in fields]
    return rows


def top_form(topo: dict) -> list:
    return [field("top", key, spec, topo.get(key)) for key, spec in top_fields().items()]

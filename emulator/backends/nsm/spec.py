"""What the YAML says about network services: services, matches, requests, endpoints.

Both spellings NSM has used are accepted and normalised here:
  v1        matches: [{source_selector: {...}, routes: [{destination_selector: {...}}], fallthrough, metadata}]
  v1alpha1  matches: [{match:, sourceSelector: {...}, route: [{destination:, destinationSelector: {...}}]}]
A route's `weight` is accepted and, as in NSM's endpoint discovery, does not change the selection.
Requests use NSM's URL form `mechanism://service/ifname?label=value&...` (the mechanism and the
interface name are optional: `service`, `service/eth2?app=fw` as in the `ns.networkservicemesh.io`
annotation of NSM 0.x).
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from .select import Match, Route

LABEL_VALUE = {"type": ["string", "number", "boolean"]}
SELECTOR = {"type": "object", "additionalProperties": LABEL_VALUE,
            "description": "labels, all of which must be present, e.g. {app: firewall}"}
_ROUTE = {"type": "object", "additionalProperties": False, "properties": {
    "destination_selector": SELECTOR, "destinationSelector": {**SELECTOR, "description": "v1alpha1 spelling"},
    "destination": {"type": "null", "description": "v1alpha1 list marker (`- destination:`), ignored"},
    "weight": {"type": "integer", "minimum": 0}}}
_MATCH = {"type": "object", "additionalProperties": False, "properties": {
    "source_selector": SELECTOR, "sourceSelector": {**SELECTOR, "description": "v1alpha1 spelling"},
    "routes": {"type": "array", "items": _ROUTE}, "route": {"type": "array", "items": _ROUTE,
                                                           "description": "v1alpha1 spelling"},
    "fallthrough": {"type": "boolean", "description": "when no endpoint matches, try the next match"},
    "metadata": {"type": ["object", "null"], "description": "labels for the connection (NSM match metadata)"},
    "match": {"type": "null", "description": "v1alpha1 list marker (`- match:`), ignored"}}}
SERVICE = {"type": "object", "additionalProperties": False, "properties": {
    "payload": {"enum": ["IP", "ETHERNET"], "description": "IP (routed hops, default) or ETHERNET (one L2 segment)"},
    "matches": {"type": "array", "items": _MATCH, "description": "tried in order for every request"},
    "name": {"type": "string"}, "description": {"type": "string"}}}
SERVICES = {"type": "object", "description": "network services (NSM NetworkService resources) by name",
            "propertyNames": {"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 63},
            "additionalProperties": {"anyOf": [SERVICE, {"type": "null"}]}}


def forwarders_schema() -> dict:
    from . import forwarders
    return {"type": "object", "description": "forwarders: the data planes that build cross-connects",
            "additionalProperties": {"type": "object", "additionalProperties": False, "required": ["type"],
                                     "properties": {"type": {"enum": forwarders.names()},
                                                    "description": {"type": "string"}}}}


REQUEST = {"anyOf": [
    {"type": "string", "description": "mechanism://service/ifname?label=value, e.g. kernel://secure-intranet/nsm0"},
    {"type": "object", "additionalProperties": False, "required": ["service"],
     "properties": {"service": {"type": "string"}, "mechanism": {"type": "string"},
                    "interface": {"type": "string"}, "labels": SELECTOR}}]}


@dataclass
class Service:
    name: str
    payload: str = "IP"
    matches: list[Match] = field(default_factory=list)
    path: tuple = ()


@dataclass
class Request:
    service: str
    mechanism: str = "kernel"
    interface: str | None = None
    labels: dict = field(default_factory=dict)
    text: str = ""
    path: tuple = ()


@dataclass
class Endpoint:
    name: str
    services: list[str]
    labels: dict
    cidr: str | None
    vnf: object
    path: tuple = ()


def _pick(raw: dict, new: str, old: str, path: tuple, issue) -> tuple[object, tuple]:
    if new in raw and old in raw:
        issue(path + (old,), f"both '{new}' and '{old}' are given", f"'{old}' is the v1alpha1 spelling of "
                                                                    f"'{new}': keep one")
    if new in raw:
        return raw[new], path + (new,)
    return raw.get(old), path + (old,)


def _labels(d) -> dict:
    return {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in (d or {}).items()}


def parse_service(name: str, raw, issue) -> Service:
    path = ("services", name)
    raw = raw or {}
    svc = Service(name=name, payload=raw.get("payload", "IP"), path=path)
    for i, rm in enumerate(raw.get("matches") or []):
        mpath = path + ("matches", i)
        src, _ = _pick(rm, "source_selector", "sourceSelector", mpath, issue)
        routes_raw, rpath = _pick(rm, "routes", "route", mpath, issue)
        routes = []
        for j, rr in enumerate(routes_raw or []):
            sel, _ = _pick(rr, "destination_selector", "destinationSelector", rpath + (j,), issue)
            routes.append(Route(_labels(sel), rpath + (j,)))
        meta = rm.get("metadata") if "metadata" in rm else None
        if "metadata" in rm and meta is None:
            meta = {}
        svc.matches.append(Match(i, _labels(src), routes, bool(rm.get("fallthrough")), meta, mpath))
    return svc


_URL = re.compile(r"^(?:(?P<mech>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<svc>[^/?#]+)(?:/(?P<ifname>[^?#]*))?"
                  r"(?:\?(?P<query>.*))?$")


def parse_request(value, path: tuple, issue) -> Request | None:
    if isinstance(value, dict):
        return Request(service=value["service"], mechanism=value.get("mechanism", "kernel"),
                       interface=value.get("interface"), labels=_labels(value.get("labels")),
                       text=value["service"], path=path)
    m = _URL.match(str(value).strip())
    if not m:
        issue(path, f"'{value}' is not a network service request",
              "write mechanism://service/ifname?label=value, e.g. kernel://secure-intranet/nsm0?app=web")
        return None
    labels = {}
    if m.group("query"):
        for part in re.split(r"[&,]", m.group("query")):
            if not part:
                continue
            k, sep, v = part.partition("=")
            if not sep or not k:
                issue(path, f"label '{part}' in request '{value}' is not KEY=VALUE", "e.g. ?app=firewall&version=2")
                return None
            labels[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return Request(service=m.group("svc"), mechanism=(m.group("mech") or "kernel").lower(),
                   interface=m.group("ifname") or None, labels=labels, text=str(value), path=path)


def parse_services_list(value) -> list[str]:
    """NSE `services:` as a list, or a comma-separated string (as NSM_SERVICE_NAMES)."""
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    return [str(s) for s in value or []]

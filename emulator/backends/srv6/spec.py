"""What the YAML says about SRv6, checked and resolved: locators and SIDs per router, policies.

A router that speaks SRv6 is `kind: srv6-router` with a `locator:` (an IPv6 prefix) and optional
named `sids:`; it always has the SID `end` (behaviour End) at the locator's first address. A policy
(top-level `srv6: {policies: ...}`) steers traffic to a prefix at its headend over a list of
segments; a segment is a router's name (its `end` SID), `ROUTER.SID` (a named SID) or an IPv6
address that must be one of the lab's SIDs.

`build()` works on plain data (the raw topology, or the resolved lab's node props) and returns
the model and the problems as (path, message, hint), so the expand stage can locate them.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

KIND = "srv6-router"
#: behaviour -> (what it does at the last segment, the kind of next hop it takes)
BEHAVIOURS = {
    "End": ("transit", None),
    "End.X": ("transit", "nh6"),
    "End.DX4": ("decap4", "nh4"),
    "End.DX6": ("decap6", "nh6"),
    "End.DT4": ("decap4", None),
    "End.DT6": ("decap6", None),
    "End.DT46": ("decap46", None),
}
DECAP4 = ("End.DX4", "End.DT4", "End.DT46")
DECAP6 = ("End.DX6", "End.DT6", "End.DT46")
MODES = ("encap", "inline")
FIRST_TABLE = 6000  # a policy with from: gets table 6000 + its index at the headend (rule priority the same)
FIRST_SID = 0x100   # named SIDs without an address get locator + 0x100, 0x101, ... in order

SID_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["behaviour"],
    "properties": {
        "behaviour": {"enum": list(BEHAVIOURS), "description": "what the router does with a packet sent to this SID: "
                      "End (next segment), End.X (next segment, out to a neighbour), End.DX4/End.DX6 (decapsulate "
                      "and send the inner packet to nh), End.DT4/End.DT6/End.DT46 (decapsulate and look the inner "
                      "packet up in the main table; DT4/DT46 need VRF support in the kernel)"},
        "sid": {"type": "string", "description": "the SID's address, inside the router's locator (default: "
                                                 "locator + 0x100, 0x101, ... in the order written)"},
        "nh": {"type": "string", "description": "End.X: a neighbouring srv6-router; End.DX4/End.DX6: the next hop "
                                                "of the inner packet, a node on a shared subnet or its address"},
    },
}
NODE_PROPERTIES = {
    "locator": {"type": "string", "description": "this router's SRv6 locator, an IPv6 prefix (e.g. fc00:0:1::/48); "
                                                 "its SID 'end' (behaviour End) is the prefix's first address"},
    "sids": {"type": "object", "additionalProperties": SID_SCHEMA,
             "description": "named SIDs of this router (the name 'end' is taken), e.g. dx4: {behaviour: End.DX4, nh: h2}"},
}
POLICY_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["headend", "to", "segments"],
    "properties": {
        "headend": {"type": "string", "description": "the srv6-router that steers the traffic (adds the SRH)"},
        "to": {"type": "string", "description": "destination prefix steered into the policy (IPv4 or IPv6)"},
        "from": {"type": "string",
                 "description": "steer only the traffic of this node, or of this service chain (a network "
                                "service of services:, as NSM resolves it: every node on its chains, the clients "
                                "and the endpoints they reach), by their addresses: an `ip rule` per address at "
                                "the headend to a table of the policy's own; default: all traffic"},
        "segments": {"type": "array", "minItems": 1, "items": {"type": "string"},
                     "description": "segment list, first to last: ROUTER (its End SID), ROUTER.SID or a SID address"},
        "mode": {"enum": list(MODES), "description": "encap (default): a new IPv6 header with an SRH around the "
                                                     "packet; inline: an SRH inserted into an IPv6 packet"},
    },
}
LAB_PROPERTIES = {
    "srv6": {
        "type": "object", "additionalProperties": False,
        "description": "SRv6 policies (emulator/backends/srv6/): traffic to a prefix steered over a segment list",
        "properties": {
            "policies": {"type": "object", "additionalProperties": POLICY_SCHEMA},
            "link_prefix": {"type": "string", "description": "IPv6 prefix the links between srv6-routers get a /64 "
                                                             "each from (default fd00:5::/48)"},
        },
    },
}
LAB_SCHEMA = LAB_PROPERTIES["srv6"]   # the top-level srv6: (registered by the backend)
LINK_PREFIX = "fd00:5::/48"


@dataclass
class Sid:
    node: str
    name: str
    addr: str
    behaviour: str
    nh: str | None = None
    path: tuple = ()

    @property
    def label(self) -> str:
        return self.node if self.name == "end" else f"{self.node}.{self.name}"


@dataclass
class Router:
    name: str
    locator: str
    sids: dict[str, Sid] = field(default_factory=dict)


@dataclass
class Policy:
    name: str
    headend: str
    to: str
    segments: list[Sid]
    mode: str = "encap"
    path: tuple = ()
    src: str | None = None      # from: the node (or network service chain) whose traffic alone is steered
    table: int | None = None    # the headend's routing table of a policy with from:

    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.to, strict=False).version


@dataclass
class Model:
    routers: dict[str, Router] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    link_prefix: str = LINK_PREFIX

    def by_addr(self) -> dict[str, Sid]:
        return {s.addr: s for r in self.routers.values() for s in r.sids.values()}

    def as_dict(self) -> dict:
        return {"routers": {r.name: {"locator": r.locator,
                                     "sids": {s.name: {"sid": s.addr, "behaviour": s.behaviour, "nh": s.nh}
                                              for s in r.sids.values()}} for r in self.routers.values()},
                "policies": {p.name: {"headend": p.headend, "to": p.to, "mode": p.mode,
                                      "from": p.src, "table": p.table,
                                      "segments": [s.addr for s in p.segments],
                                      "labels": [s.label for s in p.segments]} for p in self.policies.values()}}


def is_router(rn: dict) -> bool:
    """Whether a node (its raw mapping) is an SRv6 router: kind srv6-router, or a node of a kind another
    backend declares in the registry's srv6_kinds (kind -> predicate): a vpp node with a locator."""
    if rn.get("kind") == KIND:
        return True
    from ... import registry
    pred = registry.active().srv6_kinds.get(rn.get("kind"))
    return bool(pred and pred(rn))


def build(nodes: dict, srv6: dict | None, services=()) -> tuple[Model, list[tuple[tuple, str, str | None]]]:
    """NODES: name -> raw node mapping (kind, locator, sids); SRV6: the top-level srv6: mapping;
    SERVICES: the network services a policy's from: may name (service_names())."""
    m = Model(link_prefix=(srv6 or {}).get("link_prefix", LINK_PREFIX))
    problems: list[tuple[tuple, str, str | None]] = []
    try:
        lp = ipaddress.ip_network(m.link_prefix, strict=True)
        if lp.version != 6 or lp.prefixlen > 60:
            problems.append((("srv6", "link_prefix"), "the link prefix must be an IPv6 prefix of /60 or shorter",
                             "e.g. fd00:5::/48"))
    except ValueError as e:
        problems.append((("srv6", "link_prefix"), f"not an IPv6 prefix: {e}", "e.g. fd00:5::/48"))
    locators: list[tuple[ipaddress.IPv6Network, str]] = []
    for name, rn in nodes.items():
        if not isinstance(rn, dict) or not is_router(rn):
            continue
        path = ("nodes", name)
        if "locator" not in rn:
            problems.append((path, f"{rn.get('kind')} '{name}' has no locator", "add e.g. locator: fc00:0:1::/48"))
            continue
        try:
            loc = ipaddress.ip_network(rn["locator"], strict=True)
            if loc.version != 6 or loc.prefixlen > 120:
                raise ValueError("an IPv6 prefix of /120 or shorter is needed")
        except ValueError as e:
            problems.append((path + ("locator",), f"locator {rn['locator']!r} is not usable: {e}",
                             "write an IPv6 prefix with its host bits zero, e.g. fc00:0:1::/48"))
            continue
        clash = next((o for net, o in locators if net.overlaps(loc)), None)
        if clash:
            problems.append((path + ("locator",), f"locator {loc} overlaps the locator of '{clash}'",
                             "every router needs a locator of its own"))
            continue
        locators.append((loc, name))
        r = Router(name, str(loc))
        r.sids["end"] = Sid(name, "end", str(loc.network_address + 1), "End", path=path + ("locator",))
        for k, (sname, rs) in enumerate((rn.get("sids") or {}).items()):
            spath = path + ("sids", sname)
            if sname == "end" or "." in sname:
                problems.append((spath, f"SID name '{sname}' is not allowed", "'end' is the router's End SID; "
                                 "a name may not contain '.'"))
                continue
            addr = loc.network_address + FIRST_SID + k
            if "sid" in rs:
                try:
                    addr = ipaddress.IPv6Address(rs["sid"])
                except ValueError:
                    problems.append((spath + ("sid",), f"{rs['sid']!r} is not an IPv6 address", None))
                    continue
                if addr not in loc:
                    problems.append((spath + ("sid",), f"SID {addr} is not inside {name}'s locator {loc}", None))
                    continue
            beh = rs["behaviour"]
            nh_kind = BEHAVIOURS[beh][1]
            if nh_kind and not rs.get("nh"):
                problems.append((spath, f"{beh} needs nh: the next hop it sends packets to",
                                 "a node on a shared subnet, or its address"))
                continue
            if not nh_kind and rs.get("nh"):
                problems.append((spath + ("nh",), f"{beh} takes no nh", None))
                continue
            if any(s.addr == str(addr) for s in r.sids.values()):
                problems.append((spath + ("sid",), f"SID {addr} is used twice on '{name}'", None))
                continue
            r.sids[sname] = Sid(name, sname, str(addr), beh, rs.get("nh"), spath)
            if rs.get("nh"):
                problems += _check_nh(nodes, r.sids[sname], nh_kind)
        m.routers[name] = r
    for k, (pname, rp) in enumerate(((srv6 or {}).get("policies") or {}).items()):
        pol, more = _policy(m, nodes, pname, rp, services)
        problems += more
        if pol:
            pol.table = FIRST_TABLE + k if pol.src else None
            m.policies[pname] = pol
    return m, problems


def _check_nh(nodes: dict, sid: Sid, nh_kind: str) -> list:
    path = sid.path + ("nh",)
    try:
        a = ipaddress.ip_address(sid.nh)
        want = 4 if nh_kind == "nh4" else 6
        if a.version != want:
            return [(path, f"{sid.behaviour} sends to an IPv{want} next hop; {a} is IPv{a.version}", None)]
        return []
    except ValueError:
        pass
    if sid.nh not in nodes:
        return [(path, f"nh names '{sid.nh}', which is neither an address nor a node", None)]
    if sid.behaviour == "End.X" and not is_router(nodes[sid.nh]):
        return [(path, f"End.X goes to a neighbouring srv6-router; '{sid.nh}' is a {nodes[sid.nh].get('kind')}", None)]
    return []


def resolve_segment(m: Model, nodes: dict, seg: str) -> tuple[Sid | None, str | None, str | None]:
    """A segment as written -> (its SID, or None with a message and a hint)."""
    try:
        addr = ipaddress.IPv6Address(seg)
    except ValueError:
        addr = None
    if addr is not None:
        sid = m.by_addr().get(str(addr))
        if sid is None:
            return None, f"segment {addr} is not a SID of any srv6-router", \
                "name a router (its End SID), ROUTER.SID, or one of: " + ", ".join(list(m.by_addr())[:8])
        return sid, None, None
    node, _, sname = seg.partition(".")
    if node not in nodes:
        return None, f"segment '{seg}' names node '{node}', which is not defined", \
            "routers: " + ", ".join(m.routers)
    if node not in m.routers:
        return None, f"segment '{seg}' is not a SID: '{node}' is a {nodes[node].get('kind')}, not an srv6-router", \
            "segments are SIDs of srv6-routers: " + ", ".join(m.routers)
    sid = m.routers[node].sids.get(sname or "end")
    if sid is None:
        return None, f"segment '{seg}' is not a SID: '{node}' has no SID '{sname}'", \
            f"{node}'s SIDs: " + ", ".join(m.routers[node].sids)
    return sid, None, None


def service_names(nodes: dict, services: dict | None) -> set[str]:
    """The network services of a topology (NSM's, emulator/backends/nsm/): declared under services:
    or provided by an endpoint (an nse's services:)."""
    out = set(services or {})
    for rn in nodes.values():
        if isinstance(rn, dict) and rn.get("kind") == "nse":
            v = rn.get("services")
            out.update([v] if isinstance(v, str) else v if isinstance(v, list) else [])
    return out


def _policy(m: Model, nodes: dict, pname: str, rp: dict, services=()):
    path = ("srv6", "policies", pname)
    problems = []
    he = rp["headend"]
    if he not in m.routers:
        kind = nodes.get(he, {}).get("kind")
        problems.append((path + ("headend",), f"headend '{he}' is " + (f"a {kind}, not an srv6-router" if kind
                         else "not a node"), "srv6-routers: " + ", ".join(m.routers)))
    try:
        to = ipaddress.ip_network(rp["to"], strict=False)
    except ValueError as e:
        problems.append((path + ("to",), f"not a prefix: {e}", "e.g. 10.0.2.0/24 or 2001:db8:2::/64"))
        to = None
    mode = rp.get("mode", "encap")
    src = rp.get("from")
    if src is not None:
        if src not in nodes and src not in services:
            problems.append((path + ("from",), f"from names '{src}', which is neither a node nor a network service",
                             "the node or service chain whose traffic the policy steers, e.g. a host behind the "
                             "headend" + (f"; services: {', '.join(sorted(services))}" if services else "")))
        elif src in nodes and src in services:
            problems.append((path + ("from",), f"from names '{src}', which is both a node and a network service",
                             "rename one of them"))
        elif src == he:
            problems.append((path + ("from",), f"from is the headend '{he}' itself",
                             "name a node whose traffic passes through the headend, or leave from: out"))
    segs: list[Sid] = []
    seen: dict[str, int] = {}
    for i, seg in enumerate(rp["segments"]):
        sid, msg, hint = resolve_segment(m, nodes, seg)
        if sid is None:
            problems.append((path + ("segments", i), msg, hint))
            continue
        if sid.node == he:
            problems.append((path + ("segments", i), f"loop: segment '{seg}' is a SID of the headend '{he}' itself",
                             "the segment list starts after the headend"))
        elif sid.addr in seen:
            problems.append((path + ("segments", i), f"loop: segment '{seg}' ({sid.addr}) is already segment "
                             f"{seen[sid.addr]}", "a policy visits each SID once"))
        seen.setdefault(sid.addr, i)
        segs.append(sid)
    for i, sid in enumerate(segs[:-1]):
        if BEHAVIOURS[sid.behaviour][0].startswith("decap"):
            problems.append((path + ("segments", i), f"segment '{sid.label}' ({sid.behaviour}) decapsulates, so the "
                             "segments after it are never reached", "a decap SID can only be the last segment"))
    if to is not None and segs and len(segs) == len(rp["segments"]):
        last = segs[-1]
        if to.version == 4 and mode == "inline":
            problems.append((path + ("mode",), "an IPv4 payload cannot carry an SRH inline", "use mode: encap"))
        elif to.version == 4 and last.behaviour not in DECAP4:
            problems.append((path + ("segments", len(segs) - 1), f"an IPv4 payload ({to}) needs a decap SID as the "
                             f"last segment; '{last.label}' is {last.behaviour}",
                             "end the list with a SID of behaviour " + " or ".join(DECAP4)))
        elif to.version == 6 and mode == "encap" and last.behaviour not in DECAP6:
            problems.append((path + ("segments", len(segs) - 1), f"an IPv6 payload in encap mode needs a decap SID "
                             f"as the last segment; '{last.label}' is {last.behaviour}",
                             "end the list with a SID of behaviour " + " or ".join(DECAP6) + ", or use mode: inline"))
    if problems or to is None:
        return None, problems
    return Policy(pname, he, str(to), segs, mode, path, src), problems

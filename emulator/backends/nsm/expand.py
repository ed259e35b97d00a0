"""The expand-services stage: network services -> plain links, addresses, routes and commands.

    raw topology (schema-valid) --expand()--> raw topology without anything NSM-specific to do
                                              + the chains (the resolved objects, for explain/state)

For every request of every client (`kind: nsc`, in file order) the chain is built hop by hop as
NSM builds it: select an endpoint of the service (select.py); when that endpoint is itself the
source of a match (a match with a source selector that its labels satisfy), it requests the next
hop with its own labels; and so on until an endpoint that is no match's source.

Each hop is a cross-connect built by a forwarder of the request's mechanism (kernel: a veth pair
between the two namespaces). Payload IP: a /30 per hop from the endpoint's cidr (client side .1,
endpoint side .2), routes so that every address of the chain is reachable from every node of it,
and forwarding endpoints route. Payload ETHERNET: one /30 from the last endpoint's cidr for the
two ends; endpoints in between carry no address and pass frames (bridge, user-space forwarder).

DPDK ends (`dpdk: {mode: ...}` on an nse or nsc) become `dpdk-app` nodes: their connections are
testpmd ports, memif or vhost-user between two DPDK ends and af_packet on a veth to a kernel end; they carry ETHERNET payload only (testpmd does not route), a DPDK endpoint in the
middle of a chain forwards port pairs (mode io or mac), and an icmpecho endpoint at the end of a
chain answers for the address it got. VPP ends (`vpp: {...}`) become `vpp` nodes, and hops of a
`vpp` forwarder go through its VPP (TAP/memif per side, an l2 xconnect): see vppfwd.py.

Every generated link, route, sysctl and command is located at the YAML that caused it (the
request for a first hop, the match for the others, the endpoint's vnf for its commands), so
errors found by later stages point there.
"""
from __future__ import annotations

import copy
import difflib
import ipaddress
from dataclasses import dataclass, field

from . import vnf as vnf_mod
from ...errors import TopologyError
from ...core.loader import Source
from ...core.resolve import Collector, _check_ifname
from . import forwarders as fwd_mod
from . import addresses, ipam as nsm_ipam, vppfwd
from .select import Candidate, Decision, fmt_labels, is_subset, select
from .spec import Endpoint, Request, Service, parse_request, parse_service, parse_services_list

DEFAULT_CIDR_POOL = "172.16.0.0/16"
MAX_HOPS = 64
#: mechanisms each data plane can terminate, preferred first: a kernel namespace a veth; a DPDK
#: app memif, vhost-user, or a veth it reads with af_packet
PLANE_MECHANISMS = {"kernel": ("kernel",), "dpdk": ("memif", "vhost-user", "kernel"), "vpp": ("memif", "kernel")}
#: what a DPDK end cannot have: it has no kernel stack of its own
NOT_FOR_DPDK = ("ip", "interfaces", "routes", "sysctls", "exec")


@dataclass
class Hop:
    index: int
    client: str
    client_if: str
    endpoint: str
    endpoint_if: str
    client_ip: str | None = None      # address with prefix, None: no address (ETHERNET transit)
    endpoint_ip: str | None = None
    subnet: str | None = None
    request_labels: dict = field(default_factory=dict)
    decision: Decision | None = None
    chosen_from: list[str] = field(default_factory=list)
    mechanism: str = "kernel"
    forwarder: str = ""
    path: tuple = ()                 # the YAML that made this hop: request (first hop) or match
    more_ips: list = field(default_factory=list)   # NSM IPAM, dual stack: (client, endpoint) of other groups
    via: dict = field(default_factory=dict)         # a VPP forwarder's ports between the two ends (vppfwd.py)


@dataclass
class Chain:
    client: str
    request: Request
    service: str
    payload: str
    forwarder: str
    mechanism: str
    hops: list[Hop] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    end_reason: str = ""

    @property
    def nodes(self) -> list[str]:
        return [self.client] + [h.endpoint for h in self.hops]

    def as_dict(self) -> dict:
        return {"client": self.client, "request": self.request.text, "service": self.service,
                "payload": self.payload, "forwarder": self.forwarder, "mechanism": self.mechanism,
                "nodes": self.nodes, "metadata": self.metadata,
                "hops": [{"client": f"{h.client}:{h.client_if}", "endpoint": f"{h.endpoint}:{h.endpoint_if}",
                          "client_ip": h.client_ip, "endpoint_ip": h.endpoint_ip, "subnet": h.subnet,
                          "labels": h.request_labels, "mechanism": h.mechanism, "forwarder": h.forwarder,
                          "match": h.decision.match.index if h.decision and h.decision.match else None,
                          "chosen_from": h.chosen_from,
                          "trace": [{"match": st.match.index, "verdict": st.verdict, "reason": st.reason}
                                    for st in (h.decision.trace if h.decision else [])],
                          "rejected": [{"endpoint": n, "why": why} for n, why in
                                       (h.decision.rejected if h.decision else [])],
                          **({"more_ips": [list(p) for p in h.more_ips]} if h.more_ips else {}),
                          **({"via": h.via} if h.via else {})}
                         for h in self.hops],
                "end": self.end_reason}


@dataclass
class _Nse:
    spec: Endpoint
    net: ipaddress.IPv4Network | None = None
    first: ipaddress.IPv4Address | None = None   # the address given in the cidr (a /31: the endpoint's)
    used: int = 0
    n_in: int = 0
    n_out: int = 0
    role: vnf_mod.Role | None = None
    params: dict = field(default_factory=dict)
    wiring: vnf_mod.Wiring | None = None
    mechanisms: list[str] = field(default_factory=lambda: ["kernel"])   # accepted, in preference order
    pool: nsm_ipam.Pool | None = None   # ipam: nsm (NSM's point-to-point IPAM)


class _Expander:
    def __init__(self, raw: dict, src: Source):
        self.raw = raw
        self.src = src
        self.c = Collector(src)
        self.out = copy.deepcopy(raw)
        self.values = dict(src.values)
        self.keys = dict(src.keys)
        self.services: dict[str, Service] = {}
        self.forwarders: list[tuple[str, fwd_mod.ForwarderType]] = []
        self.nses: dict[str, _Nse] = {}
        self.chains: list[Chain] = []
        self.rr: dict[tuple, int] = {}
        self._taken: set | None = None
        self.dpdk: dict[str, dict] = {}          # DPDK ends (nse or nsc): their testpmd settings
        self.vpp: dict[str, dict] = {}           # VPP ends (nse or nsc): their vpp node settings
        self.vpp_fwd: dict[str, list] = {}       # VPP forwarder -> its (client port, endpoint port, path)
        self.tx_off: set = set()                 # kernel ends whose frames VPP takes (af_packet)

    def plane(self, node: str) -> str:
        return "dpdk" if node in self.dpdk else "vpp" if node in self.vpp else "kernel"

    def issue(self, path, message, hint=None):
        self.c.add(tuple(path), message, hint)

    # -- what the YAML says ---------------------------------------------------------------
    def read(self) -> None:
        for name, rs in (self.raw.get("services") or {}).items():
            self.services[name] = parse_service(name, rs, self.issue)
        for name, rf in (self.raw.get("forwarders") or {}).items():
            self.forwarders.append((name, fwd_mod.get(rf["type"])))
        for name, rn in self.raw["nodes"].items():
            if rn.get("kind") in ("nse", "nsc") and rn.get("dpdk") is not None:
                self.dpdk[name] = dict(rn["dpdk"])
                for k in NOT_FOR_DPDK + (("vnf",) if rn.get("kind") == "nse" else ()):
                    if k in rn:
                        self.issue(("nodes", name, k),
                                   f"'{name}' is a DPDK {rn['kind']}: " +
                                   ("its role is its testpmd mode" if k == "vnf" else
                                    f"it has no kernel stack, so {k}: does not apply"),
                                   "set dpdk: {mode: io|mac|icmpecho|rxonly|...}, or drop dpdk: to make it a "
                                   "kernel namespace")
            if rn.get("kind") in ("nse", "nsc"):
                vppfwd.read(self, name, rn)
        vppfwd.check_names(self)
        if not self.forwarders:  # NSM always runs one: the kernel forwarder is the default
            self.forwarders.append(("kernel", fwd_mod.get("kernel")))
            if self.dpdk:        # and DPDK ends get their memif connections
                self.forwarders.append(("dpdk", fwd_mod.get("dpdk")))
            if self.vpp:         # and VPP ends NSM's VPP forwarder
                self.forwarders.append(("vpp", fwd_mod.get("vpp")))
                vppfwd.check_names(self)
        taken = []
        for name, rn in self.raw["nodes"].items():
            if rn.get("kind") != "nse":
                continue
            path = ("nodes", name)
            svcs = parse_services_list(rn.get("services"))
            if not svcs:
                self.issue(path, f"endpoint '{name}' provides no network service",
                           "add services: [NAME] (NSM_SERVICE_NAMES)")
            labels = {str(k): str(v) for k, v in (rn.get("labels") or {}).items()}
            ep = Endpoint(name, svcs, labels, rn.get("cidr"), rn.get("vnf"), path)
            plane = self.plane(name)
            n = _Nse(ep, mechanisms=[str(m).lower() for m in rn.get("mechanisms") or PLANE_MECHANISMS[plane]])
            for i, m in enumerate(n.mechanisms):
                if m not in PLANE_MECHANISMS[plane]:
                    self.issue(path + ("mechanisms", i),
                               f"'{name}' is a {dict(dpdk='DPDK app', vpp='VPP').get(plane, 'kernel namespace')}: "
                               f"it cannot terminate {m} connections",
                               f"it accepts {', '.join(PLANE_MECHANISMS[plane])}" +
                               ("; add dpdk: {mode: io} to make it a DPDK endpoint" if m == "memif" else ""))
            if rn.get("ipam") == "nsm":
                try:
                    n.pool = nsm_ipam.Pool(nsm_ipam.parse_groups(ep.cidr or nsm_ipam.DEFAULT))
                except ValueError as e:
                    self.issue(path + ("cidr",), f"'{ep.cidr}' is not a list of prefixes as NSM_CIDR_PREFIX takes "
                                                 f"them: {e}", "e.g. 172.16.1.100/31 or 10.0.0.0/24,2001:db8::/64")
            elif ep.cidr is not None:
                try:
                    iface = ipaddress.ip_interface(ep.cidr)
                    if iface.version != 4:
                        raise ValueError("IPv4 only")
                    n.net, n.first = iface.network, iface.ip
                    taken.append(n.net)
                except ValueError:
                    self.issue(path + ("cidr",), f"'{ep.cidr}' is not an IPv4 prefix",
                               "write e.g. 172.16.1.0/24 (a /30 per connection is taken from it)")
            self._read_vnf(n, rn, path)
            self.nses[name] = n
        taken += self._explicit_networks()
        pool = ipaddress.ip_network(DEFAULT_CIDR_POOL)
        free = (s for s in pool.subnets(new_prefix=24) if not any(s.overlaps(t) for t in taken))
        for n in self.nses.values():
            if n.spec.cidr is None and n.pool is None:
                n.net = next(free, None)
                if n.net is None:
                    self.issue(n.spec.path, f"no free /24 left in {DEFAULT_CIDR_POOL} for '{n.spec.name}'",
                               "give the endpoint a cidr:")
                    continue
                n.first = n.net.network_address
        for name, rn in self.raw["nodes"].items():
            for svc in (rn.get("service_labels") or {}):
                if rn.get("kind") == "nse" and svc not in self.nses[name].spec.services:
                    self.issue(("nodes", name, "service_labels", svc),
                               f"'{name}' does not provide service '{svc}'",
                               "services: " + ", ".join(self.nses[name].spec.services))

    def _explicit_networks(self) -> list:
        """IPv4 subnets the topology writes itself: default cidrs keep clear of them."""
        found = []
        for rn in self.raw["nodes"].values():
            found += rn.get("ip") or []
            for rif in (rn.get("interfaces") or {}).values():
                found += (rif or {}).get("ip") or []
        for rl in self.raw.get("links") or []:
            for ep in (rl if isinstance(rl, list) else rl.get("endpoints") or []):
                if isinstance(ep, dict):
                    found += ep.get("ip") or []
        nets = []
        for a in found:
            try:
                iface = ipaddress.ip_interface(str(a))
            except ValueError:
                continue  # reported by resolve
            if iface.version == 4:
                nets.append(iface.network)
        return nets

    def _read_vnf(self, n: _Nse, rn: dict, path: tuple) -> None:
        if n.spec.name in self.dpdk or n.spec.name in self.vpp:
            return   # its testpmd mode, or its vpp: settings, is its role
        v = rn.get("vnf")
        if v is None:
            n.role = vnf_mod.get("passthrough")
            return
        name = v if isinstance(v, str) else v.get("type")
        try:
            n.role = vnf_mod.get(name)
        except KeyError:
            self.issue(path + ("vnf",) + (() if isinstance(v, str) else ("type",)), f"unknown vnf role '{name}'",
                       vnf_mod.hint(str(name)))
            return
        n.params = {} if isinstance(v, str) else {k: x for k, x in v.items() if k != "type"}
        schema = {"type": "object", "additionalProperties": False, "properties": n.role.params}
        import jsonschema  # only commands that compile pay for it
        from ...core.validate import _issues_for
        view = _Prefixed(self.src, path + ("vnf",))
        for err in jsonschema.validators.validator_for(schema)(schema).iter_errors(n.params):
            for i in _issues_for(err, view):
                self.c.issues.append(i)

    def labels_for(self, nse: str, service: str) -> dict:
        rn = self.raw["nodes"][nse]
        extra = (rn.get("service_labels") or {}).get(service) or {}
        return {**self.nses[nse].spec.labels, **{str(k): str(v) for k, v in extra.items()}}

    def endpoints_of(self, service: str) -> list[str]:
        return [n for n, e in self.nses.items() if service in e.spec.services]

    def service(self, name: str) -> Service:
        return self.services.get(name) or Service(name=name)  # provided but undeclared: no matches

    # -- chains ---------------------------------------------------------------------------
    def build_chains(self) -> None:
        for name, rn in self.raw["nodes"].items():
            if rn.get("kind") == "nse" and rn.get("requests"):
                self.issue(("nodes", name, "requests"), "endpoints request their next hop themselves",
                           "requests: belongs to nsc nodes; chains follow the service's matches")
            if rn.get("kind") != "nsc":
                continue
            ifnames: dict[str, tuple] = {}
            for i, rq in enumerate(rn.get("requests") or []):
                rpath = ("nodes", name, "requests", i)
                req = parse_request(rq, rpath, self.issue)
                if req is None:
                    continue
                ifname = req.interface or f"nsm{i}"
                if not _check_ifname(ifname, rpath, self.c):
                    continue
                if ifname in ifnames:
                    self.issue(rpath, f"two requests of '{name}' use interface {ifname}",
                               f"the other one is at {self.src.issue(ifnames[ifname], '').location()}")
                    continue
                ifnames[ifname] = rpath
                self.chain(name, req, ifname)

    def chain(self, client: str, req: Request, ifname: str) -> None:
        svc_name = req.service
        if svc_name not in self.services and not self.endpoints_of(svc_name):
            known = sorted(set(self.services) | {s for e in self.nses.values() for s in e.spec.services})
            close = difflib.get_close_matches(svc_name, known, n=1)
            self.issue(req.path, f"no network service '{svc_name}'",
                       (f"did you mean '{close[0]}'? " if close else "") +
                       ("services: " + ", ".join(known) if known else "declare it under services: and give it "
                                                                       "endpoints (kind: nse)"))
            return
        fwd = next(((n, f) for n, f in self.forwarders if req.mechanism in f.mechanisms), None)
        if fwd is None:
            have = ", ".join(f"'{n}' (type {f.name}: {', '.join(f.mechanisms)})" for n, f in self.forwarders)
            types = "; ".join(f"{f.name}: {', '.join(f.mechanisms)}" for f in fwd_mod.all_types())
            self.issue(req.path, f"no forwarder builds '{req.mechanism}' connections",
                       f"forwarders of this lab: {have}; forwarder types and their mechanisms: {types}")
            return
        plane = self.plane(client)
        if req.mechanism not in PLANE_MECHANISMS[plane]:
            self.issue(req.path, f"'{client}' is a {'DPDK' if plane == 'dpdk' else 'kernel'} client: it cannot "
                                 f"use {req.mechanism} connections",
                       f"it uses {', '.join(PLANE_MECHANISMS[plane])}" +
                       ("; a memif connection needs a DPDK client: dpdk: {mode: txonly}" if plane == "kernel" else ""))
            return
        svc = self.service(svc_name)
        eps = self.endpoints_of(svc_name)
        if not eps:
            self.issue(req.path, f"no endpoint provides network service '{svc_name}'",
                       f"add an endpoint: {{kind: nse, services: [{svc_name}]}}")
            return
        ch = Chain(client, req, svc_name, svc.payload, fwd[0], req.mechanism)
        requester, labels, origin, out_if = client, dict(req.labels), req.path, ifname
        while True:
            cands = [Candidate(e, self.labels_for(e, svc_name)) for e in eps]
            d = select(svc_name, svc.matches, cands, labels)
            where = d.match.path if d.match else origin
            who = f"the request of '{client}'" if requester == client else \
                f"endpoint '{requester}' (labels {fmt_labels(labels)})"
            if not d.candidates:
                m = d.match
                why = "; ".join(f"{n}: {r}" for n, r in d.rejected) or "the service has no endpoints"
                self.issue(m.path if m else origin,
                           f"service '{svc_name}': {m.describe() if m else 'no match'} selects no endpoint for {who}",
                           f"{why}" + ("" if m is None or m.fallthrough else "; add fallthrough: true to try the "
                                                                               "next match"))
                return
            key = (svc_name, d.match.index if d.match else None, tuple(c.name for c in d.candidates))
            k = self.rr.get(key, 0)
            self.rr[key] = k + 1
            chosen = d.candidates[k % len(d.candidates)].name
            if chosen in ch.nodes:
                path_txt = " -> ".join(ch.nodes + [chosen])
                self.issue(where, f"service '{svc_name}' loops: {path_txt}",
                           f"{d.how} for {who}; a chain visits each endpoint once: give the match a source "
                           f"selector, or the endpoint labels no match selects from")
                return
            if len(ch.hops) >= MAX_HOPS:
                self.issue(where, f"service '{svc_name}': the chain is longer than {MAX_HOPS} hops")
                return
            in_if = self.ifname(chosen, "in")
            for st in d.trace:  # the deciding match's metadata, or a metadata-only match's
                if st.verdict in ("chosen", "metadata") and st.match.metadata:
                    meta = st.match.metadata.get("labels") or {}
                    ch.metadata.update({str(mk): str(mv) for mk, mv in meta.items()})
            mech = self.mechanism(requester == client and req.mechanism or None, requester, chosen, where)
            if mech is None:
                return
            ch.hops.append(Hop(len(ch.hops) + 1, requester, out_if, chosen, in_if, request_labels=dict(labels),
                               decision=d, chosen_from=[c.name for c in d.candidates], path=where,
                               mechanism=mech[0], forwarder=mech[1]))
            # the endpoint goes on when a match with a source selector applies to its own labels
            own = self.labels_for(chosen, svc_name)
            if not any(m.source_selector and is_subset(own, m.source_selector, own) for m in svc.matches):
                ch.end_reason = f"{chosen} (labels {fmt_labels(own)}) is the source of no match: the last hop"
                break
            requester, labels, origin = chosen, own, where
            out_if = self.ifname(chosen, "out")
        self.chains.append(ch)

    def ifname(self, node: str, prefix: str) -> str:
        """The next free in<k>/out<k> of an endpoint, skipping names the topology itself uses."""
        if self._taken is None:
            self._taken = set()
            for name, rn in self.raw["nodes"].items():
                self._taken |= {(name, i) for i in (rn.get("interfaces") or {})}
            for rl in self.raw.get("links") or []:
                for ep in (rl if isinstance(rl, list) else rl.get("endpoints") or []):
                    if isinstance(ep, str) and ":" in ep:
                        self._taken.add(tuple(ep.split(":", 1)))
                    elif isinstance(ep, dict) and ep.get("interface"):
                        self._taken.add((ep.get("node"), ep["interface"]))
        n = self.nses[node]
        while True:
            k = n.n_in if prefix == "in" else n.n_out
            if prefix == "in":
                n.n_in += 1
            else:
                n.n_out += 1
            if (node, f"{prefix}{k}") not in self._taken:
                return f"{prefix}{k}"

    def mechanism(self, asked: str | None, requester: str, endpoint: str, where: tuple):
        """(mechanism, forwarder) of a cross-connect: what the requester asks for (a client: its URL's;
        an endpoint: its own list, in order) that the endpoint accepts and a forwarder builds."""
        accepts = self.nses[endpoint].mechanisms
        wanted = [asked] if asked else self.nses[requester].mechanisms
        for m in wanted:
            for n, f in self.forwarders:
                if m not in f.mechanisms:
                    continue
                if f.name == "vpp":   # each side its own mechanism: TAP to a kernel end, memif to VPP's
                    both = vppfwd.sides(m, accepts, f)
                    if both:
                        return both, n
                elif m in accepts:
                    return m, n
        self.issue(where, f"no mechanism for the connection {requester} -> {endpoint}: "
                          f"{requester} asks for {', '.join(wanted)}, {endpoint} accepts {', '.join(accepts)}",
                   "forwarders of this lab build: " + ", ".join(sorted({m for _n, f in self.forwarders
                                                                         for m in f.mechanisms})))
        return None

    # -- addresses, routes, VNFs ----------------------------------------------------------------
    def take(self, nse: str, path: tuple):
        return addresses.take(self, nse, path)

    def take_nsm(self, nse: str, ch: Chain, path: tuple):
        return addresses.take_nsm(self, nse, ch, path)

    def address(self) -> None:
        addresses.address(self)

    def locate(self, path: tuple, origin: tuple) -> None:
        self.values[path] = self.src.where(origin)

    def write(self) -> None:
        nodes = self.out["nodes"]
        links = self.out.setdefault("links", [])
        if not isinstance(self.raw.get("links"), list):
            self.locate(("links",), ())
        for ch in self.chains:
            for h in ch.hops:
                fwd_type = dict(self.forwarders)[h.forwarder]
                if fwd_type.name == "vpp":
                    vppfwd.write_hop(self, ch, h, links)
                    continue
                li = len(links)
                ends = [self._end(h.client, h.client_if, h.client_ip, [c for c, _e in h.more_ips]),
                        self._end(h.endpoint, h.endpoint_if, h.endpoint_ip, [e for _c, e in h.more_ips])]
                if h.mechanism == "memif":
                    ends.reverse()   # the first end serves the socket: the endpoint, as the NSE listens
                links.append({"endpoints": ends, "type": fwd_type.link_types[h.mechanism],
                              "description": f"{ch.service}: {h.client} -> {h.endpoint} (request of {ch.client})"})
                self.locate(("links", li), h.path)
            if ch.payload == "IP":
                self.route(ch)
        self.apply_vnfs(nodes)
        vppfwd.write_nodes(self, nodes)
        for name, d in self.dpdk.items():
            rn = self.raw["nodes"][name]
            app = {"kind": "dpdk-app", **d}
            for k in d:
                self.locate(("nodes", name, k), ("nodes", name, "dpdk", k))
            if rn.get("labels") is not None:
                app["labels"] = rn["labels"]
            nodes[name] = app

    def _end(self, node: str, ifname: str, ip: str | None, more: list = ()) -> dict:
        # only a kernel end, or an icmpecho endpoint (which answers for it), gets an address
        return {"node": node, "interface": ifname, "ip": ([ip] + list(more)) if ip else []}

    def route(self, ch: Chain) -> None:
        addresses.route(self, ch)

    def apply_vnfs(self, nodes: dict) -> None:
        ends: set[tuple[str, str]] = set()
        for ch in self.chains:
            for idx, h in enumerate(ch.hops):
                n = self.nses[h.endpoint]
                if n.wiring is None:
                    n.wiring = vnf_mod.Wiring(h.endpoint, ch.payload)
                elif n.wiring.payload != ch.payload:
                    self.issue(("nodes", h.endpoint), f"endpoint '{h.endpoint}' is in chains of payload "
                                                      f"{n.wiring.payload} and {ch.payload}",
                               "an endpoint serves services of one payload")
                if idx + 1 < len(ch.hops):
                    n.wiring.transit.append((h.endpoint_if, ch.hops[idx + 1].client_if))
                else:
                    n.wiring.terminal.append(h.endpoint_if)
        for ch in self.chains:   # a DPDK app in the middle forwards frames as they are: no offloads at the ends
            if any(n in self.dpdk for n in ch.nodes[1:-1]):
                ends.add((ch.client, ch.hops[0].client_if))
                ends.add((ch.hops[-1].endpoint, ch.hops[-1].endpoint_if))
        for name, n in self.nses.items():
            if name in self.dpdk and n.wiring is not None:
                self._check_dpdk_wiring(name, n.wiring)
            if n.role is None or n.wiring is None:
                continue
            vpath = ("nodes", name, "vnf") if "vnf" in self.raw["nodes"][name] else ("nodes", name)
            problems = n.role.check(n.wiring, n.params)
            for p in problems:
                self.issue(vpath, p, f"{n.role.name}: {n.role.summary}")
            if problems:
                continue
            b = n.role.build(n.wiring, n.params)
            if b.sysctls.get("net.ipv4.ip_forward") == "1" and any(   # dual stack (ipam: nsm): IPv6 too
                    ":" in a for ch in self.chains for h in ch.hops if name in (h.client, h.endpoint)
                    for p in h.more_ips for a in p):
                b.sysctls = {**b.sysctls, "net.ipv6.conf.all.forwarding": "1"}
            rn = nodes[name]
            sysctls = rn.setdefault("sysctls", {})
            for k, v in b.sysctls.items():
                if k not in sysctls:
                    sysctls[k] = v
                    self.locate(("nodes", name, "sysctls", k), vpath)
                    self.keys[("nodes", name, "sysctls", k)] = self.src.where(vpath)
            self._exec(name, b.exec, vpath)
            if b.offload_off_at_ends:
                for ch in self.chains:
                    if name in ch.nodes[1:-1]:
                        ends.add((ch.client, ch.hops[0].client_if))
                        ends.add((ch.hops[-1].endpoint, ch.hops[-1].endpoint_if))
        for node, ifname in sorted(ends | self.tx_off):
            if node not in self.dpdk and node not in self.vpp:
                self._exec(node, [f"ethtool -K {ifname} tx off tso off gso off"], ("nodes", node))

    def _check_dpdk_wiring(self, name: str, w: vnf_mod.Wiring) -> None:
        """testpmd forwards port pairs (0<->1, 2<->3...): a DPDK endpoint in the middle of a chain must
        forward (io, mac) and be in the middle of every chain it is in, so its ports pair in and out."""
        if not w.transit:
            return
        mode = self.dpdk[name].get("mode", "io")
        path = ("nodes", name, "dpdk") + (("mode",) if "mode" in self.dpdk[name] else ())
        if mode not in ("io", "mac"):
            self.issue(path, f"DPDK endpoint '{name}' is in the middle of a chain, but mode {mode} does not "
                             f"forward from its in port to its out port", "use mode io (or mac)")
        elif w.terminal:
            self.issue(path, f"DPDK endpoint '{name}' ends a chain on {', '.join(w.terminal)} and forwards "
                             f"another one: testpmd pairs its ports two by two",
                       "give the chains that end here an endpoint of their own")

    def _exec(self, node: str, cmds: list[str], origin: tuple) -> None:
        if not cmds:
            return
        rn = self.out["nodes"][node]
        ex = rn.setdefault("exec", [])
        if not isinstance(self.raw["nodes"][node].get("exec"), list):
            self.locate(("nodes", node, "exec"), origin)
        for cmd in cmds:
            self.locate(("nodes", node, "exec", len(ex)), origin)
            ex.append(cmd)


class _Prefixed:
    def __init__(self, src: Source, prefix: tuple):
        self.src, self.prefix = src, prefix

    def issue(self, path, message, hint=None, key=False):
        return self.src.issue(self.prefix + tuple(path), message, hint, key)


def uses_services(raw: dict) -> bool:
    return bool(raw.get("services") or raw.get("forwarders") or
                any(isinstance(n, dict) and n.get("kind") in ("nse", "nsc") for n in raw["nodes"].values()))


def expand(raw: dict, src: Source) -> tuple[dict, Source, list[Chain]]:
    """Return the topology with every network service compiled in, its Source, and the chains."""
    if not uses_services(raw):
        return raw, src, []
    e = _Expander(raw, src)
    e.read()
    if not e.c.issues:
        e.build_chains()
    if not e.c.issues:
        e.address()
    if not e.c.issues:
        e.write()
    if e.c.issues:
        raise TopologyError(e.c.sorted())
    return e.out, Source(e.out, src.file, e.values, e.keys), e.chains


def chains(raw: dict, src: Source) -> list[Chain]:
    return expand(raw, src)[2]

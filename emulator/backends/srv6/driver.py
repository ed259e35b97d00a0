"""`srv6-router`: a router with an SRv6 locator and SIDs, and the headend of the policies that
name it. Its plan: IPv6 addresses on its links to other srv6-routers (a /64 each from
srv6.link_prefix), routes to every other router's locator along shortest paths (netlink batch),
its SIDs as seg6local routes and its policies as seg6 routes (one `ip -batch` per namespace),
and seg6_enabled on every interface (conf.all and conf.default, set before the links exist)."""
from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass

from ...core.model import Lab, Node
from ...deploy import actions as A
from ...deploy import state
from ...errors import DeployError
from ...core import drivers
from ..host.driver import NAMESPACE_NODE_PROPERTIES, HostDriver, RouterDriver
from . import monitor, paths, routes, spec

SEG6_SYSCTLS = {"net.ipv6.conf.all.seg6_enabled": "1", "net.ipv6.conf.default.seg6_enabled": "1",
                # no duplicate address detection: link-local addresses usable at once, no first-packet wait
                "net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0"}
STATE_FILE = "srv6.json"


def core(lab: Lab) -> paths.Core:
    """The lab's SRv6 model and core links, computed once per compiled lab."""
    c = getattr(lab, "_srv6_core", None)
    if c is None:
        nodes = {n.name: {"kind": n.kind, **n.props} for n in lab.nodes.values()}
        model, problems = spec.build(nodes, lab.props.get("srv6"), {ch.service for ch in lab.services}
                                     | spec.service_names(nodes, lab.props.get("services")))
        if problems:   # the expand stage reports them located; this is a last guard
            raise ValueError(f"SRv6: {problems[0][1]}")
        c = paths.core(lab, model)
        lab._srv6_core = c   # type: ignore[attr-defined]
    return c


def source_nodes(lab: Lab, pol: spec.Policy) -> list[str]:
    """The nodes whose traffic a policy with from: steers: that node, or every node on the chains of
    that network service (NSM's resolved chains: each client and the endpoints its chain reaches)."""
    if pol.src in lab.nodes:
        return [pol.src]
    out = []
    for ch in lab.services:
        if ch.service == pol.src:
            out += [n for n in ch.nodes if n not in out]
    if not out:
        raise DeployError(f"SRv6 policy {pol.name}: from: {pol.src} is a network service no client requests "
                          "(it has no chain, so no traffic to steer)")
    return out


def source_addrs(lab: Lab, pol: spec.Policy) -> list[str]:
    """The addresses of a policy's from: node(s) in the policy's family (DeployError when none has one)."""
    nodes = source_nodes(lab, pol)
    out = []
    for n in nodes:
        out += [a.split("/")[0] for i in lab.nodes[n].interfaces.values() for a in i.addresses
                if ipaddress.ip_interface(a).version == pol.family and a.split("/")[0] not in out]
    if not out:
        raise DeployError(f"SRv6 policy {pol.name}: from: {pol.src} has no IPv{pol.family} address "
                          + (f"on its nodes ({', '.join(nodes)}) " if nodes != [pol.src] else "")
                          + f"(the policy steers traffic to {pol.to})")
    return out


def state_dict(lab: Lab, c: paths.Core) -> dict:
    """What run-time steps need (written to the lab's directory as srv6.json)."""
    pols = {}
    for p in c.model.policies.values():
        hops = paths.policy_path(lab, c, p)
        pols[p.name] = {"headend": p.headend, "to": p.to, "mode": p.mode, "from": p.src, "table": p.table,
                        **({"from_nodes": source_nodes(lab, p)} if p.src else {}),
                        "segments": [s.addr for s in p.segments], "labels": [s.label for s in p.segments],
                        "links": [list(x) for x in paths.links_of(hops)], "hops": [[h.node, h.what] for h in hops]}
    return {"routers": c.model.as_dict()["routers"], "policies": pols,
            "adj": {n: [[a.iface.key, a.peer_iface.key, a.iface.device] for a in adj] for n, adj in c.adj.items()},
            "link_counters": [[a.key, b.key] for a, b in counted_links(lab)],
            "first_hop": {f"{s}>{d}": [a.iface.key, a.peer_iface.key, a.iface.device]
                          for (s, d), a in c.first_hop.items()}}


@dataclass
class WriteSrv6State(A.Action):
    lab: str = ""
    data: dict | None = None

    def __post_init__(self):
        self.phase, self.batch = A.ROUTES, "srv6-state"

    def describe(self):
        return f"write {state.lab_dir(self.lab)}/{STATE_FILE} (SRv6 SIDs, policies and paths, for run-time steps)"

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            path = os.path.join(state.lab_dir(a.lab), STATE_FILE)
            with open(path, "w") as f:
                json.dump(a.data, f, indent=1)


def counted_links(lab: Lab) -> list[tuple]:
    """The links whose both ends are kernel devices of namespace nodes (hosts, routers, srv6-routers):
    they get packet counters at deploy (monitor.LIVE_TABLE) for `inspect` and the web UI."""
    out = []
    for link in lab.links:
        if all(isinstance(drivers.get(lab.nodes[e.node].kind), HostDriver) and e.netns and e.device
               for e in (link.a, link.b)):
            out.append((link.a, link.b))
    return out


@dataclass
class LinkCounters(A.Action):
    """nftables counters (egress and ingress) on both ends of every counted link, in each end's
    namespace (they go with it: no undo record); an empty clsact qdisc on each end, as the monitor."""
    lab: str = ""
    ends: list | None = None   # [node:if, netns, device]

    def __post_init__(self):
        self.phase, self.batch = A.ROUTES, "srv6-counters"

    def describe(self):
        return (f"nft table netdev {monitor.LIVE_TABLE}: packet counters on {len(self.ends or [])} link ends "
                "(egress and ingress; for inspect and the web UI's live per-link loss)")

    @classmethod
    def apply_batch(cls, actions, ctx):
        ends = [monitor.End(k, ns, dev) for a in actions for k, ns, dev in (a.ends or [])]
        try:
            monitor.install(ends, monitor.LIVE_TABLE)
        except RuntimeError as e:
            raise DeployError(f"SRv6 link counters: {e}") from None


def lab_actions(lab: Lab, node: Node) -> list:
    """The lab's SRv6 state file and link counters, planned by one SRv6 router (the first by name,
    whatever its kind: a vpp router's driver calls this too)."""
    c = core(lab)
    if node.name != min(c.model.routers):
        return []
    return [WriteSrv6State(lab=lab.name, data=state_dict(lab, c)),
            LinkCounters(lab=lab.name, ends=[[i.key, i.netns, i.device] for pair in counted_links(lab) for i in pair])]


class Srv6RouterDriver(RouterDriver):
    kind = spec.KIND
    summary = "a router with an SRv6 locator and SIDs (seg6local), and the headend of its SRv6 policies (seg6)"
    properties = {**NAMESPACE_NODE_PROPERTIES, **spec.NODE_PROPERTIES}

    def resolve(self, lab: Lab, node: Node, raw: dict):
        if lab.ipv6 == "off":
            return [((), "an srv6-router needs IPv6, which this topology turns off (ipv6: off)",
                     "remove ipv6: off")]
        lab.ipv6 = "on"
        for k, v in SEG6_SYSCTLS.items():
            node.sysctls.setdefault(k, v)
        return []

    def plan_node(self, lab: Lab, node: Node) -> list:
        acts = super().plan_node(lab, node)
        c = core(lab)
        for iface in node.interfaces.values():   # link addresses: plan_port adds them with the others
            a = c.addrs.get(iface.key)
            if a and a not in iface.addresses:
                iface.addresses.append(a)
        for (src, dst), adj in sorted(c.first_hop.items()):
            if src == node.name and dst != src:
                acts.append(A.AddRoute(netns=node.netns, to=c.model.routers[dst].locator, via=adj.peer_addr,
                                       oif=adj.iface.index, device=adj.iface.device))
        lines = []
        # End and End.DT*: any device but lo (a route via lo is made a reject route by the kernel)
        wired = [i.device for i in node.interfaces.values() if i.link >= 0]
        for sid in c.model.routers[node.name].sids.values():
            nh, dev = None, (wired[0] if wired else "lo")
            try:
                if sid.behaviour == "End.X":
                    adj = paths.end_x_adj(c, sid)
                    nh, dev = adj.peer_addr, adj.iface.device
                elif sid.behaviour in ("End.DX4", "End.DX6"):
                    nh, iface = paths.next_hop(lab, node.name, sid.nh, 4 if sid.behaviour == "End.DX4" else 6)
                    dev = iface.device
            except paths.PathError as e:
                raise DeployError(f"SRv6: {e}") from None
            lines.append(routes.seg6local_line(sid, nh, dev))
        rules = []
        for pol in c.model.policies.values():
            if pol.headend == node.name:
                adj = c.first_hop.get((node.name, pol.segments[0].node))
                if adj is None:
                    raise DeployError(f"SRv6 policy {pol.name}: no path from {node.name} to "
                                      f"{pol.segments[0].node}")
                lines.append(routes.seg6_line(pol, [s.addr for s in pol.segments], adj.iface.device))
                if pol.src:
                    rules += [(pol.family, r) for r in routes.rule_lines(pol, source_addrs(lab, pol))]
        acts.append(routes.Seg6Routes(netns=node.netns, routes=lines, label=node.name, rules=rules))
        return acts + lab_actions(lab, node)

    def check_host(self, lab: Lab, src) -> list:
        """Issues for what this kernel cannot do (probed once per behaviour), at the first place used.
        Not as another user: the probe needs a network namespace (deploy, which needs root, probes)."""
        if os.geteuid() != 0:
            return []
        c = core(lab)
        used: dict[str, tuple] = {}
        for r in c.model.routers.values():
            if lab.nodes[r.name].kind != spec.KIND:   # another kind's SIDs (vpp) are not the kernel's
                continue
            for s in r.sids.values():
                used.setdefault(s.behaviour, s.path + (("behaviour",) if s.name != "end" else ()))
        for p in c.model.policies.values():
            if lab.nodes[p.headend].kind == spec.KIND:
                used.setdefault(p.mode, p.path + ("mode",))
        issues = []
        for what, path in used.items():
            ok, why = routes.probe(what)
            if not ok:
                issues.append(src.issue(path, f"this kernel cannot install SRv6 {what} routes (ip: {why})",
                                        "End.DT4 and End.DT46 need VRF devices (CONFIG_NET_VRF); "
                                        "End.DT6 or End.DX4/End.DX6 work without them" if what.startswith("End.DT")
                                        else "the kernel needs CONFIG_IPV6_SEG6_LWTUNNEL"))
        return issues

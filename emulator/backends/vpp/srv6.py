"""SRv6 on a vpp router: the same `locator:` and `sids:` as an srv6-router (emulator/backends/srv6/),
and the headend of the policies that name it, as VPP CLI commands, each with its YAML path:

    set interface ip address IF ADDR/64     its links to other SRv6 routers (srv6.link_prefix, as theirs)
    ip route add LOCATOR via PEER IF        every other router's locator, along the shortest path
    set sr encaps source addr END-SID       the outer source address of what it encapsulates
    sr localsid address SID behavior end | end.x IF NH6 | end.dx4 IF NH4 | end.dx6 IF NH6 | end.dt4 0 | end.dt6 0
    sr policy add bsid BSID next SEG1 next SEG2 ... encap|insert     a policy it is the headend of
    sr steer l3 TO via bsid BSID            the policy's traffic into it

VPP's End.X, End.DX4 and End.DX6 send to their next hop's adjacency directly, which never resolves
itself (ARP/ND): until the neighbour happens to speak first, every packet is dropped. So the next
hop's MAC is read from its device at deploy (after VPP starts) and given to VPP as a static
neighbour (`ip neighbor IF ADDR MAC static`: the VppNeighbours action).

A policy's binding SID (BSID) is one of the headend's locator's last addresses (the first policy the
last address), skipping its SIDs. VPP has no End.DT46 and steers by destination only (no `from:`):
both are refused at their line. The srv6 backend knows a vpp node is an SRv6 router through the
registry's `srv6_kinds` (is_router below).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field

from ...deploy import actions as A
from ...deploy import hostcmd
from ...errors import DeployError, TopologyError
from ..srv6 import spec

#: the behaviours VPP's libvnet has, as its CLI names them
BEHAVIOURS = {"End": "end", "End.X": "end.x", "End.DX4": "end.dx4", "End.DX6": "end.dx6",
              "End.DT4": "end.dt4", "End.DT6": "end.dt6"}
FIB_MAIN = 0   # End.DT4/End.DT6 look the inner packet up in VPP's default table


def is_router(rn: dict) -> bool:
    """A vpp node is an SRv6 router when it has a locator or SIDs (in a mode other than router, the
    default, expand() refuses them)."""
    return "locator" in rn or "sids" in rn


def expand(raw: dict, src):
    """Located refusals of what the srv6 schema allows and VPP cannot do; the raw topology is unchanged."""
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    if not isinstance(nodes, dict):
        return raw, src, []
    problems = []
    for name, rn in nodes.items():
        if not isinstance(rn, dict) or rn.get("kind") != "vpp":
            continue
        mode = rn.get("mode", "router")
        if mode != "router":
            problems += [(("nodes", name, f), f"a vpp node in mode {mode} is not an SRv6 router: it takes no {f}",
                          "use mode: router (the default)") for f in ("locator", "sids") if f in rn]
            continue
        for sname, rs in (rn.get("sids") or {}).items():
            beh = rs.get("behaviour") if isinstance(rs, dict) else None
            if beh in spec.BEHAVIOURS and beh not in BEHAVIOURS:
                problems.append((("nodes", name, "sids", sname, "behaviour"),
                                 f"VPP has no SRv6 behaviour {beh}",
                                 "a vpp router's SIDs: " + ", ".join(BEHAVIOURS)
                                 + (" (End.DT4 for IPv4, End.DT6 for IPv6)" if beh == "End.DT46" else "")))
    for pname, rp in (((raw.get("srv6") or {}).get("policies") or {}).items()):
        he = nodes.get(rp.get("headend")) if isinstance(rp, dict) else None
        if isinstance(he, dict) and he.get("kind") == "vpp" and "from" in rp:
            problems.append((("srv6", "policies", pname, "from"),
                             f"the headend '{rp['headend']}' is a vpp router, which steers traffic by its "
                             "destination only (sr steer l3), not by the node it comes from",
                             "leave from: out, or make the headend an srv6-router"))
    if problems:
        raise TopologyError([src.issue(p, m, h) for p, m, h in problems])
    return raw, src, []


def _core(lab):
    from ..srv6 import driver
    return driver.core(lab)


def prepare(lab, node) -> None:
    """The node's addresses on its links to other SRv6 routers (before its commands are made)."""
    c = _core(lab)
    if node.name not in c.model.routers:
        return
    for iface in node.interfaces.values():
        a = c.addrs.get(iface.key)
        if a and a not in iface.addresses:
            iface.addresses.append(a)


def bsids(lab, node) -> dict[str, str]:
    """policy name -> its binding SID, for the policies NODE is the headend of."""
    c = _core(lab)
    r = c.model.routers[node.name]
    used = {s.addr for s in r.sids.values()}
    addr = ipaddress.ip_network(r.locator).broadcast_address
    out = {}
    for pol in c.model.policies.values():
        if pol.headend == node.name:
            while str(addr) in used:
                addr -= 1
            out[pol.name] = str(addr)
            addr -= 1
    return out


def commands(lab, node, name: dict) -> list[tuple[str, tuple]]:
    """The SRv6 commands of a vpp router (NAME: the node's interface -> VPP's name of it); [] for a
    vpp node that is not an SRv6 router."""
    from ..srv6 import paths
    c = _core(lab)
    r = c.model.routers.get(node.name)
    if r is None:
        return []
    loc = node.path + ("locator",)
    out = []
    for (src, dst), adj in sorted(c.first_hop.items()):
        if src == node.name and dst != src:
            out.append((f"ip route add {c.model.routers[dst].locator} via {adj.peer_addr} {name[adj.iface.name]}", loc))
    out.append((f"set sr encaps source addr {r.sids['end'].addr}", loc))
    for sid in r.sids.values():
        args = ""
        try:
            if sid.behaviour == "End.X":
                adj = paths.end_x_adj(c, sid)
                args = f" {name[adj.iface.name]} {adj.peer_addr}"
            elif sid.behaviour in ("End.DX4", "End.DX6"):
                nh, iface = paths.next_hop(lab, node.name, sid.nh, 4 if sid.behaviour == "End.DX4" else 6)
                args = f" {name[iface.name]} {nh}"
            elif sid.behaviour in ("End.DT4", "End.DT6"):
                args = f" {FIB_MAIN}"
        except paths.PathError as e:
            raise DeployError(f"SRv6: {e}") from None
        out.append((f"sr localsid address {sid.addr} behavior {BEHAVIOURS[sid.behaviour]}{args}",
                    sid.path + (("behaviour",) if sid.name != "end" else ())))
    for pname, bsid in bsids(lab, node).items():
        pol = c.model.policies[pname]
        nexts = " ".join(f"next {s.addr}" for s in pol.segments)
        out.append((f"sr policy add bsid {bsid} {nexts} {'encap' if pol.mode == 'encap' else 'insert'}",
                    pol.path + ("segments",)))
        out.append((f"sr steer l3 {pol.to} via bsid {bsid}", pol.path + ("to",)))
    return out


def neighbours(lab, node, name: dict, where) -> list:
    """[VppNeighbours] for the next hops of the node's End.X/End.DX4/End.DX6 SIDs on veth links
    (a memif peer has no kernel device to read a MAC from); WHERE: YAML path -> "file:line"."""
    from ..srv6 import paths
    c = _core(lab)
    r = c.model.routers.get(node.name)
    entries = []
    for sid in (r.sids.values() if r else ()):
        try:
            if sid.behaviour == "End.X":
                adj = paths.end_x_adj(c, sid)
                addr, iface, peer = adj.peer_addr, adj.iface, adj.peer_iface
            elif sid.behaviour in ("End.DX4", "End.DX6"):
                addr, iface = paths.next_hop(lab, node.name, sid.nh, 4 if sid.behaviour == "End.DX4" else 6)
                link = lab.links[iface.link]
                peer = link.b if link.a is iface else link.a
            else:
                continue
        except paths.PathError as e:
            raise DeployError(f"SRv6: {e}") from None
        if peer.netns and peer.device and lab.links[iface.link].type in ("veth", "tap"):
            entries.append([name[iface.name], addr, peer.netns, peer.device, peer.key, where(sid.path)])
    if not entries:
        return []
    from . import config
    return [VppNeighbours(lab=lab.name, node=node.name, rundir=config.run_dir(lab.name, node.name), entries=entries)]


@dataclass
class VppNeighbours(A.Action):
    """Static neighbours in a running VPP: the next hops of its SR localsids, each with the MAC of
    the peer's device (read in the peer's namespace); no undo (they go with the VPP)."""
    lab: str = ""
    node: str = ""
    rundir: str = ""
    entries: list = field(default_factory=list)   # [VPP interface, address, peer netns, peer device, node:if, where]

    def __post_init__(self):
        self.phase, self.batch, self.netns = A.ROUTES, "vpp-srv6-neighbours", None

    def describe(self):
        return "\n".join(f"[{self.node}] vppctl ip neighbor {i} {a} <MAC of {k}> static   "
                         f"(next hop of an SR localsid)" for i, a, _ns, _dev, k, _w in self.entries)

    @classmethod
    def apply_batch(cls, actions, ctx):
        if hostcmd.dry_run:
            return
        from .find import require
        from .instance import configure_one
        _vpp, ctl = require()
        from ...deploy.kernel import netlink
        macs = {}   # peer namespace -> device -> MAC: one dump per namespace
        for ns in sorted({e[2] for a in actions for e in a.entries}):
            with netlink.Socket(ns) as s:
                macs[ns] = {l.get("name"): l.get("mac") for l in s.dump_links()}
        for a in actions:
            sock = os.path.join(a.rundir, "cli.sock")
            for ifname, addr, ns, dev, key, where in a.entries:
                mac = macs[ns].get(dev)
                if not mac:
                    raise DeployError(f"{where}: vpp node '{a.node}': cannot read the MAC of {key}, the next hop "
                                      f"{addr} of an SR localsid: no device {dev} in {ns}")
                configure_one(ctl, sock, f"ip neighbor {ifname} {addr} {mac} static", where, a.node)


_LOCALSID = re.compile(r"Address:\s+(\S+)/128.*?Good traffic:\s+\[(\d+) packets", re.S)


def localsid_packets(show: str) -> dict[str, int]:
    """`show sr localsids` -> SID address -> packets it processed ("Good traffic")."""
    return {m.group(1): int(m.group(2)) for m in _LOCALSID.finditer(show)}


def inspect_text(st: dict) -> str:
    """For `emulator inspect LAB`: the packets each SID of the lab's vpp SRv6 routers processed (VPP's
    localsid counters; the kernel routers' are the srv6 backend's)."""
    from ...deploy import state
    from .find import locate
    from .instance import vppctl
    try:
        with open(os.path.join(state.lab_dir(st["name"]), "srv6.json")) as f:
            routers = json.load(f).get("routers", {})
        _vpp, ctl, _why = locate()
        out = []
        for name, r in routers.items():
            if not ctl or st["nodes"].get(name, {}).get("kind") != "vpp":
                continue
            from . import config
            sock = os.path.join(config.run_dir(st["name"], name), "cli.sock")
            counts = localsid_packets(vppctl(ctl, sock, "show sr localsids", timeout=5))
            out += [f"{name if sname == 'end' else f'{name}.{sname}'} {counts[v['sid']]}"
                    for sname, v in r["sids"].items() if v["sid"] in counts]
    except (OSError, ValueError, KeyError):   # an older lab, not root, a VPP going away
        return ""
    return ("SRv6 packets per SID in VPP: " + ", ".join(out)) if out else ""


def replace_policy(lab: str, node: str, pol: dict, segments: list[str], router: dict) -> str:
    """A new segment list at run time for a policy whose headend is the vpp router NODE (the srv6_policy
    step): a policy with a free BSID, the policy's prefix steered into it (one command: no gap), the
    old one deleted. POL and ROUTER: the policy and NODE's router in srv6.json. Returns the new BSID."""
    from . import config
    from .find import require
    from .instance import configure_one, vppctl
    _vpp, ctl = require()
    sock = os.path.join(config.run_dir(lab, node), "cli.sock")
    steer = re.search(rf"^L3 {re.escape(pol['to'])}\s+(\S+)", vppctl(ctl, sock, "show sr steering-policies"), re.M)
    if steer is None:
        raise DeployError(f"vpp node '{node}': no steering of {pol['to']} into an SR policy (show sr steering-policies)")
    used = set(re.findall(r"BSID:\s+(\S+)", vppctl(ctl, sock, "show sr policies")))
    used |= {v["sid"] for v in router["sids"].values()}
    addr = ipaddress.ip_network(router["locator"]).broadcast_address
    while str(addr) in used:
        addr -= 1
    nexts = " ".join(f"next {a}" for a in segments)
    where = f"the srv6_policy step (policy to {pol['to']})"
    configure_one(ctl, sock, f"sr policy add bsid {addr} {nexts} {'encap' if pol['mode'] == 'encap' else 'insert'}",
                  where, node)
    configure_one(ctl, sock, f"sr steer l3 {pol['to']} via bsid {addr}", where, node)
    configure_one(ctl, sock, f"sr policy del bsid {steer.group(1)}", where, node)
    return str(addr)

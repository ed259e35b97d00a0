"""Addresses and routes of the chains (the expand stage's third step), for `_Expander` (expand.py).

    take      the emulator's own: a /30 per connection from the endpoint's cidr (client .1, endpoint .2)
    take_nsm  NSM's point-to-point IPAM (ipam.py) for endpoints with `ipam: nsm`
    address   every hop of every chain: IP payload a pair per hop, ETHERNET one pair for the two ends
    route     routes so that every address of an IP chain is reachable from every node of it
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from . import ipam as nsm_ipam

if TYPE_CHECKING:
    from .expand import Chain


def take(e, nse: str, path: tuple):
    """The next connection's (client, endpoint, prefix) addresses from the endpoint's cidr."""
    n = e.nses[nse]
    net = n.net
    cpath = ("nodes", nse, "cidr") if n.spec.cidr is not None else ("nodes", nse)
    if net.prefixlen == 31:
        if n.used:
            e.issue(cpath, f"cidr {n.spec.cidr} of '{nse}' has room for one connection; "
                           f"a second one comes from {e.src.issue(path, '').location()}",
                    "give the endpoint a larger prefix, e.g. a /24")
            return None
        n.used = 1
        other = [a for a in (net.network_address, net.broadcast_address) if a != n.first][0]
        return f"{other}/31", f"{n.first}/31", str(net)
    if net.prefixlen > 30:
        e.issue(cpath, f"cidr {net} of '{nse}' is too small for a connection", "at least a /31")
        return None
    base = int(net.network_address) + 4 * n.used
    if base + 3 > int(net.broadcast_address):
        e.issue(cpath, f"cidr {net} of '{nse}' has no /30 left for the connection made at "
                  f"{e.src.issue(path, '').location()}", "give the endpoint a larger prefix")
        return None
    n.used += 1
    sub = ipaddress.ip_network((base, 30))
    return f"{sub.network_address + 1}/30", f"{sub.network_address + 2}/30", str(sub)

def take_nsm(e, nse: str, ch: Chain, path: tuple):
    """NSM's point-to-point IPAM (ipam.py): (client, endpoint, subnet, other groups' pairs) or None."""
    used = {ipaddress.ip_interface(a).ip for h in ch.hops for a in (h.client_ip, h.endpoint_ip) if a}
    used |= {ipaddress.ip_interface(a).ip for h in ch.hops for p in h.more_ips for a in p}
    pairs = e.nses[nse].pool.take(used)
    if not pairs:
        cpath = ("nodes", nse, "cidr") if e.nses[nse].spec.cidr is not None else ("nodes", nse)
        e.issue(cpath, f"the address pool of '{nse}' ({e.nses[nse].spec.cidr or nsm_ipam.DEFAULT}) has "
                       f"no two addresses left for the connection made at "
                       f"{e.src.issue(path, '').location()}", "give the endpoint a larger prefix")
        return None
    # NSM gives host addresses and a route to the peer; the lab writes the pair as the /31 (/127)
    # it forms, which reaches the same peer on the link (a pair split by an exclusion keeps /32s)
    out = []
    for ep, cl in pairs:
        ea, ca = ipaddress.ip_interface(ep).ip, ipaddress.ip_interface(cl).ip
        nets = list(ipaddress.collapse_addresses([ea, ca]))
        plen = nets[0].prefixlen if len(nets) == 1 else ea.max_prefixlen
        out.append((f"{ca}/{plen}", f"{ea}/{plen}", str(nets[0]) if len(nets) == 1 else f"{ca}/{plen}"))
    (cl, ep, sub), more = out[0], [(c, x) for c, x, _s in out[1:]]
    return cl, ep, sub, more


def address(e) -> None:
    for ch in e.chains:
        dpdk = [n for n in ch.nodes if n in e.dpdk]
        if dpdk and ch.payload != "ETHERNET":
            e.issue(("nodes", dpdk[0], "dpdk"),
                    f"DPDK {'client' if dpdk[0] == ch.client else 'endpoint'} '{dpdk[0]}' passes frames, it "
                    f"does not route: the chain of '{ch.client}' is service '{ch.service}', payload IP",
                    f"give the service payload: ETHERNET (at {e.src.issue(('services', ch.service), '').location()})"
                    if ch.service in e.services else "declare the service with payload: ETHERNET")
            continue
        if ch.payload == "ETHERNET":
            last = ch.hops[-1].endpoint
            got = e.take_nsm(last, ch, ch.hops[-1].path) if e.nses[last].pool else \
                e.take(last, ch.hops[-1].path)
            if got and len(got) == 4:
                ch.hops[0].more_ips = got[3]
                got = got[:3]
            if got:
                ch.hops[0].client_ip, ch.hops[-1].endpoint_ip, sub = got
                for h in ch.hops:
                    h.subnet = sub
                if ch.client in e.dpdk:
                    ch.hops[0].client_ip = None
                if last in e.dpdk and e.dpdk[last].get("mode", "io") != "icmpecho":
                    ch.hops[-1].endpoint_ip = None
        else:
            for h in ch.hops:
                if e.nses[h.endpoint].pool:
                    got = e.take_nsm(h.endpoint, ch, h.path)
                    if got:
                        h.client_ip, h.endpoint_ip, h.subnet, h.more_ips = got
                    continue
                got = e.take(h.endpoint, h.path)
                if got:
                    h.client_ip, h.endpoint_ip, h.subnet = got


def route(e, ch: Chain) -> None:
    hops = ch.hops
    seq = ch.nodes
    # per address family: (subnet, client address, endpoint address) of each hop; NSM IPAM's
    # other cidr groups (dual stack) are families too, when every hop has them
    fams = [[(h.subnet, h.client_ip, h.endpoint_ip) for h in hops]]
    for f in range(min(len(h.more_ips) for h in hops)):
        fams.append([(str(ipaddress.ip_interface(h.more_ips[f][0]).network),) + tuple(h.more_ips[f])
                     for h in hops])
    for fam in fams:
        for i, node in enumerate(seq):
            for k, (subnet, _c, _e) in enumerate(fam, start=1):
                if k in (i, i + 1) or subnet is None:
                    continue
                if k > i + 1:
                    via = fam[i][2]       # hop i+1 (1-based) joins node i to node i+1
                else:
                    via = fam[i - 1][1]   # hop i joins node i-1 to node i
                if via is None:
                    continue
                path = hops[k - 1].path
                rn = e.out["nodes"][node]
                routes = rn.setdefault("routes", [])
                if not isinstance(e.raw["nodes"][node].get("routes"), list):
                    e.locate(("nodes", node, "routes"), path)
                e.locate(("nodes", node, "routes", len(routes)), path)
                routes.append({"to": subnet, "via": via.split("/")[0]})

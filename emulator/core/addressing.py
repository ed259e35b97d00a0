"""Stage 5: automatic IPv4 addresses, and checks on all addresses.

Interfaces without an address get one per segment: when the segment already
has an explicit IPv4 subnet, the free host addresses of that subnet; otherwise
a fresh prefix from a pool (a /30 per point-to-point link from `p2p`, a
prefix sized to the segment, at least a /24, per bridged segment from `lan`).
Pool prefixes that overlap any explicit address are skipped. Allocation is
deterministic: the same file always gives the same addresses.
"""
from __future__ import annotations

import bisect
import ipaddress
import math

import networkx as nx

from . import drivers
from ..errors import TopologyError
from .graph import segments
from .loader import Source
from .model import Addressing, Interface, Lab


class Taken:
    """IPv4 prefixes in use. Two prefixes overlap only when one contains the other, so a
    candidate overlaps when one of its (at most 33) supernets is taken, or when a taken prefix
    starts inside it: a set and a sorted list answer both in O(log n), where comparing it with
    every taken prefix made allocation quadratic (1.2 s for a chain of 1000 routers)."""

    def __init__(self, nets=()):
        self.prefixes: set[tuple[int, int]] = set()
        self.starts: list[int] = []
        for n in nets:
            self.add(n)

    def add(self, net) -> None:
        key = (int(net.network_address), net.prefixlen)
        if key not in self.prefixes:
            self.prefixes.add(key)
            bisect.insort(self.starts, key[0])

    def overlaps(self, start: int, prefixlen: int) -> bool:
        for plen in range(prefixlen + 1):
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            if (start & mask, plen) in self.prefixes:
                return True
        i = bisect.bisect_left(self.starts, start)
        return i < len(self.starts) and self.starts[i] < start + (1 << (32 - prefixlen))


class Pool:
    def __init__(self, prefix: str, taken: Taken):
        self.net = ipaddress.ip_network(prefix)
        self.taken = taken  # shared by the pools, so overlapping pools never hand out overlapping prefixes
        self.cursor = int(self.net.network_address)

    def take(self, prefixlen: int):
        size = 1 << (32 - prefixlen)
        start = (self.cursor + size - 1) // size * size
        end = int(self.net.broadcast_address)
        while start + size - 1 <= end:
            if not self.taken.overlaps(start, prefixlen):
                cand = ipaddress.ip_network((start, prefixlen))
                self.cursor = start + size
                self.taken.add(cand)
                return cand
            start += size
        return None


def allocate(lab: Lab, g: nx.MultiGraph, src: Source) -> None:
    c_issues = []
    explicit = [ipaddress.ip_interface(a) for i in lab.interfaces() for a in i.addresses]
    taken_nets = [a.network for a in explicit if a.version == 4]
    explicit_nets = list(dict.fromkeys(taken_nets))
    taken = Taken(taken_nets)
    pools = {"lan": Pool(lab.addressing.lan, taken), "p2p": Pool(lab.addressing.p2p, taken)}
    used_ips = {a.ip for a in explicit}

    failed: dict[str, dict] = {}  # pool name -> segments it had no prefix for
    if lab.addressing.auto:
        for seg_kind, seg in segments(lab, g):
            need = [i for i in seg if i.auto_address and not i.addresses
                    and drivers.get(lab.nodes[i.node].kind).auto_address
                    and drivers.get(lab.nodes[i.node].kind).addressable]
            if not need:
                continue
            net = _existing_subnet(seg)
            if net is None:
                pool_name = "p2p" if seg_kind == "p2p" else "lan"
                plen = 30 if seg_kind == "p2p" else min(24, 32 - math.ceil(math.log2(len(seg) + 2)))
                net = pools[pool_name].take(plen)
                if net is None:
                    short = failed.setdefault(pool_name, {"n": 0, "plen": plen})
                    short["n"] += 1
                    short["plen"] = min(short["plen"], plen)
                    continue
            hosts = (h for h in net.hosts() if h not in used_ips)
            for iface in need:
                ip = next(hosts, None)
                if ip is None:
                    c_issues.append(src.issue(iface.path, f"subnet {net} has no free address for {iface.key}"))
                    break
                used_ips.add(ip)
                iface.addresses.append(f"{ip}/{net.prefixlen}")

    for pool_name, short in failed.items():
        pool = pools[pool_name]
        n = short["n"]
        overlaps = [str(t) for t in explicit_nets if t.overlaps(pool.net)]
        hint = (f"it overlaps explicit subnets ({', '.join(overlaps[:3])}); choose a pool that does not"
                if overlaps else f"give a larger prefix as addressing.{pool_name} "
                                 f"(the default is {getattr(Addressing(), pool_name)})")
        c_issues.append(src.issue(("addressing", pool_name),
                                  f"address pool {pool.net} has no free /{short['plen']} left "
                                  f"for {n} {'segment' if n == 1 else 'segments'}", hint))

    # duplicates
    owner: dict = {}
    seg_of = {id(i): k for k, (_, seg) in enumerate(segments(lab, g)) for i in seg}
    for iface in lab.interfaces():
        for a in iface.addresses:
            ip = ipaddress.ip_interface(a).ip
            # link-local addresses only need to be unique on their own segment
            key = (seg_of.get(id(iface)), ip) if ip.is_link_local else ip
            if key in owner:
                other, other_path = owner[key]
                what = f"is used twice: on {iface.key} and {other.key}" if other is not iface \
                    else f"is listed twice for {iface.key}"
                c_issues.append(src.issue(_address_path(lab, iface, ip, src, skip=other_path),
                                          f"address {ip} {what}",
                                          f"the other one is at {src.issue(other_path, '').location()}"))
                continue
            owner[key] = (iface, _address_path(lab, iface, ip, src))
    if c_issues:
        c_issues.sort(key=lambda i: (i.line or 0, i.column or 0))
        raise TopologyError(c_issues)


def _existing_subnet(seg: list[Interface]):
    for i in seg:
        for a in i.addresses:
            iface = ipaddress.ip_interface(a)
            if iface.version == 4 and iface.network.prefixlen < 32:
                return iface.network
    return None


def _address_path(lab: Lab, iface: Interface, ip, src: Source, skip: tuple = ()) -> tuple:
    """The YAML path of the list item that gave `ip` to `iface` (the interface's path if none did)."""
    paths = [iface.path + ("ip",), lab.nodes[iface.node].path + ("ip",)]
    if iface.endpoint >= 0:
        paths.append(lab.endpoints[iface.endpoint].path + ("endpoint", "ip"))
    if iface.link >= 0:
        link = lab.links[iface.link]
        lpath = link.path + (("endpoints",) if isinstance(_at(src.data, link.path), dict) else ())
        for k, ep in enumerate(_at(src.data, lpath) or []):
            if isinstance(ep, dict) and ep.get("node") == iface.node:
                paths.append(lpath + (k, "ip"))
    for p in paths:
        items = _at(src.data, p)
        for k, a in enumerate(items if isinstance(items, list) else []):
            try:
                if ipaddress.ip_interface(str(a)).ip == ip and p + (k,) != skip:
                    return p + (k,)
            except ValueError:
                pass
    return iface.path


def _at(data, path: tuple):
    for p in path:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data

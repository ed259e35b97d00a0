"""NSM's point-to-point IPAM, for endpoints with `ipam: nsm` (what `import-nsm` writes).

As NSM's sdk does it (pkg/networkservice/ipam/point2pointipam, pkg/tools/ippool, cidr.Groups,
groupipam): NSM_CIDR_PREFIX is a list of groups, `a,b` being two groups and `[a,b]` one group of
two pools; each prefix is taken as its network (net.ParseCIDR), whatever host bits were written.
Every connection gets one pair of addresses from each group, from the group's first pool that has
two free addresses left: the lowest free address is the endpoint's (dst), the next one the
client's (src); both are host addresses (/32, /128), and each side gets a route to the other's.
Addresses the connection already carries are excluded (NSM's excluded prefixes: here the other
hops of the same chain). The endpoint's default is NSM's: 169.254.0.0/16.
So a /31 (172.16.1.100/31) gives the endpoint .100 and the client .101; a /30 gives .0 and .1,
then .2 and .3; a /29 four connections; 2001:db8::/116 gives 2001:db8:: and 2001:db8::1.
"""
from __future__ import annotations

import ipaddress

DEFAULT = "169.254.0.0/16"


def parse_groups(text: str) -> list[list]:
    """NSM_CIDR_PREFIX -> groups of networks; ValueError naming the bad item."""
    text = str(text).replace(" ", "")
    groups: list[list] = []
    inside = False
    for item in text.split(","):
        if not item:
            raise ValueError("empty item")
        if not inside:
            groups.append([])
        opened, closed = item.startswith("["), item.endswith("]")
        if opened and inside or closed and not (inside or opened):
            raise ValueError(f"unbalanced brackets at '{item}'")
        groups[-1].append(ipaddress.ip_network(item.strip("[]"), strict=False))
        inside = (inside or opened) and not closed
    if inside:
        raise ValueError("a '[' is never closed")
    return groups


class Pool:
    """The free addresses of one endpoint, per group and pool, lowest first."""

    def __init__(self, groups: list[list]):
        self.groups = groups
        self.used: set = set()

    def take(self, exclude: set) -> list[tuple[str, str]]:
        """One (endpoint, client) pair of host addresses per group; [] for a group with no room."""
        pairs = []
        for group in self.groups:
            for net in group:
                got = []
                for a in _hosts(net):
                    if a not in self.used and a not in exclude:
                        got.append(a)
                        if len(got) == 2:
                            break
                if len(got) == 2:
                    self.used.update(got)
                    bits = got[0].max_prefixlen
                    pairs.append((f"{got[0]}/{bits}", f"{got[1]}/{bits}"))
                    break
            else:
                return []
        return pairs


def _hosts(net):
    """Every address of the network, the network address included (NSM's pool has no gaps)."""
    a = net.network_address
    for _ in range(min(net.num_addresses, 1 << 20)):
        yield a
        a += 1

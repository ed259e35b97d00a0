"""Link types `vhost-user` and `memif`: shared-memory links with no kernel device.

    vhost-user  an ovs-dpdk port (dpdkvhostuserclient, OVS connects) <-> a dpdk-app port
                (net_virtio_user in server mode, the app listens); OVS reconnects when the app restarts.
                Between two dpdk-apps: the first endpoint is the virtio side (net_virtio_user, it
                listens), the second the vhost backend (net_vhost in client mode, it reconnects
                until the first is up: no start order)
    memif       two dpdk-app ports (net_memif); the first endpoint is the server (it listens on the
                socket), the second the client. Servers start first.

The socket of link N is /run/emulator/LAB/sock/L<N>.sock: short (a Unix socket path has at most
107 bytes), and it goes with the lab directory.
"""
from __future__ import annotations

import os

from ...core import linktypes
from ...core.model import Lab, Link
from .testpmd import sock_dir

MAX_SOCK = 107


def socket_path(lab: Lab, link: Link) -> str:
    return os.path.join(sock_dir(lab.name), f"L{link.id}.sock")


def _kinds(lab: Lab, link: Link) -> tuple[str, str]:
    return lab.nodes[link.a.node].kind, lab.nodes[link.b.node].kind


def _memif_end(kind: str) -> bool:
    """dpdk-app, or a kind whose driver says it takes memif links (vpp: memif_end = True)."""
    from ...core import drivers
    try:
        return kind == "dpdk-app" or getattr(drivers.get(kind), "memif_end", False)
    except drivers.UnknownKind:
        return False


def _no_impairments(link: Link, what: str) -> list:
    out = []
    for f in ("bandwidth", "delay", "jitter", "loss"):
        if getattr(link.impairment, f):
            out.append(((f,), f"a {what} link has no kernel device, so it takes no {f}",
                        "impair a veth link instead, or shape traffic in the DPDK app"))
    return out


def _sock_check(lab: Lab, link: Link) -> list:
    p = socket_path(lab, link)
    if len(p) > MAX_SOCK:
        return [(("type",), f"the socket path {p} is longer than {MAX_SOCK} bytes",
                 "use a shorter lab name, or set EMULATOR_RUN_DIR to a shorter directory")]
    return []


def _cycle_check(lab: Lab, link: Link) -> list:
    """A memif client starts after its server (a client started first never connects), so memif
    links must not make apps wait for each other in a circle. Reported on each cycle's last link."""
    cycle = _memif_cycles(lab).get(link.id)
    if not cycle:
        return []
    return [(("endpoints",), "memif clients would wait for each other in a circle: " + " -> ".join(cycle)
             + " (each waits for the next, its server, to start first)",
             "swap the endpoints of one of these links: a memif link's first endpoint serves")]


def _memif_cycles(lab: Lab) -> dict[int, list[str]]:
    """link id -> the cycle of waiting apps it closes (client first), for the last link of each
    cycle; worked out once per lab (strongly connected components of client -> server)."""
    cached = lab.__dict__.get("_memif_cycles")
    if cached is not None:
        return cached
    import networkx as nx   # the graph stage has imported it already
    g = nx.DiGraph()
    for ln in lab.links:
        # only a dpdk-app client waits for its server (VPP's memif slave reconnects by itself)
        if ln.type == "memif" and ln.a and ln.b and lab.nodes[ln.b.node].kind == "dpdk-app":
            g.add_edge(ln.b.node, ln.a.node, link=ln.id)   # the client (b) waits for the server (a)
    out: dict[int, list[str]] = {}
    for comp in nx.strongly_connected_components(g):
        if len(comp) < 2:
            continue
        edges = nx.find_cycle(g.subgraph(comp))
        last = max(edges, key=lambda e: g.edges[e]["link"])
        k = edges.index(last)
        edges = edges[k:] + edges[:k]          # start at the client of the reported link
        out[g.edges[last]["link"]] = [u for u, _v in edges] + [last[0]]
    lab.__dict__["_memif_cycles"] = out
    return out


class VhostUser(linktypes.LinkType):
    name = "vhost-user"
    summary = ("virtio over shared memory: an ovs-dpdk port (dpdkvhostuserclient) to a dpdk-app (net_virtio_user), "
               "or two dpdk-apps (net_virtio_user first, net_vhost second)")

    def check(self, lab, link):
        ka, kb = _kinds(lab, link)
        if sorted((ka, kb)) not in (["dpdk-app", "ovs-dpdk"], ["dpdk-app", "dpdk-app"], ["dpdk-app", "vpp"]):
            return [(("type",), "a vhost-user link joins a dpdk-app node to an ovs-dpdk or another dpdk-app node "
                                "(or a vpp node); "
                                f"this one joins {ka} '{link.a.node}' and {kb} '{link.b.node}'",
                     "to a kernel node use a veth (the default)")]
        return _no_impairments(link, "vhost-user") + _sock_check(lab, link)

    def plan(self, lab, link):
        return []   # the OVS port and the app's vdev are made by their drivers

    def ovs_port(self, lab, link, iface):
        return "dpdkvhostuserclient", {"vhost-server-path": socket_path(lab, link)}

    def vdev(self, lab, link, iface, k: int) -> str:
        if iface is link.b and lab.nodes[link.a.node].kind == "dpdk-app":
            # the vhost backend of a dpdk-app pair: connects to the virtio side, and retries until it listens
            return f"net_vhost{k},iface={socket_path(lab, link)},client=1,queues=1"
        v = f"net_virtio_user{k},path={socket_path(lab, link)},server=1,queues=1,"
        v += f"queue_size={min(1024, lab.nodes[iface.node].props.get('ring', 1024))}"
        return v + (f",mac={iface.mac}" if iface.mac else "")

    def is_server(self, lab, link, iface) -> bool:
        return False


class Memif(linktypes.LinkType):
    name = "memif"
    summary = "shared-memory packet interface between dpdk-app and vpp nodes (first endpoint: server)"

    def check(self, lab, link):
        ka, kb = _kinds(lab, link)
        if not (_memif_end(ka) and _memif_end(kb)):
            return [(("type",), f"a memif link joins two dpdk-app nodes (or vpp nodes); this one joins {ka} "
                                f"'{link.a.node}' and {kb} '{link.b.node}'",
                     "to an ovs-dpdk node use type: vhost-user; to a kernel node a veth (the default)")]
        return _no_impairments(link, "memif") + _sock_check(lab, link) + _cycle_check(lab, link)

    def plan(self, lab, link):
        return []

    def is_server(self, lab, link, iface) -> bool:
        return iface is link.a

    def vdev(self, lab, link, iface, k: int) -> str:
        role = "server" if self.is_server(lab, link, iface) else "client"
        # a filesystem socket: abstract ones live in one network namespace, the ends are in two
        v = f"net_memif{k},role={role},id=0,socket={socket_path(lab, link)},socket-abstract=no"
        return v + (f",mac={iface.mac}" if iface.mac else "")


LINK_TYPES = (VhostUser, Memif)   # registered by the dpdk backend

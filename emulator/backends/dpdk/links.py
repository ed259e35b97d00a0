"""Link types `vhost-user` and `memif`: shared-memory links with no kernel device.

    vhost-user  a `virtio` end and a `vhost` end. A dpdk-app is either (net_virtio_user in server
                mode, it listens; or net_vhost in client mode, it reconnects until the other
                listens: no start order); ovs-dpdk (dpdkvhostuserclient, OVS reconnects when the
                app restarts) and vpp are vhost ends. Between two dpdk-apps the first endpoint is
                the virtio side.
    memif       a `server` end (the first endpoint: it listens on the socket) and a `client` end.
                Any kind whose driver declares a memif end takes it (dpdk-app: net_memif; vpp).
                A client that cannot reconnect (testpmd: `starts_after_server`) starts after its server.

Which kinds take which ends is what their drivers declare (`Driver.link_ends`, core/driver.py);
these link types name only the roles (core/linktypes.py: `role_pairs`).

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
        # only a client that cannot reconnect waits for its server (VPP's memif slave reconnects)
        if ln.type == "memif" and ln.a and ln.b and _starts_after_server(lab, ln):
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


def _starts_after_server(lab: Lab, link: Link) -> bool:
    spec = linktypes.end_spec(lab, link.b, link.type)
    return bool(spec and spec.starts_after_server)


class VhostUser(linktypes.LinkType):
    name = "vhost-user"
    summary = ("virtio over shared memory: an ovs-dpdk port (dpdkvhostuserclient) to a dpdk-app (net_virtio_user), "
               "or two dpdk-apps (net_virtio_user first, net_vhost second)")
    role_pairs = (("virtio", "vhost"), ("vhost", "virtio"))

    def check(self, lab, link):
        bad = linktypes.end_problems(lab, link, "to a kernel node use a veth (the default)")
        return bad or _no_impairments(link, "vhost-user") + _sock_check(lab, link)

    def plan(self, lab, link):
        return []   # the OVS port and the app's vdev are made by their drivers


class Memif(linktypes.LinkType):
    name = "memif"
    summary = "shared-memory packet interface between nodes that declare a memif end (first endpoint: server)"
    role_pairs = (("server", "client"),)

    def check(self, lab, link):
        bad = linktypes.end_problems(lab, link, "to an ovs-dpdk node use type: vhost-user; to a kernel node "
                                                "a veth (the default)")
        return bad or _no_impairments(link, "memif") + _sock_check(lab, link) + _cycle_check(lab, link)

    def plan(self, lab, link):
        return []


LINK_TYPES = (VhostUser, Memif)   # registered by the dpdk backend

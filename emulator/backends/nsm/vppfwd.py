"""NSM's VPP forwarder and VPP endpoints and clients, for the expand stage (expand.py).

A `vpp` forwarder (`forwarders: {fwd: {type: vpp}}`) is one VPP process (a `kind: vpp` node named
after the forwarder) that builds every cross-connect given to it as NSM's VPP forwarder does:

    client:nsm0 --[tap]-- fwd:c0 ==l2 xconnect== fwd:e0 --[memif]-- fw:in0

each side by the mechanism of its end: TAP to a kernel client or endpoint (where /dev/vhost-net is
missing, as on this kernel, the tap link is a veth that VPP takes through af_packet: NSM's
fallback), memif to a VPP (or DPDK) end; with memif on both sides the forwarder is a pure memif
proxy. The addresses stay on the two ends (one /30 per hop, as with the kernel forwarder): the
forwarder passes frames. Toward an endpoint the endpoint serves the memif socket (master); toward
a client the forwarder does.

`vpp: {...}` on an nse or nsc makes it a `kind: vpp` node (as `dpdk:` makes a dpdk-app): a VPP
endpoint routes (payload IP, mode router: the addresses and routes of its connections) or passes
frames (payload ETHERNET, in the middle of a chain: mode xconnect), with the vpp node's settings
(`acl: {allow: [icmp, tcp/5201]}`: a VPP firewall NSE, in the iptables-firewall's words).
"""
from __future__ import annotations

from .forwarders import ForwarderType

#: what a VPP end takes of the vpp kind's settings (the rest comes from its connections)
VPP_KEYS = ("mode", "acl", "nsim", "cli", "heap", "buffers", "main_core", "poll_sleep_usec", "host_stack")
#: what a VPP end cannot have: VPP owns its ports, the chain gives their addresses and routes
NOT_FOR_VPP = ("ip", "interfaces", "routes", "sysctls", "exec", "dpdk")



def read(e, name: str, rn: dict) -> None:
    """An nse/nsc with `vpp:`: remember its settings, refuse what a VPP end cannot have."""
    if rn.get("vpp") is None:
        return
    e.vpp[name] = dict(rn["vpp"])
    for k in NOT_FOR_VPP + (("vnf",) if rn.get("kind") == "nse" else ()):
        if k in rn:
            e.issue(("nodes", name, k),
                    f"'{name}' is a VPP {rn['kind']}: " +
                    ("its role is its vpp: settings (acl:, mode:, cli:)" if k == "vnf" else
                     "give it either dpdk: or vpp:" if k == "dpdk" else
                     f"its ports and addresses come from its connections, so {k}: does not apply"),
                    "e.g. vpp: {acl: {allow: [icmp, tcp/5201]}}, or drop vpp: to make it a kernel namespace")


def sides(asked: str, accepts: list[str], f: ForwarderType) -> str | None:
    """The mechanism of a VPP-forwarded hop: the requester's side, then the endpoint's (its first
    accepted mechanism the forwarder builds); 'kernel->memif' when they differ."""
    em = next((m for m in accepts if m in f.mechanisms), None)
    if em is None:
        return None
    return asked if asked == em else f"{asked}->{em}"


def link_text(mech: str) -> str:
    """How a side of a VPP cross-connect is built here, for explain."""
    if mech == "memif":
        return "memif"
    from ..vpp.config import vhost_net
    return "tap: veth + af_packet, " + ("no /dev/vhost-net" if not vhost_net() else "the tap is not deployed yet")


def write_hop(e, ch, h, links: list) -> None:
    """The two links of a hop through a VPP forwarder, and the forwarder's xconnect of its ports."""
    fwd = h.forwarder
    ports = e.vpp_fwd.setdefault(fwd, [])
    k = len(ports)
    cport, eport = f"c{k}", f"e{k}"
    cm, _, em = h.mechanism.partition("->")
    em = em or cm
    ports.append((cport, eport, h.path))
    cend = e._end(h.client, h.client_if, h.client_ip, [c for c, _e in h.more_ips])
    eend = e._end(h.endpoint, h.endpoint_if, h.endpoint_ip, [x for _c, x in h.more_ips])
    what = f"{ch.service}: {h.client} -> {h.endpoint} (request of {ch.client}), through VPP forwarder {fwd}"
    for mech, end, port, master_first in ((cm, cend, cport, True), (em, eend, eport, False)):
        mine = {"node": fwd, "interface": port, "ip": []}
        if mech == "memif":   # toward an endpoint the endpoint serves; toward a client the forwarder
            pair = [mine, end] if master_first else [end, mine]
            ltype = "memif"
        else:                 # a kernel end: tap (the veth + af_packet fallback where vhost-net is missing)
            pair, ltype = [end, mine], "tap"
            if end["node"] not in e.vpp and end["node"] not in e.dpdk:
                e.tx_off.add((end["node"], end["interface"]))
        e.locate(("links", len(links)), h.path)
        links.append({"endpoints": pair, "type": ltype, "description": what})
    h.via = {"forwarder": fwd, "client_port": f"{fwd}:{cport}", "endpoint_port": f"{fwd}:{eport}",
             "client_link": link_text(cm), "endpoint_link": link_text(em)}


def write_nodes(e, nodes: dict) -> None:
    """The forwarders' VPP nodes, and the VPP endpoints and clients as vpp nodes."""
    for fwd, ports in e.vpp_fwd.items():
        path = ("forwarders", fwd)
        cli = []
        for cport, eport, _p in ports:
            cli += [f"set interface l2 xconnect {{{cport}}} {{{eport}}}",
                    f"set interface l2 xconnect {{{eport}}} {{{cport}}}"]
        nodes[fwd] = {"kind": "vpp", "cli": cli}
        e.locate(("nodes", fwd), path)
        e.keys[("nodes", fwd)] = e.src.where(path)
        for i in range(len(cli)):
            e.locate(("nodes", fwd, "cli", i), ports[i // 2][2])
    for name, d in e.vpp.items():
        rn, out = e.raw["nodes"][name], nodes[name]
        middle = [ch for ch in e.chains if name in ch.nodes[1:-1]]
        mode = d.get("mode") or ("xconnect" if middle and all(ch.payload == "ETHERNET" for ch in middle)
                                 else "router")
        node = {"kind": "vpp", **d, "mode": mode}
        for k in d:
            e.locate(("nodes", name, k), ("nodes", name, "vpp", k))
        if mode == "router" and out.get("routes"):
            node["routes"] = out["routes"]
        if rn.get("labels") is not None:
            node["labels"] = rn["labels"]
        nodes[name] = node


def check_names(e) -> None:
    """A VPP forwarder is a node of the lab: its name must be free."""
    for name, f in e.forwarders:
        if f.name == "vpp" and name in e.raw["nodes"]:
            e.issue(("forwarders", name), f"VPP forwarder '{name}' runs as a vpp node of that name, and a node "
                                          f"'{name}' exists", "rename the forwarder (e.g. vpp-fwd)")

"""What a vpp node's VPP is started with (startup.conf) and configured with (CLI commands).

Every command carries the YAML path it comes from, so a command VPP rejects is reported with
the topology line that asked for it. Interfaces, by the link that reaches them:

    veth (default), tap   af_packet on the veth end: VPP's host-eth0 (tap_command: the VPP tap)
    memif                 memif<LINK+1>/0 (first endpoint: master)
    vhost-user            VirtualEthernet0/0/<LINK>: VPP connects to a dpdk-app's virtio_user (server)
"""
from __future__ import annotations

import os
import re

from ... import names
from ...deploy import state

PLUGINS = ("af_packet_plugin.so", "memif_plugin.so", "ping_plugin.so", "acl_plugin.so", "nsim_plugin.so",
           "tap_plugin.so", "vhost_plugin.so")
MODES = ["router", "xconnect", "bridge"]
DEFAULT_HEAP_MB, DEFAULT_BUFFERS = 128, 8192
SOCKETS = ("cli.sock", "api.sock", "stats.sock")
SHM_SUFFIXES = ("-vpe-api", "-global_vm")   # what VPP's api segment leaves in /dev/shm when killed


def run_dir(lab: str, node: str) -> str:
    return os.path.join(state.lab_dir(lab), "vpp", names.check_node(node))


def vhost_net() -> bool:
    """VPP's tap needs /dev/vhost-net (EMULATOR_VHOST_NET=0/1 overrides: tests of either path)."""
    forced = os.environ.get("EMULATOR_VHOST_NET")
    return forced == "1" if forced in ("0", "1") else os.path.exists("/dev/vhost-net")


def startup_conf(lab: str, node: str, props: dict, default_core: int = 0) -> str:
    d = run_dir(lab, node)
    heap = props.get("heap", DEFAULT_HEAP_MB)
    buffers = props.get("buffers", DEFAULT_BUFFERS)
    plugins = " ".join(f"plugin {p} {{ enable }}" for p in PLUGINS)
    return (f"unix {{ nodaemon cli-listen {d}/cli.sock log {d}/vpp.log runtime-dir {d} "
            f"poll-sleep-usec {props.get('poll_sleep_usec', 100)} }}\n"
            f"api-segment {{ prefix {names.vpp_prefix(lab, node)} }}\n"
            f"socksvr {{ socket-name {d}/api.sock }}\n"
            f"statseg {{ socket-name {d}/stats.sock size 8M }}\n"
            f"cpu {{ main-core {props.get('main_core', default_core)} }}\n"
            f"buffers {{ buffers-per-numa {buffers} default data-size 2048 page-size 4K }}\n"
            f"memory {{ main-heap-size {heap}M main-heap-page-size 4K }}\n"
            f"plugins {{ plugin default {{ disable }} {plugins} }}\n"
            + ("session { enable use-app-socket-api }\n" if props.get("host_stack") else ""))


def ports(node) -> list:
    """The node's interfaces in use: link ends, and single-ended endpoints (a host device moved in)."""
    return [i for i in node.interfaces.values() if i.link >= 0 or getattr(i, "endpoint", -1) >= 0]


def vpp_ifname(lab, iface) -> str:
    """VPP's name for the interface IFACE of a vpp node."""
    if iface.link < 0:
        return f"host-{iface.device}"   # an endpoint's kernel device, through af_packet
    link = lab.links[iface.link]
    if link.type == "memif":
        return f"memif{link.id + 1}/0"
    if link.type == "vhost-user":
        return f"VirtualEthernet0/0/{link.id}"
    return f"host-{iface.device}"


def tap_command(lab, iface) -> str:
    """The VPP tap a `tap` link is where /dev/vhost-net exists: its host side is the peer's
    device, in the peer's namespace, with the peer's addresses (generated, not deployed yet)."""
    link = lab.links[iface.link]
    peer = link.b if iface is link.a else link.a
    host = [f"host-ns {peer.netns}", f"host-if-name {peer.device}"]
    host += [f"host-ip{6 if ':' in a else 4}-addr {a}" for a in peer.addresses]
    if peer.mac:
        host.append(f"host-mac-addr {peer.mac}")
    return f"create tap id {link.id} " + " ".join(host) + (f" hw-addr {iface.mac}" if iface.mac else "")


def link_note(lab, iface) -> str:
    """How the interface is made, for `plan`."""
    if iface.link < 0:
        return "af_packet on the endpoint's device"
    link = lab.links[iface.link]
    if link.type == "memif":
        return f"memif, {'master' if iface is link.a else 'slave'}"
    if link.type == "vhost-user":
        return "vhost-user client of the dpdk-app's virtio_user (it listens; VPP reconnects)"
    if link.type == "tap":
        why = "/dev/vhost-net is missing" if not vhost_net() else "the tap is generated configuration only"
        return f"tap -> af_packet on a veth ({why})"
    return "af_packet on a veth"


def create_commands(lab, node) -> list[tuple[str, tuple]]:
    """The commands that create the node's interfaces."""
    from .links import memif_socket
    out = []
    for iface in ports(node):
        link = lab.links[iface.link] if iface.link >= 0 else None
        mac = f" hw-addr {iface.mac}" if iface.mac else ""
        if link is None:
            out.append((f"create host-interface name {iface.device}{mac}", iface.path))
        elif link.type == "memif":
            sid = link.id + 1
            out.append((f"create memif socket id {sid} filename {memif_socket(lab, link)}", link.path))
            role = "master" if iface is link.a else "slave"
            out.append((f"create interface memif id 0 socket-id {sid} {role}{mac}", link.path))
        elif link.type == "vhost-user":
            hw = f" hwaddr {iface.mac}" if iface.mac else ""
            out.append((f"create vhost-user socket {memif_socket(lab, link)}{hw} renumber {link.id}", link.path))
        else:
            out.append((f"create host-interface name {iface.device}{mac}", iface.path or link.path))
    return out


def role_commands(lab, node) -> list[tuple[str, tuple]]:
    """Addresses and routes (router), cross-connects (xconnect), a bridge domain (bridge), the ACL
    firewall and nsim impairments, the user's own commands, then every interface up."""
    p, path = node.props, node.path
    ifs = ports(node)
    name = {i.name: vpp_ifname(lab, i) for i in ifs}
    out = []
    mode = p.get("mode", "router")
    if mode == "router":
        for i in ifs:
            for a in i.addresses:
                out.append((f"set interface ip address {name[i.name]} {a}", i.path))
        for r in node.routes:
            to = r.to if r.to != "default" else "0.0.0.0/0"
            cmd = f"ip route add {to}" + (f" via {r.via}" if r.via else "")
            cmd += f" {name[r.dev]}" if r.dev else ""
            out.append((cmd, r.path))
        from .srv6 import commands as srv6_commands
        out += srv6_commands(lab, node, name)   # locator routes, SIDs, policies (a vpp SRv6 router)
    elif mode == "xconnect":
        a, b = (name[i.name] for i in ifs)
        if p.get("nsim") is None:   # with nsim, its cross-connect joins them
            out += [(f"set interface l2 xconnect {a} {b}", path + ("mode",)),
                    (f"set interface l2 xconnect {b} {a}", path + ("mode",))]
    else:
        out += [(f"set interface l2 bridge {name[i.name]} 1", path + ("mode",)) for i in ifs]
    acl = p.get("acl")
    if acl is not None:
        out += acl_commands(acl.get("allow", []), [name[i.name] for i in ifs], path + ("acl",))
    nsim = p.get("nsim")
    if nsim is not None:
        out += nsim_commands(nsim, mode, [name[i.name] for i in ifs], path + ("nsim",))
    out += [(_ifnames(c, name), path + ("cli", k)) for k, c in enumerate(p.get("cli", []))]
    out += [(f"set interface state {name[i.name]} up", i.path or path) for i in ifs]
    return out


def _ifnames(cmd: str, name: dict) -> str:
    """`{eth0}` in a cli: command is VPP's name of the node's interface eth0 (memif1/0, host-eth0...)."""
    return re.sub(r"\{([\w.-]+)\}", lambda m: name.get(m.group(1), m.group(0)), cmd)


def acl_rules(allow: list[str]) -> list[str]:
    """The iptables-firewall's words (all, icmp, tcp, udp/53, tcp/5201-5210) as VPP ACL rules:
    stateless, each port rule both ways (dport and sport), everything else denied."""
    rules = []
    for rule in allow:
        proto, _, ports = rule.partition("/")
        if proto == "all":
            rules.append("permit")
        elif proto == "icmp":
            rules += ["permit proto 1", "permit proto 58"]
        else:
            n = 6 if proto == "tcp" else 17
            if ports:
                rules += [f"permit proto {n} dport {ports}", f"permit proto {n} sport {ports}"]
            else:
                rules.append(f"permit proto {n}")
    return rules + ["deny"]


def acl_commands(allow, vifs, path) -> list[tuple[str, tuple]]:
    out = [("set acl-plugin acl " + ", ".join(acl_rules(allow)) + " tag emulator", path + ("allow",))]
    out += [(f"set acl-plugin interface {v} input acl 0", path) for v in vifs]
    return out


def nsim_commands(nsim: dict, mode: str, vifs, path) -> list[tuple[str, tuple]]:
    from ... import units
    delay_ms = units.duration(nsim["delay"]) * 1000 if "delay" in nsim else 0.0
    bw = units.rate(nsim.get("bandwidth", "1gbit"))
    mbps = f"{bw / 1e6:.6f}".rstrip("0").rstrip(".")   # VPP reads "mbps" and "gbit", not "mbit"
    cmd = f"set nsim delay {delay_ms:g} ms bandwidth {mbps} mbps packet-size 1500"
    if nsim.get("loss"):
        cmd += f" drop-fraction {units.percent(nsim['loss']) / 100:g}"
    out = [(cmd, path)]
    if mode == "xconnect":
        out.append((f"nsim cross-connect enable-disable {vifs[0]} {vifs[1]}", path))
    else:
        out += [(f"nsim output-feature enable-disable {v}", path) for v in vifs]
    return out

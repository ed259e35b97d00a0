"""`vpp`: a namespace node running its own VPP (FD.io), configured by role.

    r1:  {kind: vpp, interfaces: {eth0: {ip: [10.0.1.1/24]}, eth1: {ip: [10.0.2.1/24]}},
          routes: [{to: 10.9.0.0/16, via: 10.0.2.2}]}               # mode: router (the default)
    xc:  {kind: vpp, mode: xconnect}                                   # l2 cross-connect of 2 ports
    sw:  {kind: vpp, mode: bridge}                                     # every port in one bridge domain
    fw:  {kind: vpp, acl: {allow: [icmp, tcp/5201]}}                   # everything else is dropped
    em:  {kind: vpp, mode: xconnect, nsim: {delay: 10ms, loss: 1%}}    # VPP's network simulator

The VPP binary comes from EMULATOR_VPP or PATH (find.py); without it, a topology with vpp nodes
is refused before anything is created (exit 3).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ...core.driver import KERNEL_END, Driver, EndSpec
from ...core.model import node_netns
from ...deploy import actions as A
from ...deploy import hostcmd, state
from ..host.driver import NAMESPACE_NODE_PROPERTIES
from ..srv6 import spec as srv6_spec
from . import config, find

MAX_SOCK = 107
_DURATION = {"type": ["string", "number"], "description": "e.g. 10ms"}
ACL_ALLOW = {"type": "array", "items": {"type": "string", "pattern": r"^(all|icmp|(tcp|udp)(/[0-9]+(-[0-9]+)?)?)$"},
             "description": "what passes, in the iptables-firewall VNF's words: all, icmp, tcp, udp/53, "
                            "tcp/5201-5210; everything else is dropped"}


@dataclass
class RequireVpp(A.Action):
    """Refuse the lab before anything exists when VPP is not installed (exit 3)."""
    nodes: str = ""

    def __post_init__(self):
        self.phase, self.batch, self.netns = A.PREFLIGHT, "vpp-preflight", None

    def describe(self):
        vpp, _ctl, why = find.locate()
        return f"VPP for {self.nodes}: " + (vpp or f"not found ({why})")

    @classmethod
    def apply_batch(cls, actions, ctx):
        if not hostcmd.dry_run:
            find.require()


class VppDriver(Driver):
    kind = "vpp"
    summary = "a namespace running its own VPP: router (default), l2 xconnect, bridge domain, ACL firewall, nsim"
    #: veth: af_packet (TX checksums still offloaded by the kernel, as a host's); memif: master or
    #: slave (a slave reconnects: no start order); vhost-user: VPP connects to a dpdk-app's virtio_user
    link_ends = {"veth": KERNEL_END, "memif": EndSpec(roles=("server", "client")),
                 "vhost-user": EndSpec(roles=("vhost",))}
    properties = {
        "interfaces": NAMESPACE_NODE_PROPERTIES["interfaces"],
        "ip": NAMESPACE_NODE_PROPERTIES["ip"],
        "routes": NAMESPACE_NODE_PROPERTIES["routes"],
        "mode": {"enum": config.MODES, "description": "router (addresses, routes; default), xconnect "
                                                      "(exactly two interfaces) or bridge (one bridge domain)"},
        "acl": {"type": "object", "additionalProperties": False, "required": ["allow"],
                "properties": {"allow": ACL_ALLOW},
                "description": "an ACL firewall on the input of every interface"},
        "nsim": {"type": "object", "additionalProperties": False, "required": ["delay"],
                 "properties": {"delay": _DURATION,
                                "bandwidth": {"type": ["string", "number"], "description": "e.g. 100mbit "
                                              "(default 1gbit)"},
                                "loss": {"type": ["string", "number"], "description": "e.g. 1%"}},
                 "description": "VPP's network simulator: delay, bandwidth and loss on the node's traffic "
                                "(the only way to get delay and loss on a kernel without netem)"},
        "cli": {"type": "array", "items": {"type": "string", "pattern": "\\S"},
                "description": "more VPP CLI commands, run after the role's"},
        "heap": {"type": "integer", "minimum": 32, "maximum": 65536,
                 "description": f"main heap in MB (default {config.DEFAULT_HEAP_MB})"},
        "buffers": {"type": "integer", "minimum": 1024, "maximum": 1048576,
                    "description": f"packet buffers (default {config.DEFAULT_BUFFERS})"},
        "main_core": {"type": "integer", "minimum": 0, "maximum": 1023,
                      "description": "CPU of VPP's main thread (default: the lab's VPPs take the CPUs in turn)"},
        "host_stack": {"type": "boolean", "description": "VPP's host stack for programs run with VCL's LD_PRELOAD "
                                                        "library (session enable use-app-socket-api; the vcl_iperf3 step)"},
        **srv6_spec.NODE_PROPERTIES,   # an SRv6 router in mode router (srv6.py)
        "poll_sleep_usec": {"type": "integer", "minimum": 0, "maximum": 100000,
                            "description": "how long VPP sleeps when idle (default 100: several VPPs share 2 cores)"},
    }

    def netns(self, lab, node):
        return node_netns(lab.name, node)

    def resolve(self, lab, node, raw):
        problems = []
        mode = node.props.get("mode", "router")
        for f in ("ip", "routes"):
            if mode != "router" and raw.get(f):
                problems.append(((f,), f"a vpp node in mode {mode} forwards frames: it takes no {f}",
                                 "use mode: router, or give the addresses to the hosts around it"))
        for name, rif in (raw.get("interfaces") or {}).items():
            if mode != "router" and (rif or {}).get("ip"):
                problems.append((("interfaces", name, "ip"), f"a vpp node in mode {mode} takes no addresses",
                                 "use mode: router, or give the addresses to the hosts around it"))
        problems += _nsim_problems(node.props.get("nsim"))
        from .srv6 import is_router
        if is_router(raw):
            if lab.ipv6 == "off":
                problems.append(((), "a vpp SRv6 router needs IPv6, which this topology turns off (ipv6: off)",
                                 "remove ipv6: off"))
            lab.ipv6 = "on"
        sock = os.path.join(config.run_dir(lab.name, node.name), "stats.sock")
        if len(sock) > MAX_SOCK:
            problems.append(((), f"VPP's socket path {sock} is longer than {MAX_SOCK} bytes",
                             "use shorter lab and node names, or set EMULATOR_RUN_DIR to a shorter directory"))
        node.__dict__["vpp_src"] = raw.get(WHERE)   # the Source, for the lines of commands (see where_hook)
        return problems

    def port(self, lab, node, iface):
        iface.device = iface.name
        iface.netns = node.netns
        if node.props.get("mode", "router") != "router":
            iface.auto_address = False   # an L2 port: the hosts around it carry the addresses
        return []

    def plan_node(self, lab, node):
        acts = []
        if next(n for n in lab.nodes.values() if n.kind == "vpp") is node:
            acts.append(RequireVpp(nodes=", ".join(n.name for n in lab.nodes.values() if n.kind == "vpp")))
        src = node.__dict__.get("vpp_src")
        problem = _mode_problem(node)
        if problem:
            from ...errors import Issue, TopologyError
            line, col = src.where(node.path + ("mode",)) if src else (None, None)
            raise TopologyError([Issue(node.path + ("mode",), problem, "link it to exactly two nodes, or use "
                                       "mode: bridge", getattr(src, "file", lab.file), line, col)])
        from . import srv6
        srv6.prepare(lab, node)   # its SRv6 core link addresses, before the commands that set them
        cmds = config.create_commands(lab, node) + config.role_commands(lab, node)
        ifs = config.ports(node)
        acts.append(_start(lab, node, [(c, _where(src, lab.file, p)) for c, p in cmds],
                           [f"{i.name}: {config.vpp_ifname(lab, i)} ({config.link_note(lab, i)})" for i in ifs],
                           {config.vpp_ifname(lab, i): i.name for i in ifs},
                           _where(src, lab.file, node.path, key=True)))
        if node.name in srv6._core(lab).model.routers:
            name = {i.name: config.vpp_ifname(lab, i) for i in ifs}
            acts += srv6.neighbours(lab, node, name, lambda p: _where(src, lab.file, p))
            from ..srv6.driver import lab_actions
            acts += lab_actions(lab, node)   # srv6.json and link counters, when it is the first SRv6 router
        return acts

    def plan_port(self, lab, node, iface):
        if iface.link >= 0 and lab.links[iface.link].type in ("memif", "vhost-user"):
            return []
        # af_packet: the veth is up, and carries no kernel address (VPP owns the port)
        acts = [A.LinkUp(netns=iface.netns, index=iface.index, device=iface.device, phase_=A.PORTS)]
        link = lab.links[iface.link] if iface.link >= 0 else None
        from . import srv6
        if link is not None and link.type == "veth" and srv6.is_router(node.props):
            # VPP's SR encapsulation and decapsulation drop the offload metadata af_packet hands over
            # with a partial checksum: the kernel at the other end computes the checksum itself
            peer = link.b if link.a is iface else link.a
            if lab.nodes[peer.node].kind != "vpp":
                acts.append(A.TxChecksumOff(netns=peer.netns, device=peer.device,
                                            label=f"{peer.key} -> {node.name} (SRv6 in VPP)"))
        return acts

    #: what a console on a vpp node may open besides a shell (the web UI offers the choice)
    console_tools = ("vppctl",)

    def exec_argv(self, lab: str, node: str, argv: list[str]) -> list[str]:
        """`emulator exec LAB NODE -- vppctl ...` talks to this node's VPP (not /run/vpp/cli.sock)."""
        if argv and os.path.basename(argv[0]) == "vppctl" and "-s" not in argv[1:2]:
            _vpp, ctl, _why = find.locate()
            sock = os.path.join(config.run_dir(lab, node), "cli.sock")
            return [ctl or argv[0], "-s", sock] + argv[1:]
        b = os.path.join(config.run_dir(lab, node), "bin")
        if argv and os.path.isdir(b):   # anything else (a shell...): the node's vppctl first on PATH
            return ["env", f"PATH={b}:{os.environ.get('PATH', '/usr/bin:/bin')}"] + argv
        return argv

    def live(self, lab, node, st):
        from .live import interfaces
        return interfaces(lab, node, st)


def _start(lab, node, cmds, notes, ifmap, where):
    from .instance import StartVpp
    wait_up = [config.vpp_ifname(lab, i) for i in config.ports(node)
               if i.link < 0 or lab.nodes[_peer(lab, i).node].kind != "dpdk-app"]
    return StartVpp(ns=node.netns, lab=lab.name, node=node.name, ifmap=ifmap, where=where, wait_up=wait_up,
                    conf=config.startup_conf(lab.name, node.name, node.props, _default_core(lab, node)),
                    commands=cmds, notes=notes)


def _default_core(lab, node) -> int:
    """VPP pins its main thread: without main_core, the lab's VPPs take the CPUs in turn."""
    vpps = [n for n in lab.nodes.values() if n.kind == "vpp"]
    return vpps.index(node) % (os.cpu_count() or 1)


def _peer(lab, iface):
    link = lab.links[iface.link]
    return link.b if iface is link.a else link.a


def _nsim_problems(nsim) -> list:
    from ... import units
    out = []
    for f, parse in (("delay", units.duration), ("bandwidth", units.rate), ("loss", units.percent)):
        if nsim is None or f not in nsim:
            continue
        try:
            v = parse(nsim[f])
        except (ValueError, TypeError) as e:
            out.append((("nsim", f), str(e), None))
            continue
        if f == "delay" and not 0 < v <= 10:
            out.append((("nsim", f), f"nsim delay must be more than 0 and at most 10 s, not {nsim[f]}", None))
        if f == "bandwidth" and v < 1000:
            out.append((("nsim", f), f"nsim bandwidth must be at least 1kbit, not {nsim[f]}", None))
        if f == "loss" and not 0 <= v < 100:
            out.append((("nsim", f), f"nsim loss must be from 0 up to (not including) 100%, not {nsim[f]}", None))
    return out


def _mode_problem(node) -> str | None:
    n = len(config.ports(node))
    if node.props.get("mode") == "xconnect" and n != 2:
        return f"mode xconnect joins exactly two interfaces; it has {n}"
    return None


def _where(src, file: str, path: tuple, key: bool = False) -> str:
    """file:line of the YAML path (or of its nearest located parent; with key, of its key)."""
    line = src.where(tuple(path), key=key)[0] if src is not None else None
    return f"{getattr(src, 'file', file)}:{line}" if line else f"{getattr(src, 'file', file)}"


WHERE = "__vpp_source__"


def where_hook(raw, src):
    """An expand hook: each vpp node's raw fields carry the Source, so that the commands made
    from them can name their topology line (drivers see the raw node, not the Source)."""
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    if not isinstance(nodes, dict) or not any(isinstance(n, dict) and n.get("kind") == "vpp" for n in nodes.values()):
        return raw, src, []
    nodes = {k: ({**n, WHERE: src} if isinstance(n, dict) and n.get("kind") == "vpp" else n) for k, n in nodes.items()}
    return {**raw, "nodes": nodes}, src, []


def run_dir(lab: str, node: str) -> str:
    return config.run_dir(lab, node)


def lab_vpp_dir(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), "vpp")

"""Deploy returns only when the lab forwards: every veth end is up, every bridge port forwards.

The kernel applies a veth's carrier and operational state asynchronously (its linkwatch work):
until it has, the device's queue drops what is sent, and a bridge port stays disabled. On a busy
machine a 1000-bridge lab can take seconds to get there after the last netlink request was
acknowledged, so a ping right after deploy lost its ARP. This phase polls the lab (never a
process per node: the bridge ports by one AF_BRIDGE dump per namespace and the other ports by
a request each, then a request per port still pending, so a round costs what is pending, not
the whole fabric) until every planned port reports
operstate up and every Linux bridge port the forwarding state (or, with STP, forwarding or
blocking: the spanning tree has decided), and fails the deploy, saying what was still not
ready and how long it waited, when that takes longer than the bound.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from . import actions as A
from ..errors import DeployError
from .kernel import netlink
from ..core.model import Lab

BASE_TIMEOUT = 20.0        # seconds, plus PER_PORT_TIMEOUT for each port, plus STP convergence
PER_PORT_TIMEOUT = 0.005


def stp_convergence() -> float:
    """Seconds an STP port needs from enabled to forwarding: listening + learning, a forward delay
    each, and a max age for the root election to settle in the worst case."""
    fwd, _hello, max_age = (t / 100 for t in A.STP_TIMERS)
    return 2 * fwd + max_age


@dataclass
class Port:
    netns: str
    index: int
    label: str                # node:interface
    bridge: bool = False      # a Linux bridge port: its STP state counts too
    stp: bool = False         # its bridge runs STP: blocking is a final state as well


@dataclass
class WaitForwarding(A.Action):
    ports: list[Port] = field(default_factory=list)
    timeout: float = BASE_TIMEOUT
    stp: bool = False

    def __post_init__(self):
        self.phase, self.batch, self.netns = A.READY, "ready", None

    def describe(self) -> str:
        bridged = sum(p.bridge for p in self.ports)
        what = f"{len(self.ports)} interfaces are up"
        if bridged:
            what += f" and {bridged} bridge ports " + ("forward or block (STP)" if self.stp else "forward")
        return f"wait until {what} (at most {self.timeout:g} s)"

    def phase_label(self) -> str:
        # listening, then learning: a forward delay each
        return f"STP convergence (~{2 * A.STP_TIMERS[0] / 100:g} s)" if self.stp else "ports forwarding"

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            wait(a.ports, a.timeout)


def plan(lab: Lab, acts: list[A.Action]) -> list[A.Action]:
    """The wait for the veth ends that the plan brings up (both ends of a veth: a veth is up only
    when its peer is)."""
    up = {(a.netns, a.index) for a in acts if isinstance(a, A.LinkUp) and a.phase == A.PORTS}
    ports = []
    nodes = lab.nodes
    for link in lab.links:
        a, b = link.a, link.b
        if link.type != "veth" or (a.netns, a.index) not in up or (b.netns, b.index) not in up:
            continue
        for e in (a, b):
            node = nodes[e.node]
            bridge = node.kind == "bridge"
            ports.append(Port(e.netns, e.index, e.key, bridge, bridge and bool(node.props.get("stp"))))
    if not ports:
        return []
    stp = any(p.stp for p in ports)
    timeout = BASE_TIMEOUT + PER_PORT_TIMEOUT * len(ports) + (stp_convergence() if stp else 0)
    return [WaitForwarding(ports=ports, timeout=round(timeout), stp=stp)]


def not_ready(link: dict | None, port: Port) -> str | None:
    """Why the port does not forward yet, or None when it does."""
    if link is None:
        return "missing"
    oper = link.get("operstate")
    if oper != netlink.IF_OPER_UP:
        return f"operstate {netlink.OPERSTATES.get(oper, oper)}"
    if port.bridge:
        st = link.get("brport_state")
        ok = (netlink.BR_STATE_FORWARDING, netlink.BR_STATE_BLOCKING) if port.stp else (netlink.BR_STATE_FORWARDING,)
        if st not in ok:
            return f"bridge port {netlink.BR_STATES.get(st, st)}"
    return None


def check(ports: list[Port], dump: bool = True) -> dict[str, str]:
    """label -> why it is not ready, for every port not ready. With `dump`, the bridge ports of a
    namespace by one dump; without, a request per port (the later rounds, for the few ports still
    pending: a dump of a namespace holding thousands of bridge ports costs the same for one)."""
    by_ns: dict[str, dict[int, Port]] = {}
    for p in ports:
        by_ns.setdefault(p.netns, {})[p.index] = p
    out = {}
    for ns, idx in by_ns.items():
        with netlink.Socket(ns) as s:
            links = _read(s, idx, dump)
        for i, p in idx.items():
            why = not_ready(links.get(i), p)
            if why:
                out[p.label] = why
    return out


def _read(s: netlink.Socket, idx: dict[int, Port], dump: bool) -> dict[int, dict]:
    """The state of these ports of one namespace. With `dump` (the first round), its bridge ports
    by one AF_BRIDGE dump: the bridge's short message per port, a fraction of a full dump of a
    fabric holding thousands of links. Every other port (and every port of the later rounds) by
    a request each, read as far as it needs (its operstate alone, unless it is a bridge port)."""
    links: dict[int, dict] = {}
    bridged = {i for i, p in idx.items() if p.bridge}
    if dump and bridged:
        links = {l["index"]: l for l in s.dump_links(bridged, netlink.parse_bridge_port, socket.AF_BRIDGE)}
    rest = [i for i in idx if i not in links]
    if rest:
        parse = netlink.parse_state if any(idx[i].bridge for i in rest) else netlink.parse_operstate
        links.update((l["index"], l) for l in s.get_links(rest, parse))
    return links


def wait(ports: list[Port], timeout: float) -> float:
    """Poll until every port is ready; return the seconds waited, or raise DeployError."""
    t0 = time.monotonic()
    pending = list(ports)
    delay = 0.02
    first = True
    while True:
        problems = check(pending, dump=first)
        first = False
        waited = time.monotonic() - t0
        if not problems:
            return waited
        if waited > timeout:
            shown = list(problems.items())[:6]
            more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
            raise DeployError(
                f"the lab did not become ready: after waiting {waited:.1f} s, {len(problems)} of "
                f"{len(ports)} interfaces did not forward yet: "
                + ", ".join(f"{k} ({v})" for k, v in shown) + more
                + ". The kernel applies link state asynchronously; on a heavily loaded machine it can "
                  "lag behind: try again when the machine is less busy")
        pending = [p for p in pending if p.label in problems]
        time.sleep(delay)
        delay = min(delay * 2, 0.25)

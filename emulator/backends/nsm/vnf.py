"""The VNF registry: ready-made roles a network service endpoint (`kind: nse`) can play.

A role turns how the endpoint is wired into the chains (which interface pairs it forwards
between, where connections end) into sysctls and startup commands. In a topology:

    vnf: iptables-firewall                         # a role with its defaults
    vnf: {type: iptables-firewall, allow: [icmp, tcp/5201]}
    vnf: {type: commands, run: ["tc qdisc add dev {in} root netem delay 1ms"]}

Roles that forward: `passthrough` (routes IP, or bridges frames in an ETHERNET service),
`iptables-firewall` and `nat` (routing), `bridge-firewall` and `user-space-forwarder`
(frames: ETHERNET services). Roles that end a chain: `icmp-responder`, `iperf3-server`.
`commands` runs templates per connection ({in}, {out} for forwarded pairs, {if} where a
connection ends, {node}).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ...registry import Registry

_REGISTRY: Registry["Role"] = Registry("vnf role")

_ALLOW_TEXT = "what passes: icmp, all, tcp, udp, tcp/PORT or tcp/FIRST-LAST (udp alike)"
ALLOW = {"type": "array", "items": {"type": "string", "pattern": r"^(all|icmp|(tcp|udp)(/[0-9]+(-[0-9]+)?)?)$",
                                    "description": _ALLOW_TEXT}, "description": _ALLOW_TEXT}
DEFAULT_ALLOW = ["icmp", "tcp/5201-5210", "udp/5201-5210"]


@dataclass
class Wiring:
    """How the endpoint sits in the chains: filled by the expand-services stage."""
    node: str
    payload: str = "IP"                                        # IP | ETHERNET
    transit: list[tuple[str, str]] = field(default_factory=list)   # (in, out) per connection it forwards
    terminal: list[str] = field(default_factory=list)              # interfaces where a connection ends


@dataclass
class Build:
    sysctls: dict = field(default_factory=dict)
    exec: list[str] = field(default_factory=list)
    #: the chain's two ends must not send offloaded (oversized, checksum-less) frames
    offload_off_at_ends: bool = False


class Role:
    name = ""
    summary = ""
    transit: str | None = None     # None (cannot forward), "ip", "ethernet" or "any"
    endpoint = True                # may end a chain
    params: dict = {}

    def check(self, w: Wiring, params: dict) -> list[str]:
        out = []
        if w.transit and self.transit is None:
            out.append(f"vnf '{self.name}' ends a chain; '{w.node}' is not the last hop of every chain it is in")
        elif w.transit and self.transit not in ("any", w.payload.lower()):
            want = "ETHERNET" if self.transit == "ethernet" else "IP"
            out.append(f"vnf '{self.name}' forwards {'frames' if want == 'ETHERNET' else 'IP packets'}; "
                       f"'{w.node}' forwards a service with payload {w.payload} (use payload: {want})")
        if w.terminal and not self.endpoint:
            out.append(f"vnf '{self.name}' forwards between two connections; '{w.node}' is the last hop of a chain")
        return out

    def plain_payload(self, params: dict) -> str:
        """The payload it forwards on a plain (non-NSM) node's `vnf:` (backends/ebpf/plain.py)."""
        return "ETHERNET" if self.transit == "ethernet" else "IP"

    def build(self, w: Wiring, params: dict) -> Build:
        raise NotImplementedError


register = _REGISTRY.register


def _more_roles() -> None:
    """Call, once each, what other backends said registers their roles (ROLE_PROVIDERS in this
    package: the eBPF backend's), so that loading them costs nothing until a role is looked up."""
    from . import ROLE_PROVIDERS
    from ...registry import lazy
    while ROLE_PROVIDERS:
        lazy(ROLE_PROVIDERS.pop(0))()


def get(name: str) -> "Role":
    _more_roles()
    return _REGISTRY.get(name)


def names() -> list[str]:
    _more_roles()
    return _REGISTRY.names()


def hint(name: str) -> str:
    close = difflib.get_close_matches(name, names(), n=1)
    return (f"did you mean '{close[0]}'? " if close else "") + "roles: " + ", ".join(names())


def schema() -> dict:
    return {"anyOf": [{"type": "string", "description": "a VNF role: " + ", ".join(names())},
                      {"type": "object", "required": ["type"],
                       "properties": {"type": {"type": "string", "description": "the role"}},
                       "description": "a VNF role with parameters, e.g. {type: iptables-firewall, allow: [icmp]}"}]}


def _bridge(k: int, a: str, b: str) -> list[str]:
    br = f"nsmbr{k}"
    return [f"ip link add {br} type bridge && ip link set {a} master {br} && ip link set {b} master {br}",
            f"ip link set {br} up"]


def _ports(rule: str) -> tuple[str, str | None]:
    proto, _, ports = rule.partition("/")
    return proto, ports or None


class Passthrough(Role):
    name = "passthrough"
    summary = "forwards unchanged: routes IP packets, or bridges frames in an ETHERNET service"
    transit = "any"

    def build(self, w, params):
        b = Build()
        if w.payload == "ETHERNET":
            for k, (a, o) in enumerate(w.transit):
                b.exec += _bridge(k, a, o)
        elif w.transit:
            b.sysctls["net.ipv4.ip_forward"] = "1"
        return b


class IptablesFirewall(Role):
    name = "iptables-firewall"
    summary = "a routing firewall: iptables FORWARD (INPUT where chains end) drops all but `allow`"
    transit = "ip"
    params = {"allow": ALLOW}

    def build(self, w, params):
        allow = params.get("allow", DEFAULT_ALLOW)
        b = Build()
        if w.transit:
            b.sysctls["net.ipv4.ip_forward"] = "1"
            b.exec.append("iptables -P FORWARD DROP")
            b.exec.append("iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
            for a, o in w.transit:
                b.exec += [f"iptables -A FORWARD -i {a} -o {o} {m} -j ACCEPT" for m in _iptables_matches(allow)]
        if w.terminal:
            b.exec.append("iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")
            for i in w.terminal:
                b.exec += [f"iptables -A INPUT -i {i} {m} -j ACCEPT" for m in _iptables_matches(allow)]
                b.exec.append(f"iptables -A INPUT -i {i} -j DROP")
        return b


def _iptables_matches(allow: list[str]) -> list[str]:
    out = []
    for rule in allow:
        proto, ports = _ports(rule)
        if proto == "all":
            out.append("")
        elif proto == "icmp":
            out.append("-p icmp")
        else:
            out.append(f"-p {proto}" + (f" --dport {ports.replace('-', ':')}" if ports else ""))
    return [m.strip() for m in out]


class BridgeFirewall(Role):
    name = "bridge-firewall"
    summary = "a transparent firewall: a bridge per connection, nftables' bridge family drops all but `allow`"
    transit = "ethernet"
    endpoint = False
    params = {"allow": ALLOW}

    def build(self, w, params):
        allow = params.get("allow", DEFAULT_ALLOW)
        b = Build()
        for k, (a, o) in enumerate(w.transit):
            b.exec += _bridge(k, a, o)
        b.exec += ["nft add table bridge nsmfw",
                   "nft 'add chain bridge nsmfw forward { type filter hook forward priority 0; policy drop; }'",
                   "nft add rule bridge nsmfw forward ether type arp accept"]
        for rule in allow:
            proto, ports = _ports(rule)
            if proto == "all":
                b.exec.append("nft add rule bridge nsmfw forward accept")
            elif proto == "icmp":
                b.exec.append("nft add rule bridge nsmfw forward ip protocol icmp accept")
            else:
                if ports:  # no conntrack in the bridge family here: both directions by port
                    b.exec.append(f"nft add rule bridge nsmfw forward {proto} dport {ports} accept")
                    b.exec.append(f"nft add rule bridge nsmfw forward {proto} sport {ports} accept")
                else:
                    b.exec.append(f"nft add rule bridge nsmfw forward ip protocol {proto} accept")
        return b


class Nat(Role):
    name = "nat"
    summary = "routes and masquerades: what leaves towards the next hop carries this endpoint's address"
    transit = "ip"
    endpoint = False

    def build(self, w, params):
        b = Build(sysctls={"net.ipv4.ip_forward": "1"})
        for _a, o in w.transit:
            b.exec.append(f"iptables -t nat -A POSTROUTING -o {o} -j MASQUERADE")
        return b


class IcmpResponder(Role):
    name = "icmp-responder"
    summary = "ends a chain and answers pings (NSM's icmp-responder example)"

    def build(self, w, params):
        return Build(sysctls={"net.ipv4.icmp_echo_ignore_all": "0"})


class Iperf3Server(Role):
    name = "iperf3-server"
    summary = "ends a chain with an iperf3 server running as a daemon"
    params = {"port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "default 5201"}}

    def build(self, w, params):
        return Build(exec=[f"iperf3 -s -D -p {params.get('port', 5201)}"])


class UserSpaceForwarder(Role):
    name = "user-space-forwarder"
    summary = "a user-space program copies every frame between the two interfaces (emulator.tools.pktfwd)"
    transit = "ethernet"
    endpoint = False

    def build(self, w, params):
        b = Build(offload_off_at_ends=True)
        for a, o in w.transit:
            b.exec.append(f"ethtool -K {a} gro off; ethtool -K {o} gro off")
            b.exec.append(f"$EMULATOR_PYTHON -m emulator.tools.pktfwd {a} {o} &")
        return b


class Commands(Role):
    name = "commands"
    summary = "your own commands, per connection: {in} and {out} where it forwards, {if} where a chain ends"
    transit = "any"
    params = {"run": {"type": "array", "items": {"type": "string"}, "minItems": 1},
              "forward": {"type": "boolean", "description": "turn IPv4 forwarding on (default: when it forwards)"}}

    def build(self, w, params):
        b = Build()
        if params.get("forward", bool(w.transit) and w.payload == "IP"):
            b.sysctls["net.ipv4.ip_forward"] = "1"
        for cmd in params.get("run", []):
            if "{in}" in cmd or "{out}" in cmd:
                b.exec += [_fill(cmd, {"in": a, "out": o, "node": w.node}) for a, o in w.transit]
            elif "{if}" in cmd:
                b.exec += [_fill(cmd, {"if": i, "node": w.node}) for i in w.terminal]
            else:
                b.exec.append(_fill(cmd, {"node": w.node}))
        return b


def _fill(cmd: str, values: dict) -> str:
    """Replace {in}, {out}, {if}, {node}; other braces (shell, nft) stay as they are."""
    for k, v in values.items():
        cmd = cmd.replace("{" + k + "}", v)
    return cmd


for _r in (Passthrough(), IptablesFirewall(), BridgeFirewall(), Nat(), IcmpResponder(), Iperf3Server(),
           UserSpaceForwarder(), Commands()):
    register(_r)

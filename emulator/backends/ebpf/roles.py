"""The VNF roles `ebpf-firewall` and `ebpf-forwarder`, added to the VNF role registry
(emulator/backends/nsm/vnf.py) so an NSM endpoint (`vnf:`) or a plain node (plain.py) can play them.
Each connection's work is one startup command that runs the loader (tool.py) in the node."""
from __future__ import annotations

import shlex

from ..nsm import vnf
from . import rules as R

HOOK = {"enum": ["tc-ingress", "tc-egress", "xdp"],
        "description": "where the program runs: tc ingress (default; cls_bpf direct action on clsact), "
                       "tc egress, or XDP (native, else generic) of the interface"}
MODE = {"enum": ["l2", "l3"],
        "description": "l2: redirect every frame to the other interface (bpf_redirect); l3: route IPv4 "
                       "with bpf_fib_lookup (the node's routes and neighbours). Default: l2 in an "
                       "ETHERNET service or on a plain node, l3 in an IP service"}
LOADER = "$EMULATOR_PYTHON -m emulator.backends.ebpf"


def _words(flag: str, words) -> str:
    return "".join(f" --{flag} {shlex.quote(w)}" for w in words or [])


class EbpfFirewall(vnf.Role):
    name = "ebpf-firewall"
    summary = ("an eBPF firewall at tc ingress/egress or XDP of the interface a connection enters by: "
               "drops all but `allow` (deny: first), rules in a BPF map that `emulator ebpf-rules` changes at run time")
    transit = "any"
    params = {"allow": R.RULE_LIST, "deny": R.RULE_LIST, "hook": HOOK}

    def check(self, w, params):
        return super().check(w, params) + R.check(params.get("allow"), params.get("deny"))

    def build(self, w, params):
        allow, deny = params.get("allow"), params.get("deny")
        if allow is None and deny is None:
            allow = list(vnf.DEFAULT_ALLOW)
        hook = params.get("hook", "tc-ingress")
        b = vnf.Build()
        devs = []
        for k, (a, o) in enumerate(w.transit):
            if w.payload == "ETHERNET":
                b.exec += vnf._bridge(k, a, o)
            else:
                b.sysctls["net.ipv4.ip_forward"] = "1"
            devs.append(o if hook == "tc-egress" else a)
        devs += w.terminal
        for dev in devs:
            b.exec.append(f"{LOADER} firewall --dev {shlex.quote(dev)} --hook {hook}"
                          + _words("allow", allow) + _words("deny", deny))
        return b


class EbpfForwarder(vnf.Role):
    name = "ebpf-forwarder"
    summary = ("an eBPF program at tc ingress of both interfaces forwards between them (l2: bpf_redirect, "
               "l3: bpf_fib_lookup), counting packets per direction")
    transit = "any"
    endpoint = False
    params = {"mode": MODE}

    def plain_payload(self, params) -> str:
        return "IP" if params.get("mode") == "l3" else "ETHERNET"

    def check(self, w, params):
        out = super().check(w, params)
        if params.get("mode") == "l2" and w.payload == "IP" and w.transit:
            out.append(f"ebpf-forwarder mode l2 passes frames unchanged; '{w.node}' forwards between two "
                       f"subnets (payload IP): use mode l3, or payload: ETHERNET")
        return out

    def build(self, w, params):
        mode = params.get("mode") or ("l3" if w.payload == "IP" else "l2")
        b = vnf.Build()
        if mode == "l3":
            b.sysctls["net.ipv4.ip_forward"] = "1"   # bpf_fib_lookup forwards only where the node would
        for a, o in w.transit:
            b.exec.append(f"{LOADER} forwarder --between {shlex.quote(a)} {shlex.quote(o)} --mode {mode}")
        return b


ROLES = (EbpfFirewall(), EbpfForwarder())


def register() -> None:
    for r in ROLES:
        if r.name not in vnf.names():
            vnf.register(r)

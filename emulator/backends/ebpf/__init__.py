"""eBPF network functions (seed 000's 4S1C and 4S2C): the VNF roles `ebpf-firewall` and
`ebpf-forwarder`, for NSM endpoints (`vnf:`) and plain hosts and routers (`vnf:` with `between:` or
`interfaces:`), built from C at deploy time with clang's BPF target and loaded with bpftool and tc.

    bpf/fw.c, bpf/fwd.c  the programs (tc cls_bpf direct action; the firewall also for XDP)
    bpf/stats.h  the packet and byte counters (`stats` map) both programs keep
    progs.py   the preflight action: toolchain check (exit 3), the lab's private bpffs, compile, verify;
               its undo (unmount: every pin goes) and the plan hook that adds it
    rules.py   firewall rule words -> the `rules` map's entries; counters decoded
    tool.py    the loader the nodes' startup commands run, `emulator ebpf show|rules`
    roles.py   the two roles, registered into the VNF role registry (emulator/backends/nsm/vnf.py)
    plain.py   the expand stage for `vnf:` on hosts and routers
    step.py    the `ebpf_counters` and `ebpf_rules` steps and what `inspect` shows
"""
from __future__ import annotations

from ... import registry

REQUIRES = ("host", "nsm")   # plain nodes are hosts/routers; the roles live in NSM's VNF registry
UNDO_OPS = ("bpffs",)


#: in a node's startup command: it runs the loader (progs.plan adds the preflight for such labs)
MARKER = "emulator.backends.ebpf"
PLAIN_KINDS = ("host", "router")   # the kinds that take vnf: (plain.py)


def _has_plain_vnf(raw) -> bool:
    nodes = raw.get("nodes")
    return isinstance(nodes, dict) and any(isinstance(n, dict) and n.get("kind") in PLAIN_KINDS and "vnf" in n
                                           for n in nodes.values())


def _plan(lab) -> list:
    """progs.plan, imported only for a lab one of whose nodes runs the loader."""
    if not any(MARKER in " ".join(argv) for n in lab.nodes.values() for argv in n.exec):
        return []
    from . import progs
    return progs.plan(lab)


def register(regs) -> None:
    from .. import nsm
    if f"{__name__}.roles:register" not in nsm.ROLE_PROVIDERS:   # ebpf-firewall, ebpf-forwarder:
        nsm.ROLE_PROVIDERS.append(f"{__name__}.roles:register")   # registered on the first role lookup
    regs.node_properties["vnf"] = (f"{__name__}.plain:schema", PLAIN_KINDS)
    regs.expand_hooks.append(registry.ExpandHook(f"{__name__}.plain:expand", _has_plain_vnf))
    regs.plan_hooks.append(_plan)
    regs.register_undo("bpffs", registry.lazy(f"{__name__}.progs:undo_bpffs"))
    regs.steps.register_lazy("ebpf_counters", f"{__name__}.step:EbpfCounters")
    regs.steps.register_lazy("ebpf_rules", f"{__name__}.step:EbpfRules")
    regs.inspect_hooks.append(registry.lazy(f"{__name__}.step:inspect_text"))
    regs.cli_verbs.append(registry.CliVerbs(("ebpf",), f"{__name__}.cli:add_parsers"))

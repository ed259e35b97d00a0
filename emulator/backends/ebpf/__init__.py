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

REQUIRES = ("host", "nsm")   # plain nodes are hosts/routers; the roles live in NSM's VNF registry
UNDO_OPS = ("bpffs",)


def register(regs) -> None:
    from . import plain, progs, roles
    from .cli import add_parsers
    from ... import registry
    roles.register()
    regs.node_properties["vnf"] = (plain.schema(), plain.KINDS)
    regs.expand_hooks.append(plain.expand)
    regs.plan_hooks.append(progs.plan)
    regs.register_undo("bpffs", progs.undo_bpffs)
    regs.steps.register_lazy("ebpf_counters", f"{__name__}.step:EbpfCounters")
    regs.steps.register_lazy("ebpf_rules", f"{__name__}.step:EbpfRules")
    regs.inspect_hooks.append(registry.lazy(f"{__name__}.step:inspect_text"))
    regs.cli_verbs.append(add_parsers)

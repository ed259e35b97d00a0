"""VPP (FD.io) instances: `kind: vpp` nodes, one VPP process each in the node's namespace.

    find.py      where VPP is (EMULATOR_VPP, else PATH); the message when it is not
    config.py    startup.conf and the CLI commands of each role (router, xconnect, bridge, acl, nsim)
    links.py     the `tap` link type (memif and veth come from the dpdk backend and the core)
    instance.py  the StartVpp action (start, wait, configure through vppctl) and its undo handlers
    driver.py    the `vpp` kind
    live.py      interface state and counters for `inspect`
    vcl.py       the `vcl_iperf3` step: iperf3 on VPP's host stack through VCL's LD_PRELOAD library
    srv6.py      SRv6 on a vpp router: the srv6 backend's locator, SIDs and policies as VPP commands
"""
from __future__ import annotations

from ... import registry

REQUIRES = ("host", "dpdk", "srv6")   # hosts' interface schema; dpdk's memif sockets; srv6's locators

#: what this backend's actions journal (each has an undo handler registered below)
UNDO_OPS = ("vpp", "vpp-pid")


def _has_vpp(raw) -> bool:
    return "vpp" in registry.node_kinds(raw)


def register(regs) -> None:
    regs.kinds.register_lazy("vpp", f"{__name__}.driver:VppDriver")
    regs.link_types.register_lazy("tap", f"{__name__}.links:Tap")   # links.LINK_TYPES
    regs.expand_hooks.append(registry.ExpandHook(f"{__name__}.driver:where_hook", _has_vpp))
    regs.srv6_kinds["vpp"] = registry.lazy(f"{__name__}.srv6:is_router")   # a vpp router with a locator
    regs.srv6_policy_replacers["vpp"] = registry.lazy(f"{__name__}.srv6:replace_policy")   # srv6_policy step
    regs.expand_hooks.append(registry.ExpandHook(f"{__name__}.srv6:expand", _has_vpp))
    regs.inspect_hooks.append(registry.lazy(f"{__name__}.live:inspect_text"))   # each VPP's interfaces and counters
    regs.inspect_hooks.append(registry.lazy(f"{__name__}.srv6:inspect_text"))   # packets per SID of its SRv6 routers
    regs.steps.register_lazy("vcl_iperf3", f"{__name__}.vcl:VclIperf3")
    for op in UNDO_OPS:
        regs.register_undo(op, registry.lazy(f"{__name__}.instance:UNDO", op))

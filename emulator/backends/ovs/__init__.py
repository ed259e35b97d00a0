"""Open vSwitch: `ovs` and `ovs-dpdk` switches (driver.py) on the lab's own ovsdb-server and
ovs-vswitchd (vswitch.py). OVS-DPDK uses the dpdk backend's hugepages and runtime directories."""
from __future__ import annotations

REQUIRES = ("dpdk",)
UNDO_OPS = ("ovs-bridge",)


def register(regs) -> None:
    from ... import registry
    regs.kinds.register_lazy("ovs", f"{__name__}.driver:OvsDriver")
    regs.lab_resources.register_lazy("ovs", f"{__name__}.driver:OvsDaemons")
    regs.kinds.register_lazy("ovs-dpdk", f"{__name__}.driver:OvsDpdkDriver")
    regs.lab_properties["ovs"] = f"{__name__}.vswitch:LAB_SCHEMA"
    for op in UNDO_OPS:
        regs.register_undo(op, registry.lazy(f"{__name__}.vswitch:UNDO", op))

"""Open vSwitch: `ovs` and `ovs-dpdk` switches (driver.py) on the lab's own ovsdb-server and
ovs-vswitchd (vswitch.py). OVS-DPDK uses the dpdk backend's hugepages and runtime directories."""
from __future__ import annotations

REQUIRES = ("dpdk",)
UNDO_OPS = ("ovs-bridge",)


def register(regs) -> None:
    from . import vswitch
    from .driver import OvsDaemons, OvsDpdkDriver, OvsDriver
    regs.kinds.register(OvsDriver())
    regs.lab_resources.register(OvsDaemons())
    regs.kinds.register(OvsDpdkDriver())
    for op in UNDO_OPS:
        regs.register_undo(op, vswitch.UNDO[op])

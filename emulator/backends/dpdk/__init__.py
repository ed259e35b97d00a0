"""DPDK: `dpdk-app` nodes (testpmd, driver.py + testpmd.py), the vhost-user and memif link types
(links.py), hugepages (hugepages.py), the dpdk_traffic/dpdk_latency steps (steps.py), the plots
(`python -m emulator.backends.dpdk.plot`) and testpmd's console (`python -m emulator.backends.dpdk`)."""
from __future__ import annotations

#: what this backend's actions journal (each has an undo handler registered below)
UNDO_OPS = ("hugetlbfs", "hugepages-reserved", "dpdk-runtime")


def register(regs) -> None:
    from . import hugepages, links
    from .driver import DpdkAppDriver
    from .testpmd import Hugepages
    regs.kinds.register(DpdkAppDriver())
    regs.lab_resources.register(Hugepages())
    for lt in links.LINK_TYPES:
        regs.link_types.register(lt())
    regs.steps.register_lazy("dpdk_traffic", f"{__name__}.steps:DpdkTraffic")   # steps.STEPS
    regs.steps.register_lazy("dpdk_latency", f"{__name__}.steps:DpdkLatency")
    for op in UNDO_OPS:
        regs.register_undo(op, hugepages.UNDO[op])

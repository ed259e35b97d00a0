"""DPDK: `dpdk-app` nodes (testpmd, driver.py + testpmd.py), the vhost-user and memif link types
(links.py), hugepages (hugepages.py), the dpdk_traffic/dpdk_latency steps (steps.py), the plots
(`python -m emulator.backends.dpdk.plot`) and testpmd's console (`python -m emulator.backends.dpdk`)."""
from __future__ import annotations

#: what this backend's actions journal (each has an undo handler registered below)
UNDO_OPS = ("hugetlbfs", "hugepages-reserved", "dpdk-runtime")


def register(regs) -> None:
    from ... import registry
    regs.kinds.register_lazy("dpdk-app", f"{__name__}.driver:DpdkAppDriver")
    regs.lab_resources.register_lazy("hugepages", f"{__name__}.testpmd:Hugepages")
    regs.lab_properties["hugepages"] = f"{__name__}.hugepages:SCHEMA"
    for name, cls in (("vhost-user", "VhostUser"), ("memif", "Memif")):   # links.LINK_TYPES
        regs.link_types.register_lazy(name, f"{__name__}.links:{cls}")
    regs.steps.register_lazy("dpdk_traffic", f"{__name__}.steps:DpdkTraffic")   # steps.STEPS
    regs.steps.register_lazy("dpdk_latency", f"{__name__}.steps:DpdkLatency")
    for op in UNDO_OPS:
        regs.register_undo(op, registry.lazy(f"{__name__}.hugepages:UNDO", op))

"""Physical devices in a lab: single-ended links to what the host has (emulator/core/endpoints.py).

    host_device.py  `host-device` (shorthand `[node:if, host:DEV]`): an existing host device moved into
                    a node, renamed and addressed; moved back at destroy, never deleted
    macvlan.py      `macvlan` / `ipvlan` of a host NIC, created in the node, gone with it
    host_veth.py    `host-veth`: a veth with one end in the host's namespace (containerlab's host: links)
    pci_device.py   `pci-device`: a NIC by PCI address, bound to vfio-pci for a dpdk-app or ovs-dpdk node
    sriov.py        `sriov-vf` endpoints and the lab-level `sriov:`: VFs created, picked, set (IFLA_VF_*),
                    moved into the node or bound to vfio-pci (sysfs.py: the sysfs side, root as a parameter)
    preflight.py    the checks run before anything is created (exit 3 with the fix)
    cli.py          `emulator phys`: the host's devices as this backend sees them, what was verified where

Verified on this project's machine with veth ends standing in for NICs (no NIC, SR-IOV or IOMMU
there); SR-IOV and vfio (and the testpmd/OVS command lines that take vfio-bound devices) only against a
fixture sysfs tree. Nothing here was run on physical NICs.
"""
from __future__ import annotations

#: what this backend's actions journal (each has an undo handler registered below)
UNDO_OPS = ("host-device", "host-veth", "sriov-numvfs", "sriov-vf", "vfio-bind")


def register(regs) -> None:
    from ... import registry
    for name, target in (("host-device", "host_device:HostDevice"), ("macvlan", "macvlan:Macvlan"),
                         ("ipvlan", "macvlan:Ipvlan"), ("host-veth", "host_veth:HostVeth"),
                         ("pci-device", "pci_device:PciDevice"), ("sriov-vf", "sriov:SriovVf")):
        regs.endpoint_types.register_lazy(name, f"{__name__}.{target}")
    regs.lab_properties["sriov"] = f"{__name__}.sriov:LAB_SRIOV"
    for op, target in (("host-device", "host_device:undo"), ("host-veth", "host_veth:undo"),
                       ("sriov-numvfs", "sriov:undo_numvfs"), ("sriov-vf", "sriov:undo_vf"),
                       ("vfio-bind", "sriov:undo_vfio")):
        regs.register_undo(op, registry.lazy(f"{__name__}.{target}"))
    regs.cli_verbs.append(registry.CliVerbs(("phys",), f"{__name__}.cli:add_parsers"))   # emulator phys

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
    from . import cli, host_device, host_veth, macvlan, pci_device, sriov
    for t in (host_device.HostDevice(), macvlan.Macvlan(), macvlan.Ipvlan(), host_veth.HostVeth(),
              pci_device.PciDevice()):
        regs.endpoint_types.register(t)
    regs.register_undo("host-device", host_device.undo)
    regs.register_undo("host-veth", host_veth.undo)
    sriov.register(regs)   # sriov-vf endpoints, the lab-level sriov:, their undo handlers
    regs.cli_verbs.append(cli.add_parsers)   # emulator phys

"""SR-IOV and vfio-pci through sysfs, with the sysfs root as a parameter.

Everything here reads and writes files under ROOT (default "/"): /sys/class/net/PF/device/sriov_*
and virtfnN, /sys/bus/pci/devices/ADDR/{driver,driver_override,iommu_group,net/},
/sys/bus/pci/drivers/*/{bind,unbind}, /sys/bus/pci/drivers_probe and /sys/kernel/iommu_groups.
Tests run it against a fixture tree of that shape (tests/test_phys_sriov.py); this project's
machine has no SR-IOV NIC, IOMMU or vfio, so nothing here has been run against a real device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

VFIO = "vfio-pci"


class SysfsError(Exception):
    """A sysfs file is missing or refused a write; the message names it."""


@dataclass
class VF:
    index: int          # the N of virtfnN
    pci: str            # its PCI address, e.g. 0000:03:02.1
    netdev: str | None  # its kernel device in the host's namespace (None: bound to vfio-pci, or moved)
    driver: str | None  # the driver it is bound to


class Sysfs:
    def __init__(self, root: str = "/"):
        self.root = root

    def p(self, *parts: str) -> str:
        return os.path.join(self.root, "sys", *parts)

    def _read(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError as e:
            raise SysfsError(f"cannot read {path}: {e.strerror}") from None

    def _write(self, path: str, value: str) -> None:
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise SysfsError(f"writing {value.strip() or 'an empty line'!r} to {path}: {e.strerror}") from None

    # -- network devices and PCI functions ------------------------------------------
    def netdev_exists(self, name: str) -> bool:
        return os.path.exists(self.p("class", "net", name))

    def pci_of(self, netdev: str) -> str | None:
        """The PCI address of a network device (None: not a PCI device, e.g. a veth)."""
        link = self.p("class", "net", netdev, "device")
        if not os.path.exists(link):
            return None
        return os.path.basename(os.path.realpath(link))

    def pci_dir(self, pci: str) -> str:
        return self.p("bus", "pci", "devices", pci)

    def pci_exists(self, pci: str) -> bool:
        return os.path.isdir(self.pci_dir(pci))

    def driver(self, pci: str) -> str | None:
        link = os.path.join(self.pci_dir(pci), "driver")
        return os.path.basename(os.path.realpath(link)) if os.path.exists(link) else None

    def netdevs(self, pci: str) -> list[str]:
        d = os.path.join(self.pci_dir(pci), "net")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    # -- SR-IOV ---------------------------------------------------------------------
    def sriov_capable(self, pf: str) -> bool:
        return os.path.exists(self.p("class", "net", pf, "device", "sriov_totalvfs"))

    def total_vfs(self, pf: str) -> int:
        return int(self._read(self.p("class", "net", pf, "device", "sriov_totalvfs")))

    def num_vfs(self, pf: str) -> int:
        return int(self._read(self.p("class", "net", pf, "device", "sriov_numvfs")))

    def set_num_vfs(self, pf: str, n: int) -> None:
        """The kernel takes a new non-zero count only from zero: 0 first, then N."""
        path = self.p("class", "net", pf, "device", "sriov_numvfs")
        if self.num_vfs(pf) == n:
            return
        if n and self.num_vfs(pf):
            self._write(path, "0")
        self._write(path, str(n))

    def vfs(self, pf: str) -> list[VF]:
        d = self.p("class", "net", pf, "device")
        out = []
        for name in os.listdir(d) if os.path.isdir(d) else []:
            if name.startswith("virtfn") and name[6:].isdigit():
                pci = os.path.basename(os.path.realpath(os.path.join(d, name)))
                nets = self.netdevs(pci)
                out.append(VF(int(name[6:]), pci, nets[0] if nets else None, self.driver(pci)))
        return sorted(out, key=lambda v: v.index)

    # -- IOMMU and vfio-pci ------------------------------------------------------------
    def iommu_enabled(self) -> bool:
        d = self.p("kernel", "iommu_groups")
        return os.path.isdir(d) and bool(os.listdir(d))

    def iommu_group(self, pci: str) -> str | None:
        link = os.path.join(self.pci_dir(pci), "iommu_group")
        return os.path.basename(os.path.realpath(link)) if os.path.exists(link) else None

    def vfio_loaded(self) -> bool:
        return os.path.isdir(self.p("bus", "pci", "drivers", VFIO))

    def bind_vfio(self, pci: str) -> str | None:
        """Bind PCI to vfio-pci (driver_override, unbind, probe); return the driver it had."""
        before = self.driver(pci)
        if before == VFIO:
            return before
        self._write(os.path.join(self.pci_dir(pci), "driver_override"), VFIO)
        if before:
            self._write(self.p("bus", "pci", "drivers", before, "unbind"), pci)
        self._write(self.p("bus", "pci", "drivers_probe"), pci)
        if self.driver(pci) != VFIO:
            raise SysfsError(f"{pci} did not bind to {VFIO} (is the vfio-pci module loaded? modprobe vfio-pci)")
        return before

    def rebind(self, pci: str, driver: str | None) -> None:
        """Give PCI back to DRIVER (its kernel driver, as bind_vfio found it); clears the override."""
        if not self.pci_exists(pci):
            return   # the VF went away (sriov_numvfs set to 0): nothing to give back
        self._write(os.path.join(self.pci_dir(pci), "driver_override"), "\n")
        now = self.driver(pci)
        if now == driver:
            return
        if now:
            self._write(self.p("bus", "pci", "drivers", now, "unbind"), pci)
        if driver:
            self._write(self.p("bus", "pci", "drivers", driver, "bind"), pci)


def pick_vf(vfs: list[VF], taken: set[str], index: int | None = None) -> VF | None:
    """A free VF: the one of INDEX, or the first whose PCI address is not TAKEN (by this lab or
    another) and that still has its kernel netdev in the host's namespace or is unbound."""
    for vf in vfs:
        if index is not None and vf.index != index:
            continue
        if vf.pci in taken or vf.driver == VFIO:
            continue
        if index is not None or vf.netdev is not None or vf.driver is None:
            return vf
    return None

"""`pci-device`: a NIC (a PF, or a VF made outside the lab) given by PCI address, bound to vfio-pci
and handed to a DPDK node: a dpdk-app gets it as a port (`-a PCI`), an ovs-dpdk bridge as a `dpdk`
port (`dpdk-devargs=PCI`).

    links:
      - {type: pci-device, endpoint: ovsbr:dpdk0, pci: "0000:03:00.0"}

At deploy the preflight checks that the device exists, that the IOMMU and vfio-pci are there, that
no other lab holds it and that its netdev (if any) does not carry the host's default route (unless
`force: true`); then the device is bound to vfio-pci (journaled first: rebound to the driver it had
at destroy, only while it is still on vfio-pci). Verified only against a fixture sysfs tree
(tests/test_phys_pci.py): this project's machine has no IOMMU or vfio.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...core import drivers
from ...core.endpoints import EndpointType
from ...deploy import actions as A
from ...errors import DeployError
from . import preflight
from .host_device import FORCE
from .sysfs import VFIO, Sysfs, SysfsError

OP = "pci-device"
PCI = {"type": "string", "pattern": "^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$",
       "description": "the device's PCI address, domain:bus:device.function (e.g. 0000:03:00.0; lspci -D)"}


class PciDevice(EndpointType):
    name = OP
    summary = "a NIC given by PCI address, bound to vfio-pci for a dpdk-app or ovs-dpdk node (rebound at destroy)"
    properties = {"pci": PCI, "force": FORCE}
    required = ("pci",)

    def kernel_port(self, ep):
        return False

    def pci_address(self, lab, ep):
        return ep.props["pci"].lower()

    def check(self, lab, ep):
        node = lab.nodes[ep.iface.node]
        if not drivers.get(node.kind).pci_ports:
            return [(("endpoint",), f"a {OP} link hands '{node.name}' a PCI device, and a {node.kind} cannot "
                                    f"take one", "connect it to a dpdk-app or ovs-dpdk node (a kernel node "
                                                 "takes the NIC's netdev: type: host-device)")]
        for other in lab.endpoints:
            if other.id >= ep.id:
                break
            if get_pci(other, lab) == self.pci_address(lab, ep):
                return [(("pci",), f"PCI device {ep.props['pci']} is already given to {other.iface.key}",
                         "a PCI device serves one link")]
        return []

    def plan(self, lab, ep):
        from .sriov import SYSFS_ROOT
        pci = self.pci_address(lab, ep)
        return [preflight.check_of(lab, ep, OP, device=pci, vfio=True, sysfs_root=SYSFS_ROOT),
                BindVfio(lab=lab.name, pci=pci, label=ep.label, sysfs_root=SYSFS_ROOT)]


def get_pci(ep, lab) -> str | None:
    from ...core import endpoints
    return endpoints.get(ep.type).pci_address(lab, ep)


def pci_problems(c: preflight.Check, defaults: set[int], links: dict[str, dict]) -> list[str]:
    """What the host lacks for a pci-device endpoint (exit 3, each with its fix)."""
    fs, where = Sysfs(c.sysfs_root), f"{c.label}: "
    out: list[str] = []
    if not fs.iommu_enabled():
        out.append(where + "this host has no IOMMU enabled (no groups in /sys/kernel/iommu_groups), so no device "
                   "can be given to vfio-pci; fix: enable VT-d (Intel) or AMD-Vi in the firmware, boot with "
                   "'intel_iommu=on iommu=pt' (or 'amd_iommu=on') on the kernel command line, reboot")
    if not fs.vfio_loaded():
        out.append(where + "the vfio-pci driver is not loaded (no /sys/bus/pci/drivers/vfio-pci); fix: "
                   "'modprobe vfio-pci' (kernel option CONFIG_VFIO_PCI)")
    if not fs.pci_exists(c.device):
        out.append(where + f"no PCI device {c.device} on this host; fix: name one that `lspci -D` lists")
        return out
    for lab, rec in preflight.journal_records(c.lab):
        if rec.get("op") in ("sriov-vf", "vfio-bind") and rec.get("pci") == c.device:
            out.append(where + f"PCI device {c.device} is in use by lab '{lab}'; fix: destroy that lab first "
                       f"(emulator destroy {lab}) or use another device")
            return out
    if fs.driver(c.device) == VFIO:
        out.append(where + f"PCI device {c.device} is bound to vfio-pci already (another DPDK process may use it); "
                   f"fix: give it back to its kernel driver, or use another device")
    for dev in fs.netdevs(c.device):
        d = links.get(dev)
        if d and d["index"] in defaults and not c.force:
            out.append(where + f"PCI device {c.device} is '{dev}', which carries the host's default route: binding "
                       f"it to vfio-pci cuts this host off that network; fix: use another device, or add "
                       f"'force: true' to the link if that is what you want")
    return out


@dataclass
class BindVfio(A.Action):
    lab: str = ""
    pci: str = ""
    label: str = ""
    sysfs_root: str = "/"

    def __post_init__(self):
        self.phase, self.batch, self.netns = A.LINKS, "pci-device", None

    def describe(self):
        return f"bind PCI device {self.pci} to {VFIO}   # {self.label}"

    @classmethod
    def apply_batch(cls, actions, ctx):
        """Journaled before it is bound: destroy rebinds it (sriov.undo_vfio) also after a crash."""
        for a in actions:
            fs = Sysfs(a.sysfs_root)
            if ctx.journal is not None:
                ctx.journal.append([{"op": "vfio-bind", "lab": a.lab, "pci": a.pci, "driver": fs.driver(a.pci),
                                     "root": a.sysfs_root}])
            try:
                fs.bind_vfio(a.pci)
            except SysfsError as e:
                raise DeployError(f"{a.label}: {e}") from None

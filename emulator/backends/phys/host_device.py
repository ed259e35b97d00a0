"""`host-device`: an existing device of the host (a NIC, an SR-IOV VF, one end of a veth) moved into
a node, renamed to the interface name the topology gives, addressed like any interface, and moved
back where it came from at destroy (its name, ifindex, up/down state, MTU, MAC, addresses and
routes), never deleted.

    links:
      - {type: host-device, endpoint: {node: r1, interface: eth1, ip: [192.0.2.1/24]}, host-interface: enp3s0}
      - [r1:eth2, host:enp4s0]     # the same, shorthand (when no node is named 'host')

What moving destroys is read and journaled *before* the move (devices.snapshot), so `destroy` and
`cleanup` put the device back also after a SIGKILL between the journal write and the move, or
after it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ... import names
from ...core.endpoints import EndpointType
from ...core.model import Endpoint, Lab
from ...deploy import actions as A
from ...deploy.kernel import devices
from ...errors import DeployError
from . import preflight
from .nodedev import NodeDevice

OP = "host-device"
HOST_INTERFACE = {"type": "string", "minLength": 1, "maxLength": 15, "pattern": "^(?!\\.\\.?$)[^\\s/:%]+$",
                  "description": "the host's device (its name in the host's namespace, as `ip link` shows it)"}
FORCE = {"type": "boolean", "description": "allow the device that carries the host's default route "
                                           "(the host loses that connection while the lab runs)"}


def check_host_devices(lab: Lab, ep: Endpoint) -> list[tuple[tuple, str, str | None]]:
    """A host device is taken by one endpoint of the lab only (moved once, or parent of macvlans)."""
    problems = []
    for other in lab.endpoints:
        if other.id >= ep.id:
            break
        if other.host_interface == ep.host_interface and OP in (other.type, ep.type):
            problems.append((("host-interface",), f"host device '{ep.host_interface}' is already used by "
                             f"{other.iface.key} ({other.type})",
                             "a device moved into a node can serve one endpoint only; use another device "
                             "(or macvlans of it for both)"))
    return problems


class HostDevice(EndpointType):
    name = OP
    summary = "an existing host device moved into the node (renamed, addressed; moved back at destroy)"
    short = "host"
    properties = {"host-interface": HOST_INTERFACE, "force": FORCE}
    required = ("host-interface",)

    def check(self, lab, ep):
        return check_host_devices(lab, ep)

    def plan(self, lab, ep):
        return [preflight.check_of(lab, ep, OP), MoveDevice.of(ep, lab=lab.name, host_device=ep.host_interface)]


@dataclass
class MoveDevice(NodeDevice):
    """Move a host device into a lab namespace as DEVICE with the planned ifindex INDEX."""
    lab: str = ""
    host_device: str = ""
    _moved: devices.Moved | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.phase, self.batch = A.LINKS, OP

    def describe(self):
        return (f"ip link set {self.host_device} netns {self.netns} name {self.device} index {self.index}"
                f"   # {self.label}, moved back at destroy")

    def _snapshot(self) -> devices.Moved:
        if self._moved is None:
            try:
                self._moved = devices.snapshot(self.host_device, None, self.netns, self.device, self.index)
            except devices.DeviceError as e:
                raise DeployError(f"{self.label}: {e}") from None
        return self._moved

    def undo_record(self):
        """Journaled before apply_batch runs: what the device was, so it goes back even after a SIGKILL."""
        return {"op": "host-device", "lab": self.lab, "moved": self._snapshot().to_dict()}

    @classmethod
    def apply_batch(cls, actions, ctx):
        for a in actions:
            rec = a._snapshot()
            try:
                devices.move(rec)
                if a.mtu or a.mac:
                    devices.set_link(a.netns, rec.now_index, mtu=a.mtu, mac=a.mac)
            except devices.DeviceError as e:
                raise DeployError(f"{a.label}: {e}") from None


def undo(rec: dict) -> None:
    """Move the device back (idempotent). Only from the lab's own namespaces into the host's."""
    moved = rec.get("moved") or {}
    lab = rec.get("lab", "")
    if not (isinstance(moved.get("to_ns"), str) and names.derived_by(lab, moved["to_ns"])):
        raise DeployError(f"record names namespace {moved.get('to_ns')!r}, which lab '{lab}' does not make: left alone")
    if moved.get("ns") is not None:
        raise DeployError(f"record says the device came from {moved.get('ns')!r}; the emulator only takes "
                          f"devices from the host's namespace: left alone")
    devices.restore_device(moved)

"""Single-ended links: one interface of a node whose other side is outside the lab.

A two-ended link (`endpoints: [a:eth0, b:eth0]`) is built by its link type (emulator/core/linktypes.py).
A single-ended one names one end and what it connects to on the host:

    links:
      - {type: host-device, endpoint: {node: r1, interface: eth1, ip: [192.0.2.1/24]}, host-interface: enp3s0}
      - [r1:eth2, host:enp4s0]          # shorthand of a host-device endpoint (when no node is named 'host')

As containerlab does it, each raw form has its own type (one class per file, registered by a backend
into `registry.endpoint_types`): the type declares the fields it takes (schema), resolves the raw
entry into an `model.Endpoint` (its interface gets a device name, namespace and planned ifindex like
any other), checks it, and plans the actions that build it. The core plans the node's side of the
interface (up, addresses: `Driver.plan_port`) as for a veth end; what lies outside the lab (a host
device moved in and out, a root-namespace veth end) is journaled by the type's actions before it is
touched, and undone by the handler the backend registers for it. Interfaces of endpoints get no
automatic address: their other side is not in the lab.
"""
from __future__ import annotations

from .. import registry
from .model import Endpoint, Lab

COMMON = {   # fields of every single-ended link (the endpoint itself is schema.ENDPOINT)
    "type": None,          # filled by schema.py: the enum of endpoint types
    "endpoint": None,
    "mtu": None,
    "description": {"type": "string"},
}


class EndpointType:
    name: str = ""
    summary: str = ""
    #: `[node:if, SHORT:DEV]` in a two-ended link means this type with host-interface DEV
    short: str | None = None
    #: JSON Schema of the fields this type takes besides type, endpoint, mtu, description
    properties: dict = {}
    required: tuple = ()

    def kernel_port(self, ep: Endpoint) -> bool:
        """True when the endpoint puts a kernel device in the node, which the node's driver then
        brings up and addresses (plan_port); such endpoints need a kind with `endpoint_ports`."""
        return True

    def pci_address(self, lab: Lab, ep: Endpoint) -> str | None:
        """The PCI address of the device the endpoint hands its node instead of a kernel device
        (an SR-IOV VF or a NIC bound to vfio-pci, for a DPDK process: testpmd's -a, OVS's
        dpdk-devargs); None for a kernel port. Only kinds with `pci_ports` take such endpoints."""
        return None

    def check(self, lab: Lab, ep: Endpoint) -> list[tuple[tuple, str, str | None]]:
        """Problems as (path under the link, message, hint) that the file alone shows (exit 2)."""
        return []

    def plan(self, lab: Lab, ep: Endpoint) -> list:
        """The actions that build the endpoint's interface (the node's side of it, up and
        addressed, is planned by the node's driver)."""
        raise NotImplementedError


def _types() -> registry.Registry:
    return registry.active().endpoint_types


def get(name: str) -> EndpointType:
    return _types().get(name)


def names() -> list[str]:
    return _types().names()


def all_types() -> list[EndpointType]:
    return _types().values()


def by_short(prefix: str) -> EndpointType | None:
    return next((t for t in all_types() if t.short and t.short == prefix), None)


def is_single(raw_link) -> bool:
    """A raw link entry that is a single-ended link (it has `endpoint:`, not `endpoints:`)."""
    return isinstance(raw_link, dict) and "endpoint" in raw_link and "endpoints" not in raw_link


def pci_device(lab: Lab, iface) -> str | None:
    """The PCI address IFACE's single-ended link hands its node (EndpointType.pci_address), or None."""
    if iface.endpoint < 0:
        return None
    ep = lab.endpoints[iface.endpoint]
    return get(ep.type).pci_address(lab, ep)

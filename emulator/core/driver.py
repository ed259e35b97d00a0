"""The driver interface: what the pipeline asks of a node kind."""
from __future__ import annotations

from .model import Interface, Lab, Node

IFNAMSIZ = 15   # the longest Linux interface name
# schema fragments the core and the drivers share
MAC = {"type": "string", "pattern": "^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$", "description": "MAC address"}
MTU = {"type": "integer", "minimum": 68, "maximum": 65535}


def place_forwarder_port(node: Node, iface: Interface) -> None:
    """A forwarder's port (Linux bridge, OVS) is a device in the forwarder's namespace named
    BRIDGE-IF, or BRIDGE[:8]-pINDEX when that is longer than an interface name may be."""
    dev = f"{node.device}-{iface.name}"
    if len(dev) > IFNAMSIZ:
        dev = f"{node.device[:8]}-p{iface.index}"[:IFNAMSIZ]
    iface.device = dev
    iface.netns = node.netns


class LabResource:
    """Something a lab has once however many nodes need it (the OVS daemons, the hugepage pool).
    A backend registers it by name (registries.lab_resources); a driver lists the names its kind
    needs in `Driver.lab_resources`, and the planner calls `plan(lab)` once, just before the
    first node that needs it."""
    name: str = ""

    def plan(self, lab: Lab) -> list:
        return []


class Driver:
    kind: str = ""
    summary: str = ""
    #: True when the node is a forwarder whose ports live in the lab's forwarding
    #: namespace (bridges); False when the node is a namespace of its own.
    forwarder: bool = False
    #: True when the node's interfaces carry IP addresses (hosts, routers)
    addressable: bool = True
    #: False when its ports take only the addresses written for them (no kernel address to give)
    auto_address: bool = True
    #: JSON Schema of the fields this kind accepts besides the common ones
    properties: dict = {}
    #: True when the kind takes the kernel device of a single-ended link (a host device moved in, a
    #: macvlan: core/endpoints.py) as a port: its plan_port works on an interface without a link
    endpoint_ports: bool = False
    #: top-level topology fields this kind adds (e.g. hugepages:, ovs:); resolved into Lab.props
    lab_properties: dict = {}
    #: names of the lab-wide resources (LabResource) the lab needs once when it has this kind
    lab_resources: tuple = ()

    def netns(self, lab: Lab, node: str) -> str:
        raise NotImplementedError

    def default_ifname(self, k: int) -> str:
        """Name of the k-th (0-based) implicit interface."""
        return f"eth{k}"

    def resolve(self, lab: Lab, node: Node, raw: dict) -> list[tuple[tuple, str, str | None]]:
        """Fill kind-specific parts of `node`; return problems as (path, message, hint)."""
        return []

    def port(self, lab: Lab, node: Node, iface: Interface) -> list[tuple[tuple, str, str | None]]:
        """Set iface.device, iface.netns and iface.master; return problems."""
        raise NotImplementedError

    def plan_node(self, lab: Lab, node: Node) -> list:
        return []

    def live(self, lab: str, node: str, state: dict) -> dict:
        """Live state of the node's ports that have no kernel device (DPDK, OVS vhost-user):
        node:if -> {up, operstate, stats}, as lab.live_interfaces() gives for kernel devices."""
        return {}

    def plan_port(self, lab: Lab, node: Node, iface: Interface) -> list:
        return []

    def check_host(self, lab: Lab, src) -> list:
        """Issues (src.issue(...)) for what this host cannot do for the lab's nodes of this kind,
        probed without changing anything; called once per kind when the host is checked."""
        return []

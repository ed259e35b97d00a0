"""The driver interface: what the pipeline asks of a node kind."""
from __future__ import annotations

from dataclasses import dataclass

from .model import Interface, Lab, Node

IFNAMSIZ = 15   # the longest Linux interface name
# schema fragments the core and the drivers share
MAC = {"type": "string", "pattern": "^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$", "description": "MAC address"}
MTU = {"type": "integer", "minimum": 68, "maximum": 65535}


def place_switch_port(node: Node, iface: Interface) -> None:
    """A switch's port (Linux bridge, OVS) is a device in the lab's fabric namespace named
    BRIDGE-IF, or BRIDGE[:8]-pINDEX when that is longer than an interface name may be."""
    dev = f"{node.device}-{iface.name}"
    if len(dev) > IFNAMSIZ:
        dev = f"{node.device[:8]}-p{iface.index}"[:IFNAMSIZ]
    iface.device = dev
    iface.netns = node.netns


@dataclass(frozen=True)
class EndSpec:
    """How a node takes one end of a link of some type (`Driver.link_end`).

    `roles`: which of the link type's end roles (`LinkType.role_pairs`, e.g. memif's server and
    client, vhost-user's virtio and vhost) the node can play; a link type with roles is built only
    between two nodes that declare a matching pair (core/linktypes.py: `roles`)."""
    roles: tuple[str, ...] = ()
    #: the node's kernel stack sends its own packets through this end with their checksums left to
    #: offload: a user-space datapath on the other side (OVS netdev) needs them filled in (tx off)
    tx_checksum_offload: bool = False
    #: a client end that must start after its server is up (testpmd's memif: it never reconnects)
    starts_after_server: bool = False


#: a veth end of a node whose kernel stack sends its own packets (hosts, routers: the default)
KERNEL_END = EndSpec(tx_checksum_offload=True)
#: a veth end that only passes frames (a switch port, a DPDK app's af_packet port)
FRAME_END = EndSpec()


@dataclass(frozen=True)
class DpdkMemory:
    """Hugepage memory a node's DPDK process takes (`Driver.dpdk_memory`). Nodes that name the
    same `process` share one (OVS-DPDK: the lab's ovs-vswitchd): it is counted once."""
    process: str
    mb: int
    headroom_mb: int = 0
    #: one process for the whole lab (listed after the nodes' own)
    shared: bool = False


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
    #: True when the node is an L2 switch whose ports live in the lab's fabric namespace
    #: (Linux bridge, OVS); False when the node is a namespace of its own.
    switch: bool = False
    #: True when the node's interfaces carry IP addresses (hosts, routers)
    addressable: bool = True
    #: False when its ports take only the addresses written for them (no kernel address to give)
    auto_address: bool = True
    #: JSON Schema of the fields this kind accepts besides the common ones
    properties: dict = {}
    #: True when the kind takes the kernel device of a single-ended link (a host device moved in, a
    #: macvlan: core/endpoints.py) as a port: its plan_port works on an interface without a link
    endpoint_ports: bool = False
    #: True when the kind takes a PCI device of a single-ended link (a VF or NIC bound to vfio-pci:
    #: EndpointType.pci_address) as a port of its DPDK process (dpdk-app: -a, ovs-dpdk: dpdk ports)
    pci_ports: bool = False
    #: names of the lab-wide resources (LabResource) the lab needs once when it has this kind
    lab_resources: tuple = ()
    #: link type -> EndSpec: the link types this kind can end, and how (link_end answers from it).
    #: Link types without end roles (veth) take any node; the spec still says how its end behaves.
    link_ends: dict = {"veth": KERNEL_END}

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

    def link_end(self, link_type: str, lab: Lab, node: Node, iface: Interface) -> EndSpec | None:
        """How `node` takes its end `iface` of a link of `link_type`, or None when it cannot."""
        return self.link_ends.get(link_type)

    def dpdk_memory(self, lab: Lab, node: Node) -> DpdkMemory | None:
        """The hugepage memory this node's DPDK process needs (counted by the lab's hugepage
        check), or None when it runs none."""
        return None

    def live(self, lab: str, node: str, state: dict) -> dict:
        """Live state of the node's ports that have no kernel device (DPDK, OVS vhost-user):
        node:if -> {up, operstate, stats}, as lab.live_interfaces() gives for kernel devices."""
        return {}

    #: what a console on a node of this kind may open besides a shell (the web UI offers each as a
    #: button; exec_argv, where the driver has one, points the command at the node's own instance)
    console_tools: tuple[str, ...] = ()

    def plan_port(self, lab: Lab, node: Node, iface: Interface) -> list:
        return []

    def check_host(self, lab: Lab, src) -> list:
        """Issues (src.issue(...)) for what this host cannot do for the lab's nodes of this kind,
        probed without changing anything; called once per kind when the host is checked."""
        return []

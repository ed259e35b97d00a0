"""`bridge`: a Linux bridge, living in the lab's fabric namespace."""
from __future__ import annotations

from ...deploy import actions as A
from ...core.model import Interface, Lab, Node
from ...core.driver import FRAME_END, IFNAMSIZ, Driver, place_switch_port


class BridgeDriver(Driver):
    kind = "bridge"
    summary = "a Linux bridge (learning switch) in the lab's fabric namespace"
    switch = True
    link_ends = {"veth": FRAME_END}   # its ports pass frames
    addressable = False
    endpoint_ports = True   # a host device or VF netdev moved into the fabric is one more bridge port
    properties = {
        "stp": {"type": "boolean", "description": "run the spanning tree protocol (default: off); needed on "
                                                  "every bridge of a loop. Forward delay 2 s, hello 1 s, max "
                                                  "age 6 s: a port forwards ~4 s after it comes up"},
        "mtu": {"type": "integer", "minimum": 68, "maximum": 65535},
    }

    def netns(self, lab: Lab, node: str) -> str:
        return lab.fabric

    def default_ifname(self, k: int) -> str:
        return f"eth{k + 1}"  # like Mininet: s1-eth1, s1-eth2...

    def resolve(self, lab, node, raw):
        node.index = lab.allocate_index(node.netns)
        node.device = node.name if len(node.name) <= IFNAMSIZ else f"br{node.index}"
        return []

    def port(self, lab, node, iface):
        place_switch_port(node, iface)
        iface.master = node.device
        return []

    def plan_node(self, lab: Lab, node: Node) -> list:
        return [A.CreateBridge(netns=node.netns, device=node.device, index=node.index,
                               mtu=node.props.get("mtu"), stp=bool(node.props.get("stp")))]

    def plan_port(self, lab: Lab, node: Node, iface: Interface) -> list:
        return [A.LinkUp(netns=iface.netns, index=iface.index, device=iface.device,
                         master=node.index, master_name=node.device, phase_=A.PORTS)]

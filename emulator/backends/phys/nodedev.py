"""The fields every phys action that puts a device into a node carries (host-device, host-veth,
macvlan/ipvlan, sriov-vf): the interface name, ifindex, MTU and MAC the topology planned for it in
the node's namespace, and the link's label for messages."""
from __future__ import annotations

from dataclasses import dataclass

from ...deploy import actions as A


@dataclass
class NodeDevice(A.Action):
    device: str = ""
    index: int = 0
    mtu: int | None = None
    mac: str | None = None
    label: str = ""

    @classmethod
    def of(cls, ep, **kw):
        """This action for endpoint EP: its planned interface's namespace, name, ifindex, MTU and MAC,
        its label, and KW."""
        i = ep.iface
        return cls(netns=i.netns, device=i.device, index=i.index, mtu=i.mtu, mac=i.mac, label=ep.label, **kw)

"""`macvlan` and `ipvlan`: a new device on top of a host NIC, created directly in the node (with
the interface name and planned ifindex the topology gives) and deleted with the node's namespace
at destroy. The NIC itself stays where it is and is never changed.

    links:
      - {type: macvlan, endpoint: {node: r1, interface: eth1, ip: [192.0.2.10/24]}, host-interface: enp3s0, mode: bridge}
      - {type: ipvlan, endpoint: r2:eth1, host-interface: enp3s0, mode: l2}   # where the kernel has ipvlan

Several endpoints (of one lab or of several) may share the parent; with `mode: bridge` (the
default) they reach each other through it. The parent's own traffic is not theirs: a macvlan
never talks to its parent's host stack (that is how macvlan works).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ...deploy.kernel import pr2

from ...core.endpoints import EndpointType
from ...deploy import actions as A
from ...deploy.kernel import netns
from ...errors import DeployError
from . import preflight
from .host_device import HOST_INTERFACE, check_host_devices
from .nodedev import NodeDevice

MACVLAN_MODES = ("bridge", "private", "vepa", "passthru", "source")
IPVLAN_MODES = ("l2", "l3", "l3s")


class Macvlan(EndpointType):
    name = "macvlan"
    summary = "a macvlan of a host NIC, created in the node (deleted at destroy; the NIC is not changed)"
    properties = {"host-interface": {**HOST_INTERFACE, "description": "the parent: a device of the host"},
                  "mode": {"enum": list(MACVLAN_MODES), "description": "macvlan mode (default bridge)"}}
    required = ("host-interface",)
    default_mode = "bridge"

    def check(self, lab, ep):
        return check_host_devices(lab, ep)

    def plan(self, lab, ep):
        return [preflight.check_of(lab, ep, self.name),
                CreateOnParent.of(ep, kind=self.name, parent=ep.host_interface,
                                  mode=str(ep.props.get("mode", self.default_mode)))]


class Ipvlan(Macvlan):
    name = "ipvlan"
    summary = "an ipvlan of a host NIC, created in the node (where the kernel has ipvlan)"
    properties = {"host-interface": Macvlan.properties["host-interface"],
                  "mode": {"enum": list(IPVLAN_MODES), "description": "ipvlan mode (default l2)"}}
    default_mode = "l2"


@dataclass
class CreateOnParent(NodeDevice):
    """ip link add DEVICE index INDEX link PARENT netns NETNS type macvlan|ipvlan mode MODE"""
    kind: str = "macvlan"
    parent: str = ""
    mode: str = ""

    def __post_init__(self):
        self.phase, self.batch = A.LINKS, "phys-" + self.kind

    def describe(self):
        return (f"ip link add {self.device} index {self.index} link {self.parent} netns {self.netns} "
                f"type {self.kind} mode {self.mode}   # {self.label}")

    # no undo_record(): the device lives in the lab's namespace and goes with it

    @classmethod
    def apply_batch(cls, actions, ctx):
        with pr2.IPRoute() as ipr:   # the host's namespace: where the parent is
            for a in actions:
                found = ipr.link_lookup(ifname=a.parent)
                if not found:
                    raise DeployError(f"{a.label}: host device {a.parent} is gone")
                kw = {"macvlan_mode": a.mode} if a.kind == "macvlan" else \
                    {"ipvlan_mode": {"l2": 0, "l3": 1, "l3s": 2}[a.mode]}
                if a.mtu:
                    kw["mtu"] = a.mtu
                if a.mac:
                    kw["address"] = a.mac
                fd = os.open(netns.path(a.netns), os.O_RDONLY | os.O_CLOEXEC)
                try:
                    ipr.link("add", ifname=a.device, kind=a.kind, link=found[0], net_ns_fd=fd, index=a.index, **kw)
                except pr2.NetlinkError as e:
                    raise DeployError(f"{a.label}: creating {a.kind} {a.device} on {a.parent} in {a.netns}: "
                                      f"{os.strerror(e.code)}") from None
                finally:
                    os.close(fd)

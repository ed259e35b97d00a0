"""`host-veth`: the host's own namespace as a link end (containerlab's `host:` links): a veth pair
with one end in the node and the other in the host's namespace, named `host-interface`, tagged
with the lab (its alias is emulator:LAB) and addressed with `host-ip`. Journaled before it is
created; deleted at destroy only while it carries the lab's tag (an untagged one is left alone: it
goes with the node's namespace, its peer).

    links:
      - {type: host-veth, endpoint: {node: r1, interface: eth1, ip: [192.0.2.1/24]},
         host-interface: lab1-r1, host-ip: [192.0.2.254/24]}
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from ...deploy.kernel import pr2

from ...core.endpoints import EndpointType
from ...core.model import lab_tag
from ...deploy import actions as A
from ...deploy.kernel import netlink
from ...errors import DeployError
from . import preflight
from .host_device import HOST_INTERFACE
from .nodedev import NodeDevice

OP = "host-veth"


class HostVeth(EndpointType):
    name = OP
    summary = "a veth from the node to the host's namespace (containerlab's host: links), deleted at destroy"
    properties = {"host-interface": {**HOST_INTERFACE, "description": "name of the veth end in the host's "
                                     "namespace (created; must not exist)"},
                  "host-ip": {"type": "array", "items": {"type": "string"},
                              "description": "addresses of the host's end, e.g. [192.0.2.254/24]"}}
    required = ("host-interface",)

    def check(self, lab, ep):
        problems = []
        for k, a in enumerate(ep.props.get("host-ip") or []):
            try:
                if "/" not in str(a):
                    raise ValueError
                ipaddress.ip_interface(str(a))
            except ValueError:
                problems.append((("host-ip", k), f"'{a}' is not an address with prefix length",
                                 "write e.g. 192.0.2.254/24"))
        for other in lab.endpoints:
            if other.id < ep.id and other.type == OP and other.host_interface == ep.host_interface:
                problems.append((("host-interface",), f"host device '{ep.host_interface}' is also made by "
                                 f"the link of {other.iface.key}", "give each host-veth its own host-interface"))
        return problems

    def plan(self, lab, ep):
        return [preflight.check_of(lab, ep, OP),
                CreateHostVeth.of(ep, lab=lab.name, host_device=ep.host_interface,
                                  host_ip=[str(a) for a in ep.props.get("host-ip") or []])]


@dataclass
class CreateHostVeth(NodeDevice):
    lab: str = ""
    host_device: str = ""
    host_ip: list = None  # type: ignore[assignment]

    def __post_init__(self):
        self.phase, self.batch = A.LINKS, OP

    def describe(self):
        return (f"[{self.netns}] ip link add {self.device} index {self.index} type veth peer {self.host_device} "
                f"netns <host>   # {self.label}" + (f"; host end {' '.join(self.host_ip)}" if self.host_ip else ""))

    def undo_record(self):
        return {"op": "host-veth", "lab": self.lab, "device": self.host_device, "tag": lab_tag(self.lab)}

    @classmethod
    def apply_batch(cls, actions, ctx):
        tag = ctx.tag
        host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)   # the main thread's: the host's
        try:
            with netlink.Socket(actions[0].netns) as sock:
                batch = netlink.Batch()
                for a in actions:
                    batch.veth(a.device, a.index, a.host_device, 0, host_fd, tag,
                               f"{a.label} (veth {a.device} <-> host {a.host_device})", mac=a.mac, mtu=a.mtu, up=False)
                errors = sock.run(batch)
                if errors:
                    e = errors[0]
                    raise DeployError(f"in {actions[0].netns}: {e.what}: {e.strerror}")
        finally:
            os.close(host_fd)
        with pr2.IPRoute() as ipr:
            for a in actions:
                idx = ipr.link_lookup(ifname=a.host_device)[0]
                try:
                    # the kernel takes no alias for a veth's peer at creation: tagged now (until then
                    # it is untagged, left alone by undo, and goes with the node's namespace anyway)
                    ipr.link("set", index=idx, ifalias=tag)
                    for cidr in a.host_ip or []:
                        ip, plen = cidr.rsplit("/", 1)
                        ipr.addr("add", index=idx, address=ip, prefixlen=int(plen))
                    ipr.link("set", index=idx, state="up")
                except pr2.NetlinkError as e:
                    raise DeployError(f"{a.label}: configuring host end {a.host_device}: {os.strerror(e.code)}") from None


def undo(rec: dict) -> None:
    """Delete the host end, only while it carries the lab's tag (the node end goes with its namespace)."""
    tag = lab_tag(rec.get("lab", ""))
    with pr2.IPRoute() as ipr:
        for idx in ipr.link_lookup(ifname=str(rec.get("device", ""))):
            link = ipr.get_links(idx)[0]
            if (link.get_attr("IFLA_IFALIAS") or "") != tag:
                raise DeployError(f"host device {rec.get('device')} is not tagged {tag}: left alone")
            try:
                ipr.link("del", index=idx)
            except pr2.NetlinkError as e:
                if e.code != 19:
                    raise

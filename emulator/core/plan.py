"""Stage 6: the ordered list of actions that builds the lab.

The planner knows namespaces, veth links and impairments; everything
kind-specific comes from the node's driver.
"""
from __future__ import annotations

from ..deploy import actions as A
from . import drivers, endpoints, linktypes
from ..deploy import ready
from .. import registry, units
from .model import Impairment, Lab


def plan(lab: Lab) -> list[A.Action]:
    acts: list[A.Action] = []
    for ns in lab.namespaces():
        acts.append(A.CreateNetns(name=ns))
        # lo up, and tagged: `cleanup` recognises the lab's namespaces by this alias (done by
        # CreateNetns's own request, before the namespace is mounted)
        acts.append(A.LoopbackUp(netns=ns, index=1, device="lo", phase_=A.SETUP, alias=lab.tag))
        if ns == lab.fabric:
            # fabric namespace: layer 2 only, no IPv6 chatter on thousands of ports
            acts.append(A.Sysctl(netns=ns, key="net.ipv6.conf.all.disable_ipv6", value="1"))
            acts.append(A.Sysctl(netns=ns, key="net.ipv6.conf.default.disable_ipv6", value="1"))
    if not ipv6_wanted(lab):
        for ns in lab.namespaces():
            if ns != lab.fabric:  # before any interface exists: new interfaces get no IPv6 at all
                acts.append(A.Sysctl(netns=ns, key="net.ipv6.conf.default.disable_ipv6", value="1"))
    planned: set[str] = set()
    drv_of: dict = {}   # kind -> driver: one lookup per kind, not per node (thousands)
    for node in lab.nodes.values():
        drv = drv_of.get(node.kind) or drv_of.setdefault(node.kind, drivers.get(node.kind))
        for res in drv.lab_resources:   # once per lab, before the first node that needs it
            if res not in planned:
                planned.add(res)
                acts.extend(registry.active().lab_resources.get(res).plan(lab))
        acts.extend(drv.plan_node(lab, node))
    lt_of: dict = {}
    for link in lab.links:
        lt = lt_of.get(link.type) or lt_of.setdefault(link.type, linktypes.get(link.type))
        acts.extend(lt.plan(lab, link))
    for ep in lab.endpoints:   # single-ended links: a host device moved in, a macvlan...
        acts.extend(endpoints.get(ep.type).plan(lab, ep))
    for node in lab.nodes.values():
        drv = drv_of[node.kind]
        for iface in node.interfaces.values():
            if iface.link >= 0 or (iface.endpoint >= 0 and
                                   endpoints.get(lab.endpoints[iface.endpoint].type).kernel_port(lab.endpoints[iface.endpoint])):
                acts.extend(drv.plan_port(lab, node, iface))
    for link in lab.links:
        if link.impairment:
            for end in link.ends():
                acts.append(A.TcBatch(netns=end.netns, commands=tc_commands(end.device, link.impairment),
                                      label=end.key))
    for hook in registry.active().plan_hooks:   # lab-wide actions of backends (eBPF's preflight)
        acts.extend(hook(lab))
    acts.extend(ready.plan(lab, acts))  # deploy returns when every port is up and forwards
    acts.sort(key=lambda a: a.phase)  # stable: keeps the order within a phase
    return acts


def ipv6_wanted(lab: Lab) -> bool:
    if lab.ipv6 != "auto":
        return lab.ipv6 == "on"
    return any(":" in a for i in lab.interfaces() for a in i.addresses)


def tc_commands(dev: str, imp: Impairment) -> list[str]:
    """Egress shaping of one device: netem (delay, jitter, loss) as root, tbf (rate) below it."""
    cmds = []
    parent = "root"
    if imp.needs_netem:
        netem = "netem"
        if imp.delay:
            netem += f" delay {units.tc_time(imp.delay)}"
            if imp.jitter:
                netem += f" {units.tc_time(imp.jitter)}"
        if imp.loss:
            netem += f" loss {imp.loss:g}%"
        cmds.append(f"qdisc add dev {dev} root handle 1: {netem}")
        parent = "parent 1:1"
    if imp.bandwidth:
        burst = max(imp.bandwidth // 8 // 100, 16 * 1024)   # 10 ms worth of bytes, at least 16 KiB
        cmds.append(f"qdisc add dev {dev} {parent} handle 2: tbf rate {units.tc_rate(imp.bandwidth)} "
                    f"burst {burst} latency 50ms")
    return cmds

"""Namespace nodes: `host` (a network namespace) and `router` (the same, forwarding IP)."""
from __future__ import annotations

import sys

from ...deploy import actions as A
from ...core.model import Interface, Lab, Node, node_netns
from ...core.driver import MAC, MTU, Driver
from . import private

CIDR = {"type": "string", "description": "address with prefix length, e.g. 10.0.0.1/24 or fd00::1/64"}
ADDRESSES = {"type": "array", "items": CIDR,
             "description": "addresses; an empty list means none (no automatic address)"}

INTERFACE = {
    "type": "object", "additionalProperties": False,
    "properties": {"ip": ADDRESSES, "mac": MAC, "mtu": MTU},
}
ROUTE = {
    "type": "object", "additionalProperties": False, "required": ["to"],
    "properties": {
        "to": {"type": "string", "description": "destination prefix, or 'default'"},
        "via": {"type": "string", "description": "gateway address, or the name of a node on a shared subnet"},
        "dev": {"type": "string", "description": "outgoing interface"},
        "metric": {"type": "integer", "minimum": 0},
    },
}
NAMESPACE_NODE_PROPERTIES = {
    "ip": {**ADDRESSES, "description": "addresses of the node's only interface (shorthand for interfaces.<if>.ip)"},
    "interfaces": {"type": "object", "additionalProperties": INTERFACE,
                   "description": "per-interface settings, by interface name"},
    "routes": {"type": "array", "items": ROUTE},
    "sysctls": {"type": "object", "additionalProperties": {"type": ["string", "integer"]},
                "description": "sysctls set in the node's namespace, e.g. net.ipv4.ip_forward: 1"},
    "exec": {"type": "array", "items": {"anyOf": [
                 {"type": "string", "pattern": "\\S", "description": "a shell command (not blank)"},
                 {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
             "description": "startup commands run in the node after the lab is wired "
                            "(a string runs through /bin/sh -c, a list is an argv); they see "
                            "EMULATOR_LAB, EMULATOR_NODE and EMULATOR_PYTHON (the emulator's Python); "
                            "each may run exec_timeout seconds (default 120), else the deploy fails and "
                            "rolls back"},
    "private_dirs": private.SCHEMA,
    "exec_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400,
                     "description": "seconds each startup command (exec:) may run before the deploy fails "
                                    f"and rolls back (default {A.EXEC_TIMEOUT:g})"},
}


class HostDriver(Driver):
    kind = "host"
    summary = "a network namespace with interfaces, addresses and routes"
    properties = NAMESPACE_NODE_PROPERTIES
    forwarding = False
    endpoint_ports = True   # a host device, macvlan or VF netdev is one more interface

    def netns(self, lab: Lab, node: str) -> str:
        return node_netns(lab.name, node)

    def port(self, lab, node, iface):
        iface.device = iface.name
        iface.netns = node.netns
        return []

    def resolve(self, lab, node, raw):
        return private.check(node.props.get("private_dirs"))

    def plan_node(self, lab: Lab, node: Node) -> list:
        acts = private.plan(lab, node)
        sysctls = dict(node.sysctls)
        if self.forwarding:
            sysctls = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1", **sysctls}
        for k, v in sysctls.items():
            acts.append(A.Sysctl(netns=node.netns, key=k, value=str(v)))
        for r in node.routes:
            oif = node.interfaces[r.dev].index if r.dev else None
            acts.append(A.AddRoute(netns=node.netns, to=r.to, via=r.via, oif=oif, device=r.dev,
                                   metric=r.metric))
        env = {"EMULATOR_LAB": lab.name, "EMULATOR_NODE": node.name, "EMULATOR_PYTHON": sys.executable}
        for argv in node.exec:
            acts.append(A.Exec(netns=node.netns, node=node.name, argv=argv, env=env,
                               timeout=node.props.get("exec_timeout", A.EXEC_TIMEOUT)))
        return acts

    def plan_port(self, lab: Lab, node: Node, iface: Interface) -> list:
        acts = [A.LinkUp(netns=iface.netns, index=iface.index, device=iface.device, phase_=A.PORTS)]
        for cidr in iface.addresses:
            acts.append(A.AddAddress(netns=iface.netns, index=iface.index, device=iface.device, cidr=cidr))
        return acts


class RouterDriver(HostDriver):
    kind = "router"
    summary = "a host that forwards IPv4 and IPv6 between its interfaces"
    forwarding = True

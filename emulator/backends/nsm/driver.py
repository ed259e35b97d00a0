"""Network service nodes: `nse` (an endpoint: a namespace that provides network services and
plays a VNF role) and `nsc` (a client: a namespace that requests network services).

Both are namespace nodes like `host`. Their cross-connects, addresses, routes and VNF commands
are not written by hand: the expand-services stage (emulator/backends/nsm/expand.py) adds them to the
topology before it is resolved, so by the time these drivers see a node it is a plain host.
With `dpdk: {mode: ...}` the stage turns the node into a `dpdk-app` instead: a DPDK endpoint or
client, whose connections are testpmd ports (memif or vhost-user between DPDK ends, af_packet
on a veth). With `vpp: {...}` it becomes a `vpp` node (vppfwd.py).
"""
from __future__ import annotations

from . import vnf
from .spec import REQUEST, SELECTOR
from ..dpdk.driver import DpdkAppDriver
from ..host.driver import NAMESPACE_NODE_PROPERTIES, HostDriver
from ..vpp.driver import VppDriver
from .vppfwd import VPP_KEYS

#: what a DPDK endpoint or client takes of dpdk-app's settings
DPDK_KEYS = ("mode", "autostart", "cores", "main_core", "memory", "burst", "size", "ring", "args", "eal")


def _dataplane(driver, keys: tuple, description: str) -> dict:
    """The schema of an nse's or nsc's `dpdk:` or `vpp:` block: KEYS of DRIVER's node settings."""
    return {"type": "object", "additionalProperties": False,
            "properties": {k: driver.properties[k] for k in keys}, "description": description}


DPDK_DATAPLANE = _dataplane(
    DpdkAppDriver, DPDK_KEYS,
    "run it as a DPDK app (dpdk-testpmd, as kind dpdk-app) instead of a kernel namespace: its "
    "connections are testpmd ports (memif, vhost-user, or af_packet on a kernel veth) and its "
    "mode is its role: io or mac forward between the in and out port of a chain, icmpecho answers ping, "
    "rxonly counts, txonly and flowgen send; mechanisms default to [memif, vhost-user, kernel]")
VPP_DATAPLANE = _dataplane(
    VppDriver, VPP_KEYS,
    "run it as a VPP (a vpp node) instead of a kernel namespace: its connections are memif (or "
    "af_packet on a kernel veth), its addresses and routes those of its chain; mode router (payload "
    "IP) or xconnect (ETHERNET, in the middle of a chain); acl: {allow: [icmp, tcp/5201]} makes it a "
    "VPP firewall; mechanisms default to [memif, kernel]")

NSE_PROPERTIES = {
    **NAMESPACE_NODE_PROPERTIES,
    "services": {"anyOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1},
                           {"type": "string"}],
                 "description": "network services this endpoint provides (NSM_SERVICE_NAMES)"},
    "service_labels": {"type": "object", "additionalProperties": SELECTOR,
                       "description": "labels per service, on top of the node's labels"},
    "cidr": {"type": "string", "description": "address pool of its connections, a /30 each (NSM_CIDR_PREFIX); "
                                              "default: a free /24 of 172.16.0.0/16"},
    "ipam": {"enum": ["emulator", "nsm"],
             "description": "emulator (default): a /30 per connection, client .1, endpoint .2; nsm: NSM's "
                            "point-to-point IPAM (host addresses, endpoint first, cidr groups as NSM_CIDR_PREFIX, "
                            "IPv6 and dual stack, default 169.254.0.0/16): what import-nsm writes"},
    "vnf": vnf.schema(),
    "mechanisms": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "description": "connection mechanisms it accepts, preferred first; also what it asks for "
                                  "when it requests the next hop (default: [kernel]; DPDK: [memif, vhost-user, kernel]; VPP: [memif, kernel])"},
    "dpdk": DPDK_DATAPLANE,
    "vpp": VPP_DATAPLANE,
}
NSC_PROPERTIES = {
    **NAMESPACE_NODE_PROPERTIES,
    "requests": {"type": "array", "items": REQUEST, "minItems": 1,
                 "description": "network services requested, NSM URL form mechanism://service/ifname?label=value"},
    "dpdk": DPDK_DATAPLANE,
    "vpp": VPP_DATAPLANE,
}


class NseDriver(HostDriver):
    kind = "nse"
    summary = "a network service endpoint: provides services, plays a VNF role, gets its connections from a forwarder"
    properties = NSE_PROPERTIES


class NscDriver(HostDriver):
    kind = "nsc"
    summary = "a network service client: requests services; its interfaces and routes come from the chain it gets"
    properties = NSC_PROPERTIES

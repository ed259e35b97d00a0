"""The driver registry: one driver per node kind.

A driver tells the pipeline three things about its kind: the YAML fields it
accepts (a JSON Schema fragment), where its interfaces live (its own network
namespace, or the lab's shared forwarding namespace), and which actions
build it. New kinds (ovs, ovs-dpdk, dpdk-app, vpp, sriov) register here and
slot in without touching the pipeline.
"""
from __future__ import annotations


from ..registry import Registry
from .driver import Driver

_REGISTRY: Registry[Driver] = Registry("kind", key="kind")


class UnknownKind(KeyError):
    def __init__(self, kind: str):
        self.kind = kind
        super().__init__(kind)

    def hint(self) -> str:
        return _REGISTRY.hint(self.kind)


register, kinds, all_drivers = _REGISTRY.register, _REGISTRY.names, _REGISTRY.values


def get(kind: str) -> Driver:
    try:
        return _REGISTRY.get(kind)
    except KeyError:
        raise UnknownKind(kind) from None


def _load_builtin() -> None:
    from ..backends.bridge import driver as bridge
    from ..backends.host import driver as host  # noqa: F401  (modules register themselves)
    from ..backends.nsm import driver as nsm  # noqa: F401  (network service endpoints and clients)
    from ..backends.dpdk import driver as dpdk
    from ..backends.ovs import driver as ovs  # noqa: F401  (OVS/OVS-DPDK forwarders, DPDK apps)


_load_builtin()

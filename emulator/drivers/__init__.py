"""The driver registry: one driver per node kind.

A driver tells the pipeline three things about its kind: the YAML fields it
accepts (a JSON Schema fragment), where its interfaces live (its own network
namespace, or the lab's shared forwarding namespace), and which actions
build it. New kinds (ovs, ovs-dpdk, dpdk-app, vpp, sriov) register here and
slot in without touching the pipeline.
"""
from __future__ import annotations

import difflib

from .base import Driver

_REGISTRY: dict[str, Driver] = {}


class UnknownKind(KeyError):
    def __init__(self, kind: str):
        self.kind = kind
        super().__init__(kind)

    def hint(self) -> str:
        close = difflib.get_close_matches(self.kind, kinds(), n=1)
        known = "known kinds: " + ", ".join(kinds())
        return (f"did you mean '{close[0]}'? " if close else "") + known


def register(driver: Driver) -> Driver:
    if not driver.kind:
        raise ValueError(f"driver {type(driver).__name__} has no kind")
    if driver.kind in _REGISTRY:
        raise ValueError(f"kind '{driver.kind}' is registered twice "
                         f"({type(_REGISTRY[driver.kind]).__name__} and {type(driver).__name__})")
    _REGISTRY[driver.kind] = driver
    return driver


def get(kind: str) -> Driver:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownKind(kind) from None


def kinds() -> list[str]:
    return list(_REGISTRY)


def all_drivers() -> list[Driver]:
    return list(_REGISTRY.values())


def _load_builtin() -> None:
    from . import bridge, host  # noqa: F401  (modules register themselves)
    from . import nsm  # noqa: F401  (network service endpoints and clients)
    from . import dpdk, ovs  # noqa: F401  (OVS/OVS-DPDK forwarders, DPDK apps)


_load_builtin()

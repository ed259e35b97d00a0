"""The forwarder-type registry: which mechanisms a forwarder cross-connects, and with which link type.

`kernel` (NSM's kernel forwarder) makes a veth pair directly between the two namespaces of a
cross-connect and configures addresses and routes through netlink. Later types (vpp: memif,
vhost-user, tap) register here when their link types exist.
"""
from __future__ import annotations

from dataclasses import dataclass

_REGISTRY: dict[str, "ForwarderType"] = {}


@dataclass(frozen=True)
class ForwarderType:
    name: str
    summary: str
    link_types: dict                   # mechanism it builds -> emulator link type of the cross-connect

    @property
    def mechanisms(self) -> tuple[str, ...]:
        return tuple(self.link_types)


def register(ft: ForwarderType) -> ForwarderType:
    if ft.name in _REGISTRY:
        raise ValueError(f"forwarder type '{ft.name}' registered twice")
    _REGISTRY[ft.name] = ft
    return ft


def get(name: str) -> ForwarderType:
    return _REGISTRY[name]


def names() -> list[str]:
    return list(_REGISTRY)


def all_types() -> list[ForwarderType]:
    return list(_REGISTRY.values())


register(ForwarderType("kernel", "NSM kernel forwarder: a veth pair per cross-connect, routes by netlink",
                       {"kernel": "veth"}))

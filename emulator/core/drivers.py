"""The driver registry: one driver per node kind.

A driver tells the pipeline three things about its kind: the YAML fields it
accepts (a JSON Schema fragment), where its interfaces live (its own network
namespace, or the lab's shared fabric namespace), and which actions
build it. Backends (emulator/backends/) register their drivers into the active
registries (emulator/registry.py); the pipeline finds them here, by kind.
"""
from __future__ import annotations


from .. import registry
from .driver import Driver


def _kinds() -> registry.Registry:
    return registry.active().kinds


class UnknownKind(KeyError):
    def __init__(self, kind: str):
        self.kind = kind
        super().__init__(kind)

    def hint(self) -> str:
        return _kinds().hint(self.kind)


def kinds() -> list[str]:
    return _kinds().names()


def all_drivers() -> list[Driver]:
    return _kinds().values()


def get(kind: str) -> Driver:
    # called per node and interface by every stage (tens of thousands of times for a large lab):
    # one frame, the registry's dict read directly; a kind not imported yet goes through get()
    try:
        drv = registry._active[-1].kinds._items[kind]
    except KeyError:
        raise UnknownKind(kind) from None
    return drv if type(drv) is not registry._Lazy else _kinds().get(kind)

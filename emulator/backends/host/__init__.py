"""Hosts and routers: a network namespace per node (driver.py)."""
from __future__ import annotations


UNDO_OPS = ("private-mount",)   # private_dirs (private.py)


def register(regs) -> None:
    from . import private
    from .driver import HostDriver, RouterDriver
    regs.kinds.register(HostDriver())
    regs.kinds.register(RouterDriver())
    regs.register_undo("private-mount", private.undo)

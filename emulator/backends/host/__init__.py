"""Hosts and routers: a network namespace per node (driver.py)."""
from __future__ import annotations


def register(regs) -> None:
    from .driver import HostDriver, RouterDriver
    regs.kinds.register(HostDriver())
    regs.kinds.register(RouterDriver())

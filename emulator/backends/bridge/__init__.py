"""Linux bridges, in the lab's fabric namespace (driver.py)."""
from __future__ import annotations


def register(regs) -> None:
    from .driver import BridgeDriver
    regs.kinds.register(BridgeDriver())

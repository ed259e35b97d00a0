"""Linux bridges, in the lab's fabric namespace (driver.py)."""
from __future__ import annotations


def register(regs) -> None:
    regs.kinds.register_lazy("bridge", f"{__name__}.driver:BridgeDriver")

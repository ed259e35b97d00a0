"""Hosts and routers: a network namespace per node (driver.py)."""
from __future__ import annotations


UNDO_OPS = ("private-mount",)   # private_dirs (private.py)


def register(regs) -> None:
    from ... import registry
    regs.kinds.register_lazy("host", f"{__name__}.driver:HostDriver")
    regs.kinds.register_lazy("router", f"{__name__}.driver:RouterDriver")
    regs.register_undo("private-mount", registry.lazy(f"{__name__}.private:undo"))

"""The backends: one package per family of node kinds, each with `register(registries)`.

A backend adds to a `registry.Registries` what the core looks up by name: node kinds (drivers),
link types, scenario steps, undo handlers for what its actions journal (and `UNDO_OPS`, the ops it
declares), expand hooks, lab-wide resources and CLI verbs. Importing a backend registers nothing;
`load()` calls `register()` once per backend and registries object, in the order of BUILTIN (which
is the order kinds, link types and steps are listed in messages). A backend that builds on another
names it in `REQUIRES` (ovs-dpdk uses DPDK's hugepages and runtime directories).
"""
from __future__ import annotations

import importlib
import threading

from .. import registry

BUILTIN = ("bridge", "host", "dpdk", "nsm", "ovs", "srv6", "kubernetes", "vpp", "ebpf", "phys")   # vpp builds on srv6

_lock = threading.RLock()


#: the generic scenario steps (emulator/scenario/steps.py BUILTIN_STEPS), declared by name so that
#: start-up does not import the scenario runner: type -> class, imported on first lookup
CORE_STEPS = {"ping": "Ping", "pingall": "PingAll", "iperf3": "Iperf3", "exec": "Exec",
              "background": "Background", "wait": "Wait", "wait_packets": "WaitPackets", "wait_for": "WaitFor",
              "link": "LinkChange", "capture": "Capture"}


def _register_core(regs: registry.Registries) -> None:
    """What every lab has, whatever its backends: veth links, namespaces, the generic scenario steps."""
    from ..core import linktypes
    from ..deploy import teardown
    linktypes.register(regs)
    teardown.register(regs)
    for name, cls in CORE_STEPS.items():
        regs.steps.register_lazy(name, f"emulator.scenario.steps:{cls}")


def _load_one(regs: registry.Registries, name: str) -> None:
    if name in regs.loaded:
        return
    mod = importlib.import_module(f"{__name__}.{name}")
    for dep in getattr(mod, "REQUIRES", ()):
        _load_one(regs, dep)
    mod.register(regs)
    regs.undo_declared.update(getattr(mod, "UNDO_OPS", ()))
    regs.loaded.append(name)


def load(regs: registry.Registries, names=BUILTIN) -> registry.Registries:
    """Register the backends NAMES (and what they require) into REGS; idempotent."""
    with _lock:
        if "" not in regs.loaded:
            _register_core(regs)
            regs.loaded.append("")
        for name in names:
            _load_one(regs, name)
    return regs


def ensure_loaded() -> registry.Registries:
    """Every entry point (CLI, emulator.lab's API, the scenario runner, the web UI) calls this."""
    if len(registry.DEFAULT.loaded) <= len(BUILTIN):   # cheap check first: loaded once per process
        load(registry.DEFAULT)
    return registry.DEFAULT

"""Stage 8: undo a lab from its journal, newest first.

Processes running inside the lab's namespaces are found by namespace
identity (as `ip netns pids` does) and stopped; then each journal record is
undone by the handler registered for its op. Every handler is idempotent:
undoing something already gone is not an error, so teardown can run again
after it was interrupted.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Callable

from .kernel import netns

UNDO: dict[str, Callable[[dict], None]] = {}


def register_undo(op: str, fn: Callable[[dict], None]) -> None:
    if op in UNDO:
        raise ValueError(f"undo handler for '{op}' registered twice")
    UNDO[op] = fn


register_undo("netns", lambda rec: netns.delete(rec["name"]))


def stop_processes(ns_names: list[str], grace: float = 2.0) -> int:
    inodes = {i for i in (netns.inode(n) for n in ns_names) if i}
    pids = [p for ps in netns.pids_by_netns(inodes).values() for p in ps]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for p in pids:
            try:
                os.kill(p, sig)
                alive.append(p)
            except ProcessLookupError:
                pass
        if not alive:
            break
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _alive(p)]
            if alive:
                time.sleep(0.02)
        pids = alive
    return len(pids)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def teardown(records: list[dict], progress=None) -> list[str]:
    """Undo every record; return the problems met (teardown itself never stops early)."""
    problems: list[str] = []
    ns_names = [r["name"] for r in records if r.get("op") == "netns"]
    if progress:
        progress.phase("stopping processes", 1)
    stop_processes(ns_names)
    if progress:
        progress.advance(1)
        progress.phase("removing", len(records))
    for rec in reversed(records):
        fn = UNDO.get(rec.get("op", ""))
        if fn is None:
            problems.append(f"no undo handler for journal record {rec}")
            continue
        try:
            fn(rec)
        except Exception as e:  # keep going: leave as little as possible behind
            problems.append(f"undo {rec}: {e}")
        if progress:
            progress.advance(1)
    if progress:
        progress.done()
    return problems

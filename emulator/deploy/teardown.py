"""Stage 8: undo a lab from its journal, newest first.

Processes running inside the lab's namespaces are found by namespace
identity (as `ip netns pids` does) and stopped; then each journal record is
undone by the handler registered for its op. Every handler is idempotent:
undoing something already gone is not an error, so teardown can run again
after it was interrupted.

The journal is read back from disk, so it is checked before anything is undone:
a record naming something the lab does not make (a namespace other than emu-LAB
or emu-LAB.NODE, a path outside the lab's directory, another lab's DPDK prefix)
is reported, never acted on, and a namespace is removed only while it is the one
the deploy made: the same cookie as journaled (the kernel's number for a namespace,
never reused) or, for a record without one, its `lo` carrying the lab's tag
(netns.create_many tags it before it is mounted).
"""
from __future__ import annotations

import os
import signal
import stat
import time
from .. import names, registry
from . import state
from .kernel import netns
from ..core.model import lab_tag



def register(regs) -> None:
    """The core's own undo handler: namespaces (backends register those of what they make)."""
    regs.register_undo("netns", lambda rec: netns.delete(rec["name"]))


def foreign(lab: str, rec: dict) -> str | None:
    """Why a journal record of `lab` names something that is not the lab's, or None."""
    for key in ("name", "prefix"):   # namespaces, DPDK file prefixes: emu-LAB or emu-LAB.NODE
        if key in rec and not (isinstance(rec[key], str) and names.derived_by(lab, rec[key])):
            return f"{key} {rec[key]!r} is not a name lab '{lab}' makes"
    for key in ("path", "rundir"):   # hugetlbfs mount, OVS run directory: inside the lab's directory
        if key in rec:
            try:
                state.inside(str(rec[key]), state.lab_dir(lab))
            except Exception:
                return f"{key} {rec[key]!r} is not inside {state.lab_dir(lab)}"
    if rec.get("lab", lab) != lab or rec.get("tag", lab_tag(lab)) != lab_tag(lab):
        return "it belongs to another lab"
    return None


def not_ours(name: str, tag: str, cookie: int | None = None) -> str | None:
    """Why the namespace NAME is not the one this lab made (None: it is, or it is gone)."""
    return check_namespaces([name], tag, {name: cookie} if cookie is not None else None)[0].get(name)


def check_namespaces(ns_names: list[str], tag: str,
                     cookies: dict[str, int] | None = None) -> tuple[dict[str, str], set[int]]:
    """({name: why it is not this lab's}, the inodes of the namespaces that are).

    Ours: the empty placeholder file a deploy created (O_EXCL, journaled) and was killed
    before it mounted the namespace, or a mounted namespace that is the one the journal
    recorded: the same cookie (`cookies`, journaled when the deploy made it: the kernel
    never gives another namespace the same), or, for a record without one, whose `lo`
    carries `tag`. Cookies are read without a netlink request, which would wait while the
    kernel frees other labs' namespaces (netns.identify)."""
    cookies = cookies or {}
    why: dict[str, str] = {}
    mounted = []
    for name in ns_names:
        p = netns.path(name)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if not netns.is_namespace(name):
            if not (stat.S_ISREG(st.st_mode) and st.st_size == 0):
                why[name] = f"{p} is not a network namespace"
        elif stat.S_ISLNK(st.st_mode):
            why[name] = f"{p} is a symbolic link, not a network namespace"
        else:
            mounted.append(name)
    inodes = set()
    found = netns.identify(mounted, alias_of={n for n in mounted if n not in cookies})
    for name in mounted:
        got = found.get(name, OSError("not read"))
        if isinstance(got, OSError):
            why[name] = f"cannot read the identity of namespace {name}: {got}"
        elif name in cookies:
            if got[1] != cookies[name]:
                why[name] = (f"namespace {name} is not the one this lab made (its cookie is {got[1]}, the "
                             f"journal's {cookies[name]}): left alone")
            else:
                inodes.add(got[0])
        elif got[2] != tag:
            why[name] = f"namespace {name} is not this lab's (its lo is tagged {got[2]!r}, not {tag!r}): left alone"
        else:
            inodes.add(got[0])
    return why, inodes


def stop_processes(ns_names: list[str], grace: float = 2.0, inodes: set[int] | None = None) -> int:
    """Stop the processes in these namespaces (given by name, or by `inodes` when known)."""
    if inodes is None:
        inodes = {i for i in (netns.inode(n) for n in ns_names if netns.is_namespace(n)) if i}
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


def teardown(records: list[dict], progress=None, lab: str | None = None) -> list[str]:
    """Undo every record; return the problems met (teardown itself never stops early).

    With `lab` (always, for a journal read back from disk), records naming anything the lab
    does not make, and namespaces not tagged as the lab's, are reported and left alone."""
    problems: list[str] = []
    inodes = None
    if lab is not None:
        whys = [foreign(lab, rec) for rec in records]
        ns_recs = [r for r, w in zip(records, whys) if w is None and r.get("op") == "netns"]
        ns_why, inodes = check_namespaces([r["name"] for r in ns_recs], lab_tag(lab),
                                          {r["name"]: r["cookie"] for r in ns_recs
                                           if type(r.get("cookie")) is int})
        kept = []
        for rec, why in zip(records, whys):
            if why is None and rec.get("op") == "netns":
                why = ns_why.get(rec["name"])
            if why is None:
                kept.append(rec)
            else:
                problems.append(f"journal record {rec} not undone: {why}")
        records = kept
    ns_names = [r["name"] for r in records if r.get("op") == "netns"]
    if progress:
        progress.phase("stopping processes", 1)
    stop_processes(ns_names, inodes=inodes)
    if progress:
        progress.advance(1)
        progress.phase("removing", len(records))
    for rec in reversed(records):
        fn = registry.active().undo.get(rec.get("op", ""))
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

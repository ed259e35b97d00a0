"""Stage 7: the lab's state on disk, under /run/emulator/LAB/.

  journal.jsonl  one undo record per created object outside the lab's namespaces
                 and one per namespace, appended *before* the object is made,
                 so `destroy` works after a crash or SIGKILL at any point
  state.json     what the lab is: nodes, interfaces, addresses (for inspect/exec)
  lock           flock()ed while a deploy or destroy runs on the lab

/run is a tmpfs: a reboot empties it, and with it every namespace.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time

from .. import names
from ..errors import EnvironmentProblem, LabError

RUN_DIR = os.environ.get("EMULATOR_RUN_DIR", "/run/emulator")


def lab_dir(name: str) -> str:
    """The lab's directory; every path of a lab is made from it, so the name is checked here
    (a valid name is one path component: never '.', '..', empty or with a '/')."""
    return os.path.join(RUN_DIR, names.check_lab(name))


def inside(path: str, root: str) -> str:
    """`path` (its directory resolved, its last component kept: what unlink or rmtree would
    remove) if it lies strictly inside `root`; raise LabError otherwise. Every file or
    directory the emulator removes goes through this."""
    real_root = os.path.realpath(root)
    parent, last = os.path.split(os.path.abspath(path))
    real = os.path.join(os.path.realpath(parent), last)
    if last in ("", ".", "..") or os.path.commonpath([real, real_root]) != real_root or real == real_root:
        raise LabError(f"refusing to remove {path}: it does not lie inside {root}")
    return real


class Journal:
    def __init__(self, name: str):
        self.name = name
        self.dir = lab_dir(name)
        self.path = os.path.join(self.dir, "journal.jsonl")
        self._f = None

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        if self._f is None:
            self._f = open(self.path, "a", buffering=1)
        # one write(): what reached the kernel is kept even if the process is killed next
        self._f.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        self._f.flush()

    def records(self) -> list[dict]:
        out = []
        try:
            with open(self.path) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            out.append(json.loads(line))
                        except json.JSONDecodeError:
                            pass  # a torn last line after a crash
        except FileNotFoundError:
            pass
        return out

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


@contextlib.contextmanager
def locked(name: str, create: bool):
    """Hold the lab's lock; with create, make the lab directory (it must not hold a lab)."""
    d = lab_dir(name)
    if create:
        os.makedirs(d, mode=0o755, exist_ok=True)
    elif not os.path.isdir(d):
        raise LabError(f"no lab named '{name}' is deployed" + _known_hint())
    fd = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"lab '{name}' is busy: another emulator process is deploying or destroying it "
                           f"(pid {_read_pid(d)})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield d
    finally:
        os.close(fd)


def _read_pid(d: str) -> str:
    try:
        with open(os.path.join(d, "lock")) as f:
            return f.read().strip() or "?"
    except OSError:
        return "?"


def is_busy(name: str) -> bool:
    d = lab_dir(name)
    try:
        fd = os.open(os.path.join(d, "lock"), os.O_RDONLY | os.O_CLOEXEC)   # flock needs no write access
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _known_hint() -> str:
    labs = list_labs()
    return f" (deployed labs: {', '.join(labs)})" if labs else " (no lab is deployed)"


def list_labs() -> list[str]:
    try:
        return sorted(e for e in os.listdir(RUN_DIR) if names.problem(e) is None  # a stray entry is no lab
                      and os.path.isdir(os.path.join(RUN_DIR, e)) and not os.path.islink(os.path.join(RUN_DIR, e)))
    except FileNotFoundError:
        return []
    except PermissionError:
        raise _needs_root(RUN_DIR) from None


def _needs_root(path: str) -> EnvironmentProblem:
    return EnvironmentProblem(f"reading the labs needs root: {path} is not readable by this user "
                              f"(permission denied); run with sudo")


def write_state(name: str, state: dict) -> None:
    d = lab_dir(name)
    tmp = os.path.join(d, "state.json.tmp")
    with open(tmp, "w") as f:
        # json.dumps, not json.dump: only the one-shot encoder is the C one (json.dump streams
        # through the pure-Python encoder, ~7x slower: 1.3 s of a linear,2000 deploy wrote state.json)
        f.write(json.dumps(state, separators=(",", ":")))
    os.replace(tmp, os.path.join(d, "state.json"))


def read_state(name: str) -> dict | None:
    """The lab's state, or None; a state file that names another lab, or namespaces the lab
    does not make, is refused (LabError): commands run in the namespaces it names."""
    path = os.path.join(lab_dir(name), "state.json")
    try:
        with open(path) as f:
            st = json.load(f)
    except PermissionError:
        raise _needs_root(path) from None
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    bad = _foreign_state(name, st)
    if bad:
        raise LabError(f"{path}: {bad}; refusing to use it (emulator destroy {name} removes the lab "
                       f"by its journal)")
    return st


def _foreign_state(name: str, st) -> str | None:
    if not isinstance(st, dict) or st.get("name") != name:
        return f"it is not the state of lab '{name}'"
    nodes = st.get("nodes") or {}
    if not isinstance(nodes, dict):
        return "its nodes are not a mapping"
    for node, n in nodes.items():
        if names.problem(node, "node"):
            return names.problem(node, "node")
        ifs = n.get("interfaces") if isinstance(n, dict) else None
        if not isinstance(ifs, dict) or not all(isinstance(i, dict) for i in ifs.values()):
            return f"node '{node}' is not a node's state"
        spaces = [n.get("netns")] + [i.get("netns") for i in ifs.values()]
        for ns in spaces:
            if not isinstance(ns, str) or not names.derived_by(name, ns):
                return f"node '{node}' names namespace {ns!r}, which lab '{name}' does not make"
    return None


def remove(name: str) -> None:
    d = inside(lab_dir(name), RUN_DIR)
    if os.path.islink(d):   # rmtree would refuse it; the link is all that is ours
        os.unlink(d)
        return
    _unmount_inside(d)
    shutil.rmtree(d, ignore_errors=True)


def _unmount_inside(d: str) -> None:
    """Detach what is still mounted inside the lab's own directory (its hugetlbfs, after a deploy
    that died before journaling the mount): rmtree cannot remove a mount point, and the lab would
    stay listed. Only mount points below `d` qualify: the directory is the lab's by its path."""
    from .kernel import netns
    root = os.path.realpath(d) + os.sep
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        return
    for mp in sorted((m for m in points if m.startswith(root)), key=len, reverse=True):
        netns._libc.umount2(mp.encode(), netns.MNT_DETACH)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
